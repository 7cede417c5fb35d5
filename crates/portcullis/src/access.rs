//! Access control: Better Auth 1.7.24's `createAccessControl` model (spec plugins §3.2, §4.2),
//! shared by the admin and organization capabilities (a leaf: it imports nothing above it).
//!
//! A set of **statements** names what exists (resource → actions); a **role** grants some of
//! them; a permission **request** (`{"user": ["list", "get"]}`, or per resource
//! `{"actions": [...], "connector": "OR"}`) is authorized by a role when Better Auth's
//! `role.authorize` says so: every requested resource must be granted (AND), and for each, every
//! listed action (or one of them with `"OR"`); an empty request, or an empty action list, fails.
//! A user or member holds several roles as one comma-separated string ([`split_roles`]); the
//! request passes when **any** of them authorizes it.
//!
//! Beyond Better Auth, and only for roles an operator configures ([`RoleDef`]): a role may
//! `extends` others (resolved once, when the capability starts; a cycle is refused with its path
//! named), and may grant `"*"` (every action of a resource) or the resource `"*"` (everything:
//! an owner). Unknown resources or actions in a configured role are refused at start, so a typo
//! cannot silently grant nothing.
//!
//! Also beyond Better Auth, and only when a caller asks for it: a **time-bound grant** is a role held
//! until a time, kept in the same comma-separated string as `name@<RFC 3339 time>`
//! (`user,admin@2026-12-31T00:00:00.000Z`), so it shows in the user's (or member's) data with its
//! expiry and needs no other table. [`live_roles`] drops a grant the moment it expires, on every
//! check; Better Auth reading such a row sees an unknown role, which grants nothing.
//!
//! Must never: panic on any request JSON, or let a role grant an action it was not configured with.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Resource → actions, in configuration order (`{"user": ["create", "list"], ...}`).
pub type Statements = BTreeMap<String, Vec<String>>;

/// A role as configured: `[admin.roles.admin_rw] extends = ["admin_ro"], permissions = {...}`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RoleDef {
    /// Roles whose permissions this one also grants (a Portcullis addition).
    pub extends: Vec<String>,
    /// Resource → actions; `"*"` as an action grants every action of the resource, and the
    /// resource `"*"` (with `["*"]`) grants everything.
    pub permissions: Statements,
}

/// A role: the actions it grants, per resource.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Role {
    grants: BTreeMap<String, BTreeSet<String>>,
}

impl Role {
    /// A role granting exactly `statements` (no wildcards: Better Auth's `ac.newRole`).
    pub fn new(statements: &Statements) -> Self {
        let grants = statements.iter().map(|(r, a)| (r.clone(), a.iter().cloned().collect())).collect();
        Role { grants }
    }

    /// The actions granted on `resource`, if the role names it.
    pub fn actions(&self, resource: &str) -> Option<&BTreeSet<String>> {
        self.grants.get(resource)
    }

    /// What the role grants, as statements (for answers such as `create-role`'s).
    pub fn statements(&self) -> Statements {
        self.grants.iter().map(|(r, a)| (r.clone(), a.iter().cloned().collect())).collect()
    }

    /// Better Auth's `role.authorize(request)` with the default `AND` connector over resources.
    pub fn authorize(&self, request: &Request) -> bool {
        if request.0.is_empty() {
            return false;
        }
        request.0.iter().all(|(resource, wanted)| {
            let Some(allowed) = self.grants.get(resource) else { return false };
            if wanted.actions.is_empty() {
                return false;
            }
            let has = |a: &String| allowed.contains(a);
            match wanted.connector {
                Connector::And => wanted.actions.iter().all(has),
                Connector::Or => wanted.actions.iter().any(has),
            }
        })
    }

    /// Whether this role grants at least everything `other` grants.
    pub fn covers(&self, other: &Statements) -> bool {
        other.iter().all(|(r, actions)| self.grants.get(r).is_some_and(|have| actions.iter().all(|a| have.contains(a))))
    }

    fn add(&mut self, other: &Role) {
        for (r, actions) in &other.grants {
            self.grants.entry(r.clone()).or_default().extend(actions.iter().cloned());
        }
    }
}

/// `AND` (every action) or `OR` (any action) for one resource's actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connector {
    And,
    Or,
}

/// The actions asked for on one resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Wanted {
    pub actions: Vec<String>,
    pub connector: Connector,
}

/// A permission request, `{resource: [actions]}` or `{resource: {actions, connector}}`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request(pub Vec<(String, Wanted)>);

