//! Where sessions live: the database, secondary storage (Redis), or both, behind one API.
//!
//! Owns every read and write of a session and of Better Auth's secondary-storage session keys
//! (spec core §5.4, plugins §11; all keys below are under the storage's prefix, `better-auth:`):
//!
//! | key | value | TTL |
//! |---|---|---|
//! | `<token>` | `{"session":{…},"user":{…}}` | seconds until `session.expiresAt` |
//! | `active-sessions-<userId>` | `[{"token","expiresAt":<ms>}]` sorted by `expiresAt`, expired pruned | until the latest `expiresAt`; deleted when empty |
//! | `revoked-sessions-before-<userId>` | ms timestamp; cached sessions created earlier count as revoked | `max(expiresIn, 86400)` |
//!
//! Modes, from [`Config`](crate::config::Config):
//! - no secondary storage: the database only (unchanged behaviour);
//! - secondary storage (Better Auth's default): sessions only in secondary storage;
//! - plus `store_session_in_database`: written to both; reads try secondary storage first and fall
//!   back to the database when the key is missing; lists come from the database;
//! - plus `preserve_session_in_database`: revocation ends the row (`expiresAt = now`) instead of
//!   deleting it, and a key missing from secondary storage is not looked up in the database.
//!
//! **Degraded mode.** When secondary storage fails (down, slow: every call is bounded by
//! [`Secondary`]'s timeout) and sessions are also in the database, every operation answers from and
//! writes to the database. Revocations that could not reach secondary storage are queued (in the
//! database too, so a restart forgets none: see [`super::revocations`]) and replayed as soon as it
//! answers again (a background task); until then those sessions count as revoked even if a stale
//! copy is read. Without the database copy, an outage is a clean 503
//! `SECONDARY_STORAGE_UNAVAILABLE`, never a 500.
//!
//! **Races.** Updates of a cached session (refresh, new user data) use `replace` (Redis `SET … XX`),
//! so an update racing a revocation can never resurrect the revoked key. The active-session list is
//! read-modify-write as in Better Auth (its #11073): a lost list entry can only make list-sessions
//! miss a session; revoke-all is still complete through `revoked-sessions-before-<userId>`.
//!
//! Must never: log tokens or keys, branch on configuration outside this module, or let a secondary
//! storage failure panic or surface as a 500.

use super::revocations::Revocations;
use crate::error::{ApiError, ApiResult};
use crate::secondary::{Secondary, SecondaryError};
use crate::store::model::{Session, User, Values};
use crate::store::Store;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// The replayer retries a failed load of the queue every this many ticks (of 250 ms).
const RELOAD_EVERY_TICKS: u32 = 20;

pub fn active_key(user_id: &str) -> String {
    format!("active-sessions-{user_id}")
}
pub fn revoked_before_key(user_id: &str) -> String {
    format!("revoked-sessions-before-{user_id}")
}

/// Seconds from `now_ms` until `expires_ms`, floored, never negative (Better Auth's `getTTLSeconds`).
pub fn ttl_seconds(expires_ms: i64, now_ms: i64) -> u64 {
    u64::try_from(expires_ms.saturating_sub(now_ms) / 1000).unwrap_or(0)
}

/// What [`SessionStore::still_cached`] found out about a session answered from the cookie cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheCheck {
    /// Secondary storage holds its key and no revoke-all marker covers it.
    Live,
    /// Gone, covered by a marker, queued for revocation, or secondary storage did not answer: do
    /// not trust the cookie, read the session normally.
    Refused,
    /// No secondary storage: nothing to check against, so nothing is confirmed.
    Unchecked,
}

/// Whether a `revoked-sessions-before-<userId>` value (ms) covers `s` (created before it).
fn marker_covers(before: Option<&str>, s: &Session) -> bool {
    before.and_then(|v| v.parse::<f64>().ok()).is_some_and(|b| (s.created_at.timestamp_millis() as f64) < b)
}

