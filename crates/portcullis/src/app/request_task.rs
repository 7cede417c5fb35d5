//! Running a request to its end.
//!
//! A handler often writes several things in a row: a session revoked in secondary storage and then
//! in the database, a provider's rotated refresh token fetched and then stored, a user and then its
//! session. Cut in the middle, such a sequence leaves a state nobody asked for (a "revoked" session
//! still served from the database, a refresh token lost). So neither a client going away nor
//! `server.request_timeout` cancels a request: on timeout the client gets `503 SERVICE_TIMEOUT`,
//! and either way the request finishes in a task of its own.
//!
//! The request runs inline on its connection's task while its client waits (no task per request:
//! get-session pays nothing for this), pinned on the heap so that, once abandoned, it can be handed
//! to a task of its own exactly where it stopped.
//!
//! Requests left running on their own are bounded ([`MAX_DETACHED`]). Beyond it, a timed-out
//! request keeps its client waiting for the real answer, and a request whose client went away is
//! cancelled (as a plain future would be), so a stalled database cannot pile up tasks without limit.
//!
//! Must never: cancel a request while there is room to let it finish, or block on a full bound.

use crate::error::codes;
use axum::response::{IntoResponse, Response};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::Semaphore;

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

type Request = Pin<Box<dyn Future<Output = Response> + Send>>;

/// Runs `request` to its end and answers its response, or `503 SERVICE_TIMEOUT` once `limit` has
/// passed (the request then finishes in the background, room permitting).
pub async fn run_to_end(
    detached: &Detached,
    limit: Option<Duration>,
    request: impl Future<Output = Response> + Send + 'static,
) -> Response {
    let mut running = Running { request: Some(Box::pin(request)), detached };
    let Some(limit) = limit else { return running.answer().await };
    match tokio::time::timeout(limit, running.answer()).await {
        Ok(res) => res,
        Err(_) if running.detach() => {
            tracing::warn!("a request exceeded server.request_timeout; it finishes in the background");
            codes::SERVICE_TIMEOUT.retry_after(1).into_response()
        }
        // Too many requests already run on their own: this client waits for its real answer.
        Err(_) => running.answer().await,
    }
}

/// A request while its client still waits for it.
struct Running<'a> {
    request: Option<Request>,
    detached: &'a Detached,
}

impl Running<'_> {
    /// The request's response, polled inline (see [`poll_answer`](Self::poll_answer)).
    async fn answer(&mut self) -> Response {
        std::future::poll_fn(|cx| self.poll_answer(cx)).await
    }

    /// Polls the request inline. Cancel-safe: until it is ready, the request stays here.
    fn poll_answer(&mut self, cx: &mut Context<'_>) -> Poll<Response> {
        let Some(request) = self.request.as_mut() else { return Poll::Ready(codes::SERVICE_TIMEOUT.into_response()) };
        let res = std::task::ready!(request.as_mut().poll(cx));
        self.request = None;
        Poll::Ready(res)
    }

    /// Lets the request finish in a task of its own, if the bound allows; `false` when it does not.
    fn detach(&mut self) -> bool {
        let Some(request) = self.request.take() else { return true };
        let (Ok(permit), Ok(rt)) = (self.detached.slots.clone().try_acquire_owned(), tokio::runtime::Handle::try_current()) else {
            self.request = Some(request);
            return false;
        };
        rt.spawn(async move {
            let _ = request.await;
            drop(permit);
        });
        true
    }
}

impl Drop for Running<'_> {
    /// The client went away before the answer: let the request finish, or cancel it (drop it)
    /// when too many already run on their own.
    fn drop(&mut self) {
        if self.request.is_some() {
            self.detach();
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
