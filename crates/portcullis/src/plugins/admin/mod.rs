//! User administration, wire-compatible with Better Auth 1.7.24's `admin()` plugin and its
//! `adminClient()` (spec plugins §3): roles and permissions, bans, impersonation, and the
//! `/admin/*` routes that manage users and their sessions.
//!
//! Owns: the user fields `role`, `banned`, `banReason`, `banExpires` and the session field
//! `impersonatedBy` (all `input: false`), the `[admin]` section ([`config`]), its roles
//! ([`roles`], over [`crate::access`]), the `admin_session` cookie, its error codes ([`errors`]),
//! the ban check at every sign-in ([`ban`], a before-session hook), the default role of every new
//! user (a before-create hook), and the [`Authorized`] extractor embedders use for their own routes.
//!
//! | file | what |
//! | --- | --- |
//! | [`guard`] | `Authorized<P>`, `permission!`: a store-fresh session holding a permission |
//! | [`users`] | create-user, get-user, update-user, remove-user, set-user-password |
//! | [`list`] | list-users (search, filter, sort, pages) through the generic adapter |
//! | [`ban`] | set-role, ban-user, unban-user, the sign-in check |
//! | [`sessions`] | list-user-sessions, revoke-user-session(s), has-permission |
//! | [`impersonate`] | impersonate-user, stop-impersonating |
//! | [`manage`] | the same without HTTP, for `portcullis admin` |
//! | [`provider_roles`] | roles derived from the identity provider at social sign-in |
//!
//! Must never: let a session answered from the cookie cache pass an admin check, let a banned user
//! sign in by any method, or let a caller grant a role or ban without the permission for it.

pub mod ban;
pub mod config;
pub mod guard;
pub mod impersonate;
pub mod list;
pub mod manage;
pub mod provider_roles;
pub mod roles;
pub mod sessions;
pub mod users;

pub use guard::{AdminSession, Authorized, Permission};

use crate::app::openapi::{Api, Op};
use crate::app::{Auth, Capability};
use crate::config::SectionSpec;
use crate::error::ApiError;
use crate::fields::{FieldDef, FieldSet, FieldType};
use crate::http::input::{check, Check};
use crate::session::hooks::{Decision, Hooks, SignIn};
use crate::store::model::User;
use axum::response::Response;
use serde_json::Value;

pub const ROLE: &str = crate::access::ROLE_FIELD;
pub const BANNED: &str = "banned";
pub const BAN_REASON: &str = "banReason";
pub const BAN_EXPIRES: &str = "banExpires";
pub const IMPERSONATED_BY: &str = "impersonatedBy";
/// The cookie holding the admin's own session during an impersonation.
pub const ADMIN_SESSION_COOKIE: &str = "admin_session";

/// This capability's `[admin]` section.
pub fn settings(auth: &Auth) -> &config::AdminConfig {
    auth.config.section()
}

/// `ADMIN_ERROR_CODES`, each with the status its endpoints answer it with.
pub mod errors {
    crate::error_codes! {
        FAILED_TO_CREATE_USER = INTERNAL_SERVER_ERROR, "Failed to create user";
        USER_ALREADY_EXISTS = BAD_REQUEST, "User already exists.";
        USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL = BAD_REQUEST, "User already exists. Use another email.";
        YOU_CANNOT_BAN_YOURSELF = BAD_REQUEST, "You cannot ban yourself";
        YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE = FORBIDDEN, "You are not allowed to change users role";
        YOU_ARE_NOT_ALLOWED_TO_CREATE_USERS = FORBIDDEN, "You are not allowed to create users";
        YOU_ARE_NOT_ALLOWED_TO_LIST_USERS = FORBIDDEN, "You are not allowed to list users";
        YOU_ARE_NOT_ALLOWED_TO_LIST_USERS_SESSIONS = FORBIDDEN, "You are not allowed to list users sessions";
        YOU_ARE_NOT_ALLOWED_TO_BAN_USERS = FORBIDDEN, "You are not allowed to ban users";
        YOU_ARE_NOT_ALLOWED_TO_IMPERSONATE_USERS = FORBIDDEN, "You are not allowed to impersonate users";
        YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS = FORBIDDEN, "You are not allowed to revoke users sessions";
        YOU_ARE_NOT_ALLOWED_TO_DELETE_USERS = FORBIDDEN, "You are not allowed to delete users";
        YOU_ARE_NOT_ALLOWED_TO_SET_USERS_PASSWORD = FORBIDDEN, "You are not allowed to set users password";
        BANNED_USER = FORBIDDEN, "You have been banned from this application";
        YOU_ARE_NOT_ALLOWED_TO_GET_USER = FORBIDDEN, "You are not allowed to get user";
        NO_DATA_TO_UPDATE = BAD_REQUEST, "No data to update";
        YOU_ARE_NOT_ALLOWED_TO_UPDATE_USERS = FORBIDDEN, "You are not allowed to update users";
        YOU_CANNOT_REMOVE_YOURSELF = BAD_REQUEST, "You cannot remove yourself";
        YOU_ARE_NOT_ALLOWED_TO_SET_NON_EXISTENT_VALUE = BAD_REQUEST, "You are not allowed to set a non-existent role value";
        YOU_CANNOT_IMPERSONATE_ADMINS = FORBIDDEN, "You cannot impersonate admins";
        INVALID_ROLE_TYPE = BAD_REQUEST, "Invalid role type";
        YOU_ARE_NOT_ALLOWED_TO_SET_USERS_EMAIL = FORBIDDEN, "You are not allowed to update users email";
        PASSWORD_CANNOT_BE_UPDATED_VIA_UPDATE_USER = BAD_REQUEST, "Password cannot be updated through update-user. Use the set-user-password endpoint instead";
    }

