//! `set-role`, `ban-user`, `unban-user`, and the ban check every sign-in passes (spec plugins §3.3).

use super::guard::Authorized;
use super::{errors, roles, settings, UserIdBody, BANNED, BAN_EXPIRES, BAN_REASON, ROLE};
use crate::app::Auth;
use crate::error::ApiResult;
use crate::fields::parse_date;
use crate::http::input::{Input, Obj, Valid};
use crate::http::reply::Reply;
use crate::session::hooks::{self, Decision};
use crate::session::RequestMeta;
use crate::store::model::{iso_ms, User, UserPatch, Values};
use axum::extract::State;
use chrono::Duration;
use serde_json::{json, Value};

crate::permission!(pub SetRole { user: ["set-role"] } else errors::YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE);
crate::permission!(pub Ban { user: ["ban"] } else errors::YOU_ARE_NOT_ALLOWED_TO_BAN_USERS);

/// Whether `user` is banned now; a ban whose expiry has passed is lifted first (and not banned).
pub async fn banned_now(auth: &Auth, user: &User) -> ApiResult<bool> {
    if user.extra.get(BANNED).and_then(Value::as_bool) != Some(true) {
        return Ok(false);
    }
    let expires = user.extra.get(BAN_EXPIRES).and_then(Value::as_str).and_then(parse_date);
    if expires.is_some_and(|t| t < auth.now()) {
        update(auth, &user.id, lifted()).await?;
        return Ok(false);
    }
    Ok(true)
}

/// The before-session hook: 403 `BANNED_USER` with `banned_user_message` for a banned user.
pub async fn before_session(auth: &Auth, user: &User) -> Decision {
    match banned_now(auth, user).await {
        Ok(false) => Decision::Continue,
        Ok(true) => Decision::Refuse(errors::BANNED_USER.with_message(settings(auth).banned_user_message.clone())),
        Err(e) => Decision::Refuse(e),
    }
}

fn lifted() -> Values {
    Values(vec![(BANNED.into(), Value::Bool(false)), (BAN_REASON.into(), Value::Null), (BAN_EXPIRES.into(), Value::Null)])
}

/// Sets user fields (through the user hooks) and refreshes the cached copies; 404 when absent.
pub async fn update(auth: &Auth, id: &str, extra: Values) -> ApiResult<User> {
    let patch = UserPatch { extra, ..UserPatch::default() };
    let user = hooks::update_user(auth, id, patch).await?.ok_or_else(errors::user_not_found)?;
    auth.sessions.refresh_user(&user, auth.now()).await;
    Ok(user)
}

/// `{userId, role: string | string[], expiresIn?: seconds}` (`expiresIn` is Portcullis's
/// time-bound grant: the roles are added until then, the user's others kept).
pub struct SetRoleBody {
    user_id: String,
    role: Value,
    expires_in: Option<f64>,
}

impl Input for SetRoleBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        let role = o.raw("role").cloned().unwrap_or(Value::Null);
        if !role.is_string() && !role.as_array().is_some_and(|a| a.iter().all(Value::is_string)) {
            o.string("role");
        }
        SetRoleBody { user_id: super::coerce(o.raw("userId")), role, expires_in: o.opt_number("expiresIn") }
    }
}

/// The longest time-bound grant: ten years.
const MAX_GRANT_SECS: f64 = 10.0 * 366.0 * 86_400.0;

/// `POST /admin/set-role`: `{user}`.
pub async fn set_role(
    State(auth): State<Auth>,
    Valid(b): Valid<SetRoleBody>,
    Authorized(cur, _): Authorized<SetRole>,
    meta: RequestMeta,
) -> ApiResult<Reply> {
    let mut role = roles::parse_roles(settings(&auth), &b.role)?;
    let mut detail = json!({ "role": role });
    if let Some(secs) = b.expires_in {
        if !(1.0..=MAX_GRANT_SECS).contains(&secs) {
            return Err(crate::error::ApiError::validation("[body.expiresIn] expected a number of seconds from 1 to 10 years"));
        }
        let target = auth.store.find_user_by_id(&b.user_id).await?.ok_or_else(errors::user_not_found)?;
        let now = auth.now();
        let until = now + Duration::milliseconds((secs * 1000.0) as i64);
        let names: Vec<&str> = role.split(',').collect();
        let current = roles::role_of(&target).unwrap_or_default();
        detail = json!({ "role": role, "until": iso_ms::format(&until) });
        role = crate::access::with_grants(current, &names, until, now);
    }
    let user = update(&auth, &b.user_id, Values(vec![(ROLE.into(), Value::String(role))])).await?;
    super::audit(&auth, Some(&cur.user.id), Some(&meta), "admin.set-role", &user.id, Some(detail)).await;
    Ok(Reply::json(&json!({ "user": user })))
}

/// `{userId, banReason?, banExpiresIn?}`
pub struct BanBody {
    user_id: String,
    reason: Option<String>,
    expires_in: Option<f64>,
}

impl Input for BanBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        BanBody { user_id: super::coerce(o.raw("userId")), reason: o.opt_string("banReason"), expires_in: o.opt_number("banExpiresIn") }
    }
}

/// `POST /admin/ban-user`: bans and ends every session of the user; `{user}`.
pub async fn ban_user(
    State(auth): State<Auth>,
    Valid(b): Valid<BanBody>,
    Authorized(cur, _): Authorized<Ban>,
    meta: RequestMeta,
) -> ApiResult<Reply> {
    let cfg = settings(&auth);
    if auth.store.find_user_by_id(&b.user_id).await?.is_none() {
        return Err(errors::user_not_found());
    }
    if b.user_id == cur.user.id {
        return Err(errors::YOU_CANNOT_BAN_YOURSELF);
    }
    let reason = b.reason.filter(|r| !r.is_empty()).or_else(|| cfg.default_ban_reason.clone()).unwrap_or_else(|| "No reason".into());
    // JavaScript truthiness: 0 (or NaN) means "not given".
    let secs = b.expires_in.filter(|s| *s != 0.0 && s.is_finite()).or(cfg.default_ban_expires_in.map(|s| s as f64));
    let expires = secs.map(|s| Value::String(iso_ms::format(&(auth.now() + Duration::milliseconds((s * 1000.0) as i64)))));
    let values = Values(vec![
        (BANNED.into(), Value::Bool(true)),
        (BAN_REASON.into(), Value::String(reason)),
        (BAN_EXPIRES.into(), expires.unwrap_or(Value::Null)),
    ]);
    let user = update(&auth, &b.user_id, values).await?;
    auth.sessions.delete_user_sessions(&user.id, None, auth.now()).await?;
    let detail = json!({ "banReason": user.extra.get(BAN_REASON), "banExpires": user.extra.get(BAN_EXPIRES) });
    super::audit(&auth, Some(&cur.user.id), Some(&meta), "admin.ban-user", &user.id, Some(detail)).await;
    crate::session::revoked::all(&auth, &meta, Some(&cur.user.id), &user.id, false, "admin.ban-user").await;
    Ok(Reply::json(&json!({ "user": user })))
}

/// `POST /admin/unban-user`: `{user}`.
pub async fn unban_user(
    State(auth): State<Auth>,
    Valid(b): Valid<UserIdBody>,
    Authorized(cur, _): Authorized<Ban>,
    meta: RequestMeta,
) -> ApiResult<Reply> {
    let user = update(&auth, &b.user_id, lifted()).await?;
    super::audit(&auth, Some(&cur.user.id), Some(&meta), "admin.unban-user", &user.id, None).await;
    Ok(Reply::json(&json!({ "user": user })))
}
