//! Test harness: one real Portcullis server per test (SQLite temp file or a fresh PostgreSQL
//! database), an HTTP client with its own cookie jar, and helpers to reach the outbox and the
//! database directly.

#![allow(dead_code)]

mod client;
mod shapes;

pub use client::{Client, Resp};
pub use shapes::*;

use portcullis::Config;
use rand::Rng;
use serde_json::Value;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

/// The harness secret of the spec's observed exchanges (§15.1).
pub const SECRET: &str = "test-secret-0123456789abcdefghijklmnopqrstuvwxyz";
pub const PASSWORD: &str = "correct-horse-battery";
const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

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
    ($name:ident, config = $tweak:expr, $test:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test]
            async fn sqlite() {
                $crate::harness::run($crate::harness::Backend::Sqlite, $tweak, $test).await
            }
            #[tokio::test]
            async fn postgres() {
                $crate::harness::run($crate::harness::Backend::Postgres, $tweak, $test).await
            }
        }
    };
    ($name:ident, $test:expr) => {
        $crate::both!($name, config = |_: &mut portcullis::Config| {}, $test);
    };
}

enum TestDb {
    Sqlite { path: PathBuf, pool: sqlx::SqlitePool },
    Postgres { admin_url: String, name: String, pool: sqlx::PgPool },
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

fn random_suffix() -> String {
    let mut rng = rand::thread_rng();
    format!("{}_{:016x}", std::process::id(), rng.gen::<u64>())
}

impl TestServer {
    /// Starts a server on a fresh database. Small argon2 parameters, rate limiting off and the
    /// development outbox on, unless `tweak` says otherwise.
    pub async fn start(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a port");
        let port = listener.local_addr().expect("local addr").port();
        let origin = format!("http://127.0.0.1:{port}");

        let (db, database_url) = match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("portcullis_t_{}.db", random_suffix()));
                let url = format!("sqlite://{}?mode=rwc", path.display());
                let pool = sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(2)
                    .connect_with(
                        url.parse::<sqlx::sqlite::SqliteConnectOptions>().expect("sqlite url").busy_timeout(Duration::from_secs(10)),
                    )
                    .await
                    .expect("open the SQLite test database");
                (TestDb::Sqlite { path, pool }, url)
            }
            Backend::Postgres => {
                let admin_url = std::env::var("PORTCULLIS_TEST_PG").unwrap_or_else(|_| DEFAULT_PG.to_string());
                let name = format!("portcullis_t_{}", random_suffix());
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
                let pool =
                    sqlx::postgres::PgPoolOptions::new().max_connections(2).connect(&url).await.expect("connect to the test database");
                (TestDb::Postgres { admin_url, name, pool }, url)
            }
        };

        let mut config = Config {
            database_url,
            listen: ([127, 0, 0, 1], port).into(),
            secret: Some(SECRET.to_string()),
            base_url: Some(origin.clone()),
            production: false,
            migrate_on_start: true,
            ..Default::default()
        };
        config.rate_limit.enabled = Some(false);
        config.mail.dev_outbox = Some(true);
        config.password_hashing.workers = Some(2);
        config.password_hashing.memory_kib = 1024;
        config.password_hashing.iterations = 1;
        config.password_hashing.parallelism = 1;
        tweak(&mut config);

        let auth = portcullis::Auth::builder(config.clone()).build().await.expect("build the server");
        let task = tokio::spawn(portcullis::serve_on(auth, listener));
        TestServer { backend, origin, config, db, task }
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
        match &self.db {
            TestDb::Sqlite { pool, .. } => {
                sqlx::query(statement).execute(pool).await.unwrap_or_else(|e| panic!("{statement}: {e}")).rows_affected()
            }
            TestDb::Postgres { pool, .. } => {
                sqlx::query(statement).execute(pool).await.unwrap_or_else(|e| panic!("{statement}: {e}")).rows_affected()
            }
        }
    }

    /// The first column of the first row, as text (integers and booleans are stringified).
    pub async fn sql_scalar(&self, query: &str) -> Option<String> {
        use sqlx::Row;
        macro_rules! pick {
            ($row:expr) => {{
                let row = $row;
                if let Ok(v) = row.try_get::<Option<String>, _>(0) {
                    v
                } else if let Ok(v) = row.try_get::<Option<i64>, _>(0) {
                    v.map(|v| v.to_string())
                } else if let Ok(v) = row.try_get::<Option<i32>, _>(0) {
                    v.map(|v| v.to_string())
                } else {
                    row.try_get::<Option<bool>, _>(0).ok().flatten().map(|v| v.to_string())
                }
            }};
        }
        match &self.db {
            TestDb::Sqlite { pool, .. } => {
                let row = sqlx::query(query).fetch_optional(pool).await.unwrap_or_else(|e| panic!("{query}: {e}"));
                row.and_then(|r| pick!(&r))
            }
            TestDb::Postgres { pool, .. } => {
                let row = sqlx::query(query).fetch_optional(pool).await.unwrap_or_else(|e| panic!("{query}: {e}"));
                row.and_then(|r| pick!(&r))
            }
        }
    }

    /// `select count(*) ...` as a number.
    pub async fn count(&self, query: &str) -> i64 {
        self.sql_scalar(query).await.and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{query}: not a count"))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
        match &self.db {
            TestDb::Sqlite { path, .. } => {
                for suffix in ["", "-wal", "-shm", "-journal"] {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    let _ = std::fs::remove_file(p);
                }
            }
            TestDb::Postgres { admin_url, name, .. } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop may run inside the test's runtime: do the async work on a thread of its own.
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

/// Signs up; panics unless the answer is 200. Returns the JSON body.
pub async fn sign_up(client: &Client, email: &str, password: &str, name: &str) -> Value {
    let r = client.post_json("/sign-up/email", serde_json::json!({"email": email, "password": password, "name": name})).await;
    r.expect_status(200);
    r.json().clone()
}