impl Request {
    /// `{resource: [actions]}` from Rust.
    pub fn of(pairs: &[(&str, &[&str])]) -> Self {
        Request(
            pairs
                .iter()
                .map(|(r, a)| (r.to_string(), Wanted { actions: a.iter().map(|s| s.to_string()).collect(), connector: Connector::And }))
                .collect(),
        )
    }

    /// Reads a request body's `permissions`. `None` when it is not an object, or a resource's value
    /// is neither an array nor an object (Better Auth throws "Invalid access control request").
    /// Non-string actions are kept as never-granted placeholders, as Better Auth never matches them.
    pub fn from_json(v: &Value) -> Option<Self> {
        let obj = v.as_object()?;
        let mut out = Vec::with_capacity(obj.len());
        for (resource, wanted) in obj {
            let (list, connector) = match wanted {
                Value::Array(a) => (a.as_slice(), Connector::And),
                Value::Object(o) => {
                    let connector = if o.get("connector").and_then(Value::as_str) == Some("OR") { Connector::Or } else { Connector::And };
                    (o.get("actions").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]), connector)
                }
                _ => return None,
            };
            // A non-string action can never match a granted one; "\u{0}" is no configured action.
            let actions = list.iter().map(|a| a.as_str().map_or_else(|| "\u{0}".to_string(), str::to_string)).collect();
            out.push((resource.clone(), Wanted { actions, connector }));
        }
        Some(Request(out))
    }
}

/// The user field holding a user's roles (the admin capability's column), comma-separated.
/// Capabilities other than admin read it by this name, never through the admin capability.
pub const ROLE_FIELD: &str = "role";

/// Whether a stored role value (`"user,staff"`) holds any of `wanted`. A time-bound grant counts by
/// its name whether or not it has expired: this answers "must this user do more" (two-factor for
/// a role), where counting too much is the safe side.
pub fn holds_any(stored: Option<&str>, wanted: &[String]) -> bool {
    stored.is_some_and(|s| split_roles(s).map(|r| grant_parts(r).map_or(r, |(name, _)| name).trim()).any(|r| wanted.iter().any(|w| w == r)))
}

/// A user's or member's roles: the stored string split on `,` (not trimmed, as Better Auth's
/// admin plugin; the organization plugin trims what it writes).
pub fn split_roles(stored: &str) -> impl Iterator<Item = &str> {
    stored.split(',')
}

/// The roles of `stored` that count at `now`: permanent ones, and grants (`name@time`) not yet
/// expired, by name.
pub fn live_roles(stored: &str, now: DateTime<Utc>) -> impl Iterator<Item = &str> {
    split_roles(stored).filter_map(move |part| match grant_parts(part) {
        Some((name, until)) => (until > now).then_some(name),
        None => Some(part),
    })
}

/// `("admin", until)` for a grant `admin@<RFC 3339>`; `None` for a permanent role.
pub fn grant_parts(part: &str) -> Option<(&str, DateTime<Utc>)> {
    let (name, until) = part.rsplit_once('@')?;
    let until = DateTime::parse_from_rfc3339(until.trim()).ok()?;
    Some((name, until.with_timezone(&Utc)))
}

/// `stored` with each of `roles` granted until `until`: expired grants are dropped, an earlier
/// grant of the same role is replaced, and a role already held for good stays as it is.
pub fn with_grants(stored: &str, roles: &[&str], until: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let mut out: Vec<String> = Vec::new();
    for part in split_roles(stored).filter(|p| !p.is_empty()) {
        match grant_parts(part) {
            Some((name, t)) if t > now && !roles.contains(&name) => out.push(part.to_string()),
            Some(_) => {}
            None => out.push(part.to_string()),
        }
    }
    let until = until.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    for r in roles {
        if !out.iter().any(|p| p == r) {
            out.push(format!("{r}@{until}"));
        }
    }
    out.join(",")
}

/// Statements and the roles over them, resolved (inheritance and wildcards expanded).
#[derive(Debug, Clone, Default)]
pub struct AccessControl {
    statements: Statements,
    roles: HashMap<String, Role>,
}

impl AccessControl {
    /// `defaults` (Better Auth's built-in roles, exact) with `configured` on top: a configured role
    /// of the same name replaces a default. `extra` statements extend the built-in ones (custom
    /// resources such as `project = ["create", "share"]`). `what` names the section in errors.
    pub fn new(
        what: &str,
        statements: &Statements,
        extra: &Statements,
        defaults: &[(&str, Statements)],
        configured: &BTreeMap<String, RoleDef>,
    ) -> Result<Self, String> {
        let mut all = statements.clone();
        for (r, actions) in extra {
            let have = all.entry(r.clone()).or_default();
            for a in actions {
                if !have.contains(a) {
                    have.push(a.clone());
                }
            }
        }
        let mut roles: HashMap<String, Role> = defaults.iter().map(|(n, s)| (n.to_string(), Role::new(s))).collect();
        let mut resolved: HashMap<String, Role> = HashMap::new();
        for name in configured.keys() {
            let mut path = Vec::new();
            resolve(what, name, configured, &roles, &all, &mut resolved, &mut path)?;
        }
        roles.extend(resolved);
        Ok(AccessControl { statements: all, roles })
    }

