//! `[email_otp]`: Better Auth's `emailOTP()` options, in seconds and snake_case.

use crate::config::{parse_bool, ConfigError, Section};
use crate::rate_limit::Rule;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailOtpConfig {
    /// Serve the `/email-otp/*` routes and `/sign-in/email-otp`. Off by default, as Better Auth's
    /// plugin is opt-in.
    pub enabled: bool,
    /// Digits of a code (`otpLength`, 6).
    pub otp_length: usize,
    /// Seconds a code is valid (`expiresIn`, 300).
    pub expires_in: u64,
    /// Wrong codes before a code is refused for good (`allowedAttempts`, 3): the next try answers
    /// 403 `TOO_MANY_ATTEMPTS` and a new code must be requested.
    pub allowed_attempts: u32,
    /// Do not create users on a first sign-in by code (`disableSignUp`): sign-in codes are then
    /// sent to existing accounts only, and an unknown address gets 400 `INVALID_OTP`.
    pub disable_sign_up: bool,
    /// How codes are kept in the verification table (`storeOTP`): `plain`, `hashed` (base64url
    /// SHA-256) or `encrypted` (Better Auth's `symmetricEncrypt` with the secret). Rows written by
    /// Better Auth with the same setting verify here, and the other way round.
    pub store_otp: StoreOtp,
    /// A new request while a code is still valid: `rotate` (a new code, Better Auth's default) or
    /// `reuse` (the same code again with a fresh expiry; not possible with `hashed`, which then
    /// rotates).
    pub resend_strategy: ResendStrategy,
    /// After a sign-up (`/sign-up/*`) mail an `email-verification` code (`sendVerificationOnSignUp`).
    pub send_verification_on_sign_up: bool,
    /// Every address-verification e-mail (sign-up, sign-in of an unverified address,
    /// `/send-verification-email`, a change of address) becomes an `email-verification` code
    /// instead of a link (`overrideDefaultEmailVerification`); `send_verification_on_sign_up` then
    /// sends nothing of its own. Off by default.
    pub override_default_email_verification: bool,
    /// `/email-otp/request-email-change` and `/email-otp/change-email` (`changeEmail`).
    pub change_email: ChangeEmail,
    /// Requests per client and path on each route (`rateLimit`, 3 per 60 s).
    pub rate_limit: Rule,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreOtp {
    #[default]
    Plain,
    Hashed,
    Encrypted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResendStrategy {
    #[default]
    Rotate,
    Reuse,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChangeEmail {
    pub enabled: bool,
    /// Require a code sent to the current address first (`verifyCurrentEmail`): an
    /// `email-verification` code, passed as `otp` to request-email-change.
    pub verify_current_email: bool,
}

impl Default for EmailOtpConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            otp_length: 6,
            expires_in: 300,
            allowed_attempts: 3,
            disable_sign_up: false,
            store_otp: StoreOtp::Plain,
            resend_strategy: ResendStrategy::Rotate,
            send_verification_on_sign_up: false,
            override_default_email_verification: false,
            change_email: ChangeEmail::default(),
            rate_limit: Rule { window_s: 60, max: 3 },
        }
    }
}

impl Section for EmailOtpConfig {
    const NAME: &'static str = "email_otp";
    fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("PORTCULLIS_EMAIL_OTP") {
            self.enabled = parse_bool("PORTCULLIS_EMAIL_OTP", &v)?;
        }
        Ok(())
    }
    fn check(&self) -> Result<Vec<String>, ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(format!("email_otp.{m}")));
        if !(4..=32).contains(&self.otp_length) {
            return bad("otp_length must be between 4 and 32");
        }
        if self.expires_in == 0 {
            return bad("expires_in must be at least 1 second");
        }
        if self.allowed_attempts == 0 {
            return bad("allowed_attempts must be at least 1");
        }
        if self.rate_limit.window_s == 0 || self.rate_limit.max == 0 {
            return bad("rate_limit: window and max must be at least 1");
        }
        let mut warnings = Vec::new();
        if self.store_otp == StoreOtp::Hashed && self.resend_strategy == ResendStrategy::Reuse {
            warnings
                .push("email_otp.resend_strategy = \"reuse\" has no effect with store_otp = \"hashed\" (a hash cannot be re-sent)".into());
        }
        Ok(warnings)
    }
}
