//! TOTP exactly as Better Auth computes it (`@better-auth/utils/otp`, spec plugins §1.2): the HMAC
//! key is the UTF-8 bytes of a 32-character random string (or, for a stored `base32:` secret, the
//! decoded bytes), HMAC-SHA-1 over the big-endian step counter, dynamic truncation, ±1 step, a
//! constant-time comparison of every candidate. The otpauth URI carries the key in unpadded base32.
//!
//! Pure functions: no clock, no storage. Must never: compare a code with `==`, or stop at the
//! first matching step (the time would tell which step matched).

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The secret Better Auth draws: 32 characters of `[a-z0-9A-Z-_]`.
pub fn new_secret() -> String {
    crate::crypto::random_string(32, crate::crypto::URL_SAFE_ALPHABET)
}

/// The HMAC key of a decrypted stored secret: its UTF-8 bytes, or for `base32:<B32>` (a secret
/// imported from elsewhere) the decoded bytes, as Better Auth's `decryptTOTPSecret`.
pub fn key_of(secret: &str) -> Vec<u8> {
    match secret.strip_prefix("base32:") {
        Some(b32) => base32_decode(&b32.to_uppercase()).unwrap_or_else(|| secret.as_bytes().to_vec()),
        None => secret.as_bytes().to_vec(),
    }
}

/// HOTP (RFC 4226) of `key` at `counter`, `digits` long.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> String {
    // HMAC accepts keys of any length; the error arm cannot happen.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key) else { return String::new() };
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = usize::from(h[h.len() - 1] & 0x0f);
    let bin = (u32::from(h[off] & 0x7f) << 24) | (u32::from(h[off + 1]) << 16) | (u32::from(h[off + 2]) << 8) | u32::from(h[off + 3]);
    let modulo = 10u64.pow(digits);
    format!("{:0width$}", u64::from(bin) % modulo, width = digits as usize)
}

/// The time step of `unix_ms`.
pub fn step(unix_ms: i64, period: u64) -> u64 {
    (unix_ms.max(0) as u64) / (period.max(1) * 1000)
}

/// Whether `code` is the code of the previous, current or next step; every candidate is compared
/// in constant time.
pub fn verify(key: &[u8], code: &str, unix_ms: i64, period: u64, digits: u32) -> bool {
    let now = step(unix_ms, period);
    let mut ok = false;
    for s in [now.saturating_sub(1), now, now + 1] {
        ok |= crate::crypto::ct_eq(code.as_bytes(), hotp(key, s, digits).as_bytes());
    }
    ok
}

/// `otpauth://totp/<issuer>:<account>?secret=..&issuer=..&digits=..&period=..` as Better Auth
/// writes it (`encodeURIComponent` in the label, `URLSearchParams` in the query).
pub fn uri(key: &[u8], issuer: &str, account: &str, digits: u32, period: u64) -> String {
    let component = |s: &str| crate::crypto::sign::encode_cookie_value(s);
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("secret", &base32_encode(key))
        .append_pair("issuer", issuer)
        .append_pair("digits", &digits.to_string())
        .append_pair("period", &period.to_string())
        .finish();
    format!("otpauth://totp/{}:{}?{query}", component(issuer), component(account))
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding.
pub fn base32_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let (mut buf, mut bits) = (0u32, 0u32);
    for &b in data {
        buf = (buf << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            out.push(char::from(B32[((buf >> (bits - 5)) & 31) as usize]));
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(char::from(B32[((buf << (5 - bits)) & 31) as usize]));
    }
    out
}

/// RFC 4648 base32 (upper case, padding optional); `None` for any other character.
pub fn base32_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let (mut buf, mut bits) = (0u32, 0u32);
    for c in s.trim_end_matches('=').bytes() {
        let v = B32.iter().position(|&x| x == c)? as u32;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            out.push(((buf >> (bits - 8)) & 0xff) as u8);
            bits -= 8;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4226_and_6238_vectors() {
        let key = b"12345678901234567890";
        let expected = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"];
        for (i, e) in expected.iter().enumerate() {
            assert_eq!(hotp(key, i as u64, 6), *e);
        }
        // RFC 6238 SHA-1, 8 digits.
        assert_eq!(hotp(key, step(59_000, 30), 8), "94287082");
        assert_eq!(hotp(key, step(1_111_111_109_000, 30), 8), "07081804");
        assert_eq!(hotp(key, step(20_000_000_000_000, 30), 8), "65353130");
    }

    #[test]
    fn verify_takes_one_step_either_side() {
        let key = b"secret-of-32-characters-exactly!";
        let t = 1_700_000_000_000;
        let s = step(t, 30);
        for d in [-1i64, 0, 1] {
            assert!(verify(key, &hotp(key, (s as i64 + d) as u64, 6), t, 30, 6), "{d}");
        }
        assert!(!verify(key, &hotp(key, s + 2, 6), t, 30, 6));
        assert!(!verify(key, &hotp(key, s - 2, 6), t, 30, 6));
        assert!(!verify(key, "", t, 30, 6));
    }

    #[test]
    fn base32_round_trip_and_rfc_vectors() {
        for (plain, enc) in
            [("", ""), ("f", "MY"), ("fo", "MZXQ"), ("foo", "MZXW6"), ("foob", "MZXW6YQ"), ("fooba", "MZXW6YTB"), ("foobar", "MZXW6YTBOI")]
        {
            assert_eq!(base32_encode(plain.as_bytes()), enc);
            assert_eq!(base32_decode(enc).unwrap(), plain.as_bytes());
        }
        assert_eq!(base32_decode("MZXW6YQ=").unwrap(), b"foob");
        assert!(base32_decode("mzxw").is_none());
        let s = new_secret();
        assert_eq!(s.len(), 32);
        assert_eq!(base32_encode(s.as_bytes()).len(), 52);
    }

    #[test]
    fn key_of_reads_base32_secrets() {
        assert_eq!(key_of("abc"), b"abc");
        assert_eq!(key_of("base32:mzxw6ytboi"), b"foobar");
    }

    #[test]
    fn uri_is_better_auths() {
        let u = uri(b"foobar", "Better Auth", "a+b@example.com", 6, 30);
        assert_eq!(u, "otpauth://totp/Better%20Auth:a%2Bb%40example.com?secret=MZXW6YTBOI&issuer=Better+Auth&digits=6&period=30");
    }
}
