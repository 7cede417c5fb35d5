//! `[admin]`: Better Auth's `admin()` options, in snake_case and seconds, plus the roles an
//! operator configures (with Portcullis's `extends` and wildcards, see [`crate::access`]).

use crate::access::{AccessControl, RoleDef, Statements};
use crate::config::{parse_bool, ConfigError, Section};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Serve `/admin/*`, add `role`, `banned`, `banReason`, `banExpires` to the user and
    /// `impersonatedBy` to the session, and refuse banned users' sign-ins. Off by default.
    pub enabled: bool,
    /// `defaultRole`: the role of every new user.
    pub default_role: String,
    /// `adminRoles`: roles whose holders count as admins when they are impersonation targets.
    pub admin_roles: Vec<String>,
    /// `adminUserIds`: users who pass every permission check.
    pub admin_user_ids: Vec<String>,
    /// `impersonationSessionDuration`, seconds.
    pub impersonation_session_duration: u64,
    /// `defaultBanReason` (else "No reason").
    pub default_ban_reason: Option<String>,
    /// `defaultBanExpiresIn`, seconds (else a ban does not expire).
    pub default_ban_expires_in: Option<u64>,
    /// `bannedUserMessage`: the message of a banned user's refused sign-in.
    pub banned_user_message: String,
    /// `allowImpersonatingAdmins` (deprecated in Better Auth: grant `user:impersonate-admins`).
    pub allow_impersonating_admins: bool,
    /// Extra resources and their actions (`project = ["create", "share"]`).
    pub statements: Statements,
    /// Roles by name, merged over the defaults `admin` and `user`.
    pub roles: BTreeMap<String, RoleDef>,
    /// Roles derived from the identity provider at social sign-in (Portcullis addition; see
    /// [`super::provider_roles`]).
    pub provider_roles: ProviderRoles,
    /// The roles resolved, once (shared by the section's clones).
    #[serde(skip)]
    resolved: Arc<OnceLock<AccessControl>>,
}

impl AdminConfig {
    /// The statements and roles, resolved on first use (`check` already refused bad ones at start).
    pub fn access(&self) -> &AccessControl {
        self.resolved.get_or_init(|| super::roles::build(self).unwrap_or_default())
    }
}

/// `[admin.provider_roles]`: how provider-derived roles combine with stored ones, and the rules.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderRoles {
    pub mode: RoleMode,
    pub on_error: OnLookupError,
    pub rules: Vec<ProviderRoleRule>,
}

/// How derived roles combine with the stored ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoleMode {
    /// The roles the provider's rules name follow the provider at each sign-in (granted or removed).
    #[default]
    Replace,
    /// Granted roles are added, never removed.
    Add,
}

/// What a failed provider lookup (Discord's API) does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnLookupError {
    /// Fail closed: the rule does not match (a warning is logged); the sign-in goes on.
    #[default]
    NoRole,
    /// Refuse the sign-in (`PROVIDER_ROLES_UNAVAILABLE`).
    Refuse,
}

/// `[[admin.provider_roles.rules]]`: for sign-ins through `provider`, when the condition holds,
/// grant `roles` (and land on `redirect`). The condition is a claim (`claim` with `equals` or
/// `contains`, or neither: present and not false) or, for Discord, a guild (`guild`, optionally
/// `guild_role`; needs the `guilds` / `guilds.members.read` scopes).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderRoleRule {
    pub provider: String,
    /// A claim of the ID token or user-info profile; dotted for nested (`realm_access.roles`).
    pub claim: Option<String>,
    pub equals: Option<String>,
    pub contains: Option<String>,
    /// A Discord guild (server) id the user must be a member of.
    pub guild: Option<String>,
    /// A role id in that guild the member must hold.
    pub guild_role: Option<String>,
    pub roles: Vec<String>,
    /// Where the browser lands after the provider callback when this rule matched (a path of the
    /// app or a trusted origin's URL), instead of the flow's callbackURL.
    pub redirect: Option<String>,
}

