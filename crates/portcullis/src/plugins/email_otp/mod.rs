//! One-time codes by e-mail, wire-compatible with Better Auth 1.7.24's `emailOTP()` plugin (spec
//! plugins §8, read against the 1.7.24 source where the spec, written for 1.7.1, differs).
//!
//! Owns: `/email-otp/send-verification-otp`, `/email-otp/check-verification-otp`,
//! `/email-otp/verify-email`, `/sign-in/email-otp` (signs up on a first sign-in unless
//! `disable_sign_up`), `/email-otp/request-password-reset` and its deprecated alias
//! `/forget-password/email-otp`, `/email-otp/reset-password`, `/email-otp/request-email-change`
//! and `/email-otp/change-email` (with `change_email.enabled`); the `[email_otp]` section, the
//! codes `OTP_EXPIRED`, `INVALID_OTP`, `TOO_MANY_ATTEMPTS`, and the `email-otp:<type>` e-mails.
//! How codes are made, stored and checked is [`otp`].
//!
//! Must never: tell whether an address has an account before a correct code was given (sending
//! answers `{"success":true}` for every address and mails only existing accounts, or anyone for a
//! sign-in code while sign-up is open), compare a code with `==`, or let a code be used twice.

mod change;
pub mod config;
pub mod otp;
mod reset;
mod send;
mod sign;

use crate::app::openapi::{Api, Op};
use crate::app::{Auth, Capability};
use crate::config::SectionSpec;
use crate::error::{codes, ApiError, ApiResult};
use crate::http::input::{check, Check};
use crate::mail::templates::Message;
use crate::rate_limit::Rule;
use axum::response::Response;
use config::EmailOtpConfig;

/// The plugin's own error codes (`EMAIL_OTP_ERROR_CODES`).
pub mod errors {
    crate::error_codes! {
        OTP_EXPIRED = BAD_REQUEST, "OTP expired";
        INVALID_OTP = BAD_REQUEST, "Invalid OTP";
        TOO_MANY_ATTEMPTS = FORBIDDEN, "Too many attempts";
    }
}

/// This capability's `[email_otp]` section.
fn settings(auth: &Auth) -> &EmailOtpConfig {
    auth.config.section()
}

/// The e-mail of each OTP type: `email-otp:<type>`. Context: `otp`, `email`, `otp_type`.
fn message_name(kind: &str) -> &'static str {
    match kind {
        "sign-in" => "email-otp:sign-in",
        "forget-password" => "email-otp:forget-password",
        "change-email" => "email-otp:change-email",
        _ => "email-otp:email-verification",
    }
}

/// Mails `otp` (of type `kind`) to `to`, in the background.
fn send_code(auth: &Auth, to: &str, otp: &str, kind: &str) {
    auth.send_mail(message_name(kind), to, serde_json::json!({ "otp": otp, "email": to, "otp_type": kind }));
}

/// `z.email()` on the lower-cased address, else 400 `INVALID_EMAIL` (the plugin's own check).
fn checked_email(email: &str) -> ApiResult<String> {
    let email = email.to_lowercase();
    if !crate::http::body::is_email(&email) {
        return Err(codes::INVALID_EMAIL);
    }
    Ok(email)
}

/// A 400 with only a message, as Better Auth's `APIError.fromStatus("BAD_REQUEST", {message})`.
fn bad_request(message: &'static str) -> ApiError {
    ApiError::uncoded(axum::http::StatusCode::BAD_REQUEST, message)
}

/// The e-mail OTP capability.
pub struct EmailOtp {
    rate_limit: Rule,
    on_sign_up: bool,
    override_verification: bool,
}

impl EmailOtp {
    pub fn new(cfg: &EmailOtpConfig) -> Self {
        let override_verification = cfg.override_default_email_verification;
        Self { rate_limit: cfg.rate_limit, on_sign_up: cfg.send_verification_on_sign_up && !override_verification, override_verification }
    }
}

const PATHS: [&str; 9] = [
    "/email-otp/send-verification-otp",
    "/email-otp/check-verification-otp",
    "/email-otp/verify-email",
    "/sign-in/email-otp",
    "/email-otp/request-password-reset",
    "/email-otp/reset-password",
    "/forget-password/email-otp",
    "/email-otp/request-email-change",
    "/email-otp/change-email",
];

