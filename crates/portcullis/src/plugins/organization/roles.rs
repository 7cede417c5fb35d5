//! The organization's access control: Better Auth's statements and default roles (spec §4.2),
//! with the configured ones over them, and the permission checks the routes ask. With dynamic
//! access control on, an organization's `organizationRole` rows join its static roles
//! ([`OrgRoles`]): a row named like a static role adds its actions to it.

use super::config::OrganizationConfig;
use crate::access::{self, split_roles, AccessControl, Request, Role};
use crate::app::Auth;
use crate::error::{ApiError, ApiResult};
use crate::store::adapter::{Query, Row, Where};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::HashMap;

/// Better Auth's `organizationRole` table.
pub const ORGANIZATION_ROLE: &str = "organizationRole";

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

/// The roles of a stored member role string in force at `now`: trimmed, and time-bound grants
/// (`name@time`, [`access::live_roles`]) only until they expire.
pub fn live(role: &str, now: DateTime<Utc>) -> impl Iterator<Item = &str> {
    split_roles(role).map(str::trim).filter_map(move |p| match access::grant_parts(p) {
        Some((name, until)) => (until > now).then_some(name.trim()),
        None => Some(p),
    })
}

/// Whether the stored role string holds `name` at `now`.
pub fn holds(role: &str, name: &str, now: DateTime<Utc>) -> bool {
    live(role, now).any(|r| r == name)
}

/// The roles in force in one organization: the static ones, and (dynamic access control) the
/// organization's `organizationRole` rows, each merged with the static role of its name.
pub struct OrgRoles<'a> {
    ac: &'a AccessControl,
    db: HashMap<String, Role>,
    /// When the roles are looked at: a time-bound grant counts until then.
    now: DateTime<Utc>,
}

impl<'a> OrgRoles<'a> {
    /// The static roles only.
    pub fn fixed(ac: &'a AccessControl, now: DateTime<Utc>) -> Self {
        OrgRoles { ac, db: HashMap::new(), now }
    }

    fn role(&self, name: &str) -> Option<&Role> {
        self.db.get(name).or_else(|| self.ac.role(name))
    }

    /// Whether a static or database role is called `name`.
    pub fn has_role(&self, name: &str) -> bool {
        self.role(name).is_some()
    }

    /// Whether any role of the stored (comma-separated) `role` string authorizes `request`.
    pub fn authorize(&self, role: &str, request: &Request) -> bool {
        live(role, self.now).any(|r| self.role(r).is_some_and(|x| x.authorize(request)))
    }

    /// Whether a member with the stored `role` string may do `pairs`.
    pub fn can(&self, role: &str, pairs: &[(&str, &[&str])]) -> bool {
        self.authorize(role, &Request::of(pairs))
    }

    /// The names among `roles` no role of this organization has.
    pub fn unknown<'r>(&self, roles: &'r [String]) -> Vec<&'r str> {
        roles.iter().map(String::as_str).filter(|r| !self.has_role(r)).collect()
    }

    /// Each `resource:action` of `wanted` that `role` does not grant (what a member may not hand
    /// out in a role it creates or updates).
    pub fn missing(&self, role: &str, wanted: &access::Statements) -> Vec<String> {
        let mut out = Vec::new();
        for (resource, actions) in wanted {
            for a in actions {
                if !self.can(role, &[(resource.as_str(), &[a.as_str()])]) {
                    out.push(format!("{resource}:{a}"));
                }
            }
        }
        out
    }
}

/// A stored `permission` (a JSON string) as statements; Better Auth answers a malformed one with
/// a 500 naming the role.
pub fn parse_permission(role: &str, stored: &str) -> ApiResult<access::Statements> {
    serde_json::from_str(stored)
        .map_err(|_| ApiError::uncoded(StatusCode::INTERNAL_SERVER_ERROR, format!("Invalid permissions for role {role}")))
}

