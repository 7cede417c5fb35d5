//! The signed-in user's own profile and accounts: update-user, delete-user, list-accounts.

use crate::app::Auth;
use crate::error::{codes, ApiError, ApiResult};
use crate::fields::Action;
use crate::http::body::Body;
use crate::http::reply::Reply;
use crate::plugins::email_password::check_password;
use crate::session::hooks;
use crate::session::{self, SensitiveSession, SessionAuth};
use crate::store::model::{iso_ms, UserPatch};
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

/// Read from the store: it changes the account and re-issues the cookies, which from a cookie-cache
/// hit would renew a revoked session's cache for another `max_age`.
pub async fn update_user(State(auth): State<Auth>, SensitiveSession(cur): SensitiveSession, body: Body) -> ApiResult<Reply> {
    match &body.0 {
        Some(Value::Object(_)) => {}
        Some(Value::Array(_)) => return Err(ApiError::validation("[body] Invalid input: expected record, received array")),
        _ => return Err(codes::BODY_MUST_BE_AN_OBJECT),
    }
    let f = body.object()?;
    if f.get("email").is_some() {
        return Err(codes::EMAIL_CAN_NOT_BE_UPDATED);
    }
    let mut patch = UserPatch { name: f.opt_str("name")?.map(str::to_string), ..Default::default() };
    match f.get("image") {
        None => {}
        Some(Value::Null) => patch.image = Some(None),
        Some(Value::String(s)) => patch.image = Some(Some(s.clone())),
        Some(_) => return Err(ApiError::validation("[body.image] Invalid input: expected string, received number")),
    }
    patch.extra = auth.user_fields.parse_input(f.map, Action::Update, auth.now())?;
    if patch.name.is_none() && patch.image.is_none() && patch.extra.is_empty() {
        return Err(ApiError::uncoded(StatusCode::BAD_REQUEST, "No fields to update"));
    }
    let user = hooks::update_user(&auth, &cur.user.id, patch).await?.ok_or(codes::USER_NOT_FOUND)?;
    auth.sessions.refresh_user(&user, auth.now()).await;
    let cookies = session::issue_cookies(&auth, &cur.session, &user, cur.dont_remember);
    Ok(Reply::json(&json!({"status": true})).cookies(cookies))
}

/// `POST /update-session` sets the session's additional fields (`input` ones) and re-issues its
/// cookies. Without any, it answers "No fields to update" (from the cookie cache, as Better Auth);
/// a change reads the session from the store first, since it re-issues the cookies.
pub async fn update_session(State(auth): State<Auth>, SessionAuth(cur): SessionAuth, body: Body) -> ApiResult<Reply> {
    let f = body.object()?;
    let now = auth.now();
    let values = auth.session_fields.parse_input(f.map, Action::Update, now)?;
    if values.is_empty() {
        return Err(ApiError::uncoded(StatusCode::BAD_REQUEST, "No fields to update"));
    }
    let cur = match cur.from_cache {
        false => cur,
        true => match session::find(&auth, &cur.session.token).await? {
            Some((session, user)) => session::Current { session, user, dont_remember: cur.dont_remember, from_cache: false },
            None => return Err(codes::FAILED_TO_GET_SESSION),
        },
    };
    let Some(s) = auth.sessions.update_fields(&cur.session, &cur.user, &values, now).await? else {
        return Err(codes::FAILED_TO_GET_SESSION);
    };
    let cookies = session::issue_cookies(&auth, &s, &cur.user, cur.dont_remember);
    Ok(Reply::json(&json!({ "session": s })).cookies(cookies))
}

pub async fn delete_user(State(auth): State<Auth>, SensitiveSession(cur): SensitiveSession, body: Body) -> ApiResult<Reply> {
    if !auth.config.user.delete_user_enabled {
        return Err(ApiError::bare(StatusCode::NOT_FOUND));
    }
    let f = body.object_or_empty()?;
    let password = f.opt_str("password")?;
    if let Some(p) = password {
        check_password(&auth, &cur.user.id, p).await?;
    }
    if let Some(token) = f.opt_str("token")? {
        super::delete::consume_token(&auth, token, &cur.user.id).await?;
    } else if auth.config.user.delete_user_verification {
        super::delete::send_link(&auth, &cur.user, f.opt_str("callbackURL")?).await?;
        return Ok(Reply::json(&json!({"success": true, "message": "Verification email sent"})));
    } else if password.is_none() {
        let fresh_age = auth.config.session.fresh_age as i64;
        if fresh_age > 0 && (auth.now() - cur.session.created_at).num_seconds() >= fresh_age {
            return Err(codes::SESSION_EXPIRED);
        }
    }
    hooks::delete_user(&auth, &cur.user).await?;
    Ok(Reply::json(&json!({"success": true, "message": "User deleted"})).cookies(session::clear_cookies(&auth)))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AccountOut {
    account_id: String,
    provider_id: String,
    user_id: String,
    #[serde(with = "iso_ms")]
    created_at: DateTime<Utc>,
    #[serde(with = "iso_ms")]
    updated_at: DateTime<Utc>,
    id: String,
    scopes: Vec<String>,
}

/// The user's linked accounts, without tokens or password hashes (so the cookie cache may answer).
pub async fn list_accounts(State(auth): State<Auth>, SessionAuth(cur): SessionAuth) -> ApiResult<Reply> {
    let accounts = auth.store.list_accounts(&cur.user.id).await?;
    let out: Vec<AccountOut> = accounts
        .into_iter()
        .map(|a| AccountOut {
            scopes: a.scopes(),
            account_id: a.account_id,
            provider_id: a.provider_id,
            user_id: a.user_id,
            created_at: a.created_at,
            updated_at: a.updated_at,
            id: a.id,
        })
        .collect();
    Ok(Reply::json(&out))
}
