//! `create-user`, `get-user`, `update-user`, `remove-user`, `set-user-password`.

use super::guard::{require, AdminSession, Authorized};
use super::{errors, roles, settings, UserIdBody, BANNED, BAN_EXPIRES, BAN_REASON, ROLE};
use crate::app::Auth;
use crate::error::{codes, ApiError, ApiResult};
use crate::fields::{parse_date, Action, FieldType};
use crate::http::body::is_email;
use crate::http::input::{Input, Obj, Valid, ValidQuery};
use crate::http::reply::Reply;
use crate::session::hooks::{self, WriteError};
use crate::session::RequestMeta;
use crate::store::model::{iso_ms, Account, User, UserPatch, Values};
use crate::store::StoreError;
use axum::extract::State;
use serde_json::{json, Map, Value};

crate::permission!(pub Create { user: ["create"] } else errors::YOU_ARE_NOT_ALLOWED_TO_CREATE_USERS);
crate::permission!(pub Get { user: ["get"] } else errors::YOU_ARE_NOT_ALLOWED_TO_GET_USER);
crate::permission!(pub Update { user: ["update"] } else errors::YOU_ARE_NOT_ALLOWED_TO_UPDATE_USERS);
crate::permission!(pub Delete { user: ["delete"] } else errors::YOU_ARE_NOT_ALLOWED_TO_DELETE_USERS);
crate::permission!(pub SetPassword { user: ["set-password"] } else errors::YOU_ARE_NOT_ALLOWED_TO_SET_USERS_PASSWORD);

const BAN_FIELDS: [&str; 3] = [BANNED, BAN_REASON, BAN_EXPIRES];

/// `{email, password?, name, role?, data?}`
pub struct CreateBody {
    email: String,
    password: Option<String>,
    name: String,
    role: Option<Value>,
    data: Map<String, Value>,
}

impl Input for CreateBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        CreateBody {
            email: o.string("email"),
            password: o.opt_string("password"),
            name: o.string("name"),
            role: o.raw("role").cloned(),
            data: o.opt_record("data").unwrap_or_default(),
        }
    }
}

/// The declared user fields `data` sets (a server-side write: `input: false` fields included),
/// dates normalised to ISO-8601. A value of the wrong type is a 400 naming the field, not a
/// database error.
fn declared(auth: &Auth, data: &Map<String, Value>) -> ApiResult<Values> {
    let mut out = Values::default();
    for f in auth.user_fields.iter() {
        let Some(v) = data.get(&f.name) else { continue };
        let v = match (f.def.ty, v) {
            (_, Value::Null) => Value::Null,
            (FieldType::Date, Value::String(s)) => match parse_date(s) {
                Some(t) => Value::String(iso_ms::format(&t)),
                None => return Err(invalid(&f.name, "date")),
            },
            (FieldType::Date, Value::Number(n)) => match n.as_i64().and_then(chrono::DateTime::from_timestamp_millis) {
                Some(t) => Value::String(iso_ms::format(&t)),
                None => return Err(invalid(&f.name, "date")),
            },
            (FieldType::Date, _) => return Err(invalid(&f.name, "date")),
            (FieldType::String, v) if !v.is_string() => return Err(invalid(&f.name, "string")),
            (FieldType::Boolean, v) if !v.is_boolean() => return Err(invalid(&f.name, "boolean")),
            (FieldType::Number, v) if !v.is_number() => return Err(invalid(&f.name, "number")),
            (_, v) => v.clone(),
        };
        out.set(&f.name, v);
    }
    Ok(out)
}

fn invalid(field: &str, expected: &str) -> ApiError {
    ApiError::validation(format!("[body.data.{field}] Invalid input: expected {expected}"))
}