    pub fn statements(&self) -> &Statements {
        &self.statements
    }
    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.get(name)
    }
    pub fn has_role(&self, name: &str) -> bool {
        self.roles.contains_key(name)
    }
    pub fn role_names(&self) -> impl Iterator<Item = &str> {
        self.roles.keys().map(String::as_str)
    }

    /// Whether any of `roles` authorizes `request` (unknown role names grant nothing).
    pub fn authorize<'a>(&self, roles: impl IntoIterator<Item = &'a str>, request: &Request) -> bool {
        roles.into_iter().any(|r| self.roles.get(r).is_some_and(|role| role.authorize(request)))
    }
}

/// Resolves configured role `name` (depth first), expanding wildcards against `all`.
fn resolve(
    what: &str,
    name: &str,
    configured: &BTreeMap<String, RoleDef>,
    defaults: &HashMap<String, Role>,
    all: &Statements,
    resolved: &mut HashMap<String, Role>,
    path: &mut Vec<String>,
) -> Result<Role, String> {
    if let Some(r) = resolved.get(name) {
        return Ok(r.clone());
    }
    if path.iter().any(|p| p == name) {
        path.push(name.to_string());
        return Err(format!("{what}: roles extend each other in a cycle: {}", path.join(" -> ")));
    }
    let Some(def) = configured.get(name) else {
        return defaults
            .get(name)
            .cloned()
            .ok_or_else(|| format!("{what}: role `{}` extends unknown role `{name}`", path.last().map_or("", String::as_str)));
    };
    path.push(name.to_string());
    let mut role = Role::default();
    for parent in &def.extends {
        let r = resolve(what, parent, configured, defaults, all, resolved, path)?;
        role.add(&r);
    }
    path.pop();
    for (resource, actions) in &def.permissions {
        if resource == "*" {
            for (r, a) in all {
                role.grants.entry(r.clone()).or_default().extend(a.iter().cloned());
            }
            continue;
        }
        let Some(known) = all.get(resource) else {
            return Err(format!("{what}: role `{name}` grants unknown resource `{resource}` (known: {})", keys(all)));
        };
        let entry = role.grants.entry(resource.clone()).or_default();
        for a in actions {
            if a == "*" {
                entry.extend(known.iter().cloned());
            } else if known.contains(a) {
                entry.insert(a.clone());
            } else {
                return Err(format!("{what}: role `{name}` grants unknown action `{resource}:{a}` (known: {})", known.join(", ")));
            }
        }
    }
    resolved.insert(name.to_string(), role.clone());
    Ok(role)
}

fn keys(s: &Statements) -> String {
    s.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
}

