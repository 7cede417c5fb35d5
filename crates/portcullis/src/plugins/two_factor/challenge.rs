//! The sign-in challenge (spec plugins §1.4): instead of a session, an enrolled user signing in
//! with an intercepted method gets `{"twoFactorRedirect": true, "twoFactorMethods": [...]}` and the
//! signed `two_factor` cookie naming a verification row (`2fa-<20>` → user id, 10 minutes) with its
//! attempt counter (`2fa-attempts-2fa-<20>` → `"0"`). A trusted device (`trust_device` cookie
//! `HMAC(userId!id)!id` and its row `trust-device-<32>` → user id) skips the challenge, and the
//! record is rotated at each such sign-in.
//!
//! No session row exists until a second factor succeeds: the hook runs before the session is born
//! (Better Auth creates it and deletes it again; the wire is the same).
//!
//! Must never: answer differently for a user without two-factor (the hook returns at once on
//! `twoFactorEnabled`), accept a challenge or trust record of another user, or let one challenge
//! make two sessions (it is consumed before the session is created).

use super::{errors, row, settings};
use crate::app::Auth;
use crate::crypto::{self, sign};
use crate::error::{ApiError, ApiResult};
use crate::http::cookies::{self, AuthCookie};
use crate::http::reply::Reply;
use crate::session::hooks::{self, Decision, Method, SignIn};
use crate::store::model::{User, Verification};
use axum::http::{HeaderMap, HeaderValue};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

pub const TWO_FACTOR_COOKIE: &str = "two_factor";
pub const TRUST_DEVICE_COOKIE: &str = "trust_device";

pub fn two_factor_cookie(auth: &Auth) -> AuthCookie {
    auth.cookies.cookie(TWO_FACTOR_COOKIE, Some(settings(auth).two_factor_cookie_max_age))
}
pub fn trust_cookie(auth: &Auth) -> AuthCookie {
    auth.cookies.cookie(TRUST_DEVICE_COOKIE, Some(settings(auth).trust_device_max_age))
}

/// Whether the user has two-factor on (the `twoFactorEnabled` field of the row already read).
pub fn enabled_for(user: &User) -> bool {
    user.extra.get("twoFactorEnabled").and_then(|v| v.as_bool()).unwrap_or(false)
}

/// Whether the configuration intercepts this sign-in method.
pub fn intercepts(list: &[String], method: &Method) -> bool {
    let name = match method {
        Method::Email => "email",
        Method::Social(_) => "social",
        Method::IdToken(_) => "id-token",
        Method::Other(m) => m,
        Method::SignUp | Method::VerifyEmail | Method::ChangePassword => return false,
    };
    list.iter().any(|m| m == name)
}

pub fn secs(s: u64) -> Duration {
    Duration::seconds(i64::try_from(s.min(1 << 40)).unwrap_or(1 << 40))
}

/// A signed cookie's verified value.
pub fn signed_cookie(auth: &Auth, headers: &HeaderMap, name: &str) -> Option<String> {
    cookies::get_signed(headers, name, auth.secrets())
}

fn signed(auth: &Auth, value: &str) -> String {
    cookies::signed_value(auth.secret(), value)
}

fn verification(auth: &Auth, identifier: String, value: String, expires_at: DateTime<Utc>) -> Verification {
    let now = auth.now();
    Verification { id: auth.new_id(), identifier, value, expires_at, created_at: now, updated_at: now }
}

/// Better Auth's `consumeVerificationValue`: removes the newest row of `identifier` and returns
/// it, when it has not expired; only the one caller that removed it gets it.
pub async fn consume(auth: &Auth, identifier: &str) -> ApiResult<Option<Verification>> {
    let Some(v) = auth.store.find_verification(identifier).await? else { return Ok(None) };
    if !auth.store.consume_verification(&v.id).await? || v.expires_at <= auth.now() {
        return Ok(None);
    }
    Ok(Some(v))
}

// ---- the before-session hook

pub async fn before_session(auth: &Auth, s: &SignIn<'_>) -> Decision {
    let cfg = settings(auth);
    if !enabled_for(s.user) || !intercepts(&cfg.intercept, &s.method) {
        return Decision::Continue;
    }
    match challenge(auth, s).await {
        Ok(Some(reply)) => Decision::Answer(reply),
        Ok(None) => Decision::Continue,
        Err(e) => Decision::Refuse(e),
    }
}

