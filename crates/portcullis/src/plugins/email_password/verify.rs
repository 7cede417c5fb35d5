//! E-mail verification and change of address (§10.1): stateless HS256 tokens, no database row.

use super::messages::{CHANGE_EMAIL_CONFIRMATION, VERIFY_EMAIL};
use super::token::{self, Claims, TokenError};
use crate::app::Auth;
use crate::error::{codes, ApiError, ApiResult};
use crate::http::input::{Input, Obj, TokenQuery, Valid, ValidQuery};
use crate::http::reply::Reply;
use crate::session::hooks::{self, Born, Method, SignIn, WriteError};
use crate::session::{self, MaybeSensitiveSession, MaybeSession, RequestMeta, SensitiveSession};
use crate::store::model::{User, UserPatch};
use crate::store::StoreError;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::json;

const CONFIRMATION: &str = "change-email-confirmation";
const VERIFICATION: &str = "change-email-verification";

fn verification_url(auth: &Auth, jwt: &str, callback: Option<&str>) -> String {
    format!("{}/verify-email?token={jwt}&callbackURL={}", auth.auth_url, super::password::encode(callback.unwrap_or("/")))
}

fn make_token(auth: &Auth, email: &str, user_id: &str, update_to: Option<&str>, request_type: Option<&str>) -> String {
    let now = auth.now().timestamp();
    let claims = Claims {
        email: email.to_lowercase(),
        update_to: update_to.map(str::to_lowercase),
        request_type: request_type.map(str::to_string),
        user_id: Some(user_id.to_string()),
        iat: now,
        exp: now + auth.config.email_verification.expires_in as i64,
    };
    token::sign(auth.secret(), &claims)
}

/// Sends a verification link for `user` (to `update_to` when changing address), in the background.
pub fn send_verification(auth: &Auth, user: &User, callback: Option<&str>, update_to: Option<&str>, request_type: Option<&str>) {
    let jwt = make_token(auth, &user.email, &user.id, update_to, request_type);
    let url = verification_url(auth, &jwt, callback);
    let to = update_to.unwrap_or(&user.email);
    let user_name = &user.name;
    if request_type == Some(CONFIRMATION) {
        auth.send_mail(
            CHANGE_EMAIL_CONFIRMATION,
            &user.email,
            json!({ "url": url, "token": jwt, "user_name": user_name, "new_email": update_to }),
        );
    } else if !auth.capabilities.iter().any(|c| c.send_verification_email(auth, to)) {
        auth.send_mail(VERIFY_EMAIL, to, json!({ "url": url, "token": jwt, "user_name": user_name }));
    }
}

/// `{email: z.email(), callbackURL?}` (send-verification-email), `{newEmail: z.email(),
/// callbackURL?}` (change-email).
pub struct EmailBody {
    email: String,
    callback_url: Option<String>,
}

impl EmailBody {
    fn read(o: &mut Obj<'_>, key: &str) -> Self {
        EmailBody { email: o.email(key), callback_url: o.opt_string("callbackURL") }
    }
}

impl Input for EmailBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        Self::read(o, "email")
    }
}

pub struct ChangeEmailBody(EmailBody);

impl Input for ChangeEmailBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        ChangeEmailBody(EmailBody::read(o, "newEmail"))
    }
}

pub async fn send_verification_email(
    State(auth): State<Auth>,
    Valid(b): Valid<EmailBody>,
    MaybeSession(cur): MaybeSession,
) -> ApiResult<Reply> {
    if !auth.config.email_verification.enabled {
        return Err(codes::VERIFICATION_EMAIL_NOT_ENABLED);
    }
    let email = b.email.to_lowercase();
    let callback = b.callback_url.as_deref();
    if let Some(cur) = cur {
        if cur.user.email != email {
            return Err(codes::EMAIL_MISMATCH);
        }
        if cur.user.email_verified {
            return Err(codes::EMAIL_ALREADY_VERIFIED);
        }
        send_verification(&auth, &cur.user, callback, None, None);
        return Ok(Reply::json(&json!({"status": true})));
    }
    // Signed out: the same answer, no sooner than 500 ms, whether or not the address exists.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(500);
    match auth.store.find_user_by_email(&email).await? {
        Some(u) if !u.email_verified => send_verification(&auth, &u, callback, None, None),
        _ => {
            let _ = make_token(&auth, &email, "", None, None);
        }
    }
    tokio::time::sleep_until(deadline).await;
    Ok(Reply::json(&json!({"status": true})))
}

