//! Retention: rows older than `[audit] retention_days` are deleted, in bounded batches through the
//! generic adapter, in the background, at most once per `prune_interval` by the server's clock:
//! checked by a timer that ticks every `prune_interval` from start-up until the engine is dropped,
//! and when an event is recorded (so a clock moved forward, as in tests, is noticed at once).
//!
//! Must never: run in the request that recorded the event (it runs in a
//! [`Background`](crate::background::Background) slot), run twice at once, or delete a row younger
//! than the retention (0 days keeps everything).

use super::{settings, TABLE};
use crate::app::Auth;
use crate::store::adapter::{Op, Query, Where};
use crate::store::StoreResult;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

/// Rows deleted per statement, and statements per prune (the rest waits for the next one).
const BATCH: u64 = 500;
const MAX_BATCHES: usize = 20;

/// When the last prune started (ms since the epoch, by the server's clock) and whether one runs.
#[derive(Debug, Default, Clone)]
pub struct Pruner {
    last_ms: Arc<AtomicI64>,
    running: Arc<AtomicBool>,
}

impl Pruner {
    /// Starts a prune in the background when retention is on, none runs, and the last one started
    /// at least `prune_interval` ago (or never).
    pub fn maybe_spawn(&self, auth: &Auth) {
        let cfg = settings(auth);
        if cfg.retention_days == 0 {
            return;
        }
        let now = auth.now();
        let last = self.last_ms.load(Ordering::Relaxed);
        let interval_ms = i64::try_from(cfg.prune_interval.saturating_mul(1000)).unwrap_or(i64::MAX);
        if last != 0 && now.timestamp_millis().saturating_sub(last) < interval_ms {
            return;
        }
        if self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        self.last_ms.store(now.timestamp_millis(), Ordering::Relaxed);
        let (auth, running) = (auth.clone(), self.running.clone());
        let spawned = auth.background.clone().spawn("audit log pruning", async move {
            match prune(&auth, now).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "audit log pruned"),
                Err(e) => tracing::warn!(error = %e, "audit log pruning failed; retried after the interval"),
            }
            running.store(false, Ordering::Release);
        });
        if !spawned {
            self.running.store(false, Ordering::Release);
        }
    }
}

/// Ticks every `prune_interval` (real time) until the engine is dropped, so an idle server prunes
/// too; each tick asks `pruner` ([`Pruner::maybe_spawn`]). Nothing without a tokio runtime.
pub fn start(pruner: Pruner, auth: &Auth) {
    if settings(auth).retention_days == 0 || tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    let every = std::time::Duration::from_secs(settings(auth).prune_interval);
    let weak = auth.downgrade();
    tokio::spawn(async move {
        loop {
            {
                let Some(auth) = weak.upgrade() else { return };
                pruner.maybe_spawn(&auth);
            }
            tokio::time::sleep(every).await;
        }
    });
}

/// Deletes rows created before `now - retention_days` (none when it is 0), at most
/// `BATCH * MAX_BATCHES` of them; how many were deleted.
pub async fn prune(auth: &Auth, now: DateTime<Utc>) -> StoreResult<u64> {
    let days = settings(auth).retention_days;
    if days == 0 {
        return Ok(0);
    }
    let cutoff = now - Duration::days(i64::try_from(days).unwrap_or(i64::MAX / 86_400_000).min(1_000_000));
    let old = Where::new("createdAt", Op::Lt, crate::store::model::iso_ms::format(&cutoff));
    let adapter = auth.adapter()?;
    let mut deleted = 0;
    for _ in 0..MAX_BATCHES {
        let q = Query { filter: vec![old.clone()], limit: Some(BATCH), ..Query::default() };
        let ids: Vec<Value> = adapter.find_many(TABLE, &q).await?.into_iter().filter_map(|mut r| r.remove("id")).collect();
        if ids.is_empty() {
            break;
        }
        let n = ids.len() as u64;
        deleted += adapter.delete_many(TABLE, &[Where::new("id", Op::In, Value::Array(ids))]).await?;
        if n < BATCH {
            break;
        }
    }
    Ok(deleted)
}
