//! [`SecondaryStorage`] on Redis, compatible with `@better-auth/redis-storage`: every key is
//! prefixed (`better-auth:` by default), `set` with a TTL is `SET … EX` (SETEX), `increment` is
//! INCR with EXPIRE on the first increment in one Lua script (atomic, fixed window),
//! `get_and_delete` is GETDEL and `get_many` one MGET. A Better Auth server and Portcullis can
//! share one Redis.
//!
//! The connection is a `redis` `ConnectionManager`: one multiplexed connection, reconnected in the
//! background after an I/O error. It is created lazily, so a Redis that is down at start-up does
//! not stop the server (it starts degraded and recovers when Redis answers).

use super::{SecondaryError, SecondaryResult, SecondaryStorage};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;

/// INCR, and EXPIRE only when the key was just created, so the window never slides.
const INCREMENT: &str = r"local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n";

pub struct RedisStorage {
    conn: ConnectionManager,
    prefix: String,
    increment: redis::Script,
}

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
        Ok(Self { conn, prefix: prefix.to_string(), increment: redis::Script::new(INCREMENT) })
    }

    fn key(&self, key: &str) -> String {
        let mut k = String::with_capacity(self.prefix.len() + key.len());
        k.push_str(&self.prefix);
        k.push_str(key);
        k
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
        redis::cmd("GET").arg(self.key(key)).query_async(&mut self.conn.clone()).await.map_err(err)
    }

    async fn get_many(&self, keys: &[&str]) -> SecondaryResult<Vec<Option<String>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        redis::cmd("MGET").arg(keys).query_async(&mut self.conn.clone()).await.map_err(err)
    }

    async fn set(&self, key: &str, value: &str, ttl: Option<u64>) -> SecondaryResult<()> {
        self.set_cmd(key, value, ttl).query_async::<()>(&mut self.conn.clone()).await.map_err(err)
    }

    async fn delete(&self, key: &str) -> SecondaryResult<()> {
        redis::cmd("DEL").arg(self.key(key)).query_async::<()>(&mut self.conn.clone()).await.map_err(err)
    }

    async fn increment(&self, key: &str, ttl: u64) -> SecondaryResult<i64> {
        self.increment.key(self.key(key)).arg(ttl.max(1)).invoke_async(&mut self.conn.clone()).await.map_err(err)
    }

    async fn get_and_delete(&self, key: &str) -> SecondaryResult<Option<String>> {
        redis::cmd("GETDEL").arg(self.key(key)).query_async(&mut self.conn.clone()).await.map_err(err)
    }

    async fn replace(&self, key: &str, value: &str, ttl: Option<u64>) -> SecondaryResult<bool> {
        let mut cmd = self.set_cmd(key, value, ttl);
        cmd.arg("XX");
        let reply: Option<String> = cmd.query_async(&mut self.conn.clone()).await.map_err(err)?;
        Ok(reply.is_some())
    }
}
