//! Running the engine as a standalone server: the accept loop, what one client may hold, and
//! graceful shutdown on SIGINT/SIGTERM.
//!
//! `axum::serve` has no connection cap and no idle or header timeouts, so slow clients could hold
//! every file descriptor. This loop bounds each connection ([`ServerConfig`]):
//!
//! ```text
//!  accept ──(a permit of max_connections; beyond it clients wait in the kernel backlog)
//!    │       (at most max_connections_per_ip from one client, trusted proxies exempt; more are
//!    │        closed at once)
//!    ├─ request head: complete within header_read_timeout, at most max_header_bytes (hyper)
//!    ├─ request body: within body_read_timeout            (router: 408 REQUEST_TIMEOUT)
//!    ├─ whole request: within request_timeout             (router: 503 SERVICE_TIMEOUT)
//!    ├─ idle between requests: closed after keep_alive_timeout (the watchdog below)
//!    └─ closing: a connection asked to close (idle, or the server shutting down) gets
//!       CLOSE_GRACE to flush its last answer, then is dropped
//! ```
//!
//! The last step matters for a client that never reads: its answers fill the socket buffers, the
//! write never completes, and without a deadline the connection (and its slot) would be held for
//! good.
//!
//! The header timer of hyper starts as soon as a connection waits for a request head, so it also
//! bounds an idle keep-alive connection; the watchdog closes idle connections earlier
//! (`keep_alive_timeout`) and counts only finished requests as activity, so bytes trickled without
//! ever completing a request never keep a connection alive.
//!
//! Beside the auth routes it serves the health probes, `/metrics` (`[metrics]`: behind its token
//! on this listener, or on a listener of its own that stops with this one), and gives every
//! request an id ([`request_id`](super::request_id)).
//!
//! It must never stop accepting because one connection failed (an `accept` error such as
//! EMFILE is logged and retried after a pause), never hold a lock across an await, and never let
//! shutdown wait on a client for longer than `shutdown_grace`.

use super::Auth;
use crate::config::ServerConfig;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;
use tower::ServiceExt;
use tracing::Instrument;

/// How long a connection asked to close may take to flush what it still has to send.
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// Longest configurable server duration (one day), so deadlines never overflow.
pub const MAX_SERVER_SECONDS: u64 = 86_400;

/// Listens on `config.listen` and serves until SIGINT or SIGTERM.
pub async fn serve(auth: Auth) -> std::io::Result<()> {
    let listener = TcpListener::bind(auth.config.listen).await?;
    serve_on(auth, listener).await
}

/// Serves on an already-bound listener (tests bind port 0 and read the address first) until
/// SIGINT or SIGTERM.
pub async fn serve_on(auth: Auth, listener: TcpListener) -> std::io::Result<()> {
    serve_until(auth, listener, shutdown_signal()).await
}

