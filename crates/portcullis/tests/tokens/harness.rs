//! A small harness for the token tests: a fresh database per test (SQLite temp file, or a new
//! PostgreSQL database dropped afterwards), any number of Portcullis servers on it, a plain HTTP
//! client (cookies handled by hand, since bearer clients have none) and JWT verification against a
//! server's JWKS with `jsonwebtoken`, as a relying party would do it.

#![allow(dead_code)]

use portcullis::Config;
use rand::Rng;
use serde_json::{json, Value};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The harness secret of the spec's observed exchanges (core §15.1).
pub const SECRET: &str = "test-secret-0123456789abcdefghijklmnopqrstuvwxyz";
pub const PASSWORD: &str = "correct-horse-battery";
const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Declares a test that runs on SQLite and on PostgreSQL: `name::sqlite`, `name::postgres`.
#[macro_export]
macro_rules! both {
    ($name:ident, $test:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test]
            async fn sqlite() {
                $crate::harness::run($crate::harness::Backend::Sqlite, $test).await
            }
            #[tokio::test]
            async fn postgres() {
                $crate::harness::run($crate::harness::Backend::Postgres, $test).await
            }
        }
    };
}

pub async fn run<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(Arc<TestDb>) -> Fut,
    Fut: Future<Output = ()>,
{
    test(TestDb::new(backend).await).await;
}

fn random_suffix() -> String {
    format!("{}_{:016x}", std::process::id(), rand::thread_rng().gen::<u64>())
}

/// A test database; dropped (PostgreSQL) or deleted (SQLite) with the last reference.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    inner: Inner,
}

enum Inner {
    Sqlite { path: PathBuf, pool: sqlx::SqlitePool },
    Postgres { admin_url: String, name: String, pool: sqlx::PgPool },
}

