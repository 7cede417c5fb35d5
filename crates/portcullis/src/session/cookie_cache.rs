//! The `session_data` cookie cache (spec §4.4): a signed copy of the session and user so
//! `get-session` can skip the database. Two of Better Auth's strategies: `compact` (its default;
//! HMAC over the JSON) and `jwt` (HS256).
//!
//! This module owns only encoding, signature checks and (for JWT) the `exp` claim. It must never
//! read the clock (time is passed in), never accept a value whose signature fails under every
//! configured secret, and never re-serialise before verifying a compact cookie: the signature
//! covers the exact bytes Better Auth wrote, so we verify those bytes. The other validity rules
//! (token match, version, outer `expiresAt`, session expiry) belong to the caller.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::crypto::ct_eq;
use crate::crypto::sign::hmac_sha256;
use crate::store::model::{Session, User};

/// Better Auth's `CookieCachePayload`; field order is its JSON key order, which the compact
/// signature depends on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachePayload {
    pub session: Session,
    pub user: User,
    /// When the cache entry was written, ms since the epoch.
    #[serde(rename = "updatedAt")]
    pub updated_at: i64,
    /// `session.cookieCache.version`; a mismatch invalidates the cache.
    pub version: String,
}

/// base64url decoding that tolerates `=` padding (some encoders add it) but still rejects
/// non-canonical trailing bits.
const B64URL_LENIENT: GeneralPurpose =
    GeneralPurpose::new(&alphabet::URL_SAFE, GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent));

/// The compact cookie value, byte-identical to Better Auth's:
/// `b64url({"session":<payload>,"expiresAt":n,"signature":sig})`, where `sig` is the base64url
/// HMAC of `<payload>` with `,"expiresAt":n` inserted before its final `}` (what JS's
/// `JSON.stringify({...payload, expiresAt})` yields).
///
/// Returns `""` if the payload cannot be serialised (cannot happen for these types); an empty
/// cookie simply fails to decode and the request falls through to the database.
pub fn encode_compact(secret: &str, payload: &CachePayload, expires_at_ms: i64) -> String {
    let json = match serde_json::to_string(payload) {
        Ok(json) => json,
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise session cache payload");
            return String::new();
        }
    };
    let sig = compact_signature(secret, &json, expires_at_ms);
    let outer = format!(r#"{{"session":{json},"expiresAt":{expires_at_ms},"signature":"{sig}"}}"#);
    URL_SAFE_NO_PAD.encode(outer)
}

/// Decodes and verifies a compact cookie against every secret; returns the payload and the outer
/// `expiresAt` (ms), which the caller must still check against its clock.
pub fn decode_compact(secrets: &[impl AsRef<str>], cookie: &str) -> Option<(CachePayload, i64)> {
    #[derive(Deserialize)]
    struct Outer<'a> {
        #[serde(borrow)]
        session: &'a RawValue,
        #[serde(rename = "expiresAt")]
        expires_at: i64,
        signature: &'a str,
    }
    let bytes = B64URL_LENIENT.decode(cookie).ok()?;
    let outer: Outer<'_> = serde_json::from_slice(&bytes).ok()?;
    let raw = outer.session.get();
    let mut ok = false;
    for secret in secrets {
        let expected = compact_signature(secret.as_ref(), raw, outer.expires_at);
        ok |= ct_eq(expected.as_bytes(), outer.signature.as_bytes());
    }
    if !ok {
        return None;
    }
    let payload = serde_json::from_str(raw).ok()?;
    Some((payload, outer.expires_at))
}

/// `b64url_nopad(HMAC(secret, payload_json[..-1] + ',"expiresAt":n}'))`. `payload_json` is raw
/// JSON text of an object; anything else yields a signature nothing can match.
fn compact_signature(secret: &str, payload_json: &str, expires_at_ms: i64) -> String {
    let Some(body) = payload_json.strip_suffix('}') else {
        return String::new();
    };
    // JS spreads `expiresAt` after the payload's own keys (the payload has none by that name).
    let signed = format!(r#"{body},"expiresAt":{expires_at_ms}}}"#);
    URL_SAFE_NO_PAD.encode(hmac_sha256(secret.as_bytes(), signed.as_bytes()))
}

#[derive(Serialize)]
struct JwtOut<'a> {
    #[serde(flatten)]
    payload: &'a CachePayload,
    iat: i64,
    exp: i64,
}

#[derive(Deserialize)]
struct JwtIn {
    #[serde(flatten)]
    payload: CachePayload,
    exp: i64,
    nbf: Option<i64>,
}

/// HS256 signer with header `{"alg":"HS256"}` exactly (jose's, no `typ`).
fn sign_hs256<T: Serialize>(secret: &str, claims: &T) -> Option<String> {
    let mut header = Header::new(Algorithm::HS256);
    header.typ = None;
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret.as_bytes()))
        .map_err(|e| tracing::error!(error = %e, "cannot sign session cache JWT"))
        .ok()
}