/// Serves on `listener` until `stop` completes, then lets open requests finish for at most
/// `server.shutdown_grace` seconds.
pub async fn serve_until(auth: Auth, listener: TcpListener, stop: impl Future<Output = ()>) -> std::io::Result<()> {
    let cfg = auth.config.server.clone();
    let max = cfg.max_connections.max(1);
    let max = open_file_headroom(max);
    let addr = listener.local_addr()?;
    tracing::info!("portcullis listening on http://{addr} (auth routes at {})", auth.auth_url);
    // The probes sit at the root, beside the auth routes (an embedding app keeps its own), unless
    // the auth routes themselves are mounted under /health.
    let mount = auth.config.mount_path();
    let mut router = if mount == "/health" || mount.starts_with("/health/") {
        tracing::warn!("auth routes mounted under /health: /health/live and /health/ready are not served");
        auth.router()
    } else {
        auth.router().merge(super::health::router(auth.clone()))
    };
    let metrics = &auth.config.metrics;
    if let (true, None, Some(token)) = (metrics.enabled, metrics.listen, &metrics.token) {
        router = router.merge(super::metrics::token_router(auth.clone(), token));
    }
    let (metrics_stop, metrics_stopped) = watch::channel(false);
    if let (true, Some(at)) = (metrics.enabled, metrics.listen) {
        let listener = TcpListener::bind(at).await?;
        tracing::info!("metrics at http://{}/metrics", listener.local_addr()?);
        let scrape = match &metrics.token {
            Some(token) => super::metrics::token_router(auth.clone(), token),
            None => super::metrics::open_router(auth.clone()),
        };
        let mut stopped = metrics_stopped;
        tokio::spawn(async move {
            let stop = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, scrape).with_graceful_shutdown(stop).await {
                tracing::warn!(error = %e, "the metrics listener stopped");
            }
        });
    }
    let slots = Arc::new(Semaphore::new(max));
    let per_ip = Arc::new(PerIp::new(cfg.max_connections_per_ip));
    let (closing_tx, closing) = watch::channel(false);
    tokio::pin!(stop);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.map_err(std::io::Error::other)?,
            () = &mut stop => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: never fatal.
                    tracing::warn!(error = %e, "accept failed; retrying shortly");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let counted = if auth.ip_policy.is_trusted(peer.ip()) { None } else { Some(auth.ip_policy.client_key(peer.ip())) };
        let Some(held) = PerIp::admit(&per_ip, counted) else {
            // One client already holds its share: close at once (dropping the stream).
            continue;
        };
        let _ = stream.set_nodelay(true);
        let conn = Connection { router: router.clone(), cfg: cfg.clone(), peer, closing: closing.clone() };
        tokio::spawn(async move {
            conn.run(stream).await;
            drop((held, permit));
        });
    }
    tracing::info!("shutting down: no new connections; open requests get {} s", cfg.shutdown_grace);
    let _ = closing_tx.send(true);
    let _ = metrics_stop.send(true);
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let grace = Duration::from_secs(cfg.shutdown_grace.min(MAX_SERVER_SECONDS));
    if tokio::time::timeout(grace, slots.acquire_many(all)).await.is_err() {
        tracing::warn!("connections still open after the shutdown grace period; exiting anyway");
    }
    Ok(())
}

/// One accepted connection and what it needs.
struct Connection {
    router: axum::Router,
    cfg: ServerConfig,
    peer: SocketAddr,
    closing: watch::Receiver<bool>,
}

/// Requests running on a connection and when the last one ended (ms since the connection opened).
#[derive(Default)]
struct Activity {
    in_flight: AtomicUsize,
    last_done_ms: AtomicU64,
}

/// Marks a request as running until dropped (answered, failed or cancelled).
struct Running<'a>(&'a Activity, Instant);
impl Drop for Running<'_> {
    fn drop(&mut self) {
        let ms = u64::try_from(self.1.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0.last_done_ms.store(ms, Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Connection {
    async fn run(mut self, stream: tokio::net::TcpStream) {
        let opened = Instant::now();
        let activity = Arc::new(Activity::default());
        let service = {
            let (router, peer, activity) = (self.router.clone(), self.peer, activity.clone());
            let request_ids = self.cfg.request_ids;
            hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                let (router, activity) = (router.clone(), activity.clone());
                req.extensions_mut().insert(ConnectInfo(peer));
                // Here rather than as a layer: no boxed future per request; none of it unless
                // asked (`server.request_ids`): the span costs every request.
                let id = request_ids.then(|| super::request_id::take_or_make(req.headers_mut()));
                let span = id.as_ref().map_or_else(tracing::Span::none, super::request_id::span);
                async move {
                    activity.in_flight.fetch_add(1, Ordering::Relaxed);
                    let _running = Running(&activity, opened);
                    let mut res = router.oneshot(req.map(axum::body::Body::new)).instrument(span).await;
                    if let (Ok(res), Some(id)) = (&mut res, id) {
                        res.headers_mut().insert(super::request_id::HEADER, id);
                    }
                    res
                }
            })
        };
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new()).keep_alive(true).max_buf_size(self.cfg.max_header_bytes.max(8192));
        let header_read = self.cfg.header_read_timeout.min(MAX_SERVER_SECONDS);
        http.header_read_timeout((header_read > 0).then(|| Duration::from_secs(header_read)));
        http.max_header_size(self.cfg.max_header_bytes);
        let conn = http.serve_connection(TokioIo::new(stream), service);
        tokio::pin!(conn);
        let keep_alive = Duration::from_secs(self.cfg.keep_alive_timeout.min(MAX_SERVER_SECONDS));
        // Set once the connection was asked to close: it is dropped if still open then.
        let mut close_by: Option<Instant> = None;
        loop {
            let hard_stop = async {
                match close_by {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                res = conn.as_mut() => {
                    if let Err(e) = res {
                        // Timeouts, resets and malformed requests end here: the client's problem.
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    return;
                }
                () = idle(&activity, opened, keep_alive), if close_by.is_none() && self.cfg.keep_alive_timeout > 0 => {
                    conn.as_mut().graceful_shutdown();
                    close_by = Some(Instant::now() + CLOSE_GRACE);
                }
                _ = self.closing.changed(), if close_by.is_none() => {
                    conn.as_mut().graceful_shutdown();
                    close_by = Some(Instant::now() + CLOSE_GRACE);
                }
                () = hard_stop => {
                    tracing::debug!("connection did not close in time (a client that does not read?); dropped");
                    return;
                }
            }
        }
    }
}

/// Connections open per client (trusted proxies are not counted).
struct PerIp {
    max: usize,
    open: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
}

/// One counted connection; gives its place back when dropped.
struct Held(Option<(Arc<PerIp>, std::net::IpAddr)>);
impl Drop for Held {
    fn drop(&mut self) {
        if let Some((per_ip, ip)) = self.0.take() {
            let mut open = per_ip.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(n) = open.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    open.remove(&ip);
                }
            }
        }
    }
}

