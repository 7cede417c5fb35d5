//! The admin plugin's access control: Better Auth's default statements and roles (`admin`, `user`)
//! with the operator's roles merged over them, resolved once ([`crate::access`]), and
//! `hasPermission` (spec plugins §3.2).

use super::config::AdminConfig;
use crate::access::{self, live_roles, AccessControl, Request, Statements};
use crate::store::model::User;
use chrono::{DateTime, Utc};

/// Better Auth's `defaultStatements` of the admin plugin.
pub fn default_statements() -> Statements {
    access::statements(&[
        (
            "user",
            &[
                "create",
                "list",
                "set-role",
                "ban",
                "impersonate",
                "impersonate-admins",
                "delete",
                "set-password",
                "set-email",
                "get",
                "update",
            ],
        ),
        ("session", &["list", "revoke", "delete"]),
        // Portcullis's webhooks admin API (`/admin/webhooks/*`).
        ("webhook", &["create", "list", "update", "delete"]),
        // Portcullis: reading the audit log (`GET /admin/audit-log`).
        ("audit", &["list"]),
    ])
}

/// `adminAc` (every user action but `impersonate-admins`, every session action) and `userAc` (none).
fn default_roles() -> [(&'static str, Statements); 2] {
    let admin = access::statements(&[
        ("user", &["create", "list", "set-role", "ban", "impersonate", "delete", "set-password", "set-email", "get", "update"]),
        ("session", &["list", "revoke", "delete"]),
        ("webhook", &["create", "list", "update", "delete"]),
        ("audit", &["list"]),
    ]);
    let user = access::statements(&[("user", &[]), ("session", &[])]);
    [("admin", admin), ("user", user)]
}

/// Resolves `[admin]`'s roles; the error names the problem (`[admin]: role ...`).
pub fn build(cfg: &AdminConfig) -> Result<AccessControl, String> {
    AccessControl::new("[admin]", &default_statements(), &cfg.statements, &default_roles(), &cfg.roles)
}

/// The user's stored role, if any.
pub fn role_of(user: &User) -> Option<&str> {
    user.extra.get(super::ROLE).or_else(|| user.hidden.get(super::ROLE)).and_then(|v| v.as_str())
}

/// Better Auth's `hasPermission`: an `admin_user_ids` user passes; otherwise any of the roles
/// (`role`, else `default_role`, split on `,`; time-bound grants only until they expire) must
/// authorize the request.
pub fn has_permission(cfg: &AdminConfig, user_id: Option<&str>, role: Option<&str>, request: &Request, now: DateTime<Utc>) -> bool {
    if user_id.is_some_and(|id| cfg.admin_user_ids.iter().any(|a| a == id)) {
        return true;
    }
    let roles = role.filter(|r| !r.is_empty()).unwrap_or(&cfg.default_role);
    cfg.access().authorize(live_roles(roles, now), request)
}

/// Whether `user` may do `request` at `now`.
pub fn allows(cfg: &AdminConfig, user: &User, request: &Request, now: DateTime<Utc>) -> bool {
    has_permission(cfg, Some(&user.id), role_of(user), request, now)
}

/// Whether an impersonation target counts as an admin (a role in `admin_roles`, or an
/// `admin_user_ids` user).
pub fn is_admin(cfg: &AdminConfig, user: &User, now: DateTime<Utc>) -> bool {
    let roles = role_of(user).filter(|r| !r.is_empty()).unwrap_or(&cfg.default_role);
    live_roles(roles, now).any(|r| cfg.admin_roles.iter().any(|a| a.trim() == r)) || cfg.admin_user_ids.contains(&user.id)
}

/// A role value from a body (`"admin"` or `["admin", "user"]`) joined with `,`, after checking each
/// is a string and, when roles are configured, a known one.
pub fn parse_roles(cfg: &AdminConfig, v: &serde_json::Value) -> Result<String, crate::error::ApiError> {
    let items: Vec<&serde_json::Value> = match v {
        serde_json::Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    let mut out = Vec::with_capacity(items.len());
    for i in items {
        let Some(r) = i.as_str() else { return Err(super::errors::INVALID_ROLE_TYPE) };
        if !cfg.roles.is_empty() && !cfg.access().has_role(r) {
            return Err(super::errors::YOU_ARE_NOT_ALLOWED_TO_SET_NON_EXISTENT_VALUE);
        }
        out.push(r);
    }
    Ok(out.join(","))
}
