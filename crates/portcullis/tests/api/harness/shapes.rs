//! Small helpers: encodings, signatures, JSON key order and Better Auth object shapes.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use super::SECRET;

/// A SQL timestamp literal both backends accept for the schema's timestamp columns.
pub fn ts(t: DateTime<Utc>) -> String {
    format!("'{}'", t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

pub fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

pub fn dec(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Standard base64 (with padding) of HMAC-SHA256(SECRET, msg): Better Auth's cookie signature.
pub fn sign(msg: &str) -> String {
    use base64::Engine;
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("hmac key");
    mac.update(msg.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// An HS256 JWT signed with the test secret (for crafting verification tokens).
pub fn jwt(claims: &Value) -> String {
    use base64::Engine;
    use hmac::Mac;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let input = format!("{}.{}", b64.encode(br#"{"alg":"HS256"}"#), b64.encode(claims.to_string()));
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("hmac key");
    mac.update(input.as_bytes());
    format!("{input}.{}", b64.encode(mac.finalize().into_bytes()))
}

/// True for `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn is_iso_ms(v: &Value) -> bool {
    let re = regex::Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$").expect("regex");
    v.as_str().is_some_and(|s| re.is_match(s))
}

pub fn parse_time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a date: {v}")))
        .unwrap_or_else(|e| panic!("not a date: {v}: {e}"))
        .with_timezone(&Utc)
}

/// Keys of the JSON object `raw`, in wire order (serde_json's `Value` sorts them).
pub fn key_order(raw: &str) -> Vec<String> {
    member_raws(raw).into_iter().map(|(k, _)| k).collect()
}

/// The raw text of member `key` of the JSON object `raw`.
pub fn member(raw: &str, key: &str) -> String {
    member_raws(raw).into_iter().find(|(k, _)| k == key).map(|(_, v)| v).unwrap_or_else(|| panic!("no {key} in {raw}"))
}

/// The raw text of the first element of the JSON array `raw`.
pub fn first_element(raw: &str) -> String {
    let items: Vec<Box<serde_json::value::RawValue>> =
        serde_json::from_str(raw).unwrap_or_else(|e| panic!("not a JSON array ({e}): {raw}"));
    items.first().unwrap_or_else(|| panic!("empty array: {raw}")).get().to_string()
}

fn member_raws(raw: &str) -> Vec<(String, String)> {
    use serde::de::{Deserializer, MapAccess, Visitor};
    use serde_json::value::RawValue;
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((k, v)) = m.next_entry::<String, Box<RawValue>>()? {
                out.push((k, v.get().to_string()));
            }
            Ok(out)
        }
    }
    let mut de = serde_json::Deserializer::from_str(raw);
    de.deserialize_map(V).unwrap_or_else(|e| panic!("not a JSON object ({e}): {raw}"))
}

pub const USER_KEYS: [&str; 7] = ["name", "email", "emailVerified", "image", "createdAt", "updatedAt", "id"];
pub const SESSION_KEYS: [&str; 8] = ["expiresAt", "token", "createdAt", "updatedAt", "ipAddress", "userAgent", "userId", "id"];

/// Checks a user object has exactly Better Auth's keys with the right types.
pub fn assert_user_shape(u: &Value) {
    let obj = u.as_object().unwrap_or_else(|| panic!("user is not an object: {u}"));
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    let mut want = USER_KEYS.to_vec();
    want.sort();
    assert_eq!(keys, want, "user keys: {u}");
    assert!(u["name"].is_string() && u["email"].is_string() && u["emailVerified"].is_boolean(), "{u}");
    assert!(u["image"].is_null() || u["image"].is_string(), "{u}");
    assert!(is_iso_ms(&u["createdAt"]) && is_iso_ms(&u["updatedAt"]), "dates: {u}");
    assert!(is_id(&u["id"]), "id: {u}");
}

pub fn assert_session_shape(s: &Value) {
    let obj = s.as_object().unwrap_or_else(|| panic!("session is not an object: {s}"));
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    let mut want = SESSION_KEYS.to_vec();
    want.sort();
    assert_eq!(keys, want, "session keys: {s}");
    for k in ["expiresAt", "createdAt", "updatedAt"] {
        assert!(is_iso_ms(&s[k]), "{k}: {s}");
    }
    assert!(is_id(&s["token"]) && is_id(&s["id"]) && is_id(&s["userId"]), "{s}");
    assert!(s["ipAddress"].is_string() && s["userAgent"].is_string(), "ipAddress/userAgent are strings: {s}");
}

/// 32 characters of `[A-Za-z0-9]`.
pub fn is_id(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}
