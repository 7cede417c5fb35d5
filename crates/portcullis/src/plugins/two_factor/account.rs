//! What the endpoints share about the signed-in account: the password check Better Auth's
//! two-factor endpoints make (`validatePassword` / `checkPassword`, `allowPasswordless`), turning
//! `twoFactorEnabled` on and off, and the session rotation that follows.

use super::settings;
use crate::app::Auth;
use crate::crypto::password::{PasswordError, Verified};
use crate::error::{codes, ApiResult};
use crate::fields::Values;
use crate::http::reply::Reply;
use crate::session::hooks::{self, Born, Method, SignIn};
use crate::session::{self, Current, RequestMeta};
use crate::store::model::{User, UserPatch};
use axum::http::{HeaderMap, HeaderValue};

/// Refuses with 400 `INVALID_PASSWORD` unless `password` is the user's; with `allow_passwordless`,
/// a user without a password needs none.
pub async fn check_password(auth: &Auth, user_id: &str, password: Option<&str>) -> ApiResult<()> {
    let account = auth.store.find_credential_account(user_id).await?;
    let hash = account.and_then(|a| a.password);
    if settings(auth).allow_passwordless && hash.is_none() {
        return Ok(());
    }
    let Some(password) = password else { return Err(codes::INVALID_PASSWORD) };
    if password.encode_utf16().count() > auth.config.email_and_password.max_password_length {
        return Err(codes::PASSWORD_TOO_LONG);
    }
    let Some(hash) = hash else { return Err(codes::INVALID_PASSWORD) };
    match auth.hasher.verify(&hash, password).await {
        Ok(Verified::Match { .. }) => Ok(()),
        Ok(Verified::Mismatch) => Err(codes::INVALID_PASSWORD),
        Err(PasswordError::Busy) => Err(codes::SERVER_BUSY.retry_after(1)),
        Err(e) => {
            tracing::warn!(user = %user_id, error = %e, "stored password hash is unreadable");
            Err(codes::INVALID_PASSWORD)
        }
    }
}

/// Sets `twoFactorEnabled`; the user as stored after. A change emits `two-factor.enabled` or
/// `two-factor.disabled` (the user acting from `meta`).
pub async fn set_enabled(auth: &Auth, user: &User, on: bool, meta: &RequestMeta) -> ApiResult<User> {
    let was = super::challenge::enabled_for(user);
    let patch = UserPatch { extra: Values(vec![("twoFactorEnabled".into(), on.into())]), ..Default::default() };
    let updated = hooks::update_user(auth, &user.id, patch).await?.ok_or(codes::USER_NOT_FOUND)?;
    auth.sessions.refresh_user(&updated, auth.now()).await;
    if was != on {
        let kind = if on { "two-factor.enabled" } else { "two-factor.disabled" };
        session::changed::emit(auth, kind, Some(meta), Some(&updated.id), &updated, serde_json::Value::Null).await;
    }
    Ok(updated)
}

/// `sign-in.failed` for a wrong second factor at sign-in (`method = "two-factor"`); nothing when
/// the code was checked for a signed-in user.
pub async fn failed(auth: &Auth, meta: &RequestMeta, sign_in: bool, user: &User, error: crate::error::ApiError) -> crate::error::ApiError {
    if sign_in {
        let f = session::failed::Failed { method: "two-factor", user_id: Some(&user.id), email: None, error: &error };
        session::failed::emit(auth, meta, f).await;
    }
    error
}

/// A new session replaces `cur` (Better Auth rotates the session when two-factor changes, so the
/// cookie cache carries the new `twoFactorEnabled`): `Ok((token, cookies))`, or the answer a
/// sign-in hook gave instead.
pub async fn rotate(
    auth: &Auth,
    cur: &Current,
    user: &User,
    meta: &RequestMeta,
    headers: &HeaderMap,
) -> ApiResult<Result<(String, Vec<HeaderValue>), Reply>> {
    // Better Auth's rotated session is a full-length one; the cookie follows `dont_remember`.
    let sign_in = SignIn { user, method: Method::Other("two-factor"), meta, headers, remember: true, federated: None };
    let s = match hooks::sign_in(auth, sign_in).await? {
        Born::Session(s) => s,
        Born::Answered(r) => return Ok(Err(r)),
    };
    auth.sessions.delete(&cur.session.token, auth.now()).await?;
    let cookies = session::issue_cookies(auth, &s, user, cur.dont_remember);
    Ok(Ok((s.token, cookies)))
}
