//! Better Auth's rate limiter (spec §7, `api/rate-limiter/index.ts` in 1.7.24).
//!
//! This module owns three things: which rule applies to a path ([`Rules`]), the per-key decision
//! ([`decide`], Better Auth's `decideConsume`) with its in-process store ([`MemoryStore`]), and the
//! 429 answer ([`too_many_requests`]). Keys are `ip|path` ([`key`]).
//!
//! It must never read the clock (time is passed in), never sleep, never hold a lock across an
//! `.await`, never panic on any key or path, and never grow without bound: an attacker spraying
//! source addresses or paths creates keys, so the memory store caps and prunes them (see
//! [`MemoryStore`]). Whether limiting is enabled, and resolving the client IP, belong elsewhere.
//!
//! The decision is Better Auth's "debounce" rather than a fixed window: every allowed request moves
//! `lastRequest`, so a steady trickle below the window keeps counting up; a blocked request moves
//! nothing, so a client that stops for `window` seconds is let in again.

pub mod database;
pub mod outage;
pub mod shared;

use crate::config::RateLimitConfig;
use crate::http::origin::wildcard_regex;
use axum::body::Body;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use regex::Regex;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// At most `max` requests per `window_s` seconds (debounced, see the module doc). In a capability's
/// configuration section it is `rate_limit = { window = 60, max = 5 }` (Better Auth's plugin
/// `rateLimit: { window, max }`), both keys required.
#[derive(Clone, Copy, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(rename = "window")]
    pub window_s: u64,
    pub max: u64,
}

/// `/sign-in*`, `/sign-up*`, `/change-password*`, `/change-email*`, and Portcullis's additions
/// `/verify-password` and `/delete-user`.
const CREDENTIAL_RULE: Rule = Rule { window_s: 10, max: 3 };
/// Endpoints that send e-mail.
const MAIL_RULE: Rule = Rule { window_s: 60, max: 3 };

/// Better Auth's built-in special rules (`getDefaultSpecialRules`), plus the sign-in limit on the two
/// password checks behind a session (`/verify-password`, `/delete-user` with a password), which
/// Better Auth 1.7.24 leaves at the default 100 per 10 s: a stolen session cookie must not become a
/// way to guess its user's password faster than sign-in allows. A custom rule still overrides them.
fn special_rule(path: &str) -> Option<Rule> {
    const CREDENTIAL_PREFIXES: [&str; 4] = ["/sign-in", "/sign-up", "/change-password", "/change-email"];
    const PASSWORD_CHECKS: [&str; 2] = ["/verify-password", "/delete-user"];
    const MAIL_PATHS: [&str; 4] =
        ["/request-password-reset", "/send-verification-email", "/email-otp/send-verification-otp", "/email-otp/request-password-reset"];
    if CREDENTIAL_PREFIXES.iter().any(|p| path.starts_with(p)) || PASSWORD_CHECKS.contains(&path) {
        Some(CREDENTIAL_RULE)
    } else if MAIL_PATHS.contains(&path) || path.starts_with("/forget-password") {
        Some(MAIL_RULE)
    } else {
        None
    }
}

/// A rule's path: exact unless it contains `*`, then Better Auth's `wildcardMatch` (in which `?`
/// is also a wildcard).
#[derive(Debug)]
enum PathMatcher {
    Exact(String),
    /// The pattern as configured, and its regex.
    Wildcard(String, Regex),
    /// A wildcard too large to compile; matches nothing.
    Never(String),
}

impl PathMatcher {
    fn new(pattern: &str) -> Self {
        if !pattern.contains('*') {
            return PathMatcher::Exact(pattern.to_string());
        }
        wildcard_regex(pattern).map_or_else(
            || {
                tracing::warn!(pattern, "rate-limit path pattern too large to compile; it matches nothing");
                PathMatcher::Never(pattern.to_string())
            },
            |re| PathMatcher::Wildcard(pattern.to_string(), re),
        )
    }

    fn matches(&self, path: &str) -> bool {
        match self {
            PathMatcher::Exact(p) => p == path,
            PathMatcher::Wildcard(_, re) => re.is_match(path),
            PathMatcher::Never(_) => false,
        }
    }

    fn pattern(&self) -> &str {
        match self {
            PathMatcher::Exact(p) | PathMatcher::Wildcard(p, _) | PathMatcher::Never(p) => p,
        }
    }
}

/// Every rule, compiled once. For a path the last layer that matches wins: the default, then a
/// built-in special rule, then the first matching plugin rule, then the first matching custom rule.
/// `None` at any layer means "not limited" (a later layer may still set a rule).
#[derive(Debug)]
pub struct Rules {
    default: Rule,
    plugin: Vec<(PathMatcher, Option<Rule>)>,
    custom: Vec<(PathMatcher, Option<Rule>)>,
}