/// `{"user": ["create", ...], ...}` from literal pairs.
pub fn statements(pairs: &[(&str, &[&str])]) -> Statements {
    pairs.iter().map(|(r, a)| (r.to_string(), a.iter().map(|s| s.to_string()).collect())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Statements {
        statements(&[("user", &["create", "list", "get", "update", "ban"]), ("session", &["list", "revoke"])])
    }

    fn ac(configured: &str) -> Result<AccessControl, String> {
        let roles: BTreeMap<String, RoleDef> = toml::from_str(configured).unwrap();
        let defaults = [("admin", base()), ("user", statements(&[("user", &[]), ("session", &[])]))];
        AccessControl::new("[admin]", &base(), &statements(&[("project", &["create", "share"])]), &defaults, &roles)
    }

    fn req(v: Value) -> Request {
        Request::from_json(&v).unwrap()
    }

    #[test]
    fn better_auths_authorize() {
        let ac = ac("").unwrap();
        let admin = ac.role("admin").unwrap();
        assert!(admin.authorize(&req(json!({"user": ["list", "get"]}))));
        assert!(admin.authorize(&req(json!({"user": ["list"], "session": ["revoke"]}))));
        assert!(!admin.authorize(&req(json!({"user": ["list", "delete"]}))), "AND over actions");
        assert!(admin.authorize(&req(json!({"user": {"actions": ["list", "delete"], "connector": "OR"}}))));
        assert!(!admin.authorize(&req(json!({"user": ["list"], "project": ["create"]}))), "AND over resources");
        assert!(!admin.authorize(&req(json!({}))), "an empty request fails");
        assert!(!admin.authorize(&req(json!({"user": []}))), "an empty action list fails");
        assert!(!admin.authorize(&req(json!({"user": [1, null]}))));
        assert!(Request::from_json(&json!({"user": "list"})).is_none());
        assert!(Request::from_json(&json!([1])).is_none());
        let user = ac.role("user").unwrap();
        assert!(!user.authorize(&req(json!({"user": ["list"]}))));
        assert!(ac.authorize(split_roles("user,admin"), &req(json!({"user": ["list"]}))), "any role");
        assert!(!ac.authorize(split_roles("user, admin"), &req(json!({"user": ["list"]}))), "not trimmed");
        assert!(!ac.authorize(split_roles("ghost"), &req(json!({"user": ["list"]}))));
    }

    #[test]
    fn time_bound_grants_count_until_they_expire() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let now = t("2026-12-04T12:00:00Z");
        let stored = "user,admin@2026-12-04T13:00:00.000Z,editor@2026-12-04T11:00:00Z";
        assert_eq!(live_roles(stored, now).collect::<Vec<_>>(), ["user", "admin"]);
        assert_eq!(live_roles(stored, t("2026-12-04T13:00:00Z")).collect::<Vec<_>>(), ["user"], "expired at its time");
        assert_eq!(live_roles("a@b,c@", now).collect::<Vec<_>>(), ["a@b", "c@"], "not a time: a plain (unknown) role");
        let ac = ac("").unwrap();
        let list = req(json!({"user": ["list"]}));
        assert!(ac.authorize(live_roles(stored, now), &list));
        assert!(!ac.authorize(live_roles(stored, t("2026-12-04T13:00:01Z")), &list));
        assert!(!ac.authorize(split_roles(stored), &list), "Better Auth's reading: an unknown role");

        let later = t("2026-12-04T15:00:00Z");
        assert_eq!(with_grants(stored, &["admin"], later, now), "user,admin@2026-12-04T15:00:00.000Z", "replaced; expired dropped");
        assert_eq!(with_grants("user,admin", &["admin"], later, now), "user,admin", "held for good stays");
        assert_eq!(with_grants("", &["ops", "admin"], later, now), "ops@2026-12-04T15:00:00.000Z,admin@2026-12-04T15:00:00.000Z");
        let admin = ["admin".to_string()];
        assert!(holds_any(Some("user, admin@2026-12-04T13:00:00Z"), &admin), "a grant requires what its role requires");
        assert!(!holds_any(Some("user,admins"), &admin) && !holds_any(None, &admin));
    }

    #[test]
    fn inheritance_and_wildcards() {
        let ac = ac(r#"
            admin_ro = { permissions = { user = ["list", "get"], session = ["list"] } }
            admin_rw = { extends = ["admin_ro"], permissions = { user = ["update", "ban"], session = ["revoke"] } }
            owner = { permissions = { "*" = ["*"] } }
            publisher = { extends = ["user"], permissions = { project = ["*"] } }
        "#)
        .unwrap();
        let ro = ac.role("admin_ro").unwrap();
        let rw = ac.role("admin_rw").unwrap();
        assert!(ro.authorize(&req(json!({"user": ["list"]}))) && !ro.authorize(&req(json!({"user": ["update"]}))));
        assert!(rw.authorize(&req(json!({"user": ["list", "update"], "session": ["list", "revoke"]}))));
        assert!(ac.role("owner").unwrap().authorize(&req(json!({"user": ["create"], "project": ["share"], "session": ["revoke"]}))));
        assert!(ac.role("publisher").unwrap().authorize(&req(json!({"project": ["create", "share"]}))));
        assert!(ac.has_role("admin"), "defaults stay");
    }

    #[test]
    fn bad_roles_are_refused_with_the_reason() {
        let e = ac("a = { extends = [\"b\"] }\nb = { extends = [\"c\"] }\nc = { extends = [\"a\"] }").unwrap_err();
        assert_eq!(e, "[admin]: roles extend each other in a cycle: a -> b -> c -> a");
        let e = ac("a = { extends = [\"nope\"] }").unwrap_err();
        assert!(e.contains("unknown role `nope`"), "{e}");
        let e = ac("a = { permissions = { usr = [\"list\"] } }").unwrap_err();
        assert!(e.contains("unknown resource `usr`"), "{e}");
        let e = ac("a = { permissions = { user = [\"lst\"] } }").unwrap_err();
        assert!(e.contains("unknown action `user:lst`"), "{e}");
    }
}
