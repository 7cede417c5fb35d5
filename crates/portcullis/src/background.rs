//! Work a handler hands off to run after it has answered (look-ups and writes whose timing must
//! not show in the response), with a bound on how much of it runs at once and a count of what the
//! bound turned away.
//!
//! This module must never let a flood of requests spawn an unbounded number of tasks: when every
//! slot is taken, new work is dropped, counted and logged (the requester already has its answer,
//! which never depends on the work; rate limits bound what one client can ask for). Work that can
//! stall for long (an e-mail to a slow SMTP server) must not run inside a slot: it is handed on to
//! a bound of its own ([`mail::Outgoing`](crate::mail::Outgoing)), so it cannot starve the rest.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Background tasks allowed at once per [`Auth`](crate::app::Auth). Each holds at most a database
/// connection (the pool queues the rest); e-mail goes out through the mailer's own bound.
pub const MAX_BACKGROUND_TASKS: usize = 128;

/// A bounded spawner; clones share the bound and the count.
#[derive(Clone, Debug)]
pub struct Background {
    slots: Arc<Semaphore>,
    max: usize,
    dropped: Arc<AtomicU64>,
}

impl Default for Background {
    fn default() -> Self {
        Self::new(MAX_BACKGROUND_TASKS)
    }
}

/// Why [`Background::try_spawn`] did not run the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// Every slot is taken.
    Full,
    /// Called outside a tokio runtime.
    NoRuntime,
}

impl Background {
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        Self { slots: Arc::new(Semaphore::new(max)), max, dropped: Arc::default() }
    }

    /// How many tasks may run at once.
    pub fn limit(&self) -> usize {
        self.max
    }

    /// Work dropped since start because every slot was taken (or no runtime ran): what a metrics
    /// exporter or an embedder watches to see users silently missing e-mail or tokens.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Runs `work` in a task of its own if a slot is free; otherwise drops it, counts it, logs
    /// `what`, and returns false.
    pub fn spawn(&self, what: &'static str, work: impl Future<Output = ()> + Send + 'static) -> bool {
        match self.try_spawn(work) {
            Ok(()) => true,
            Err(Dropped::Full) => {
                tracing::warn!(what, limit = self.max, "background work dropped: too many tasks running");
                false
            }
            Err(Dropped::NoRuntime) => {
                tracing::error!(what, "background work dropped: no tokio runtime");
                false
            }
        }
    }

    /// As [`spawn`](Self::spawn), leaving the log line to the caller (which knows more about the
    /// work than a static name). A refusal is still counted.
    pub fn try_spawn(&self, work: impl Future<Output = ()> + Send + 'static) -> Result<(), Dropped> {
        let refused = |why| {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            Err(why)
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else { return refused(Dropped::NoRuntime) };
        let Ok(slot) = self.slots.clone().try_acquire_owned() else { return refused(Dropped::Full) };
        rt.spawn(async move {
            work.await;
            drop(slot);
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_beyond_the_bound_is_dropped_counted_and_slots_come_back() {
        let bg = Background::new(2);
        let clone = bg.clone();
        let (release, wait) = tokio::sync::watch::channel(false);
        for _ in 0..2 {
            let mut wait = wait.clone();
            assert!(bg.spawn("test", async move {
                let _ = wait.wait_for(|go| *go).await;
            }));
        }
        assert_eq!(bg.dropped(), 0);
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        assert!(!bg.spawn("test", async move { flag.store(true, std::sync::atomic::Ordering::SeqCst) }), "no third slot");
        assert_eq!(clone.try_spawn(async {}), Err(Dropped::Full), "clones share the bound");
        assert_eq!((bg.dropped(), clone.dropped()), (2, 2), "and the count");
        release.send_replace(true);
        // Both slots free up once their work ends; the dropped work never ran.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), bg.slots.acquire_many(2)).await.expect("slots released");
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
        let (tx, rx) = tokio::sync::oneshot::channel();
        assert!(bg.spawn("test", async move {
            let _ = tx.send(());
        }));
        rx.await.expect("runs once a slot is free");
        assert_eq!(bg.dropped(), 2, "work that ran is not counted");
    }

    #[test]
    fn work_without_a_runtime_is_dropped_and_counted() {
        let bg = Background::new(1);
        assert_eq!(bg.try_spawn(async {}), Err(Dropped::NoRuntime));
        assert!(!bg.spawn("test", async {}));
        assert_eq!(bg.dropped(), 2);
    }
}
