//! Prometheus metrics (`[metrics]`, off by default): what the engine counts, and the text it
//! answers a scrape with.
//!
//! ```text
//!  request ──> track (http.rs: route template, method, status, latency) ──> pipeline ──> handler
//!                                 rate-limit refusal (router) ─┘   cookie-cache hit/miss (get-session)
//!  events ──> Listener (listen.rs): session.created, user.created, sign-in.failed
//!  scrape ──> render: gauges read now (hash queue, dependencies, active sessions; scrape.rs,
//!             cached so scrapes cannot hammer the database) + counters kept elsewhere
//!             (secondary-storage failures, dropped mail and background work)
//! ```
//!
//! Built with `prometheus-client` (the official Rust client): no global registry, so every engine
//! owns its metrics (two engines in one process, or parallel tests, never share counters). The
//! request path touches only pre-registered families: a route template is interned once
//! ([`Route`]), and a request costs two read-locked map look-ups, a few atomic adds and one
//! histogram observation; with metrics off nothing is registered, no layer is added, and the
//! get-session and rate-limit call sites cost one branch on `auth.metrics`.
//!
//! Must never: label a series with a raw path, a user id, an address or anything a client
//! chooses freely (route templates only, `unmatched` for the rest), or expose a secret.

mod http;
mod listen;
mod scrape;

pub use http::track;
pub(crate) use http::{open_router, token_router};
pub(crate) use listen::Listener;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

/// The content type of the text [`Metrics::render`] returns (OpenMetrics, which Prometheus reads).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Latency buckets in seconds: 1 ms (a cookie-cache get-session) to 10 s (a queued hash).
const LATENCY_BUCKETS: [f64; 14] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0];

/// A route template relative to the base path (`/sign-in/email`), interned: cloning is a reference
/// count, never an allocation.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct Route(Arc<str>);

