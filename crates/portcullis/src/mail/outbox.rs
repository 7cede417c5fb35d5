//! The development outbox: a [`Mailer`] that keeps messages instead of delivering them, and the
//! `GET /__outbox?to=EMAIL` route that lets developers and test suites read them.
//!
//! It owns a bounded in-memory store (the last [`MAX_PER_ADDRESS`] messages per lower-cased
//! address; at most [`MAX_ADDRESSES`] addresses and [`MAX_TOTAL`] messages, evicting the addresses
//! written least recently) and, optionally, a JSON-lines file it appends to. Write errors on that
//! file are logged, never returned.
//!
//! Everything it holds is a credential (links, tokens), so it must never be served in production
//! and never logs message contents.

use super::{Email, MailError, Mailer};
use axum::extract::{ConnectInfo, RawQuery, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Messages kept per address.
pub const MAX_PER_ADDRESS: usize = 50;
/// Addresses kept.
pub const MAX_ADDRESSES: usize = 10_000;
/// Messages kept over all addresses.
pub const MAX_TOTAL: usize = 20_000;

#[derive(Clone, serde::Serialize)]
struct Stored {
    id: u64,
    to: String,
    kind: String,
    subject: String,
    url: Option<String>,
    token: Option<String>,
    otp: Option<String>,
    text: String,
    html: String,
    at: String,
}

#[derive(Default)]
struct Inbox {
    /// Sequence number of the last write, the key of this address in `Store::by_age`.
    last_write: u64,
    messages: VecDeque<Stored>,
}

#[derive(Default)]
struct Store {
    seq: u64,
    total: usize,
    inboxes: HashMap<String, Inbox>,
    /// Addresses by last write, oldest first.
    by_age: BTreeMap<u64, String>,
}

impl Store {
    fn push(&mut self, key: String, mut msg: Stored) {
        self.seq += 1;
        msg.id = self.seq;
        let inbox = self.inboxes.entry(key.clone()).or_default();
        self.by_age.remove(&inbox.last_write);
        inbox.last_write = self.seq;
        self.by_age.insert(self.seq, key);
        inbox.messages.push_back(msg);
        self.total += 1;
        if inbox.messages.len() > MAX_PER_ADDRESS {
            inbox.messages.pop_front();
            self.total -= 1;
        }
        // The address just written is the newest and holds at most MAX_PER_ADDRESS < MAX_TOTAL
        // messages, so this loop stops before reaching it.
        while self.inboxes.len() > MAX_ADDRESSES || self.total > MAX_TOTAL {
            let Some((_, oldest)) = self.by_age.pop_first() else { break };
            if let Some(evicted) = self.inboxes.remove(&oldest) {
                self.total -= evicted.messages.len();
            }
        }
    }
}

/// Development outbox; see the module documentation.
pub struct Outbox {
    store: Mutex<Store>,
    file: Option<PathBuf>,
    /// Serialises appends so concurrent lines never interleave.
    file_lock: Arc<Mutex<()>>,
}

impl Outbox {
    /// An empty outbox that also appends to `file` when given.
    pub fn new(file: Option<PathBuf>) -> Self {
        Self { store: Mutex::new(Store::default()), file, file_lock: Arc::new(Mutex::new(())) }
    }

    /// Messages sent to `to` (case-insensitive), newest first, each with
    /// `id, to, kind, subject, url, token, otp, text, html, at` (`url`/`token`/`otp` null when absent).
    pub fn messages_for(&self, to: &str) -> Vec<Value> {
        let store = lock(&self.store);
        store
            .inboxes
            .get(&to.to_lowercase())
            .map(|inbox| inbox.messages.iter().rev().filter_map(|m| serde_json::to_value(m).ok()).collect())
            .unwrap_or_default()
    }

    async fn append_to_file(&self, path: &Path, line: String) {
        let (owned, lock) = (path.to_path_buf(), self.file_lock.clone());
        let write = move || append_line(&owned, &lock, &line);
        let result = match tokio::runtime::Handle::try_current() {
            Ok(rt) => rt.spawn_blocking(write).await.unwrap_or_else(|e| Err(std::io::Error::other(e.to_string()))),
            Err(_) => write(),
        };
        if let Err(e) = result {
            tracing::warn!(file = %path.display(), error = %e, "cannot append to the outbox file");
        }
    }
}

#[async_trait::async_trait]
impl Mailer for Outbox {
    async fn send(&self, email: Email) -> Result<(), MailError> {
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let key = email.to.to_lowercase();
        let line = self.file.is_some().then(|| {
            json!({
                "to": email.to, "kind": email.kind, "subject": email.subject, "url": email.url,
                "token": email.token, "otp": email.otp, "text": email.text, "at": at,
            })
            .to_string()
        });
        let Email { to, subject, text, html, kind, url, token, otp } = email;
        lock(&self.store).push(key, Stored { id: 0, to, kind, subject, url, token, otp, text, html, at });
        if let (Some(path), Some(line)) = (&self.file, line) {
            self.append_to_file(path, line).await;
        }
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn append_line(path: &Path, lock_: &Mutex<()>, line: &str) -> std::io::Result<()> {
    let _guard = lock(lock_);
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    let mut buf = Vec::with_capacity(line.len() + 1);
    buf.extend_from_slice(line.as_bytes());
    buf.push(b'\n');
    f.write_all(&buf)
}

/// `GET /__outbox?to=EMAIL`: that address's messages as a JSON array, newest first.
///
/// Every message in it is a credential, so unless `allow_remote` it answers only a client on this
/// machine that came straight to the server: the TCP peer is loopback and the request carries no
/// proxy header. A development server on 127.0.0.1 published through a local reverse proxy or a
/// tunnel (nginx, ngrok, cloudflared) would otherwise serve it to the world. Anyone else gets the
/// empty 404 of an unknown route.
pub fn router(outbox: Arc<Outbox>, allow_remote: bool) -> Router {
    Router::new().route("/__outbox", get(list)).with_state((outbox, allow_remote))
}

/// Headers a proxy or tunnel adds to what it forwards.
const FORWARDING_HEADERS: [&str; 5] = ["forwarded", "x-forwarded-for", "x-real-ip", "cf-connecting-ip", "x-forwarded-host"];

fn from_this_machine(peer: Option<SocketAddr>, headers: &HeaderMap) -> bool {
    peer.is_some_and(|p| p.ip().is_loopback() || p.ip().to_canonical().is_loopback())
        && !FORWARDING_HEADERS.iter().any(|h| headers.contains_key(*h))
}

async fn list(State((outbox, allow_remote)): State<(Arc<Outbox>, bool)>, RawQuery(query): RawQuery, req: Request) -> Response {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    if !allow_remote && !from_this_machine(peer, req.headers()) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let to = query
        .as_deref()
        .and_then(|q| url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "to").map(|(_, v)| v.into_owned()))
        .filter(|to| !to.trim().is_empty());
    let Some(to) = to else {
        let body = json!({ "message": "to is required", "code": "VALIDATION_ERROR" });
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    };
    let messages = outbox.messages_for(to.trim());
    ([(header::CACHE_CONTROL, "no-store")], Json(messages)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::templates::tests as templates;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    fn email(to: &str, token: &str) -> Email {
        templates::reset_password("App", to, &format!("http://x/reset/{token}"), token)
    }

    #[tokio::test]
    async fn keeps_newest_first_per_lowercased_address() {
        let ob = Outbox::new(None);
        ob.send(email("A@Example.com", "t1")).await.unwrap();
        ob.send(templates::verification("App", "a@example.com", "http://x/v?token=t2", "t2")).await.unwrap();
        ob.send(email("other@example.com", "t3")).await.unwrap();
        let list = ob.messages_for("a@EXAMPLE.com");
        assert_eq!(list.len(), 2);
        assert_eq!(list[0]["token"], "t2");
        assert_eq!(list[0]["kind"], "verify-email");
        assert_eq!(list[0]["url"], "http://x/v?token=t2");
        assert_eq!(list[1]["token"], "t1");
        for k in ["to", "kind", "subject", "url", "token", "text", "html", "at"] {
            assert!(list[0].get(k).is_some(), "missing {k}");
        }
        assert!(ob.messages_for("nobody@example.com").is_empty());
    }

    #[tokio::test]
    async fn only_a_direct_local_client_is_served() {
        let ob = Arc::new(Outbox::new(None));
        ob.send(email("a@b.c", "t1")).await.unwrap();
        let ask = |allow_remote: bool, peer: Option<&str>, header: Option<(&str, &str)>| {
            let ob = ob.clone();
            let peer = peer.map(|p| p.parse::<SocketAddr>().unwrap());
            let header = header.map(|(k, v)| (k.to_string(), v.to_string()));
            async move {
                let mut req = Request::get("/__outbox?to=a@b.c");
                if let Some((k, v)) = header {
                    req = req.header(k, v);
                }
                let mut req = req.body(Body::empty()).unwrap();
                if let Some(p) = peer {
                    req.extensions_mut().insert(ConnectInfo(p));
                }
                router(ob, allow_remote).oneshot(req).await.unwrap().status()
            }
        };
        assert_eq!(ask(false, Some("127.0.0.1:5000"), None).await, StatusCode::OK);
        assert_eq!(ask(false, Some("[::1]:5000"), None).await, StatusCode::OK);
        assert_eq!(ask(false, Some("[::ffff:127.0.0.1]:5000"), None).await, StatusCode::OK);
        assert_eq!(ask(false, Some("192.0.2.7:5000"), None).await, StatusCode::NOT_FOUND);
        assert_eq!(ask(false, None, None).await, StatusCode::NOT_FOUND, "unknown peer");
        for h in FORWARDING_HEADERS {
            assert_eq!(ask(false, Some("127.0.0.1:5000"), Some((h, "x"))).await, StatusCode::NOT_FOUND, "{h}: a local proxy or tunnel");
        }
        assert_eq!(ask(true, Some("192.0.2.7:5000"), Some(("x-forwarded-for", "x"))).await, StatusCode::OK);
    }

    #[tokio::test]
    async fn absent_url_and_token_are_null() {
        let ob = Outbox::new(None);
        let mut e = email("a@b.c", "t");
        (e.url, e.token) = (None, None);
        ob.send(e).await.unwrap();
        let m = &ob.messages_for("a@b.c")[0];
        assert!(m["url"].is_null() && m["token"].is_null());
    }

    #[tokio::test]
    async fn bounded_per_address_and_in_total() {
        let ob = Outbox::new(None);
        for i in 0..(MAX_PER_ADDRESS + 5) {
            ob.send(email("a@b.c", &i.to_string())).await.unwrap();
        }
        let list = ob.messages_for("a@b.c");
        assert_eq!(list.len(), MAX_PER_ADDRESS);
        assert_eq!(list[0]["token"], (MAX_PER_ADDRESS + 4).to_string());

        for i in 0..MAX_ADDRESSES {
            ob.send(email(&format!("u{i}@b.c"), "t")).await.unwrap();
        }
        assert!(ob.messages_for("a@b.c").is_empty(), "oldest address evicted");
        assert_eq!(ob.messages_for(&format!("u{}@b.c", MAX_ADDRESSES - 1)).len(), 1);
        let store = lock(&ob.store);
        assert_eq!(store.inboxes.len(), MAX_ADDRESSES);
        assert_eq!(store.by_age.len(), MAX_ADDRESSES);
        assert!(store.total <= MAX_TOTAL);
    }

    #[tokio::test]
    async fn appends_json_lines_and_survives_bad_file() {
        let path = std::env::temp_dir().join(format!("portcullis-outbox-test-{}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let ob = Outbox::new(Some(path.clone()));
        ob.send(email("a@b.c", "t1")).await.unwrap();
        ob.send(email("a@b.c", "t2")).await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["token"], "t2");
        for k in ["to", "kind", "subject", "url", "token", "text", "at"] {
            assert!(lines[0].get(k).is_some(), "missing {k}");
        }

        let bad = Outbox::new(Some(PathBuf::from("/nonexistent-dir/portcullis/outbox.jsonl")));
        bad.send(email("a@b.c", "t")).await.unwrap();
        assert_eq!(bad.messages_for("a@b.c").len(), 1);
    }

    async fn get(app: Router, uri: &str) -> (StatusCode, String, Value) {
        let res = app.oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
        let status = res.status();
        let ct = res.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
        (status, ct, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn route_lists_messages_and_requires_to() {
        let ob = Arc::new(Outbox::new(None));
        ob.send(email("a+x@b.c", "t1")).await.unwrap();
        let (status, ct, body) = get(router(ob.clone(), true), "/__outbox?to=A%2Bx%40b.c").await;
        assert_eq!(status, StatusCode::OK);
        assert!(ct.starts_with("application/json"));
        assert_eq!(body.as_array().map(Vec::len), Some(1));
        assert_eq!(body[0]["token"], "t1");
        assert!(body[0]["kind"].as_str().unwrap().contains("reset"));

        let (_, _, empty) = get(router(ob.clone(), true), "/__outbox?to=none@b.c").await;
        assert_eq!(empty, json!([]));

        for uri in ["/__outbox", "/__outbox?to=", "/__outbox?x=1"] {
            let (status, ct, body) = get(router(ob.clone(), true), uri).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert!(ct.starts_with("application/json"));
            assert_eq!(body, json!({"message": "to is required", "code": "VALIDATION_ERROR"}));
        }
    }
}
