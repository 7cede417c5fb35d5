//! Extractors that authenticate a request, for Portcullis's own routes and for embedding apps.
//!
//! - [`SessionAuth`]: any valid session; may be answered from the cookie cache.
//! - [`SensitiveSession`]: always re-read from the store (revocation is immediate).
//! - [`FreshSession`]: like `SensitiveSession` (store), and created within `fresh_age`.
//! - [`MaybeSession`]: never rejects; `None` when signed out; may be answered from the cache.
//! - [`MaybeSensitiveSession`]: never rejects; read from the store.
//!
//! A cookie-cache hit can be a session revoked up to `cookie_cache.max_age` ago (unless
//! `cookie_cache.revocation_check` confirmed it). That bound is acceptable for reading one's own
//! profile, as in Better Auth; it is not for anything that hands out a credential or changes the
//! account, because the attacker the revocation was meant to shut out would keep both. So every
//! route that reveals a token, mints one, re-issues session cookies or changes the account reads the
//! store (Better Auth's `sensitiveSessionMiddleware`). Where Portcullis is stricter than Better Auth
//! 1.7.24 it is marked "stricter"; the wire is unchanged, only a revoked session now gets 401.
//!
//! | route | read | why |
//! | --- | --- | --- |
//! | `get-session` | cache | Better Auth's documented bound; `?disableCookieCache=true` reads the store |
//! | `set-auth-jwt` on get-session | cache hit confirmed in the store before signing | a JWT outlives revocation (stricter) |
//! | `/token` (jwt) | store | mints a JWT (stricter) |
//! | `list-sessions` | store + fresh | returns every session's raw token (stricter) |
//! | `revoke-session`, `revoke-sessions`, `revoke-other-sessions` | store | as Better Auth |
//! | `update-user` | store | changes the account; re-issues the cookies, which would renew a revoked cache (stricter) |
//! | `change-password`, `verify-password`, `delete-user`, `change-email` | store | as Better Auth |
//! | `link-social` | store | as Better Auth |
//! | `unlink-account` | store + fresh | changes the account (stricter) |
//! | `get-access-token`, `refresh-token`, `account-info` | store (`social::tokens`) | provider tokens; as Better Auth |
//! | `verify-email` | maybe, store | re-issues the current session's cookies (stricter) |
//! | `list-accounts` | cache | ids, providers and scopes only, no secret, nothing changed; as Better Auth |
//! | `update-session` | cache, store to change | "No fields to update" from the cache as Better Auth; a change re-reads the store, since it re-issues the cookies (stricter) |
//! | `send-verification-email` | maybe, cache | only mails the session user's own address (mail rate limit); as Better Auth |
//!
//! Every extractor that finds a session asks the capabilities' `check_session_use` hooks first
//! (the opt-in CSRF tokens refuse an unsafe request without its token there), so an embedding
//! app's own routes are protected as the auth routes are.
//!
//! A new route that reveals or changes anything takes `SensitiveSession` (or `FreshSession`).
//! Must never: answer `SensitiveSession`, `FreshSession` or `MaybeSensitiveSession` from the cookie
//! cache.

use super::hooks::{self, SessionUse};
use super::Current;
use crate::app::Auth;
use crate::error::{codes, ApiError};
use crate::http::ip::ClientIp;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::{header, request::Parts};

async fn read<S: Send + Sync>(parts: &mut Parts, state: &S, use_cache: bool) -> Result<Option<Current>, ApiError>
where
    Auth: FromRef<S>,
{
    let auth = Auth::from_ref(state);
    let super::Incoming { token, dont_remember, cache } = super::incoming(&auth, &parts.headers);
    let Some(token) = token else { return Ok(None) };
    let found = match use_cache {
        true => super::from_cache_checked(&auth, cache, &token).await.map(|hit| Current {
            session: hit.session,
            user: hit.user,
            dont_remember,
            from_cache: true,
        }),
        false => None,
    };
    let found = match found {
        Some(cur) => Some(cur),
        None => super::find(&auth, &token).await?.map(|(session, user)| Current { session, user, dont_remember, from_cache: false }),
    };
    if found.is_some() && !auth.hooked.session_use.is_empty() {
        let u = SessionUse { method: &parts.method, headers: &parts.headers, extensions: &parts.extensions, token: &token };
        hooks::check_session_use(&auth, &u)?;
    }
    Ok(found)
}

pub struct SessionAuth(pub Current);
pub struct SensitiveSession(pub Current);
pub struct FreshSession(pub Current);
pub struct MaybeSession(pub Option<Current>);
pub struct MaybeSensitiveSession(pub Option<Current>);

impl<S: Send + Sync> FromRequestParts<S> for SessionAuth
where
    Auth: FromRef<S>,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        read(parts, state, true).await?.map(SessionAuth).ok_or(codes::UNAUTHORIZED)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SensitiveSession
where
    Auth: FromRef<S>,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        read(parts, state, false).await?.map(SensitiveSession).ok_or(codes::UNAUTHORIZED)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for FreshSession
where
    Auth: FromRef<S>,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let cur = read(parts, state, false).await?.ok_or(codes::UNAUTHORIZED)?;
        let auth = Auth::from_ref(state);
        let fresh_age = auth.config.session.fresh_age as i64;
        if fresh_age > 0 && (auth.now() - cur.session.created_at).num_seconds() >= fresh_age {
            return Err(codes::SESSION_NOT_FRESH);
        }
        Ok(FreshSession(cur))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for MaybeSession
where
    Auth: FromRef<S>,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Ok(MaybeSession(read(parts, state, true).await?))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for MaybeSensitiveSession
where
    Auth: FromRef<S>,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Ok(MaybeSensitiveSession(read(parts, state, false).await?))
    }
}

/// Who is asking: client IP (after proxy rules) and User-Agent, recorded on new sessions.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub ip: Option<String>,
    pub user_agent: String,
}

impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let ip = parts.extensions.get::<ClientIp>().and_then(|c| c.0.clone());
        let user_agent = parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        Ok(RequestMeta { ip, user_agent })
    }
}
