//! Better Auth's `symmetricEncrypt` / `symmetricDecrypt` (spec §12.2, vectors §15.5), used for
//! provider tokens at rest (`encrypt_oauth_tokens`), the session token carried by a link flow and
//! the jwt capability's private keys in the `jwks` table.
//!
//! Format: `hex(nonce24 ‖ ciphertext ‖ tag16)` with XChaCha20-Poly1305 and `key = SHA-256(secret)`;
//! with secret rotation (`BETTER_AUTH_SECRETS`) the hex is wrapped as `$ba$<version>$<hex>` and
//! decrypted with that version's secret. Bare hex is decrypted with the legacy single secret.
//!
//! This module must never log plaintexts or keys, and never fail loudly: a value that does not
//! decrypt is `None`, and callers decide what that means.

use crate::config::Config;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The secrets Better Auth's `secretConfig` holds.
#[derive(Clone)]
pub struct Keys {
    /// `(version, secret)`, current first; `None` version = no rotation (plain hex output).
    versions: Vec<(Option<u32>, String)>,
    /// Decrypts bare hex when rotation is on.
    legacy: Option<String>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

impl Keys {
    pub fn from_config(cfg: &Config) -> Self {
        let list = cfg.secret_list().unwrap_or_else(|_| vec![(0, crate::config::DEV_SECRET.to_string())]);
        if cfg.secrets.is_some() {
            let legacy = cfg.secret.clone().filter(|s| s != crate::config::DEV_SECRET);
            Self { versions: list.into_iter().map(|(v, s)| (Some(v), s)).collect(), legacy }
        } else {
            Self { versions: list.into_iter().take(1).map(|(_, s)| (None, s)).collect(), legacy: None }
        }
    }

    /// A single plain secret (tests, vectors).
    pub fn single(secret: &str) -> Self {
        Self { versions: vec![(None, secret.to_string())], legacy: None }
    }

    /// Rotation: `(version, secret)` current first.
    pub fn rotating(list: &[(u32, &str)], legacy: Option<&str>) -> Self {
        Self { versions: list.iter().map(|(v, s)| (Some(*v), (*s).to_string())).collect(), legacy: legacy.map(str::to_string) }
    }

    /// Better Auth 1.7.24's purpose keys: each secret replaced by
    /// `hex(HKDF-SHA256(secret, "better-auth:oauth-encryption:v1", "better-auth:<purpose>:v1"))`.
    pub fn for_purpose(&self, purpose: &str) -> Self {
        Self {
            versions: self.versions.iter().map(|(v, s)| (*v, purpose_secret(s, purpose))).collect(),
            legacy: self.legacy.as_deref().map(|s| purpose_secret(s, purpose)),
        }
    }

    pub fn encrypt(&self, plaintext: &str) -> String {
        let Some((version, secret)) = self.versions.first() else { return String::new() };
        let hex = encrypt_with(secret, plaintext);
        match version {
            Some(v) => format!("$ba${v}${hex}"),
            None => hex,
        }
    }