/// Writes `revoked-sessions-before-<userId>`, never moving it back in time.
pub(super) async fn write_marker(sec: &Secondary, user_id: &str, at_ms: i64, ttl: u64) -> Result<(), SecondaryError> {
    let key = revoked_before_key(user_id);
    let prev = sec.get(&key).await?.and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    sec.set(&key, &at_ms.max(prev).to_string(), Some(ttl)).await
}

#[derive(Serialize)]
struct CachedRef<'a> {
    session: &'a Session,
    user: &'a User,
}

#[derive(Deserialize)]
struct Cached {
    session: Session,
    user: User,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveRef {
    pub token: String,
    pub expires_at: i64,
}

pub struct SessionStore {
    db: Arc<dyn Store>,
    lookups: super::lookup::Lookups,
    secondary: Option<Secondary>,
    in_db: bool,
    preserve: bool,
    revoked_before_ttl: u64,
    /// Revocations that did not reach secondary storage yet (used only in degraded mode).
    revocations: Revocations,
}

fn unavailable(_: SecondaryError) -> ApiError {
    crate::secondary::SECONDARY_STORAGE_UNAVAILABLE
}

impl SessionStore {
    pub fn new(db: Arc<dyn Store>, secondary: Option<Secondary>, cfg: &crate::config::Config) -> Self {
        let in_db = cfg.sessions_in_database();
        Self {
            lookups: super::lookup::Lookups::new(db.clone()),
            revocations: Revocations::new(db.clone(), cfg),
            db,
            in_db,
            preserve: secondary.is_some() && in_db && cfg.session.preserve_session_in_database,
            secondary,
            revoked_before_ttl: cfg.session.expires_in.max(86_400),
        }
    }

    /// Whether sessions are written to the database.
    pub fn in_database(&self) -> bool {
        self.in_db
    }
    pub fn secondary(&self) -> Option<&Secondary> {
        self.secondary.as_ref()
    }

    /// Whether revocations can be queued, i.e. degraded mode exists: sessions are in secondary
    /// storage and in the database. The queue's table is part of the schema then.
    pub fn queues_revocations(&self) -> bool {
        self.secondary.is_some() && self.in_db
    }

    /// Loads revocations queued before this instance started (by it or another instance). A
    /// failure is logged and retried by the replayer; it never stops the server from starting.
    pub async fn load_revocations(&self, now: DateTime<Utc>) {
        if !self.queues_revocations() {
            return;
        }
        if let Err(e) = self.revocations.load(now).await {
            tracing::warn!(error = %e, "queued session revocations could not be read (is the schema migrated?); retrying");
        }
    }

    /// Starts the task that replays queued revocations once secondary storage answers again, and
    /// reloads the queue after an outage this instance saw (rows of instances that died during it).
    /// It ends when the store is dropped.
    pub fn spawn_replayer(this: &Arc<Self>, now: impl Fn() -> DateTime<Utc> + Send + 'static) {
        let Some(sec) = this.secondary.clone().filter(|_| this.queues_revocations()) else { return };
        let weak: Weak<Self> = Arc::downgrade(this);
        tokio::spawn(async move {
            let (mut saw_down, mut tick) = (false, 0u32);
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let Some(me) = weak.upgrade() else { return };
                tick = tick.wrapping_add(1);
                let down = sec.health().is_down();
                let retry_load = me.revocations.load_failed() && tick % RELOAD_EVERY_TICKS == 0;
                if (saw_down && !down) || retry_load {
                    me.load_revocations(now()).await;
                }
                saw_down = down;
                if me.revocations.has_pending() {
                    me.revocations.replay(&sec, me.revoked_before_ttl, now()).await;
                }
            }
        });
    }

    // ----- secondary-storage helpers (errors are returned, the caller decides) -----

    async fn read_list(sec: &Secondary, user_id: &str) -> Result<Vec<ActiveRef>, SecondaryError> {
        Ok(sec.get(&active_key(user_id)).await?.and_then(|raw| serde_json::from_str(&raw).ok()).unwrap_or_default())
    }

