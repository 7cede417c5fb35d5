//! The e-mail verification token: an HS256 JWT signed with the secret, byte-compatible with
//! Better Auth's (header `{"alg":"HS256"}`), so links issued by either server verify on the other.

use crate::crypto::sign::hmac_sha256;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Claims {
    pub email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum TokenError {
    Invalid,
    Expired,
}

pub fn sign(secret: &str, claims: &Claims) -> String {
    let header = B64.encode(br#"{"alg":"HS256"}"#);
    let payload = B64.encode(serde_json::to_vec(claims).unwrap_or_default());
    let input = format!("{header}.{payload}");
    let sig = B64.encode(hmac_sha256(secret.as_bytes(), input.as_bytes()));
    format!("{input}.{sig}")
}

/// Verifies signature (any configured secret), algorithm and expiry.
pub fn verify(secrets: &[impl AsRef<str>], token: &str, now_s: i64) -> Result<Claims, TokenError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(TokenError::Invalid);
    };
    let header: serde_json::Value = B64.decode(h).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or(TokenError::Invalid)?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
        return Err(TokenError::Invalid);
    }
    let sig = B64.decode(s).map_err(|_| TokenError::Invalid)?;
    let input = &token[..h.len() + 1 + p.len()];
    if !secrets.iter().any(|k| crate::crypto::ct_eq(&hmac_sha256(k.as_ref().as_bytes(), input.as_bytes()), &sig)) {
        return Err(TokenError::Invalid);
    }
    let claims: Claims = B64.decode(p).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or(TokenError::Invalid)?;
    if claims.exp <= now_s {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    const SECRET: &str = "better-auth-secret-12345678901234567890";
    const VECTOR: &str = "eyJhbGciOiJIUzI1NiJ9.eyJlbWFpbCI6ImFsaWNlQGV4YW1wbGUuY29tIiwidXNlcklkIjoidXNlcl8xIiwiaWF0IjoxODkzNDU2MDAwLCJleHAiOjE4OTM0NTk2MDB9.ouylnPo8R48-YGKUuZUNLeUX1ty_JdngtrTBW-fqVEg";

    fn claims() -> Claims {
        Claims {
            email: "alice@example.com".into(),
            update_to: None,
            request_type: None,
            user_id: Some("user_1".into()),
            iat: 1893456000,
            exp: 1893459600,
        }
    }

    #[test]
    fn matches_better_auth_vector() {
        assert_eq!(sign(SECRET, &claims()), VECTOR);
        assert_eq!(verify(&[SECRET], VECTOR, 1893456001).unwrap(), claims());
    }

    #[test]
    fn rejects_expired_tampered_and_foreign() {
        assert_eq!(verify(&[SECRET], VECTOR, 1893459600), Err(TokenError::Expired));
        let tampered = format!("{}x", &VECTOR[..VECTOR.len() - 1]);
        assert_eq!(verify(&[SECRET], &tampered, 1893456001), Err(TokenError::Invalid));
        assert_eq!(verify(&["other-secret"], VECTOR, 1893456001), Err(TokenError::Invalid));
        assert_eq!(verify(&[SECRET], "a.b", 0), Err(TokenError::Invalid));
    }
}
