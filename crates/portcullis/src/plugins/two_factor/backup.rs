//! Backup codes as Better Auth makes and stores them (spec plugins §1.3): `amount` codes of
//! `length` characters of `[a-zA-Z0-9]`, shown as `XXXXX-XXXXX`; stored as the JSON array,
//! `symmetricEncrypt`ed by default. A code is spent by writing the remaining ones back.
//!
//! Must never: log a code, or compare codes with `==` (membership is checked in constant time
//! over every code).

use super::config::{BackupCodesConfig, StoreBackupCodes};
use crate::crypto::symmetric::Keys;

const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// New codes, formatted `XXXXX-XXXXX` (the dash after the fifth character).
pub fn generate(cfg: &BackupCodesConfig) -> Vec<String> {
    (0..cfg.amount)
        .map(|_| {
            let c = crate::crypto::random_string(cfg.length, ALPHABET);
            format!("{}-{}", &c[..5], &c[5..])
        })
        .collect()
}

/// The stored form of `codes`.
pub fn encode(codes: &[String], keys: &Keys, store: StoreBackupCodes) -> String {
    let json = serde_json::to_string(codes).unwrap_or_else(|_| "[]".into());
    match store {
        StoreBackupCodes::Encrypted => keys.encrypt(&json),
        StoreBackupCodes::Plain => json,
    }
}

/// The codes of a stored value; `None` when it does not decrypt or parse.
pub fn decode(stored: &str, keys: &Keys, store: StoreBackupCodes) -> Option<Vec<String>> {
    let json = match store {
        StoreBackupCodes::Encrypted => keys.decrypt(stored)?,
        StoreBackupCodes::Plain => stored.to_string(),
    };
    serde_json::from_str(&json).ok()
}

/// The codes left once `code` is spent, or `None` when `code` is not one of them. Every code is
/// compared, in constant time.
pub fn spend(codes: &[String], code: &str) -> Option<Vec<String>> {
    let mut found = false;
    let mut left = Vec::with_capacity(codes.len());
    for c in codes {
        let hit = crate::crypto::ct_eq(c.as_bytes(), code.as_bytes());
        found |= hit;
        if !hit {
            left.push(c.clone());
        }
    }
    found.then_some(left)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_better_auths_shape_and_round_trip() {
        let cfg = BackupCodesConfig::default();
        let codes = generate(&cfg);
        assert_eq!(codes.len(), 10);
        for c in &codes {
            assert_eq!(c.len(), 11);
            assert_eq!(&c[5..6], "-");
            assert!(c.bytes().filter(|b| *b != b'-').all(|b| b.is_ascii_alphanumeric()));
        }
        let keys = Keys::single("better-auth-secret-12345678901234567890");
        let stored = encode(&codes, &keys, StoreBackupCodes::Encrypted);
        assert!(crate::crypto::symmetric::looks_encrypted(&stored));
        assert_eq!(decode(&stored, &keys, StoreBackupCodes::Encrypted).unwrap(), codes);
        assert_eq!(decode(&stored, &Keys::single("other"), StoreBackupCodes::Encrypted), None);
        let plain = encode(&codes, &keys, StoreBackupCodes::Plain);
        assert_eq!(plain, serde_json::to_string(&codes).unwrap());
    }

    #[test]
    fn spending_removes_exactly_that_code() {
        let codes: Vec<String> = ["aaaaa-aaaaa", "bbbbb-bbbbb"].map(String::from).to_vec();
        assert_eq!(spend(&codes, "bbbbb-bbbbb").unwrap(), ["aaaaa-aaaaa"]);
        assert_eq!(spend(&codes, "BBBBB-BBBBB"), None, "case-sensitive");
        assert_eq!(spend(&codes, "bbbbbbbbbb"), None, "dash included");
    }
}