    pub fn decrypt(&self, data: &str) -> Option<String> {
        if let Some(rest) = data.strip_prefix("$ba$") {
            let (v, hex) = rest.split_once('$')?;
            let v: u32 = v.parse().ok()?;
            let secret = self.versions.iter().find(|(ver, _)| *ver == Some(v))?;
            return decrypt_with(&secret.1, hex);
        }
        match self.versions.first() {
            Some((None, s)) => decrypt_with(s, data),
            _ => self.legacy.as_deref().and_then(|s| decrypt_with(s, data)),
        }
    }
}

/// Whether a stored value looks like `symmetricEncrypt` output (Better Auth's test, §11.5).
pub fn looks_encrypted(s: &str) -> bool {
    s.starts_with("$ba$") || (!s.is_empty() && s.len().is_multiple_of(2) && s.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn purpose_secret(secret: &str, purpose: &str) -> String {
    let hk = Hkdf::<Sha256>::new(Some(b"better-auth:oauth-encryption:v1"), secret.as_bytes());
    let mut out = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit; the error arm cannot happen.
    if hk.expand(format!("better-auth:{purpose}:v1").as_bytes(), &mut out).is_err() {
        return String::new();
    }
    hex::encode(out)
}

fn cipher(secret: &str) -> XChaCha20Poly1305 {
    let key: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
    XChaCha20Poly1305::new(&key.into())
}

fn encrypt_with(secret: &str, plaintext: &str) -> String {
    let mut nonce = [0u8; 24];
    OsRng.fill_bytes(&mut nonce);
    match cipher(secret).encrypt(XNonce::from_slice(&nonce), plaintext.as_bytes()) {
        Ok(ct) => {
            let mut out = nonce.to_vec();
            out.extend_from_slice(&ct);
            hex::encode(out)
        }
        // Only fails for plaintexts beyond 256 GiB.
        Err(_) => String::new(),
    }
}

fn decrypt_with(secret: &str, hex_data: &str) -> Option<String> {
    let bytes = hex::decode(hex_data).ok()?;
    if bytes.len() < 24 + 16 {
        return None;
    }
    let (nonce, ct) = bytes.split_at(24);
    let pt = cipher(secret).decrypt(XNonce::from_slice(nonce), ct).ok()?;
    String::from_utf8(pt).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "better-auth-secret-12345678901234567890";

    #[test]
    fn spec_vectors_decrypt() {
        let k = Keys::single(SECRET);
        let ct = "f8abc305c43ca98725828afb6f1f7abd2e6033dde25750012db1277c5bbc4b66963beccdfdcb44574c2a5c835e4f953ccc55c0f57f33cd0ef0";
        assert_eq!(k.decrypt(ct).as_deref(), Some("ya29.access-token"));
        let rot = Keys::rotating(&[(2, "second-secret-abcdefghijklmnopqrstuvwxyz012"), (1, SECRET)], None);
        let env = "$ba$2$e17ec0824aaa67da32e471fc13fa1c2ab87b1b0d40abb6bf6baa9ede6a6efc3b475643b5f4ab71d8addacf9bdb";
        assert_eq!(rot.decrypt(env).as_deref(), Some("hello"));
        assert_eq!(hex::encode(Sha256::digest(SECRET.as_bytes())), "2988a24c0bcc440e2c600c28394590bf7990f260cbf23503e03ee00092086e1f");
    }

    #[test]
    fn purpose_keys_match_vectors() {
        assert_eq!(purpose_secret(SECRET, "oauth-state-cookie"), "a68c221bb4704a16b53ffdbf205fb86fc910cd5fdc4f59b572d157764a93a765");
        assert_eq!(purpose_secret(SECRET, "oauth-link-session-token"), "36c1c4200a7522ef091969d06fb26166958622694ea9886ac0016e0165b34a69");
    }

    #[test]
    fn round_trip_and_rotation() {
        let k = Keys::single(SECRET);
        let ct = k.encrypt("token");
        assert!(looks_encrypted(&ct));
        assert_eq!(k.decrypt(&ct).as_deref(), Some("token"));
        assert_eq!(Keys::single("other").decrypt(&ct), None);
        let rot = Keys::rotating(&[(3, "new"), (2, "old")], Some(SECRET));
        let ct3 = rot.encrypt("x");
        assert!(ct3.starts_with("$ba$3$"));
        assert_eq!(rot.decrypt(&ct3).as_deref(), Some("x"));
        // Bare hex from before rotation decrypts with the legacy secret.
        assert_eq!(rot.decrypt(&ct).as_deref(), Some("token"));
        assert_eq!(rot.decrypt("$ba$9$00"), None);
        assert_eq!(k.decrypt("zz"), None);
        assert!(!looks_encrypted("ya29.plain"));
    }
}
