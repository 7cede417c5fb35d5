//! An in-process [`SecondaryStorage`]: Better Auth's key layout without Redis, for tests and for a
//! single instance. It is bounded: at most `capacity` keys; when full, expired keys are dropped
//! and then the keys closest to expiry (keys without a TTL last) are evicted, an eighth at a time.
//! Eviction only forgets early (a session must sign in again, a counter restarts), which is what
//! a Redis with `maxmemory-policy volatile-ttl` does too.
//!
//! Time is a monotonic `Instant` plus a skew that only tests move (see `advance`).

use super::{SecondaryResult, SecondaryStorage};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

const DEFAULT_CAPACITY: usize = 100_000;

struct Entry {
    value: String,
    expires: Option<Instant>,
}

pub struct MemoryStorage {
    map: Mutex<HashMap<String, Entry>>,
    capacity: usize,
    skew: Mutex<Duration>,
}

impl Default for MemoryStorage {
    fn default() -> Self {
        Self::new()
    }
}

fn deadline(now: Instant, ttl: Option<u64>) -> Option<Instant> {
    ttl.filter(|t| *t > 0).map(|t| now + Duration::from_secs(t))
}

impl MemoryStorage {
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
    pub fn with_capacity(capacity: usize) -> Self {
        Self { map: Mutex::new(HashMap::new()), capacity: capacity.max(1), skew: Mutex::default() }
    }

    fn now(&self) -> Instant {
        Instant::now() + *self.skew.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves this store's clock forward (tests).
    #[cfg(test)]
    fn advance(&self, d: Duration) {
        *self.skew.lock().unwrap() += d;
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding the lock leaves a map of complete entries: still usable.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The live value of `key`, dropping it when expired.
    fn live<'a>(map: &'a mut HashMap<String, Entry>, key: &str, now: Instant) -> Option<&'a mut Entry> {
        if map.get(key).is_some_and(|e| e.expires.is_some_and(|t| t <= now)) {
            map.remove(key);
        }
        map.get_mut(key)
    }

    fn insert(&self, map: &mut HashMap<String, Entry>, key: &str, entry: Entry) {
        if !map.contains_key(key) && map.len() >= self.capacity {
            let now = self.now();
            map.retain(|_, e| e.expires.is_none_or(|t| t > now));
            if map.len() >= self.capacity {
                let mut by_expiry: Vec<(Option<Instant>, String)> = map.iter().map(|(k, e)| (e.expires, k.clone())).collect();
                // `None` (no TTL) sorts first in `Option`'s order; flip it so those go last.
                by_expiry.sort_by_key(|(t, _)| (t.is_none(), *t));
                let evict = (self.capacity / 8).max(1);
                for (_, k) in by_expiry.into_iter().take(evict) {
                    map.remove(&k);
                }
            }
        }
        map.insert(key.to_string(), entry);
    }
}

#[async_trait::async_trait]
impl SecondaryStorage for MemoryStorage {
    async fn get(&self, key: &str) -> SecondaryResult<Option<String>> {
        let mut map = self.lock();
        Ok(Self::live(&mut map, key, self.now()).map(|e| e.value.clone()))
    }

    async fn set(&self, key: &str, value: &str, ttl: Option<u64>) -> SecondaryResult<()> {
        let mut map = self.lock();
        self.insert(&mut map, key, Entry { value: value.to_string(), expires: deadline(self.now(), ttl) });
        Ok(())
    }

    async fn delete(&self, key: &str) -> SecondaryResult<()> {
        self.lock().remove(key);
        Ok(())
    }

    async fn increment(&self, key: &str, ttl: u64) -> SecondaryResult<i64> {
        let mut map = self.lock();
        if let Some(e) = Self::live(&mut map, key, self.now()) {
            // Like Redis INCR on a non-integer, a garbage value is an error, never a panic.
            let n = e.value.parse::<i64>().map_err(|_| super::SecondaryError::Unavailable("value is not an integer".into()))?;
            let n = n.saturating_add(1);
            e.value = n.to_string();
            return Ok(n);
        }
        self.insert(&mut map, key, Entry { value: "1".into(), expires: deadline(self.now(), Some(ttl)) });
        Ok(1)
    }

    async fn get_and_delete(&self, key: &str) -> SecondaryResult<Option<String>> {
        let mut map = self.lock();
        let now = self.now();
        Ok(Self::live(&mut map, key, now).is_some().then(|| map.remove(key)).flatten().map(|e| e.value))
    }

    async fn replace(&self, key: &str, value: &str, ttl: Option<u64>) -> SecondaryResult<bool> {
        let mut map = self.lock();
        let now = self.now();
        match Self::live(&mut map, key, now) {
            Some(e) => {
                *e = Entry { value: value.to_string(), expires: deadline(now, ttl) };
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ttl_and_operations() {
        let s = MemoryStorage::new();
        s.set("a", "1", Some(10)).await.unwrap();
        s.set("forever", "x", None).await.unwrap();
        assert_eq!(s.get("a").await.unwrap().as_deref(), Some("1"));
        s.advance(Duration::from_secs(10));
        assert_eq!(s.get("a").await.unwrap(), None, "expired at exactly its TTL");
        assert_eq!(s.get("forever").await.unwrap().as_deref(), Some("x"));

        assert!(!s.replace("a", "2", Some(5)).await.unwrap(), "replace never creates");
        assert_eq!(s.get("a").await.unwrap(), None);
        assert!(s.replace("forever", "y", Some(5)).await.unwrap());
        assert_eq!(s.get_and_delete("forever").await.unwrap().as_deref(), Some("y"));
        assert_eq!(s.get_and_delete("forever").await.unwrap(), None, "single use");
        s.set("d", "v", Some(0)).await.unwrap();
        s.delete("d").await.unwrap();
        assert_eq!(s.get("d").await.unwrap(), None);
    }

    #[tokio::test]
    async fn increment_is_a_fixed_window() {
        let s = MemoryStorage::new();
        assert_eq!(s.increment("k", 10).await.unwrap(), 1);
        s.advance(Duration::from_secs(6));
        assert_eq!(s.increment("k", 10).await.unwrap(), 2, "counts within the window");
        s.advance(Duration::from_secs(4));
        assert_eq!(s.increment("k", 10).await.unwrap(), 1, "the window was not extended by the second hit");
        s.set("bad", "x", None).await.unwrap();
        assert!(s.increment("bad", 10).await.is_err());
    }

    #[tokio::test]
    async fn bounded() {
        let s = MemoryStorage::with_capacity(16);
        s.set("keep", "v", None).await.unwrap();
        for i in 0..1000 {
            s.set(&format!("k{i}"), "v", Some(60 + i)).await.unwrap();
        }
        assert!(s.len() <= 16, "got {}", s.len());
        assert_eq!(s.get("keep").await.unwrap().as_deref(), Some("v"), "keys without a TTL are evicted last");
        assert_eq!(s.get("k999").await.unwrap().as_deref(), Some("v"), "the newest key survives");
    }
}
