//! The delivery worker: started with the engine ([`Capability::on_start`](crate::app::Capability::on_start)),
//! it holds only a weak handle and stops when the engine is dropped. Each round it claims due rows
//! ([`outbox::claim`]), sends them at once, and records the outcome; a new event wakes it early.
//!
//! A request is a `POST` of the stored body with `webhook-id` (the row id, the same on every
//! attempt), `webhook-timestamp` (this attempt's unix time) and `webhook-signature`, a timeout, and
//! no redirects (a 3xx is a failure). 2xx is delivered; anything else is retried after
//! `base · 2^(attempt-1)` (at most `backoff_max_seconds`), with up to half of it taken off at random
//! so that endpoints coming back are not hit in lockstep; after `max_attempts` the row is `dead`.
//!
//! Must never: follow a redirect, send to a non-public address unless `allow_private` (checked on
//! the resolved addresses at each attempt), or put a secret or the response body in `lastError`.

use super::config::WebhooksConfig;
use super::{endpoints, outbox, settings, signature, Webhooks};
use crate::app::{Auth, WeakAuth};
use chrono::Duration;
use rand::Rng;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::Notify;

/// Whether `url` may be an endpoint: http(s) with a host, and not a literal non-public address
/// unless `allow_private`. Names are checked again, resolved, at each attempt.
pub fn check_url(url: &str, allow_private: bool) -> Result<url::Url, &'static str> {
    let u = url::Url::parse(url).map_err(|_| "the URL does not parse")?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err("the URL is not http(s)");
    }
    let host = match u.host() {
        // A name is checked on the addresses it resolves to, at each attempt.
        Some(url::Host::Domain(_)) => return Ok(u),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        None => return Err("the URL has no host"),
    };
    if !allow_private && !is_public(host) {
        return Err(PRIVATE);
    }
    Ok(u)
}

const PRIVATE: &str = "the URL points to a loopback, private or link-local address (set allow_private)";

/// Not loopback, private, link-local, shared, unspecified, multicast or documentation space.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback() || v6.is_unspecified() || v6.is_multicast() || (s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfe80)
        }
    }
}

/// The delay before attempt `attempts + 1`, after `attempts` failures (`attempts` ≥ 1).
pub fn backoff(cfg: &WebhooksConfig, attempts: u32, jitter: f64) -> Duration {
    let base = cfg.backoff_base_ms as f64;
    let max = cfg.backoff_max_seconds as f64 * 1000.0;
    let full = (base * 2f64.powi(attempts.saturating_sub(1).min(40) as i32)).min(max);
    Duration::milliseconds((full * (1.0 - 0.5 * jitter.clamp(0.0, 1.0))) as i64)
}

/// Rounds between two sweeps of finished rows.
const SWEEP_EVERY: u64 = 60;

/// Starts the worker of `auth` (one per engine).
pub fn spawn(auth: &Auth, wake: Arc<Notify>) {
    let weak = auth.downgrade();
    let worker = format!("{}-{}", std::process::id(), crate::crypto::random_id(12));
    let cfg = settings(auth).clone();
    let Some(client) = http_client(&cfg).build().ok() else {
        tracing::error!("webhook worker not started: no HTTP client");
        return;
    };
    tokio::spawn(run(weak, wake, worker, client, cfg));
}

async fn run(weak: WeakAuth, wake: Arc<Notify>, worker: String, client: reqwest::Client, cfg: WebhooksConfig) {
    let poll = std::time::Duration::from_millis(cfg.poll_interval_ms.max(10));
    // The lease outlasts the request (and the writes around it) by a wide margin.
    let lease = Duration::milliseconds(i64::try_from(cfg.timeout_ms).unwrap_or(i64::MAX / 4) * 2 + 30_000);
    let mut rounds = 0u64;
    loop {
        {
            let Some(auth) = weak.upgrade() else { return };
            if let Err(e) = round(&auth, &worker, &client, &cfg, lease).await {
                tracing::warn!(error = %e, "webhook round failed; retrying");
            }
            // Finished rows are swept every SWEEP_EVERY rounds (a minute at the default poll).
            if rounds.is_multiple_of(SWEEP_EVERY) {
                let keep = cfg.retention_seconds.min(100 * 365 * 86_400) as i64;
                let before = auth.now() - Duration::seconds(keep);
                match outbox::sweep(&auth, before).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(rows = n, "old webhook deliveries removed"),
                    Err(e) => tracing::warn!(error = %e, "old webhook deliveries not removed"),
                }
            }
            rounds = rounds.wrapping_add(1);
        }
        // Wakes early on a new event; a dropped engine is noticed at the next upgrade.
        let _ = tokio::time::timeout(poll, wake.notified()).await;
    }
}