    async fn write_list(sec: &Secondary, user_id: &str, mut list: Vec<ActiveRef>, now_ms: i64) -> Result<(), SecondaryError> {
        list.sort_by_key(|r| r.expires_at);
        let ttl = list.last().map_or(0, |r| ttl_seconds(r.expires_at, now_ms));
        if ttl == 0 {
            return sec.delete(&active_key(user_id)).await;
        }
        let json = serde_json::to_string(&list).map_err(|e| SecondaryError::Unavailable(e.to_string()))?;
        sec.set(&active_key(user_id), &json, Some(ttl)).await
    }

    /// Removes `remove` and expired entries, then adds `add` (replacing its token's entry).
    async fn update_list(
        sec: &Secondary,
        user_id: &str,
        remove: &HashSet<&str>,
        add: Option<ActiveRef>,
        now_ms: i64,
    ) -> Result<(), SecondaryError> {
        let mut list = Self::read_list(sec, user_id).await?;
        list.retain(|r| r.expires_at > now_ms && !remove.contains(r.token.as_str()) && add.as_ref().is_none_or(|a| a.token != r.token));
        list.extend(add);
        Self::write_list(sec, user_id, list, now_ms).await
    }

    async fn read_cached(&self, sec: &Secondary, token: &str) -> Result<Option<(Session, User)>, SecondaryError> {
        let Some(raw) = sec.get(token).await? else { return Ok(None) };
        // Unparseable data reads as absent (Better Auth's `safeJSONParse`).
        let Ok(c) = serde_json::from_str::<Cached>(&raw) else { return Ok(None) };
        if self.revoked_by_marker(sec, &c.session).await? || self.revocations.revokes(&c.session) {
            return Ok(None);
        }
        Ok(Some((c.session, c.user)))
    }

    async fn revoked_by_marker(&self, sec: &Secondary, s: &Session) -> Result<bool, SecondaryError> {
        Ok(marker_covers(sec.get(&revoked_before_key(&s.user_id)).await?.as_deref(), s))
    }

    fn cached_json(session: &Session, user: &User) -> ApiResult<String> {
        serde_json::to_string(&CachedRef { session, user }).map_err(ApiError::internal)
    }

    // ----- the API handlers use -----