impl EncodeLabelValue for Route {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&&*self.0, encoder)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: Route,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    route: Route,
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabels {
    rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DependencyLabels {
    dependency: &'static str,
}

type LatencyFamily = Family<LatencyLabels, Histogram, fn() -> Histogram>;

/// Every series the engine keeps; one per engine, in [`AuthState::metrics`](super::AuthState::metrics)
/// when `[metrics] enabled = true`.
pub struct Metrics {
    registry: Registry,
    /// The base path, stripped from matched paths (`/api/auth/get-session` → `/get-session`).
    mount: String,
    routes: RwLock<HashMap<Box<str>, Route>>,
    unmatched: Route,
    requests: Family<HttpLabels, Counter>,
    latency: LatencyFamily,
    sign_ins: Family<MethodLabels, Counter>,
    sign_ups: Family<MethodLabels, Counter>,
    sign_in_failures: Family<MethodLabels, Counter>,
    rate_limited: Family<RuleLabels, Counter>,
    cookie_cache_hits: Counter,
    cookie_cache_misses: Counter,
    // Read at scrape time from where the engine keeps them ([`scrape`]).
    active_sessions: Option<Gauge>,
    hash_queue: Gauge,
    dependency_up: Family<DependencyLabels, Gauge>,
    secondary_failures: Counter,
    rate_limit_storage_errors: Counter,
    mail_dropped: Counter,
    background_dropped: Counter,
    scrape: scrape::Cache,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// A new metric of type `M`, registered as `name` with `help`; the registry keeps a handle to it.
fn registered<M: prometheus_client::registry::Metric + Clone + Default>(r: &mut Registry, name: &str, help: &str) -> M {
    let m = M::default();
    r.register(name, help, m.clone());
    m
}

impl Metrics {
    /// The registry for an engine configured with `config`. `active_sessions` is left out when
    /// sessions live only in secondary storage (no table to count them in).
    pub fn new(config: &crate::config::Config) -> Self {
        let mut r = Registry::with_prefix("portcullis");
        let requests = registered(&mut r, "http_requests", "HTTP requests answered, by route template, method and status");
        let latency: LatencyFamily = Family::new_with_constructor(latency_histogram);
        r.register(
            "http_request_duration_seconds",
            "Time from request head to response head, by route template and method",
            latency.clone(),
        );
        let sign_ins = registered(&mut r, "sign_ins", "Sessions created by a sign-in (not by sign-up or a password change), by method");
        let sign_ups = registered(&mut r, "sign_ups", "Users created, by method");
        let sign_in_failures = registered(&mut r, "sign_in_failures", "Sign-ins refused (sign-in.failed events), by method");
        let rate_limited = registered(&mut r, "rate_limit_rejections", "Requests refused with 429 by the rate limiter, by rule");
        let cookie_cache_hits = registered(&mut r, "cookie_cache_hits", "get-session answers served from the session_data cookie");
        let cookie_cache_misses =
            registered(&mut r, "cookie_cache_misses", "get-session requests with a session that read the store (cookie cache on)");
        let active_sessions = config
            .sessions_in_database()
            .then(|| registered(&mut r, "active_sessions", "Unexpired sessions in the database (refreshed at most every 30 s)"));
        let hash_queue = registered(&mut r, "password_hash_queue_depth", "Password hashes waiting for a hashing worker");
        let dependency_up = registered(&mut r, "dependency_up", "1 when the dependency answered its readiness probe (1 s), 0 otherwise");
        let secondary_failures =
            registered(&mut r, "secondary_failures", "Secondary-storage (Redis) operations that failed, timed out or were short-circuited");
        let rate_limit_storage_errors =
            registered(&mut r, "rate_limit_storage_errors", "Requests whose rate-limit counter could not be read or written");
        let mail_dropped = registered(&mut r, "mail_dropped", "E-mails dropped because the sending queue was full");
        let background_dropped =
            registered(&mut r, "background_dropped", "Background work (reset look-ups, token rows) dropped because every slot was taken");
        let mount = config.mount_path();
        Metrics {
            registry: r,
            mount: if mount == "/" { String::new() } else { mount },
            routes: RwLock::default(),
            unmatched: Route(Arc::from("unmatched")),
            requests,
            latency,
            sign_ins,
            sign_ups,
            sign_in_failures,
            rate_limited,
            cookie_cache_hits,
            cookie_cache_misses,
            active_sessions,
            hash_queue,
            dependency_up,
            secondary_failures,
            rate_limit_storage_errors,
            mail_dropped,
            background_dropped,
            scrape: scrape::Cache::default(),
        }
    }

    /// The interned label of a matched path (`None`: no route matched).
    fn route(&self, matched: Option<&str>) -> Route {
        let Some(path) = matched else { return self.unmatched.clone() };
        let path = path.strip_prefix(self.mount.as_str()).unwrap_or(path);
        let path = if path.is_empty() { "/" } else { path };
        // axum's catch-all of a nested router is no route of ours.
        if path.contains("__private__axum") {
            return self.unmatched.clone();
        }
        if let Some(r) = self.routes.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(path) {
            return r.clone();
        }
        let mut routes = self.routes.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        routes.entry(path.into()).or_insert_with(|| Route(Arc::from(path))).clone()
    }

    fn observe(&self, route: Route, method: &'static str, status: u16, seconds: f64) {
        self.latency.get_or_create(&LatencyLabels { route: route.clone(), method }).observe(seconds);
        self.requests.get_or_create(&HttpLabels { route, method, status }).inc();
    }

    /// A request refused by rate-limit rule `rule` (its path pattern, or `credentials`, `mail`,
    /// `default` for the built-in ones).
    pub fn rate_limited(&self, rule: String) {
        self.rate_limited.get_or_create(&RuleLabels { rule }).inc();
    }

    /// A get-session answered from the cookie cache (`hit`), or one that read the store.
    pub fn cookie_cache(&self, hit: bool) {
        if hit { &self.cookie_cache_hits } else { &self.cookie_cache_misses }.inc();
    }

    fn count(family: &Family<MethodLabels, Counter>, method: &str) {
        family.get_or_create(&MethodLabels { method: method.to_string() }).inc();
    }

    /// Every series as OpenMetrics text, after reading the scrape-time values of `auth`.
    pub async fn render(&self, auth: &super::Auth) -> String {
        self.scrape.refresh(self, auth).await;
        self.hash_queue.set(i64::try_from(auth.hasher.waiting()).unwrap_or(i64::MAX));
        for (counter, value) in [
            (&self.secondary_failures, auth.secondary_health.failures()),
            (&self.rate_limit_storage_errors, auth.rate_limit_health.errors()),
            (&self.mail_dropped, auth.outgoing.dropped()),
            (&self.background_dropped, auth.background.dropped()),
        ] {
            counter.inner().store(value, Ordering::Relaxed);
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_templates_relative_to_the_base_path() {
        let m = Metrics::new(&crate::config::Config::default());
        let a = m.route(Some("/api/auth/get-session"));
        assert_eq!(&*a.0, "/get-session");
        assert!(Arc::ptr_eq(&a.0, &m.route(Some("/api/auth/get-session")).0), "interned once");
        assert_eq!(&*m.route(Some("/api/auth/reset-password/{token}")).0, "/reset-password/{token}");
        assert_eq!(&*m.route(None).0, "unmatched");
        assert_eq!(&*m.route(Some("/api/auth/{*__private__axum_nest_tail_param}")).0, "unmatched");
    }
}