async fn round(
    auth: &Auth,
    worker: &str,
    client: &reqwest::Client,
    cfg: &WebhooksConfig,
    lease: Duration,
) -> crate::store::StoreResult<()> {
    let mut sends = tokio::task::JoinSet::new();
    for d in outbox::due(auth, cfg.batch_size).await? {
        if let Some(d) = outbox::claim(auth, &d.id, worker, lease).await? {
            let (auth, worker, client, cfg) = (auth.clone(), worker.to_string(), client.clone(), cfg.clone());
            sends.spawn(async move { attempt(&auth, &worker, &client, &cfg, d).await });
        }
    }
    while let Some(done) = sends.join_next().await {
        if let Ok(Err(e)) = done {
            tracing::warn!(error = %e, "webhook outcome not recorded; the lease will expire and the row be retried");
        }
    }
    Ok(())
}

/// One attempt of a row this worker holds, and its outcome written.
async fn attempt(
    auth: &Auth,
    worker: &str,
    client: &reqwest::Client,
    cfg: &WebhooksConfig,
    d: outbox::Delivery,
) -> crate::store::StoreResult<()> {
    let Some(endpoint) = endpoints::by_id(auth, &d.endpoint_id).await? else {
        return outbox::failed(auth, &d, worker, "endpoint gone (deleted, or its secret no longer decrypts)", None).await;
    };
    let outcome = send(client, cfg, &endpoint, &d, auth.now().timestamp()).await;
    match outcome {
        Ok(()) => outbox::delivered(auth, &d, worker).await,
        Err(error) => {
            let attempts = u32::try_from(d.attempts + 1).unwrap_or(u32::MAX);
            let retry = (attempts < cfg.max_attempts).then(|| backoff(cfg, attempts, rand::thread_rng().gen::<f64>()));
            tracing::info!(delivery = %d.id, endpoint = %endpoint.id, attempts, %error, dead = retry.is_none(), "webhook attempt failed");
            outbox::failed(auth, &d, worker, &error, retry).await
        }
    }
}

async fn send(client: &reqwest::Client, cfg: &WebhooksConfig, e: &super::Endpoint, d: &outbox::Delivery, ts: i64) -> Result<(), String> {
    let url = check_url(&e.url, cfg.allow_private).map_err(str::to_string)?;
    let pinned;
    let client = match url.host() {
        // A name is resolved here, each address checked, and the request sent to those very
        // addresses (a second look-up could answer a private one).
        Some(url::Host::Domain(host)) if !cfg.allow_private => {
            let port = url.port_or_known_default().unwrap_or(443);
            let addrs: Vec<_> = tokio::net::lookup_host((host, port)).await.map_err(|_| "the host does not resolve".to_string())?.collect();
            if addrs.is_empty() || addrs.iter().any(|a| !is_public(a.ip())) {
                return Err(PRIVATE.to_string());
            }
            pinned = http_client(cfg).resolve_to_addrs(host, &addrs).build().map_err(|_| "no HTTP client".to_string())?;
            &pinned
        }
        _ => client,
    };
    let res = client
        .post(url.clone())
        .header("content-type", "application/json")
        .header("webhook-id", &d.id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature::header(&e.secrets, &d.id, ts, &d.payload))
        .body(d.payload.clone())
        .send()
        .await
        .map_err(|err| if err.is_timeout() { "timed out".to_string() } else { "connection failed".to_string() })?;
    match res.status() {
        s if s.is_success() => Ok(()),
        s => Err(format!("HTTP {}", s.as_u16())),
    }
}

/// The request settings of every delivery: a timeout, no redirects, no proxy from the environment
/// (it would see the signed bodies and bypass the address check).
fn http_client(cfg: &WebhooksConfig) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(std::time::Duration::from_millis(cfg.timeout_ms))
        .user_agent("Portcullis-Webhooks")
}

impl Webhooks {
    pub(super) fn start(&self, auth: &Auth) {
        spawn(auth, self.wake.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_http_and_public_unless_allowed() {
        assert!(check_url("https://hooks.example.com/x", false).is_ok());
        assert!(check_url("ftp://hooks.example.com/x", true).is_err());
        assert!(check_url("not a url", true).is_err());
        for private in ["http://127.0.0.1:9/x", "http://10.1.2.3/", "http://[::1]/", "http://169.254.169.254/", "http://[fd00::1]/"] {
            assert_eq!(check_url(private, false).err(), Some(PRIVATE), "{private}");
            assert!(check_url(private, true).is_ok(), "{private}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_takes_off_at_most_half() {
        let cfg = WebhooksConfig { backoff_base_ms: 1000, backoff_max_seconds: 5, ..Default::default() };
        let ms = |a, j| backoff(&cfg, a, j).num_milliseconds();
        assert_eq!([ms(1, 0.0), ms(2, 0.0), ms(3, 0.0), ms(4, 0.0), ms(30, 0.0)], [1000, 2000, 4000, 5000, 5000]);
        assert_eq!(ms(2, 1.0), 1000);
    }
}
