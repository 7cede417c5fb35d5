//! `POST /email-otp/reset-password`: a new password for the holder of a `forget-password` code.

use super::otp::{self, OnSuccess};
use super::{checked_email, settings};
use crate::app::Auth;
use crate::crypto::password::PasswordError;
use crate::error::{codes, ApiError, ApiResult};
use crate::http::input::{Input, Obj, Valid};
use crate::http::reply::Reply;
use crate::session::{hooks, RequestMeta};
use crate::store::model::{Account, UserPatch};
use axum::extract::State;
use serde_json::json;

/// `{email: string, otp: string, password: string}`
pub struct ResetBody {
    email: String,
    otp: String,
    password: String,
}

impl Input for ResetBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        ResetBody { email: o.string("email"), otp: o.string("otp"), password: o.string("password") }
    }
}

/// The configured password bounds, counted in UTF-16 units as JavaScript's `.length`.
fn check_length(auth: &Auth, password: &str) -> ApiResult<()> {
    let cfg = &auth.config.email_and_password;
    let n = password.encode_utf16().count();
    if n < cfg.min_password_length {
        return Err(codes::PASSWORD_TOO_SHORT);
    }
    if n > cfg.max_password_length {
        return Err(codes::PASSWORD_TOO_LONG);
    }
    Ok(())
}

async fn hash(auth: &Auth, password: &str) -> ApiResult<String> {
    auth.hasher.hash(password).await.map_err(|e| match e {
        PasswordError::Busy => codes::SERVER_BUSY.retry_after(1),
        e => ApiError::internal(e),
    })
}

/// Checks the code first without using it (so a wrong one costs an attempt and nothing else),
/// hashes, then uses it: of two concurrent resets with one code only one goes on. Sets (or
/// creates) the credential password, revokes the sessions when `revoke_sessions_on_password_reset`,
/// and marks the address verified (the code proved it).
pub async fn reset_password(State(auth): State<Auth>, Valid(b): Valid<ResetBody>, meta: RequestMeta) -> ApiResult<Reply> {
    let email = checked_email(&b.email)?;
    check_length(&auth, &b.password)?;
    let cfg = settings(&auth);
    let identifier = otp::identifier("forget-password", &email);
    otp::verify(&auth, cfg, &identifier, &b.otp, OnSuccess::Restore).await?;
    let user = auth.store.find_user_by_email(&email).await?.ok_or(codes::USER_NOT_FOUND)?;
    let hash = hash(&auth, &b.password).await?;
    otp::verify(&auth, cfg, &identifier, &b.otp, OnSuccess::Consume).await?;
    let now = auth.now();
    if auth.config.email_and_password.revoke_sessions_on_password_reset {
        auth.sessions.delete_user_sessions(&user.id, None, now).await?;
    }
    match auth.store.find_credential_account(&user.id).await? {
        Some(a) => auth.store.update_password(&a.id, &hash, now).await?,
        None => auth.store.create_account(&Account::credential(auth.new_id(), &user.id, hash, now)).await?,
    }
    let mut user = user;
    if !user.email_verified {
        let patch = UserPatch { email_verified: Some(true), ..Default::default() };
        if let Some(u) = hooks::update_user(&auth, &user.id, patch).await? {
            auth.sessions.refresh_user(&u, now).await;
            user = u;
        }
    }
    let details = json!({ "sessionsRevoked": auth.config.email_and_password.revoke_sessions_on_password_reset, "via": "email-otp" });
    crate::session::changed::emit(&auth, "password.reset", Some(&meta), Some(&user.id), &user, details).await;
    Ok(Reply::json(&json!({"success": true})))
}