/// `None`: a trusted device, sign in. `Some`: the challenge answer.
async fn challenge(auth: &Auth, s: &SignIn<'_>) -> ApiResult<Option<Reply>> {
    let cfg = settings(auth);
    let trust = trust_cookie(auth);
    let presented = signed_cookie(auth, s.headers, &trust.name);
    if let Some(value) = &presented {
        if let Some(id) = trusted(auth, &s.user.id, value).await? {
            // Rotate: the old record goes, a new one (and cookie) comes.
            if let Some(old) = auth.store.find_verification(&id).await? {
                auth.store.consume_verification(&old.id).await?;
            }
            hooks::set_cookie(new_trust_record(auth, &s.user.id).await?);
            return Ok(None);
        }
    }
    let c = &auth.cookies;
    let mut out = vec![c.session_token.delete(), c.session_data.delete()];
    if presented.is_some() || cookies::get(s.headers, &trust.name).is_some() {
        out.push(trust.delete());
    }
    let identifier = format!("2fa-{}", crypto::random_string(20, crypto::URL_SAFE_ALPHABET));
    let expires = auth.now() + secs(cfg.two_factor_cookie_max_age);
    auth.store.create_verification(&verification(auth, identifier.clone(), s.user.id.clone(), expires)).await?;
    auth.store.create_verification(&verification(auth, format!("2fa-attempts-{identifier}"), "0".into(), expires)).await?;
    out.push(two_factor_cookie(auth).set(&signed(auth, &identifier)));
    if !s.remember {
        out.push(c.dont_remember.set(&signed(auth, "true")));
    } else if crate::session::dont_remember_from(auth, s.headers) {
        out.push(c.dont_remember.delete());
    }
    let mut methods = Vec::new();
    if !cfg.totp.disable && row::find(auth, &s.user.id).await?.is_some_and(|r| r.verified != Some(false)) {
        methods.push("totp");
    }
    if cfg.otp_on() {
        methods.push("otp");
    }
    let reply = match (&s.method, cfg.two_factor_page.as_deref()) {
        // A provider callback is a browser navigation: it goes to the app's challenge page.
        (Method::Social(_), Some(page)) => Reply::redirect(page),
        _ => Reply::json(&json!({ "twoFactorRedirect": true, "twoFactorMethods": methods })),
    };
    Ok(Some(reply.cookies(out)))
}

// ---- trusted devices

fn trust_token(secret: &str, user_id: &str, id: &str) -> String {
    B64.encode(sign::hmac_sha256(secret.as_bytes(), format!("{user_id}!{id}").as_bytes()))
}

/// The trust record id of a valid `trust_device` cookie value for `user_id`: the HMAC matches and
/// the record exists, is the user's and has not expired.
pub async fn trusted(auth: &Auth, user_id: &str, value: &str) -> ApiResult<Option<String>> {
    let mut parts = value.split('!');
    let (Some(token), Some(id)) = (parts.next(), parts.next()) else { return Ok(None) };
    if token.is_empty() || id.is_empty() {
        return Ok(None);
    }
    let mut ok = false;
    for secret in auth.secrets() {
        ok |= crypto::ct_eq(trust_token(secret, user_id, id).as_bytes(), token.as_bytes());
    }
    if !ok {
        return Ok(None);
    }
    let record = auth.store.find_verification(id).await?;
    let live = record.is_some_and(|r| crypto::ct_eq(r.value.as_bytes(), user_id.as_bytes()) && r.expires_at > auth.now());
    Ok(live.then(|| id.to_string()))
}

/// Stores a new trust record for `user_id`; returns its cookie.
pub async fn new_trust_record(auth: &Auth, user_id: &str) -> ApiResult<HeaderValue> {
    let id = format!("trust-device-{}", crypto::random_string(32, crypto::URL_SAFE_ALPHABET));
    let expires = auth.now() + secs(settings(auth).trust_device_max_age);
    auth.store.create_verification(&verification(auth, id.clone(), user_id.to_string(), expires)).await?;
    let value = format!("{}!{id}", trust_token(auth.secret(), user_id, &id));
    Ok(trust_cookie(auth).set(&signed(auth, &value)))
}

/// Forgets the trusted device of this request (`disable`): its record and its cookie.
pub async fn forget_device(auth: &Auth, headers: &HeaderMap) -> ApiResult<Option<HeaderValue>> {
    let cookie = trust_cookie(auth);
    let Some(value) = signed_cookie(auth, headers, &cookie.name) else { return Ok(None) };
    if let Some(id) = value.split('!').nth(1).filter(|id| !id.is_empty()) {
        if let Some(v) = auth.store.find_verification(id).await? {
            auth.store.consume_verification(&v.id).await?;
        }
    }
    Ok(Some(cookie.delete()))
}

/// A new challenge-attempt counter value, and what to answer when it is spent.
pub fn too_many(auth: &Auth) -> ApiError {
    hooks::set_cookie(two_factor_cookie(auth).delete());
    errors::TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE
}

pub fn verification_row(auth: &Auth, identifier: String, value: String, expires_at: DateTime<Utc>) -> Verification {
    verification(auth, identifier, value, expires_at)
}