impl Rules {
    pub fn new(cfg: &RateLimitConfig, plugin_rules: Vec<(String, Option<Rule>)>) -> Self {
        Self {
            default: Rule { window_s: cfg.window, max: cfg.max },
            plugin: plugin_rules.into_iter().map(|(p, r)| (PathMatcher::new(&p), r)).collect(),
            custom: cfg
                .custom_rules
                .iter()
                .map(|c| (PathMatcher::new(&c.path), c.enabled.then_some(Rule { window_s: c.window, max: c.max })))
                .collect(),
        }
    }

    /// The rule for `path` (relative to the base path), or `None` when it is not limited.
    pub fn rule_for(&self, path: &str) -> Option<Rule> {
        let path = normalize_path(path);
        if let Some((_, rule)) = self.custom.iter().find(|(m, _)| m.matches(path)) {
            return *rule;
        }
        if let Some((_, rule)) = self.plugin.iter().find(|(m, _)| m.matches(path)) {
            return *rule;
        }
        Some(special_rule(path).unwrap_or(self.default))
    }

    /// A name for the rule that limits `path`, for metrics: the pattern of the custom or
    /// capability rule that matches, else `credentials`, `mail` (the built-in special rules) or
    /// `default`. Never the path itself (a client could grow the label set without bound).
    pub fn rule_name(&self, path: &str) -> String {
        let path = normalize_path(path);
        if let Some((m, _)) = self.custom.iter().chain(&self.plugin).find(|(m, _)| m.matches(path)) {
            return m.pattern().to_string();
        }
        match special_rule(path) {
            Some(r) if r == CREDENTIAL_RULE => "credentials".into(),
            Some(_) => "mail".into(),
            None => "default".into(),
        }
    }

    /// Whether a capability set a limit of its own on `path` (its codes and sends are what such a
    /// rule guards, so an unavailable counter refuses the request by default, as on sign-in).
    pub fn has_capability_rule(&self, path: &str) -> bool {
        let path = normalize_path(path);
        self.plugin.iter().find(|(m, _)| m.matches(path)).is_some_and(|(_, rule)| rule.is_some())
    }
}

/// `normalizePathname`: trailing slashes trimmed, the base path itself is `/`.
fn normalize_path(path: &str) -> &str {
    match path.trim_end_matches('/') {
        "" => "/",
        p => p,
    }
}

/// `${ip}|${path}`; clients without a trusted IP share the `no-trusted-ip` bucket, as in Better Auth.
pub fn key(ip: Option<&str>, path: &str) -> String {
    format!("{}|{}", ip.unwrap_or("no-trusted-ip"), path)
}

/// The counter of messages sent to `address` (an e-mail address or a phone number), whatever
/// the path or client: `send|` and 128 bits of the SHA-256 of the trimmed, lower-cased address, so
/// a shared store (Redis, the `rateLimit` table) never holds an address.
pub fn address_key(address: &str) -> String {
    let digest = Sha256::digest(address.trim().to_lowercase().as_bytes());
    format!("send|{}", hex::encode(&digest[..16]))
}

/// Better Auth's 429: `X-Retry-After` (not `Retry-After`), JSON content type, no `code`.
pub fn too_many_requests(retry_after_s: u64) -> Response {
    let mut res = Response::new(Body::from(r#"{"message":"Too many requests. Please try again later."}"#));
    *res.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(HeaderName::from_static("x-retry-after"), HeaderValue::from(retry_after_s));
    res
}

/// What a store answers for one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Over the limit: retry after this many seconds.
    Limited(u64),
    /// The counter could not be read or written (the cause, for the log). Whether the request
    /// passes is `rate_limit.on_storage_error`'s choice (`rate_limit_outage`), never the store's.
    StorageError(String),
}

/// Where counters live. `consume` records one request for `key` at `now_ms` (epoch milliseconds).
#[async_trait::async_trait]
pub trait RateLimitStore: Send + Sync {
    async fn consume(&self, key: &str, rule: Rule, now_ms: i64) -> Verdict;
}

/// A key's counter: requests counted and the time of the last allowed one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Record {
    pub count: u64,
    pub last_ms: i64,
}

