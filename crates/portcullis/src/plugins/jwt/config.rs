//! `[jwt]`: Better Auth's `jwt()` plugin options, in seconds and snake_case.

use super::keys::Alg;
use crate::config::{parse_bool, ConfigError, Section};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtConfig {
    /// Serve `/jwks` and `/token` and add `set-auth-jwt` to get-session. Off by default: Better
    /// Auth's jwt plugin is opt-in, and turning it on creates the `jwks` table.
    pub enabled: bool,
    /// Algorithm of generated keys (`jwks.keyPairConfig.alg`): `EdDSA` (Ed25519), `ES256`, `RS256`.
    pub algorithm: Alg,
    /// `iss` claim; defaults to the base URL's origin.
    pub issuer: Option<String>,
    /// `aud` claim; defaults to the base URL's origin.
    pub audience: Option<String>,
    /// Seconds a token is valid (`jwt.expirationTime`, Better Auth: "15m").
    pub expiration_time: u64,
    /// Seconds after which a signing key expires and a new one is made (`jwks.rotationInterval`).
    /// Unset: keys never expire.
    pub rotation_interval: Option<u64>,
    /// Seconds an expired key stays in `/jwks`, so tokens it signed still verify (`jwks.gracePeriod`,
    /// Better Auth: 30 days).
    pub grace_period: u64,
    /// Store private keys as plain JWK JSON (`jwks.disablePrivateKeyEncryption`).
    pub disable_private_key_encryption: bool,
    /// Do not add `set-auth-jwt` to get-session answers (`disableSettingJwtHeader`).
    pub disable_setting_jwt_header: bool,
    /// Path of the key set under the base path (`jwks.jwksPath`).
    pub jwks_path: String,
    /// Seconds an instance trusts its cached signing key before re-reading the `jwks` table, so a
    /// key made by another instance (rotation) is picked up. Portcullis-only; 0 re-reads every time.
    pub key_cache_seconds: u64,
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            algorithm: Alg::EdDSA,
            issuer: None,
            audience: None,
            expiration_time: 15 * 60,
            rotation_interval: None,
            grace_period: 30 * 86_400,
            disable_private_key_encryption: false,
            disable_setting_jwt_header: false,
            jwks_path: "/jwks".into(),
            key_cache_seconds: 60,
        }
    }
}

impl Section for JwtConfig {
    const NAME: &'static str = "jwt";
    fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("PORTCULLIS_JWT") {
            self.enabled = parse_bool("PORTCULLIS_JWT", &v)?;
        }
        Ok(())
    }
    fn check(&self) -> Result<Vec<String>, ConfigError> {
        self.validate().map_err(ConfigError::Invalid)?;
        Ok(Vec::new())
    }
}

impl JwtConfig {
    /// Better Auth's checks on `jwksPath`, plus a non-zero lifetime.
    pub fn validate(&self) -> Result<(), String> {
        let p = &self.jwks_path;
        if p.is_empty() || !p.starts_with('/') || p.contains("..") {
            return Err("jwt.jwks_path must start with '/' and not contain '..'".into());
        }
        if self.expiration_time == 0 {
            return Err("jwt.expiration_time must be at least 1 second".into());
        }
        if self.rotation_interval == Some(0) {
            return Err("jwt.rotation_interval must be at least 1 second".into());
        }
        Ok(())
    }
}
