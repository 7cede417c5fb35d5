//! Roles from the identity provider (a Portcullis addition, off unless `[[admin.provider_roles.rules]]`
//! are configured): at each social or ID-token sign-in, rules map what the provider says (a claim
//! of the verified ID token or user-info profile, or Discord guild membership and guild roles read
//! with the user's access token) to roles in the user's `role` column.
//!
//! Runs as part of the admin capability's before-session hook, after the account is resolved and
//! linked and before the session answer, so later hooks (two-factor's `required_for_roles`) and the
//! session's cookie cache see the roles just derived.
//!
//! How derived roles combine with stored ones (`mode`):
//!
//! - `replace` (default): the roles named by any rule of the signing-in provider are *managed*;
//!   each sign-in through that provider removes the managed roles the user holds and adds those
//!   the rules grant now. A user who left the guild loses its role at the next sign-in. Roles no
//!   rule names (set by an admin) are kept.
//! - `add`: granted roles are added; nothing is ever removed.
//!
//! An empty result falls back to `default_role`.
//!
//! Provider API failures (Discord down, a 5xx, a timeout) never answer a 500: with
//! `on_error = "no_role"` (default, fail-closed) the rule is taken as not matched and a warning is
//! logged; with `on_error = "refuse"` the sign-in is refused with `PROVIDER_ROLES_UNAVAILABLE`
//! (the callback redirects with `?error=PROVIDER_ROLES_UNAVAILABLE`).
//!
//! Must never: log or store the provider's access token, fetch a URL that is not the configured
//! Discord API base, or let a `redirect` outside the trusted origins through (the callback checks).

use super::config::{OnLookupError, ProviderRoleRule, RoleMode};
use super::{roles, settings, ROLE};
use crate::access::split_roles;
use crate::app::Auth;
use crate::error::ApiError;
use crate::fields::Values;
use crate::session::hooks::{Amend, Decision, Federated};
use crate::store::model::User;
use axum::http::StatusCode;
use serde_json::Value;
use std::collections::BTreeMap;

/// Discord's API base when the provider's `api_url` is not set.
pub const DISCORD_API: &str = "https://discord.com/api";

fn unavailable() -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "PROVIDER_ROLES_UNAVAILABLE", "The identity provider's roles could not be read")
}

/// The claim at a dotted path.
fn claim<'a>(claims: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(claims, |v, k| v.get(k))
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Whether a claim condition holds: `contains` (an array claim has the value, or a
/// space-separated string claim has the word), `equals`, or, with neither, present and not false.
pub fn claim_matches(claims: &Value, r: &ProviderRoleRule) -> bool {
    let Some(path) = &r.claim else { return false };
    let Some(v) = claim(claims, path) else { return false };
    if let Some(want) = &r.contains {
        return match v {
            Value::Array(a) => a.iter().filter_map(scalar).any(|x| &x == want),
            Value::String(s) => s.split(' ').any(|x| x == want),
            _ => false,
        };
    }
    if let Some(want) = &r.equals {
        return scalar(v).is_some_and(|x| &x == want);
    }
    !matches!(v, Value::Null | Value::Bool(false))
}

/// Discord facts read at most once per sign-in: guild ids, and each asked guild's member roles.
struct Discord<'a> {
    f: &'a Federated<'a>,
    guilds: Option<Vec<String>>,
    members: BTreeMap<String, Option<Vec<String>>>,
}

impl<'a> Discord<'a> {
    fn base(&self) -> String {
        self.f.api_url.unwrap_or(DISCORD_API).trim_end_matches('/').to_string()
    }

    async fn get(&self, path: &str) -> Result<Option<Value>, String> {
        let http = self.f.http.ok_or("no HTTP client")?;
        let token = self.f.access_token.ok_or("no access token")?;
        let res = http
            .get(format!("{}{path}", self.base()))
            .bearer_auth(token)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| format!("unreachable: {}", e.without_url()))?;
        if res.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !res.status().is_success() {
            return Err(format!("HTTP {}", res.status()));
        }
        res.json().await.map(Some).map_err(|e| format!("bad JSON: {}", e.without_url()))
    }

    async fn in_guild(&mut self, guild: &str) -> Result<bool, String> {
        if self.guilds.is_none() {
            let list = self.get("/users/@me/guilds").await?.unwrap_or(Value::Array(Vec::new()));
            let ids = list.as_array().ok_or("guilds: not a list")?.iter().filter_map(|g| g.get("id").and_then(scalar)).collect();
            self.guilds = Some(ids);
        }
        Ok(self.guilds.as_ref().is_some_and(|g| g.iter().any(|x| x == guild)))
    }

    async fn has_guild_role(&mut self, guild: &str, role: &str) -> Result<bool, String> {
        if !self.members.contains_key(guild) {
            let seg: String = url::form_urlencoded::byte_serialize(guild.as_bytes()).collect();
            let member = self.get(&format!("/users/@me/guilds/{seg}/member")).await?;
            let roles =
                member.map(|m| m.get("roles").and_then(Value::as_array).map(|a| a.iter().filter_map(scalar).collect()).unwrap_or_default());
            self.members.insert(guild.to_string(), roles);
        }
        Ok(self.members.get(guild).and_then(Option::as_ref).is_some_and(|r: &Vec<String>| r.iter().any(|x| x == role)))
    }
}