impl TestDb {
    pub async fn new(backend: Backend) -> Arc<TestDb> {
        let db = match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("portcullis_tok_{}.db", random_suffix()));
                let url = format!("sqlite://{}?mode=rwc", path.display());
                let opts = url.parse::<sqlx::sqlite::SqliteConnectOptions>().expect("sqlite url").busy_timeout(Duration::from_secs(10));
                let pool = sqlx::sqlite::SqlitePoolOptions::new().max_connections(2).connect_with(opts).await.expect("open SQLite");
                TestDb { backend, url, inner: Inner::Sqlite { path, pool } }
            }
            Backend::Postgres => {
                let admin_url = std::env::var("PORTCULLIS_TEST_PG").unwrap_or_else(|_| DEFAULT_PG.to_string());
                let name = format!("portcullis_tok_{}", random_suffix());
                {
                    use sqlx::Connection;
                    let mut admin = sqlx::PgConnection::connect(&admin_url)
                        .await
                        .unwrap_or_else(|e| panic!("PostgreSQL is required for the test suite ({admin_url}): {e}"));
                    sqlx::query(&format!("CREATE DATABASE \"{name}\"")).execute(&mut admin).await.expect("create the test database");
                    let _ = admin.close().await;
                }
                let mut url = url::Url::parse(&admin_url).expect("PORTCULLIS_TEST_PG is a URL");
                url.set_path(&format!("/{name}"));
                let url = url.to_string();
                let pool = sqlx::postgres::PgPoolOptions::new().max_connections(2).connect(&url).await.expect("connect");
                TestDb { backend, url, inner: Inner::Postgres { admin_url, name, pool } }
            }
        };
        Arc::new(db)
    }

    /// Runs a statement; returns the rows affected.
    pub async fn sql(&self, statement: &str) -> u64 {
        let r = match &self.inner {
            Inner::Sqlite { pool, .. } => sqlx::query(statement).execute(pool).await.map(|r| r.rows_affected()),
            Inner::Postgres { pool, .. } => sqlx::query(statement).execute(pool).await.map(|r| r.rows_affected()),
        };
        r.unwrap_or_else(|e| panic!("{statement}: {e}"))
    }

    /// Sets `jwks.expiresAt` of key `kid` to now + `offset_secs` (negative: in the past).
    pub async fn set_key_expiry(&self, kid: &str, offset_secs: i64) {
        let at = chrono::Utc::now() + chrono::Duration::seconds(offset_secs);
        let n = match &self.inner {
            Inner::Sqlite { pool, .. } => sqlx::query("update jwks set \"expiresAt\" = ?1 where id = ?2")
                .bind(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                .bind(kid)
                .execute(pool)
                .await
                .expect("update jwks")
                .rows_affected(),
            Inner::Postgres { pool, .. } => sqlx::query("update jwks set \"expiresAt\" = $1 where id = $2")
                .bind(at)
                .bind(kid)
                .execute(pool)
                .await
                .expect("update jwks")
                .rows_affected(),
        };
        assert_eq!(n, 1, "key {kid} exists");
    }

    /// `(privateKey, alg, crv)` of every `jwks` row.
    pub async fn jwks_rows(&self) -> Vec<(String, Option<String>, Option<String>)> {
        let q = "select \"privateKey\", alg, crv from jwks order by \"createdAt\"";
        match &self.inner {
            Inner::Sqlite { pool, .. } => sqlx::query_as(q).fetch_all(pool).await.expect("read jwks"),
            Inner::Postgres { pool, .. } => sqlx::query_as(q).fetch_all(pool).await.expect("read jwks"),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.inner {
            Inner::Sqlite { path, .. } => {
                for suffix in ["", "-wal", "-shm", "-journal"] {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    let _ = std::fs::remove_file(p);
                }
            }
            Inner::Postgres { admin_url, name, .. } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop may run inside the test's runtime: do the async work on a thread of its own.
                let done = std::thread::spawn(move || {
                    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
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
    }
}

/// One Portcullis server on a [`TestDb`].
pub struct Server {
    pub origin: String,
    pub config: Config,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    // Keeps the database alive as long as a server uses it.
    _db: Arc<TestDb>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// Starts a server with jwt and bearer off unless `tweak` turns them on.
    pub async fn start(db: &Arc<TestDb>, tweak: impl FnOnce(&mut Config)) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a port");
        let port = listener.local_addr().expect("local addr").port();
        let origin = format!("http://127.0.0.1:{port}");
        let mut config = Config {
            database_url: db.url.clone(),
            listen: ([127, 0, 0, 1], port).into(),
            secret: Some(SECRET.to_string()),
            base_url: Some(origin.clone()),
            migrate_on_start: true,
            ..Default::default()
        };
        config.rate_limit.enabled = Some(false);
        config.mail.dev_outbox = Some(false);
        config.password_hashing.workers = Some(2);
        config.password_hashing.memory_kib = 1024;
        config.password_hashing.iterations = 1;
        config.password_hashing.parallelism = 1;
        tweak(&mut config);
        let auth = portcullis::Auth::builder(config.clone()).build().await.expect("build the server");
        let task = tokio::spawn(portcullis::serve_on(auth, listener));
        Server { origin, config, task, _db: db.clone() }
    }

    /// jwt on with the given tweak on top.
    pub async fn jwt(db: &Arc<TestDb>, tweak: impl FnOnce(&mut Config)) -> Server {
        Self::start(db, |c| {
            c.jwt.enabled = true;
            tweak(c)
        })
        .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/api/auth{path}", self.origin)
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        let mut req = http().get(self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Resp::read(req.send().await.expect("GET")).await
    }

    pub async fn post(&self, path: &str, body: Value, headers: &[(&str, &str)]) -> Resp {
        let mut req = http().post(self.url(path)).json(&body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Resp::read(req.send().await.expect("POST")).await
    }

    /// Signs up a fresh user; returns the answer (token, user, cookies).
    pub async fn sign_up(&self, name: &str) -> Resp {
        let email = format!("{name}-{}@example.com", random_suffix());
        let r = self.post("/sign-up/email", json!({"email": email, "password": PASSWORD, "name": name}), &[("origin", &self.origin)]).await;
        assert_eq!(r.status, 200, "sign-up: {}", r.text);
        r
    }

    /// The JWKS as JSON.
    pub async fn jwks(&self) -> Value {
        let r = self.get("/jwks", &[]).await;
        assert_eq!(r.status, 200, "jwks: {}", r.text);
        r.json()
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Resp {
    async fn read(r: reqwest::Response) -> Self {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.expect("body");
        Resp { status, headers, text }
    }
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
    }
    /// The `name=value` pair of the `session_token` cookie this answer sets.
    pub fn session_cookie(&self) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .find(|p| p.starts_with("better-auth.session_token="))
            .map(str::to_string)
    }
}

/// Verifies `token` against a JWKS document the way a relying party does: key by `kid`, the
/// algorithm the key declares, issuer, audience, expiry. Returns the claims or why it failed.
pub fn verify_with_jwks(jwks: &Value, token: &str, expected: &str) -> Result<serde_json::Map<String, Value>, String> {
    use jsonwebtoken::{decode, decode_header, jwk::Jwk, Algorithm, DecodingKey, Validation};
    let header = decode_header(token).map_err(|e| format!("header: {e}"))?;
    let kid = header.kid.ok_or("no kid")?;
    let keys = jwks["keys"].as_array().ok_or("no keys")?;
    let key = keys.iter().find(|k| k["kid"] == kid.as_str()).ok_or_else(|| format!("kid {kid} not in the JWKS"))?;
    let alg: Algorithm = key["alg"].as_str().ok_or("no alg")?.parse().map_err(|e| format!("alg: {e}"))?;
    if alg != header.alg {
        return Err(format!("token alg {:?} differs from the key's {alg:?}", header.alg));
    }
    let jwk: Jwk = serde_json::from_value(key.clone()).map_err(|e| format!("jwk: {e}"))?;
    let dk = DecodingKey::from_jwk(&jwk).map_err(|e| format!("key: {e}"))?;
    let mut v = Validation::new(alg);
    v.set_issuer(&[expected]);
    v.set_audience(&[expected]);
    v.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
    decode::<serde_json::Map<String, Value>>(token, &dk, &v).map(|d| d.claims).map_err(|e| format!("verify: {e}"))
}

/// The header of a JWT as JSON (to check exactly what is in it).
pub fn jwt_header(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').next().expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).expect("base64url header");
    serde_json::from_slice(&bytes).expect("JSON header")
}
