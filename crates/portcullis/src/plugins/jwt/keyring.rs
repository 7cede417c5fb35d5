//! The `jwks` table and the in-memory signing key.
//!
//! Owns: choosing the signing key exactly as Better Auth does (newest live key of the configured
//! algorithm, else the newest live key, else a new one), creating keys on first use and on
//! rotation, encrypting private keys with `symmetricEncrypt`, and the published key set (every key
//! that has no expiry or expired less than `grace_period` ago).
//!
//! The signing key is cached per instance so get-session never reads the table; the cache is
//! dropped after `key_cache_seconds` or as soon as the key expires, so a key another instance made
//! is picked up within that bound. `/jwks` always reads the table: it is not a hot path, and a
//! stale key set is the one thing a relying party cannot recover from.
//!
//! Must never: log key material, sign with an expired key, or publish a private member.

use super::config::JwtConfig;
use super::keys::{self, Alg, JwkJson, Signer};
use crate::app::Auth;
use crate::crypto::symmetric::Keys;
use crate::error::{ApiError, ApiResult};
use crate::store::adapter::Query;
use chrono::{DateTime, Duration, Utc};
use ring::rand::SystemRandom;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

/// A row of the jwt capability's `jwks` table (Better Auth's jwt plugin, spec §5.1). `id` is the
/// JWT `kid`; `private_key` is stored as Better Auth writes it (encrypted unless disabled).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Jwk {
    pub id: String,
    /// JSON of the public JWK.
    pub public_key: String,
    pub private_key: String,
    pub created_at: DateTime<Utc>,
    /// Set when key rotation is configured; the key signs nothing after it.
    pub expires_at: Option<DateTime<Utc>>,
    /// `NULL` in rows written before Better Auth 1.7: the configured algorithm applies.
    pub alg: Option<String>,
    pub crv: Option<String>,
}

impl std::fmt::Debug for Jwk {
    // Never print key material, even encrypted.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwk").field("id", &self.id).field("alg", &self.alg).field("expires_at", &self.expires_at).finish_non_exhaustive()
    }
}

/// The `jwks` rows, oldest first.
async fn all_rows(auth: &Auth) -> ApiResult<Vec<Jwk>> {
    let q = Query { sort_by: Some(("createdAt".into(), false)), ..Query::default() };
    Ok(auth.adapter()?.find_many_as("jwks", &q).await?)
}

/// The key new tokens are signed with.
pub struct SigningKey {
    pub kid: String,
    pub alg: Alg,
    pub signer: Signer,
    expires_at: Option<DateTime<Utc>>,
    loaded: Instant,
}

pub struct KeyRing {
    current: RwLock<Option<Arc<SigningKey>>>,
    /// One reload (and at most one key creation) at a time per instance.
    reload: tokio::sync::Mutex<()>,
    pub rng: SystemRandom,
    secrets: OnceLock<Keys>,
}

/// The algorithm a row stands for: its `alg` column, or the configured one for rows written
/// before the column existed (Better Auth's rule).
fn row_alg(row: &Jwk, cfg: &JwtConfig) -> Option<Alg> {
    match &row.alg {
        Some(a) => Alg::parse(a),
        None => Some(cfg.algorithm),
    }
}

/// Seconds from configuration as a `Duration`, capped far beyond any sensible setting so date
/// arithmetic cannot overflow.
pub fn secs(s: u64) -> Duration {
    Duration::seconds(i64::try_from(s.min(1 << 40)).unwrap_or(1 << 40))
}

fn live(row: &Jwk, now: DateTime<Utc>) -> bool {
    row.expires_at.is_none_or(|e| e > now)
}

/// Better Auth's `resolveSigningKey` without overrides: the newest live key of the configured
/// algorithm, else the newest live key of any algorithm.
pub fn pick_signing(rows: &[Jwk], cfg: &JwtConfig, now: DateTime<Utc>) -> Option<usize> {
    let newest = |f: &dyn Fn(&Jwk) -> bool| {
        rows.iter().enumerate().filter(|(_, r)| live(r, now) && f(r)).max_by_key(|(_, r)| r.created_at).map(|(i, _)| i)
    };
    newest(&|r| row_alg(r, cfg) == Some(cfg.algorithm)).or_else(|| newest(&|_| true))
}

/// Whether `/jwks` still publishes a row: no expiry, or expired less than `grace_period` ago.
pub fn published(row: &Jwk, cfg: &JwtConfig, now: DateTime<Utc>) -> bool {
    row.expires_at.is_none_or(|e| e + secs(cfg.grace_period) > now)
}

impl Default for KeyRing {
    fn default() -> Self {
        Self { current: RwLock::new(None), reload: tokio::sync::Mutex::new(()), rng: SystemRandom::new(), secrets: OnceLock::new() }
    }
}

impl KeyRing {
    fn secrets(&self, auth: &Auth) -> &Keys {
        self.secrets.get_or_init(|| Keys::from_config(&auth.config))
    }

    fn cached(&self, auth: &Auth) -> Option<Arc<SigningKey>> {
        let cur = self.current.read().ok()?.clone()?;
        let ttl = std::time::Duration::from_secs(super::settings(auth).key_cache_seconds);
        let fresh = cur.loaded.elapsed() < ttl && cur.expires_at.is_none_or(|e| e > auth.now());
        fresh.then_some(cur)
    }

