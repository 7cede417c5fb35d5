//! JWT and JWKS, wire-compatible with Better Auth's `jwt()` plugin (spec plugins §5).
//!
//! Owns: `GET /jwks` (the public key set, path configurable), `GET /token` (`{"token": JWT}` for the
//! current session), the `set-auth-jwt` header on get-session answers that carry a session, the
//! `jwks` table and key rotation ([`keyring`]), key generation and signing ([`keys`]), and
//! [`verify`] for embedding applications (Better Auth's server-only `verifyJWT`).
//!
//! Tokens carry the session's user object (every field get-session shows), `iat`, `sub` = user id,
//! `exp` = `iat + expiration_time`, and `iss`/`aud` = the configured values or the base URL's
//! origin. The header is `{alg, kid}` with no `typ`, as jose writes it.
//!
//! A JWT cannot be revoked: it stays valid until `exp`. So none is minted from a session the store
//! no longer holds: `/token` reads the session from the store, and a get-session answered from the
//! cookie cache gets `set-auth-jwt` only after the store confirms the session (unless
//! `cookie_cache.revocation_check` already confirmed it in secondary storage). A JWT minted before
//! a revocation lives on for at most `expiration_time`.
//!
//! Must never: read the `jwks` table on every get-session (the signing key is cached, see
//! [`keyring`]), fail a get-session because a JWT could not be made (the header is then left out
//! and the cause logged), put key material or tokens in logs, or publish a key whose grace period
//! has ended.

pub mod config;
pub mod keyring;
pub mod keys;

use crate::app::openapi::{Api, Op};
use crate::app::{Auth, Capability};
use crate::config::SectionSpec;
use crate::error::{codes, ApiError, ApiResult};
use crate::http::reply::Reply;
use crate::session::hooks::{Hooks, SessionAnswer};
use crate::session::{self, CacheHit, SensitiveSession};
use crate::store::schema::{ColType, Column, Table};
use axum::extract::State;
use axum::http::HeaderValue;
use axum::Extension;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use keyring::KeyRing;
use keys::{Alg, JwkJson};
use serde::Serialize;
use serde_json::{Map, Value};
use std::sync::Arc;

/// This capability's `[jwt]` section.
pub(crate) fn settings(auth: &Auth) -> &config::JwtConfig {
    auth.config.section()
}

/// The jwt capability.
pub struct Jwt {
    ring: Arc<KeyRing>,
    jwks_path: String,
    /// `disable_setting_jwt_header`: no `set-auth-jwt` on get-session.
    disable_header: bool,
}

impl Jwt {
    pub fn new(cfg: &config::JwtConfig) -> Self {
        Self { ring: Arc::new(KeyRing::default()), jwks_path: cfg.jwks_path.clone(), disable_header: cfg.disable_setting_jwt_header }
    }
}

#[async_trait::async_trait]
impl Capability for Jwt {
    fn id(&self) -> &'static str {
        "jwt"
    }
    fn sections(&self) -> Vec<SectionSpec> {
        vec![SectionSpec::of::<config::JwtConfig>()]
    }
    fn api(&self) -> Api {
        use crate::app::openapi::wire::*;
        let ring = self.ring.clone();
        Api::new("JWT")
            .get(&self.jwks_path, jwks, Op::new("The JSON Web Key Set of the signing keys").json(object(&[("keys", array(any()))], &[])))
            .get("/token", token, Op::new("A JWT for the current session").signed_in().json(object(&[("token", string())], &[])))
            .map_router(|r| r.layer(Extension(ring)))
    }
    fn schema(&self) -> Vec<Table> {
        use ColType::*;
        vec![Table {
            name: "jwks",
            columns: vec![
                Column::new("id", Text).pk(),
                Column::new("publicKey", Text),
                Column::new("privateKey", Text),
                Column::new("createdAt", Time),
                Column::new("expiresAt", Time).null(),
                Column::new("alg", Text).null(),
                Column::new("crv", Text).null(),
            ],
            indexes: vec![],
            search: vec![],
        }]
    }
    fn hooks(&self) -> Hooks {
        Hooks { session_answer: !self.disable_header, ..Hooks::default() }
    }
    /// `set-auth-jwt` on get-session: the answer's user, signed.
    async fn on_session_answer(&self, auth: &Auth, answer: &mut SessionAnswer<'_>) {
        let Ok(Value::Object(mut user)) = serde_json::to_value(answer.user) else { return };
        if let Some(hit) = answer.cache_hit {
            let Some(confirmed) = confirm_cached(auth, hit, user).await else { return };
            user = confirmed;
        }
        match sign_user(auth, &self.ring, user).await {
            Ok(jwt) => {
                if let Ok(v) = HeaderValue::from_str(&jwt) {
                    answer.headers.insert("set-auth-jwt", v);
                    super::headers::expose(&mut answer.headers, "set-auth-jwt");
                }
            }
            Err(e) => tracing::warn!(error = %e, "set-auth-jwt left out: no JWT could be signed"),
        }
    }
}