/// The `jwt` strategy: HS256 over the payload plus `iat = now_s` and `exp = now_s + max_age_s`.
/// Returns `""` on a (practically impossible) signing error; see [`encode_compact`].
pub fn encode_jwt(secret: &str, payload: &CachePayload, now_s: i64, max_age_s: i64) -> String {
    let claims = JwtOut { payload, iat: now_s, exp: now_s.saturating_add(max_age_s) };
    sign_hs256(secret, &claims).unwrap_or_default()
}

/// Verifies an HS256 cache JWT under any of `secrets` and checks `exp` (and `nbf` if present)
/// against `now_s` with no leeway, as jose's `jwtVerify` does by default.
pub fn decode_jwt(secrets: &[impl AsRef<str>], token: &str, now_s: i64) -> Option<CachePayload> {
    let mut validation = Validation::new(Algorithm::HS256);
    // The library would read the system clock; we check times ourselves against `now_s`.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.required_spec_claims.clear();
    let claims = secrets.iter().find_map(|secret| {
        let key = DecodingKey::from_secret(secret.as_ref().as_bytes());
        jsonwebtoken::decode::<JwtIn>(token, &key, &validation).ok()
    })?;
    let c = claims.claims;
    // jose: expired when `exp <= now`; not yet valid when `nbf > now`.
    if c.exp <= now_s || c.nbf.is_some_and(|nbf| nbf > now_s) {
        return None;
    }
    Some(c.payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    const SECRET: &str = "better-auth-secret-12345678901234567890";
    const SIGNED: &str = r#"{"session":{"expiresAt":"2030-01-08T00:00:00.000Z","token":"AbCdEfGhIjKlMnOpQrStUvWxYz012345","createdAt":"2030-01-01T00:00:00.000Z","updatedAt":"2030-01-01T00:00:00.000Z","ipAddress":"","userAgent":"","userId":"user_1","id":"sess_1"},"user":{"name":"Alice","email":"alice@example.com","emailVerified":false,"image":null,"createdAt":"2030-01-01T00:00:00.000Z","updatedAt":"2030-01-01T00:00:00.000Z","id":"user_1"},"updatedAt":1893456000000,"version":"1","expiresAt":1893456300000}"#;
    const SIGNATURE: &str = "ZvJ09NVztgnNluwHUXo9MoA-uG-l5MkUG6OafoSjHE8";
    const COOKIE: &str = "eyJzZXNzaW9uIjp7InNlc3Npb24iOnsiZXhwaXJlc0F0IjoiMjAzMC0wMS0wOFQwMDowMDowMC4wMDBaIiwidG9rZW4iOiJBYkNkRWZHaElqS2xNbk9wUXJTdFV2V3hZejAxMjM0NSIsImNyZWF0ZWRBdCI6IjIwMzAtMDEtMDFUMDA6MDA6MDAuMDAwWiIsInVwZGF0ZWRBdCI6IjIwMzAtMDEtMDFUMDA6MDA6MDAuMDAwWiIsImlwQWRkcmVzcyI6IiIsInVzZXJBZ2VudCI6IiIsInVzZXJJZCI6InVzZXJfMSIsImlkIjoic2Vzc18xIn0sInVzZXIiOnsibmFtZSI6IkFsaWNlIiwiZW1haWwiOiJhbGljZUBleGFtcGxlLmNvbSIsImVtYWlsVmVyaWZpZWQiOmZhbHNlLCJpbWFnZSI6bnVsbCwiY3JlYXRlZEF0IjoiMjAzMC0wMS0wMVQwMDowMDowMC4wMDBaIiwidXBkYXRlZEF0IjoiMjAzMC0wMS0wMVQwMDowMDowMC4wMDBaIiwiaWQiOiJ1c2VyXzEifSwidXBkYXRlZEF0IjoxODkzNDU2MDAwMDAwLCJ2ZXJzaW9uIjoiMSJ9LCJleHBpcmVzQXQiOjE4OTM0NTYzMDAwMDAsInNpZ25hdHVyZSI6Ilp2SjA5TlZ6dGduTmx1d0hVWG85TW9BLXVHLWw1TWtVRzZPYWZvU2pIRTgifQ";
    const EXPIRES: i64 = 1_893_456_300_000;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn vector_payload() -> CachePayload {
        CachePayload {
            session: Session {
                extra: Default::default(),
                hidden: Default::default(),
                expires_at: t("2030-01-08T00:00:00.000Z"),
                token: "AbCdEfGhIjKlMnOpQrStUvWxYz012345".into(),
                created_at: t("2030-01-01T00:00:00.000Z"),
                updated_at: t("2030-01-01T00:00:00.000Z"),
                ip_address: String::new(),
                user_agent: String::new(),
                user_id: "user_1".into(),
                id: "sess_1".into(),
            },
            user: User {
                extra: Default::default(),
                hidden: Default::default(),
                name: "Alice".into(),
                email: "alice@example.com".into(),
                email_verified: false,
                image: None,
                created_at: t("2030-01-01T00:00:00.000Z"),
                updated_at: t("2030-01-01T00:00:00.000Z"),
                id: "user_1".into(),
            },
            updated_at: 1_893_456_000_000,
            version: "1".into(),
        }
    }

    #[test]
    fn compact_vector_byte_for_byte() {
        let p = vector_payload();
        let json = serde_json::to_string(&p).unwrap();
        let signed = format!("{},\"expiresAt\":{EXPIRES}}}", &json[..json.len() - 1]);
        assert_eq!(signed, SIGNED);
        assert_eq!(compact_signature(SECRET, &json, EXPIRES), SIGNATURE);
        assert_eq!(encode_compact(SECRET, &p, EXPIRES), COOKIE);
    }

    #[test]
    fn compact_vector_decodes() {
        let (p, exp) = decode_compact(&[SECRET], COOKIE).unwrap();
        assert_eq!(p, vector_payload());
        assert_eq!(exp, EXPIRES);
        // Rotation: any configured secret verifies.
        assert!(decode_compact(&["new-secret", SECRET], COOKIE).is_some());
        // Padded base64url is tolerated.
        assert!(decode_compact(&[SECRET], &format!("{COOKIE}=")).is_some());
    }

    #[test]
    fn verifies_raw_bytes_not_reserialisation() {
        // A JS-made payload with a field we don't model: re-serialising would drop it and break
        // the signature; verifying the raw text keeps it valid.
        let raw = SIGNED.replace(r#""version":"1","expiresAt":1893456300000}"#, r#""version":"1","extra":[1,2]}"#);
        let sig = compact_signature(SECRET, &raw, EXPIRES);
        let outer = format!(r#"{{"session":{raw},"expiresAt":{EXPIRES},"signature":"{sig}"}}"#);
        let (p, _) = decode_compact(&[SECRET], &URL_SAFE_NO_PAD.encode(outer)).unwrap();
        assert_eq!(p, vector_payload());
    }

    #[test]
    fn compact_tampering_rejected() {
        assert!(decode_compact(&["wrong-secret"], COOKIE).is_none());
        assert!(decode_compact(&[] as &[&str], COOKIE).is_none());
        let json = String::from_utf8(URL_SAFE_NO_PAD.decode(COOKIE).unwrap()).unwrap();
        for (from, to) in [
            ("Alice", "Mallory"),
            ("1893456300000", "1993456300000"),
            (SIGNATURE, "ZvJ09NVztgnNluwHUXo9MoA-uG-l5MkUG6OafoSjHE9"),
            (SIGNATURE, ""),
        ] {
            let forged = URL_SAFE_NO_PAD.encode(json.replacen(from, to, 1));
            assert!(decode_compact(&[SECRET], &forged).is_none(), "{from} -> {to}");
        }
        for junk in ["", "!!!", "e30", "bnVsbA", "eyJzZXNzaW9uIjoxfQ"] {
            assert!(decode_compact(&[SECRET], junk).is_none(), "{junk}");
        }
    }

    #[test]
    fn hs256_matches_jose_header_and_vector() {
        // §15.6: same signer shape (header {"alg":"HS256"}, key = UTF8(secret)).
        // A struct, not `json!`: serde_json's map sorts keys, jose keeps insertion order.
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Claims {
            email: &'static str,
            user_id: &'static str,
            iat: i64,
            exp: i64,
        }
        let claims = Claims { email: "alice@example.com", user_id: "user_1", iat: 1893456000, exp: 1893459600 };
        assert_eq!(
            sign_hs256(SECRET, &claims).unwrap(),
            "eyJhbGciOiJIUzI1NiJ9.eyJlbWFpbCI6ImFsaWNlQGV4YW1wbGUuY29tIiwidXNlcklkIjoidXNlcl8xIiwiaWF0IjoxODkzNDU2MDAwLCJleHAiOjE4OTM0NTk2MDB9.ouylnPo8R48-YGKUuZUNLeUX1ty_JdngtrTBW-fqVEg"
        );
    }

    #[test]
    fn jwt_round_trip_and_expiry() {
        let p = vector_payload();
        let now = 1_893_456_000;
        let token = encode_jwt(SECRET, &p, now, 300);
        assert!(token.starts_with("eyJhbGciOiJIUzI1NiJ9."));
        let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap();
        assert_eq!(claims["iat"], now);
        assert_eq!(claims["exp"], now + 300);
        assert_eq!(claims["session"]["token"], "AbCdEfGhIjKlMnOpQrStUvWxYz012345");

        assert_eq!(decode_jwt(&[SECRET], &token, now).unwrap(), p);
        assert_eq!(decode_jwt(&[SECRET], &token, now + 299).unwrap(), p);
        assert!(decode_jwt(&[SECRET], &token, now + 300).is_none());
        assert!(decode_jwt(&["wrong"], &token, now).is_none());
        assert!(decode_jwt(&["wrong", SECRET], &token, now).is_some());
        assert!(decode_jwt(&[SECRET], "not.a.jwt", now).is_none());
        // Flip a middle character of the signature (the last one carries padding bits).
        let mut forged = token.clone().into_bytes();
        let i = forged.len() - 10;
        forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        assert!(decode_jwt(&[SECRET], &forged, now).is_none());
    }
}
