//! Connections kept out of the pool for reads (get-session's batched lookup and every other read).
//!
//! A query through sqlx's pool costs three round trips to the database, not one: acquiring an idle
//! connection pings it first (`test_before_acquire`), and returning it pings it again before it
//! can be handed out (sqlx 0.8 always does, to flush anything a cancelled query left behind).
//! Each ping wakes the server process and the caller once more. A kept connection is taken from
//! the pool once and then reused query after query without being returned, so a lookup costs
//! exactly its own round trip.
//!
//! Robustness is kept as the pool's ping gave it: a kept connection that fails (the database
//! restarted, an idle timeout closed it) is dropped, and the read runs once more on a connection
//! the pool has just checked. Only idempotent reads may use this. At most [`MAX_KEPT`] are kept;
//! [`Kept::release_all`] gives them back so the pool can close.

use super::driver::{build, Arg, Bind, RowRead};
use super::StoreError;
use sqlx::pool::PoolConnection;
use sqlx::{Database, Executor, IntoArguments, Pool};
use std::sync::Mutex;

/// More than the session lookups ever run at once (`session::lookup::IN_FLIGHT`), and few enough
/// that writes always find connections in the pool (10 on PostgreSQL, 8 on SQLite). Reads beyond
/// these use the pool as usual.
const MAX_KEPT: usize = 4;

pub struct Kept<DB: Database> {
    state: Mutex<State<DB>>,
}

struct State<DB: Database> {
    idle: Vec<PoolConnection<DB>>,
    /// Set once the pool is closing: connections are then given back instead of kept.
    released: bool,
}

impl<DB: Database> Default for Kept<DB> {
    fn default() -> Self {
        Self { state: Mutex::new(State { idle: Vec::new(), released: false }) }
    }
}

impl<DB: Database> std::fmt::Debug for Kept<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kept").field("idle", &self.lock().idle.len()).finish()
    }
}

impl<DB: Database> Kept<DB> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State<DB>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take(&self) -> Option<PoolConnection<DB>> {
        self.lock().idle.pop()
    }

    fn keep(&self, conn: PoolConnection<DB>) {
        let mut state = self.lock();
        if !state.released && state.idle.len() < MAX_KEPT {
            state.idle.push(conn);
        }
        // Otherwise `conn` drops here and goes back to the pool.
    }

    /// Gives every kept connection back to the pool, for good (before the pool closes).
    pub fn release_all(&self) {
        let idle = {
            let mut state = self.lock();
            state.released = true;
            std::mem::take(&mut state.idle)
        };
        drop(idle);
    }

    /// `sql` (a read) on a kept connection; once more on a fresh one if a kept one fails. `map`
    /// reads each row, or only the first when `first_only`.
    pub async fn fetch<T>(
        &self,
        pool: &Pool<DB>,
        sql: &str,
        args: &[Arg<'_>],
        first_only: bool,
        map: &(dyn Fn(&dyn RowRead) -> Result<T, StoreError> + Send + Sync),
    ) -> Result<Vec<T>, StoreError>
    where
        DB: Bind,
        DB::Row: RowRead,
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
        for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    {
        let kept = self.take();
        let was_kept = kept.is_some();
        let mut conn = match kept {
            Some(conn) => conn,
            None => pool.acquire().await.map_err(StoreError::from)?,
        };
        let rows = match build::<DB>(sql, args).fetch_all(&mut *conn).await {
            Ok(rows) => rows,
            Err(e) if !was_kept => return Err(e.into()),
            Err(_) => {
                // The failed connection returns to the pool, whose release check closes it if
                // broken; the read runs once more on a connection the pool has just checked.
                drop(conn);
                conn = pool.acquire().await.map_err(StoreError::from)?;
                build::<DB>(sql, args).fetch_all(&mut *conn).await.map_err(StoreError::from)?
            }
        };
        self.keep(conn);
        let take = if first_only { 1 } else { rows.len() };
        rows.iter().take(take).map(|r| map(r)).collect()
    }
}
