//! Harness for the multi-instance suite: two Portcullis instances in-process on different loopback
//! ports sharing one fresh PostgreSQL database and one Redis, a small HTTP client with a cookie
//! jar that can talk to either, and a dedicated `redis-server` that a test can stop and restart.
//!
//! Cleanup is by Drop guards (also on panic): the database is dropped, keys under the test's
//! random prefix are deleted from the shared Redis, and a dedicated redis-server is killed.

#![allow(dead_code)]

pub use crate::common::db::PgDatabase as PgDb;
pub use crate::common::{random_hex, PASSWORD};

use crate::common::http::{no_redirects_with_timeout, CookieJar, RawResp};
use crate::common::{bind_loopback, spawn_server, test_config};
use portcullis::{Auth, Config};
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// The shared Redis (PORTCULLIS_TEST_REDIS, default redis://127.0.0.1:6379); every test uses a
/// random key prefix on it and deletes its keys afterwards.
pub fn shared_redis() -> String {
    std::env::var("PORTCULLIS_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string())
}

// ---------------------------------------------------------------- Redis

/// Synchronous access to a Redis for assertions and cleanup.
pub struct RedisView {
    url: String,
    pub prefix: String,
}

impl RedisView {
    pub fn new(url: &str, prefix: &str) -> Self {
        Self { url: url.to_string(), prefix: prefix.to_string() }
    }
    fn conn(&self) -> redis::Connection {
        redis::Client::open(self.url.as_str()).expect("redis url").get_connection().expect("connect to Redis")
    }
    pub fn get(&self, key: &str) -> Option<String> {
        redis::cmd("GET").arg(format!("{}{key}", self.prefix)).query(&mut self.conn()).expect("GET")
    }
    pub fn ttl(&self, key: &str) -> i64 {
        redis::cmd("TTL").arg(format!("{}{key}", self.prefix)).query(&mut self.conn()).expect("TTL")
    }
    pub fn keys(&self) -> Vec<String> {
        let mut c = self.conn();
        let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{}*", self.prefix)).query(&mut c).expect("KEYS");
        keys.into_iter().map(|k| k[self.prefix.len()..].to_string()).collect()
    }
    pub fn raw(&self, args: &[&str]) -> redis::Value {
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(&mut self.conn()).expect("redis command")
    }
    /// Deletes every key under the prefix (best effort).
    pub fn clear(&self) {
        let Ok(client) = redis::Client::open(self.url.as_str()) else { return };
        let Ok(mut c) = client.get_connection_with_timeout(Duration::from_secs(1)) else { return };
        let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{}*", self.prefix)).query(&mut c).unwrap_or_default();
        for k in keys {
            let _: Result<(), _> = redis::cmd("DEL").arg(k).query(&mut c);
        }
    }
}

/// A `redis-server` of the test's own on a spare loopback port; killed on drop.
pub struct RedisProc {
    pub port: u16,
    child: Option<Child>,
    /// With persistence: the directory of its append-only file (removed on drop).
    dir: Option<std::path::PathBuf>,
}

impl RedisProc {
    pub async fn start() -> RedisProc {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("spare port").local_addr().expect("addr").port();
        let mut p = RedisProc { port, child: None, dir: None };
        p.restart().await;
        p
    }
    /// A server that keeps its data across [`stop`](Self::stop) and [`restart`](Self::restart),
    /// even a kill: every write is in an append-only file synced before Redis answers.
    pub async fn start_persistent() -> RedisProc {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("spare port").local_addr().expect("addr").port();
        let dir = std::env::temp_dir().join(format!("portcullis-redis-{}", crate::common::random_suffix()));
        std::fs::create_dir_all(&dir).expect("redis data directory");
        let mut p = RedisProc { port, child: None, dir: Some(dir) };
        p.restart().await;
        p
    }
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
    pub async fn restart(&mut self) {
        let port = self.port.to_string();
        let mut args = vec!["--port", &port, "--bind", "127.0.0.1", "--save", ""];
        let dir = self.dir.as_ref().map(|d| d.display().to_string());
        match &dir {
            Some(d) => args.extend(["--appendonly", "yes", "--appendfsync", "always", "--dir", d.as_str()]),
            None => args.extend(["--appendonly", "no"]),
        }
        let child = Command::new("/usr/bin/redis-server")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        for _ in 0..200 {
            if let Ok(c) = redis::Client::open(self.url()) {
                if let Ok(mut conn) = c.get_connection_with_timeout(Duration::from_millis(200)) {
                    if redis::cmd("PING").query::<String>(&mut conn).is_ok() {
                        return;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("redis-server did not start on port {}", self.port);
    }
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisProc {
    fn drop(&mut self) {
        self.stop();
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

// ---------------------------------------------------------------- servers

pub struct Instance {
    pub origin: String,
    pub auth: Auth,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Two instances on one database and one Redis prefix.
pub struct Cluster {
    pub a: Instance,
    pub b: Instance,
    pub redis: RedisView,
    pub db: PgDb,
    pub config: Config,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.redis.clear();
    }
}

impl Cluster {
    /// Starts A (which migrates) then B, both with `redis_url` and a random key prefix.
    pub async fn start(redis_url: &str, tweak: impl Fn(&mut Config)) -> Cluster {
        let db = PgDb::create("portcullis_scale").await;
        let prefix = format!("pc-test-{}:", random_hex());
        let (la, lb) = (bind_loopback().await, bind_loopback().await);
        let (oa, ob) = (la.origin, lb.origin);
        let mut config = Config {
            trusted_origins: vec![ob.clone()],
            secondary_storage: Some(portcullis::config::SecondaryStorageConfig {
                url: redis_url.to_string(),
                prefix: prefix.clone(),
                ..Default::default()
            }),
            ..test_config(db.url.clone(), &oa)
        };
        tweak(&mut config);
        let a = Self::instance(config.clone(), la.listener, oa).await;
        let mut cb = config.clone();
        cb.base_url = Some(ob.clone());
        cb.trusted_origins = vec![a.origin.clone()];
        let b = Self::instance(cb, lb.listener, ob).await;
        Cluster { a, b, redis: RedisView::new(redis_url, &prefix), db, config }
    }

    async fn instance(config: Config, listener: tokio::net::TcpListener, origin: String) -> Instance {
        let auth = Auth::builder(config).build().await.expect("build the server");
        let task = spawn_server(auth.clone(), listener);
        Instance { origin, auth, task }
    }

    /// Stops A as a crash would (no replay, no shutdown work) and starts a new A on the same
    /// database and Redis, on another port. Waits until nothing of the old A is left running, so
    /// whatever the new one does is its own work. Clients that talked to the old A over kept-alive
    /// connections keep it alive: drop them first.
    pub async fn restart_a(&mut self) {
        let old_sessions = Arc::downgrade(&self.a.auth.sessions);
        let bound = bind_loopback().await;
        let mut config = self.config.clone();
        config.base_url = Some(bound.origin.clone());
        // Clients keep sending the old origin.
        config.trusted_origins.push(self.a.origin.clone());
        let fresh = Self::instance(config, bound.listener, bound.origin).await;
        drop(std::mem::replace(&mut self.a, fresh));
        for _ in 0..200 {
            if old_sessions.upgrade().is_none() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the old instance A is still alive (a client still holds a connection to it?)");
    }

    /// Runs a statement on the cluster's database.
    pub async fn sql(&self, statement: &str) {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&self.db.url).await.expect("connect");
        sqlx::query(statement).execute(&mut c).await.unwrap_or_else(|e| panic!("{statement}: {e}"));
        let _ = c.close().await;
    }

    /// A client whose requests come from `ip` (via X-Forwarded-For).
    pub fn client(&self) -> Client {
        Client::new(&self.a.origin, &format!("10.{}.{}.{}", rand::random::<u8>(), rand::random::<u8>(), rand::random::<u8>()))
    }
}

// ---------------------------------------------------------------- client

pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

/// A cookie jar shared by requests to either instance (both serve the same cookies).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    origin: String,
    ip: String,
    jar: CookieJar,
}

impl Client {
    pub fn new(origin: &str, ip: &str) -> Client {
        Client { http: no_redirects_with_timeout(), origin: origin.to_string(), ip: ip.to_string(), jar: CookieJar::default() }
    }

    /// A copy with its own jar (another device holding the same cookies).
    pub fn fork(&self) -> Client {
        Client { jar: self.jar.copy(), ..self.clone() }
    }

    /// A fork with its own connections too (it keeps no connection of this client's alive).
    pub fn detached(&self) -> Client {
        Client { http: no_redirects_with_timeout(), ..self.fork() }
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar.get(name)
    }

    pub async fn send(&self, method: reqwest::Method, url: String, body: Option<Value>) -> Resp {
        let mut req = self.http.request(method, url).header("origin", &self.origin).header("x-forwarded-for", &self.ip);
        if let Some(cookies) = self.jar.header() {
            req = req.header("cookie", cookies);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        let res = req.send().await.expect("request");
        let RawResp { status, headers, set_cookies, text } = RawResp::read(res).await;
        for v in &set_cookies {
            self.jar.store(v);
        }
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp { status, headers, body, text }
    }

    pub async fn get(&self, on: &Instance, path: &str) -> Resp {
        self.send(reqwest::Method::GET, format!("{}/api/auth{path}", on.origin), None).await
    }
    pub async fn post(&self, on: &Instance, path: &str, body: Value) -> Resp {
        self.send(reqwest::Method::POST, format!("{}/api/auth{path}", on.origin), Some(body)).await
    }
    /// get-session on `on`; asserts 200 and returns the body (`null` when signed out).
    pub async fn session(&self, on: &Instance) -> Value {
        let r = self.get(on, "/get-session").await;
        assert_eq!(r.status, 200, "get-session: {}", r.text);
        r.body
    }

    /// Signs up a fresh user on `on`.
    pub async fn sign_up(&self, on: &Instance, name: &str) -> SignedUp {
        let email = format!("{name}-{}@example.com", random_hex());
        let r = self.post(on, "/sign-up/email", serde_json::json!({"email": email, "password": PASSWORD, "name": name})).await;
        assert_eq!(r.status, 200, "sign-up: {}", r.text);
        SignedUp {
            id: r.body["user"]["id"].as_str().expect("id").to_string(),
            token: r.body["token"].as_str().expect("token").to_string(),
            email,
        }
    }

    /// Signs in `email` on `on` (any status is returned).
    pub async fn sign_in(&self, on: &Instance, email: &str) -> Resp {
        self.post(on, "/sign-in/email", serde_json::json!({"email": email, "password": PASSWORD})).await
    }
}

pub struct SignedUp {
    pub id: String,
    pub token: String,
    pub email: String,
}
