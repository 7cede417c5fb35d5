//! Cryptographic building blocks: random identifiers, constant-time comparison, Better Auth's
//! signed-cookie format ([`sign`]), `symmetricEncrypt` ([`symmetric`]) and password hashing on a
//! bounded worker pool ([`password`]).
//!
//! This module owns every source of randomness used for secrets (ids, session tokens, salts): all
//! of it comes from the operating system's CSPRNG. It must never use a seeded or thread-local
//! userspace RNG for secrets, never reduce random bytes with a plain modulo (that biases the
//! output), and never compare secret material with `==`.

pub mod password;
pub mod sign;
pub mod symmetric;

use rand::rngs::OsRng;
use rand::RngCore;
use subtle::ConstantTimeEq;

/// `[a-zA-Z0-9-_]`: URL-safe tokens.
pub const URL_SAFE_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// `[0-9a-z]`: lower-case alphanumeric codes.
pub const LOWER_ALNUM: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// `[a-zA-Z0-9]`: Better Auth's `generateId()` alphabet (§9.3).
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A random `[A-Za-z0-9]` string: Better Auth's id and session-token shape (32 chars there).
pub fn random_id(len: usize) -> String {
    random_string(len, ALNUM)
}

/// A new row id, made as `advanced.database.generate_id` says: Better Auth's 32 random
/// `[A-Za-z0-9]` characters, or a random UUID. Every row id comes from here; session tokens are
/// secrets, not ids, and stay [`random_id`]s whatever this says.
pub fn row_id(how: crate::config::GenerateId) -> String {
    match how {
        crate::config::GenerateId::Uuid => uuid_v4(),
        // `validate` refuses the database-made kinds; should one get here, a random id is still
        // a valid text id.
        _ => random_id(32),
    }
}

/// A random (version 4) UUID, lower-case and hyphenated as `crypto.randomUUID()` writes it.
pub fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    OsRng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    hyphenated_uuid(b)
}

/// The canonical text of a UUID's 16 bytes (`8-4-4-4-12` lower-case hex).
pub fn hyphenated_uuid(b: [u8; 16]) -> String {
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// A random string of `len` symbols drawn uniformly from `alphabet` (expected to be ASCII; at most
/// 256 symbols; duplicates are not removed). An empty or oversized alphabet yields `""` rather than
/// panicking, since no uniform draw is possible.
///
/// Uniformity comes from rejection sampling: a random byte is used only if it falls below the
/// largest multiple of `alphabet.len()` that fits in 256, so every symbol is equally likely.
pub fn random_string(len: usize, alphabet: &[u8]) -> String {
    let n = alphabet.len();
    if n == 0 || n > 256 {
        return String::new();
    }
    // Bytes at or above `limit` would make the low symbols more likely than the rest.
    let limit = 256 - (256 % n);
    let mut out = String::with_capacity(len);
    // Twice the target is enough on average even for the worst alphabet (129 symbols accepts
    // ~50% of bytes); the loop refills if we run short.
    let mut buf = vec![0u8; len.saturating_mul(2).clamp(16, 1024)];
    while out.len() < len {
        OsRng.fill_bytes(&mut buf);
        for &b in &buf {
            if usize::from(b) < limit {
                // `char::from(u8)` is infallible; ASCII alphabets map one byte to one char.
                out.push(char::from(alphabet[usize::from(b) % n]));
                if out.len() == len {
                    break;
                }
            }
        }
    }
    out
}

/// Better Auth's `defaultKeyHasher`: `base64url_nopad(SHA-256(utf8(value)))`, how the magic-link,
/// e-mail OTP and one-time-token plugins store a secret they never need back ("hashed").
pub fn sha256_b64url(value: &str) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(value.as_bytes()))
}

/// Constant-time equality of two byte strings. Lengths are not secret (a length mismatch returns
/// `false` immediately); contents are compared without data-dependent early exit.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_key_hasher_vector() {
        // node: crypto.createHash("sha256").update("123456").digest("base64url")
        assert_eq!(sha256_b64url("123456"), "jZae727K08KaOmKSgOaGzww_XVqGr_PKEgIMkjrcbJI");
    }

    #[test]
    fn random_id_shape() {
        let id = random_id(32);
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(random_id(32), random_id(32));
        assert_eq!(random_id(0), "");
    }

    #[test]
    fn row_ids_follow_generate_id() {
        use crate::config::GenerateId;
        let id = row_id(GenerateId::Random);
        assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_alphanumeric()));
        let u = row_id(GenerateId::Uuid);
        let parts: Vec<_> = u.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12], "{u}");
        assert!(u.bytes().all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{u}");
        assert_eq!(&u[14..15], "4", "version 4");
        assert!("89ab".contains(&u[19..20]), "RFC 4122 variant");
        assert_ne!(row_id(GenerateId::Uuid), u);
    }

    #[test]
    fn random_string_uses_only_alphabet() {
        let s = random_string(500, LOWER_ALNUM);
        assert_eq!(s.len(), 500);
        assert!(s.bytes().all(|b| LOWER_ALNUM.contains(&b)));
        let s = random_string(500, URL_SAFE_ALPHABET);
        assert!(s.bytes().all(|b| URL_SAFE_ALPHABET.contains(&b)));
        assert_eq!(random_string(10, b""), "");
        assert_eq!(random_string(7, b"x"), "xxxxxxx");
    }

    #[test]
    fn random_string_is_roughly_uniform() {
        // 3 symbols: a modulo-biased sampler would favour 'a' (256 % 3 == 1) slightly; this only
        // checks every symbol shows up in plausible proportion.
        let s = random_string(30_000, b"abc");
        for c in ['a', 'b', 'c'] {
            let k = s.chars().filter(|&x| x == c).count();
            assert!((9_000..11_000).contains(&k), "{c}: {k}");
        }
    }

    #[test]
    fn ct_eq_works() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(ct_eq(b"", b""));
    }
}
