//! Reading and ending sessions: get-session, sign-out, list-sessions, revoke-session(s).

use crate::app::Auth;
use crate::error::{codes, ApiResult, StatusCode};
use crate::http::body::Body;
use crate::http::input::{Input, Obj, Shape, Valid};
use crate::http::reply::Reply;
use crate::session::hooks::{self, SessionAnswer, SessionUse};
use crate::session::{self, FreshSession, RequestMeta, SensitiveSession};
use crate::store::model::{FromCache, Session, User};
use axum::extract::{Query, State};
use axum::http::{Extensions, HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use serde_json::json;
use std::collections::HashMap;

/// `{"session": ..., "user": ...}`, serialised straight from the rows (or, for an answer from the
/// cookie cache, in the order Better Auth answers from its cache: [`FromCache`]).
#[derive(serde::Serialize)]
struct SessionOut<S, U> {
    session: S,
    user: U,
}

/// The same with the members hooks added (custom session data).
#[derive(serde::Serialize)]
struct SessionOutWith<'a, S, U> {
    session: S,
    user: U,
    #[serde(flatten)]
    extra: &'a serde_json::Map<String, serde_json::Value>,
}

/// The answer's JSON, in the database path's key order or the cookie cache's.
fn session_json(session: &Session, user: &User, cached: bool, extra: &serde_json::Map<String, serde_json::Value>) -> Reply {
    match (cached, extra.is_empty()) {
        (false, true) => Reply::json(&SessionOut { session, user }),
        (true, true) => Reply::json(&SessionOut { session: FromCache(session), user: FromCache(user) }),
        (false, false) => Reply::json(&SessionOutWith { session, user, extra }),
        (true, false) => Reply::json(&SessionOutWith { session: FromCache(session), user: FromCache(user), extra }),
    }
}

/// The get-session answer for a session, through the capabilities' `on_session_answer` hooks
/// (none on the default configuration: then it is one serialisation).
async fn answer(auth: &Auth, session: &Session, user: &User, hit: Option<&session::CacheHit>) -> Reply {
    let cached = hit.is_some();
    if auth.hooked.session_answer.is_empty() {
        return session_json(session, user, cached, &Default::default()).no_store();
    }
    let mut a = SessionAnswer { session, user, cache_hit: hit, headers: HeaderMap::new(), extra: Default::default() };
    for c in &auth.hooked.session_answer {
        c.on_session_answer(auth, &mut a).await;
    }
    let mut reply = session_json(session, user, cached, &a.extra).no_store();
    for (name, value) in a.headers.iter() {
        reply = reply.header(name.clone(), value.clone());
    }
    reply
}

/// `z.coerce.boolean()`: any non-empty string is true, `"false"` included.
fn flag(q: &HashMap<String, String>, key: &str) -> bool {
    q.get(key).is_some_and(|v| !v.is_empty())
}

/// Better Auth's get-session (§5.3): cookie cache, expiry, sliding refresh. An answer from the
/// cookie cache carries [`session::CacheHit`] for the response hooks.
pub async fn get_session(State(auth): State<Auth>, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> ApiResult<Response> {
    let incoming = session::incoming(&auth, &headers);
    // A cache cookie left over from when the cache was on is expired on every answer.
    let leftover = !auth.config.session.cookie_cache.enabled && incoming.cache.is_some();
    let (reply, hit) = get_session_inner(&auth, incoming, &q).await?;
    let reply = if leftover { reply.cookie(auth.cookies.session_data.delete()) } else { reply };
    let mut res = reply.into_response();
    if let Some(hit) = hit {
        res.extensions_mut().insert(hit);
    }
    Ok(res)
}

async fn get_session_inner(
    auth: &Auth,
    incoming: session::Incoming<'_>,
    q: &HashMap<String, String>,
) -> ApiResult<(Reply, Option<session::CacheHit>)> {
    let Some(token) = incoming.token else {
        return Ok((Reply::json(&serde_json::Value::Null).no_store(), None));
    };
    if !flag(q, "disableCookieCache") {
        if let Some(c) = session::from_cache_checked(auth, incoming.cache, &token).await {
            let hit = session::CacheHit { token, confirmed: c.confirmed };
            let reply = answer(auth, &c.session, &c.user, Some(&hit)).await;
            return Ok((reply, Some(hit)));
        }
    }
    let Some((mut s, user)) = session::find(auth, &token).await? else {
        return Ok((Reply::json(&serde_json::Value::Null).no_store().cookies(session::clear_cookies(auth)), None));
    };
    let dont_remember = incoming.dont_remember;
    let mut reply_cookies = Vec::new();
    let mut refreshed = false;
    if !dont_remember && !flag(q, "disableRefresh") && session::needs_refresh(auth, &s) {
        let now = auth.now();
        let mut fresh = s.clone();
        fresh.expires_at = now + Duration::seconds(auth.config.session.expires_in as i64);
        fresh.updated_at = now;
        match auth.sessions.touch(&fresh, &user, now).await {
            Ok(true) => {
                s = fresh;
                reply_cookies = session::issue_cookies(auth, &s, &user, false);
                refreshed = true;
            }
            Ok(false) => return Err(codes::FAILED_TO_GET_SESSION),
            // The session was read (from Redis, say) but the refresh could not be written: the
            // database or Redis is down. The read stands; the next read past update_age retries.
            Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => {
                tracing::warn!(code = e.code.unwrap_or("-"), "session refresh not written; answering the session unrefreshed");
            }
            Err(e) => return Err(e),
        }
    }
    if !refreshed {
        reply_cookies.extend(session::cache_cookie(auth, &s, &user, dont_remember));
    }
    Ok((answer(auth, &s, &user, None).await.cookies(reply_cookies), None))
}

pub async fn post_get_session() -> ApiResult<Reply> {
    Err(codes::METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED)
}

/// `z.object({callbackURL?, disableRedirect?, state?}).optional()`; the provider logout hook
/// reads `callbackURL` and `state` from the raw body.
pub struct SignOutBody {
    disable_redirect: Option<bool>,
}

impl Input for SignOutBody {
    const SHAPE: Shape = Shape::OptionalObject;
    fn parse(o: &mut Obj<'_>) -> Self {
        o.opt_string("callbackURL");
        let disable_redirect = o.opt_bool("disableRedirect");
        o.opt_string("state");
        SignOutBody { disable_redirect }
    }
}

/// `{token: string}`
pub struct RevokeBody(String);

impl Input for RevokeBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        RevokeBody(o.string("token"))
    }
}

