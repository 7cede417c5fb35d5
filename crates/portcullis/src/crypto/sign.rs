//! Better Auth's signed-cookie format (spec §4.3): `value + "." + base64std(HMAC-SHA256(secret,
//! value))`, URL-encoded as a whole on the wire.
//!
//! This module owns the HMAC primitive, signing, verification and the cookie-value percent
//! encoding. It must never accept a signature compared with `==` (always constant time), never
//! accept a signature of the wrong shape (Better Auth treats those as "no cookie"), and never sign
//! with anything but the first (current) secret.

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

use super::ct_eq;

type HmacSha256 = Hmac<Sha256>;

/// SHA-256's block size: HMAC keys are zero-padded (or hashed, when longer) to this length.
const BLOCK: usize = 64;

/// Length of a standard-base64, padded HMAC-SHA256 (32 bytes → 44 chars, ending in `=`).
const SIG_LEN: usize = 44;

/// HMAC-SHA256 with the raw key bytes (Better Auth uses `UTF8(secret)`).
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    // RFC 2104 defines HMAC over the key hashed (if longer than a block) and zero-padded to a
    // block. Doing that here lets us use the infallible fixed-size constructor instead of
    // `new_from_slice`, whose error arm cannot happen but would still need handling.
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut mac = <HmacSha256 as KeyInit>::new(&block.into());
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// `value + "." + base64std_padded(HMAC(secret, value))`, not yet URL-encoded (see
/// [`encode_cookie_value`]). This is also the bearer-token form.
pub fn sign_value(secret: &str, value: &str) -> String {
    let sig = STANDARD.encode(hmac_sha256(secret.as_bytes(), value.as_bytes()));
    format!("{value}.{sig}")
}

/// Verifies a (URL-decoded) signed value and returns the value part.
///
/// Mirrors Better Auth's `getSignedCookie`: split at the last `.`, require a non-empty value and a
/// 44-char signature ending in `=`, then compare in constant time. Every configured secret is
/// tried (our rotation policy: the first signs, all verify), and all are always tried so timing
/// does not reveal which one matched.
pub fn verify_signed<'a>(secrets: &[impl AsRef<str>], signed: &'a str) -> Option<&'a str> {
    let dot = signed.rfind('.')?;
    let (value, sig) = (&signed[..dot], &signed[dot + 1..]);
    if value.is_empty() || sig.len() != SIG_LEN || !sig.ends_with('=') {
        return None;
    }
    let mut ok = false;
    for secret in secrets {
        // Comparing the canonical encoding avoids a decode step and rejects non-canonical forms.
        let mut expected = [0u8; SIG_LEN];
        let n = STANDARD.encode_slice(hmac_sha256(secret.as_ref().as_bytes(), value.as_bytes()), &mut expected).unwrap_or(0);
        ok |= ct_eq(&expected[..n], sig.as_bytes());
    }
    ok.then_some(value)
}

/// Characters JS `encodeURIComponent` leaves alone: `A-Z a-z 0-9 - _ . ! ~ * ' ( )`.
const URI_COMPONENT: &AsciiSet =
    &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'!').remove(b'~').remove(b'*').remove(b'\'').remove(b'(').remove(b')');

/// JS `encodeURIComponent`: how better-call writes cookie values (`+` → `%2B`, `/` → `%2F`,
/// `=` → `%3D`).
pub fn encode_cookie_value(s: &str) -> String {
    utf8_percent_encode(s, URI_COMPONENT).to_string()
}

