//! Secondary storage: Better Auth's `secondaryStorage` (spec core §5.4, plugins §11), a key-value
//! store with TTLs that holds sessions, the per-user active-session lists and rate-limit counters
//! so several Portcullis instances can share them.
//!
//! This module owns the [`SecondaryStorage`] interface, its two implementations ([`MemoryStorage`],
//! [`RedisStorage`]) and [`Secondary`], the guard every caller goes through: it bounds each call
//! with a short timeout, short-circuits calls for a moment after a failure (so an outage costs
//! microseconds per request, not a timeout each), logs one warning per outage and counts failures
//! in [`Health`]. It must never know what the values mean (sessions are `session::store`'s
//! business), never log keys or values (a session key *is* the session token), and never panic or
//! hang on a storage failure: every failure is a [`SecondaryError`] the caller decides about.

mod memory;
mod redis;

pub use self::memory::MemoryStorage;
pub use self::redis::RedisStorage;

use crate::error::ApiError;
use axum::http::StatusCode;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The clean answer when sessions live only in secondary storage and it is down: a 503, never a 500.
pub const SECONDARY_STORAGE_UNAVAILABLE: ApiError =
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "SECONDARY_STORAGE_UNAVAILABLE", "Session storage unavailable");

#[derive(Debug, Clone, thiserror::Error)]
pub enum SecondaryError {
    #[error("secondary storage unavailable: {0}")]
    Unavailable(String),
    #[error("secondary storage did not answer in time")]
    Timeout,
    /// Recently failed; not tried again until the back-off elapses.
    #[error("secondary storage is down (recent failure)")]
    CircuitOpen,
}

impl From<SecondaryError> for ApiError {
    fn from(_: SecondaryError) -> Self {
        SECONDARY_STORAGE_UNAVAILABLE
    }
}

pub type SecondaryResult<T> = Result<T, SecondaryError>;

/// Better Auth's `SecondaryStorage`. Values are strings (JSON); `ttl` is in seconds and `None` (or
/// `Some(0)`) means "no expiry". Implementations apply their own key prefix.
#[async_trait::async_trait]
pub trait SecondaryStorage: Send + Sync + 'static {
    async fn get(&self, key: &str) -> SecondaryResult<Option<String>>;
    async fn set(&self, key: &str, value: &str, ttl: Option<u64>) -> SecondaryResult<()>;
    async fn delete(&self, key: &str) -> SecondaryResult<()>;
    /// Adds one and returns the new value; the TTL is set only when the key is created, so the
    /// window is fixed from the first increment and never extended (Better Auth's Lua script).
    async fn increment(&self, key: &str, ttl: u64) -> SecondaryResult<i64>;
    async fn get_and_delete(&self, key: &str) -> SecondaryResult<Option<String>>;
    /// Overwrites `key` only if it still exists; false when it does not. Used for updates of a
    /// cached session (refresh, new user data) so that an update racing a revocation can never
    /// bring the revoked session back. The default is a non-atomic get-then-set for custom stores;
    /// both built-in stores do it atomically.
    async fn replace(&self, key: &str, value: &str, ttl: Option<u64>) -> SecondaryResult<bool> {
        if self.get(key).await?.is_none() {
            return Ok(false);
        }
        self.set(key, value, ttl).await.map(|()| true)
    }
    /// The values of several keys, in order, in one round trip where the store can (Redis MGET).
    /// The default asks one key after the other, for custom stores.
    async fn get_many(&self, keys: &[&str]) -> SecondaryResult<Vec<Option<String>>> {
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            out.push(self.get(k).await?);
        }
        Ok(out)
    }
}

/// Health of the secondary storage, for logs and (later) metrics.
#[derive(Debug, Default)]
pub struct Health {
    /// Operations that failed, timed out or were short-circuited, since start.
    pub failures: AtomicU64,
    down: AtomicBool,
    /// Milliseconds since `epoch` before which calls are short-circuited.
    open_until_ms: AtomicU64,
}

impl Health {
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
    /// Whether the last operation failed (the outage has not been seen to end yet).
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }
}

/// Per-call bound: far above a healthy Redis round trip (~0.1 ms), far below a client's patience.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);
/// After a failure, calls fail fast for this long before Redis is tried again.
const BACKOFF: Duration = Duration::from_millis(300);

/// The guarded handle every caller uses. Cheap to clone.
#[derive(Clone)]
pub struct Secondary {
    inner: Arc<dyn SecondaryStorage>,
    timeout: Duration,
    health: Arc<Health>,
    epoch: Instant,
}

