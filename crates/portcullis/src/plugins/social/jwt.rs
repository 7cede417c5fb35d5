//! ID tokens: signature (RS256/ES256 family, keys from the provider's JWKS), `iss`, `aud`, `exp`
//! and the flow's nonce; for tokens a client submits also their age (`iat`, 1 h) and, for
//! Microsoft, the tenant binding; and Apple's ES256 client-secret JWT.
//!
//! `alg: none`, HMAC algorithms and keys of the wrong type are refused. Tokens are never logged.

use super::config::ProviderKind;
use super::provider::{Endpoints, Provider};
use crate::crypto::ct_eq;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::Value;

/// What an ID token must satisfy beyond signature, `iss`, `aud` (the client id) and `exp`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Checks<'a> {
    /// The nonce the token must carry, when one is expected.
    pub nonce: Option<&'a str>,
    /// Also accept `hex(SHA-256(nonce))` (Apple's native SDKs send the hashed nonce).
    pub nonce_sha256: bool,
    /// Refuse tokens issued (`iat`) longer ago than this many seconds.
    pub max_age: Option<i64>,
    /// Accept the provider's extra `audience` values, not only the client id.
    pub extra_audiences: bool,
    /// Only RS256 (Better Auth's rule for Google, Apple and Microsoft client-submitted tokens).
    pub rs256_only: bool,
}

/// Clock skew allowed on `exp`, `nbf` and `iat` (Better Auth's, from openid-client).
const LEEWAY: u64 = 30;

/// Verifies an id_token obtained in a flow (bound to the flow's nonce) and returns its claims.
pub async fn verify_id_token(
    http: &reqwest::Client,
    p: &Provider,
    ep: &Endpoints,
    token: &str,
    nonce: Option<&str>,
) -> Result<Value, String> {
    verify(http, p, ep, token, &Checks { nonce, ..Default::default() }).await
}

/// Verifies an id_token a client submitted (`idToken` on `/sign-in/social`, `/link-social`), as
/// Better Auth's `verifyProviderIdToken` does: at most one hour old, and the nonce when given.
pub async fn verify_client_id_token(
    http: &reqwest::Client,
    p: &Provider,
    ep: &Endpoints,
    token: &str,
    nonce: Option<&str>,
) -> Result<Value, String> {
    let builtin = p.kind != ProviderKind::Oidc;
    let checks = Checks {
        nonce: nonce.filter(|n| !n.is_empty()),
        nonce_sha256: p.kind == ProviderKind::Apple,
        max_age: Some(3600),
        extra_audiences: true,
        rs256_only: builtin,
    };
    verify(http, p, ep, token, &checks).await
}

fn sha256_hex(s: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(s.as_bytes()))
}

async fn verify(http: &reqwest::Client, p: &Provider, ep: &Endpoints, token: &str, c: &Checks<'_>) -> Result<Value, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| format!("id_token header: {e}"))?;
    let alg = header.alg;
    let accepted = if c.rs256_only {
        alg == Algorithm::RS256
    } else {
        matches!(
            alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
                | Algorithm::ES256
                | Algorithm::ES384
        )
    };
    if !accepted {
        return Err(format!("id_token algorithm {alg:?} is not accepted"));
    }
    let jwks_url = ep.jwks.as_deref().ok_or("the provider has no JWKS")?;
    let mut set = p.jwks(http, jwks_url, false).await?;
    let pick = |set: &jsonwebtoken::jwk::JwkSet| match &header.kid {
        Some(kid) => set.find(kid).cloned(),
        None if set.keys.len() == 1 => set.keys.first().cloned(),
        None => None,
    };
    let jwk = match pick(&set) {
        Some(k) => k,
        None => {
            // Key rotation at the IdP: fetch again once.
            set = p.jwks(http, jwks_url, true).await?;
            pick(&set).ok_or("id_token signed with an unknown key")?
        }
    };
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| format!("JWK: {e}"))?;
    let mut v = Validation::new(alg);
    let mut audiences: Vec<&str> = vec![p.cfg.client_id.as_str()];
    if c.extra_audiences {
        audiences.extend(p.cfg.audience.iter().map(String::as_str).filter(|a| !a.is_empty()));
    }
    v.set_audience(&audiences);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v.leeway = LEEWAY;
    match (p.kind, &ep.issuer) {
        // Google documents both spellings.
        (ProviderKind::Google, Some(iss)) if iss == "https://accounts.google.com" => {
            v.set_issuer(&["https://accounts.google.com", "accounts.google.com"])
        }
        (_, Some(iss)) => v.set_issuer(&[iss]),
        // Microsoft multi-tenant: `iss` carries the user's tenant; bound to `tid` below.
        (_, None) => {}
    }
    let data = jsonwebtoken::decode::<Value>(token, &key, &v).map_err(|e| format!("id_token: {e}"))?;
    let claims = data.claims;
    if p.kind == ProviderKind::Microsoft && p.cfg.issuer.is_none() {
        microsoft_tenant_ok(p, &claims)?;
    }
    if let Some(max_age) = c.max_age {
        let iat = claims.get("iat").and_then(Value::as_i64).ok_or("id_token has no iat")?;
        let now = chrono::Utc::now().timestamp();
        if iat > now + LEEWAY as i64 || now - iat > max_age + LEEWAY as i64 {
            return Err("id_token is too old (iat)".into());
        }
    }
    if let Some(expected) = c.nonce {
        let got = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
        let ok = ct_eq(got.as_bytes(), expected.as_bytes()) || (c.nonce_sha256 && ct_eq(got.as_bytes(), sha256_hex(expected).as_bytes()));
        if !ok {
            return Err("id_token nonce does not match".into());
        }
    }
    Ok(claims)
}