/// Percent-decodes a cookie value only when it contains `%` (a raw signed value is accepted too,
/// §4.1). A malformed escape or non-UTF-8 result returns the input unchanged, like better-call's
/// `try { decodeURIComponent } catch { raw }`.
pub fn decode_cookie_value(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = bytes.get(i + 1).and_then(|&b| hex_digit(b));
            let lo = bytes.get(i + 2).and_then(|&b| hex_digit(b));
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Cow::Borrowed(s);
            };
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    match String::from_utf8(out) {
        Ok(decoded) => Cow::Owned(decoded),
        Err(_) => Cow::Borrowed(s),
    }
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "better-auth-secret-12345678901234567890";
    const TOKEN: &str = "AbCdEfGhIjKlMnOpQrStUvWxYz012345";

    #[test]
    fn session_cookie_vector() {
        assert_eq!(STANDARD.encode(hmac_sha256(SECRET.as_bytes(), TOKEN.as_bytes())), "Ti/xeH4hFO5G4Kofpp9E9KCgaAEDRZ5hrYLoq0FI2L8=");
        let wire = encode_cookie_value(&sign_value(SECRET, TOKEN));
        assert_eq!(
            format!("better-auth.session_token={wire}; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax"),
            "better-auth.session_token=AbCdEfGhIjKlMnOpQrStUvWxYz012345.Ti%2FxeH4hFO5G4Kofpp9E9KCgaAEDRZ5hrYLoq0FI2L8%3D; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax"
        );
        let decoded = decode_cookie_value(&wire);
        assert_eq!(verify_signed(&[SECRET], &decoded), Some(TOKEN));
    }

    #[test]
    fn dont_remember_vector() {
        let signed = sign_value(SECRET, "true");
        assert_eq!(signed, "true.2Q7qxj/11DldXW8be7RmiJCA7bM+Y0L1gL5sny1v/J8=");
        assert_eq!(encode_cookie_value(&signed), "true.2Q7qxj%2F11DldXW8be7RmiJCA7bM%2BY0L1gL5sny1v%2FJ8%3D");
        assert_eq!(verify_signed(&[SECRET], &signed), Some("true"));
    }

    #[test]
    fn bearer_vector() {
        let secret = "test-secret-0123456789abcdefghijklmnopqrstuvwxyz";
        assert_eq!(
            sign_value(secret, "9rgOGktarVt2jhqAUN6TEpxNMaJ1rsGC"),
            "9rgOGktarVt2jhqAUN6TEpxNMaJ1rsGC.4x2oFnyFBqBCCzyWTv2am56+o8qhuL3+pCZcWMYq6vM="
        );
    }

    #[test]
    fn long_key_matches_rfc4231_case_6() {
        let key = [0xaau8; 131];
        let mac = hmac_sha256(&key, b"Test Using Larger Than Block-Size Key - Hash Key First");
        assert_eq!(hex::encode(mac), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    }

    #[test]
    fn tampering_is_rejected() {
        let signed = sign_value(SECRET, TOKEN);
        // Another value under the same signature.
        let other = signed.replacen('A', "B", 1);
        assert_eq!(verify_signed(&[SECRET], &other), None);
        // A flipped signature character.
        let mut sig = signed.clone().into_bytes();
        sig[40] = if sig[40] == b'a' { b'b' } else { b'a' };
        assert_eq!(verify_signed(&[SECRET], std::str::from_utf8(&sig).unwrap_or("")), None);
        assert_eq!(verify_signed(&["another-secret"], &signed), None);
        assert_eq!(verify_signed(&[] as &[&str], &signed), None);
    }

    #[test]
    fn wrong_shape_is_rejected() {
        let signed = sign_value(SECRET, TOKEN);
        assert_eq!(verify_signed(&[SECRET], &signed[..signed.len() - 1]), None);
        assert_eq!(verify_signed(&[SECRET], &format!("{signed}=")), None);
        assert_eq!(verify_signed(&[SECRET], TOKEN), None);
        assert_eq!(verify_signed(&[SECRET], ""), None);
        assert_eq!(verify_signed(&[SECRET], "."), None);
        let empty_value = sign_value(SECRET, "");
        assert_eq!(verify_signed(&[SECRET], &empty_value), None);
        // 44 chars but no padding.
        assert_eq!(verify_signed(&[SECRET], &format!("{TOKEN}.{}", "A".repeat(44))), None);
        // Multi-byte characters around the split must not panic.
        assert_eq!(verify_signed(&[SECRET], "é.é"), None);
    }

    #[test]
    fn value_may_contain_dots() {
        let signed = sign_value(SECRET, "a.b.c");
        assert_eq!(verify_signed(&[SECRET], &signed), Some("a.b.c"));
    }

    #[test]
    fn rotation_all_secrets_verify() {
        let old = sign_value("old-secret", TOKEN);
        let new = sign_value("new-secret", TOKEN);
        let secrets = ["new-secret", "old-secret"];
        assert_eq!(verify_signed(&secrets, &old), Some(TOKEN));
        assert_eq!(verify_signed(&secrets, &new), Some(TOKEN));
        assert_eq!(verify_signed(&["new-secret"], &old), None);
    }

    #[test]
    fn encode_uri_component_semantics() {
        assert_eq!(encode_cookie_value("a+b/c=d e"), "a%2Bb%2Fc%3Dd%20e");
        assert_eq!(encode_cookie_value("-_.!~*'()"), "-_.!~*'()");
        assert_eq!(encode_cookie_value("é"), "%C3%A9");
        assert_eq!(encode_cookie_value(";,"), "%3B%2C");
    }

    #[test]
    fn decode_cookie_value_cases() {
        assert!(matches!(decode_cookie_value("plain+value="), Cow::Borrowed("plain+value=")));
        assert_eq!(decode_cookie_value("a%2Bb%2fc%3D"), "a+b/c=");
        assert_eq!(decode_cookie_value("%C3%A9"), "é");
        // Invalid escapes and invalid UTF-8 come back untouched.
        assert_eq!(decode_cookie_value("100%"), "100%");
        assert_eq!(decode_cookie_value("%zz"), "%zz");
        assert_eq!(decode_cookie_value("%+1"), "%+1");
        assert_eq!(decode_cookie_value("%C3"), "%C3");
        assert_eq!(decode_cookie_value("%é"), "%é");
    }
}