    /// Better Auth's `USER_NOT_FOUND`, answered 404 by the admin endpoints.
    pub fn user_not_found() -> crate::error::ApiError {
        crate::error::codes::USER_NOT_FOUND.with_status(axum::http::StatusCode::NOT_FOUND)
    }
}

/// The admin capability.
pub struct Admin;

impl Admin {
    /// Resolves the roles now: a bad `[admin.roles]` refuses start (the section's check names it).
    pub fn new(cfg: &config::AdminConfig) -> Self {
        let _ = cfg.access();
        Admin
    }
}

#[async_trait::async_trait]
impl Capability for Admin {
    fn id(&self) -> &'static str {
        "admin"
    }
    fn sections(&self) -> Vec<SectionSpec> {
        vec![SectionSpec::of::<config::AdminConfig>()]
    }
    fn api(&self) -> Api {
        use crate::app::openapi::wire::*;
        // The admin guard answers a bare 401 without a session, as Better Auth's admin middleware.
        let op = |s: &'static str| Op::new(s).signed_in().bare("401");
        Api::new("Admin")
            .post(
                "/admin/create-user",
                users::create_user,
                op("Creates a user").body::<users::CreateBody>().json(object(&[("user", user())], &[])),
            )
            .get(
                "/admin/list-users",
                list::list_users,
                op("Lists users (search, filter, sort, page)")
                    .query::<list::ListQuery>()
                    .json(object(&[("users", array(user())), ("total", number())], &[])),
            )
            .get("/admin/get-user", users::get_user, op("One user").query::<users::IdQuery>().json(user()))
            .post(
                "/admin/set-role",
                ban::set_role,
                op("Sets a user's role(s)").body::<ban::SetRoleBody>().json(object(&[("user", user())], &[])),
            )
            .post(
                "/admin/set-user-password",
                users::set_user_password,
                op("Sets a user's password").body::<users::SetPasswordBody>().json(status()),
            )
            .post("/admin/update-user", users::update_user, op("Updates a user").body::<users::UpdateBody>().json(user()))
            .post("/admin/ban-user", ban::ban_user, op("Bans a user").body::<ban::BanBody>().json(object(&[("user", user())], &[])))
            .post("/admin/unban-user", ban::unban_user, op("Lifts a ban").body::<UserIdBody>().json(object(&[("user", user())], &[])))
            .post(
                "/admin/impersonate-user",
                impersonate::impersonate_user,
                op("Signs in as another user").body::<UserIdBody>().json(session_and_user()),
            )
            .post(
                "/admin/stop-impersonating",
                impersonate::stop_impersonating,
                op("Returns to the admin's own session").json(session_and_user()),
            )
            .post(
                "/admin/list-user-sessions",
                sessions::list_user_sessions,
                op("A user's sessions").body::<UserIdBody>().json(object(&[("sessions", array(session()))], &[])),
            )
            .post(
                "/admin/revoke-user-session",
                sessions::revoke_user_session,
                op("Revokes one session").body::<sessions::TokenBody>().json(success()),
            )
            .post(
                "/admin/revoke-user-sessions",
                sessions::revoke_user_sessions,
                op("Revokes a user's sessions").body::<UserIdBody>().json(success()),
            )
            .post("/admin/remove-user", users::remove_user, op("Deletes a user").body::<UserIdBody>().json(success()))
            .post(
                "/admin/has-permission",
                sessions::has_permission,
                op("Checks permissions").body::<sessions::PermissionBody>().json(any()),
            )
    }
    fn inputs(&self) -> Vec<(&'static str, Check)> {
        vec![
            ("/admin/create-user", check::<users::CreateBody>()),
            ("/admin/set-role", check::<ban::SetRoleBody>()),
            ("/admin/set-user-password", check::<users::SetPasswordBody>()),
            ("/admin/update-user", check::<users::UpdateBody>()),
            ("/admin/ban-user", check::<ban::BanBody>()),
            ("/admin/unban-user", check::<UserIdBody>()),
            ("/admin/impersonate-user", check::<UserIdBody>()),
            ("/admin/list-user-sessions", check::<UserIdBody>()),
            ("/admin/revoke-user-session", check::<sessions::TokenBody>()),
            ("/admin/revoke-user-sessions", check::<UserIdBody>()),
            ("/admin/remove-user", check::<UserIdBody>()),
            ("/admin/has-permission", check::<sessions::PermissionBody>()),
        ]
    }
    fn user_fields(&self) -> FieldSet {
        let mut f = FieldSet::new();
        f.add(ROLE, FieldDef::new(FieldType::String).no_input());
        f.add(BANNED, FieldDef::new(FieldType::Boolean).default_value(false.into()).no_input());
        f.add(BAN_REASON, FieldDef::new(FieldType::String).no_input());
        f.add(BAN_EXPIRES, FieldDef::new(FieldType::Date).no_input());
        f
    }
    fn session_fields(&self) -> FieldSet {
        let mut f = FieldSet::new();
        f.add(IMPERSONATED_BY, FieldDef::new(FieldType::String).no_input());
        f
    }
    fn cookies(&self) -> &'static [&'static str] {
        &[ADMIN_SESSION_COOKIE]
    }
    fn schema(&self) -> Vec<crate::store::schema::Table> {
        // list-users searches e-mail and name by substring (Better Auth's default `contains`).
        vec![crate::store::schema::Table::indexes_on("user", vec![], vec!["email", "name"])]
    }
    fn hooks(&self) -> Hooks {
        Hooks { before_session: true, user: true, ..Hooks::default() }
    }
    async fn before_session(&self, auth: &Auth, s: &SignIn<'_>) -> Decision {
        match ban::before_session(auth, s.user).await {
            Decision::Continue => {}
            other => return other,
        }
        match &s.federated {
            Some(f) => provider_roles::before_session(auth, s.user, f, s.meta).await,
            None => Decision::Continue,
        }
    }
    /// Every new user gets `default_role` unless a role was given (sign-up, social, create-user...).
    async fn before_user_create(&self, auth: &Auth, user: &mut User) -> Result<(), ApiError> {
        if user.extra.get(ROLE).is_none_or(Value::is_null) {
            user.extra.set(ROLE, Value::String(settings(auth).default_role.clone()));
        }
        Ok(())
    }
    /// `/list-sessions` leaves out impersonation sessions (Better Auth's after-hook).
    async fn on_response(&self, _auth: &Auth, path: &str, res: &mut Response) {
        if path == "/list-sessions" && res.status().is_success() {
            sessions::hide_impersonations(res).await;
        }
    }
}

