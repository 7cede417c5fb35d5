//! Values read when Prometheus scrapes: the dependencies' probes (those of `/health/ready`) and the
//! number of unexpired sessions, each cached so that scrapes, however frequent, cost the database
//! at most one `select 1` every [`PROBE_EVERY`] and one count every [`COUNT_EVERY`].
//!
//! Must never: fail a scrape because a dependency is down (that is what `dependency_up` reports),
//! or run more than one refresh at a time.

use super::{DependencyLabels, Metrics};
use crate::app::{health, Auth};
use crate::store::adapter::{Op, Where};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How long a dependency probe's answer is reused.
pub const PROBE_EVERY: Duration = Duration::from_secs(5);
/// How long the active-session count is reused (a count over the session table is not free).
pub const COUNT_EVERY: Duration = Duration::from_secs(30);

/// When each value was last read (`None`: never).
#[derive(Default)]
pub struct Cache(Mutex<Times>);

#[derive(Default)]
struct Times {
    probed: Option<Instant>,
    counted: Option<Instant>,
}

fn stale(at: Option<Instant>, every: Duration) -> bool {
    !matches!(at, Some(t) if t.elapsed() < every)
}

impl Cache {
    /// Refreshes what is stale; a second scrape meanwhile waits and then reuses the values.
    pub async fn refresh(&self, m: &Metrics, auth: &Auth) {
        let mut times = self.0.lock().await;
        if stale(times.probed, PROBE_EVERY) {
            let database = health::database_up(auth).await;
            m.dependency_up.get_or_create(&DependencyLabels { dependency: "database" }).set(database.into());
            if let Some(redis) = health::redis_up(auth).await {
                m.dependency_up.get_or_create(&DependencyLabels { dependency: "redis" }).set(redis.into());
            }
            times.probed = Some(Instant::now());
        }
        if let Some(gauge) = m.active_sessions.as_ref().filter(|_| stale(times.counted, COUNT_EVERY)) {
            match active_sessions(auth).await {
                Some(n) => {
                    gauge.set(i64::try_from(n).unwrap_or(i64::MAX));
                    times.counted = Some(Instant::now());
                }
                // Keep the last value; try again on the next scrape.
                None => tracing::warn!("metrics: the active-session count failed or took longer than {:?}", health::PROBE_TIMEOUT),
            }
        }
    }
}

/// Unexpired sessions in the database, through the generic adapter, within the probe timeout.
async fn active_sessions(auth: &Auth) -> Option<u64> {
    let adapter = auth.adapter().ok()?;
    let now = auth.now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let unexpired = [Where::new("expiresAt", Op::Gt, now)];
    let count = adapter.count("session", &unexpired);
    tokio::time::timeout(health::PROBE_TIMEOUT, count).await.ok()?.ok()
}
