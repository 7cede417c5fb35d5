//! `[magic_link]`: Better Auth's `magicLink()` options, in seconds and snake_case.

use crate::config::{parse_bool, ConfigError, Section};
use crate::rate_limit::Rule;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MagicLinkConfig {
    /// Serve `/sign-in/magic-link` and `/magic-link/verify`. Off by default, as Better Auth's
    /// plugin is opt-in.
    pub enabled: bool,
    /// Seconds a link is valid (`expiresIn`, 300).
    pub expires_in: u64,
    /// Refuse links for addresses without an account (`disableSignUp`): following one redirects
    /// with `error=new_user_signup_disabled`. The link is still sent, so the answer never tells
    /// whether the address has an account.
    pub disable_sign_up: bool,
    /// How the token is kept in the verification table (`storeToken`): `plain` or `hashed`
    /// (base64url SHA-256).
    pub store_token: StoreToken,
    /// Requests per client and path on both routes (`rateLimit`, 5 per 60 s).
    pub rate_limit: Rule,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreToken {
    #[default]
    Plain,
    Hashed,
}

impl Default for MagicLinkConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            expires_in: 300,
            disable_sign_up: false,
            store_token: StoreToken::Plain,
            rate_limit: Rule { window_s: 60, max: 5 },
        }
    }
}

impl Section for MagicLinkConfig {
    const NAME: &'static str = "magic_link";
    fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("PORTCULLIS_MAGIC_LINK") {
            self.enabled = parse_bool("PORTCULLIS_MAGIC_LINK", &v)?;
        }
        Ok(())
    }
    fn check(&self) -> Result<Vec<String>, ConfigError> {
        if self.expires_in == 0 {
            return Err(ConfigError::Invalid("magic_link.expires_in must be at least 1 second".into()));
        }
        if self.rate_limit.window_s == 0 || self.rate_limit.max == 0 {
            return Err(ConfigError::Invalid("magic_link.rate_limit: window and max must be at least 1".into()));
        }
        Ok(Vec::new())
    }
}
