//! `[two_factor]`: Better Auth's `twoFactor()` options, in snake_case and seconds (minutes for the
//! e-mailed code's lifetime, as Better Auth's `otpOptions.period`).

use crate::config::{parse_bool, ConfigError, Section};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TwoFactorConfig {
    /// Serve `/two-factor/*`, add `twoFactorEnabled` to the user and the `twoFactor` table, and
    /// challenge sign-ins of enrolled users. Off by default (Better Auth's plugin is opt-in).
    pub enabled: bool,
    /// The TOTP issuer shown by authenticator apps (`issuer`); default `app_name`. Better Auth's
    /// quirk is kept: `get-totp-uri` ignores it and uses `totp.issuer`, else `app_name`.
    pub issuer: Option<String>,
    /// `skipVerificationOnEnable`: `enable` turns two-factor on at once, without a first code.
    pub skip_verification_on_enable: bool,
    /// `allowPasswordless`: users without a password may enable, disable and read their
    /// enrolment without one.
    pub allow_passwordless: bool,
    /// Seconds a sign-in challenge (the `two_factor` cookie) lives (`twoFactorCookieMaxAge`).
    pub two_factor_cookie_max_age: u64,
    /// Seconds a trusted device is remembered (`trustDeviceMaxAge`); renewed at every sign-in.
    pub trust_device_max_age: u64,
    /// Which sign-in methods are challenged (Portcullis option). Better Auth challenges the
    /// password sign-ins: `["email", "username", "phone-number"]` (the last two once those
    /// capabilities exist). Also `"social"` (provider callbacks: the browser is
    /// redirected to `two_factor_page`), `"id-token"` (`/sign-in/social` with an ID token), or
    /// the method name of another capability (`"magic-link"`, `"email-otp"`, ...).
    pub intercept: Vec<String>,
    /// Where a challenged social sign-in's browser goes (Better Auth client's `twoFactorPage`):
    /// an absolute URL or a path of the app. Needed when `intercept` has `"social"`.
    pub two_factor_page: Option<String>,
    /// Users holding any of these roles (the user field `role`, comma-separated) must pass
    /// two-factor at every sign-in, whatever the method and whatever `intercept` says (Portcullis
    /// option). Those without two-factor get no session: the sign-in answers the enrolment
    /// challenge (see [`super::challenge`]) and the browser of a provider callback goes to
    /// `setup_page`.
    pub required_for_roles: Vec<String>,
    /// Where a user who must enrol is sent (an absolute URL or a path of the app). Required with
    /// `required_for_roles`.
    pub setup_page: Option<String>,
    pub totp: TotpConfig,
    pub otp: OtpConfig,
    pub backup_codes: BackupCodesConfig,
    pub account_lockout: LockoutConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TotpConfig {
    /// 6 or 8.
    pub digits: u32,
    /// Seconds per code.
    pub period: u64,
    /// `totpOptions.disable`: no authenticator apps (codes by e-mail or SMS only).
    pub disable: bool,
    /// `totpOptions.issuer`: the issuer of `get-totp-uri` (see `issuer`).
    pub issuer: Option<String>,
}

/// How sign-in codes reach the user (Better Auth's `otpOptions.sendOTP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OtpSender {
    /// No sender: `send-otp` answers `OTP_NOT_CONFIGURED`, and `otp` is never offered.
    None,
    /// The `two-factor-otp` e-mail (its `otp` variable is the code).
    Email,
    /// An SMS through the embedder's [`super::sms::SmsSender`] or, standalone, `otp.webhook_url`.
    Sms,
}

/// How the sign-in code is kept in the verification row (`otpOptions.storeOTP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreOtp {
    Plain,
    Encrypted,
    Hashed,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtpConfig {
    pub sender: OtpSender,
    /// Minutes a code is valid (`otpOptions.period`, Better Auth: 3).
    pub period: u64,
    pub digits: u32,
    /// Wrong codes before a new one must be requested (`allowedAttempts`).
    pub allowed_attempts: u32,
    pub store_otp: StoreOtp,
    /// With `sender = "sms"` and no embedder sender: `POST {"to", "otp", "userId"}` here.
    pub webhook_url: Option<String>,
    /// The user field holding the phone number for SMS (`phoneNumber`).
    pub phone_field: String,
}

/// How backup codes are kept (`backupCodeOptions.storeBackupCodes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackupCodes {
    Encrypted,
    Plain,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackupCodesConfig {
    pub amount: usize,
    pub length: usize,
    pub store_backup_codes: StoreBackupCodes,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LockoutConfig {
    pub enabled: bool,
    pub max_failed_attempts: i64,
    pub duration_seconds: u64,
}

impl Default for TwoFactorConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            issuer: None,
            skip_verification_on_enable: false,
            allow_passwordless: false,
            two_factor_cookie_max_age: 600,
            trust_device_max_age: 2_592_000,
            intercept: ["email", "username", "phone-number"].map(String::from).to_vec(),
            two_factor_page: None,
            required_for_roles: Vec::new(),
            setup_page: None,
            totp: TotpConfig::default(),
            otp: OtpConfig::default(),
            backup_codes: BackupCodesConfig::default(),
            account_lockout: LockoutConfig::default(),
        }
    }
}

impl Default for TotpConfig {
    fn default() -> Self {
        Self { digits: 6, period: 30, disable: false, issuer: None }
    }
}

