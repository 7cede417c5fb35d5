//! `[anonymous]`: Better Auth's `anonymous()` plugin options, in snake_case.

use crate::config::{parse_bool, ConfigError, Section};
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnonymousConfig {
    /// Serve `/sign-in/anonymous` and `/delete-anonymous-user`, keep `user.isAnonymous`, and link
    /// an anonymous visitor who later signs in or up. Off by default, as Better Auth's plugin is
    /// opt-in; on, it adds the `isAnonymous` column.
    pub enabled: bool,
    /// `emailDomainName`: anonymous users get `temp-<id>@<domain>` instead of
    /// `<id>@anonymous.placeholder.invalid`.
    pub email_domain_name: Option<String>,
    /// `disableDeleteAnonymousUser`: keep the anonymous user when it links to a real account, and
    /// refuse `/delete-anonymous-user`.
    pub disable_delete_anonymous_user: bool,
}

impl Section for AnonymousConfig {
    const NAME: &'static str = "anonymous";
    fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("PORTCULLIS_ANONYMOUS") {
            self.enabled = parse_bool("PORTCULLIS_ANONYMOUS", &v)?;
        }
        Ok(())
    }
    fn check(&self) -> Result<Vec<String>, ConfigError> {
        if let Some(d) = &self.email_domain_name {
            if !crate::http::body::is_email(&format!("temp-x@{d}")) {
                return Err(ConfigError::Invalid(format!("anonymous.email_domain_name {d:?} does not make valid e-mail addresses")));
            }
        }
        Ok(Vec::new())
    }
}