impl ProviderRoles {
    fn check(&self, ac: &crate::access::AccessControl) -> Result<(), String> {
        for (i, r) in self.rules.iter().enumerate() {
            let at = format!("admin.provider_roles.rules[{i}]");
            if r.provider.is_empty() {
                return Err(format!("{at}: provider is required"));
            }
            if r.claim.is_some() == r.guild.is_some() {
                return Err(format!("{at}: set exactly one condition: claim, or guild (Discord)"));
            }
            if r.claim.is_none() && (r.equals.is_some() || r.contains.is_some()) {
                return Err(format!("{at}: equals and contains need claim"));
            }
            if r.equals.is_some() && r.contains.is_some() {
                return Err(format!("{at}: set equals or contains, not both"));
            }
            if r.guild.is_none() && r.guild_role.is_some() {
                return Err(format!("{at}: guild_role needs guild"));
            }
            if r.roles.is_empty() {
                return Err(format!("{at}: roles must name at least one role"));
            }
            if let Some(bad) = r.roles.iter().find(|x| !ac.has_role(x) || x.contains(',')) {
                return Err(format!("{at}: role `{bad}` is not defined (known: admin, user, or [admin.roles])"));
            }
            if let Some(to) = &r.redirect {
                let relative = to.starts_with('/') && !to.starts_with("//") && !to.contains('\\');
                if !relative && url::Url::parse(to).is_err() {
                    return Err(format!("{at}: redirect must be a path (/...) or an absolute URL of a trusted origin"));
                }
            }
        }
        Ok(())
    }
}

pub const BANNED_USER_MESSAGE: &str = "You have been banned from this application. Please contact support if you believe this is an error.";

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            default_role: "user".into(),
            admin_roles: vec!["admin".into()],
            admin_user_ids: Vec::new(),
            impersonation_session_duration: 3600,
            default_ban_reason: None,
            default_ban_expires_in: None,
            banned_user_message: BANNED_USER_MESSAGE.into(),
            allow_impersonating_admins: false,
            statements: Statements::new(),
            roles: BTreeMap::new(),
            provider_roles: ProviderRoles::default(),
            resolved: Arc::default(),
        }
    }
}

impl Section for AdminConfig {
    const NAME: &'static str = "admin";
    fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("PORTCULLIS_ADMIN") {
            self.enabled = parse_bool("PORTCULLIS_ADMIN", &v)?;
        }
        Ok(())
    }
    fn check(&self) -> Result<Vec<String>, ConfigError> {
        let mut warnings = Vec::new();
        let ac = super::roles::build(self).map_err(ConfigError::Invalid)?;
        for r in &self.admin_roles {
            if !ac.has_role(r) {
                return Err(ConfigError::Invalid(format!(
                    "admin.admin_roles: role `{r}` is not defined (known: admin, user, or [admin.roles])"
                )));
            }
        }
        self.provider_roles.check(&ac).map_err(ConfigError::Invalid)?;
        if self.impersonation_session_duration == 0 {
            return Err(ConfigError::Invalid("admin.impersonation_session_duration must be positive".into()));
        }
        if self.allow_impersonating_admins {
            warnings.push("admin.allow_impersonating_admins is deprecated: grant `user:impersonate-admins` to a role instead".into());
        }
        Ok(warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> AdminConfig {
        toml::from_str(s).unwrap()
    }

    #[test]
    fn bad_roles_refuse_start_naming_the_problem() {
        let e = parse("[roles.ro]\npermissions = { usr = [\"list\"] }").check().unwrap_err().to_string();
        assert!(e.contains("role `ro` grants unknown resource `usr`"), "{e}");
        let e = parse("[roles.a]\nextends = [\"a\"]").check().unwrap_err().to_string();
        assert!(e.contains("cycle"), "{e}");
        let e = parse("admin_roles = [\"boss\"]").check().unwrap_err().to_string();
        assert!(e.contains("`boss`"), "{e}");
        assert!(parse("[statements]\nreport = [\"read\"]\n[roles.r]\npermissions = { report = [\"*\"] }").check().is_ok());
    }
}
