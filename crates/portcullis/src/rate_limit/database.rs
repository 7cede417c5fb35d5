//! Better Auth's database rate limiting on the `rateLimit` table, for both dialects.
//!
//! Owns the table's SQL (rendered once from [`Names`]) and the atomic consume: read the key's
//! record, apply [`decide`] (the same decision as the memory store), then write it only if the row
//! still holds what was read (`count` and `lastRequest` unchanged) or, for a new key, insert it
//! (the unique `key` rejects a concurrent insert). A lost race re-reads and decides again, so
//! concurrent requests on several instances are counted exactly; a key so contended that every
//! attempt loses is an error, like a database failure (the limiter's `on_storage_error` decides,
//! never this module). Rows idle for longer than the longest window are pruned now and then.

use super::{decide, Record, Rule};
use crate::store::driver::{Arg, Db, RowRead};
use crate::store::schema::Names;
use crate::store::{StoreError, StoreResult};
use std::sync::atomic::{AtomicU32, Ordering};

/// Compare-and-set attempts before giving up (an error: uncounted is not "allowed").
const ATTEMPTS: usize = 16;
const PRUNE_EVERY: u32 = 1024;
/// Rows idle this long are pruned: longer than any built-in window.
const PRUNE_AFTER_MS: i64 = 86_400_000;

pub struct RateSql {
    select: String,
    insert: String,
    update: String,
    prune: String,
    calls: AtomicU32,
    ids: crate::config::GenerateId,
}

impl RateSql {
    pub fn render(db: &Db, n: &Names) -> Self {
        let d = db.dialect();
        let t = n.table("rateLimit");
        let c = |col: &str| n.col("rateLimit", col);
        Self {
            select: format!("select {}, {} from {t} where {} = {}", c("count"), c("lastRequest"), c("key"), d.ph(1)),
            insert: format!(
                "insert into {t} ({}, {}, {}, {}) values ({}, {}, {}, {})",
                c("id"),
                c("key"),
                c("count"),
                c("lastRequest"),
                n.id_value(d, 1),
                d.ph(2),
                d.ph(3),
                d.ph(4)
            ),
            update: format!(
                "update {t} set {count} = {}, {last} = {} where {} = {} and {count} = {} and {last} = {}",
                d.ph(1),
                d.ph(2),
                c("key"),
                d.ph(3),
                d.ph(4),
                d.ph(5),
                count = c("count"),
                last = c("lastRequest"),
            ),
            prune: format!("delete from {t} where {} < {}", c("lastRequest"), d.ph(1)),
            calls: AtomicU32::new(0),
            ids: n.generate_id(),
        }
    }
}

fn as_count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub async fn consume(db: &Db, sql: &RateSql, key: &str, rule: Rule, now_ms: i64) -> StoreResult<Result<(), u64>> {
    if sql.calls.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
        db.execute(&sql.prune, &[Arg::Int(now_ms.saturating_sub(PRUNE_AFTER_MS))]).await?;
    }
    for _ in 0..ATTEMPTS {
        let prev = db
            .fetch_optional(&sql.select, &[Arg::Text(key)], |r: &dyn RowRead| {
                Ok(Record { count: u64::try_from(r.int(0)?).unwrap_or(0), last_ms: r.int(1)? })
            })
            .await?;
        let next = match decide(prev, rule, now_ms) {
            Ok(next) => next,
            Err(retry) => return Ok(Err(retry)),
        };
        match prev {
            None => {
                let id = crate::crypto::row_id(sql.ids);
                let args = [Arg::Text(&id), Arg::Text(key), Arg::Int(as_count(next.count)), Arg::Int(next.last_ms)];
                match db.execute(&sql.insert, &args).await {
                    Ok(_) => return Ok(Ok(())),
                    Err(StoreError::Conflict(_)) => continue,
                    Err(e) => return Err(e),
                }
            }
            Some(p) => {
                let args = [
                    Arg::Int(as_count(next.count)),
                    Arg::Int(next.last_ms),
                    Arg::Text(key),
                    Arg::Int(as_count(p.count)),
                    Arg::Int(p.last_ms),
                ];
                if db.execute(&sql.update, &args).await? == 1 {
                    return Ok(Ok(()));
                }
            }
        }
    }
    Err(StoreError::Db(format!("rate-limit counter too contended ({ATTEMPTS} compare-and-set attempts lost)")))
}