impl Secondary {
    pub fn new(inner: Arc<dyn SecondaryStorage>, timeout: Duration, health: Arc<Health>) -> Self {
        Self { inner, timeout, health, epoch: Instant::now() }
    }
    pub fn health(&self) -> &Arc<Health> {
        &self.health
    }
    pub fn storage(&self) -> &Arc<dyn SecondaryStorage> {
        &self.inner
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    async fn run<T>(&self, op: &'static str, fut: impl Future<Output = SecondaryResult<T>>) -> SecondaryResult<T> {
        if self.health.is_down() && self.now_ms() < self.health.open_until_ms.load(Ordering::Relaxed) {
            self.health.failures.fetch_add(1, Ordering::Relaxed);
            return Err(SecondaryError::CircuitOpen);
        }
        let res = match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(SecondaryError::Timeout),
        };
        match &res {
            Ok(_) => {
                if self.health.down.swap(false, Ordering::Relaxed) {
                    tracing::info!("secondary storage is answering again; leaving degraded mode");
                }
            }
            Err(e) => {
                self.health.failures.fetch_add(1, Ordering::Relaxed);
                let until = self.now_ms().saturating_add(u64::try_from(BACKOFF.as_millis()).unwrap_or(u64::MAX));
                self.health.open_until_ms.store(until, Ordering::Relaxed);
                // One warning per outage: the flag flips back only on a success.
                if !self.health.down.swap(true, Ordering::Relaxed) {
                    tracing::warn!(op, error = %e, "secondary storage failed; degraded mode until it answers again");
                }
            }
        }
        res
    }

    pub async fn get(&self, key: &str) -> SecondaryResult<Option<String>> {
        self.run("get", self.inner.get(key)).await
    }
    pub async fn get_many(&self, keys: &[&str]) -> SecondaryResult<Vec<Option<String>>> {
        self.run("get_many", self.inner.get_many(keys)).await
    }
    pub async fn set(&self, key: &str, value: &str, ttl: Option<u64>) -> SecondaryResult<()> {
        self.run("set", self.inner.set(key, value, ttl)).await
    }
    pub async fn replace(&self, key: &str, value: &str, ttl: Option<u64>) -> SecondaryResult<bool> {
        self.run("replace", self.inner.replace(key, value, ttl)).await
    }
    pub async fn delete(&self, key: &str) -> SecondaryResult<()> {
        self.run("delete", self.inner.delete(key)).await
    }
    pub async fn increment(&self, key: &str, ttl: u64) -> SecondaryResult<i64> {
        self.run("increment", self.inner.increment(key, ttl)).await
    }
    pub async fn get_and_delete(&self, key: &str) -> SecondaryResult<Option<String>> {
        self.run("get_and_delete", self.inner.get_and_delete(key)).await
    }
}

/// Opens the storage named by a URL: `redis://…`/`rediss://…`, or `memory://` (in-process, for
/// tests and single-instance deployments that want Better Auth's secondary-storage layout).
/// `timeout` bounds one connection attempt and one reply (the guard bounds a whole call).
pub fn open(url: &str, prefix: &str, timeout: Duration) -> Result<Arc<dyn SecondaryStorage>, String> {
    if url.starts_with("memory:") {
        return Ok(Arc::new(MemoryStorage::new()));
    }
    RedisStorage::open(url, prefix, timeout).map(|r| Arc::new(r) as Arc<dyn SecondaryStorage>)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A storage that fails every call, to drive the guard.
    struct Broken;
    #[async_trait::async_trait]
    impl SecondaryStorage for Broken {
        async fn get(&self, _: &str) -> SecondaryResult<Option<String>> {
            Err(SecondaryError::Unavailable("down".into()))
        }
        async fn set(&self, _: &str, _: &str, _: Option<u64>) -> SecondaryResult<()> {
            Err(SecondaryError::Unavailable("down".into()))
        }
        async fn delete(&self, _: &str) -> SecondaryResult<()> {
            std::future::pending().await
        }
        async fn increment(&self, _: &str, _: u64) -> SecondaryResult<i64> {
            Err(SecondaryError::Unavailable("down".into()))
        }
        async fn get_and_delete(&self, _: &str) -> SecondaryResult<Option<String>> {
            Err(SecondaryError::Unavailable("down".into()))
        }
    }

    #[tokio::test]
    async fn the_guard_times_out_counts_and_short_circuits() {
        let s = Secondary::new(Arc::new(Broken), Duration::from_millis(20), Arc::default());
        let t = Instant::now();
        assert!(matches!(s.delete("k").await, Err(SecondaryError::Timeout)), "a hanging call is bounded");
        assert!(t.elapsed() < Duration::from_secs(1));
        assert!(s.health().is_down());
        assert!(matches!(s.get("k").await, Err(SecondaryError::CircuitOpen)), "fails fast while the back-off runs");
        assert_eq!(s.health().failures(), 2);
        tokio::time::sleep(BACKOFF + Duration::from_millis(20)).await;
        assert!(matches!(s.get("k").await, Err(SecondaryError::Unavailable(_))), "tried again after the back-off");
    }

    #[tokio::test]
    async fn the_guard_recovers() {
        let s = Secondary::new(Arc::new(MemoryStorage::new()), DEFAULT_TIMEOUT, Arc::default());
        s.health.down.store(true, Ordering::Relaxed);
        s.set("a", "1", None).await.unwrap();
        assert!(!s.health().is_down());
        let e: ApiError = SecondaryError::Timeout.into();
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.code, Some("SECONDARY_STORAGE_UNAVAILABLE"));
    }
}
