//! The `sign-in.failed` event: a sign-in refused (wrong password, unknown address, unverified
//! e-mail, a wrong second factor, a ban...), with the method and the refusal's code.
//!
//! Must never: change the answer or its timing. Callers pass only what they already hold (the
//! user id when they read the user anyway, the address as typed); nothing is looked up here, and
//! nothing secret (the password, code or token tried) is ever passed.

use super::RequestMeta;
use crate::app::events::Event;
use crate::app::Auth;
use crate::error::ApiError;
use serde_json::json;

/// What was refused: how (`email`, `two-factor`, `email-otp`...), to whom if known, and why.
pub struct Failed<'a> {
    pub method: &'a str,
    pub user_id: Option<&'a str>,
    /// The address the client sent, when the method takes one.
    pub email: Option<&'a str>,
    pub error: &'a ApiError,
}

/// Emits `sign-in.failed` (`targetType = "user"`, `targetId` = the user when known).
pub async fn emit(auth: &Auth, meta: &RequestMeta, f: Failed<'_>) {
    emit_code(auth, meta, f.method, f.user_id, f.email, f.error.code.unwrap_or("UNKNOWN")).await;
}

/// [`emit`] with the refusal as a code only (a social callback's `error=` value).
pub async fn emit_code(auth: &Auth, meta: &RequestMeta, method: &str, user_id: Option<&str>, email: Option<&str>, code: &str) {
    if !auth.listens() {
        return;
    }
    let mut data = json!({ "method": method, "reason": code });
    if let Some(email) = email {
        data["email"] = email.into();
    }
    auth.emit(Event::new(auth, "sign-in.failed", "user", user_id).meta(meta).data(data)).await;
}
