//! Email and password: sign-up, sign-in, password change and reset, e-mail verification and
//! change of address (Better Auth's `emailAndPassword` and `emailVerification` options).

pub mod messages;
mod password;
mod sign;
pub mod token;
mod verify;

use crate::app::{Auth, Capability};
use crate::crypto::password::{PasswordError, Verified};
use crate::error::{codes, ApiError, ApiResult};
use crate::http::input::{check, Check};
use axum::routing::{get, post};
use axum::Router;

pub struct EmailPassword;

impl Capability for EmailPassword {
    fn id(&self) -> &'static str {
        "email-password"
    }
    fn routes(&self) -> Router<Auth> {
        Router::new()
            .route("/sign-up/email", post(sign::sign_up))
            .route("/sign-in/email", post(sign::sign_in))
            .route("/change-password", post(password::change_password))
            .route("/request-password-reset", post(password::request_reset))
            .route("/reset-password", post(password::reset_password))
            .route("/reset-password/{token}", get(password::reset_link))
            .route("/send-verification-email", post(verify::send_verification_email))
            .route("/verify-email", get(verify::verify_email))
            .route("/change-email", post(verify::change_email))
            .route("/verify-password", post(password::verify_password))
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