/// Better Auth's `decideConsume`, shared by every store: the record to write when allowed, or the
/// seconds to wait, `ceil((last + window - now) / 1000)`, when blocked.
pub fn decide(prev: Option<Record>, rule: Rule, now_ms: i64) -> Result<Record, u64> {
    let window_ms = window_ms(rule);
    match prev {
        None => Ok(Record { count: 1, last_ms: now_ms }),
        Some(r) if now_ms.saturating_sub(r.last_ms) >= window_ms => Ok(Record { count: 1, last_ms: now_ms }),
        Some(r) if r.count >= rule.max => Err(retry_after_s(r.last_ms.saturating_add(window_ms).saturating_sub(now_ms))),
        Some(r) => Ok(Record { count: r.count.saturating_add(1), last_ms: now_ms }),
    }
}

fn window_ms(rule: Rule) -> i64 {
    i64::try_from(rule.window_s.saturating_mul(1000)).unwrap_or(i64::MAX)
}

fn retry_after_s(remaining_ms: i64) -> u64 {
    if remaining_ms <= 0 {
        0
    } else {
        u64::try_from((remaining_ms - 1) / 1000 + 1).unwrap_or(u64::MAX)
    }
}

const SHARDS: usize = 16;
const SHARD_CAPACITY: usize = 8192;
const PRUNE_EVERY: u32 = 1024;

/// The in-process store, with Better Auth's memory semantics (an entry lives `window` past its
/// last allowed request; blocked requests do not write).
///
/// **Bound.** Keys are stored as a 128-bit SHA-256 prefix, so an entry is ~40 bytes whatever the
/// path length. There are 16 shards of at most 8192 entries: at most 131,072 entries, a few MiB.
/// Every 1024 new keys in a shard (and whenever it is full) expired entries are dropped; if a shard
/// is still full of live entries (an address-spraying flood), the eighth closest to expiry is
/// evicted. Eviction can only forget a counter early, never block anyone wrongly. Better Auth's own
/// store caps at 100,000 entries and evicts the oldest.
pub struct MemoryStore {
    shards: Vec<Mutex<Shard>>,
    capacity: usize,
    prune_every: u32,
}

type Slot = [u8; 16];

struct Entry {
    record: Record,
    expires_ms: i64,
}

#[derive(Default)]
struct Shard {
    map: HashMap<Slot, Entry>,
    inserts_since_prune: u32,
}

impl Shard {
    /// Called before a new key is inserted.
    fn make_room(&mut self, now_ms: i64, capacity: usize, prune_every: u32) {
        self.inserts_since_prune = self.inserts_since_prune.saturating_add(1);
        if self.inserts_since_prune >= prune_every || self.map.len() >= capacity {
            self.inserts_since_prune = 0;
            self.map.retain(|_, e| now_ms < e.expires_ms);
        }
        if self.map.len() < capacity || self.map.is_empty() {
            return;
        }
        let mut by_expiry: Vec<(i64, Slot)> = self.map.iter().map(|(k, e)| (e.expires_ms, *k)).collect();
        let evict = (capacity / 8).clamp(1, by_expiry.len());
        by_expiry.select_nth_unstable(evict - 1);
        for (_, slot) in by_expiry.iter().take(evict) {
            self.map.remove(slot);
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::with_limits(SHARDS, SHARD_CAPACITY, PRUNE_EVERY)
    }

    fn with_limits(shards: usize, capacity: usize, prune_every: u32) -> Self {
        Self {
            shards: (0..shards.max(1)).map(|_| Mutex::new(Shard::default())).collect(),
            capacity: capacity.max(1),
            prune_every: prune_every.max(1),
        }
    }

    fn consume_now(&self, key: &str, rule: Rule, now_ms: i64) -> Result<(), u64> {
        let digest = Sha256::digest(key.as_bytes());
        let mut slot: Slot = [0; 16];
        slot.copy_from_slice(&digest[..16]);
        let shard = &self.shards[usize::from(slot[0]) % self.shards.len()];
        // A panic elsewhere while holding the lock leaves counters that are still valid numbers.
        let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
        let live = shard.map.get(&slot).filter(|e| now_ms < e.expires_ms).map(|e| e.record);
        let record = decide(live, rule, now_ms)?;
        if !shard.map.contains_key(&slot) {
            shard.make_room(now_ms, self.capacity, self.prune_every);
        }
        shard.map.insert(slot, Entry { record, expires_ms: now_ms.saturating_add(window_ms(rule)) });
        Ok(())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap().map.len()).sum()
    }
}

