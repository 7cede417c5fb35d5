//! Database session lookups, coalesced.
//!
//! Every get-session on the database path needs the session row joined with its user. Under load
//! many of these arrive at once, and each single-row query costs PostgreSQL far more CPU (parse,
//! bind, plan, executor start, a network round trip) than the index lookup itself. So lookups go
//! through one queue: a lookup that finds a free slot starts a query at once (no added latency on
//! an idle server); lookups that arrive while [`IN_FLIGHT`] queries are running wait and then go
//! out together as one `where token in (…)` query, identical tokens asked once.
//!
//! Consistency: a lookup only ever joins a batch that has not started yet, so its query begins
//! after the lookup was asked. A revocation that finished before the request arrived is therefore
//! always seen, exactly as with one query per request.

use super::super::store::model::{Session, User};
use super::super::store::{Store, StoreResult};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Batches running at once (each holds one pooled connection while it runs).
const IN_FLIGHT: usize = 2;
/// Lookups answered by one batch at most (distinct tokens go 32 to a statement).
const MAX_WAITERS: usize = 128;

type Found = StoreResult<Option<(Session, User)>>;

struct Waiter {
    token: String,
    reply: oneshot::Sender<Found>,
}

/// The queue in front of [`Store::find_sessions`].
pub struct Lookups {
    db: Arc<dyn Store>,
    queue: Mutex<Option<mpsc::UnboundedSender<Waiter>>>,
}

impl Lookups {
    pub fn new(db: Arc<dyn Store>) -> Self {
        Self { db, queue: Mutex::new(None) }
    }

    /// The session with this token and its user, as [`Store::find_session`] would answer.
    pub async fn find(&self, token: &str) -> Found {
        let (reply, answer) = oneshot::channel();
        if self.sender().send(Waiter { token: token.to_owned(), reply }).is_err() {
            // The batching task is gone (its runtime shut down): start a new one next time.
            self.queue.lock().unwrap_or_else(|e| e.into_inner()).take();
            return self.db.find_session(token).await;
        }
        match answer.await {
            Ok(found) => found,
            Err(_) => self.db.find_session(token).await,
        }
    }

    fn sender(&self) -> mpsc::UnboundedSender<Waiter> {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        match &*queue {
            Some(tx) if !tx.is_closed() => tx.clone(),
            _ => {
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(run(self.db.clone(), rx));
                *queue = Some(tx.clone());
                tx
            }
        }
    }
}

/// Takes the first waiting lookup, waits for a free slot, then sends everything queued by then.
async fn run(db: Arc<dyn Store>, mut rx: mpsc::UnboundedReceiver<Waiter>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        let mut batch = vec![first];
        while batch.len() < MAX_WAITERS {
            match rx.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => break,
            }
        }
        let db = db.clone();
        tokio::spawn(async move {
            answer(&*db, batch).await;
            drop(slot);
        });
    }
}

async fn answer(db: &dyn Store, mut batch: Vec<Waiter>) {
    batch.sort_unstable_by(|a, b| a.token.cmp(&b.token));
    let found = {
        let mut tokens: Vec<&str> = batch.iter().map(|w| w.token.as_str()).collect();
        tokens.dedup();
        db.find_sessions(&tokens).await
    };
    let mut rows: HashMap<String, (Session, User)> = match found {
        Ok(rows) => rows.into_iter().map(|row| (row.0.token.clone(), row)).collect(),
        Err(e) => {
            for w in batch {
                let _ = w.reply.send(Err(e.clone()));
            }
            return;
        }
    };
    // Waiters on one token are adjacent: all but the last get a copy, the last gets the row.
    let mut waiters = batch.into_iter().peekable();
    while let Some(w) = waiters.next() {
        let last = waiters.peek().is_none_or(|next| next.token != w.token);
        let row = if last { rows.remove(&w.token) } else { rows.get(&w.token).cloned() };
        let _ = w.reply.send(Ok(row));
    }
}
