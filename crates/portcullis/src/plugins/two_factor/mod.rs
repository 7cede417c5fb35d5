//! Two-factor authentication, wire-compatible with Better Auth 1.7.24's `twoFactor()` plugin and
//! its `twoFactorClient()` (spec plugins §1): authenticator apps (TOTP), backup codes, and codes
//! sent by e-mail (the `two-factor-otp` message) or SMS ([`sms`]).
//!
//! Owns: the `/two-factor/*` routes, the `twoFactor` table ([`row`]) and the user field
//! `twoFactorEnabled`, the `[two_factor]` section ([`config`]), the `two_factor` and
//! `trust_device` cookies, the sign-in challenge ([`challenge`], a before-session hook), its error
//! codes ([`errors`]) and its e-mail. Secrets and backup codes are stored exactly as Better Auth
//! stores them (`symmetricEncrypt` with the server secret), so a database moves between the two
//! servers and enrolled authenticator apps keep working.
//!
//! | file | what |
//! | --- | --- |
//! | [`totp`], [`backup`] | the algorithms (pure) |
//! | [`row`] | the table, the account lockout |
//! | [`challenge`] | the sign-in interception, trusted devices |
//! | [`verifier`] | who a verify endpoint verifies (session or challenge), attempts, success |
//! | [`manage`] | enable, disable, get-totp-uri, generate-backup-codes |
//! | [`verify`] | verify-totp, verify-backup-code, send-otp, verify-otp |
//!
//! Must never: log a secret, code or cookie value; compare a code or token with `==`; tell an
//! unknown account from a known one (the challenge exists only after the password was right);
//! make a user without two-factor pay anything at sign-in (the hook reads the field the user row
//! already carries and returns).
//!
//! # Requiring two-factor for roles (`required_for_roles`, a Portcullis addition)
//!
//! `required_for_roles = ["admin"]` reads the user field `role` (comma-separated, the admin
//! capability's column, by name through [`crate::access::ROLE_FIELD`]; this capability never
//! imports admin). For a user holding a listed role, every sign-in but the exempt ones (the
//! sign-in completing a challenge, a password change in a session, an impersonation) is stopped
//! before a session exists:
//!
//! - with two-factor on: the usual challenge, whatever `intercept` says, and a trusted device does
//!   not skip it;
//! - without: the *enrolment challenge* ([`challenge`]): no session, the `two_factor` cookie, and
//!   `{"twoFactorRedirect": true, "twoFactorMethods": [], "twoFactorSetupRequired": true, "url":
//!   setup_page}` (a provider callback redirects to `setup_page`). With that cookie alone,
//!   `/two-factor/enable` then `/two-factor/verify-totp` enrol the user, and the verified code
//!   creates the session. Nothing else accepts it, so there is no half-privileged session to
//!   police on every request.
//! - `disable` refuses with `TWO_FACTOR_REQUIRED_FOR_ROLE` while a listed role holds.
//!
//! A role granted later (an admin's set-role, a provider rule) takes effect at the next sign-in.

pub mod account;
pub mod backup;
pub mod challenge;
pub mod config;
pub mod manage;
pub mod row;
pub mod sms;
pub mod totp;
pub mod verifier;
pub mod verify;

use crate::app::openapi::{Api, Op};
use crate::app::{Auth, Capability};
use crate::config::SectionSpec;
use crate::crypto::symmetric::Keys;
use crate::fields::{FieldDef, FieldSet, FieldType};
use crate::http::input::{check, Check, Input};
use crate::rate_limit::Rule;
use crate::session::hooks::{Decision, Hooks, SignIn};
use crate::store::schema::Table;
use axum::Extension;
use std::sync::Arc;

/// The e-mail carrying a sign-in code (context: `otp`, `user_name`).
pub const TWO_FACTOR_OTP: &str = "two-factor-otp";

/// This capability's `[two_factor]` section.
pub(crate) fn settings(auth: &Auth) -> &config::TwoFactorConfig {
    auth.config.section()
}