/// What `set-auth-jwt` may sign for a get-session answered from the cookie cache: the user as the
/// store holds it, or nothing when the session is gone (revoked: the JWT would outlive the
/// revocation) or cannot be read. A hit secondary storage confirmed (`cookie_cache.revocation_check`
/// with secondary storage) is signed as is; the setting alone confirms nothing.
async fn confirm_cached(auth: &Auth, hit: &CacheHit, cached: Map<String, Value>) -> Option<Map<String, Value>> {
    if hit.confirmed {
        return Some(cached);
    }
    match session::find(auth, &hit.token).await {
        Ok(Some((_, user))) => match serde_json::to_value(&user) {
            Ok(Value::Object(m)) => Some(m),
            _ => None,
        },
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(error = %e, "set-auth-jwt left out: the cached session could not be confirmed");
            None
        }
    }
}

/// `GET /jwks`: `{"keys":[{alg, crv, ...public JWK, kid}]}` as Better Auth shapes it.
async fn jwks(State(auth): State<Auth>, Extension(ring): Extension<Arc<KeyRing>>) -> ApiResult<Reply> {
    #[derive(Serialize)]
    struct Key<'a> {
        alg: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        crv: Option<String>,
        #[serde(flatten)]
        jwk: JwkJson,
        kid: &'a str,
    }
    #[derive(Serialize)]
    struct Set<'a> {
        keys: Vec<Key<'a>>,
    }
    let rows = ring.published(&auth).await?;
    let default_alg = settings(&auth).algorithm.as_str();
    let mut keys = Vec::with_capacity(rows.len());
    for row in &rows {
        let Ok(stored) = serde_json::from_str::<JwkJson>(&row.public_key) else {
            tracing::warn!(kid = %row.id, "jwks row has a malformed public key; not published");
            continue;
        };
        // Only public members, whatever the row holds.
        let mut jwk = stored.public();
        let crv = jwk.crv.take().or_else(|| row.crv.clone());
        keys.push(Key { alg: row.alg.as_deref().unwrap_or(default_alg), crv, jwk, kid: &row.id });
    }
    Ok(Reply::json(&Set { keys }))
}

/// `GET /token`: a JWT for the current session, read from the store (never from the cookie cache:
/// the JWT would outlive a revocation).
async fn token(
    State(auth): State<Auth>,
    Extension(ring): Extension<Arc<KeyRing>>,
    SensitiveSession(cur): SensitiveSession,
) -> ApiResult<Reply> {
    let user = match serde_json::to_value(&cur.user) {
        Ok(Value::Object(m)) => m,
        _ => return Err(codes::UNAUTHORIZED),
    };
    let jwt = sign_user(&auth, &ring, user).await?;
    Ok(Reply::json(&serde_json::json!({ "token": jwt })))
}

