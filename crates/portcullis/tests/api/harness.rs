//! Test harness: one real Portcullis server per test (SQLite temp file or a fresh PostgreSQL
//! database), an HTTP client with its own cookie jar, and helpers to reach the outbox and the
//! database directly.

#![allow(dead_code)]

mod client;
mod shapes;

pub use client::{Client, Resp};
pub use shapes::*;

pub use crate::common::{Backend, PASSWORD, SECRET};

use crate::common::db::TestDb;
use crate::common::{bind_loopback, spawn_server, test_config, Bound};
use portcullis::Config;
use serde_json::Value;
use std::future::Future;
use std::time::Duration;

/// Runs `test` against a fresh server. Used by [`both!`].
pub async fn run<T, F, Fut>(backend: Backend, tweak: T, test: F)
where
    T: FnOnce(&mut Config),
    F: FnOnce(TestServer) -> Fut,
    Fut: Future<Output = ()>,
{
    let srv = TestServer::start(backend, tweak).await;
    test(srv).await;
}

/// Declares one test case that runs on both backends: `name::sqlite` and `name::postgres`.
///
/// `both!(name, |srv| async move { ... });`
/// `both!(name, config = |c| { c.x = y; }, |srv| async move { ... });`
#[macro_export]
macro_rules! both {
    ($name:ident, $($rest:tt)*) => {
        $crate::on_both_backends_with_config!($name, $crate::harness::run, $($rest)*);
    };
}

pub struct TestServer {
    pub backend: Backend,
    /// `http://127.0.0.1:<port>`
    origin: String,
    /// The configuration the server runs with (after the test's tweak).
    pub config: Config,
    db: TestDb,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    /// Starts a server on a fresh database. Small argon2 parameters, rate limiting off and the
    /// development outbox on, unless `tweak` says otherwise.
    pub async fn start(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestServer {
        Self::start_with(backend, tweak, |b| b).await
    }

    /// [`start`](Self::start), with more set on the builder (hooks, capabilities).
    pub async fn start_with(
        backend: Backend,
        tweak: impl FnOnce(&mut Config),
        extend: impl FnOnce(portcullis::AuthBuilder) -> portcullis::AuthBuilder,
    ) -> TestServer {
        let bound = bind_loopback().await;
        let db = TestDb::new(backend, "portcullis_t").await;
        let mut config = config_for(&db.url, &bound);
        tweak(&mut config);

        let auth = extend(portcullis::Auth::builder(config.clone())).build().await.expect("build the server");
        let task = spawn_server(auth, bound.listener);
        TestServer { backend, origin: bound.origin, config, db, task }
    }

    /// `http://127.0.0.1:<port>`
    pub fn origin(&self) -> &str {
        &self.origin
    }
    /// `http://127.0.0.1:<port>/api/auth`
    pub fn auth_url(&self) -> String {
        format!("{}/api/auth", self.origin)
    }

    /// A client sending `Origin: <server origin>`.
    pub fn client(&self) -> Client {
        Client::new(&self.origin, Some(self.origin.clone()))
    }
    /// A client sending the given `Origin` header, or none.
    pub fn client_with_origin(&self, origin: Option<&str>) -> Client {
        Client::new(&self.origin, origin.map(str::to_string))
    }

    /// Signs up a fresh user on a new client; returns the signed-in user.
    pub async fn user(&self, name: &str) -> SignedUp {
        let client = self.client();
        let email = format!("{name}@example.com");
        let body = sign_up(&client, &email, PASSWORD, name).await;
        SignedUp {
            id: body["user"]["id"].as_str().expect("user id").to_string(),
            token: body["token"].as_str().expect("token").to_string(),
            email,
            password: PASSWORD.to_string(),
            client,
        }
    }

    /// Signs in `email` on a new client; panics unless it succeeds.
    pub async fn sign_in(&self, email: &str, password: &str) -> Client {
        let c = self.client();
        let r = c.post_json("/sign-in/email", serde_json::json!({"email": email, "password": password})).await;
        r.expect_status(200);
        c
    }

    /// The development outbox for `to`, newest first.
    pub async fn outbox(&self, to: &str) -> Vec<Value> {
        let c = self.client_with_origin(None);
        let r = c.get(&format!("{}/__outbox?to={}", self.origin, enc(to))).await;
        r.expect_status(200);
        match r.json() {
            Value::Array(a) => a.clone(),
            other => panic!("outbox is not an array: {other}"),
        }
    }

    /// Waits (briefly; mail is delivered in the background) for a message to `to` matching `pred`.
    pub async fn wait_mail(&self, to: &str, pred: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..200 {
            if let Some(m) = self.outbox(to).await.into_iter().find(|m| pred(m)) {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("no matching mail to {to}; outbox: {:?}", self.outbox(to).await);
    }
    /// The newest mail of `kind` to `to`.
    pub async fn mail_of_kind(&self, to: &str, kind: &str) -> Value {
        self.wait_mail(to, |m| m["kind"] == kind).await
    }

    /// Runs a statement against the server's database; returns the rows affected.
    pub async fn sql(&self, statement: &str) -> u64 {
        self.db.sql(statement).await
    }

    /// The first column of the first row, as text (integers and booleans are stringified).
    pub async fn sql_scalar(&self, query: &str) -> Option<String> {
        self.db.sql_scalar(query).await
    }

    /// `select count(*) ...` as a number.
    pub async fn count(&self, query: &str) -> i64 {
        self.db.count(query).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A user created by [`TestServer::user`], with the client it is signed in on.
pub struct SignedUp {
    pub client: Client,
    pub email: String,
    pub password: String,
    pub id: String,
    /// The raw session token from the sign-up response.
    pub token: String,
}

/// The configuration of a test server listening on `bound`, on the database at `db_url`.
fn config_for(db_url: &str, bound: &Bound) -> Config {
    Config { listen: ([127, 0, 0, 1], bound.port).into(), production: false, ..test_config(db_url.to_string(), &bound.origin) }
}

/// A server of the test's own on a given database (to restart it, or to run several on one).
/// Dropping it aborts it.
pub struct Instance {
    origin: String,
    pub weak: portcullis::app::WeakAuth,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Instance {
    pub async fn start(db_url: &str, tweak: &dyn Fn(&mut Config)) -> Instance {
        let bound = bind_loopback().await;
        let mut config = config_for(db_url, &bound);
        tweak(&mut config);
        let auth = portcullis::Auth::builder(config).build().await.expect("build the server");
        let weak = auth.downgrade();
        Instance { origin: bound.origin, weak, task: spawn_server(auth, bound.listener) }
    }

    /// Stops it as a crash would, and waits until nothing of it (its background work included) runs.
    pub async fn stop(self) {
        self.task.abort();
        let weak = self.weak.clone();
        wait_until("the stopped instance to be gone", || weak.upgrade().is_none()).await;
    }

    /// A new client of its own (its own connections and cookies) sending `Origin: <instance origin>`.
    pub fn client(&self) -> Client {
        Client::new(&self.origin, Some(self.origin.clone()))
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Polls `cond` every 20 ms for up to 15 s.
pub async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..750 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Signs up; panics unless the answer is 200. Returns the JSON body.
pub async fn sign_up(client: &Client, email: &str, password: &str, name: &str) -> Value {
    let r = client.post_json("/sign-up/email", serde_json::json!({"email": email, "password": password, "name": name})).await;
    r.expect_status(200);
    r.json().clone()
}
