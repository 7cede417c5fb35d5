//! Sessions: create, read (cookie cache or store), refresh, revoke, and the cookies that carry them.
//!
//! A session is a random 32-character token stored with its user; the browser holds it in the
//! signed `session_token` cookie. When the cookie cache is on, a signed `session_data` cookie lets
//! reads skip the store for at most `cookie_cache.max_age` seconds: that is the documented bound on
//! how long a revoked session can still be answered from a cookie. With secondary storage and
//! `cookie_cache.revocation_check`, a cache hit is confirmed by one secondary-storage round trip
//! (an MGET of its key and its user's revoked-before marker, no database access), so revocation
//! is immediate; without secondary storage the check has nothing to ask and the hit stays
//! unconfirmed. Handlers that reveal or mint tokens, re-issue session cookies or change the
//! account use the "sensitive" read, which always goes to the store (the route-by-route table is
//! in `guard`).
//!
//! Where sessions are stored (database, secondary storage, both) is [`store::SessionStore`]'s
//! business; this module and the routes call it without branching on configuration.
//!
//! This module never formats HTTP bodies; routes do.

pub mod changed;
pub mod cookie_cache;
pub mod failed;
mod guard;
pub mod hooks;
mod lookup;
pub(crate) mod revocations;
pub mod revoked;
pub mod store;
pub mod unproven;

pub use guard::{FreshSession, MaybeSensitiveSession, MaybeSession, RequestMeta, SensitiveSession, SessionAuth};

use crate::app::Auth;
use crate::config::CookieCacheStrategy;
use crate::crypto::{self, sign};
use crate::error::ApiResult;
use crate::http::cookies;
use crate::store::model::{Session, User};
use axum::http::{HeaderMap, HeaderValue};
use chrono::Duration;
use cookie_cache::CachePayload;

/// Seconds a "don't remember me" session lives, independent of `expiresIn` (Better Auth §4.5).
const DONT_REMEMBER_TTL: i64 = 86_400;

/// A request extension: the session cookie of this request was made from a credential the client
/// sent in a header (the bearer capability's `Authorization: Bearer`), not sent by a browser, so
/// cross-site request forgery does not apply to it.
#[derive(Debug, Clone, Copy)]
pub struct HeaderCredential;

/// The session a request is authenticated with.
#[derive(Debug, Clone)]
pub struct Current {
    pub session: Session,
    pub user: User,
    pub dont_remember: bool,
    /// Answered from the cookie cache (not re-read from the store).
    pub from_cache: bool,
}

/// Marks a get-session response answered from the cookie cache (a response extension; it never
/// leaves the process). Holds the raw session token so a response hook that would mint a credential
/// from the answer (jwt's `set-auth-jwt`) can first confirm the session in the store, unless
/// secondary storage already confirmed it.
#[derive(Clone)]
pub struct CacheHit {
    pub token: String,
    /// `cookie_cache.revocation_check` found the session live in secondary storage. False when the
    /// check is off or there is no secondary storage to check against.
    pub confirmed: bool,
}

/// A session answered from the cookie cache by [`from_cache_checked`].
pub struct Cached {
    pub session: Session,
    pub user: User,
    /// See [`CacheHit::confirmed`].
    pub confirmed: bool,
}

/// The session cookies of a request, read in one pass over its `Cookie` header.
pub struct Incoming<'a> {
    /// The verified raw session token.
    pub token: Option<String>,
    /// A valid `dont_remember` cookie is present.
    pub dont_remember: bool,
    /// The raw `session_data` (cookie cache) value, unverified.
    pub cache: Option<&'a str>,
}

/// Reads the session token, `dont_remember` and cookie-cache cookies at once.
pub fn incoming<'a>(auth: &Auth, headers: &'a HeaderMap) -> Incoming<'a> {
    let c = &auth.cookies;
    let [token, dont_remember, cache] = cookies::get_many(headers, [&c.session_token.name, &c.dont_remember.name, &c.session_data.name]);
    Incoming {
        token: token.and_then(|raw| verified_token(auth, raw)),
        dont_remember: dont_remember.is_some_and(|raw| remembers_not(auth, raw)),
        cache,
    }
}

/// The raw token a `session_token` cookie value carries, when its signature verifies.
fn verified_token(auth: &Auth, raw: &str) -> Option<String> {
    sign::verify_signed(auth.secrets(), &sign::decode_cookie_value(raw)).map(str::to_string)
}

/// Whether a `dont_remember` cookie value is a valid signed `true`.
fn remembers_not(auth: &Auth, raw: &str) -> bool {
    sign::verify_signed(auth.secrets(), &sign::decode_cookie_value(raw)) == Some("true")
}

/// The verified raw token from the `session_token` cookie.
pub fn token_from(auth: &Auth, headers: &HeaderMap) -> Option<String> {
    verified_token(auth, cookies::get(headers, &auth.cookies.session_token.name)?)
}

/// Whether a valid `dont_remember` cookie is present.
pub fn dont_remember_from(auth: &Auth, headers: &HeaderMap) -> bool {
    cookies::get(headers, &auth.cookies.dont_remember.name).is_some_and(|raw| remembers_not(auth, raw))
}

