//! Rate-limit counters shared by every instance: in secondary storage (Redis) or in the database.
//!
//! Owns the two shared [`RateLimitStore`]s and the choice between them (`rate_limit.storage`,
//! Better Auth's default: `secondary-storage` when secondary storage is configured, else
//! `memory`). Semantics (spec core §7):
//! - **secondary storage**: `increment(key, window)`, a fixed window that starts at the first hit;
//!   allowed while the count is at most `max`, else `X-Retry-After: window`;
//! - **database**: the `rateLimit` table (`id`, `key` unique, `count`, `lastRequest` ms) with the
//!   same debounced decision as memory ([`decide`]), applied atomically across instances by a
//!   compare-and-set on `(count, lastRequest)` (see `store::rate_limit`).
//!
//! A storage failure is reported as [`Verdict::StorageError`], never decided here: whether the
//! request passes is `rate_limit.on_storage_error`'s business (see `rate_limit_outage`). These
//! stores must never panic or block a request beyond the storage's own timeout.

use super::database::RateSql;
use super::{MemoryStore, RateLimitStore, Rule, Verdict};
use crate::config::{Config, RateLimitStorage};
use crate::secondary::Secondary;
use crate::store::adapter::Adapter;
use crate::store::driver::Db;
use crate::store::schema::{ColType, Column, Names, Table};
use std::sync::Arc;

/// Counters in secondary storage under Better Auth's key `<ip>|<path>`.
pub struct SecondaryRateLimit {
    storage: Secondary,
}

impl SecondaryRateLimit {
    pub fn new(storage: Secondary) -> Self {
        Self { storage }
    }
}

#[async_trait::async_trait]
impl RateLimitStore for SecondaryRateLimit {
    async fn consume(&self, key: &str, rule: Rule, _now_ms: i64) -> Verdict {
        if rule.window_s == 0 {
            return Verdict::Allowed;
        }
        match self.storage.increment(key, rule.window_s).await {
            Ok(n) if u64::try_from(n).unwrap_or(0) <= rule.max => Verdict::Allowed,
            Ok(_) => Verdict::Limited(rule.window_s),
            Err(e) => Verdict::StorageError(e.to_string()),
        }
    }
}

/// Counters in the `rateLimit` table, through the dialect layer (`database`).
pub struct DatabaseRateLimit {
    db: Db,
    sql: RateSql,
}

impl DatabaseRateLimit {
    pub fn new(db: Db, names: &Names) -> Self {
        Self { sql: RateSql::render(&db, names), db }
    }
}

#[async_trait::async_trait]
impl RateLimitStore for DatabaseRateLimit {
    async fn consume(&self, key: &str, rule: Rule, now_ms: i64) -> Verdict {
        match super::database::consume(&self.db, &self.sql, key, rule, now_ms).await {
            Ok(Ok(())) => Verdict::Allowed,
            Ok(Err(retry)) => Verdict::Limited(retry),
            Err(e) => Verdict::StorageError(e.to_string()),
        }
    }
}

/// The store `config` asks for; `None` means the in-process [`MemoryStore`]. Database counters need
/// a SQL store (`adapter`); an embedder's own store without one counts in memory (with a warning).
pub fn for_config(config: &Config, secondary: Option<&Secondary>, adapter: Option<&Adapter>) -> Option<Arc<dyn RateLimitStore>> {
    match config.rate_limit_storage() {
        RateLimitStorage::Memory => None,
        RateLimitStorage::SecondaryStorage => match secondary {
            Some(s) => Some(Arc::new(SecondaryRateLimit::new(s.clone()))),
            None => {
                tracing::warn!("rate_limit.storage is secondary-storage but none is configured; counting in memory");
                Some(Arc::new(MemoryStore::new()))
            }
        },
        RateLimitStorage::Database => match adapter {
            Some(a) => Some(Arc::new(DatabaseRateLimit::new(a.db().clone(), a.names()))),
            None => {
                tracing::warn!("rate_limit.storage is database but the store is not SQL; counting in memory");
                Some(Arc::new(MemoryStore::new()))
            }
        },
    }
}

/// Better Auth's `rateLimit` table.
pub fn rate_limit_table() -> Table {
    use ColType::*;
    Table {
        name: "rateLimit",
        columns: vec![
            Column::new("id", Text).pk(),
            Column::new("key", Text).unique(),
            Column::new("count", Int),
            Column::new("lastRequest", BigInt),
        ],
        indexes: vec![],
        search: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secondary::{MemoryStorage, SecondaryError, SecondaryResult, SecondaryStorage, DEFAULT_TIMEOUT};

    #[tokio::test]
    async fn secondary_counts_in_a_fixed_window() {
        let s = Secondary::new(Arc::new(MemoryStorage::new()), DEFAULT_TIMEOUT, Arc::default());
        let rl = SecondaryRateLimit::new(s);
        let rule = Rule { window_s: 10, max: 3 };
        for _ in 0..3 {
            assert_eq!(rl.consume("1.2.3.4|/sign-in/email", rule, 0).await, Verdict::Allowed);
        }
        assert_eq!(rl.consume("1.2.3.4|/sign-in/email", rule, 0).await, Verdict::Limited(10));
        assert_eq!(rl.consume("1.2.3.5|/sign-in/email", rule, 0).await, Verdict::Allowed);
    }

    /// Every call fails, as Redis does while it is down.
    struct Down;
    #[async_trait::async_trait]
    impl SecondaryStorage for Down {
        async fn get(&self, _: &str) -> SecondaryResult<Option<String>> {
            Err(SecondaryError::Unavailable("down".into()))
        }
        async fn set(&self, _: &str, _: &str, _: Option<u64>) -> SecondaryResult<()> {
            Err(SecondaryError::Unavailable("down".into()))
        }
        async fn delete(&self, _: &str) -> SecondaryResult<()> {
            Err(SecondaryError::Unavailable("down".into()))
        }
        async fn increment(&self, _: &str, _: u64) -> SecondaryResult<i64> {
            Err(SecondaryError::Unavailable("down".into()))
        }
        async fn get_and_delete(&self, _: &str) -> SecondaryResult<Option<String>> {
            Err(SecondaryError::Unavailable("down".into()))
        }
    }

    #[tokio::test]
    async fn a_storage_failure_is_reported_not_allowed() {
        let rl = SecondaryRateLimit::new(Secondary::new(Arc::new(Down), DEFAULT_TIMEOUT, Arc::default()));
        let v = rl.consume("1.2.3.4|/sign-in/email", Rule { window_s: 10, max: 3 }, 0).await;
        assert!(matches!(v, Verdict::StorageError(_)), "{v:?}");
    }
}