/// Appends `error=CODE` to the callback URL (with `?` or `&`).
fn error_redirect(callback: &str, code: &str) -> Reply {
    let sep = if callback.contains('?') { '&' } else { '?' };
    Reply::redirect(&format!("{callback}{sep}error={code}"))
}

fn fail(callback: Option<&str>, e: ApiError) -> ApiResult<Reply> {
    match callback {
        Some(cb) => Ok(error_redirect(cb, e.code.unwrap_or("INVALID_TOKEN"))),
        None => Err(e),
    }
}

fn unauthorized(e: ApiError) -> ApiError {
    ApiError { status: StatusCode::UNAUTHORIZED, ..e }
}

/// The current session, if any, is read from the store: this answer re-issues its cookies, which
/// from a cookie-cache hit would renew a revoked session's cache.
pub async fn verify_email(
    State(auth): State<Auth>,
    ValidQuery(q): ValidQuery<TokenQuery>,
    MaybeSensitiveSession(cur): MaybeSensitiveSession,
    meta: RequestMeta,
    headers: HeaderMap,
) -> ApiResult<Reply> {
    let jwt = &q.token;
    // Better Auth's `if (callbackURL)`: an empty one is no callback at all.
    let callback = q.callback_url.as_deref().filter(|c| !c.is_empty());
    if let Some(cb) = callback {
        if !auth.origins.matches(cb, true) {
            return Err(codes::INVALID_CALLBACK_URL);
        }
    }
    let claims = match token::verify(auth.secrets(), jwt, auth.now().timestamp()) {
        Ok(c) => c,
        Err(TokenError::Expired) => return fail(callback, codes::TOKEN_EXPIRED),
        Err(TokenError::Invalid) => return fail(callback, unauthorized(codes::INVALID_TOKEN)),
    };
    if let Some(new_email) = claims.update_to.as_deref() {
        return change_email_callback(&auth, cur, &claims, new_email, callback, &meta).await;
    }
    let Some(user) = auth.store.find_user_by_email(&claims.email).await? else {
        return fail(callback, unauthorized(codes::USER_NOT_FOUND));
    };
    if claims.user_id.as_deref().is_some_and(|id| id != user.id) {
        return fail(callback, unauthorized(codes::INVALID_USER));
    }
    if user.email_verified {
        return Ok(done(callback, json!({"status": true, "user": null})));
    }
    let patch = UserPatch { email_verified: Some(true), ..Default::default() };
    let user = hooks::update_user(&auth, &user.id, patch).await?.ok_or(codes::USER_NOT_FOUND)?;
    auth.sessions.refresh_user(&user, auth.now()).await;
    session::changed::emit(&auth, "email.verified", Some(&meta), Some(&user.id), &user, json!({ "via": "email-link" })).await;
    let mut cookies = Vec::new();
    if auth.config.email_verification.auto_sign_in_after_verification {
        match cur.filter(|c| c.user.id == user.id) {
            Some(c) => cookies = session::issue_cookies(&auth, &c.session, &user, c.dont_remember),
            None => {
                let remember = !session::dont_remember_from(&auth, &headers);
                let sign_in =
                    SignIn { user: &user, method: Method::VerifyEmail, meta: &meta, headers: &headers, remember, federated: None };
                let s = match hooks::sign_in(&auth, sign_in).await? {
                    Born::Session(s) => s,
                    Born::Answered(r) => return Ok(r),
                };
                cookies = session::issue_cookies(&auth, &s, &user, !remember);
            }
        }
    }
    Ok(done(callback, json!({"status": true, "user": null})).cookies(cookies))
}

fn done(callback: Option<&str>, body: serde_json::Value) -> Reply {
    match callback {
        Some(cb) => Reply::redirect(cb),
        None => Reply::json(&body),
    }
}