impl PerIp {
    fn new(max: usize) -> Self {
        Self { max: max.max(1), open: Default::default() }
    }

    /// A place for one more connection from `ip` (`None`: not counted), or `None` when `ip` holds
    /// its share already.
    fn admit(this: &Arc<Self>, ip: Option<std::net::IpAddr>) -> Option<Held> {
        let Some(ip) = ip else { return Some(Held(None)) };
        let mut open = this.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = open.entry(ip).or_insert(0);
        if *n >= this.max {
            return None;
        }
        *n += 1;
        Some(Held(Some((this.clone(), ip))))
    }
}

/// Completes once the connection has had no request running for `keep_alive`.
async fn idle(activity: &Activity, opened: Instant, keep_alive: Duration) {
    loop {
        let last = opened + Duration::from_millis(activity.last_done_ms.load(Ordering::Relaxed));
        let deadline = last + keep_alive;
        if Instant::now() >= deadline && activity.in_flight.load(Ordering::Relaxed) == 0 {
            return;
        }
        // Re-check at the deadline, or a moment later while a request is still running.
        tokio::time::sleep_until(deadline.max(Instant::now() + Duration::from_millis(250))).await;
    }
}

/// Raises the soft open-file limit to the hard one where it is lower (each connection is a
/// descriptor) and returns how many connections fit, keeping 256 descriptors for the database
/// pool, Redis, log files and the listener.
fn open_file_headroom(wanted: usize) -> usize {
    #[cfg(target_os = "linux")]
    {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit/setrlimit on this process with a valid, owned struct.
        let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0;
        if !ok {
            return wanted;
        }
        let need = wanted as u64 + 256;
        if lim.rlim_cur < need && lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit { rlim_cur: need.min(lim.rlim_max), rlim_max: lim.rlim_max };
            // SAFETY: as above; raising the soft limit up to the hard limit needs no privilege.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
                lim.rlim_cur = raised.rlim_cur;
            }
        }
        let fits = usize::try_from(lim.rlim_cur.saturating_sub(256)).unwrap_or(usize::MAX).max(1);
        if fits < wanted {
            tracing::warn!(
                max_connections = wanted,
                open_file_limit = lim.rlim_cur,
                "server.max_connections lowered to {fits} to fit the open-file limit (raise it with ulimit -n)"
            );
            return fits;
        }
    }
    wanted
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_places_are_counted_and_given_back() {
        let per_ip = Arc::new(PerIp::new(2));
        let a: std::net::IpAddr = "203.0.113.1".parse().unwrap();
        let b: std::net::IpAddr = "203.0.113.2".parse().unwrap();
        let first = PerIp::admit(&per_ip, Some(a)).unwrap();
        let _second = PerIp::admit(&per_ip, Some(a)).unwrap();
        assert!(PerIp::admit(&per_ip, Some(a)).is_none(), "a third from one client is refused");
        assert!(PerIp::admit(&per_ip, Some(b)).is_some(), "another client has its own share");
        assert!(PerIp::admit(&per_ip, None).is_some(), "trusted proxies are not counted");
        drop(first);
        assert!(PerIp::admit(&per_ip, Some(a)).is_some(), "a closed connection gives its place back");
        drop(_second);
        assert!(per_ip.open.lock().unwrap().get(&b).is_none(), "no entry outlives its connections");
    }
}