/// `POST /admin/create-user`: `{user}`; a credential account only when a password is given.
pub async fn create_user(
    State(auth): State<Auth>,
    Valid(mut b): Valid<CreateBody>,
    AdminSession(cur): AdminSession,
    meta: RequestMeta,
) -> ApiResult<Reply> {
    require(&auth, &cur, &[("user", &["create"])], errors::YOU_ARE_NOT_ALLOWED_TO_CREATE_USERS)?;
    let data_role = b.data.remove(ROLE);
    let role = match b.role.as_ref().or(data_role.as_ref()) {
        Some(r) => {
            require(&auth, &cur, &[("user", &["set-role"])], errors::YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE)?;
            Some(roles::parse_roles(settings(&auth), r)?)
        }
        None => None,
    };
    if BAN_FIELDS.iter().any(|k| b.data.contains_key(*k)) {
        require(&auth, &cur, &[("user", &["ban"])], errors::YOU_ARE_NOT_ALLOWED_TO_BAN_USERS)?;
    }
    let email = b.email.to_lowercase();
    if !is_email(&email) {
        return Err(codes::INVALID_EMAIL);
    }
    if auth.store.find_user_by_email(&email).await?.is_some() {
        return Err(errors::USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL);
    }
    let now = auth.now();
    let mut values = auth.user_fields.parse_input(&Map::new(), Action::Create, now)?;
    for (k, v) in declared(&auth, &b.data)?.0 {
        values.set(&k, v);
    }
    values.set(ROLE, Value::String(role.unwrap_or_else(|| settings(&auth).default_role.clone())));
    let (extra, hidden) = auth.user_fields.complete(values);
    let user = User {
        extra,
        hidden,
        id: auth.new_id(),
        name: b.name,
        email,
        email_verified: b.data.get("emailVerified").and_then(Value::as_bool).unwrap_or(false),
        image: b.data.get("image").and_then(Value::as_str).map(str::to_string),
        created_at: now,
        updated_at: now,
    };
    let account = match b.password.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => Some(Account::credential(auth.new_id(), &user.id, hash(&auth, p).await?, now)),
        None => None,
    };
    let user = match hooks::create_user(&auth, user, account.as_ref()).await {
        Ok(u) => u,
        Err(WriteError::Store(StoreError::Conflict(_))) => return Err(errors::USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL),
        Err(e) => return Err(e.into()),
    };
    let detail = json!({ "role": user.extra.get(ROLE), "password": account.is_some() });
    super::audit(&auth, Some(&cur.user.id), Some(&meta), "admin.create-user", &user.id, Some(detail)).await;
    Ok(Reply::json(&json!({ "user": user })))
}

async fn hash(auth: &Auth, password: &str) -> ApiResult<String> {
    auth.hasher.hash(password).await.map_err(|e| match e {
        crate::crypto::password::PasswordError::Busy => codes::SERVER_BUSY.retry_after(1),
        e => ApiError::internal(e),
    })
}

/// `{id}` in the query.
pub struct IdQuery {
    id: String,
}

impl Input for IdQuery {
    fn parse(o: &mut Obj<'_>) -> Self {
        IdQuery { id: o.string("id") }
    }
}

/// `GET /admin/get-user?id=`: the bare user.
pub async fn get_user(State(auth): State<Auth>, ValidQuery(q): ValidQuery<IdQuery>, _: Authorized<Get>) -> ApiResult<Reply> {
    let user = auth.store.find_user_by_id(&q.id).await?.ok_or_else(errors::user_not_found)?;
    Ok(Reply::json(&user))
}

/// `{userId, data: record}`
pub struct UpdateBody {
    user_id: String,
    data: Map<String, Value>,
}

impl Input for UpdateBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        let data = o.opt_record("data");
        if data.is_none() && o.raw("data").is_none() {
            o.opt_record("data");
            o.string("data");
        }
        UpdateBody { user_id: super::coerce(o.raw("userId")), data: data.unwrap_or_default() }
    }
    /// `{userId (z.coerce.string(): anything), data: record}`: `data` is required, which the
    /// parse checks by hand.
    fn describe(o: &mut Obj<'_>) {
        o.raw("userId");
        o.opt_record("data");
        o.doc_required();
    }
}