    /// Stores a new session (both stores as configured).
    pub async fn create(&self, s: &Session, user: &User, now: DateTime<Utc>) -> ApiResult<()> {
        if self.in_db {
            self.db.create_session(s).await?;
        }
        let Some(sec) = &self.secondary else { return Ok(()) };
        let json = Self::cached_json(s, user)?;
        let mirrored: Result<(), SecondaryError> = async {
            let now_ms = now.timestamp_millis();
            let expires_ms = s.expires_at.timestamp_millis();
            let add = ActiveRef { token: s.token.clone(), expires_at: expires_ms };
            Self::update_list(sec, &s.user_id, &HashSet::new(), Some(add), now_ms).await?;
            let ttl = ttl_seconds(expires_ms, now_ms);
            if ttl > 0 {
                sec.set(&s.token, &json, Some(ttl)).await?;
            }
            Ok(())
        }
        .await;
        match mirrored {
            Ok(()) => Ok(()),
            // The database copy serves the session; the guard has logged and counted the failure.
            Err(_) if self.in_db => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// The session with this token and its user, or `None`. Expiry is the caller's business.
    pub async fn find(&self, token: &str) -> ApiResult<Option<(Session, User)>> {
        if let Some(sec) = &self.secondary {
            match self.read_cached(sec, token).await {
                Ok(Some(found)) => return Ok(Some(found)),
                Ok(None) if !self.in_db || self.preserve => return Ok(None),
                Ok(None) => {}
                // Degraded: the database has every session (ended ones included, when preserved).
                Err(_) if self.in_db => {}
                Err(e) => return Err(unavailable(e)),
            }
        }
        let found = self.lookups.find(token).await?;
        Ok(found.filter(|(s, _)| !self.revocations.revokes(s)))
    }

    /// Checks a session answered from the cookie cache against secondary storage: live when its
    /// key exists and no `revoked-sessions-before-<userId>` marker covers it, both read in one
    /// round trip (one MGET on Redis), no database. A revoke-all removes the keys it knows of and
    /// writes the marker; the marker is what catches a key it missed.
    pub async fn still_cached(&self, s: &Session) -> CacheCheck {
        let Some(sec) = &self.secondary else { return CacheCheck::Unchecked };
        if self.revocations.revokes(s) {
            return CacheCheck::Refused;
        }
        let marker = revoked_before_key(&s.user_id);
        match sec.get_many(&[&s.token, &marker]).await.as_deref() {
            Ok([Some(_), before]) if !marker_covers(before.as_deref(), s) => CacheCheck::Live,
            _ => CacheCheck::Refused,
        }
    }

    /// Sliding refresh: `s` carries the new `expiresAt`/`updatedAt`. False when the session is gone.
    pub async fn touch(&self, s: &Session, user: &User, now: DateTime<Utc>) -> ApiResult<bool> {
        if self.in_db && !self.db.touch_session(&s.token, s.expires_at, s.updated_at).await? {
            return Ok(false);
        }
        let Some(sec) = &self.secondary else { return Ok(true) };
        let now_ms = now.timestamp_millis();
        let expires_ms = s.expires_at.timestamp_millis();
        let res: Result<bool, SecondaryError> = async {
            // `replace` never recreates a key a concurrent revocation just deleted.
            if !sec
                .replace(
                    &s.token,
                    &Self::cached_json(s, user).map_err(|_| SecondaryError::Unavailable("encode".into()))?,
                    Some(ttl_seconds(expires_ms, now_ms)),
                )
                .await?
            {
                return Ok(false);
            }
            let add = ActiveRef { token: s.token.clone(), expires_at: expires_ms };
            Self::update_list(sec, &s.user_id, &HashSet::new(), Some(add), now_ms).await?;
            Ok(true)
        }
        .await;
        match res {
            Ok(cached) => Ok(cached || self.in_db),
            Err(_) if self.in_db => Ok(true),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// The user's live sessions.
    pub async fn list(&self, user_id: &str, now: DateTime<Utc>) -> ApiResult<Vec<Session>> {
        let from_db = |mut l: Vec<Session>| {
            l.retain(|s| s.expires_at > now);
            l
        };
        let Some(sec) = self.secondary.as_ref().filter(|_| !self.in_db || self.preserve) else {
            return Ok(from_db(self.db.list_sessions(user_id).await?));
        };
        let res: Result<Vec<Session>, SecondaryError> = async {
            let now_ms = now.timestamp_millis();
            let mut seen = HashSet::new();
            let mut out = Vec::new();
            for r in Self::read_list(sec, user_id).await? {
                if r.expires_at <= now_ms || !seen.insert(r.token.clone()) {
                    continue;
                }
                if let Some((s, _)) = self.read_cached(sec, &r.token).await? {
                    out.push(s);
                }
            }
            Ok(out)
        }
        .await;
        match res {
            Ok(l) => Ok(l),
            Err(_) if self.in_db => Ok(from_db(self.db.list_sessions(user_id).await?)),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Revokes one session everywhere.
    pub async fn delete(&self, token: &str, now: DateTime<Utc>) -> ApiResult<()> {
        if let Some(sec) = &self.secondary {
            let res: Result<(), SecondaryError> = async {
                if let Some(raw) = sec.get(token).await? {
                    if let Ok(c) = serde_json::from_str::<Cached>(&raw) {
                        let remove = HashSet::from([token]);
                        Self::update_list(sec, &c.session.user_id, &remove, None, now.timestamp_millis()).await?;
                    }
                }
                sec.delete(token).await
            }
            .await;
            match res {
                Ok(()) => {}
                Err(_) if self.in_db => self.revocations.queue([token.to_string()], None, now).await,
                Err(e) => return Err(unavailable(e)),
            }
        }
        if self.in_db {
            if self.preserve {
                // "Ended", not deleted: the row stays for audit and reads as expired.
                self.db.touch_session(token, now, now).await?;
            } else {
                self.db.delete_session(token).await?;
            }
        }
        Ok(())
    }

    /// Revokes every session of a user, except `keep` when given.
    /// Secondary storage first: in degraded mode that queues the revocations, which must be
    /// persisted before the database forgets the sessions (else a restart could serve a stale
    /// Redis copy).
    pub async fn delete_user_sessions(&self, user_id: &str, keep: Option<&str>, now: DateTime<Utc>) -> ApiResult<()> {
        let rows = if self.in_db { self.db.list_sessions(user_id).await? } else { Vec::new() };
        let tokens: HashSet<String> = rows.iter().map(|s| s.token.clone()).collect();
        self.uncache_user_sessions(user_id, tokens, keep, now).await?;
        if self.in_db {
            if self.preserve {
                for s in rows.iter().filter(|s| s.expires_at > now && Some(s.token.as_str()) != keep) {
                    self.db.touch_session(&s.token, now, now).await?;
                }
            } else {
                self.db.delete_user_sessions(user_id, keep).await?;
            }
        }
        Ok(())
    }

    /// Deletes the user (with its sessions and accounts) and every cached session of it
    /// (secondary storage first, as in [`Self::delete_user_sessions`]).
    pub async fn delete_user(&self, user_id: &str, now: DateTime<Utc>) -> ApiResult<()> {
        let tokens: HashSet<String> =
            if self.in_db { self.db.list_sessions(user_id).await?.into_iter().map(|s| s.token).collect() } else { HashSet::new() };
        self.uncache_user_sessions(user_id, tokens, None, now).await?;
        self.db.delete_user(user_id).await?;
        Ok(())
    }

    async fn uncache_user_sessions(
        &self,
        user_id: &str,
        mut tokens: HashSet<String>,
        keep: Option<&str>,
        now: DateTime<Utc>,
    ) -> ApiResult<()> {
        let Some(sec) = &self.secondary else { return Ok(()) };
        let now_ms = now.timestamp_millis();
        let res: Result<(), SecondaryError> = async {
            tokens.extend(Self::read_list(sec, user_id).await?.into_iter().map(|r| r.token));
            if let Some(k) = keep {
                tokens.remove(k);
            } else {
                // Catches sessions missing from the list (lost list updates, other writers).
                write_marker(sec, user_id, now_ms, self.revoked_before_ttl).await?;
            }
            for t in &tokens {
                sec.delete(t).await?;
            }
            let remove: HashSet<&str> = tokens.iter().map(String::as_str).collect();
            Self::update_list(sec, user_id, &remove, None, now_ms).await
        }
        .await;
        match res {
            Ok(()) => Ok(()),
            Err(_) if self.in_db => {
                self.revocations.queue(tokens, keep.is_none().then_some((user_id, now_ms)), now).await;
                Ok(())
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Sets additional fields of the session `cur` (and `updatedAt`) in both stores as configured;
    /// the session after the change, or `None` when it no longer exists.
    pub async fn update_fields(&self, cur: &Session, user: &User, values: &Values, now: DateTime<Utc>) -> ApiResult<Option<Session>> {
        let updated = if self.in_db {
            match self.db.update_session_fields(&cur.token, values, now).await? {
                Some((s, _)) => s,
                None => return Ok(None),
            }
        } else {
            let mut s = cur.clone();
            for (k, v) in &values.0 {
                let target = if s.hidden.get(k).is_some() { &mut s.hidden } else { &mut s.extra };
                target.set(k, v.clone());
            }
            s.updated_at = now;
            s
        };
        let Some(sec) = &self.secondary else { return Ok(Some(updated)) };
        let ttl = ttl_seconds(updated.expires_at.timestamp_millis(), now.timestamp_millis());
        match sec.replace(&updated.token, &Self::cached_json(&updated, user)?, Some(ttl)).await {
            Ok(true) => Ok(Some(updated)),
            // Only secondary storage had it, and it is gone (revoked or expired).
            Ok(false) if !self.in_db => Ok(None),
            Ok(false) => Ok(Some(updated)),
            Err(_) if self.in_db => Ok(Some(updated)),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Rewrites the cached user in every active session after a profile change (Better Auth's
    /// `refreshUserSessions`). Best effort: a failure leaves the old copy until its next refresh.
    pub async fn refresh_user(&self, user: &User, now: DateTime<Utc>) {
        let Some(sec) = &self.secondary else { return };
        let now_ms = now.timestamp_millis();
        let Ok(list) = Self::read_list(sec, &user.id).await else { return };
        for r in list.into_iter().filter(|r| r.expires_at > now_ms) {
            let Ok(Some(raw)) = sec.get(&r.token).await else { continue };
            let Ok(c) = serde_json::from_str::<Cached>(&raw) else { continue };
            let Ok(json) = Self::cached_json(&c.session, user) else { continue };
            let ttl = ttl_seconds(c.session.expires_at.timestamp_millis(), now_ms);
            if ttl > 0 && sec.replace(&r.token, &json, Some(ttl)).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secondary::{MemoryStorage, SecondaryResult, SecondaryStorage, DEFAULT_TIMEOUT};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Memory storage that counts the reads it is asked for.
    #[derive(Default)]
    struct Counting {
        inner: MemoryStorage,
        gets: AtomicUsize,
        round_trips: AtomicUsize,
    }
    #[async_trait::async_trait]
    impl SecondaryStorage for Counting {
        async fn get(&self, key: &str) -> SecondaryResult<Option<String>> {
            self.gets.fetch_add(1, Ordering::Relaxed);
            self.round_trips.fetch_add(1, Ordering::Relaxed);
            self.inner.get(key).await
        }
        async fn get_many(&self, keys: &[&str]) -> SecondaryResult<Vec<Option<String>>> {
            self.round_trips.fetch_add(1, Ordering::Relaxed);
            self.inner.get_many(keys).await
        }
        async fn set(&self, key: &str, value: &str, ttl: Option<u64>) -> SecondaryResult<()> {
            self.inner.set(key, value, ttl).await
        }
        async fn delete(&self, key: &str) -> SecondaryResult<()> {
            self.inner.delete(key).await
        }
        async fn increment(&self, key: &str, ttl: u64) -> SecondaryResult<i64> {
            self.inner.increment(key, ttl).await
        }
        async fn get_and_delete(&self, key: &str) -> SecondaryResult<Option<String>> {
            self.inner.get_and_delete(key).await
        }
    }

    // Issue 12 review: the documented cost of `cookie_cache.revocation_check` is one round trip
    // per cached read (the session key and the revoked-before marker in one MGET).
    #[tokio::test]
    async fn still_cached_is_one_round_trip_and_only_confirms_with_secondary_storage() {
        let t = DateTime::from_timestamp_millis(1_800_000_000_000).unwrap();
        let s = Session {
            extra: Default::default(),
            hidden: Default::default(),
            expires_at: t + chrono::Duration::days(1),
            token: "tok".into(),
            created_at: t,
            updated_at: t,
            ip_address: String::new(),
            user_agent: String::new(),
            user_id: "u".into(),
            id: "s".into(),
        };
        let db = crate::store::Db::connect("sqlite::memory:", &crate::store::PoolOptions::default()).await.unwrap();
        let db: Arc<dyn Store> = Arc::new(crate::store::SqlStore::new(db, crate::store::schema::Names::default()));
        let cfg = crate::config::Config::default();
        assert_eq!(SessionStore::new(db.clone(), None, &cfg).still_cached(&s).await, CacheCheck::Unchecked);

        let storage = Arc::new(Counting::default());
        let sec = Secondary::new(storage.clone(), DEFAULT_TIMEOUT, Arc::default());
        let store = SessionStore::new(db, Some(sec.clone()), &cfg);
        assert_eq!(store.still_cached(&s).await, CacheCheck::Refused, "no key");
        sec.set("tok", "{}", None).await.unwrap();
        assert_eq!(store.still_cached(&s).await, CacheCheck::Live);
        sec.set(&revoked_before_key("u"), &(t.timestamp_millis() + 1).to_string(), None).await.unwrap();
        assert_eq!(store.still_cached(&s).await, CacheCheck::Refused, "covered by the marker");
        sec.set(&revoked_before_key("u"), &t.timestamp_millis().to_string(), None).await.unwrap();
        assert_eq!(store.still_cached(&s).await, CacheCheck::Live, "created at the marker, not before it");
        assert_eq!(storage.round_trips.load(Ordering::Relaxed), 4, "one per check");
        assert_eq!(storage.gets.load(Ordering::Relaxed), 0, "no single GETs");
    }

    #[test]
    fn key_layout() {
        assert_eq!(active_key("u1"), "active-sessions-u1");
        assert_eq!(revoked_before_key("u1"), "revoked-sessions-before-u1");
        assert_eq!(ttl_seconds(10_999, 1_000), 9);
        assert_eq!(ttl_seconds(0, 1_000), 0);
        let list = vec![ActiveRef { token: "t".into(), expires_at: 1_700_000_000_000 }];
        assert_eq!(serde_json::to_string(&list).unwrap(), r#"[{"token":"t","expiresAt":1700000000000}]"#);
    }

    #[test]
    fn cached_value_is_better_auths_shape() {
        let t = DateTime::from_timestamp_millis(1_700_000_000_123).unwrap();
        let s = Session {
            extra: Default::default(),
            hidden: Default::default(),
            expires_at: t,
            token: "tok".into(),
            created_at: t,
            updated_at: t,
            ip_address: String::new(),
            user_agent: "ua".into(),
            user_id: "u".into(),
            id: "s".into(),
        };
        let u = User {
            extra: Default::default(),
            hidden: Default::default(),
            name: "n".into(),
            email: "e@x.com".into(),
            email_verified: false,
            image: None,
            created_at: t,
            updated_at: t,
            id: "u".into(),
        };
        let json = SessionStore::cached_json(&s, &u).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["session"]["expiresAt"], "2023-11-14T22:13:20.123Z");
        assert_eq!(v["session"]["userId"], "u");
        assert_eq!(v["user"]["emailVerified"], false);
        // A value written by Better Auth (extra fields, other key order) reads back.
        let ba = r#"{"session":{"id":"s","token":"tok","userId":"u","expiresAt":"2023-11-14T22:13:20.123Z","createdAt":"2023-11-14T22:13:20.123Z","updatedAt":"2023-11-14T22:13:20.123Z","ipAddress":"","userAgent":"ua","activeOrganizationId":null},"user":{"id":"u","name":"n","email":"e@x.com","emailVerified":false,"image":null,"createdAt":"2023-11-14T22:13:20.123Z","updatedAt":"2023-11-14T22:13:20.123Z","role":"user"}}"#;
        let mut c: Cached = serde_json::from_str(ba).unwrap();
        // Its extra fields are kept, in order (additional fields).
        assert_eq!(c.session.extra.get("activeOrganizationId"), Some(&serde_json::Value::Null));
        assert_eq!(c.user.extra.get("role"), Some(&serde_json::json!("user")));
        (c.session.extra, c.user.extra) = Default::default();
        assert_eq!(c.session, s);
        assert_eq!(c.user, u);
    }
}
