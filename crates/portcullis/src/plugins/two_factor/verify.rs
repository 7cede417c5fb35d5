//! The second factor: `verify-totp`, `verify-backup-code`, `send-otp`, `verify-otp` (spec plugins
//! §1.5). Each works for a signed-in user or for the sign-in challenge ([`Verifier`]).

use super::account::{failed, rotate, set_enabled};
use super::challenge::{self, enabled_for};
use super::config::{OtpSender, StoreOtp};
use super::verifier::Verifier;
use super::{backup, errors, keys, row, settings, sms, totp};
use crate::app::Auth;
use crate::crypto;
use crate::error::{codes, ApiError, ApiResult};
use crate::http::input::{Input, Obj, Shape, Valid};
use crate::http::reply::Reply;
use crate::session::{MaybeSensitiveSession, RequestMeta};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Extension;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};

/// Attempts per sign-in challenge (TOTP and backup codes together), as Better Auth.
const CHALLENGE_ATTEMPTS: u32 = 5;

/// `{code: string, trustDevice?: boolean}`
pub struct CodeBody {
    code: String,
    trust_device: bool,
}

impl Input for CodeBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        CodeBody { code: o.string("code"), trust_device: o.opt_bool("trustDevice").unwrap_or(false) }
    }
}

/// `{code, disableSession?, trustDevice?}`
pub struct BackupBody {
    code: String,
    disable_session: bool,
    trust_device: bool,
}

impl Input for BackupBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        BackupBody {
            code: o.string("code"),
            disable_session: o.opt_bool("disableSession").unwrap_or(false),
            trust_device: o.opt_bool("trustDevice").unwrap_or(false),
        }
    }
}

/// `{trustDevice?}` or no body.
pub struct SendBody;

impl Input for SendBody {
    const SHAPE: Shape = Shape::OptionalObject;
    fn parse(o: &mut Obj<'_>) -> Self {
        o.opt_bool("trustDevice");
        SendBody
    }
}

fn no_secret() -> ApiError {
    ApiError::internal("a two-factor secret does not decrypt with the configured secrets")
}

/// `POST /two-factor/verify-totp`
pub async fn verify_totp(
    State(auth): State<Auth>,
    Valid(b): Valid<CodeBody>,
    MaybeSensitiveSession(cur): MaybeSensitiveSession,
    meta: RequestMeta,
    headers: HeaderMap,
) -> ApiResult<Reply> {
    let cfg = settings(&auth);
    if cfg.totp.disable {
        return Err(errors::totp_not_configured());
    }
    let v = Verifier::resolve(&auth, &headers, cur).await?;
    let user = v.user();
    let r = row::find(&auth, &user.id).await?.ok_or(errors::TOTP_NOT_ENABLED)?;
    // An enrolment challenge (`required_for_roles`): the first code verifies the new secret.
    let enrolling = v.is_sign_in() && !enabled_for(user) && challenge::required_for(cfg, user);
    if v.is_sign_in() {
        if r.verified == Some(false) && !enrolling {
            return Err(errors::TOTP_NOT_ENABLED);
        }
        row::assert_not_locked(&auth, &r).await?;
    }
    let attempt = v.begin_attempt(&auth, CHALLENGE_ATTEMPTS).await?;
    let Some(secret) = keys(&auth).decrypt(&r.secret) else {
        if let Some(a) = &attempt {
            a.restore(&auth).await;
        }
        return Err(no_secret());
    };
    let ok = totp::verify(&totp::key_of(&secret), &b.code, auth.now().timestamp_millis(), cfg.totp.period, cfg.totp.digits);
    if !ok {
        if let Some(a) = &attempt {
            a.failed(&auth).await;
            row::record_failure(&auth, &r).await?;
        }
        return Err(failed(&auth, &meta, v.is_sign_in(), user, errors::INVALID_CODE).await);
    }
    if v.is_sign_in() {
        row::reset_failures(&auth, &r).await?;
    }
    let mut cookies = Vec::new();
    if r.verified != Some(true) {
        if let (Verifier::Session(cur), false) = (&v, enabled_for(user)) {
            let updated = set_enabled(&auth, user, true, &meta).await?;
            match rotate(&auth, cur, &updated, &meta, &headers).await? {
                Ok((_, c)) => cookies = c,
                Err(answer) => return Ok(answer),
            }
        }
        row::set(&auth, &r.id, json!({ "verified": true })).await?;
    }
    let v = match v {
        Verifier::Challenge { identifier, row, user, dont_remember } if enrolling => {
            let user = set_enabled(&auth, &user, true, &meta).await?;
            Verifier::Challenge { identifier, row, user, dont_remember }
        }
        v => v,
    };
    // With a session, Better Auth answers the request's session (the rotated one is in the cookie).
    Ok(v.valid(&auth, &meta, &headers, b.trust_device).await?.cookies(cookies))
}