async fn matches(r: &ProviderRoleRule, f: &Federated<'_>, d: &mut Discord<'_>) -> Result<bool, String> {
    if r.claim.is_some() {
        return Ok(claim_matches(f.claims, r));
    }
    let Some(guild) = &r.guild else { return Ok(false) };
    if f.kind != "discord" {
        return Ok(false);
    }
    if !d.in_guild(guild).await? {
        return Ok(false);
    }
    match &r.guild_role {
        Some(role) => d.has_guild_role(guild, role).await,
        None => Ok(true),
    }
}

/// The stored roles after a sign-in that granted `granted`, given the roles rules manage.
pub fn combine(mode: RoleMode, stored: Option<&str>, managed: &[&str], granted: &[&str], default_role: &str) -> String {
    let mut out: Vec<&str> = split_roles(stored.unwrap_or("")).filter(|r| !r.is_empty()).collect();
    if mode == RoleMode::Replace {
        out.retain(|r| !managed.contains(r));
    }
    for g in granted {
        if !out.contains(g) {
            out.push(g);
        }
    }
    if out.is_empty() {
        out.push(default_role);
    }
    out.join(",")
}

/// The part of the admin before-session hook that derives roles from the provider.
pub async fn before_session(auth: &Auth, user: &User, f: &Federated<'_>, meta: &crate::session::RequestMeta) -> Decision {
    let cfg = settings(auth);
    let pr = &cfg.provider_roles;
    let rules: Vec<&ProviderRoleRule> = pr.rules.iter().filter(|r| r.provider == f.provider).collect();
    if rules.is_empty() {
        return Decision::Continue;
    }
    let mut d = Discord { f, guilds: None, members: BTreeMap::new() };
    let mut granted: Vec<&str> = Vec::new();
    let mut landing = None;
    for r in &rules {
        let hit = match matches(r, f, &mut d).await {
            Ok(hit) => hit,
            Err(e) => {
                tracing::warn!(provider = %f.provider, user = %user.id, error = %e, "provider roles: lookup failed; the rule does not match");
                if pr.on_error == OnLookupError::Refuse {
                    return Decision::Refuse(unavailable());
                }
                false
            }
        };
        if hit {
            granted.extend(r.roles.iter().map(String::as_str));
            landing = landing.or_else(|| r.redirect.clone());
        }
    }
    let managed: Vec<&str> = rules.iter().flat_map(|r| r.roles.iter().map(String::as_str)).collect();
    let before = roles::role_of(user);
    let after = combine(pr.mode, before, &managed, &granted, &cfg.default_role);
    let mut amended = None;
    if before != Some(after.as_str()) {
        match super::ban::update(auth, &user.id, Values(vec![(ROLE.into(), Value::String(after.clone()))])).await {
            Ok(u) => amended = Some(u),
            Err(e) => return Decision::Refuse(e),
        }
        let data = serde_json::json!({ "provider": f.provider, "from": before, "to": after });
        super::audit(auth, None, Some(meta), "admin.provider-roles", &user.id, Some(data)).await;
    }
    if amended.is_none() && landing.is_none() {
        return Decision::Continue;
    }
    Decision::Amend(Amend { user: amended, landing })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replace_removes_only_managed_roles() {
        let m = ["staff", "mod"];
        assert_eq!(combine(RoleMode::Replace, Some("user,staff"), &m, &[], "user"), "user");
        assert_eq!(combine(RoleMode::Replace, Some("user"), &m, &["staff"], "user"), "user,staff");
        assert_eq!(combine(RoleMode::Replace, Some("staff"), &m, &[], "user"), "user", "empty falls back to the default role");
        assert_eq!(combine(RoleMode::Add, Some("user,staff"), &m, &[], "user"), "user,staff");
        assert_eq!(combine(RoleMode::Add, None, &m, &["mod"], "user"), "mod");
    }

    #[test]
    fn claim_conditions() {
        let c = json!({"groups": ["eng", "staff"], "org": {"tier": "gold"}, "scope": "a b", "admin": false});
        let rule = |claim: &str, equals: Option<&str>, contains: Option<&str>| ProviderRoleRule {
            claim: Some(claim.into()),
            equals: equals.map(Into::into),
            contains: contains.map(Into::into),
            ..Default::default()
        };
        assert!(claim_matches(&c, &rule("groups", None, Some("staff"))));
        assert!(!claim_matches(&c, &rule("groups", None, Some("ops"))));
        assert!(claim_matches(&c, &rule("org.tier", Some("gold"), None)));
        assert!(claim_matches(&c, &rule("scope", None, Some("b"))));
        assert!(!claim_matches(&c, &rule("admin", None, None)));
        assert!(!claim_matches(&c, &rule("missing", None, None)));
    }
}
