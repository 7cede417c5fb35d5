//! Password hashes written by other systems, kept as they were imported (`portcullis import`)
//! and verified on the account's first sign-in, which then re-hashes the password with argon2id:
//! bcrypt (`$2a$`, `$2b$`, `$2y$`, `$2x$`), PBKDF2 (PHC `$pbkdf2-sha256$i=…,l=…$salt$hash`,
//! passlib `$pbkdf2-sha256$rounds$salt$hash`, Django `pbkdf2_sha256$rounds$salt$hash`) and
//! scrypt in PHC form (`$scrypt$ln=…,r=…,p=…$salt$hash`).
//!
//! Must never: compare with `==` (bcrypt's crate compares with `subtle`; the rest with
//! [`ct_eq`](crate::crypto::ct_eq)), honour a cost beyond the caps below (a stored hash comes
//! from a database we do not control: a 2^31-round bcrypt would hold a worker for days), or
//! panic on a malformed string. Verification runs on the hashing pool like every other check.

use super::timing::Kind;
use super::PasswordError;
use crate::crypto::ct_eq;
use argon2::password_hash::PasswordHash;
use base64::Engine;
use std::str::FromStr;

/// Largest bcrypt cost honoured (2^16 rounds, about 4 s on one core).
const MAX_BCRYPT_COST: u32 = 16;
/// Largest PBKDF2 iteration count honoured (Django 5 writes 870,000–1,000,000).
const MAX_PBKDF2_ROUNDS: u32 = 5_000_000;
/// Largest scrypt memory honoured: 128 * r * 2^ln bytes, 1 GiB like argon2's cap.
const MAX_SCRYPT_BYTES: u64 = 1 << 30;
const MAX_SCRYPT_P: u32 = 16;
/// Derived keys longer than this are not something a real system wrote.
const MAX_KEY_LEN: usize = 128;

/// The pseudo-random function of a PBKDF2 hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Prf {
    Sha1,
    Sha256,
    Sha512,
}

/// A parsed foreign hash, owned so it can move to a worker.
#[derive(Debug)]
pub(super) enum Legacy {
    /// The whole bcrypt string (the crate re-parses it) and its cost.
    Bcrypt {
        hash: String,
        cost: u32,
    },
    Pbkdf2 {
        prf: Prf,
        rounds: u32,
        salt: Vec<u8>,
        hash: Vec<u8>,
        format: &'static str,
    },
    Scrypt {
        log_n: u8,
        r: u32,
        p: u32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
}

impl Legacy {
    /// `Some` when `s` is in one of this module's formats (then `Err` if it is malformed or too
    /// costly); `None` when it is not one of them at all.
    pub(super) fn parse(s: &str) -> Option<Result<Self, PasswordError>> {
        if s.starts_with("$2") {
            return Some(parse_bcrypt(s));
        }
        if let Some(rest) = s.strip_prefix("$pbkdf2") {
            let prf = match rest.split('$').next() {
                Some("") => Prf::Sha1,
                Some("-sha256") => Prf::Sha256,
                Some("-sha512") => Prf::Sha512,
                _ => return Some(Err(PasswordError::Malformed)),
            };
            return Some(parse_phc_pbkdf2(s, prf).or_else(|_| parse_passlib_pbkdf2(s, prf)));
        }
        if s.starts_with("$scrypt$") {
            return Some(parse_scrypt(s));
        }
        for (prefix, prf) in [("pbkdf2_sha256$", Prf::Sha256), ("pbkdf2_sha1$", Prf::Sha1)] {
            if let Some(rest) = s.strip_prefix(prefix) {
                return Some(parse_django(rest, prf));
            }
        }
        None
    }

    /// The format's name, as the import report gives it.
    pub(super) fn format(&self) -> &'static str {
        match self {
            Legacy::Bcrypt { .. } => "bcrypt",
            Legacy::Pbkdf2 { format, .. } => format,
            Legacy::Scrypt { .. } => "scrypt",
        }
    }

    pub(super) fn kind(&self) -> Kind {
        match self {
            Legacy::Bcrypt { cost, .. } => Kind::Bcrypt { cost: *cost },
            Legacy::Pbkdf2 { prf, rounds, .. } => Kind::Pbkdf2 { sha: *prf as u8, rounds: *rounds },
            Legacy::Scrypt { log_n, r, p, .. } => Kind::ScryptPhc { log_n: *log_n, r: *r, p: *p },
        }
    }

