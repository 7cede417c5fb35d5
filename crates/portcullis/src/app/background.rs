//! Work a handler hands off to run after it has answered (look-ups, writes and e-mail whose timing
//! must not show in the response), with a bound on how much of it runs at once.
//!
//! This module must never let a flood of requests spawn an unbounded number of tasks: when every
//! slot is taken, new work is dropped with a log line (the requester already has its answer, which
//! never depends on the work; rate limits bound what one client can ask for).

use std::future::Future;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Background tasks allowed at once per [`Auth`](super::Auth). Each holds at most a database
/// connection (the pool queues the rest) and an outgoing e-mail; a slow mail server is the usual
/// reason for many to be running.
pub const MAX_BACKGROUND_TASKS: usize = 128;

/// A bounded spawner; clones share the bound.
#[derive(Clone, Debug)]
pub struct Background {
    slots: Arc<Semaphore>,
    max: usize,
}

impl Default for Background {
    fn default() -> Self {
        Self::new(MAX_BACKGROUND_TASKS)
    }
}

impl Background {
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        Self { slots: Arc::new(Semaphore::new(max)), max }
    }

    /// Runs `work` in a task of its own if a slot is free; otherwise drops it, logs `what`, and
    /// returns false.
    pub fn spawn(&self, what: &'static str, work: impl Future<Output = ()> + Send + 'static) -> bool {
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            tracing::warn!(what, limit = self.max, "background work dropped: too many tasks running");
            return false;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            tracing::error!(what, "background work dropped: no tokio runtime");
            return false;
        };
        rt.spawn(async move {
            work.await;
            drop(slot);
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_beyond_the_bound_is_dropped_and_slots_come_back() {
        let bg = Background::new(2);
        let (release, wait) = tokio::sync::watch::channel(false);
        for _ in 0..2 {
            let mut wait = wait.clone();
            assert!(bg.spawn("test", async move {
                let _ = wait.wait_for(|go| *go).await;
            }));
        }
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        assert!(!bg.spawn("test", async move { flag.store(true, std::sync::atomic::Ordering::SeqCst) }), "no third slot");
        release.send_replace(true);
        // Both slots free up once their work ends; the dropped work never ran.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), bg.slots.acquire_many(2)).await.expect("slots released");
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
        let (tx, rx) = tokio::sync::oneshot::channel();
        assert!(bg.spawn("test", async move {
            let _ = tx.send(());
        }));
        rx.await.expect("runs once a slot is free");
    }
}