#[async_trait::async_trait]
impl Capability for EmailOtp {
    fn id(&self) -> &'static str {
        "email-otp"
    }
    fn sections(&self) -> Vec<SectionSpec> {
        vec![SectionSpec::of::<EmailOtpConfig>()]
    }
    fn api(&self) -> Api {
        use crate::app::openapi::wire::*;
        let success = || object(&[("success", boolean())], &[]);
        // A sign-in's answer, or a capability's instead (two-factor's challenge).
        let signed = || object(&[], &[("status", boolean()), ("token", nullable(string())), ("user", user())]);
        Api::new("Email OTP")
            .post(
                "/email-otp/send-verification-otp",
                send::send_verification_otp,
                Op::new("Mails a one-time code").body::<send::SendBody>().json(success()),
            )
            .post(
                "/email-otp/check-verification-otp",
                send::check_verification_otp,
                Op::new("Checks a code without using it").body::<send::CheckBody>().json(success()),
            )
            .post(
                "/email-otp/verify-email",
                sign::verify_email,
                Op::new("Verifies the address with a code").body::<sign::VerifyEmailBody>().json(signed()),
            )
            .post("/sign-in/email-otp", sign::sign_in, Op::new("Signs in (or up) with a code").body::<sign::SignInBody>().json(signed()))
            .post(
                "/email-otp/request-password-reset",
                send::request_password_reset,
                Op::new("Mails a password-reset code").body::<send::EmailBody>().json(success()),
            )
            .post(
                "/forget-password/email-otp",
                send::request_password_reset,
                Op::new("Mails a password-reset code (older path)").body::<send::EmailBody>().json(success()),
            )
            .post(
                "/email-otp/reset-password",
                reset::reset_password,
                Op::new("Resets the password with a code").body::<reset::ResetBody>().json(success()),
            )
            .post(
                "/email-otp/request-email-change",
                change::request_email_change,
                Op::new("Mails a code to confirm a new address").signed_in().body::<change::RequestBody>().json(success()),
            )
            .post(
                "/email-otp/change-email",
                change::change_email,
                Op::new("Changes the address with a code").signed_in().body::<change::ChangeBody>().json(success()),
            )
    }
    fn inputs(&self) -> Vec<(&'static str, Check)> {
        vec![
            ("/email-otp/send-verification-otp", check::<send::SendBody>()),
            ("/email-otp/check-verification-otp", check::<send::CheckBody>()),
            ("/email-otp/verify-email", check::<sign::VerifyEmailBody>()),
            ("/sign-in/email-otp", check::<sign::SignInBody>()),
            ("/email-otp/request-password-reset", check::<send::EmailBody>()),
            ("/forget-password/email-otp", check::<send::EmailBody>()),
            ("/email-otp/reset-password", check::<reset::ResetBody>()),
            ("/email-otp/request-email-change", check::<change::RequestBody>()),
            ("/email-otp/change-email", check::<change::ChangeBody>()),
        ]
    }
    fn form_csrf_paths(&self) -> &'static [&'static str] {
        &["/email-otp/send-verification-otp"]
    }
    fn rate_limit_rules(&self) -> Vec<(String, Option<Rule>)> {
        PATHS.iter().map(|p| (p.to_string(), Some(self.rate_limit))).collect()
    }
    fn mail_messages(&self) -> Vec<Message> {
        otp::TYPES
            .iter()
            .map(|kind| Message {
                name: message_name(kind),
                subject: match *kind {
                    "sign-in" => include_str!("mail/sign-in.subject"),
                    "forget-password" => include_str!("mail/forget-password.subject"),
                    "change-email" => include_str!("mail/change-email.subject"),
                    _ => include_str!("mail/email-verification.subject"),
                },
                text: include_str!("mail/code.txt"),
                html: include_str!("mail/code.html"),
                example: serde_json::json!({ "otp": "123456", "email": "ada@example.com", "otp_type": kind }),
            })
            .collect()
    }
    /// `overrideDefaultEmailVerification`: an `email-verification` code instead of the link, sent
    /// as `/email-otp/send-verification-otp` would (only to an existing account).
    fn send_verification_email(&self, auth: &Auth, to: &str) -> bool {
        if !self.override_verification {
            return false;
        }
        let (auth2, to) = (auth.clone(), to.to_lowercase());
        auth.background.spawn("e-mail verification code", async move {
            if let Err(e) = send::issue_to_account(&auth2, &to, "email-verification").await {
                tracing::warn!(error = %e.message, "e-mail verification code not sent");
            }
        });
        true
    }
    /// `sendVerificationOnSignUp`: after a sign-up (`/sign-up/*`) answered with a user, an
    /// `email-verification` code to its address.
    async fn on_response(&self, auth: &Auth, path: &str, res: &mut Response) {
        if self.on_sign_up && path.starts_with("/sign-up") && res.status().is_success() {
            send::after_sign_up(auth, res).await;
        }
    }
}
