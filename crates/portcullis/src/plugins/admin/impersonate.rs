//! `impersonate-user` and `stop-impersonating`. The admin's own session token waits in the signed
//! `admin_session` cookie (`"<token>:<dont_remember value or empty>"`) while the browser holds a
//! one-hour, not-remembered session of the target with `impersonatedBy` set.

use super::guard::Authorized;
use super::{errors, roles, settings, UserIdBody, ADMIN_SESSION_COOKIE, IMPERSONATED_BY};
use crate::app::Auth;
use crate::error::{ApiError, ApiResult};
use crate::http::cookies;
use crate::http::input::Valid;
use crate::http::reply::Reply;
use crate::session::hooks::{self, Born, Method, Overrides, SignIn};
use crate::session::{self, MaybeSession, RequestMeta};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

crate::permission!(pub Impersonate { user: ["impersonate"] } else errors::YOU_ARE_NOT_ALLOWED_TO_IMPERSONATE_USERS);

fn admin_cookie(auth: &Auth) -> cookies::AuthCookie {
    auth.cookies.cookie(ADMIN_SESSION_COOKIE, auth.cookies.session_token.max_age())
}

/// `POST /admin/impersonate-user`: `{session, user}` of the target; the browser switches to it.
pub async fn impersonate_user(
    State(auth): State<Auth>,
    Valid(b): Valid<UserIdBody>,
    Authorized(cur, _): Authorized<Impersonate>,
    meta: RequestMeta,
    headers: HeaderMap,
) -> ApiResult<Reply> {
    let cfg = settings(&auth);
    let target = auth.store.find_user_by_id(&b.user_id).await?.ok_or_else(errors::user_not_found)?;
    if roles::is_admin(cfg, &target, auth.now())
        && !cfg.allow_impersonating_admins
        && !roles::allows(cfg, &cur.user, &crate::access::Request::of(&[("user", &["impersonate-admins"])]), auth.now())
    {
        return Err(errors::YOU_CANNOT_IMPERSONATE_ADMINS);
    }
    let overrides = Overrides {
        expires_in: Some(cfg.impersonation_session_duration as i64),
        fields: vec![(IMPERSONATED_BY.into(), Value::String(cur.user.id.clone()))],
    };
    let sign_in =
        SignIn { user: &target, method: Method::Other("impersonation"), meta: &meta, headers: &headers, remember: false, federated: None };
    let s = match hooks::sign_in_with(&auth, sign_in, overrides).await? {
        Born::Session(s) => s,
        Born::Answered(r) => return Ok(r),
    };
    let dont_remember = if session::dont_remember_from(&auth, &headers) { "true" } else { "" };
    let saved = cookies::signed_value(auth.secret(), &format!("{}:{dont_remember}", cur.session.token));
    let mut out = Vec::new();
    if !auth.config.session.cookie_cache.enabled {
        out.push(auth.cookies.session_data.delete());
    }
    out.push(admin_cookie(&auth).set(&saved));
    out.extend(session::issue_cookies(&auth, &s, &target, true));
    super::audit(&auth, Some(&cur.user.id), Some(&meta), "admin.impersonate-user", &target.id, Some(json!({ "sessionId": s.id }))).await;
    Ok(Reply::json(&json!({ "session": s, "user": target })).cookies(out))
}

fn internal(message: &'static str) -> ApiError {
    ApiError::uncoded(StatusCode::INTERNAL_SERVER_ERROR, message)
}

/// `POST /admin/stop-impersonating`: ends the impersonation session and restores the admin's;
/// `{session, user}` of the admin.
pub async fn stop_impersonating(
    State(auth): State<Auth>,
    MaybeSession(cur): MaybeSession,
    meta: RequestMeta,
    headers: HeaderMap,
) -> ApiResult<Reply> {
    let Some(cur) = cur else { return Err(ApiError::bare(StatusCode::UNAUTHORIZED)) };
    let Some(admin_id) = cur.session.extra.get(IMPERSONATED_BY).and_then(Value::as_str).map(str::to_string) else {
        return Err(ApiError::uncoded(StatusCode::BAD_REQUEST, "You are not impersonating anyone"));
    };
    let admin = auth.store.find_user_by_id(&admin_id).await?.ok_or_else(|| internal("Failed to find user"))?;
    let cookie = admin_cookie(&auth);
    let saved = cookies::get_signed(&headers, &cookie.name, auth.secrets()).ok_or_else(|| internal("Failed to find admin session"))?;
    let (token, dont_remember) = saved.split_once(':').unwrap_or((saved.as_str(), ""));
    let (s, _) = session::find(&auth, token)
        .await?
        .filter(|(s, _)| s.user_id == admin.id)
        .ok_or_else(|| internal("Failed to find admin session"))?;
    auth.sessions.delete(&cur.session.token, auth.now()).await?;
    let detail = Some(json!({ "sessionId": cur.session.id }));
    super::audit(&auth, Some(&admin.id), Some(&meta), "admin.stop-impersonating", &cur.user.id, detail).await;
    let mut out = session::issue_cookies(&auth, &s, &admin, !dont_remember.is_empty());
    if dont_remember.is_empty() {
        out.push(auth.cookies.dont_remember.delete());
    }
    out.push(cookie.delete());
    Ok(Reply::json(&json!({ "session": s, "user": admin })).cookies(out))
}
