//! Administration without HTTP, for the `portcullis admin` command (and embedders' own tools):
//! make the first admin, change a role, ban and unban by e-mail, list users. Each goes through the
//! same hooks and session revocation as the endpoints.

use super::{ban, errors, list, settings, BANNED, BAN_EXPIRES, BAN_REASON, ROLE};
use crate::app::Auth;
use crate::error::{codes, ApiResult};
use crate::session::hooks;
use crate::store::model::{iso_ms, Account, User, Values};
use chrono::Duration;
use serde_json::Value;

async fn by_email(auth: &Auth, email: &str) -> ApiResult<User> {
    auth.store.find_user_by_email(&email.to_lowercase()).await?.ok_or_else(errors::user_not_found)
}

/// Creates a user with `role` and a password (the first admin), or fails when the e-mail is taken.
pub async fn create_user(auth: &Auth, email: &str, name: &str, password: &str, role: &str) -> ApiResult<User> {
    let email = email.to_lowercase();
    if !crate::http::body::is_email(&email) {
        return Err(codes::INVALID_EMAIL);
    }
    let cfg = &auth.config.email_and_password;
    let n = password.encode_utf16().count();
    if n < cfg.min_password_length {
        return Err(codes::PASSWORD_TOO_SHORT);
    }
    if n > cfg.max_password_length {
        return Err(codes::PASSWORD_TOO_LONG);
    }
    let role = super::roles::parse_roles(settings(auth), &Value::String(role.into()))?;
    if auth.store.find_user_by_email(&email).await?.is_some() {
        return Err(errors::USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL);
    }
    let now = auth.now();
    let mut values = auth.user_fields.parse_input(&serde_json::Map::new(), crate::fields::Action::Create, now)?;
    values.set(ROLE, Value::String(role));
    let (extra, hidden) = auth.user_fields.complete(values);
    let user = User {
        extra,
        hidden,
        id: auth.new_id(),
        name: name.into(),
        email,
        email_verified: false,
        image: None,
        created_at: now,
        updated_at: now,
    };
    let hash = auth.hasher.hash(password).await.map_err(crate::error::ApiError::internal)?;
    let account = Account::credential(auth.new_id(), &user.id, hash, now);
    let user = hooks::create_user(auth, user, Some(&account)).await?;
    cli_audit(auth, "admin.create-user", &user, Some(serde_json::json!({ "role": user.extra.get(ROLE) }))).await;
    Ok(user)
}

/// Sets the role (comma-separated for several) of the user with this e-mail.
pub async fn set_role(auth: &Auth, email: &str, role: &str) -> ApiResult<User> {
    let user = by_email(auth, email).await?;
    let role = super::roles::parse_roles(settings(auth), &Value::String(role.into()))?;
    let user = ban::update(auth, &user.id, Values(vec![(ROLE.into(), Value::String(role.clone()))])).await?;
    cli_audit(auth, "admin.set-role", &user, Some(serde_json::json!({ "role": role }))).await;
    Ok(user)
}

/// The command line acts as nobody in particular: no actor, no address; `data.via = "cli"`.
async fn cli_audit(auth: &Auth, action: &'static str, user: &User, data: Option<Value>) {
    let mut data = data.unwrap_or_else(|| serde_json::json!({}));
    data["via"] = "cli".into();
    super::audit(auth, None, None, action, &user.id, Some(data)).await;
}

/// Bans the user with this e-mail (ending its sessions), for `expires_in` seconds or for good.
pub async fn ban_user(auth: &Auth, email: &str, reason: Option<&str>, expires_in: Option<u64>) -> ApiResult<User> {
    let cfg = settings(auth);
    let user = by_email(auth, email).await?;
    let reason = reason.map(str::to_string).or_else(|| cfg.default_ban_reason.clone()).unwrap_or_else(|| "No reason".into());
    let expires = expires_in
        .or(cfg.default_ban_expires_in)
        .map(|s| Value::String(iso_ms::format(&(auth.now() + Duration::seconds(s as i64)))))
        .unwrap_or(Value::Null);
    let values =
        Values(vec![(BANNED.into(), Value::Bool(true)), (BAN_REASON.into(), Value::String(reason)), (BAN_EXPIRES.into(), expires)]);
    let user = ban::update(auth, &user.id, values).await?;
    auth.sessions.delete_user_sessions(&user.id, None, auth.now()).await?;
    cli_audit(auth, "admin.ban-user", &user, None).await;
    Ok(user)
}

/// Lifts the ban of the user with this e-mail.
pub async fn unban_user(auth: &Auth, email: &str) -> ApiResult<User> {
    let user = by_email(auth, email).await?;
    let values = Values(vec![(BANNED.into(), Value::Bool(false)), (BAN_REASON.into(), Value::Null), (BAN_EXPIRES.into(), Value::Null)]);
    let user = ban::update(auth, &user.id, values).await?;
    cli_audit(auth, "admin.unban-user", &user, None).await;
    Ok(user)
}

/// Users whose e-mail contains `search` (all without), by e-mail, at most `limit`.
pub async fn list_users(auth: &Auth, search: Option<&str>, limit: u64) -> ApiResult<Vec<User>> {
    list::find(auth, search, limit).await
}