/// `POST /admin/update-user`: the bare updated user. Role, ban and e-mail changes need their own
/// permissions; `banned: true` also ends the user's sessions.
pub async fn update_user(
    State(auth): State<Auth>,
    Valid(b): Valid<UpdateBody>,
    Authorized(cur, _): Authorized<Update>,
    meta: RequestMeta,
) -> ApiResult<Reply> {
    let mut data = b.data;
    if data.is_empty() {
        return Err(errors::NO_DATA_TO_UPDATE);
    }
    if data.contains_key("password") {
        return Err(errors::PASSWORD_CANNOT_BE_UPDATED_VIA_UPDATE_USER);
    }
    if let Some(r) = data.get(ROLE).cloned() {
        require(&auth, &cur, &[("user", &["set-role"])], errors::YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE)?;
        data.insert(ROLE.into(), Value::String(roles::parse_roles(settings(&auth), &r)?));
    }
    if BAN_FIELDS.iter().any(|k| data.contains_key(*k)) {
        require(&auth, &cur, &[("user", &["ban"])], errors::YOU_ARE_NOT_ALLOWED_TO_BAN_USERS)?;
        if b.user_id == cur.user.id && data.get(BANNED).and_then(Value::as_bool) == Some(true) {
            return Err(errors::YOU_CANNOT_BAN_YOURSELF);
        }
    }
    let mut patch = UserPatch { extra: declared(&auth, &data)?, ..UserPatch::default() };
    if data.contains_key("email") || data.contains_key("emailVerified") {
        require(&auth, &cur, &[("user", &["set-email"])], errors::YOU_ARE_NOT_ALLOWED_TO_SET_USERS_EMAIL)?;
        if let Some(e) = data.get("email") {
            let email = e.as_str().unwrap_or_default().to_lowercase();
            if !is_email(&email) {
                return Err(codes::INVALID_EMAIL);
            }
            if auth.store.find_user_by_email(&email).await?.is_some_and(|u| u.id != b.user_id) {
                return Err(errors::USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL);
            }
            patch.email = Some(email);
        }
        patch.email_verified = data.get("emailVerified").and_then(Value::as_bool);
    }
    if let Some(n) = data.get("name").and_then(Value::as_str) {
        patch.name = Some(n.to_string());
    }
    match data.get("image") {
        Some(Value::Null) => patch.image = Some(None),
        Some(Value::String(s)) => patch.image = Some(Some(s.clone())),
        _ => {}
    }
    let user = match hooks::update_user(&auth, &b.user_id, patch).await {
        Ok(Some(u)) => u,
        Ok(None) => return Err(errors::user_not_found()),
        Err(WriteError::Store(StoreError::Conflict(_))) => return Err(errors::USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL),
        Err(e) => return Err(e.into()),
    };
    if data.get(BANNED).and_then(Value::as_bool) == Some(true) {
        auth.sessions.delete_user_sessions(&user.id, None, auth.now()).await?;
    } else {
        auth.sessions.refresh_user(&user, auth.now()).await;
    }
    // Which fields changed, and the new role and ban (never other values: they may be personal).
    let mut detail = json!({ "fields": data.keys().collect::<Vec<_>>() });
    for k in [ROLE, BANNED, BAN_REASON, BAN_EXPIRES].into_iter().filter(|k| data.contains_key(*k)) {
        detail[k] = data[k].clone();
    }
    super::audit(&auth, Some(&cur.user.id), Some(&meta), "admin.update-user", &user.id, Some(detail)).await;
    Ok(Reply::json(&user))
}

/// `POST /admin/remove-user`: deletes the user with its sessions and accounts; `{success: true}`.
pub async fn remove_user(
    State(auth): State<Auth>,
    Valid(b): Valid<UserIdBody>,
    Authorized(cur, _): Authorized<Delete>,
    meta: RequestMeta,
) -> ApiResult<Reply> {
    if b.user_id == cur.user.id {
        return Err(errors::YOU_CANNOT_REMOVE_YOURSELF);
    }
    let user = auth.store.find_user_by_id(&b.user_id).await?.ok_or_else(errors::user_not_found)?;
    hooks::delete_user(&auth, &user).await?;
    super::audit(&auth, Some(&cur.user.id), Some(&meta), "admin.remove-user", &user.id, Some(json!({ "email": user.email }))).await;
    Ok(Reply::json(&json!({"success": true})))
}

/// `{userId (non-empty), newPassword (non-empty)}`
pub struct SetPasswordBody {
    user_id: String,
    new_password: String,
}

impl Input for SetPasswordBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        let new_password = o.nonempty("newPassword");
        let user_id = super::coerce(o.raw("userId"));
        if user_id.is_empty() {
            o.nonempty("userId");
        }
        SetPasswordBody { user_id, new_password }
    }
}

/// `POST /admin/set-user-password`: `{status: true}`; creates the credential account if missing.
pub async fn set_user_password(
    State(auth): State<Auth>,
    Valid(b): Valid<SetPasswordBody>,
    Authorized(cur, _): Authorized<SetPassword>,
    meta: RequestMeta,
) -> ApiResult<Reply> {
    let cfg = &auth.config.email_and_password;
    let n = b.new_password.encode_utf16().count();
    if n < cfg.min_password_length {
        return Err(codes::PASSWORD_TOO_SHORT);
    }
    if n > cfg.max_password_length {
        return Err(codes::PASSWORD_TOO_LONG);
    }
    let user = auth.store.find_user_by_id(&b.user_id).await?.ok_or_else(errors::user_not_found)?;
    let h = hash(&auth, &b.new_password).await?;
    match auth.store.find_credential_account(&user.id).await? {
        Some(a) => auth.store.update_password(&a.id, &h, auth.now()).await?,
        None => auth.store.create_account(&Account::credential(auth.new_id(), &user.id, h, auth.now())).await?,
    }
    super::audit(&auth, Some(&cur.user.id), Some(&meta), "admin.set-user-password", &user.id, None).await;
    Ok(Reply::json(&json!({"status": true})))
}
