//! The signed-in user's own profile and accounts: update-user, delete-user, list-accounts.

use crate::app::Auth;
use crate::error::{codes, ApiError, ApiResult};
use crate::fields::Action;
use crate::http::input::{Input, Obj, Record, Valid};
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
pub async fn update_user(
    State(auth): State<Auth>,
    Valid(Record(body)): Valid<Record>,
    SensitiveSession(cur): SensitiveSession,
) -> ApiResult<Reply> {
    if body.get("email").is_some_and(truthy) {
        return Err(codes::EMAIL_CAN_NOT_BE_UPDATED);
    }
    let mut patch = UserPatch::default();
    match body.get("name") {
        None => {}
        // A NOT NULL column: Better Auth fails on the write (500); a 400 says why.
        Some(Value::Null) => return Err(ApiError::validation("[body.name] Invalid input: expected string, received null")),
        Some(v) => patch.name = Some(as_text(v)),
    }
    match body.get("image") {
        None => {}
        Some(Value::Null) => patch.image = Some(None),
        Some(v) => patch.image = Some(Some(as_text(v))),
    }
    patch.extra = auth.user_fields.parse_input(&body, Action::Update, auth.now())?;
    if patch.name.is_none() && patch.image.is_none() && patch.extra.is_empty() {
        return Err(ApiError::uncoded(StatusCode::BAD_REQUEST, "No fields to update"));
    }
    let user = hooks::update_user(&auth, &cur.user.id, patch).await?.ok_or(codes::USER_NOT_FOUND)?;
    auth.sessions.refresh_user(&user, auth.now()).await;
    let cookies = session::issue_cookies(&auth, &cur.session, &user, cur.dont_remember);
    Ok(Reply::json(&json!({"status": true})).cookies(cookies))
}

/// JavaScript's truthiness (`if (body.email)`).
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// Better Auth writes `name` and `image` unchecked, and PostgreSQL's driver (node-postgres) turns
/// any value into column text: numbers and booleans as JavaScript prints them, objects as JSON,
/// arrays as a PostgreSQL array literal. The same text here, so a profile reads back alike.
fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "NULL".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) => f.to_string(),
            _ => n.to_string(),
        },
        Value::Object(_) => v.to_string(),
        Value::Array(items) => {
            let inner: Vec<String> = items
                .iter()
                .map(|i| match i {
                    Value::Null => "NULL".into(),
                    Value::Array(_) => as_text(i),
                    other => format!("\"{}\"", as_text(other).replace('\\', "\\\\").replace('"', "\\\"")),
                })
                .collect();
            format!("{{{}}}", inner.join(","))
        }
    }
}

/// `POST /update-session` sets the session's additional fields (`input` ones) and re-issues its
/// cookies. Without any, it answers "No fields to update" (from the cookie cache, as Better Auth);
/// a change reads the session from the store first, since it re-issues the cookies.
pub async fn update_session(
    State(auth): State<Auth>,
    Valid(Record(body)): Valid<Record>,
    SessionAuth(cur): SessionAuth,
) -> ApiResult<Reply> {
    let now = auth.now();
    let values = auth.session_fields.parse_input(&body, Action::Update, now)?;
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

/// `{callbackURL?, password?, token?}`
pub struct DeleteBody {
    callback_url: Option<String>,
    password: Option<String>,
    token: Option<String>,
}

impl Input for DeleteBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        DeleteBody { callback_url: o.opt_string("callbackURL"), password: o.opt_string("password"), token: o.opt_string("token") }
    }
}

pub async fn delete_user(
    State(auth): State<Auth>,
    Valid(b): Valid<DeleteBody>,
    SensitiveSession(cur): SensitiveSession,
) -> ApiResult<Reply> {
    if !auth.config.user.delete_user_enabled {
        return Err(ApiError::bare(StatusCode::NOT_FOUND));
    }
    let password = b.password.as_deref();
    if let Some(p) = password {
        check_password(&auth, &cur.user.id, p).await?;
    }
    if let Some(token) = b.token.as_deref() {
        super::delete::consume_token(&auth, token, &cur.user.id).await?;
    } else if auth.config.user.delete_user_verification {
        super::delete::send_link(&auth, &cur.user, b.callback_url.as_deref()).await?;
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