/// The consumer ("personal account") tenant of Microsoft Entra ID.
const MICROSOFT_CONSUMER_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// Microsoft: `iss` must name the token's own tenant (`{authority}/{tid}/v2.0`), and the account
/// class must match a `organizations`/`consumers` restriction (Better Auth's `verifyClaims`).
fn microsoft_tenant_ok(p: &Provider, claims: &Value) -> Result<(), String> {
    let authority = p.cfg.authority.as_deref().unwrap_or("https://login.microsoftonline.com").trim_end_matches('/');
    let tid = claims.get("tid").and_then(Value::as_str).ok_or("id_token has no tid")?;
    if claims.get("iss").and_then(Value::as_str) != Some(format!("{authority}/{tid}/v2.0").as_str()) {
        return Err("id_token issuer does not match its tenant".into());
    }
    match p.cfg.tenant_id.as_deref().unwrap_or("common") {
        "organizations" if tid == MICROSOFT_CONSUMER_TENANT => Err("personal accounts are not allowed".into()),
        "consumers" if tid != MICROSOFT_CONSUMER_TENANT => Err("only personal accounts are allowed".into()),
        _ => Ok(()),
    }
}

/// The claims of a JWT without verifying it: only for tokens this server verified when it stored
/// them (account-info on a stored id_token).
pub fn unverified_claims(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Apple's client secret: an ES256 JWT signed with the developer key (`.p8`), valid 5 minutes.
pub fn apple_client_secret(client_id: &str, team_id: &str, key_id: &str, pem: &str) -> Result<String, String> {
    let key = EncodingKey::from_ec_pem(pem.as_bytes()).map_err(|_| "apple private_key is not an EC PEM key".to_string())?;
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key_id.to_string());
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({
        "iss": team_id, "iat": now, "exp": now + 300, "aud": "https://appleid.apple.com", "sub": client_id,
    });
    jsonwebtoken::encode(&header, &claims, &key).map_err(|e| format!("apple client secret: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unverified_claims_decodes_payload() {
        let t = format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(br#"{"sub":"a"}"#));
        assert_eq!(unverified_claims(&t).unwrap()["sub"], "a");
        assert!(unverified_claims("garbage").is_none());
    }

    #[test]
    fn microsoft_tenant_binding() {
        use crate::plugins::social::config::ProviderConfig;
        let p = |tenant: &str| {
            let cfg = ProviderConfig { client_id: "c".into(), tenant_id: Some(tenant.into()), ..Default::default() };
            Provider::new("microsoft", ProviderKind::Microsoft, cfg)
        };
        let claims = |tid: &str, iss: &str| serde_json::json!({"tid": tid, "iss": iss});
        let org = "11111111-2222-3333-4444-555555555555";
        let org_iss = format!("https://login.microsoftonline.com/{org}/v2.0");
        assert!(microsoft_tenant_ok(&p("common"), &claims(org, &org_iss)).is_ok());
        assert!(microsoft_tenant_ok(&p("common"), &claims(org, "https://login.microsoftonline.com/other/v2.0")).is_err());
        assert!(microsoft_tenant_ok(&p("consumers"), &claims(org, &org_iss)).is_err());
        let personal = format!("https://login.microsoftonline.com/{MICROSOFT_CONSUMER_TENANT}/v2.0");
        assert!(microsoft_tenant_ok(&p("organizations"), &claims(MICROSOFT_CONSUMER_TENANT, &personal)).is_err());
        assert!(microsoft_tenant_ok(&p("common"), &serde_json::json!({"iss": org_iss})).is_err(), "no tid");
    }

    #[test]
    fn apple_nonce_hash_is_hex_sha256() {
        assert_eq!(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn apple_secret_rejects_bad_key() {
        assert!(apple_client_secret("c", "t", "k", "not a key").is_err());
    }
}
