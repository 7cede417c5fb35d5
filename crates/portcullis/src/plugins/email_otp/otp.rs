//! Codes: how they are made, kept and checked (Better Auth 1.7.24's `resolveOTP`, `storeOTP`,
//! `verifyStoredOTP` and `atomicVerifyOTP`).
//!
//! A code lives in the verification row `<type>-otp-<email>` (`change-email-otp-<userId>:<new
//! email>` for a change of address) as `"<stored>:<attempts>"`, read at the last colon, where
//! `stored` is the code, its base64url SHA-256, or its `symmetricEncrypt`ion, as `store_otp` says.
//!
//! Checking takes the row atomically ([`Store::take_verification`](crate::store::Store::take_verification)),
//! so of concurrent guesses only one is compared: a wrong guess puts the row back with one more
//! attempt and the same expiry, a right one leaves it taken (or, for the non-consuming checks, puts
//! it back unchanged), and a row out of attempts stays taken. Every comparison is constant time.

use super::config::{EmailOtpConfig, ResendStrategy, StoreOtp};
use super::errors;
use crate::app::Auth;
use crate::crypto::{self, symmetric::Keys};
use crate::error::ApiResult;
use crate::store::model::Verification;
use chrono::{DateTime, Duration, Utc};

/// Better Auth's OTP types, in its order.
pub const TYPES: [&str; 4] = ["email-verification", "sign-in", "forget-password", "change-email"];

/// `<type>-otp-<email>`
pub fn identifier(kind: &str, email: &str) -> String {
    format!("{kind}-otp-{email}")
}

fn keys(auth: &Auth) -> Keys {
    Keys::from_config(&auth.config)
}

/// The stored form of a code.
fn stored_form(auth: &Auth, cfg: &EmailOtpConfig, otp: &str) -> String {
    match cfg.store_otp {
        StoreOtp::Plain => otp.to_string(),
        StoreOtp::Hashed => crypto::sha256_b64url(otp),
        StoreOtp::Encrypted => keys(auth).encrypt(otp),
    }
}

/// Whether `provided` is the code stored as `stored`, in constant time.
fn matches(auth: &Auth, cfg: &EmailOtpConfig, stored: &str, provided: &str) -> bool {
    match cfg.store_otp {
        StoreOtp::Plain => crypto::ct_eq(provided.as_bytes(), stored.as_bytes()),
        StoreOtp::Hashed => crypto::ct_eq(crypto::sha256_b64url(provided).as_bytes(), stored.as_bytes()),
        StoreOtp::Encrypted => keys(auth).decrypt(stored).is_some_and(|plain| crypto::ct_eq(plain.as_bytes(), provided.as_bytes())),
    }
}

/// The code back from its stored form, when it can be (`retrieveOTP`).
fn recover(auth: &Auth, cfg: &EmailOtpConfig, stored: &str) -> Option<String> {
    match cfg.store_otp {
        StoreOtp::Plain => Some(stored.to_string()),
        StoreOtp::Hashed => None,
        StoreOtp::Encrypted => keys(auth).decrypt(stored),
    }
}

/// `splitAtLastColon`: `(stored, attempts)`.
fn split(value: &str) -> (&str, &str) {
    value.rsplit_once(':').unwrap_or((value, ""))
}

/// JavaScript's `parseInt(attempts || "0")` for the counts Better Auth writes (a value that is not
/// a count reads as 0).
fn attempts(s: &str) -> u32 {
    let digits: String = s.trim_start().chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(if digits.is_empty() { 0 } else { u32::MAX })
}

fn row(auth: &Auth, identifier: &str, value: String, expires_at: DateTime<Utc>) -> Verification {
    let now = auth.now();
    Verification { id: auth.new_id(), identifier: identifier.to_string(), value, expires_at, created_at: now, updated_at: now }
}

/// A new random code (`generateRandomString(otpLength, "0-9")`).
pub fn generate(cfg: &EmailOtpConfig) -> String {
    crypto::random_string(cfg.otp_length, b"0123456789")
}

/// Stores `otp` as the only code of `identifier`, with no attempt used.
pub async fn store(auth: &Auth, cfg: &EmailOtpConfig, identifier: &str, otp: &str) -> ApiResult<()> {
    let expires_at = auth.now() + Duration::seconds(cfg.expires_in as i64);
    let v = row(auth, identifier, format!("{}:0", stored_form(auth, cfg, otp)), expires_at);
    auth.store.delete_verifications(identifier).await?;
    auth.store.create_verification(&v).await?;
    Ok(())
}

