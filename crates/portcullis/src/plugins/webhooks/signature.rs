//! Standard Webhooks signatures (<https://www.standardwebhooks.com>): the secret format
//! `whsec_<base64 key>`, and `webhook-signature: v1,<base64(HMAC-SHA256(key, "{id}.{ts}.{body}"))>`,
//! one space-separated entry per secret that signs (during a rotation, the old and the new).
//!
//! Must never: compare a signature with `==` (the verifier is constant-time), or print a secret
//! (`Secret`'s `Debug` hides it).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The key of a `whsec_` secret.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// `whsec_<base64>` (the prefix is optional, as in the reference libraries); at least 16 bytes.
    pub fn parse(s: &str) -> Option<Secret> {
        let b64 = s.strip_prefix("whsec_").unwrap_or(s);
        let key = STANDARD.decode(b64).ok()?;
        (key.len() >= 16).then_some(Secret(key))
    }

    /// A new random 32-byte secret, as `whsec_<base64>`.
    pub fn generate() -> String {
        let mut key = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
        format!("whsec_{}", STANDARD.encode(key))
    }

    /// `v1,<base64 signature>` of `body` sent as message `id` at unix time `ts`.
    pub fn sign(&self, id: &str, ts: i64, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(format!("{id}.{ts}.").as_bytes());
        mac.update(body.as_bytes());
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// The `webhook-signature` header: one `v1,...` per secret, space-separated.
pub fn header(secrets: &[Secret], id: &str, ts: i64, body: &str) -> String {
    secrets.iter().map(|s| s.sign(id, ts, body)).collect::<Vec<_>>().join(" ")
}

/// Whether some `v1` entry of `header` is `secret`'s signature (what a receiver checks).
pub fn verify(secret: &Secret, header: &str, id: &str, ts: i64, body: &str) -> bool {
    let want = secret.sign(id, ts, body);
    header.split(' ').any(|sig| crate::crypto::ct_eq(sig.as_bytes(), want.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector published with the Standard Webhooks reference libraries.
    #[test]
    fn signs_the_published_test_vector() {
        let s = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = s.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, r#"{"test": 2432232314}"#);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let h = format!("v1,bm90IGl0 {sig}");
        assert!(verify(&s, &h, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, r#"{"test": 2432232314}"#));
        assert!(!verify(&s, &h, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331, r#"{"test": 2432232314}"#));
    }

    #[test]
    fn secrets_parse_and_generate() {
        assert!(Secret::parse("whsec_short").is_none());
        assert!(Secret::parse("whsec_not base64!").is_none());
        let g = Secret::generate();
        assert!(g.starts_with("whsec_") && Secret::parse(&g).is_some());
        assert_eq!(format!("{:?}", Secret::parse(&g).unwrap()), "Secret(..)");
        let two = [Secret::parse(&g).unwrap(), Secret::parse(&Secret::generate()).unwrap()];
        let h = header(&two, "m", 1, "{}");
        assert_eq!(h.split(' ').count(), 2);
        assert!(two.iter().all(|s| verify(s, &h, "m", 1, "{}")));
    }
}