async fn change_email_callback(
    auth: &Auth,
    cur: Option<session::Current>,
    claims: &Claims,
    new_email: &str,
    callback: Option<&str>,
    meta: &RequestMeta,
) -> ApiResult<Reply> {
    let Some(user_id) = claims.user_id.as_deref() else { return fail(callback, unauthorized(codes::INVALID_TOKEN)) };
    let user = match auth.store.find_user_by_id(user_id).await? {
        Some(u) if u.email == claims.email => u,
        _ => return fail(callback, unauthorized(codes::USER_NOT_FOUND)),
    };
    if cur.as_ref().is_some_and(|c| c.user.id != user.id) {
        return fail(callback, unauthorized(codes::INVALID_USER));
    }
    if claims.request_type.as_deref() == Some(CONFIRMATION) {
        send_verification(auth, &user, callback, Some(new_email), Some(VERIFICATION));
        return Ok(done(callback, json!({"status": true})));
    }
    let legacy = claims.request_type.is_none();
    let patch =
        UserPatch { email: Some(new_email.to_string()), email_verified: if legacy { Some(false) } else { None }, ..Default::default() };
    let updated = match hooks::update_user(auth, &user.id, patch).await {
        Ok(u) => u.ok_or(codes::USER_NOT_FOUND)?,
        Err(WriteError::Store(StoreError::Conflict(_))) => return fail(callback, unauthorized(codes::INVALID_TOKEN)),
        Err(e) => return Err(e.into()),
    };
    auth.sessions.refresh_user(&updated, auth.now()).await;
    let details = json!({ "previousEmail": user.email, "via": "email-link" });
    session::changed::emit(auth, "email.changed", Some(meta), Some(&user.id), &updated, details).await;
    if legacy {
        send_verification(auth, &updated, callback, None, None);
    }
    let cookies = cur.map(|c| session::issue_cookies(auth, &c.session, &updated, c.dont_remember)).unwrap_or_default();
    Ok(done(callback, json!({"status": true, "user": updated})).cookies(cookies))
}

pub async fn change_email(
    State(auth): State<Auth>,
    Valid(ChangeEmailBody(b)): Valid<ChangeEmailBody>,
    SensitiveSession(cur): SensitiveSession,
    meta: RequestMeta,
) -> ApiResult<Reply> {
    let uc = &auth.config.user;
    if !uc.change_email_enabled {
        return Err(codes::CHANGE_EMAIL_DISABLED);
    }
    let new_email = b.email.to_lowercase();
    let callback = b.callback_url.as_deref();
    if new_email == cur.user.email {
        return Err(ApiError::uncoded(StatusCode::BAD_REQUEST, "Email is the same"));
    }
    let can_send = auth.config.email_verification.enabled;
    let without_verification = !cur.user.email_verified && uc.update_email_without_verification;
    if !without_verification && !can_send {
        return Err(ApiError::uncoded(StatusCode::BAD_REQUEST, "Verification email isn't enabled"));
    }
    if auth.store.find_user_by_email(&new_email).await?.is_some() {
        // Same answer as success: the address's existence is not revealed.
        let _ = make_token(&auth, &cur.user.email, &cur.user.id, Some(&new_email), None);
        return Ok(Reply::json(&json!({"status": true})));
    }
    if without_verification {
        let patch = UserPatch { email: Some(new_email.clone()), ..Default::default() };
        let user = match hooks::update_user(&auth, &cur.user.id, patch).await {
            Ok(u) => u.ok_or(codes::USER_NOT_FOUND)?,
            Err(WriteError::Store(StoreError::Conflict(_))) => return Ok(Reply::json(&json!({"status": true}))),
            Err(e) => return Err(e.into()),
        };
        auth.sessions.refresh_user(&user, auth.now()).await;
        let details = json!({ "previousEmail": cur.user.email, "via": "without-verification" });
        session::changed::emit(&auth, "email.changed", Some(&meta), Some(&user.id), &user, details).await;
        if can_send {
            send_verification(&auth, &user, callback, None, None);
        }
        let cookies = session::issue_cookies(&auth, &cur.session, &user, cur.dont_remember);
        return Ok(Reply::json(&json!({"status": true})).cookies(cookies));
    }
    let request_type = if cur.user.email_verified && uc.change_email_confirmation { CONFIRMATION } else { VERIFICATION };
    send_verification(&auth, &cur.user, callback, Some(&new_email), Some(request_type));
    Ok(Reply::json(&json!({"status": true})))
}
