//! `[metrics]`: the Prometheus endpoint of the standalone server (see `app::metrics`).
//!
//! Off by default. On, it needs a place to be served from: a listener of its own (`listen`, the
//! recommended mode: only `/metrics`, on an address the public cannot reach), or `/metrics` on the
//! main listener behind `Authorization: Bearer <token>`. Must never: print the token (its `Debug`
//! shows only whether one is set).

use serde::Deserialize;
use std::net::SocketAddr;

/// Shortest bearer token accepted: it guards an endpoint anyone reaching the server can ask.
pub const MIN_TOKEN_LEN: usize = 16;

#[derive(Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    pub enabled: bool,
    /// A separate listener that serves only `GET /metrics`, e.g. `127.0.0.1:9464`.
    pub listen: Option<SocketAddr>,
    /// A bearer token for `/metrics`: on the main listener when `listen` is not set, and required
    /// on the separate listener too when both are set.
    pub token: Option<String>,
}

impl std::fmt::Debug for MetricsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsConfig")
            .field("enabled", &self.enabled)
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl MetricsConfig {
    /// Refuses an enabled endpoint with nowhere safe to serve it, or a token too short to guard it.
    pub fn validate(&self) -> Result<(), String> {
        if !self.enabled {
            return Ok(());
        }
        if self.listen.is_none() && self.token.is_none() {
            return Err("metrics.enabled needs metrics.listen (a separate listener, recommended) or metrics.token \
                        (/metrics on the main listener behind a bearer token)"
                .into());
        }
        if self.token.as_ref().is_some_and(|t| t.len() < MIN_TOKEN_LEN) {
            return Err(format!("metrics.token must be at least {MIN_TOKEN_LEN} characters"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enabled_needs_a_listener_or_a_token_and_debug_hides_the_token() {
        assert!(MetricsConfig::default().validate().is_ok(), "off: nothing to check");
        let on = MetricsConfig { enabled: true, ..Default::default() };
        assert!(on.validate().is_err());
        assert!(MetricsConfig { listen: Some(([127, 0, 0, 1], 9464).into()), ..on.clone() }.validate().is_ok());
        assert!(MetricsConfig { token: Some("short".into()), ..on.clone() }.validate().is_err());
        let with_token = MetricsConfig { token: Some("a-long-enough-scrape-token".into()), ..on };
        assert!(with_token.validate().is_ok());
        assert!(!format!("{with_token:?}").contains("scrape-token"));
    }

    #[test]
    fn the_environment_turns_it_on() {
        let env = |k: &str| match k {
            "PORTCULLIS_METRICS" => Some("true".to_string()),
            "PORTCULLIS_METRICS_LISTEN" => Some("127.0.0.1:9464".to_string()),
            "PORTCULLIS_METRICS_TOKEN" => Some("a-long-enough-scrape-token".to_string()),
            _ => None,
        };
        let mut c = crate::config::Config::default();
        c.apply_env(env).unwrap();
        assert!(c.metrics.enabled);
        assert_eq!(c.metrics.listen, Some(([127, 0, 0, 1], 9464).into()));
        assert_eq!(c.metrics.token.as_deref(), Some("a-long-enough-scrape-token"));
        let mut c = crate::config::Config::default();
        assert!(c.apply_env(|k| (k == "PORTCULLIS_METRICS_LISTEN").then(|| "nope".to_string())).is_err());
    }
}