/// The keys of `symmetricEncrypt` (secret rotation included).
pub(crate) fn keys(auth: &Auth) -> Keys {
    Keys::from_config(&auth.config)
}

/// The two-factor capability.
pub struct TwoFactor {
    passwordless: bool,
    sms: sms::Sender,
}

impl TwoFactor {
    pub fn new(cfg: &config::TwoFactorConfig) -> Self {
        let sms = sms::Sender(cfg.otp.webhook_url.as_deref().map(|u| Arc::new(sms::Webhook::new(u)) as Arc<dyn sms::SmsSender>));
        Self { passwordless: cfg.allow_passwordless, sms }
    }
    /// Sends SMS codes through `sender` (an embedder's provider) rather than `otp.webhook_url`.
    /// Register the capability with `AuthBuilder::capability` and leave `two_factor.enabled` off
    /// (the section is read either way).
    pub fn with_sms(mut self, sender: Arc<dyn sms::SmsSender>) -> Self {
        self.sms = sms::Sender(Some(sender));
        self
    }
    /// The routes that take the password (`P`, `E` for enable): optional with `allow_passwordless`.
    fn password_routes<P: Input, E: Input>(&self) -> Api {
        use crate::app::openapi::wire::*;
        let op = |s: &'static str| Op::new(s).signed_in();
        Api::new("Two-factor")
            .post(
                "/two-factor/enable",
                manage::enable,
                op("Starts enabling two-factor: the TOTP URI and backup codes")
                    .body::<E>()
                    .json(object(&[], &[("totpURI", string()), ("backupCodes", array(string()))])),
            )
            .post("/two-factor/disable", manage::disable, op("Disables two-factor").body::<P>().json(status()))
            .post(
                "/two-factor/get-totp-uri",
                manage::get_totp_uri,
                op("The TOTP URI").body::<P>().json(object(&[("totpURI", string())], &[])),
            )
            .post(
                "/two-factor/generate-backup-codes",
                manage::generate_backup_codes,
                op("New backup codes").body::<P>().json(object(&[("status", boolean()), ("backupCodes", array(string()))], &[])),
            )
    }
}

