//! Email and password: sign-up, sign-in, password change and reset, e-mail verification and
//! change of address (Better Auth's `emailAndPassword` and `emailVerification` options).

pub mod messages;
mod password;
mod sign;
pub mod token;
mod verify;

use crate::app::openapi::{Api, Op};
use crate::app::{Auth, Capability};
use crate::crypto::password::{PasswordError, Verified};
use crate::error::{codes, ApiError, ApiResult};
use crate::http::input::{check, Check};

pub struct EmailPassword;

impl Capability for EmailPassword {
    fn id(&self) -> &'static str {
        "email-password"
    }
    fn api(&self) -> Api {
        use crate::app::openapi::wire::*;
        let status = || object(&[("status", boolean())], &[]);
        Api::new("Email and password")
            .post(
                "/sign-up/email",
                sign::sign_up,
                Op::new("Signs up with e-mail and password (and any additional user fields)")
                    .body::<sign::SignUpBody>()
                    .example(serde_json::json!({"name": "Ada", "email": "ada@example.com", "password": "correct-horse-battery-staple"}))
                    .json(object(&[("token", nullable(string())), ("user", user())], &[])),
            )
            .post(
                "/sign-in/email",
                sign::sign_in,
                Op::new("Signs in with e-mail and password")
                    .body::<sign::SignInBody>()
                    .example(serde_json::json!({"email": "ada@example.com", "password": "correct-horse-battery-staple"}))
                    .json(signed_in()),
            )
            .post(
                "/change-password",
                password::change_password,
                Op::new("Changes the password (optionally revoking the other sessions)")
                    .signed_in()
                    .body::<password::ChangeBody>()
                    .json(object(&[("token", nullable(string())), ("user", user())], &[])),
            )
            .post(
                "/request-password-reset",
                password::request_reset,
                Op::new("Mails a password-reset link (same answer for unknown addresses)")
                    .body::<password::ResetRequestBody>()
                    .json(object(&[("status", boolean())], &[("message", string())])),
            )
            .post(
                "/reset-password",
                password::reset_password,
                Op::new("Sets a new password with a reset token")
                    .body::<password::ResetBody>()
                    .query::<password::TokenQuery>()
                    .json(status()),
            )
            .get(
                "/reset-password/{token}",
                password::reset_link,
                Op::new("Follows a reset link: redirects to the callback URL with the token (or an error)")
                    .query::<password::LinkQuery>()
                    .redirect(),
            )
            .post(
                "/send-verification-email",
                verify::send_verification_email,
                Op::new("Mails an e-mail verification link").body::<verify::EmailBody>().json(status()),
            )
            .get(
                "/verify-email",
                verify::verify_email,
                Op::new("Follows a verification link")
                    .query::<crate::http::input::TokenQuery>()
                    .json(object(&[("status", boolean())], &[("user", nullable(user()))]))
                    .redirect(),
            )
            .post(
                "/change-email",
                verify::change_email,
                Op::new("Changes the e-mail address (after confirmation by mail)")
                    .signed_in()
                    .body::<verify::ChangeEmailBody>()
                    .example(serde_json::json!({"newEmail": "ada.new@example.com"}))
                    .json(status()),
            )
            .post(
                "/verify-password",
                password::verify_password,
                Op::new("Checks the current password")
                    .signed_in()
                    .body::<password::PasswordBody>()
                    .example(serde_json::json!({"password": "correct-horse-battery-staple"}))
                    .json(status()),
            )
    }
    fn inputs(&self) -> Vec<(&'static str, Check)> {
        vec![
            ("/sign-up/email", check::<sign::SignUpBody>()),
            ("/sign-in/email", check::<sign::SignInBody>()),
            ("/change-password", check::<password::ChangeBody>()),
            ("/request-password-reset", check::<password::ResetRequestBody>()),
            ("/reset-password", check::<password::ResetBody>()),
            ("/send-verification-email", check::<verify::EmailBody>()),
            ("/change-email", check::<verify::ChangeEmailBody>()),
            ("/verify-password", check::<password::PasswordBody>()),
        ]
    }
    fn form_csrf_paths(&self) -> &'static [&'static str] {
        &["/sign-in/email", "/sign-up/email"]
    }
    fn mail_messages(&self) -> Vec<crate::mail::templates::Message> {
        messages::messages()
    }
}