/// `POST /two-factor/verify-backup-code`
pub async fn verify_backup_code(
    State(auth): State<Auth>,
    Valid(b): Valid<BackupBody>,
    MaybeSensitiveSession(cur): MaybeSensitiveSession,
    meta: RequestMeta,
    headers: HeaderMap,
) -> ApiResult<Reply> {
    let cfg = settings(&auth);
    let v = Verifier::resolve(&auth, &headers, cur).await?.not_enrolling()?;
    let r = row::find(&auth, &v.user().id).await?.ok_or(errors::BACKUP_CODES_NOT_ENABLED)?;
    if v.is_sign_in() {
        row::assert_not_locked(&auth, &r).await?;
    }
    let attempt = v.begin_attempt(&auth, CHALLENGE_ATTEMPTS).await?;
    let store = cfg.backup_codes.store_backup_codes;
    let keys = keys(&auth);
    let left = backup::decode(&r.backup_codes, &keys, store).and_then(|codes| backup::spend(&codes, &b.code));
    let Some(left) = left else {
        if let Some(a) = &attempt {
            a.failed(&auth).await;
            row::record_failure(&auth, &r).await?;
        }
        return Err(failed(&auth, &meta, v.is_sign_in(), v.user(), errors::INVALID_BACKUP_CODE).await);
    };
    if !row::swap_codes(&auth, &r.id, &r.backup_codes, &backup::encode(&left, &keys, store)).await? {
        if let Some(a) = &attempt {
            a.restore(&auth).await;
        }
        return Err(ApiError::uncoded(StatusCode::CONFLICT, "Failed to verify backup code. Please try again."));
    }
    if v.is_sign_in() {
        row::reset_failures(&auth, &r).await?;
    }
    if !b.disable_session {
        return v.valid(&auth, &meta, &headers, b.trust_device).await;
    }
    let token = match &v {
        Verifier::Session(c) => Some(c.session.token.as_str()),
        Verifier::Challenge { .. } => None,
    };
    let mut out = serde_json::Map::new();
    if let Some(t) = token {
        out.insert("token".into(), t.into());
    }
    out.insert("user".into(), serde_json::to_value(v.user()).map_err(ApiError::internal)?);
    Ok(Reply::json(&out))
}

/// The stored form of a sign-in code (`otpOptions.storeOTP`).
fn stored_otp(auth: &Auth, otp: &str, how: StoreOtp) -> String {
    match how {
        StoreOtp::Plain => otp.to_string(),
        StoreOtp::Hashed => B64.encode(Sha256::digest(otp.as_bytes())),
        StoreOtp::Encrypted => keys(auth).encrypt(otp),
    }
}

/// Whether `input` is the code a row stores, in constant time.
fn otp_matches(auth: &Auth, stored: &str, input: &str, how: StoreOtp) -> bool {
    match how {
        StoreOtp::Plain => crypto::ct_eq(stored.as_bytes(), input.as_bytes()),
        StoreOtp::Hashed => crypto::ct_eq(stored.as_bytes(), B64.encode(Sha256::digest(input.as_bytes())).as_bytes()),
        StoreOtp::Encrypted => keys(auth).decrypt(stored).is_some_and(|s| crypto::ct_eq(s.as_bytes(), input.as_bytes())),
    }
}