/// Creates and stores a session for `user`. Only [`hooks::sign_in`] calls it: sessions are born there.
pub(crate) async fn create(auth: &Auth, user: &User, meta: &RequestMeta, remember: bool, o: &hooks::Overrides) -> ApiResult<Session> {
    let now = auth.now();
    let ttl = o.expires_in.unwrap_or(if remember { auth.config.session.expires_in as i64 } else { DONT_REMEMBER_TTL });
    let (mut extra, mut hidden) = auth.session_fields.defaults(now);
    for (k, v) in &o.fields {
        let target = if hidden.get(k).is_some() { &mut hidden } else { &mut extra };
        target.set(k, v.clone());
    }
    let session = Session {
        extra,
        hidden,
        id: auth.new_id(),
        // A secret, not an id: always random, whatever `generate_id` says.
        token: crypto::random_id(32),
        expires_at: now + Duration::seconds(ttl),
        created_at: now,
        updated_at: now,
        ip_address: meta.ip.clone().unwrap_or_default(),
        user_agent: meta.user_agent.clone(),
        user_id: user.id.clone(),
    };
    auth.sessions.create(&session, user, now).await?;
    Ok(session)
}

/// Reads a session by token from the store; an expired one is deleted and reads as absent.
pub async fn find(auth: &Auth, token: &str) -> ApiResult<Option<(Session, User)>> {
    match auth.sessions.find(token).await? {
        Some((s, _)) if s.expires_at <= auth.now() => {
            auth.sessions.delete(token, auth.now()).await?;
            Ok(None)
        }
        other => Ok(other),
    }
}

/// The session from a valid `session_data` cookie value (`raw`) bound to `token`, if the cache is on.
pub fn from_cache(auth: &Auth, raw: Option<&str>, token: &str) -> Option<(Session, User)> {
    let cc = &auth.config.session.cookie_cache;
    if !cc.enabled {
        return None;
    }
    let raw = raw?;
    let now = auth.now();
    let secrets = auth.secrets();
    let payload = match cc.strategy {
        CookieCacheStrategy::Compact => {
            let (p, expires_at) = cookie_cache::decode_compact(secrets, raw)?;
            if expires_at <= now.timestamp_millis() {
                return None;
            }
            p
        }
        CookieCacheStrategy::Jwt => cookie_cache::decode_jwt(secrets, raw, now.timestamp())?,
    };
    let ok = payload.session.token == token && payload.version == cc.version && payload.session.expires_at > now;
    ok.then_some((payload.session, payload.user))
}

/// [`from_cache`], confirmed against secondary storage when `cookie_cache.revocation_check` is on:
/// a hit whose session key is gone, or that a revoke-all marker covers, or that cannot be checked,
/// is not trusted, and the caller then reads the session normally. Without secondary storage the
/// hit is trusted unconfirmed (the cache's `max_age` bound), as with the check off.
pub async fn from_cache_checked(auth: &Auth, raw: Option<&str>, token: &str) -> Option<Cached> {
    let (session, user) = from_cache(auth, raw, token)?;
    let confirmed = if auth.config.session.cookie_cache.revocation_check {
        match auth.sessions.still_cached(&session).await {
            store::CacheCheck::Live => true,
            store::CacheCheck::Refused => return None,
            store::CacheCheck::Unchecked => false,
        }
    } else {
        false
    };
    Some(Cached { session, user, confirmed })
}

/// `Set-Cookie` values for a signed-in session: token, `dont_remember` and the cookie cache.
pub fn issue_cookies(auth: &Auth, session: &Session, user: &User, dont_remember: bool) -> Vec<HeaderValue> {
    let c = &auth.cookies;
    let signed = cookies::signed_value(auth.secret(), &session.token);
    let max_age = (!dont_remember).then_some(auth.config.session.expires_in);
    let mut out = vec![c.session_token.set_max_age(&signed, max_age)];
    if dont_remember {
        let v = cookies::signed_value(auth.secret(), "true");
        out.push(c.dont_remember.set(&v));
    }
    if let Some(cache) = cache_cookie(auth, session, user, dont_remember) {
        out.push(cache);
    }
    out
}

/// Re-issues only the cookie cache (after a store read), when it is enabled.
pub fn cache_cookie(auth: &Auth, session: &Session, user: &User, dont_remember: bool) -> Option<HeaderValue> {
    let cc = &auth.config.session.cookie_cache;
    if !cc.enabled {
        return None;
    }
    let now = auth.now();
    let payload =
        CachePayload { session: session.clone(), user: user.clone(), updated_at: now.timestamp_millis(), version: cc.version.clone() };
    let value = match cc.strategy {
        CookieCacheStrategy::Compact => {
            let inner = if dont_remember { 60 } else { cc.max_age as i64 };
            cookie_cache::encode_compact(auth.secret(), &payload, now.timestamp_millis() + inner * 1000)
        }
        CookieCacheStrategy::Jwt => {
            let inner = if dont_remember { 300 } else { cc.max_age as i64 };
            cookie_cache::encode_jwt(auth.secret(), &payload, now.timestamp(), inner)
        }
    };
    // Better Auth: a "remember me"-less session gets a browser-session cache cookie.
    let max_age = if dont_remember { None } else { auth.cookies.session_data.max_age() };
    Some(auth.cookies.session_data.set_max_age(&value, max_age))
}

/// `Set-Cookie` values that sign the browser out.
pub fn clear_cookies(auth: &Auth) -> Vec<HeaderValue> {
    let c = &auth.cookies;
    vec![c.session_token.delete(), c.session_data.delete(), c.dont_remember.delete()]
}

/// Whether a session is due for its sliding refresh.
pub fn needs_refresh(auth: &Auth, s: &Session) -> bool {
    let cfg = &auth.config.session;
    if cfg.disable_session_refresh {
        return false;
    }
    let due = s.expires_at - Duration::seconds(cfg.expires_in as i64) + Duration::seconds(cfg.update_age as i64);
    due <= auth.now()
}
