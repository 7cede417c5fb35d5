//! Password change and the e-mailed reset flow.

use super::{check_length, check_max_length, check_password};
use crate::app::Auth;
use crate::crypto;
use crate::error::{codes, ApiResult};
use crate::http::input::{Input, Obj, Valid, ValidQuery};
use crate::http::reply::Reply;
use crate::session::hooks::{self, Born, Method, SignIn};
use crate::session::{self, RequestMeta, SensitiveSession};
use crate::store::model::{Account, Verification};
use axum::extract::{Path, State};
use chrono::Duration;
use serde_json::json;

/// `{newPassword, currentPassword, revokeOtherSessions?}`
pub struct ChangeBody {
    new_password: String,
    current: String,
    revoke: Option<bool>,
}

impl Input for ChangeBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        ChangeBody {
            new_password: o.string("newPassword"),
            current: o.string("currentPassword"),
            revoke: o.opt_bool("revokeOtherSessions"),
        }
    }
}

pub async fn change_password(
    State(auth): State<Auth>,
    Valid(b): Valid<ChangeBody>,
    SensitiveSession(cur): SensitiveSession,
    meta: RequestMeta,
    headers: axum::http::HeaderMap,
) -> ApiResult<Reply> {
    let (new_password, current) = (b.new_password.as_str(), b.current.as_str());
    let revoke = b.revoke.unwrap_or(false);
    check_length(&auth, new_password)?;
    check_max_length(&auth, current)?;
    check_password(&auth, &cur.user.id, current).await?;
    let account = auth.store.find_credential_account(&cur.user.id).await?.ok_or(codes::CREDENTIAL_ACCOUNT_NOT_FOUND)?;
    let hash = super::hash(&auth, new_password).await?;
    auth.store.update_password(&account.id, &hash, auth.now()).await?;
    let details = json!({ "revokeOtherSessions": revoke });
    session::changed::emit(&auth, "password.changed", Some(&meta), Some(&cur.user.id), &cur.user, details).await;
    if !revoke {
        return Ok(Reply::json(&json!({"token": null, "user": cur.user})));
    }
    auth.sessions.delete_user_sessions(&cur.user.id, None, auth.now()).await?;
    let sign_in = SignIn {
        user: &cur.user,
        method: Method::ChangePassword,
        meta: &meta,
        headers: &headers,
        remember: !cur.dont_remember,
        federated: None,
    };
    let s = match hooks::sign_in(&auth, sign_in).await? {
        Born::Session(s) => s,
        Born::Answered(r) => return Ok(r),
    };
    let cookies = session::issue_cookies(&auth, &s, &cur.user, cur.dont_remember);
    Ok(Reply::json(&json!({"token": s.token, "user": cur.user})).cookies(cookies))
}

/// `{password}`
pub struct PasswordBody(String);

impl Input for PasswordBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        PasswordBody(o.string("password"))
    }
}

/// `POST /verify-password`: confirms the signed-in user's password (for re-authentication prompts).
pub async fn verify_password(
    State(auth): State<Auth>,
    Valid(b): Valid<PasswordBody>,
    SensitiveSession(cur): SensitiveSession,
) -> ApiResult<Reply> {
    check_password(&auth, &cur.user.id, &b.0).await?;
    Ok(Reply::json(&json!({"status": true})))
}

const RESET_PREFIX: &str = "reset-password:";

/// `{email: z.email(), redirectTo?}`
pub struct ResetRequestBody {
    email: String,
    redirect_to: Option<String>,
}

impl Input for ResetRequestBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        ResetRequestBody { email: o.email("email"), redirect_to: o.opt_string("redirectTo") }
    }
}

pub async fn request_reset(State(auth): State<Auth>, Valid(b): Valid<ResetRequestBody>) -> ApiResult<Reply> {
    if !auth.config.email_and_password.reset_password_enabled {
        return Err(codes::RESET_PASSWORD_DISABLED);
    }
    let email = b.email.to_lowercase();
    let redirect_to = b.redirect_to;
    // Answer first, the same for every address: the look-up, the token row and the e-mail happen
    // afterwards, so neither their cost nor a slow or locked table shows in the response time.
    auth.background.spawn("password reset", send_reset(auth.clone(), email, redirect_to));
    Ok(Reply::json(&json!({"status": true, "message": "If this email exists in our system, check your email for the reset link"})))
}

