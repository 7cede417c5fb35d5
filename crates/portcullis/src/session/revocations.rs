//! Revocations that have not reached secondary storage yet: the queue behind degraded mode.
//!
//! When secondary storage (Redis) fails while sessions are also in the database, a revocation
//! removes the database row but cannot delete the session's Redis key (or write
//! `revoked-sessions-before-<userId>`). Until that is replayed, a stale copy in Redis could be
//! served again. This module owns those revocations, in the `pendingRevocation` table (the session
//! layer's own, created only in that mode) and an in-memory mirror that every read consults:
//!
//! ```text
//!  revoke, Redis fails ──▶ queue():  row written before the session row is deleted, + mirror
//!  instance starts     ──▶ load():   rows → mirror (a restart forgets nothing)
//!  Redis seen back     ──▶ load():   again, for rows of instances that died meanwhile
//!  replayer tick       ──▶ replay(): key deleted / marker written → rows deleted → mirror entry dropped
//!  any session read    ──▶ revokes(): refused while its revocation is queued
//! ```
//!
//! **What a row holds, and why.** A session token is a credential, so no row holds one in clear.
//! The read-side check needs only `tokenHash`, the SHA-256 of the token. The replay, though, must
//! delete the Redis key, and that key *is* the token: a hash cannot be turned back into it, and
//! finding the key by scanning Redis would read every session of every user. So the row also keeps
//! the token encrypted (XChaCha20-Poly1305 under a key derived from the server secret for this one
//! purpose, the scheme Better Auth uses for provider tokens at rest): a database dump, backup or
//! replica reader learns nothing usable without the secret, and the row lives only until the
//! replay, moments after Redis answers again. A row whose token does not decrypt (the secret
//! changed without rotation) still revokes through its hash until the key it guards has expired.
//! Revoke-all rows hold the user id and the revoked-before time, no token.
//!
//! Rows older than `session.expires_in` are dropped unreplayed: every Redis copy they guard has
//! expired by then (a session key's TTL never exceeds `expiresIn` from its last write, which came
//! before the revocation).
//!
//! **Bounds.** Another instance that never saw the outage (Redis unreachable from the revoking
//! instance only) keeps serving the stale copy until some instance replays the row; instances
//! that saw the outage reload the table when Redis answers again.
//!
//! Must never: store or log a raw token; drop a row before it was replayed or has expired; fail a
//! revocation because the row could not be written (the session row goes anyway; the entry stays
//! in memory and a warning says a restart would forget it).

