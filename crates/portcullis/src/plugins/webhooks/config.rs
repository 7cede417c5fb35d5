//! `[webhooks]`: whether events are delivered, to which configured endpoints, and how the outbox
//! retries. Off by default (a Portcullis addition; Better Auth has no webhooks).
//!
//! Must never: accept an endpoint whose secret is not a Standard Webhooks secret (`whsec_<base64>`)
//! or whose URL is not http(s): the start is refused, naming the endpoint.

use super::signature::Secret;
use crate::config::{parse_bool, ConfigError, Section};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Write matching events to the outbox and deliver them. Off by default.
    pub enabled: bool,
    /// Endpoints the operator configures (`[[webhooks.endpoints]]`); the admin API adds others.
    pub endpoints: Vec<EndpointConfig>,
    /// Deliver to loopback, private, link-local and other non-public addresses (tests, an
    /// internal network). Off: such endpoints are refused at creation and at delivery.
    pub allow_private: bool,
    /// Delay before the first retry, in milliseconds; doubled at each failure (with jitter).
    pub backoff_base_ms: u64,
    /// The longest delay between two attempts, in seconds.
    pub backoff_max_seconds: u64,
    /// Attempts before a delivery is `dead` (then redelivered only through the admin API).
    pub max_attempts: u32,
    /// How long one delivery request may take, in milliseconds.
    pub timeout_ms: u64,
    /// How often the worker looks for due deliveries, in milliseconds (a new event wakes it at
    /// once on the instance that wrote it).
    pub poll_interval_ms: u64,
    /// Deliveries claimed per round (and sent at once) by one instance.
    pub batch_size: u32,
    /// After a rotation through the admin API, how long the previous secret still signs, in
    /// seconds (receivers accept either while they roll).
    pub rotation_overlap_seconds: u64,
    /// Delivered and dead rows older than this (seconds since the event) are removed.
    pub retention_seconds: u64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            endpoints: Vec::new(),
            allow_private: false,
            backoff_base_ms: 5_000,
            backoff_max_seconds: 3_600,
            max_attempts: 8,
            timeout_ms: 10_000,
            poll_interval_ms: 1_000,
            batch_size: 16,
            rotation_overlap_seconds: 86_400,
            retention_seconds: 30 * 86_400,
        }
    }
}

/// `[[webhooks.endpoints]]` (its `Debug` leaves the secrets out).
#[derive(Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EndpointConfig {
    /// A stable id for its deliveries (default: derived from the URL).
    pub id: Option<String>,
    pub url: String,
    /// Event types: exact (`session.created`), a prefix wildcard (`user.*`) or `*`.
    pub events: Vec<String>,
    /// `whsec_<base64>`: signs every delivery.
    pub secret: String,
    /// Older secrets that still sign (receivers roll to the new one meanwhile).
    pub previous_secrets: Vec<String>,
}

impl std::fmt::Debug for EndpointConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointConfig").field("id", &self.id).field("url", &self.url).field("events", &self.events).finish_non_exhaustive()
    }
}

impl EndpointConfig {
    /// The id its deliveries carry: the configured one, else `cfg_` and a hash of the URL.
    pub fn endpoint_id(&self) -> String {
        match &self.id {
            Some(id) => id.clone(),
            None => format!("cfg_{}", &hex::encode(<sha2::Sha256 as sha2::Digest>::digest(self.url.as_bytes()))[..16]),
        }
    }
}

impl Section for WebhooksConfig {
    const NAME: &'static str = "webhooks";
    fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("PORTCULLIS_WEBHOOKS") {
            self.enabled = parse_bool("PORTCULLIS_WEBHOOKS", &v)?;
        }
        Ok(())
    }
    fn check(&self) -> Result<Vec<String>, ConfigError> {
        let bad = |i: usize, what: String| ConfigError::Invalid(format!("[[webhooks.endpoints]] #{}: {what}", i + 1));
        for (i, e) in self.endpoints.iter().enumerate() {
            super::delivery::check_url(&e.url, self.allow_private).map_err(|m| bad(i, m.to_string()))?;
            if e.events.is_empty() {
                return Err(bad(i, "`events` is empty".into()));
            }
            for s in std::iter::once(&e.secret).chain(&e.previous_secrets) {
                Secret::parse(s).ok_or_else(|| bad(i, "a secret is not `whsec_<base64>`".into()))?;
            }
        }
        if self.max_attempts == 0 || self.batch_size == 0 || self.timeout_ms == 0 {
            return Err(ConfigError::Invalid("[webhooks]: max_attempts, batch_size and timeout_ms must be at least 1".into()));
        }
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(endpoint: &str) -> Result<Vec<String>, ConfigError> {
        let cfg: WebhooksConfig = toml::from_str(&format!("enabled = true\n[[endpoints]]\n{endpoint}")).expect("parses");
        cfg.check()
    }

    #[test]
    fn a_bad_endpoint_refuses_start_naming_it() {
        let ok = r#"url = "https://h.example.com/x"
events = ["user.*"]
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw""#;
        assert!(with(ok).is_ok());
        for (bad, why) in [
            (ok.replace("https://h.example.com/x", "ftp://h.example.com/x"), "http(s)"),
            (ok.replace("https://h.example.com/x", "http://127.0.0.1/x"), "loopback"),
            (ok.replace(r#"["user.*"]"#, "[]"), "empty"),
            (ok.replace("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "hunter2"), "whsec_"),
        ] {
            let e = with(&bad).expect_err(why).to_string();
            assert!(e.contains("#1") && e.contains(why), "{e}");
            assert!(!e.contains("hunter2"), "a secret is never echoed: {e}");
        }
        assert!(toml::from_str::<WebhooksConfig>("[[endpoints]]\nurl = \"x\"\nsecrets = []").is_err(), "a typo is refused");
    }

    #[test]
    fn the_file_section_turns_the_capability_on() {
        let text = r#"
[webhooks]
enabled = true
max_attempts = 3

[[webhooks.endpoints]]
url = "https://h.example.com/x"
events = ["user.*", "session.created"]
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
"#;
        let mut cfg = crate::config::Config::from_toml(text).expect("parses");
        let (caps, _) = crate::plugins::standard(&mut cfg).expect("valid");
        assert!(caps.iter().any(|c| c.id() == "webhooks"));
        let w = cfg.section::<WebhooksConfig>();
        assert_eq!((w.max_attempts, w.endpoints.len(), w.backoff_base_ms), (3, 1, 5_000));
        assert!(w.endpoints[0].endpoint_id().starts_with("cfg_"));
        assert!(!format!("{w:?}").contains("MfKQ9r8"), "no secret in Debug");
        let mut off = crate::config::Config::from_toml("").expect("parses");
        let (caps, _) = crate::plugins::standard(&mut off).expect("valid");
        assert!(!caps.iter().any(|c| c.id() == "webhooks"), "off by default");
    }
}