#[async_trait::async_trait]
impl Capability for TwoFactor {
    fn id(&self) -> &'static str {
        "two-factor"
    }
    fn sections(&self) -> Vec<SectionSpec> {
        vec![SectionSpec::of::<config::TwoFactorConfig>()]
    }
    fn api(&self) -> Api {
        use crate::app::openapi::wire::*;
        // A verifier's answer: the user, and the new session's token unless `disableSession`.
        let verified = || object(&[("user", user())], &[("token", string())]);
        let sms = self.sms.clone();
        let api = if self.passwordless {
            self.password_routes::<manage::PasswordBody, manage::EnableBody>()
        } else {
            self.password_routes::<manage::StrictPasswordBody, manage::StrictEnableBody>()
        };
        api.post(
            "/two-factor/verify-totp",
            verify::verify_totp,
            Op::new("Completes a sign-in (or enabling) with a TOTP code").body::<verify::CodeBody>().json(verified()),
        )
        .post(
            "/two-factor/verify-backup-code",
            verify::verify_backup_code,
            Op::new("Completes a sign-in with a backup code").body::<verify::BackupBody>().json(verified()),
        )
        .post("/two-factor/send-otp", verify::send_otp, Op::new("Sends a one-time code").body::<verify::SendBody>().json(status()))
        .post(
            "/two-factor/verify-otp",
            verify::verify_otp,
            Op::new("Completes a sign-in with a one-time code").body::<verify::CodeBody>().json(verified()),
        )
        .map_router(|r| r.layer(Extension(sms)))
    }
    fn inputs(&self) -> Vec<(&'static str, Check)> {
        let (password, enable) = if self.passwordless {
            (check::<manage::PasswordBody>(), check::<manage::EnableBody>())
        } else {
            (check::<manage::StrictPasswordBody>(), check::<manage::StrictEnableBody>())
        };
        vec![
            ("/two-factor/enable", enable),
            ("/two-factor/disable", password),
            ("/two-factor/get-totp-uri", password),
            ("/two-factor/generate-backup-codes", password),
            ("/two-factor/verify-totp", check::<verify::CodeBody>()),
            ("/two-factor/verify-backup-code", check::<verify::BackupBody>()),
            ("/two-factor/send-otp", check::<verify::SendBody>()),
            ("/two-factor/verify-otp", check::<verify::CodeBody>()),
        ]
    }
    fn schema(&self) -> Vec<Table> {
        vec![row::table()]
    }
    fn user_fields(&self) -> FieldSet {
        let mut f = FieldSet::new();
        f.add("twoFactorEnabled", FieldDef::new(FieldType::Boolean).default_value(false.into()).no_input());
        f
    }
    fn cookies(&self) -> &'static [&'static str] {
        &[challenge::TWO_FACTOR_COOKIE, challenge::TRUST_DEVICE_COOKIE]
    }
    fn rate_limit_rules(&self) -> Vec<(String, Option<Rule>)> {
        vec![("/two-factor/*".into(), Some(Rule { window_s: 10, max: 3 }))]
    }
    fn mail_messages(&self) -> Vec<crate::mail::templates::Message> {
        vec![crate::mail::templates::Message {
            name: TWO_FACTOR_OTP,
            subject: include_str!("mail/two-factor-otp.subject"),
            text: include_str!("mail/two-factor-otp.txt"),
            html: include_str!("mail/two-factor-otp.html"),
            example: serde_json::json!({ "otp": "123456", "user_name": "Ada" }),
        }]
    }
    fn hooks(&self) -> Hooks {
        Hooks { before_session: true, ..Hooks::default() }
    }
    async fn before_session(&self, auth: &Auth, s: &SignIn<'_>) -> Decision {
        challenge::before_session(auth, s).await
    }
}

/// `TWO_FACTOR_ERROR_CODES`.
pub mod errors {
    use crate::error::ApiError;
    use axum::http::StatusCode;

    crate::error_codes! {
        OTP_NOT_ENABLED = BAD_REQUEST, "OTP not enabled";
        OTP_NOT_CONFIGURED = BAD_REQUEST, "OTP is not available";
        OTP_HAS_EXPIRED = BAD_REQUEST, "OTP has expired";
        TOTP_NOT_ENABLED = BAD_REQUEST, "TOTP not enabled";
        TOTP_ALREADY_ENABLED = BAD_REQUEST, "TOTP is already enabled";
        TOTP_NOT_CONFIGURED = BAD_REQUEST, "TOTP is not available";
        TWO_FACTOR_NOT_ENABLED = BAD_REQUEST, "Two factor isn't enabled";
        BACKUP_CODES_NOT_ENABLED = BAD_REQUEST, "Backup codes aren't enabled";
        INVALID_BACKUP_CODE = UNAUTHORIZED, "Invalid backup code";
        INVALID_CODE = UNAUTHORIZED, "Invalid code";
        TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE = BAD_REQUEST, "Too many attempts. Please request a new code.";
        ACCOUNT_TEMPORARILY_LOCKED = TOO_MANY_REQUESTS, "Too many failed verification attempts. Your account is temporarily locked. Please try again later.";
        INVALID_TWO_FACTOR_COOKIE = UNAUTHORIZED, "Invalid two factor cookie";
        TWO_FACTOR_REQUIRED_FOR_ROLE = BAD_REQUEST, "Two-factor authentication is required for your role";
    }

    /// The TOTP endpoints' own wording when TOTP is off (not the catalogue's message).
    pub fn totp_not_configured() -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "TOTP_NOT_CONFIGURED", "totp isn't configured")
    }
    /// `send-otp`'s own wording when no sender is configured.
    pub fn otp_not_configured() -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "OTP_NOT_CONFIGURED", "otp isn't configured")
    }
}
