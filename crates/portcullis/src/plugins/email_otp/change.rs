//! Change of address by code (`changeEmail.enabled`): `POST /email-otp/request-email-change` mails
//! a `change-email` code to the new address, `POST /email-otp/change-email` moves the account
//! there. Both need a session read from the store (Better Auth's `sensitiveSessionMiddleware`).
//! The code's row is `change-email-otp-<userId>:<new email>` (1.7.24).

use super::otp::{self, OnSuccess};
use super::{bad_request, checked_email, send_code, settings};
use crate::app::Auth;
use crate::error::{codes, ApiResult};
use crate::http::input::{Input, Obj, Valid};
use crate::http::reply::Reply;
use crate::session::hooks::{self, WriteError};
use crate::session::{self, Current, SensitiveSession};
use crate::store::model::UserPatch;
use crate::store::StoreError;
use axum::extract::State;
use serde_json::json;

/// `{newEmail: string, otp?: string}`
pub struct RequestBody {
    new_email: String,
    otp: Option<String>,
}

impl Input for RequestBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        RequestBody { new_email: o.string("newEmail"), otp: o.opt_string("otp") }
    }
}

/// The checks both routes start with: the feature on, the new address valid and different.
/// Returns `(current, new)` lower-cased.
fn addresses(auth: &Auth, cur: &Current, new_email: &str) -> ApiResult<(String, String)> {
    if !settings(auth).change_email.enabled {
        return Err(bad_request("Change email with OTP is disabled"));
    }
    let email = cur.user.email.to_lowercase();
    let new_email = checked_email(new_email)?;
    if new_email == email {
        return Err(bad_request("Email is the same"));
    }
    Ok((email, new_email))
}

fn identifier(cur: &Current, new_email: &str) -> String {
    otp::identifier("change-email", &format!("{}:{new_email}", cur.user.id))
}

pub async fn request_email_change(
    State(auth): State<Auth>,
    Valid(b): Valid<RequestBody>,
    SensitiveSession(cur): SensitiveSession,
) -> ApiResult<Reply> {
    let (email, new_email) = addresses(&auth, &cur, &b.new_email)?;
    let cfg = settings(&auth);
    if cfg.change_email.verify_current_email {
        let code = b.otp.as_deref().ok_or_else(|| bad_request("OTP is required to verify current email"))?;
        otp::verify(&auth, cfg, &otp::identifier("email-verification", &email), code, OnSuccess::Consume).await?;
    }
    let identifier = identifier(&cur, &new_email);
    let code = otp::generate(cfg);
    otp::store(&auth, cfg, &identifier, &code).await?;
    // A taken address gets nothing, and the answer is the same.
    if auth.store.find_user_by_email(&new_email).await?.is_some() {
        auth.store.delete_verifications(&identifier).await?;
    } else {
        send_code(&auth, &new_email, &code, "change-email");
    }
    Ok(Reply::json(&json!({"success": true})))
}

/// `{newEmail: string, otp: string}`
pub struct ChangeBody {
    new_email: String,
    otp: String,
}

impl Input for ChangeBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        ChangeBody { new_email: o.string("newEmail"), otp: o.string("otp") }
    }
}

pub async fn change_email(
    State(auth): State<Auth>,
    Valid(b): Valid<ChangeBody>,
    SensitiveSession(cur): SensitiveSession,
    meta: crate::session::RequestMeta,
) -> ApiResult<Reply> {
    let (email, new_email) = addresses(&auth, &cur, &b.new_email)?;
    otp::verify(&auth, settings(&auth), &identifier(&cur, &new_email), &b.otp, OnSuccess::Consume).await?;
    // A valid code was given: telling about the addresses reveals nothing new.
    let user = auth.store.find_user_by_email(&email).await?.ok_or(codes::USER_NOT_FOUND)?;
    let taken = || bad_request("Email already in use");
    if auth.store.find_user_by_email(&new_email).await?.is_some() {
        return Err(taken());
    }
    let patch = UserPatch { email: Some(new_email), email_verified: Some(true), ..Default::default() };
    let updated = match hooks::update_user(&auth, &user.id, patch).await {
        Ok(u) => u.ok_or(codes::USER_NOT_FOUND)?,
        Err(WriteError::Store(StoreError::Conflict(_))) => return Err(taken()),
        Err(e) => return Err(e.into()),
    };
    auth.sessions.refresh_user(&updated, auth.now()).await;
    let details = json!({ "previousEmail": user.email, "via": "email-otp" });
    session::changed::emit(&auth, "email.changed", Some(&meta), Some(&user.id), &updated, details).await;
    let cookies = session::issue_cookies(&auth, &cur.session, &updated, cur.dont_remember);
    Ok(Reply::json(&json!({"success": true})).cookies(cookies))
}