/// The `organizationRole` rows of `org`, oldest first.
pub async fn rows_of(auth: &Auth, org: &str) -> ApiResult<Vec<Row>> {
    let q = Query { filter: vec![Where::eq("organizationId", org)], sort_by: Some(("createdAt".into(), false)), ..Default::default() };
    Ok(auth.adapter()?.find_many(ORGANIZATION_ROLE, &q).await?)
}

/// The roles in force in `org`: with dynamic access control on, its database roles too.
pub async fn of<'a>(auth: &Auth, ac: &'a AccessControl, org: &str) -> ApiResult<OrgRoles<'a>> {
    let mut roles = OrgRoles::fixed(ac, auth.now());
    if !super::settings(auth).dynamic_access_control.enabled {
        return Ok(roles);
    }
    for row in rows_of(auth, org).await? {
        let name = row.get("role").and_then(Value::as_str).unwrap_or_default().to_string();
        let stored = row.get("permission").and_then(Value::as_str).unwrap_or_default();
        let granted = parse_permission(&name, stored)?;
        let mut merged = roles.role(&name).map(Role::statements).unwrap_or_default();
        for (resource, actions) in granted {
            let have = merged.entry(resource).or_default();
            for a in actions {
                if !have.contains(&a) {
                    have.push(a);
                }
            }
        }
        roles.db.insert(name, Role::new(&merged));
    }
    Ok(roles)
}

/// Whether a member of `org` with the stored `role` string may do `pairs` (its database roles
/// included).
pub async fn can(auth: &Auth, ac: &AccessControl, org: &str, role: &str, pairs: &[(&str, &[&str])]) -> ApiResult<bool> {
    Ok(of(auth, ac, org).await?.can(role, pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn can(ac: &AccessControl, role: &str, pairs: &[(&str, &[&str])]) -> bool {
        OrgRoles::fixed(ac, Utc::now()).can(role, pairs)
    }

    fn cfg(toml_text: &str) -> OrganizationConfig {
        toml::from_str(toml_text).expect("parses")
    }

    #[test]
    fn default_roles_are_better_auths() {
        let ac = access_control(&OrganizationConfig::default()).unwrap();
        assert!(can(&ac, "owner", &[("organization", &["delete"])]));
        assert!(!can(&ac, "admin", &[("organization", &["delete"])]));
        assert!(can(&ac, "admin", &[("organization", &["update"]), ("invitation", &["create", "cancel"])]));
        assert!(can(&ac, "member", &[("ac", &["read"])]));
        assert!(!can(&ac, "member", &[("member", &["delete"])]));
        // Several roles: any one that authorizes is enough; spaces after commas are trimmed.
        assert!(can(&ac, "member, admin", &[("member", &["delete"])]));
        assert!(!can(&ac, "ghost", &[("ac", &["read"])]));
    }

    #[test]
    fn configured_roles_and_statements_merge_over_the_defaults() {
        let c = cfg(r#"
            statements = { project = ["create", "share"] }
            [roles.editor]
            extends = ["member"]
            permissions = { project = ["create"], invitation = ["create"] }
            "#);
        let ac = access_control(&c).unwrap();
        assert!(can(&ac, "editor", &[("project", &["create"]), ("ac", &["read"])]));
        assert!(!can(&ac, "editor", &[("project", &["share"])]));
        assert!(can(&ac, "owner", &[("organization", &["delete"])]), "defaults stay");
        assert_eq!(OrgRoles::fixed(&ac, Utc::now()).unknown(&["editor".into(), "czar".into()]), vec!["czar"]);
    }

    #[test]
    fn a_role_granting_an_unknown_action_or_an_unknown_creator_role_is_refused() {
        use crate::config::Section;
        let bad = cfg("[roles.x]\npermissions = { organization = [\"explode\"] }");
        assert!(access_control(&bad).unwrap_err().contains("explode"));
        let c = cfg("creator_role = \"founder\"");
        assert!(c.check().is_err());
    }
}