/// `resolveOTP`: the code to send for `identifier`: with `resend_strategy = "reuse"` the current
/// one (its expiry renewed) when it is still valid, has attempts left and can be recovered;
/// otherwise a new one, stored.
pub async fn issue(auth: &Auth, cfg: &EmailOtpConfig, identifier: &str) -> ApiResult<String> {
    if cfg.resend_strategy == ResendStrategy::Reuse {
        if let Some(otp) = reuse(auth, cfg, identifier).await? {
            return Ok(otp);
        }
    }
    let otp = generate(cfg);
    store(auth, cfg, identifier, &otp).await?;
    Ok(otp)
}

async fn reuse(auth: &Auth, cfg: &EmailOtpConfig, identifier: &str) -> ApiResult<Option<String>> {
    let Some(v) = auth.store.find_verification(identifier).await? else { return Ok(None) };
    let (stored, used) = split(&v.value);
    if v.expires_at < auth.now() || attempts(used) >= cfg.allowed_attempts {
        return Ok(None);
    }
    let Some(otp) = recover(auth, cfg, stored) else { return Ok(None) };
    // `updateVerificationByIdentifier(identifier, {expiresAt})`: the same value, a new expiry.
    let renewed = row(auth, identifier, v.value.clone(), auth.now() + Duration::seconds(cfg.expires_in as i64));
    auth.store.delete_verifications(identifier).await?;
    auth.store.create_verification(&renewed).await?;
    Ok(Some(otp))
}

/// What a correct code does to its row.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum OnSuccess {
    /// Leaves it taken (sign-in, verify-email, a password reset's final step).
    Consume,
    /// Puts it back unchanged, for the call that follows (check-verification-otp, a reset's
    /// preflight).
    Restore,
}

/// `atomicVerifyOTP`: 400 `OTP_EXPIRED` (the row is removed), 400 `INVALID_OTP` (no row, a lost
/// race, or a wrong code, which costs an attempt), 403 `TOO_MANY_ATTEMPTS`.
pub async fn verify(auth: &Auth, cfg: &EmailOtpConfig, identifier: &str, provided: &str, on_success: OnSuccess) -> ApiResult<()> {
    let now = auth.now();
    if auth.store.find_verification(identifier).await?.is_some_and(|v| v.expires_at < now) {
        auth.store.delete_verifications(identifier).await?;
        return Err(errors::OTP_EXPIRED);
    }
    let Some(taken) = auth.store.take_verification(identifier, now).await? else { return Err(errors::INVALID_OTP) };
    let (stored, used) = split(&taken.value);
    let used = attempts(used);
    if used >= cfg.allowed_attempts {
        return Err(errors::TOO_MANY_ATTEMPTS);
    }
    if !matches(auth, cfg, stored, provided) {
        let again = row(auth, identifier, format!("{stored}:{}", used.saturating_add(1)), taken.expires_at);
        auth.store.create_verification(&again).await?;
        return Err(errors::INVALID_OTP);
    }
    if on_success == OnSuccess::Consume {
        return Ok(());
    }
    if auth.store.find_verification(identifier).await?.is_some() {
        return Err(errors::INVALID_OTP);
    }
    auth.store.create_verification(&row(auth, identifier, taken.value.clone(), taken.expires_at)).await?;
    Ok(())
}

/// Better Auth's server-only `createVerificationOTP` (not routed over HTTP): stores a new code of
/// `kind` for `email` and returns it, for an embedding app that delivers codes itself.
pub async fn create_verification_otp(auth: &Auth, email: &str, kind: &str) -> ApiResult<String> {
    let cfg: &EmailOtpConfig = auth.config.section();
    let code = generate(cfg);
    store(auth, cfg, &identifier(kind, &email.to_lowercase()), &code).await?;
    Ok(code)
}

/// Better Auth's server-only `getVerificationOTP`: the valid code of `kind` for `email`, when
/// there is one and `store_otp` lets it be read back (`None` for a hashed one).
pub async fn get_verification_otp(auth: &Auth, email: &str, kind: &str) -> ApiResult<Option<String>> {
    let cfg: &EmailOtpConfig = auth.config.section();
    let Some(v) = auth.store.find_verification(&identifier(kind, &email.to_lowercase())).await? else { return Ok(None) };
    if v.expires_at < auth.now() {
        return Ok(None);
    }
    Ok(recover(auth, cfg, split(&v.value).0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_split_at_the_last_colon() {
        assert_eq!(split("123456:0"), ("123456", "0"));
        assert_eq!(split("$ba$1$abcd:2"), ("$ba$1$abcd", "2"));
        assert_eq!(split("a:b:3"), ("a:b", "3"));
        assert_eq!(split("nocolon"), ("nocolon", ""));
    }

    #[test]
    fn attempts_read_like_parse_int() {
        assert_eq!(attempts(""), 0);
        assert_eq!(attempts("2"), 2);
        assert_eq!(attempts("3x"), 3);
        assert_eq!(attempts("x"), 0);
        assert_eq!(attempts("99999999999"), u32::MAX);
    }
}