/// Emits admin action `kind` (`admin.ban-user`, ...) on user `target`, by `actor` from `meta`
/// (the audit log records it; no secrets in `data`).
pub async fn audit(
    auth: &Auth,
    actor: Option<&str>,
    meta: Option<&crate::session::RequestMeta>,
    kind: &'static str,
    target: &str,
    data: Option<Value>,
) {
    if !auth.listens() {
        return;
    }
    let mut event = crate::app::Event::new(auth, kind, "user", Some(target)).actor(actor).data(data.unwrap_or(Value::Null));
    if let Some(meta) = meta {
        event = event.meta(meta);
    }
    auth.emit(event).await;
}

/// `{userId}` (`z.coerce.string()`).
pub struct UserIdBody {
    pub user_id: String,
}

impl crate::http::input::Input for UserIdBody {
    fn parse(o: &mut crate::http::input::Obj<'_>) -> Self {
        UserIdBody { user_id: coerce(o.raw("userId")) }
    }
}

/// zod's `z.coerce.string()`: `String(value)`.
pub fn coerce(v: Option<&Value>) -> String {
    match v {
        None => "undefined".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) => "null".into(),
        Some(Value::Array(a)) => a.iter().map(|i| coerce(Some(i))).collect::<Vec<_>>().join(","),
        Some(Value::Object(_)) => "[object Object]".into(),
        Some(v) => v.to_string(),
    }
}