impl Default for OtpConfig {
    fn default() -> Self {
        Self {
            sender: OtpSender::None,
            period: 3,
            digits: 6,
            allowed_attempts: 5,
            store_otp: StoreOtp::Plain,
            webhook_url: None,
            phone_field: "phoneNumber".into(),
        }
    }
}

impl Default for BackupCodesConfig {
    fn default() -> Self {
        Self { amount: 10, length: 10, store_backup_codes: StoreBackupCodes::Encrypted }
    }
}

impl Default for LockoutConfig {
    fn default() -> Self {
        Self { enabled: true, max_failed_attempts: 10, duration_seconds: 900 }
    }
}

impl Section for TwoFactorConfig {
    const NAME: &'static str = "two_factor";
    fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("PORTCULLIS_TWO_FACTOR") {
            self.enabled = parse_bool("PORTCULLIS_TWO_FACTOR", &v)?;
        }
        Ok(())
    }
    fn check(&self) -> Result<Vec<String>, ConfigError> {
        self.validate().map_err(ConfigError::Invalid)?;
        Ok(Vec::new())
    }
}

impl TwoFactorConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !matches!(self.totp.digits, 6 | 8) {
            return Err("two_factor.totp.digits must be 6 or 8".into());
        }
        if self.totp.period == 0 || self.otp.period == 0 {
            return Err("two_factor.totp.period and two_factor.otp.period must be at least 1".into());
        }
        if !(4..=10).contains(&self.otp.digits) {
            return Err("two_factor.otp.digits must be between 4 and 10".into());
        }
        if self.backup_codes.amount == 0 || !(6..=64).contains(&self.backup_codes.length) {
            return Err("two_factor.backup_codes: amount must be at least 1 and length between 6 and 64".into());
        }
        if self.two_factor_cookie_max_age == 0 || self.trust_device_max_age == 0 {
            return Err("two_factor: cookie lifetimes must be at least 1 second".into());
        }
        if self.account_lockout.max_failed_attempts < 1 {
            return Err("two_factor.account_lockout.max_failed_attempts must be at least 1".into());
        }
        if self.intercept.iter().any(|m| m == "two-factor") {
            return Err("two_factor.intercept: \"two-factor\" is the sign-in that completes a challenge".into());
        }
        if self.intercept.iter().any(|m| m == "social") && self.two_factor_page.as_deref().is_none_or(str::is_empty) {
            return Err(
                "two_factor.intercept has \"social\": set two_factor.two_factor_page (where the browser answers the challenge)".into()
            );
        }
        if !self.required_for_roles.is_empty() {
            if self.setup_page.as_deref().is_none_or(str::is_empty) {
                return Err("two_factor.required_for_roles: set two_factor.setup_page (where a user who must enrol is sent)".into());
            }
            if self.two_factor_page.as_deref().is_none_or(str::is_empty) {
                return Err(
                    "two_factor.required_for_roles: set two_factor.two_factor_page (provider callbacks of those users are challenged)"
                        .into(),
                );
            }
        }
        if self.otp.sender == OtpSender::Sms && self.otp.webhook_url.as_deref().is_some_and(|u| url::Url::parse(u).is_err()) {
            return Err("two_factor.otp.webhook_url is not a URL".into());
        }
        Ok(())
    }

    /// Whether sign-in codes can be sent (Better Auth: `otpOptions.sendOTP` is set).
    pub fn otp_on(&self) -> bool {
        self.otp.sender != OtpSender::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TwoFactorConfig, String> {
        let c: TwoFactorConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        c.validate().map(|_| c)
    }

    #[test]
    fn defaults_are_better_auths() {
        let c = parse("").unwrap();
        assert!(!c.enabled && !c.otp_on());
        assert_eq!((c.totp.digits, c.totp.period, c.otp.period, c.otp.allowed_attempts), (6, 30, 3, 5));
        assert_eq!((c.two_factor_cookie_max_age, c.trust_device_max_age), (600, 2_592_000));
        assert_eq!((c.backup_codes.amount, c.backup_codes.length), (10, 10));
        assert_eq!((c.account_lockout.max_failed_attempts, c.account_lockout.duration_seconds), (10, 900));
        assert_eq!(c.intercept, ["email", "username", "phone-number"]);
    }

    #[test]
    fn impossible_settings_are_refused() {
        assert!(parse("enabeld = true").unwrap_err().contains("enabeld"));
        assert!(parse("[totp]\ndigits = 7").unwrap_err().contains("6 or 8"));
        assert!(parse("intercept = [\"social\"]").unwrap_err().contains("two_factor_page"));
        assert!(parse("intercept = [\"social\"]\ntwo_factor_page = \"/2fa\"").is_ok());
        assert!(parse("intercept = [\"two-factor\"]").is_err());
        assert!(parse("required_for_roles = [\"admin\"]").unwrap_err().contains("setup_page"));
        assert!(parse("required_for_roles = [\"admin\"]\nsetup_page = \"/setup-2fa\"\ntwo_factor_page = \"/2fa\"").is_ok());
        assert!(parse("[otp]\nsender = \"pigeon\"").is_err());
        assert!(parse("[otp]\nsender = \"sms\"\nwebhook_url = \"not a url\"").unwrap_err().contains("webhook_url"));
    }
}
