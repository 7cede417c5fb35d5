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

use super::config::TwoFactorConfig;
use super::{errors, row, settings};
use crate::access;
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

/// Whether `required_for_roles` names a role the user holds (the user field `role`).
pub fn required_for(cfg: &TwoFactorConfig, user: &User) -> bool {
    if cfg.required_for_roles.is_empty() {
        return false;
    }
    let role = user.extra.get(access::ROLE_FIELD).or_else(|| user.hidden.get(access::ROLE_FIELD)).and_then(|v| v.as_str());
    access::holds_any(role, &cfg.required_for_roles)
}

/// Sign-ins `required_for_roles` does not challenge: the one completing a challenge (or rotating
/// the session after an enrolment change), a password change inside a session that passed, and an
/// impersonation (the admin passed their own second factor).
fn exempt(method: &Method) -> bool {
    matches!(method, Method::Other("two-factor" | "impersonation") | Method::ChangePassword)
}

pub async fn before_session(auth: &Auth, s: &SignIn<'_>) -> Decision {
    let cfg = settings(auth);
    let required = required_for(cfg, s.user) && !exempt(&s.method);
    let enabled = enabled_for(s.user);
    let challenged = required || (enabled && intercepts(&cfg.intercept, &s.method));
    if !challenged {
        return Decision::Continue;
    }
    let answer = if enabled { challenge(auth, s, !required).await } else { enrolment(auth, s).await.map(Some) };
    match answer {
        Ok(Some(reply)) => Decision::Answer(reply),
        Ok(None) => Decision::Continue,
        Err(e) => Decision::Refuse(e),
    }
}

/// The challenge's rows and cookies (`two_factor`, the session cookies cleared, dont-remember).
async fn open_challenge(auth: &Auth, s: &SignIn<'_>, mut out: Vec<HeaderValue>) -> ApiResult<Vec<HeaderValue>> {
    let cfg = settings(auth);
    let c = &auth.cookies;
    out.extend([c.session_token.delete(), c.session_data.delete()]);
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
    Ok(out)
}

/// A user who must have two-factor but has not enrolled: no session, the enrolment challenge
/// instead. The `two_factor` cookie lets `/two-factor/enable` and then `/two-factor/verify-totp`
/// (or `send-otp`/`verify-otp` after an OTP enrolment) act for this user; the first verified code
/// turns two-factor on and creates the session. JSON sign-ins answer
/// `{"twoFactorRedirect": true, "twoFactorMethods": [], "twoFactorSetupRequired": true,
/// "url": <setup_page>}` (the official client's `onTwoFactorRedirect` fires); a provider callback
/// redirects the browser to `setup_page`.
async fn enrolment(auth: &Auth, s: &SignIn<'_>) -> ApiResult<Reply> {
    let cfg = settings(auth);
    let out = open_challenge(auth, s, Vec::new()).await?;
    let page = cfg.setup_page.clone().unwrap_or_default();
    let reply = match &s.method {
        Method::Social(_) => Reply::redirect(&page),
        _ => Reply::json(&json!({ "twoFactorRedirect": true, "twoFactorMethods": [], "twoFactorSetupRequired": true, "url": page })),
    };
    Ok(reply.cookies(out))
}

/// `None`: a trusted device (honoured unless `required_for_roles` applies), sign in. `Some`: the
/// challenge answer.
async fn challenge(auth: &Auth, s: &SignIn<'_>, honour_trust: bool) -> ApiResult<Option<Reply>> {
    let cfg = settings(auth);
    let trust = trust_cookie(auth);
    let presented = signed_cookie(auth, s.headers, &trust.name);
    if let (Some(value), true) = (&presented, honour_trust) {
        if let Some(id) = trusted(auth, &s.user.id, value).await? {
            // Rotate: the old record goes, a new one (and cookie) comes.
            if let Some(old) = auth.store.find_verification(&id).await? {
                auth.store.consume_verification(&old.id).await?;
            }
            hooks::set_cookie(new_trust_record(auth, &s.user.id).await?);
            return Ok(None);
        }
    }
    let mut out = Vec::new();
    if presented.is_some() || cookies::get(s.headers, &trust.name).is_some() {
        out.push(trust.delete());
    }
    let out = open_challenge(auth, s, out).await?;
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