/// The work behind a reset request: for a known address, a single-use token row and the e-mail
/// with its link; for an unknown one, nothing. Failures are logged (nobody waits for them). The
/// e-mail is handed to the mailer's own bounded sends rather than awaited: a background slot is
/// held only for the database work, so a stalled mail server cannot fill every slot and leave
/// later requests without their token.
async fn send_reset(auth: Auth, email: String, redirect_to: Option<String>) {
    let user = match auth.store.find_user_by_email(&email).await {
        Ok(Some(u)) => u,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "password reset: could not look up the address");
            return;
        }
    };
    let now = auth.now();
    let token = crypto::random_id(24);
    let expires = Duration::seconds(auth.config.email_and_password.reset_password_token_expires_in as i64);
    let row = Verification {
        id: auth.new_id(),
        identifier: format!("{RESET_PREFIX}{token}"),
        value: user.id.clone(),
        expires_at: now + expires,
        created_at: now,
        updated_at: now,
    };
    if let Err(e) = auth.store.create_verification(&row).await {
        tracing::warn!(error = %e, "password reset: could not store the token");
        return;
    }
    let url = format!("{}/reset-password/{token}?callbackURL={}", auth.auth_url, redirect_to.as_deref().map(encode).unwrap_or_default());
    let context = serde_json::json!({ "url": url, "token": token, "user_name": user.name });
    auth.send_mail(super::messages::RESET_PASSWORD, &user.email, context);
}

/// `encodeURIComponent`.
pub fn encode(s: &str) -> String {
    crypto::sign::encode_cookie_value(s)
}

/// `new URL(target, base)` with one query parameter set (replacing any of the same name).
fn with_param(auth: &Auth, target: &str, key: &str, value: &str) -> String {
    let Ok(base) = url::Url::parse(&auth.auth_url) else { return target.to_string() };
    let Ok(mut u) = base.join(target) else { return target.to_string() };
    let kept: Vec<(String, String)> = u.query_pairs().filter(|(k, _)| k != key).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    u.query_pairs_mut().clear().extend_pairs(kept).append_pair(key, value);
    u.to_string()
}

/// The link in the e-mail: checks the token and sends the browser to the app with it.
/// `?callbackURL=` (required, may be empty)
pub struct LinkQuery(String);

impl Input for LinkQuery {
    fn parse(o: &mut Obj<'_>) -> Self {
        LinkQuery(o.string("callbackURL"))
    }
}

pub async fn reset_link(State(auth): State<Auth>, Path(token): Path<String>, ValidQuery(q): ValidQuery<LinkQuery>) -> ApiResult<Reply> {
    let callback = &q.0;
    if !callback.is_empty() && !auth.origins.matches(callback, true) {
        return Err(codes::INVALID_CALLBACK_URL);
    }
    let valid = match auth.store.find_verification(&format!("{RESET_PREFIX}{token}")).await? {
        Some(v) => v.expires_at > auth.now(),
        None => false,
    };
    if callback.is_empty() || !valid {
        let target = if callback.is_empty() { format!("{}/error", auth.auth_url) } else { callback.clone() };
        return Ok(Reply::redirect(&with_param(&auth, &target, "error", "INVALID_TOKEN")));
    }
    Ok(Reply::redirect(&with_param(&auth, callback, "token", &token)))
}

/// `{newPassword, token?}`, and `?token=` when the body has none.
pub struct ResetBody {
    new_password: String,
    token: Option<String>,
}

impl Input for ResetBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        ResetBody { new_password: o.string("newPassword"), token: o.opt_string("token") }
    }
}

/// `?token=` (optional)
pub struct TokenQuery(Option<String>);

impl Input for TokenQuery {
    fn parse(o: &mut Obj<'_>) -> Self {
        TokenQuery(o.opt_string("token"))
    }
}

pub async fn reset_password(
    State(auth): State<Auth>,
    Valid(b): Valid<ResetBody>,
    ValidQuery(q): ValidQuery<TokenQuery>,
    meta: RequestMeta,
) -> ApiResult<Reply> {
    let new_password = b.new_password.as_str();
    let token = b.token.or(q.0).ok_or(codes::INVALID_TOKEN)?;
    check_length(&auth, new_password)?;
    let v = auth.store.find_verification(&format!("{RESET_PREFIX}{token}")).await?;
    let now = auth.now();
    let v = v.filter(|v| v.expires_at > now).ok_or(codes::INVALID_TOKEN)?;
    let user = auth.store.find_user_by_id(&v.value).await?.ok_or(codes::USER_NOT_FOUND)?;
    let hash = super::hash(&auth, new_password).await?;
    // Single use: of two concurrent resets with one token, only one removes the row.
    if !auth.store.consume_verification(&v.id).await? {
        return Err(codes::INVALID_TOKEN);
    }
    if auth.config.email_and_password.revoke_sessions_on_password_reset {
        auth.sessions.delete_user_sessions(&user.id, None, now).await?;
    }
    match auth.store.find_credential_account(&user.id).await? {
        Some(a) => auth.store.update_password(&a.id, &hash, now).await?,
        None => auth.store.create_account(&Account::credential(auth.new_id(), &user.id, hash, now)).await?,
    }
    let details = json!({ "sessionsRevoked": auth.config.email_and_password.revoke_sessions_on_password_reset, "via": "email-link" });
    session::changed::emit(&auth, "password.reset", Some(&meta), Some(&user.id), &user, details).await;
    Ok(Reply::json(&json!({"status": true})))
}