/// `POST /two-factor/send-otp`
pub async fn send_otp(
    State(auth): State<Auth>,
    Extension(sender): Extension<sms::Sender>,
    Valid(_): Valid<SendBody>,
    MaybeSensitiveSession(cur): MaybeSensitiveSession,
    headers: HeaderMap,
) -> ApiResult<Reply> {
    let cfg = settings(&auth);
    if !cfg.otp_on() {
        return Err(errors::otp_not_configured());
    }
    let v = Verifier::resolve(&auth, &headers, cur).await?.not_enrolling()?;
    let user = v.user();
    let otp = crypto::random_string(cfg.otp.digits as usize, b"0123456789");
    let expires = auth.now() + challenge::secs(cfg.otp.period.saturating_mul(60));
    let value = format!("{}:0", stored_otp(&auth, &otp, cfg.otp.store_otp));
    auth.store.create_verification(&challenge::verification_row(&auth, format!("2fa-otp-{}", v.key()), value, expires)).await?;
    match cfg.otp.sender {
        OtpSender::Email => {
            auth.send_mail(super::TWO_FACTOR_OTP, &user.email, json!({ "otp": otp, "user_name": user.name }));
        }
        OtpSender::Sms => sender.send(&auth, user, otp),
        OtpSender::None => {}
    }
    Ok(Reply::json(&json!({ "status": true })))
}

/// `POST /two-factor/verify-otp`
pub async fn verify_otp(
    State(auth): State<Auth>,
    Valid(b): Valid<CodeBody>,
    MaybeSensitiveSession(cur): MaybeSensitiveSession,
    meta: RequestMeta,
    headers: HeaderMap,
) -> ApiResult<Reply> {
    let cfg = settings(&auth);
    let v = Verifier::resolve(&auth, &headers, cur).await?.not_enrolling()?;
    let r = if v.is_sign_in() { row::find(&auth, &v.user().id).await? } else { None };
    if let Some(r) = &r {
        row::assert_not_locked(&auth, r).await?;
    }
    let identifier = format!("2fa-otp-{}", v.key());
    let consumed = challenge::consume(&auth, &identifier).await?.ok_or(errors::OTP_HAS_EXPIRED)?;
    let (stored, attempts) = consumed.value.rsplit_once(':').unwrap_or((consumed.value.as_str(), "0"));
    let attempts: u32 = attempts.parse().unwrap_or(0);
    if attempts >= cfg.otp.allowed_attempts {
        return Err(errors::TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE);
    }
    if !otp_matches(&auth, stored, &b.code, cfg.otp.store_otp) {
        let again = challenge::verification_row(&auth, identifier, format!("{stored}:{}", attempts + 1), consumed.expires_at);
        auth.store.create_verification(&again).await?;
        if let Some(r) = &r {
            row::record_failure(&auth, r).await?;
        }
        return Err(failed(&auth, &meta, v.is_sign_in(), v.user(), errors::INVALID_CODE).await);
    }
    if let Some(r) = &r {
        row::reset_failures(&auth, r).await?;
    }
    if !enabled_for(v.user()) {
        // Enrolment by e-mailed code: only for a signed-in user.
        let Verifier::Session(cur) = &v else { return Err(codes::FAILED_TO_CREATE_SESSION) };
        let updated = set_enabled(&auth, &cur.user, true, &meta).await?;
        return Ok(match rotate(&auth, cur, &updated, &meta, &headers).await? {
            Ok((token, cookies)) => Reply::json(&json!({ "token": token, "user": updated })).cookies(cookies),
            Err(answer) => answer,
        });
    }
    v.valid(&auth, &meta, &headers, b.trust_device).await
}
