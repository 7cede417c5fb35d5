//! Harness for the multi-instance suite: two Portcullis instances in-process on different loopback
//! ports sharing one fresh PostgreSQL database and one Redis, a small HTTP client with a cookie
//! jar that can talk to either, and a dedicated `redis-server` that a test can stop and restart.
//!
//! Cleanup is by Drop guards (also on panic): the database is dropped, keys under the test's
//! random prefix are deleted from the shared Redis, and a dedicated redis-server is killed.

#![allow(dead_code)]

use portcullis::{Auth, Config};
use rand::Rng;
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const SECRET: &str = "test-secret-0123456789abcdefghijklmnopqrstuvwxyz";
pub const PASSWORD: &str = "correct-horse-battery";
const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// The shared Redis (PORTCULLIS_TEST_REDIS, default redis://127.0.0.1:6379); every test uses a
/// random key prefix on it and deletes its keys afterwards.
pub fn shared_redis() -> String {
    std::env::var("PORTCULLIS_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string())
}

pub fn random_hex() -> String {
    format!("{:016x}", rand::thread_rng().gen::<u64>())
}

// ---------------------------------------------------------------- PostgreSQL

pub struct PgDb {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PgDb {
    pub async fn create() -> PgDb {
        use sqlx::Connection;
        let admin_url = std::env::var("PORTCULLIS_TEST_PG").unwrap_or_else(|_| DEFAULT_PG.to_string());
        let name = format!("portcullis_scale_{}_{}", std::process::id(), random_hex());
        let mut admin =
            sqlx::PgConnection::connect(&admin_url).await.unwrap_or_else(|e| panic!("PostgreSQL is required ({admin_url}): {e}"));
        sqlx::query(&format!("CREATE DATABASE \"{name}\"")).execute(&mut admin).await.expect("create the test database");
        let _ = admin.close().await;
        let mut url = url::Url::parse(&admin_url).expect("PORTCULLIS_TEST_PG is a URL");
        url.set_path(&format!("/{name}"));
        PgDb { admin_url, name, url: url.to_string() }
    }

    pub async fn count(&self, query: &str) -> i64 {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&self.url).await.expect("connect");
        let n: i64 = sqlx::query_scalar(query).fetch_one(&mut c).await.unwrap_or_else(|e| panic!("{query}: {e}"));
        let _ = c.close().await;
        n
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                use sqlx::Connection;
                if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut admin).await;
                    let _ = admin.close().await;
                }
            })
        });
        let _ = done.join();
    }
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
}

impl RedisProc {
    pub async fn start() -> RedisProc {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("spare port").local_addr().expect("addr").port();
        let mut p = RedisProc { port, child: None };
        p.restart().await;
        p
    }
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
    pub async fn restart(&mut self) {
        let child = Command::new("/usr/bin/redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
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
        let db = PgDb::create().await;
        let prefix = format!("pc-test-{}:", random_hex());
        let la = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let lb = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let oa = format!("http://127.0.0.1:{}", la.local_addr().expect("addr").port());
        let ob = format!("http://127.0.0.1:{}", lb.local_addr().expect("addr").port());
        let mut config = Config {
            database_url: db.url.clone(),
            secret: Some(SECRET.to_string()),
            base_url: Some(oa.clone()),
            trusted_origins: vec![ob.clone()],
            migrate_on_start: true,
            secondary_storage: Some(portcullis::config::SecondaryStorageConfig {
                url: redis_url.to_string(),
                prefix: prefix.clone(),
                ..Default::default()
            }),
            ..Default::default()
        };
        config.rate_limit.enabled = Some(false);
        config.mail.dev_outbox = Some(true);
        config.password_hashing.workers = Some(2);
        config.password_hashing.memory_kib = 1024;
        config.password_hashing.iterations = 1;
        config.password_hashing.parallelism = 1;
        tweak(&mut config);
        let a = Self::instance(config.clone(), la, oa).await;
        let mut cb = config.clone();
        cb.base_url = Some(ob.clone());
        cb.trusted_origins = vec![a.origin.clone()];
        let b = Self::instance(cb, lb, ob).await;
        Cluster { a, b, redis: RedisView::new(redis_url, &prefix), db, config }
    }

    async fn instance(config: Config, listener: tokio::net::TcpListener, origin: String) -> Instance {
        let auth = Auth::builder(config).build().await.expect("build the server");
        let task = tokio::spawn(portcullis::serve_on(auth.clone(), listener));
        Instance { origin, auth, task }
    }

    /// A client whose requests come from `ip` (via X-Forwarded-For).
    pub fn client(&self) -> Client {
        Client::new(&self.a.origin, &format!("10.{}.{}.{}", rand::random::<u8>(), rand::random::<u8>(), rand::random::<u8>()))
    }
}

// ---------------------------------------------------------------- client

pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub text: String,
}

/// A cookie jar shared by requests to either instance (both serve the same cookies).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    origin: String,
    ip: String,
    jar: Arc<Mutex<Vec<(String, String)>>>,
}

impl Client {
    pub fn new(origin: &str, ip: &str) -> Client {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        Client { http, origin: origin.to_string(), ip: ip.to_string(), jar: Arc::default() }
    }

    /// A copy with its own jar (another device holding the same cookies).
    pub fn fork(&self) -> Client {
        Client { jar: Arc::new(Mutex::new(self.jar.lock().expect("jar").clone())), ..self.clone() }
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar.lock().expect("jar").iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    fn store(&self, set_cookie: &str) {
        let mut parts = set_cookie.split(';');
        let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else { return };
        let (name, value) = (name.trim(), value.trim());
        let expired = parts
            .any(|a| a.trim().to_ascii_lowercase().strip_prefix("max-age=").and_then(|n| n.parse::<i64>().ok()).is_some_and(|n| n <= 0));
        let mut jar = self.jar.lock().expect("jar");
        jar.retain(|(k, _)| k != name);
        if !expired && !value.is_empty() {
            jar.push((name.to_string(), value.to_string()));
        }
    }

    pub async fn send(&self, method: reqwest::Method, url: String, body: Option<Value>) -> Resp {
        let mut req = self.http.request(method, url).header("origin", &self.origin).header("x-forwarded-for", &self.ip);
        let cookies = self.jar.lock().expect("jar").iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        if !cookies.is_empty() {
            req = req.header("cookie", cookies);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        for v in res.headers().get_all("set-cookie") {
            self.store(v.to_str().expect("ascii cookie"));
        }
        let text = res.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp { status, body, text }
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