    /// Recomputes the hash of `password` (as typed: other systems do not normalise it) and
    /// compares in constant time. Runs on a hashing worker.
    pub(super) fn matches(&self, password: &str) -> Result<bool, PasswordError> {
        match self {
            Legacy::Bcrypt { hash, .. } => bcrypt::verify(password.as_bytes(), hash).map_err(|_| PasswordError::Malformed),
            Legacy::Pbkdf2 { prf, rounds, salt, hash, .. } => {
                let mut out = vec![0u8; hash.len()];
                let pwd = password.as_bytes();
                match prf {
                    Prf::Sha1 => pbkdf2::pbkdf2_hmac::<sha1::Sha1>(pwd, salt, *rounds, &mut out),
                    Prf::Sha256 => pbkdf2::pbkdf2_hmac::<sha2::Sha256>(pwd, salt, *rounds, &mut out),
                    Prf::Sha512 => pbkdf2::pbkdf2_hmac::<sha2::Sha512>(pwd, salt, *rounds, &mut out),
                }
                Ok(ct_eq(&out, hash))
            }
            Legacy::Scrypt { log_n, r, p, salt, hash } => {
                let params = scrypt::Params::new(*log_n, *r, *p, hash.len()).map_err(|_| PasswordError::Malformed)?;
                let mut out = vec![0u8; hash.len()];
                scrypt::scrypt(password.as_bytes(), salt, &params, &mut out).map_err(|_| PasswordError::Malformed)?;
                Ok(ct_eq(&out, hash))
            }
        }
    }
}

fn parse_bcrypt(s: &str) -> Result<Legacy, PasswordError> {
    let parts = bcrypt::HashParts::from_str(s).map_err(|_| PasswordError::Malformed)?;
    let salt = bcrypt::BASE_64.decode(parts.get_salt()).map_err(|_| PasswordError::Malformed)?;
    if salt.len() != 16 || parts.get_cost() < 4 {
        return Err(PasswordError::Malformed);
    }
    if parts.get_cost() > MAX_BCRYPT_COST {
        return Err(PasswordError::TooCostly);
    }
    Ok(Legacy::Bcrypt { hash: s.to_string(), cost: parts.get_cost() })
}

fn check_rounds(rounds: u32) -> Result<u32, PasswordError> {
    match rounds {
        0 => Err(PasswordError::Malformed),
        r if r > MAX_PBKDF2_ROUNDS => Err(PasswordError::TooCostly),
        r => Ok(r),
    }
}

fn check_key(hash: Vec<u8>) -> Result<Vec<u8>, PasswordError> {
    if hash.len() < 16 || hash.len() > MAX_KEY_LEN {
        return Err(PasswordError::Malformed);
    }
    Ok(hash)
}

/// RustCrypto's PHC form: `$pbkdf2-sha256$i=600000,l=32$<B64 salt>$<B64 hash>`.
fn parse_phc_pbkdf2(s: &str, prf: Prf) -> Result<Legacy, PasswordError> {
    let phc = PasswordHash::new(s).map_err(|_| PasswordError::Malformed)?;
    let rounds = phc.params.get_decimal("i").ok_or(PasswordError::Malformed)?;
    let (salt, hash) = phc_salt_and_hash(&phc)?;
    Ok(Legacy::Pbkdf2 { prf, rounds: check_rounds(rounds)?, salt, hash: check_key(hash)?, format: "pbkdf2" })
}

/// passlib's form: `$pbkdf2-sha256$29000$<ab64 salt>$<ab64 hash>` (base64 with `.` for `+`).
fn parse_passlib_pbkdf2(s: &str, prf: Prf) -> Result<Legacy, PasswordError> {
    let mut it = s.split('$').skip(2);
    let (Some(rounds), Some(salt), Some(hash), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(PasswordError::Malformed);
    };
    let rounds = rounds.parse::<u32>().map_err(|_| PasswordError::Malformed)?;
    let ab64 = |v: &str| base64::engine::general_purpose::STANDARD_NO_PAD.decode(v.replace('.', "+"));
    let (salt, hash) = (ab64(salt).map_err(|_| PasswordError::Malformed)?, ab64(hash).map_err(|_| PasswordError::Malformed)?);
    Ok(Legacy::Pbkdf2 { prf, rounds: check_rounds(rounds)?, salt, hash: check_key(hash)?, format: "pbkdf2" })
}

/// Django's form: `pbkdf2_sha256$<rounds>$<salt, used as its text>$<base64 hash>`.
fn parse_django(rest: &str, prf: Prf) -> Result<Legacy, PasswordError> {
    let mut it = rest.split('$');
    let (Some(rounds), Some(salt), Some(hash), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(PasswordError::Malformed);
    };
    let rounds = rounds.parse::<u32>().map_err(|_| PasswordError::Malformed)?;
    let hash = base64::engine::general_purpose::STANDARD.decode(hash).map_err(|_| PasswordError::Malformed)?;
    if salt.is_empty() {
        return Err(PasswordError::Malformed);
    }
    Ok(Legacy::Pbkdf2 {
        prf,
        rounds: check_rounds(rounds)?,
        salt: salt.as_bytes().to_vec(),
        hash: check_key(hash)?,
        format: "django-pbkdf2",
    })
}