    /// The key to sign with now; reads the table only when the cached key is stale or expired.
    pub async fn signing_key(&self, auth: &Auth) -> ApiResult<Arc<SigningKey>> {
        if let Some(k) = self.cached(auth) {
            return Ok(k);
        }
        let _guard = self.reload.lock().await;
        // Another request may have reloaded while this one waited.
        if let Some(k) = self.cached(auth) {
            return Ok(k);
        }
        let cfg = super::settings(auth);
        let now = auth.now();
        let rows = all_rows(auth).await?;
        let row = match pick_signing(&rows, cfg, now) {
            Some(i) => rows[i].clone(),
            None => self.create(auth).await?,
        };
        let alg = row_alg(&row, cfg).ok_or_else(|| ApiError::internal(format!("jwks key {} has an unknown alg", row.id)))?;
        let private = self.private_jwk(auth, &row)?;
        let signer = Signer::from_jwk(alg, &private).map_err(|e| ApiError::internal(format!("jwks key {}: {e}", row.id)))?;
        let key = Arc::new(SigningKey { kid: row.id, alg, signer, expires_at: row.expires_at, loaded: Instant::now() });
        if let Ok(mut cur) = self.current.write() {
            *cur = Some(key.clone());
        }
        Ok(key)
    }

    /// Decrypts (unless encryption is off) and parses a row's private JWK.
    fn private_jwk(&self, auth: &Auth, row: &Jwk) -> ApiResult<JwkJson> {
        let plain = if super::settings(auth).disable_private_key_encryption {
            row.private_key.clone()
        } else {
            // Better Auth stores `JSON.stringify(symmetricEncrypt(...))`: a quoted JSON string.
            let sealed: String = serde_json::from_str(&row.private_key).unwrap_or_else(|_| row.private_key.clone());
            self.secrets(auth).decrypt(&sealed).ok_or_else(|| {
                ApiError::internal(format!(
                    "cannot decrypt the private key of jwks key {}: the secret differs from the one that encrypted it \
                     (restore it, delete the jwks rows, or set jwt.disable_private_key_encryption for plain keys)",
                    row.id
                ))
            })?
        };
        serde_json::from_str(&plain).map_err(|_| ApiError::internal(format!("jwks key {} has a malformed private key", row.id)))
    }

    /// Generates, stores and returns a new key of the configured algorithm.
    pub async fn create(&self, auth: &Auth) -> ApiResult<Jwk> {
        let cfg = super::settings(auth);
        let alg = cfg.algorithm;
        // RSA generation is CPU-heavy; keep it off the async workers.
        let generated =
            tokio::task::spawn_blocking(move || keys::generate(alg)).await.map_err(ApiError::internal)?.map_err(ApiError::internal)?;
        let private_json = serde_json::to_string(&generated.private).map_err(ApiError::internal)?;
        let private_key = if cfg.disable_private_key_encryption {
            private_json
        } else {
            serde_json::to_string(&self.secrets(auth).encrypt(&private_json)).map_err(ApiError::internal)?
        };
        let now = auth.now();
        let expires_at = cfg.rotation_interval.map(|s| now + secs(s));
        let row = Jwk {
            id: auth.new_id(),
            public_key: serde_json::to_string(&generated.public).map_err(ApiError::internal)?,
            private_key,
            created_at: now,
            expires_at,
            alg: Some(alg.as_str().to_string()),
            crv: alg.crv().map(str::to_string),
        };
        let row = auth.adapter()?.create_as("jwks", &row).await?;
        tracing::info!(kid = %row.id, alg = alg.as_str(), "created a JWT signing key");
        Ok(row)
    }

    /// The published rows (creating the first key when the table is empty, as Better Auth does).
    pub async fn published(&self, auth: &Auth) -> ApiResult<Vec<Jwk>> {
        let mut rows = all_rows(auth).await?;
        if rows.is_empty() {
            let _guard = self.reload.lock().await;
            rows = all_rows(auth).await?;
            if rows.is_empty() {
                rows.push(self.create(auth).await?);
            }
        }
        let now = auth.now();
        rows.retain(|r| published(r, super::settings(auth), now));
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, created: i64, expires: Option<i64>, alg: Option<&str>) -> Jwk {
        let t = |s: i64| DateTime::from_timestamp(s, 0).unwrap();
        Jwk {
            id: id.into(),
            public_key: String::new(),
            private_key: String::new(),
            created_at: t(created),
            expires_at: expires.map(t),
            alg: alg.map(str::to_string),
            crv: None,
        }
    }

    #[test]
    fn picks_newest_live_key_of_configured_alg() {
        let cfg = JwtConfig::default();
        let now = DateTime::from_timestamp(1000, 0).unwrap();
        let rows = vec![
            row("old", 10, None, Some("EdDSA")),
            row("newer", 20, None, None),
            row("expired", 30, Some(999), Some("EdDSA")),
            row("es", 40, None, Some("ES256")),
        ];
        assert_eq!(pick_signing(&rows, &cfg, now), Some(1));
        // No key of the configured algorithm: the newest live key of any.
        let es = JwtConfig { algorithm: Alg::RS256, ..Default::default() };
        assert_eq!(pick_signing(&rows[2..], &es, now), Some(1));
        assert_eq!(pick_signing(&rows[2..3], &cfg, now), None);
    }

    #[test]
    fn grace_period_bounds_publication() {
        let cfg = JwtConfig { grace_period: 100, ..Default::default() };
        let now = DateTime::from_timestamp(1000, 0).unwrap();
        assert!(published(&row("a", 0, None, None), &cfg, now));
        assert!(published(&row("a", 0, Some(950), None), &cfg, now));
        assert!(!published(&row("a", 0, Some(900), None), &cfg, now));
    }
}