use super::store::write_marker;
use crate::crypto::symmetric::Keys;
use crate::secondary::Secondary;
use crate::store::model::{PendingRevocation, Session};
use crate::store::schema::{ColType, Column, Table};
use crate::store::{Store, StoreResult};
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Most sessions kept for replay during one outage; beyond it the newest are not queued (they
/// still expire with their TTL) and a warning says so.
const PENDING_CAP: usize = 100_000;
/// Replayed rows are deleted from the database in batches of this many.
const BATCH: usize = 64;
/// The purpose of the key that encrypts queued tokens (HKDF label, see `crypto::symmetric`).
const PURPOSE: &str = "portcullis-pending-revocation";

/// The session layer's `pendingRevocation` table.
pub fn table() -> Table {
    use ColType::*;
    Table {
        name: "pendingRevocation",
        columns: vec![
            Column::new("id", Text).pk(),
            Column::new("tokenHash", Text).null(),
            Column::new("token", Text).null(),
            Column::new("userId", Text).null(),
            Column::new("revokedBefore", Time).null(),
            Column::new("createdAt", Time).now(),
        ],
        indexes: vec![],
        search: vec![],
    }
}

type Hash = [u8; 32];

fn hash(token: &str) -> Hash {
    Sha256::digest(token.as_bytes()).into()
}

struct QueuedToken {
    /// `None` when the row's ciphertext did not decrypt: it revokes, but cannot be replayed.
    token: Option<String>,
    ids: Vec<String>,
    since: DateTime<Utc>,
}

struct QueuedMarker {
    at_ms: i64,
    ids: Vec<String>,
}

#[derive(Default)]
struct Mirror {
    tokens: HashMap<Hash, QueuedToken>,
    /// user id → revoked-before.
    markers: HashMap<String, QueuedMarker>,
    /// Every row id held, so a reload adds nothing twice.
    ids: HashSet<String>,
}

impl Mirror {
    fn is_empty(&self) -> bool {
        self.tokens.is_empty() && self.markers.is_empty()
    }
    fn add_token(&mut self, h: Hash, token: Option<String>, id: String, since: DateTime<Utc>) {
        let e = self.tokens.entry(h).or_insert_with(|| QueuedToken { token: None, ids: Vec::new(), since });
        e.token = e.token.take().or(token);
        e.since = e.since.min(since);
        e.ids.push(id.clone());
        self.ids.insert(id);
    }
    fn add_marker(&mut self, user: &str, at_ms: i64, id: String) {
        let e = self.markers.entry(user.to_string()).or_insert(QueuedMarker { at_ms, ids: Vec::new() });
        e.at_ms = e.at_ms.max(at_ms);
        e.ids.push(id.clone());
        self.ids.insert(id);
    }
    /// Forgets replayed rows; an entry stays while rows queued after the snapshot remain.
    fn remove(&mut self, done: &[(Entry, Vec<String>)]) {
        for (entry, ids) in done {
            let left = match entry {
                Entry::Token(h) => self.tokens.get_mut(h).map(|e| {
                    e.ids.retain(|i| !ids.contains(i));
                    e.ids.len()
                }),
                Entry::Marker(u) => self.markers.get_mut(u).map(|e| {
                    e.ids.retain(|i| !ids.contains(i));
                    e.ids.len()
                }),
            };
            if left == Some(0) {
                match entry {
                    Entry::Token(h) => {
                        self.tokens.remove(h);
                    }
                    Entry::Marker(u) => {
                        self.markers.remove(u);
                    }
                }
            }
            for id in ids {
                self.ids.remove(id);
            }
        }
    }
}

#[derive(Clone)]
enum Entry {
    Token(Hash),
    Marker(String),
}

pub struct Revocations {
    db: Arc<dyn Store>,
    keys: Keys,
    /// How the rows' ids are made (`advanced.database.generate_id`).
    generate_id: crate::config::GenerateId,
    /// `session.expires_in`: a queued revocation older than this guards nothing any more.
    max_age: Duration,
    mirror: Mutex<Mirror>,
    /// Fast path for reads: false whenever the mirror is empty.
    pending: AtomicBool,
    /// The last load failed (e.g. the table is not migrated yet); the replayer retries.
    load_failed: AtomicBool,
}

impl Revocations {
    pub fn new(db: Arc<dyn Store>, cfg: &crate::config::Config) -> Self {
        Self {
            db,
            keys: Keys::from_config(cfg).for_purpose(PURPOSE),
            generate_id: cfg.advanced.database.generate_id,
            // Validation caps `expires_in` at 400 days; the cap here only keeps the arithmetic sane.
            max_age: Duration::seconds(i64::try_from(cfg.session.expires_in.min(34_560_000)).unwrap_or(34_560_000)),
            mirror: Mutex::default(),
            pending: AtomicBool::new(false),
            load_failed: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Mirror> {
        // A panic elsewhere while holding the lock leaves entries that are still valid.
        self.mirror.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a revocation queued at `since` guards nothing any more at `now`.
    fn expired(&self, since: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        since.checked_add_signed(self.max_age).is_none_or(|end| end <= now)
    }

    pub fn has_pending(&self) -> bool {
        self.pending.load(Ordering::Relaxed)
    }
    pub fn load_failed(&self) -> bool {
        self.load_failed.load(Ordering::Relaxed)
    }

    /// Whether `s` is revoked by a queued revocation (its token, or its user's revoked-before).
    pub fn revokes(&self, s: &Session) -> bool {
        if !self.has_pending() {
            return false;
        }
        let h = hash(&s.token);
        let m = self.lock();
        m.tokens.contains_key(&h) || m.markers.get(&s.user_id).is_some_and(|q| s.created_at.timestamp_millis() < q.at_ms)
    }

    /// Queues revocations that could not reach secondary storage: in memory at once, then in the
    /// table (so this must be awaited before the session rows are deleted). The rows (hash,
    /// ciphertext, id) are made before the mirror is locked: every session read takes that lock
    /// while anything is queued, and an outage's revoke-all can carry many tokens.
    pub async fn queue(&self, tokens: impl IntoIterator<Item = String>, marker: Option<(&str, i64)>, now: DateTime<Utc>) {
        let room = PENDING_CAP.saturating_sub(self.lock().tokens.len());
        let mut full = false;
        let mut prepared = Vec::new();
        for t in tokens {
            if prepared.len() >= room {
                full = true;
                break;
            }
            let h = hash(&t);
            let row = PendingRevocation {
                id: crate::crypto::row_id(self.generate_id),
                token_hash: Some(hex::encode(h)),
                token: Some(self.keys.encrypt(&t)),
                user_id: None,
                revoked_before: None,
                created_at: now,
            };
            prepared.push((h, t, row));
        }
        let marker = marker.map(|(user, at_ms)| {
            let row = PendingRevocation {
                id: crate::crypto::row_id(self.generate_id),
                token_hash: None,
                token: None,
                user_id: Some(user.to_string()),
                revoked_before: DateTime::from_timestamp_millis(at_ms),
                created_at: now,
            };
            (user, at_ms, row)
        });
        let mut rows = Vec::with_capacity(prepared.len() + 1);
        {
            let mut m = self.lock();
            for (h, t, row) in prepared {
                // Another queue may have filled the room since it was measured.
                if m.tokens.len() >= PENDING_CAP {
                    full = true;
                    break;
                }
                m.add_token(h, Some(t), row.id.clone(), now);
                rows.push(row);
            }
            if let Some((user, at_ms, row)) = marker {
                m.add_marker(user, at_ms, row.id.clone());
                rows.push(row);
            }
            self.pending.store(!m.is_empty(), Ordering::Relaxed);
        }
        if full {
            tracing::warn!("too many revocations queued during a secondary-storage outage; newer ones rely on their TTL");
        }
        if rows.is_empty() {
            return;
        }
        if let Err(e) = self.db.create_pending_revocations(&rows).await {
            tracing::warn!(error = %e, count = rows.len(), "revocations queued in memory only; an instance restart before secondary storage returns would forget them");
        }
    }

    /// Adds the table's rows to the mirror (rows already held are skipped); drops expired rows.
    pub async fn load(&self, now: DateTime<Utc>) -> StoreResult<usize> {
        let rows = match self.db.list_pending_revocations().await {
            Ok(rows) => rows,
            Err(e) => {
                self.load_failed.store(true, Ordering::Relaxed);
                return Err(e);
            }
        };
        self.load_failed.store(false, Ordering::Relaxed);
        let mut expired = Vec::new();
        let mut added = 0;
        {
            let mut m = self.lock();
            for r in rows {
                if m.ids.contains(&r.id) {
                    continue;
                }
                if self.expired(r.created_at, now) {
                    expired.push(r.id);
                    continue;
                }
                let token_hash = r.token_hash.as_deref().and_then(|h| <Hash>::try_from(hex::decode(h).ok()?).ok());
                match (token_hash, r.user_id, r.revoked_before) {
                    (Some(h), _, _) => {
                        // A ciphertext that does not decrypt to this hash's token is not replayed.
                        let token = r.token.and_then(|c| self.keys.decrypt(&c)).filter(|t| hash(t) == h);
                        if token.is_none() {
                            tracing::warn!("a queued revocation's token does not decrypt (secret changed?); it revokes until it expires");
                        }
                        m.add_token(h, token, r.id, r.created_at);
                    }
                    (None, Some(user), Some(at)) => m.add_marker(&user, at.timestamp_millis(), r.id),
                    // Not written by us; left alone until it is old enough to drop.
                    _ => continue,
                }
                added += 1;
            }
            self.pending.store(!m.is_empty(), Ordering::Relaxed);
        }
        if !expired.is_empty() {
            // Cleanup only: a row left behind is dropped again at the next load.
            if let Err(e) = self.db.delete_pending_revocations(&expired).await {
                tracing::warn!(error = %e, "expired queued revocations could not be removed");
            }
        }
        if added > 0 {
            tracing::info!(count = added, "loaded revocations queued during a secondary-storage outage");
        }
        Ok(added)
    }

    /// Replays queued revocations in secondary storage and deletes their rows; stops at the first
    /// storage failure and keeps whatever is left for the next attempt (every step is idempotent,
    /// so several instances replaying the same rows is harmless).
    pub async fn replay(&self, sec: &Secondary, marker_ttl: u64, now: DateTime<Utc>) {
        let (markers, tokens): (Vec<_>, Vec<_>) = {
            let m = self.lock();
            (
                m.markers.iter().map(|(u, q)| (u.clone(), q.at_ms, q.ids.clone())).collect(),
                m.tokens.iter().map(|(h, q)| (*h, q.token.clone(), q.ids.clone(), q.since)).collect(),
            )
        };
        let mut done: Vec<(Entry, Vec<String>)> = Vec::new();
        let mut ok = true;
        for (user, at_ms, ids) in markers {
            if write_marker(sec, &user, at_ms, marker_ttl).await.is_err() {
                ok = false;
                break;
            }
            done.push((Entry::Marker(user), ids));
        }
        for (h, token, ids, since) in tokens {
            if !ok {
                break;
            }
            let replayed = match &token {
                Some(t) => sec.delete(t).await.map(|()| true),
                // Cannot be replayed; its row goes once the key it guards has expired.
                None => Ok(self.expired(since, now)),
            };
            match replayed {
                Err(_) => ok = false,
                Ok(false) => {}
                Ok(true) => {
                    done.push((Entry::Token(h), ids));
                    if done.len() >= BATCH && !self.forget(std::mem::take(&mut done)).await {
                        return;
                    }
                }
            }
        }
        if !self.forget(done).await || !ok {
            return;
        }
        let m = self.lock();
        self.pending.store(!m.is_empty(), Ordering::Relaxed);
        if m.is_empty() {
            tracing::info!("revocations queued during the secondary-storage outage were replayed");
        }
    }

    /// Deletes replayed rows, then forgets them; false (and kept, to replay again) if the
    /// database refused.
    async fn forget(&self, done: Vec<(Entry, Vec<String>)>) -> bool {
        if done.is_empty() {
            return true;
        }
        let ids: Vec<String> = done.iter().flat_map(|(_, ids)| ids.iter().cloned()).collect();
        if let Err(e) = self.db.delete_pending_revocations(&ids).await {
            tracing::warn!(error = %e, "replayed revocations could not be removed from the database; retrying");
            return false;
        }
        self.lock().remove(&done);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, SecondaryStorageConfig};
    use crate::secondary::{MemoryStorage, DEFAULT_TIMEOUT};
    use crate::session::store::{CacheCheck, SessionStore};
    use crate::store::{schema::Names, Db, PoolOptions, SqlStore};

    const T0: i64 = 1_800_000_000_000;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).unwrap()
    }

    fn session(token: &str, user: &str, created_ms: i64) -> Session {
        Session {
            extra: Default::default(),
            hidden: Default::default(),
            expires_at: at(created_ms + 86_400_000),
            token: token.into(),
            created_at: at(created_ms),
            updated_at: at(created_ms),
            ip_address: String::new(),
            user_agent: String::new(),
            user_id: user.into(),
            id: format!("id-{token}"),
        }
    }

    fn config(secret: &str) -> Config {
        let mut cfg = Config { secret: Some(secret.into()), ..Config::default() };
        cfg.secondary_storage = Some(SecondaryStorageConfig { url: "memory://".into(), ..Default::default() });
        cfg.session.store_session_in_database = true;
        cfg
    }

    /// A SQLite file, removed on drop.
    struct TempFile(std::path::PathBuf);
    impl Drop for TempFile {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
            }
        }
    }

    /// A fresh SQLite database with the queue's table.
    async fn database() -> (Arc<dyn Store>, TempFile) {
        let file = TempFile(std::env::temp_dir().join(format!("portcullis-revocations-{}.db", crate::crypto::random_id(12))));
        let db = Db::connect(&format!("sqlite://{}?mode=rwc", file.0.display()), &PoolOptions::default()).await.unwrap();
        let store = SqlStore::new(db, Names::default());
        store.migrate(&[table()]).await.unwrap();
        (Arc::new(store), file)
    }

    fn stale_copy(s: &Session) -> String {
        let user = serde_json::json!({"name":"n","email":"e@x.com","emailVerified":false,"image":null,
            "createdAt":"2027-01-15T08:00:00.000Z","updatedAt":"2027-01-15T08:00:00.000Z","id":s.user_id});
        serde_json::json!({"session": s, "user": user}).to_string()
    }

    #[tokio::test]
    async fn a_restarted_instance_refuses_a_stale_copy_and_replays_the_queue() {
        let cfg = config("a-secret-that-is-long-enough-1234567890");
        let (db, _file) = database().await;
        let first = Revocations::new(db.clone(), &cfg);
        first.queue(["tok-a".to_string()], Some(("u1", T0)), at(T0)).await;

        // The table holds a hash and a ciphertext, never the token.
        let rows = db.list_pending_revocations().await.unwrap();
        assert_eq!(rows.len(), 2);
        let token_row = rows.iter().find(|r| r.token_hash.is_some()).unwrap();
        assert_eq!(token_row.token_hash.as_deref(), Some(hex::encode(Sha256::digest(b"tok-a")).as_str()));
        assert!(!token_row.token.as_deref().unwrap().contains("tok-a"));
        assert!(format!("{rows:?}").find("tok-a").is_none(), "not in Debug output either");

        // "Restart": a new store on the same database, Redis back with the stale copy.
        let sec = Secondary::new(Arc::new(MemoryStorage::new()), DEFAULT_TIMEOUT, Arc::default());
        let revoked = session("tok-a", "u2", T0 - 1000);
        let before_marker = session("tok-b", "u1", T0 - 1000);
        let after_marker = session("tok-c", "u1", T0 + 1000);
        for s in [&revoked, &before_marker, &after_marker] {
            sec.set(&s.token, &stale_copy(s), None).await.unwrap();
        }
        let restarted = SessionStore::new(db.clone(), Some(sec.clone()), &cfg);
        assert!(restarted.find("tok-a").await.unwrap().is_some(), "what an instance that forgot the queue serves");
        restarted.load_revocations(at(T0 + 5)).await;
        assert!(restarted.find("tok-a").await.unwrap().is_none(), "queued token: refused");
        assert!(restarted.find("tok-b").await.unwrap().is_none(), "created before the queued marker: refused");
        assert!(restarted.find("tok-c").await.unwrap().is_some(), "created after it: served");
        assert_eq!(restarted.still_cached(&revoked).await, CacheCheck::Refused);
        assert_eq!(restarted.still_cached(&before_marker).await, CacheCheck::Refused);
        assert_eq!(restarted.still_cached(&after_marker).await, CacheCheck::Live);

        // The replay deletes the key, writes the marker and empties the table.
        let r = Revocations::new(db.clone(), &cfg);
        assert_eq!(r.load(at(T0 + 5)).await.unwrap(), 2);
        assert_eq!(r.load(at(T0 + 5)).await.unwrap(), 0, "a reload adds nothing twice");
        r.replay(&sec, 86_400, at(T0 + 10)).await;
        assert_eq!(sec.get("tok-a").await.unwrap(), None);
        assert_eq!(sec.get("revoked-sessions-before-u1").await.unwrap().as_deref(), Some(T0.to_string().as_str()));
        assert!(db.list_pending_revocations().await.unwrap().is_empty());
        assert!(!r.has_pending() && !r.revokes(&revoked));
    }

    #[tokio::test]
    async fn rows_that_do_not_decrypt_still_revoke_until_they_expire() {
        let (db, _file) = database().await;
        Revocations::new(db.clone(), &config("the-first-secret-long-enough-1234567890")).queue(["tok".to_string()], None, at(T0)).await;
        let cfg = config("another-secret-long-enough-1234567890ab");
        let r = Revocations::new(db.clone(), &cfg);
        assert_eq!(r.load(at(T0 + 1)).await.unwrap(), 1);
        assert!(r.revokes(&session("tok", "u", T0 - 1)), "revokes through its hash");
        let sec = Secondary::new(Arc::new(MemoryStorage::new()), DEFAULT_TIMEOUT, Arc::default());
        sec.set("tok", "stale", None).await.unwrap();
        r.replay(&sec, 86_400, at(T0 + 2)).await;
        assert!(r.revokes(&session("tok", "u", T0 - 1)) && sec.get("tok").await.unwrap().is_some(), "cannot replay, kept");
        let expired = at(T0 + i64::try_from(cfg.session.expires_in).unwrap() * 1000);
        r.replay(&sec, 86_400, expired).await;
        assert!(!r.has_pending() && db.list_pending_revocations().await.unwrap().is_empty(), "dropped once the key has expired");

        // An expired row is dropped at load, unreplayed.
        Revocations::new(db.clone(), &cfg).queue(["old".to_string()], Some(("u", T0)), at(T0)).await;
        let fresh = Revocations::new(db.clone(), &cfg);
        assert_eq!(fresh.load(expired).await.unwrap(), 0);
        assert!(db.list_pending_revocations().await.unwrap().is_empty());
    }

    #[test]
    fn the_mirror_keeps_an_entry_until_every_row_of_it_is_replayed() {
        let mut m = Mirror::default();
        let h = hash("tok");
        m.add_token(h, Some("tok".into()), "r1".into(), at(T0));
        m.add_token(h, None, "r2".into(), at(T0));
        assert_eq!(m.tokens[&h].token.as_deref(), Some("tok"), "a known token is kept");
        m.add_marker("u", 5, "r3".into());
        m.add_marker("u", 3, "r4".into());
        assert_eq!(m.markers["u"].at_ms, 5, "the latest revoked-before wins");
        m.remove(&[(Entry::Token(h), vec!["r1".into()]), (Entry::Marker("u".into()), vec!["r3".into(), "r4".into()])]);
        assert!(m.tokens.contains_key(&h), "r2 was queued after the snapshot");
        assert!(m.markers.is_empty());
        m.remove(&[(Entry::Token(h), vec!["r2".into()])]);
        assert!(m.is_empty() && m.ids.is_empty());
    }
}
