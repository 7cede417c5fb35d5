//! ID tokens: signature (RS256/ES256 family, keys from the provider's JWKS), `iss`, `aud`, `exp`
//! and the flow's nonce; and Apple's ES256 client-secret JWT.
//!
//! `alg: none`, HMAC algorithms and keys of the wrong type are refused. Tokens are never logged.

use super::provider::{Endpoints, Provider};
use crate::crypto::ct_eq;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::Value;

/// Verifies an id_token and returns its claims.
pub async fn verify_id_token(
    http: &reqwest::Client,
    p: &Provider,
    ep: &Endpoints,
    token: &str,
    nonce: Option<&str>,
) -> Result<Value, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| format!("id_token header: {e}"))?;
    let alg = header.alg;
    if !matches!(
        alg,
        Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512
            | Algorithm::ES256
            | Algorithm::ES384
    ) {
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
    v.set_audience(&[&p.cfg.client_id]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v.leeway = 30;
    match (p.kind, &ep.issuer) {
        // Google documents both spellings.
        (super::config::ProviderKind::Google, Some(iss)) if iss == "https://accounts.google.com" => {
            v.set_issuer(&["https://accounts.google.com", "accounts.google.com"])
        }
        (_, Some(iss)) => v.set_issuer(&[iss]),
        // Microsoft multi-tenant: `iss` carries the user's tenant; audience and signature still bind it.
        (_, None) => {}
    }
    let data = jsonwebtoken::decode::<Value>(token, &key, &v).map_err(|e| format!("id_token: {e}"))?;
    if let Some(expected) = nonce {
        let got = data.claims.get("nonce").and_then(Value::as_str).unwrap_or("");
        if !ct_eq(got.as_bytes(), expected.as_bytes()) {
            return Err("id_token nonce does not match the flow".into());
        }
    }
    Ok(data.claims)
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
    fn apple_secret_rejects_bad_key() {
        assert!(apple_client_secret("c", "t", "k", "not a key").is_err());
    }
}
