//! `list-user-sessions`, `revoke-user-session(s)`, `has-permission`, and the `/list-sessions`
//! filter of impersonation sessions. Revocations go through the session store, so secondary
//! storage and the cookie cache's revocation markers see them.

use super::guard::Authorized;
use super::{errors, roles, settings, UserIdBody, IMPERSONATED_BY};
use crate::access::Request;
use crate::app::Auth;
use crate::error::{ApiError, ApiResult};
use crate::http::input::{Input, Obj, Valid};
use crate::http::reply::Reply;
use crate::session::{MaybeSensitiveSession, RequestMeta};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

crate::permission!(pub ListSessions { session: ["list"] } else errors::YOU_ARE_NOT_ALLOWED_TO_LIST_USERS_SESSIONS);
crate::permission!(pub Revoke { session: ["revoke"] } else errors::YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS);

/// `POST /admin/list-user-sessions`: `{sessions}`, impersonation sessions included.
pub async fn list_user_sessions(State(auth): State<Auth>, Valid(b): Valid<UserIdBody>, _: Authorized<ListSessions>) -> ApiResult<Reply> {
    let sessions = auth.sessions.list(&b.user_id, auth.now()).await?;
    Ok(Reply::json(&json!({ "sessions": sessions })))
}

/// `{sessionToken}`
pub struct TokenBody {
    token: String,
}

impl Input for TokenBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        TokenBody { token: o.string("sessionToken") }
    }
}

/// `POST /admin/revoke-user-session`: `{success: true}`.
pub async fn revoke_user_session(
    State(auth): State<Auth>,
    Valid(b): Valid<TokenBody>,
    Authorized(cur, _): Authorized<Revoke>,
    meta: RequestMeta,
) -> ApiResult<Reply> {
    // The token is a credential: the record names the session's user only.
    let found = crate::session::find(&auth, &b.token).await?;
    if let Some((s, _)) = &found {
        super::audit(&auth, Some(&cur.user.id), Some(&meta), "admin.revoke-user-session", &s.user_id, Some(json!({ "sessionId": s.id })))
            .await;
    }
    auth.sessions.delete(&b.token, auth.now()).await?;
    if let Some((s, _)) = &found {
        crate::session::revoked::one(&auth, &meta, Some(&cur.user.id), s, "admin.revoke-user-session").await;
    }
    Ok(Reply::json(&json!({"success": true})))
}

/// `POST /admin/revoke-user-sessions`: `{success: true}`.
pub async fn revoke_user_sessions(
    State(auth): State<Auth>,
    Valid(b): Valid<UserIdBody>,
    Authorized(cur, _): Authorized<Revoke>,
    meta: RequestMeta,
) -> ApiResult<Reply> {
    auth.sessions.delete_user_sessions(&b.user_id, None, auth.now()).await?;
    super::audit(&auth, Some(&cur.user.id), Some(&meta), "admin.revoke-user-sessions", &b.user_id, None).await;
    crate::session::revoked::all(&auth, &meta, Some(&cur.user.id), &b.user_id, false, "admin.revoke-user-sessions").await;
    Ok(Reply::json(&json!({"success": true})))
}

/// `{permissions?: {resource: actions}, permission?: ..., userId?, role?}`
pub struct PermissionBody {
    permissions: Option<Value>,
}

impl Input for PermissionBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        o.opt_string("role");
        PermissionBody { permissions: o.raw("permissions").cloned().filter(|v| !v.is_null()) }
    }
}

/// `POST /admin/has-permission`: `{error: null, success}` for the session user (the body's `userId`
/// and `role` are for server calls without a session, which HTTP has not).
pub async fn has_permission(
    State(auth): State<Auth>,
    Valid(b): Valid<PermissionBody>,
    MaybeSensitiveSession(cur): MaybeSensitiveSession,
) -> ApiResult<Reply> {
    let Some(p) = b.permissions else {
        return Err(ApiError::uncoded(StatusCode::BAD_REQUEST, "invalid permission check. no permission(s) were passed."));
    };
    let Some(cur) = cur else { return Err(ApiError::bare(StatusCode::UNAUTHORIZED)) };
    let success = Request::from_json(&p).is_some_and(|r| roles::allows(settings(&auth), &cur.user, &r, auth.now()));
    Ok(Reply::json(&json!({"error": null, "success": success})))
}

/// Removes sessions with `impersonatedBy` from a `/list-sessions` answer.
pub async fn hide_impersonations(res: &mut Response) {
    let body = std::mem::replace(res.body_mut(), Body::empty());
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else { return };
    let out = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Array(items)) => {
            let kept: Vec<Value> = items.into_iter().filter(|s| s.get(IMPERSONATED_BY).is_none_or(Value::is_null)).collect();
            serde_json::to_vec(&kept).unwrap_or_else(|_| bytes.to_vec())
        }
        _ => bytes.to_vec(),
    };
    res.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(out.len()));
    *res.body_mut() = Body::from(out);
}
