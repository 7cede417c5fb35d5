//! Sending codes (`send-verification-otp`, `request-password-reset` and its alias, and the
//! sign-up hook) and checking one without using it (`check-verification-otp`).

use super::otp::{self, OnSuccess, TYPES};
use super::{bad_request, checked_email, send_code, settings};
use crate::app::Auth;
use crate::error::{codes, ApiResult};
use crate::http::input::{Input, Obj, Valid};
use crate::http::reply::Reply;
use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use serde_json::json;

/// `{email: string, type: z.enum(types)}`
pub struct SendBody {
    email: String,
    kind: String,
}

impl Input for SendBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        SendBody { email: o.string("email"), kind: o.one_of("type", &TYPES) }
    }
}

fn success() -> Reply {
    Reply::json(&json!({"success": true}))
}

/// Stores a code for `identifier`, then mails it to the account of `email`, or, when there is none
/// and `to_anyone` (a sign-in code while sign-up is open), to `email` itself; otherwise removes the
/// code again. The same work and answer either way, so the answer tells nothing.
async fn issue_and_send(auth: &Auth, email: &str, kind: &str, identifier: &str, to_anyone: bool) -> ApiResult<Reply> {
    let cfg = settings(auth);
    let code = otp::issue(auth, cfg, identifier).await?;
    match auth.store.find_user_by_email(email).await? {
        Some(user) => send_code(auth, &user.email, &code, kind),
        None if to_anyone => send_code(auth, email, &code, kind),
        None => auth.store.delete_verifications(identifier).await?,
    }
    Ok(success())
}

/// Stores a code of `kind` for `email` and mails it if the address has an account.
pub(super) async fn issue_to_account(auth: &Auth, email: &str, kind: &str) -> ApiResult<Reply> {
    issue_and_send(auth, email, kind, &otp::identifier(kind, email), false).await
}

/// `POST /email-otp/send-verification-otp`
pub async fn send_verification_otp(State(auth): State<Auth>, Valid(b): Valid<SendBody>) -> ApiResult<Reply> {
    let email = checked_email(&b.email)?;
    if b.kind == "change-email" {
        return Err(bad_request("Invalid OTP type"));
    }
    let to_anyone = b.kind == "sign-in" && !settings(&auth).disable_sign_up;
    issue_and_send(&auth, &email, &b.kind, &otp::identifier(&b.kind, &email), to_anyone).await
}

/// `{email: string}`
pub struct EmailBody(String);

impl Input for EmailBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        EmailBody(o.string("email"))
    }
}

/// `POST /email-otp/request-password-reset` and the deprecated `POST /forget-password/email-otp`.
pub async fn request_password_reset(State(auth): State<Auth>, Valid(b): Valid<EmailBody>) -> ApiResult<Reply> {
    let email = checked_email(&b.0)?;
    let kind = "forget-password";
    issue_and_send(&auth, &email, kind, &otp::identifier(kind, &email), false).await
}

/// `{email: string, type: z.enum(types), otp: string}`
pub struct CheckBody {
    email: String,
    kind: String,
    otp: String,
}

impl Input for CheckBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        CheckBody { email: o.string("email"), kind: o.one_of("type", &TYPES), otp: o.string("otp") }
    }
}

/// `POST /email-otp/check-verification-otp`: the code stays usable; a wrong one costs an attempt.
pub async fn check_verification_otp(State(auth): State<Auth>, Valid(b): Valid<CheckBody>) -> ApiResult<Reply> {
    let email = checked_email(&b.email)?;
    otp::verify(&auth, settings(&auth), &otp::identifier(&b.kind, &email), &b.otp, OnSuccess::Restore).await?;
    // Whoever holds a valid code already knows the address gets mail: no enumeration here.
    if auth.store.find_user_by_email(&email).await?.is_none() {
        return Err(codes::USER_NOT_FOUND);
    }
    Ok(success())
}

/// Largest sign-up answer read for its user's address.
const SIGN_UP_BODY_LIMIT: usize = 1 << 20;

/// `sendVerificationOnSignUp`: reads the answer's `user.email` (the body is put back as it was) and
/// mails that address an `email-verification` code.
pub async fn after_sign_up(auth: &Auth, res: &mut Response) {
    let body = std::mem::take(res.body_mut());
    let bytes = match axum::body::to_bytes(body, SIGN_UP_BODY_LIMIT).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "email OTP on sign-up: could not read the sign-up answer");
            return;
        }
    };
    *res.body_mut() = Body::from(bytes.clone());
    let email = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.pointer("/user/email").and_then(|e| e.as_str()).map(str::to_lowercase));
    let Some(email) = email else { return };
    let kind = "email-verification";
    let cfg = settings(auth);
    let code = otp::generate(cfg);
    match otp::store(auth, cfg, &otp::identifier(kind, &email), &code).await {
        Ok(()) => send_code(auth, &email, &code, kind),
        Err(e) => tracing::warn!(error = %e, "email OTP on sign-up: could not store the code"),
    }
}