/// Deletes the current session (if any) and always clears the cookies.
/// A capability may answer a provider logout URL (`{"success":true,"url":...,"redirect":...}`).
pub async fn sign_out(
    State(auth): State<Auth>,
    Valid(b): Valid<SignOutBody>,
    headers: HeaderMap,
    meta: RequestMeta,
    extensions: Extensions,
    body: Body,
) -> ApiResult<Reply> {
    let mut url = None;
    if let Some(token) = session::token_from(&auth, &headers) {
        let u = SessionUse { method: &Method::POST, headers: &headers, extensions: &extensions, token: &token };
        if let Err(refused) = hooks::check_session_use(&auth, &u) {
            // Only a live session needs the protection: a dead one's cookies are cleared as ever.
            if session::find(&auth, &token).await?.is_some() {
                return Err(refused);
            }
        }
        for c in &auth.capabilities {
            url = c.sign_out_url(&auth, &token, body.0.as_ref()).await;
            if url.is_some() {
                break;
            }
        }
        // Who signed out: read only when someone listens (the answer never depends on it).
        let ended = if auth.listens() { auth.sessions.find(&token).await.ok().flatten() } else { None };
        auth.sessions.delete(&token, auth.now()).await?;
        if let Some((s, _)) = ended {
            session::revoked::one(&auth, &meta, Some(&s.user_id), &s, "sign-out").await;
        }
    }
    let Some(url) = url else { return Ok(Reply::json(&json!({"success": true})).cookies(session::clear_cookies(&auth))) };
    let redirect = b.disable_redirect != Some(true);
    let mut reply = Reply::json(&json!({"success": true, "url": url, "redirect": redirect})).cookies(session::clear_cookies(&auth));
    if let Some(v) = redirect.then(|| axum::http::HeaderValue::from_str(&url).ok()).flatten() {
        reply = reply.header(axum::http::header::LOCATION, v);
    }
    Ok(reply)
}

/// Active sessions of the user, tokens included (the client passes them to revoke-session), so the
/// caller is read from the store: a revoked session's cached cookie must not list the new tokens.
pub async fn list_sessions(State(auth): State<Auth>, FreshSession(cur): FreshSession) -> ApiResult<Reply> {
    let list = auth.sessions.list(&cur.user.id, auth.now()).await?;
    Ok(Reply::json(&list))
}

/// Revokes one of the caller's own sessions; another user's token is a silent no-op.
pub async fn revoke_session(
    State(auth): State<Auth>,
    Valid(b): Valid<RevokeBody>,
    SensitiveSession(cur): SensitiveSession,
    meta: RequestMeta,
) -> ApiResult<Reply> {
    let token = b.0.as_str();
    if let Some((s, _)) = auth.sessions.find(token).await? {
        if s.user_id == cur.user.id {
            auth.sessions.delete(token, auth.now()).await?;
            session::revoked::one(&auth, &meta, Some(&cur.user.id), &s, "revoke-session").await;
        }
    }
    let mut reply = Reply::json(&json!({"status": true}));
    if token == cur.session.token {
        reply = reply.cookies(session::clear_cookies(&auth));
    }
    Ok(reply)
}

pub async fn revoke_sessions(State(auth): State<Auth>, SensitiveSession(cur): SensitiveSession, meta: RequestMeta) -> ApiResult<Reply> {
    auth.sessions.delete_user_sessions(&cur.user.id, None, auth.now()).await?;
    session::revoked::all(&auth, &meta, Some(&cur.user.id), &cur.user.id, false, "revoke-sessions").await;
    Ok(Reply::json(&json!({"status": true})).cookies(session::clear_cookies(&auth)))
}

pub async fn revoke_other_sessions(
    State(auth): State<Auth>,
    SensitiveSession(cur): SensitiveSession,
    meta: RequestMeta,
) -> ApiResult<Reply> {
    auth.sessions.delete_user_sessions(&cur.user.id, Some(&cur.session.token), auth.now()).await?;
    session::revoked::all(&auth, &meta, Some(&cur.user.id), &cur.user.id, true, "revoke-other-sessions").await;
    Ok(Reply::json(&json!({"status": true})))
}
