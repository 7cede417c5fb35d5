//! The organization's access control: Better Auth's statements and default roles (spec §4.2),
//! with the configured ones over them, and the permission checks the routes ask.

use super::config::OrganizationConfig;
use crate::access::{self, split_roles, AccessControl, Request};

/// Better Auth's organization statements.
pub fn statements() -> access::Statements {
    access::statements(&[
        ("organization", &["update", "delete"]),
        ("member", &["create", "update", "delete"]),
        ("invitation", &["create", "cancel"]),
        ("team", &["create", "update", "delete"]),
        ("ac", &["create", "read", "update", "delete"]),
    ])
}

/// `owner` (everything), `admin` (all but `organization:delete`), `member` (`ac:read`).
fn defaults() -> Vec<(&'static str, access::Statements)> {
    let all = statements();
    let mut admin = all.clone();
    admin.insert("organization".into(), vec!["update".into()]);
    let member = access::statements(&[("ac", &["read"])]);
    vec![("owner", all), ("admin", admin), ("member", member)]
}

/// The configured access control (refused at start when a role is wrong).
pub fn access_control(cfg: &OrganizationConfig) -> Result<AccessControl, String> {
    AccessControl::new("organization.roles", &statements(), &cfg.statements, &defaults(), &cfg.roles)
}

/// Whether a member with the stored `role` string may do `pairs`.
pub fn can(ac: &AccessControl, role: &str, pairs: &[(&str, &[&str])]) -> bool {
    ac.authorize(split_roles(role).map(str::trim), &Request::of(pairs))
}

/// Whether the stored role string holds `name`.
pub fn holds(role: &str, name: &str) -> bool {
    split_roles(role).any(|r| r.trim() == name)
}

/// The names among `roles` the access control does not know.
pub fn unknown<'a>(ac: &AccessControl, roles: &'a [String]) -> Vec<&'a str> {
    roles.iter().map(String::as_str).filter(|r| !ac.has_role(r)).collect()
}