/// `iss`/`aud` default: the base URL's origin.
fn issuer(auth: &Auth) -> String {
    settings(auth).issuer.clone().unwrap_or_else(|| auth.config.origin())
}
fn audience(auth: &Auth) -> String {
    settings(auth).audience.clone().unwrap_or_else(|| auth.config.origin())
}

/// Signs Better Auth's default payload for `user`: the user's fields, then `iat`, `sub`, `exp`,
/// `iss`, `aud` (registered claims win over same-named user fields, as in jose).
pub async fn sign_user(auth: &Auth, ring: &KeyRing, mut claims: Map<String, Value>) -> ApiResult<String> {
    let iat = auth.now().timestamp();
    let sub = claims.get("id").cloned().unwrap_or(Value::Null);
    let lifetime = i64::try_from(settings(auth).expiration_time).unwrap_or(i64::MAX / 2);
    claims.insert("iat".into(), iat.into());
    claims.insert("sub".into(), sub);
    claims.insert("exp".into(), iat.saturating_add(lifetime).into());
    claims.insert("iss".into(), issuer(auth).into());
    claims.insert("aud".into(), audience(auth).into());
    sign_claims(auth, ring, &claims).await
}

/// Signs arbitrary claims with the current key (Better Auth's server-only `signJWT`).
pub async fn sign_claims(auth: &Auth, ring: &KeyRing, claims: &Map<String, Value>) -> ApiResult<String> {
    let key = ring.signing_key(auth).await?;
    let header = serde_json::json!({ "alg": key.alg.as_str(), "kid": key.kid });
    let mut out = String::with_capacity(512);
    B64.encode_string(serde_json::to_vec(&header).map_err(ApiError::internal)?, &mut out);
    out.push('.');
    B64.encode_string(serde_json::to_vec(claims).map_err(ApiError::internal)?, &mut out);
    let sig = key.signer.sign(&ring.rng, out.as_bytes()).ok_or_else(|| ApiError::internal("JWT signing failed"))?;
    out.push('.');
    B64.encode_string(sig, &mut out);
    Ok(out)
}

/// Verifies a JWT issued here (Better Auth's server-only `verifyJWT`): the key is found by `kid`
/// among the published keys (so a key past its grace period verifies nothing), the algorithm must
/// be that key's, `iss`/`aud` must match the configuration, and `sub` must be present. Reads the
/// `jwks` table; meant for embedding applications, not for hot paths.
pub async fn verify(auth: &Auth, ring: &KeyRing, token: &str) -> Option<Map<String, Value>> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    let kid = header.kid?;
    let rows = ring.published(auth).await.ok()?;
    let row = rows.iter().find(|r| crate::crypto::ct_eq(r.id.as_bytes(), kid.as_bytes()))?;
    let alg = match &row.alg {
        Some(a) => Alg::parse(a)?,
        None => settings(auth).algorithm,
    };
    let jalg = match alg {
        Alg::EdDSA => jsonwebtoken::Algorithm::EdDSA,
        Alg::ES256 => jsonwebtoken::Algorithm::ES256,
        Alg::RS256 => jsonwebtoken::Algorithm::RS256,
    };
    let public = serde_json::from_str::<JwkJson>(&row.public_key).ok()?.public();
    if !public.fits(alg) {
        return None;
    }
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(serde_json::to_value(&public).ok()?).ok()?;
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).ok()?;
    let mut v = jsonwebtoken::Validation::new(jalg);
    v.set_issuer(&[issuer(auth)]);
    v.set_audience(&[audience(auth)]);
    v.set_required_spec_claims(&["exp", "sub", "aud", "iss"]);
    v.leeway = 0;
    jsonwebtoken::decode::<Map<String, Value>>(token, &key, &v).ok().map(|d| d.claims)
}

impl Jwt {
    /// [`verify`] with this capability's key ring.
    pub async fn verify(&self, auth: &Auth, token: &str) -> Option<Map<String, Value>> {
        verify(auth, &self.ring, token).await
    }
}