/// Length in UTF-16 code units, as JavaScript's `.length` counts it.
fn js_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Checks a new password against the configured bounds.
pub fn check_length(auth: &Auth, password: &str) -> ApiResult<()> {
    let cfg = &auth.config.email_and_password;
    let n = js_len(password);
    if n < cfg.min_password_length {
        return Err(codes::PASSWORD_TOO_SHORT);
    }
    if n > cfg.max_password_length {
        return Err(codes::PASSWORD_TOO_LONG);
    }
    Ok(())
}

/// Only the upper bound, for passwords being checked rather than set.
pub fn check_max_length(auth: &Auth, password: &str) -> ApiResult<()> {
    if js_len(password) > auth.config.email_and_password.max_password_length {
        return Err(codes::PASSWORD_TOO_LONG);
    }
    Ok(())
}

/// Verifies `password` against the user's credential account. Callers are signed in as that
/// user, so the account exists and its owner learns nothing from the timing (which kind of hash
/// they hold, whether they have a password: the error code says so anyway); hence the unpadded
/// `verify`, not sign-in's `verify_padded`.
pub async fn check_password(auth: &Auth, user_id: &str, password: &str) -> ApiResult<()> {
    check_max_length(auth, password)?;
    let account = auth.store.find_credential_account(user_id).await?;
    let Some((account, hash)) = account.and_then(|a| a.password.clone().map(|h| (a, h))) else {
        return Err(codes::CREDENTIAL_ACCOUNT_NOT_FOUND);
    };
    match auth.hasher.verify(&hash, password).await {
        Ok(Verified::Match { needs_rehash }) => {
            if needs_rehash {
                upgrade_hash(auth, &account.id, &hash, password);
            }
            Ok(())
        }
        Ok(Verified::Mismatch) => Err(codes::INVALID_PASSWORD),
        Err(PasswordError::Busy) => Err(busy()),
        Err(e) => {
            tracing::warn!(account = %account.id, error = %e, "stored password hash is unreadable");
            Err(codes::INVALID_PASSWORD)
        }
    }
}

/// Re-hashes a correct password with the current algorithm (scrypt → argon2id) in the background.
/// The new hash replaces `old` only if nothing changed the password meanwhile.
pub fn upgrade_hash(auth: &Auth, account_id: &str, old: &str, password: &str) {
    let (auth, account_id, old, password) = (auth.clone(), account_id.to_string(), old.to_string(), password.to_string());
    tokio::spawn(async move {
        match auth.hasher.hash(&password).await {
            Ok(h) => {
                if let Err(e) = auth.store.replace_password(&account_id, &old, &h, auth.now()).await {
                    tracing::warn!(error = %e, "could not store upgraded password hash");
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not upgrade password hash"),
        }
    });
}

pub async fn hash(auth: &Auth, password: &str) -> ApiResult<String> {
    auth.hasher.hash(password).await.map_err(|e| match e {
        PasswordError::Busy => busy(),
        e => ApiError::internal(e),
    })
}

/// The hashing queue is full (`password_hashing.max_queue`): 503 with `Retry-After`, the same
/// answer for every account, known or not.
pub fn busy() -> ApiError {
    codes::SERVER_BUSY.retry_after(1)
}

/// Server-only `setPassword` (Better Auth does not route it over HTTP either): gives a user without
/// a credential account (e.g. one who signed up through a provider) a password.
pub async fn set_password(auth: &Auth, user_id: &str, password: &str) -> ApiResult<()> {
    check_length(auth, password)?;
    if auth.store.find_credential_account(user_id).await?.is_some_and(|a| a.password.is_some()) {
        return Err(codes::PASSWORD_ALREADY_SET);
    }
    let hash = hash(auth, password).await?;
    let account = crate::store::model::Account::credential(auth.new_id(), user_id, hash, auth.now());
    auth.store.create_account(&account).await?;
    Ok(())
}