#[async_trait::async_trait]
impl RateLimitStore for MemoryStore {
    async fn consume(&self, key: &str, rule: Rule, now_ms: i64) -> Verdict {
        match self.consume_now(key, rule, now_ms) {
            Ok(()) => Verdict::Allowed,
            Err(retry) => Verdict::Limited(retry),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_named_by_pattern_or_kind_never_by_path() {
        let custom_rules = vec![crate::config::RateLimitRule { path: "/custom/*".into(), window: 60, max: 2, enabled: true }];
        let cfg = RateLimitConfig { custom_rules, ..Default::default() };
        let rules = Rules::new(&cfg, vec![("/two-factor/*".into(), Some(Rule { window_s: 10, max: 3 }))]);
        assert_eq!(rules.rule_name("/custom/x"), "/custom/*");
        assert_eq!(rules.rule_name("/two-factor/verify-totp"), "/two-factor/*");
        assert_eq!(rules.rule_name("/sign-in/email"), "credentials");
        assert_eq!(rules.rule_name("/request-password-reset"), "mail");
        assert_eq!(rules.rule_name("/anything-else/123"), "default");
    }
    use crate::config::RateLimitRule;

    const T0: i64 = 1_700_000_000_000;

    fn custom(path: &str, window: u64, max: u64, enabled: bool) -> RateLimitRule {
        RateLimitRule { path: path.into(), window, max, enabled }
    }

    #[test]
    fn built_in_rules() {
        let rules = Rules::new(&RateLimitConfig::default(), Vec::new());
        let default = Some(Rule { window_s: 10, max: 100 });
        for p in ["/sign-in/email", "/sign-up/email/", "/sign-in-anything", "/change-password", "/change-email"] {
            assert_eq!(rules.rule_for(p), Some(CREDENTIAL_RULE), "{p}");
        }
        for p in ["/request-password-reset", "/send-verification-email", "/forget-password/x", "/email-otp/send-verification-otp"] {
            assert_eq!(rules.rule_for(p), Some(MAIL_RULE), "{p}");
        }
        for p in ["/get-session", "/request-password-reset/x", "/x/sign-in", "", "/"] {
            assert_eq!(rules.rule_for(p), default, "{p}");
        }
    }

    #[test]
    fn password_checks_behind_a_session_get_the_sign_in_limit() {
        let rules = Rules::new(&RateLimitConfig::default(), Vec::new());
        for p in ["/verify-password", "/delete-user", "/delete-user/"] {
            assert_eq!(rules.rule_for(p), Some(CREDENTIAL_RULE), "{p}");
        }
        let default = Some(Rule { window_s: 10, max: 100 });
        for p in ["/verify-password-x", "/delete-user/callback", "/x/verify-password"] {
            assert_eq!(rules.rule_for(p), default, "{p}");
        }
        // A custom rule still wins, e.g. to restore Better Auth's default.
        let cfg = RateLimitConfig { custom_rules: vec![custom("/verify-password", 10, 100, true)], ..RateLimitConfig::default() };
        assert_eq!(Rules::new(&cfg, Vec::new()).rule_for("/verify-password"), default);
    }

    #[test]
    fn plugin_and_custom_rules_layer_in_order() {
        let cfg = RateLimitConfig {
            window: 30,
            max: 50,
            custom_rules: vec![
                custom("/sign-in/email", 60, 5, true),
                custom("/two-factor/*", 1, 1, true),
                custom("/two-factor/verify", 99, 99, true),
                custom("/get-session", 10, 100, false),
                custom("/a?c", 7, 7, true),
            ],
            ..RateLimitConfig::default()
        };
        let plugins = vec![
            ("/two-factor/*".to_string(), Some(Rule { window_s: 10, max: 3 })),
            ("/passkey/*".to_string(), Some(Rule { window_s: 20, max: 4 })),
            ("/passkey/generate*".to_string(), Some(Rule { window_s: 1, max: 1 })),
            ("/sign-in/quiet".to_string(), None),
        ];
        let rules = Rules::new(&cfg, plugins);
        assert_eq!(rules.rule_for("/anything"), Some(Rule { window_s: 30, max: 50 }));
        assert_eq!(rules.rule_for("/sign-in/email"), Some(Rule { window_s: 60, max: 5 }), "custom wins");
        assert_eq!(rules.rule_for("/two-factor/verify"), Some(Rule { window_s: 1, max: 1 }), "first custom match wins");
        assert_eq!(rules.rule_for("/passkey/generate-options"), Some(Rule { window_s: 20, max: 4 }), "first plugin match wins");
        assert_eq!(rules.rule_for("/sign-in/quiet"), None, "a plugin can switch limiting off");
        assert_eq!(rules.rule_for("/get-session"), None, "enabled = false disables");
        assert_eq!(rules.rule_for("/abc"), Some(Rule { window_s: 30, max: 50 }), "? is literal without *");
        assert!(rules.has_capability_rule("/passkey/generate-options") && rules.has_capability_rule("/two-factor/verify/"));
        assert!(!rules.has_capability_rule("/sign-in/quiet"), "switched off is no rule");
        assert!(!rules.has_capability_rule("/anything"));
    }

    #[tokio::test]
    async fn three_sign_ins_then_429_and_the_window_resets() {
        let store = MemoryStore::new();
        let k = key(Some("203.0.113.7"), "/sign-in/email");
        assert_eq!(k, "203.0.113.7|/sign-in/email");
        for i in 0..3 {
            assert_eq!(store.consume_now(&k, CREDENTIAL_RULE, T0 + i * 1000), Ok(()));
        }
        // last allowed at T0+2000: blocked until T0+12000.
        assert_eq!(store.consume_now(&k, CREDENTIAL_RULE, T0 + 2500), Err(10));
        assert_eq!(store.consume_now(&k, CREDENTIAL_RULE, T0 + 5000), Err(7));
        assert_eq!(store.consume_now(&k, CREDENTIAL_RULE, T0 + 11_999), Err(1), "blocked requests do not extend the wait");
        assert_eq!(store.consume_now(&k, CREDENTIAL_RULE, T0 + 12_000), Ok(()), "window elapsed: counter resets");
        assert_eq!(store.consume_now(&k, CREDENTIAL_RULE, T0 + 12_001), Ok(()));
        // Other clients and other paths have their own counters.
        assert_eq!(store.consume_now(&key(None, "/sign-in/email"), CREDENTIAL_RULE, T0 + 2500), Ok(()));
        assert_eq!(store.consume_now(&key(Some("203.0.113.7"), "/sign-up/email"), CREDENTIAL_RULE, T0 + 2500), Ok(()));
    }

    #[test]
    fn address_keys_hide_the_address_and_ignore_case() {
        let k = address_key(" Ada@Example.COM ");
        assert_eq!(k, address_key("ada@example.com"));
        assert_ne!(k, address_key("ada@example.org"));
        assert!(k.starts_with("send|") && k.len() == 5 + 32 && !k.contains("ada"), "{k}");
    }

    #[test]
    fn decision_is_debounced() {
        let rule = Rule { window_s: 10, max: 2 };
        let r = decide(None, rule, 0).unwrap();
        let r = decide(Some(r), rule, 9_000).unwrap();
        assert_eq!(r, Record { count: 2, last_ms: 9_000 });
        assert_eq!(decide(Some(r), rule, 18_000), Err(1), "each allowed request restarts the window");
        assert_eq!(decide(Some(r), rule, 19_000), Ok(Record { count: 1, last_ms: 19_000 }));
        assert_eq!(decide(Some(r), Rule { window_s: 10, max: 0 }, 9_001), Err(10));
        assert_eq!(decide(Some(r), Rule { window_s: 0, max: 0 }, 9_000).map(|r| r.count), Ok(1), "a zero window never blocks");
        assert!(decide(Some(Record { count: u64::MAX, last_ms: i64::MAX }), Rule { window_s: u64::MAX, max: u64::MAX }, i64::MIN).is_err());
    }

    #[test]
    fn expired_entries_are_pruned() {
        let store = MemoryStore::with_limits(1, 1000, 4);
        let short = Rule { window_s: 1, max: 10 };
        for i in 0..3 {
            store.consume_now(&format!("old-{i}"), short, T0).unwrap();
        }
        assert_eq!(store.len(), 3);
        // The fourth new key triggers a prune; the old ones expired at T0 + 1000.
        store.consume_now("new-0", short, T0 + 5_000).unwrap();
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn a_full_store_evicts_instead_of_growing() {
        let store = MemoryStore::with_limits(2, 16, 1_000_000);
        let long = Rule { window_s: 3600, max: 10 };
        for i in 0..10_000 {
            store.consume_now(&format!("198.51.{}.{}|/sign-in/email", i / 256, i % 256), long, T0 + i).unwrap();
        }
        assert!(store.len() <= 32, "bounded by shards × capacity, got {}", store.len());
        // A huge path costs no more than a short one.
        store.consume_now(&"x".repeat(1 << 20), long, T0).unwrap();
        assert!(store.len() <= 32);
    }

    #[tokio::test]
    async fn the_429_response_is_better_auths() {
        let res = too_many_requests(7);
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(res.headers()["x-retry-after"], "7");
        assert!(res.headers().get(header::RETRY_AFTER).is_none());
        let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], br#"{"message":"Too many requests. Please try again later."}"#);
    }
}
