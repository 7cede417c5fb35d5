//! [`SecondaryStorage`] on Redis, compatible with `@better-auth/redis-storage`: every key is
//! prefixed (`better-auth:` by default), `set` with a TTL is `SET … EX` (SETEX), `increment` is
//! INCR with EXPIRE on the first increment in one Lua script (atomic, fixed window),
//! `get_and_delete` is GETDEL and `get_many` one MGET. A Better Auth server and Portcullis can
//! share one Redis.
//!
//! The connection is a `redis` `ConnectionManager`: one multiplexed connection, reconnected in the
//! background after an I/O error. It is created lazily, so a Redis that is down at start-up does
//! not stop the server (it starts degraded and recovers when Redis answers).
//!
//! **Restarts.** When Redis restarts, the pooled connection is dead but nothing has noticed yet: the
//! next command fails with a connection-level error (broken pipe, reset, refused, end of stream)
//! and the manager starts a reconnect. Such a command is sent once more ([`Retry`]); that attempt
//! waits for the reconnect, so a client sees a slower answer instead of a 503. While Redis is
//! still starting (connections refused) nothing was sent, so any command is tried again after a
//! short pause. The caller's guard ([`Secondary`](super::Secondary)) bounds all attempts together
//! by the configured timeout: a restart shorter than `secondary_storage.timeout_ms` is invisible.
//! What may be sent again after a connection broke depends on what a repeat does:
//!
//! | command | sent again after a broken connection |
//! |---|---|
//! | GET, MGET, SET, SET XX, DEL | once: the same result whether or not the first one ran |
//! | rate-limit INCR script | once: if the lost attempt had run, the window counts one extra hit (never one fewer) |
//! | GETDEL | never: if the first had run, the value is gone and the repeat would answer "absent" |
//!
//! A reply that timed out is never repeated: the command may still be running.

use super::{SecondaryError, SecondaryResult, SecondaryStorage};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;

/// INCR, and EXPIRE only when the key was just created, so the window never slides.
const INCREMENT: &str = r"local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n";

pub struct RedisStorage {
    conn: ConnectionManager,
    /// How long refused connections are tried again, when no guard bounds the call sooner.
    timeout: Duration,
    prefix: String,
    increment: redis::Script,
}

/// Whether a command may be sent again after a connection-level failure (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Idempotent, or (the rate-limit counter) harmless to repeat: once more after any
    /// connection-level failure.
    Once,
    /// Not idempotent: again only when the connection was refused, so nothing was sent.
    Unsent,
}

/// A failure of the connection rather than of the command: the server went away (restart,
/// network cut) or could not be reached. Not a timeout: a late reply may still come.
fn connection_lost(e: &redis::RedisError) -> bool {
    !e.is_timeout() && (e.is_connection_dropped() || e.is_connection_refusal())
}

/// Pause between attempts while Redis refuses connections (it is starting again).
const REFUSED_PAUSE: std::time::Duration = std::time::Duration::from_millis(20);

fn err(e: redis::RedisError) -> SecondaryError {
    // RedisError's text names the failure (refused, timeout, server error), never our arguments.
    SecondaryError::Unavailable(e.to_string())
}

impl RedisStorage {
    /// Prepares a lazily connected client for `url`; must be called inside a Tokio runtime.
    pub fn open(url: &str, prefix: &str, timeout: Duration) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| format!("invalid Redis URL {}: {e}", crate::store::driver::redact(url)))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            // Few, quick reconnect attempts: the next command after a failed reconnect starts
            // another one, so a returning Redis is picked up within about a second.
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, config).map_err(|e| format!("Redis: {e}"))?;
        Ok(Self { conn, timeout, prefix: prefix.to_string(), increment: redis::Script::new(INCREMENT) })
    }

    fn key(&self, key: &str) -> String {
        let mut k = String::with_capacity(self.prefix.len() + key.len());
        k.push_str(&self.prefix);
        k.push_str(key);
        k
    }

    /// Runs `cmd`, again on the manager's fresh connection after a connection-level failure as
    /// `retry` allows (the manager started the reconnect when the attempt failed, and the next
    /// attempt waits for it). While Redis refuses connections nothing was sent, so every command
    /// is tried again after a short pause; the guard's timeout ends the wait.
    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd, retry: Retry) -> SecondaryResult<T> {
        self.attempt(retry, || async { cmd.query_async(&mut self.conn.clone()).await }).await
    }

    async fn attempt<T, F, Fut>(&self, retry: Retry, run: F) -> SecondaryResult<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let mut sent_again = false;
        let give_up = tokio::time::Instant::now() + self.timeout;
        loop {
            match run().await {
                Err(e) if e.is_connection_refusal() && tokio::time::Instant::now() + REFUSED_PAUSE < give_up => {
                    tokio::time::sleep(REFUSED_PAUSE).await
                }
                Err(e) if retry == Retry::Once && !sent_again && connection_lost(&e) => {
                    tracing::debug!(error = %e, "Redis connection lost; sending the command again on a fresh connection");
                    sent_again = true;
                }
                res => return res.map_err(err),
            }
        }
    }

    fn set_cmd(&self, key: &str, value: &str, ttl: Option<u64>) -> redis::Cmd {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key)).arg(value);
        if let Some(t) = ttl.filter(|t| *t > 0) {
            cmd.arg("EX").arg(t);
        }
        cmd
    }
}

#[async_trait::async_trait]
impl SecondaryStorage for RedisStorage {
    async fn get(&self, key: &str) -> SecondaryResult<Option<String>> {
        self.query(redis::cmd("GET").arg(self.key(key)), Retry::Once).await
    }

    async fn get_many(&self, keys: &[&str]) -> SecondaryResult<Vec<Option<String>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        self.query(redis::cmd("MGET").arg(keys), Retry::Once).await
    }

    async fn set(&self, key: &str, value: &str, ttl: Option<u64>) -> SecondaryResult<()> {
        self.query(&self.set_cmd(key, value, ttl), Retry::Once).await
    }

    async fn delete(&self, key: &str) -> SecondaryResult<()> {
        self.query(redis::cmd("DEL").arg(self.key(key)), Retry::Once).await
    }

    async fn increment(&self, key: &str, ttl: u64) -> SecondaryResult<i64> {
        let mut invocation = self.increment.key(self.key(key));
        invocation.arg(ttl.max(1));
        // Repeating it counts at most one extra hit in the window (see the module doc).
        self.attempt(Retry::Once, || async { invocation.invoke_async(&mut self.conn.clone()).await }).await
    }

    async fn get_and_delete(&self, key: &str) -> SecondaryResult<Option<String>> {
        self.query(redis::cmd("GETDEL").arg(self.key(key)), Retry::Unsent).await
    }

    async fn replace(&self, key: &str, value: &str, ttl: Option<u64>) -> SecondaryResult<bool> {
        let mut cmd = self.set_cmd(key, value, ttl);
        cmd.arg("XX");
        let reply: Option<String> = self.query(&cmd, Retry::Once).await?;
        Ok(reply.is_some())
    }
}
