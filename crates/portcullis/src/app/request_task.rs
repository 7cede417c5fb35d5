//! Running a request to its end.
//!
//! A handler often writes several things in a row: a session revoked in secondary storage and then
//! in the database, a provider's rotated refresh token fetched and then stored, a user and then its
//! session. Cut in the middle, such a sequence leaves a state nobody asked for (a "revoked" session
//! still served from the database, a refresh token lost). So every request runs in a task of its
//! own that neither a client going away nor `server.request_timeout` cancels: on timeout the client
//! gets `503 SERVICE_TIMEOUT` and the task finishes in the background.
//!
//! Tasks left running on their own are bounded ([`MAX_DETACHED`]). Beyond it, a timed-out request
//! keeps its client waiting for the real answer, and a request whose client went away is cancelled
//! (as a plain future would be), so a stalled database cannot pile up tasks without limit.
//!
//! Must never: cancel a request while there is room to let it finish, or block on a full bound.

use crate::error::{codes, ApiError};
use axum::response::{IntoResponse, Response};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// Requests that may run on after their client stopped waiting (timed out or gone).
pub const MAX_DETACHED: usize = 1024;

/// The bound on detached requests, shared by every request of one engine.
#[derive(Clone)]
pub struct Detached {
    slots: Arc<Semaphore>,
    capacity: usize,
}

impl Default for Detached {
    fn default() -> Self {
        Self::new(MAX_DETACHED)
    }
}

impl Detached {
    fn new(capacity: usize) -> Self {
        Self { slots: Arc::new(Semaphore::new(capacity)), capacity }
    }
    /// Requests running on their own right now.
    pub fn running(&self) -> usize {
        self.capacity.saturating_sub(self.slots.available_permits())
    }
}

/// Runs `request` in its own task and answers its response, or `503 SERVICE_TIMEOUT` once `limit`
/// has passed (the request then finishes in the background, room permitting).
pub async fn run_to_end(
    detached: &Detached,
    limit: Option<Duration>,
    request: impl Future<Output = Response> + Send + 'static,
) -> Response {
    let mut task = Attached { handle: Some(tokio::spawn(request)), detached: detached.clone() };
    let Some(limit) = limit else { return task.join().await };
    match tokio::time::timeout(limit, task.join()).await {
        Ok(res) => res,
        Err(_) if task.detach() => {
            tracing::warn!("a request exceeded server.request_timeout; it finishes in the background");
            codes::SERVICE_TIMEOUT.retry_after(1).into_response()
        }
        // Too many requests already run on their own: this client waits for its real answer.
        Err(_) => task.join().await,
    }
}

/// A request's task while its client still waits for it.
struct Attached {
    handle: Option<JoinHandle<Response>>,
    detached: Detached,
}

impl Attached {
    /// The task's response. Cancel-safe: dropped before the task ends, the handle stays here.
    async fn join(&mut self) -> Response {
        let Some(handle) = self.handle.as_mut() else { return ApiError::internal("request joined twice").into_response() };
        let outcome = handle.await;
        self.handle = None;
        match outcome {
            Ok(res) => res,
            Err(e) => ApiError::internal(format!("request task failed: {e}")).into_response(),
        }
    }

    /// Lets the task finish on its own, if the bound allows; `false` when it does not.
    fn detach(&mut self) -> bool {
        let Some(handle) = self.handle.take() else { return true };
        let (Ok(permit), Ok(rt)) = (self.detached.slots.clone().try_acquire_owned(), tokio::runtime::Handle::try_current()) else {
            self.handle = Some(handle);
            return false;
        };
        rt.spawn(async move {
            let _ = handle.await;
            drop(permit);
        });
        true
    }
}

impl Drop for Attached {
    /// The client went away before the answer: let the request finish, or cancel it when too
    /// many already run on their own.
    fn drop(&mut self) {
        if self.handle.is_some() && !self.detach() {
            if let Some(h) = self.handle.take() {
                h.abort();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use std::sync::atomic::{AtomicBool, Ordering};

    async fn slow(done: Arc<AtomicBool>, ms: u64) -> Response {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        done.store(true, Ordering::SeqCst);
        StatusCode::OK.into_response()
    }

    #[tokio::test]
    async fn answers_in_time_or_503_and_finishes_anyway() {
        let d = Detached::default();
        let done = Arc::new(AtomicBool::new(false));
        let res = run_to_end(&d, Some(Duration::from_secs(5)), slow(done.clone(), 10)).await;
        assert_eq!(res.status(), StatusCode::OK);
        let done = Arc::new(AtomicBool::new(false));
        let res = run_to_end(&d, Some(Duration::from_millis(20)), slow(done.clone(), 200)).await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(d.running(), 1);
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(done.load(Ordering::SeqCst), "the timed-out request ran to its end");
        assert_eq!(d.running(), 0);
    }

    #[tokio::test]
    async fn a_client_that_leaves_does_not_cut_the_request() {
        let d = Detached::default();
        let done = Arc::new(AtomicBool::new(false));
        let waiting = tokio::spawn({
            let (d, done) = (d.clone(), done.clone());
            async move { run_to_end(&d, None, slow(done, 200)).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        waiting.abort(); // the connection is gone
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(done.load(Ordering::SeqCst));
        assert_eq!(d.running(), 0);
    }

    #[tokio::test]
    async fn beyond_the_bound_a_timed_out_client_waits_and_a_leaving_one_cancels() {
        let d = Detached::new(0);
        let done = Arc::new(AtomicBool::new(false));
        let res = run_to_end(&d, Some(Duration::from_millis(10)), slow(done.clone(), 100)).await;
        assert_eq!(res.status(), StatusCode::OK, "no room to detach: the real answer");
        assert!(done.load(Ordering::SeqCst));
        let done = Arc::new(AtomicBool::new(false));
        let waiting = tokio::spawn({
            let (d, done) = (d.clone(), done.clone());
            async move { run_to_end(&d, None, slow(done, 100)).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        waiting.abort();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!done.load(Ordering::SeqCst), "cancelled, as a plain future would be");
    }
}