/// RustCrypto's PHC form: `$scrypt$ln=17,r=8,p=1$<B64 salt>$<B64 hash>`.
fn parse_scrypt(s: &str) -> Result<Legacy, PasswordError> {
    let phc = PasswordHash::new(s).map_err(|_| PasswordError::Malformed)?;
    let get = |k: &str| phc.params.get_decimal(k).ok_or(PasswordError::Malformed);
    let (log_n, r, p) = (get("ln")?, get("r")?, get("p")?);
    if log_n == 0 || log_n >= 64 || r == 0 || p == 0 {
        return Err(PasswordError::Malformed);
    }
    if p > MAX_SCRYPT_P || 128u64.saturating_mul(u64::from(r)).saturating_mul(1u64 << log_n) > MAX_SCRYPT_BYTES {
        return Err(PasswordError::TooCostly);
    }
    let (salt, hash) = phc_salt_and_hash(&phc)?;
    Ok(Legacy::Scrypt { log_n: log_n as u8, r, p, salt, hash: check_key(hash)? })
}

fn phc_salt_and_hash(phc: &PasswordHash<'_>) -> Result<(Vec<u8>, Vec<u8>), PasswordError> {
    let mut buf = [0u8; 64];
    let salt = phc.salt.ok_or(PasswordError::Malformed)?.decode_b64(&mut buf).map_err(|_| PasswordError::Malformed)?.to_vec();
    let hash = phc.hash.ok_or(PasswordError::Malformed)?.as_bytes().to_vec();
    Ok((salt, hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made with Python's hashlib (an implementation of its own) for "hunter2-import".
    pub(crate) const VECTORS: [(&str, &str); 6] = [
        ("$2b$04$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie", "correctbatteryhorsestapler"),
        ("$2a$04$UuTkLRZZ6QofpDOlMz32MuuxEHA43WOemOYHPz6.SjsVsyO1tDU96", "password"),
        ("$pbkdf2-sha256$i=1000,l=32$c2FsdHNhbHRzYWx0MTIzNA$P965fEPhrsY7N+ljm/SiB67SYgbhjtFzEGTaTnso4Y8", "hunter2-import"),
        ("$pbkdf2-sha256$1000$c2FsdHNhbHRzYWx0MTIzNA$P965fEPhrsY7N.ljm/SiB67SYgbhjtFzEGTaTnso4Y8", "hunter2-import"),
        ("pbkdf2_sha256$1000$Qx7mK2pZ9wL4$QjVzJBsBd36lXawyv3fuT9eMpA3IEANLUzRnbN+mBOg=", "hunter2-import"),
        ("$scrypt$ln=10,r=8,p=1$c2FsdHNhbHRzYWx0MTIzNA$11LmKudVEoSzT0iO02LmwuK1HZi/xln1eeHlTEvyO+o", "hunter2-import"),
    ];

    #[test]
    fn vectors_verify_and_wrong_passwords_do_not() {
        for (hash, pwd) in VECTORS {
            let l = Legacy::parse(hash).expect("recognised").expect("well formed");
            assert!(l.matches(pwd).unwrap(), "{hash}");
            assert!(!l.matches("wrong").unwrap(), "{hash}");
        }
    }

    #[test]
    fn malformed_and_costly_hashes_are_refused() {
        for bad in [
            "$2b$04$short",
            "$2b$xx$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie",
            "$pbkdf2-sha256$i=0,l=32$c2FsdHNhbHRzYWx0MTIzNA$P965fEPhrsY7N+ljm/SiB67SYgbhjtFzEGTaTnso4Y8",
            "$pbkdf2-md5$1000$c2FsdA$aGFzaA",
            "pbkdf2_sha256$1000$$QjVzJBsBd36lXawyv3fuT9eMpA3IEANLUzRnbN+mBOg=",
            "pbkdf2_sha256$abc$salt$QjVzJBsBd36lXawyv3fuT9eMpA3IEANLUzRnbN+mBOg=",
            "$scrypt$ln=10,r=8$c2FsdHNhbHRzYWx0MTIzNA$11LmKudVEoSzT0iO02LmwuK1HZi/xln1eeHlTEvyO+o",
        ] {
            assert!(matches!(Legacy::parse(bad), Some(Err(PasswordError::Malformed))), "{bad}");
        }
        for costly in [
            "$2b$20$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie",
            "pbkdf2_sha256$99999999$salt$QjVzJBsBd36lXawyv3fuT9eMpA3IEANLUzRnbN+mBOg=",
            "$scrypt$ln=30,r=8,p=1$c2FsdHNhbHRzYWx0MTIzNA$11LmKudVEoSzT0iO02LmwuK1HZi/xln1eeHlTEvyO+o",
        ] {
            assert!(matches!(Legacy::parse(costly), Some(Err(PasswordError::TooCostly))), "{costly}");
        }
        assert!(Legacy::parse("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA").is_none());
        assert!(Legacy::parse("0123:abcd").is_none());
    }
}
