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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(unknown(&ac, &["editor".into(), "czar".into()]), vec!["czar"]);
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
