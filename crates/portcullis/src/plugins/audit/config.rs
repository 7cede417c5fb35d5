//! `[audit]`: whether the audit log records, which events, and how long rows are kept.

use crate::config::{parse_bool, ConfigError, Section};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Record security events in `auditLog`. Unset: on when `[admin]` or `[organization]` is on
    /// (their actions were always recorded), off otherwise. `false` turns it off for them too.
    pub enabled: Option<bool>,
    /// Days a row is kept (365); 0 keeps rows forever.
    pub retention_days: u64,
    /// Seconds between two prunes of rows older than `retention_days` (3600), run in the
    /// background from start-up ([`super::retention`]).
    pub prune_interval: u64,
    /// Event kinds to record: exact (`sign-in.failed`) or a prefix ending in `*` (`session.*`,
    /// `admin.*`). Empty (the default): every event.
    pub events: Vec<String>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self { enabled: None, retention_days: 365, prune_interval: 3600, events: Vec::new() }
    }
}

impl AuditConfig {
    /// Whether the log records: `enabled`, else whether admin or organizations are on.
    pub fn is_on(&self, admin_or_organization: bool) -> bool {
        self.enabled.unwrap_or(admin_or_organization)
    }

    /// Whether events of `kind` are recorded ([`events`](Self::events)).
    pub fn records(&self, kind: &str) -> bool {
        self.events.is_empty()
            || self.events.iter().any(|e| match e.strip_suffix('*') {
                Some(prefix) => kind.starts_with(prefix),
                None => e == kind,
            })
    }
}

impl Section for AuditConfig {
    const NAME: &'static str = "audit";
    fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("PORTCULLIS_AUDIT") {
            self.enabled = Some(parse_bool("PORTCULLIS_AUDIT", &v)?);
        }
        Ok(())
    }
    fn check(&self) -> Result<Vec<String>, ConfigError> {
        if self.prune_interval == 0 {
            return Err(ConfigError::Invalid("audit.prune_interval must be at least 1 second".into()));
        }
        if let Some(bad) = self.events.iter().find(|e| e.is_empty() || e.strip_suffix('*').unwrap_or(e).contains('*')) {
            return Err(ConfigError::Invalid(format!("audit.events: {bad:?} is not an event kind or a prefix ending in *")));
        }
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_match_exactly_or_by_prefix() {
        let all = AuditConfig::default();
        assert!(all.records("sign-in.failed"));
        let some = AuditConfig { events: vec!["session.*".into(), "sign-in.failed".into()], ..AuditConfig::default() };
        assert!(some.records("session.revoked") && some.records("session.created") && some.records("sign-in.failed"));
        assert!(!some.records("sign-in.failedx") && !some.records("admin.ban-user"));
        assert!(AuditConfig { events: vec!["a*b".into()], ..AuditConfig::default() }.check().is_err());
    }

    #[test]
    fn on_by_default_only_with_admin_or_organization() {
        let c = AuditConfig::default();
        assert!(c.is_on(true) && !c.is_on(false));
        let off = AuditConfig { enabled: Some(false), ..AuditConfig::default() };
        assert!(!off.is_on(true));
    }
}
