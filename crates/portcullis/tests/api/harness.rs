//! Test harness: one real Portcullis server per test (SQLite temp file or a fresh PostgreSQL
//! database), an HTTP client with its own cookie jar, and helpers to reach the outbox and the
//! database directly.

#![allow(dead_code)]

use chrono::{DateTime, SecondsFormat, Utc};
use portcullis::Config;
use rand::Rng;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
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
                        url.parse::<sqlx::sqlite::SqliteConnectOptions>()
                            .expect("sqlite url")
                            .busy_timeout(Duration::from_secs(10)),
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
                    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                        .execute(&mut admin)
                        .await
                        .expect("create the test database");
                    let _ = admin.close().await;
                }
                let mut url = url::Url::parse(&admin_url).expect("PORTCULLIS_TEST_PG is a URL");
                url.set_path(&format!("/{name}"));
                let url = url.to_string();
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(2)
                    .connect(&url)
                    .await
                    .expect("connect to the test database");
                (TestDb::Postgres { admin_url, name, pool }, url)
            }
        };

        let mut config = Config::default();
        config.database_url = database_url;
        config.listen = ([127, 0, 0, 1], port).into();
        config.secret = Some(SECRET.to_string());
        config.base_url = Some(origin.clone());
        config.production = false;
        config.migrate_on_start = true;
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
            TestDb::Sqlite { pool, .. } => sqlx::query(statement)
                .execute(pool)
                .await
                .unwrap_or_else(|e| panic!("{statement}: {e}"))
                .rows_affected(),
            TestDb::Postgres { pool, .. } => sqlx::query(statement)
                .execute(pool)
                .await
                .unwrap_or_else(|e| panic!("{statement}: {e}"))
                .rows_affected(),
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

/// A SQL timestamp literal both backends accept for the schema's timestamp columns.
pub fn ts(t: DateTime<Utc>) -> String {
    format!("'{}'", t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

pub fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

pub fn dec(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Standard base64 (with padding) of HMAC-SHA256(SECRET, msg): Better Auth's cookie signature.
pub fn sign(msg: &str) -> String {
    use base64::Engine;
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("hmac key");
    mac.update(msg.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// An HS256 JWT signed with the test secret (for crafting verification tokens).
pub fn jwt(claims: &Value) -> String {
    use base64::Engine;
    use hmac::Mac;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let input = format!("{}.{}", b64.encode(br#"{"alg":"HS256"}"#), b64.encode(claims.to_string()));
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("hmac key");
    mac.update(input.as_bytes());
    format!("{input}.{}", b64.encode(mac.finalize().into_bytes()))
}

/// True for `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn is_iso_ms(v: &Value) -> bool {
    let re = regex::Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$").expect("regex");
    v.as_str().is_some_and(|s| re.is_match(s))
}

pub fn parse_time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a date: {v}")))
        .unwrap_or_else(|e| panic!("not a date: {v}: {e}"))
        .with_timezone(&Utc)
}

/// Keys of the JSON object `raw`, in wire order (serde_json's `Value` sorts them).
pub fn key_order(raw: &str) -> Vec<String> {
    member_raws(raw).into_iter().map(|(k, _)| k).collect()
}

/// The raw text of member `key` of the JSON object `raw`.
pub fn member(raw: &str, key: &str) -> String {
    member_raws(raw).into_iter().find(|(k, _)| k == key).map(|(_, v)| v).unwrap_or_else(|| panic!("no {key} in {raw}"))
}

fn member_raws(raw: &str) -> Vec<(String, String)> {
    use serde::de::{Deserializer, MapAccess, Visitor};
    use serde_json::value::RawValue;
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((k, v)) = m.next_entry::<String, Box<RawValue>>()? {
                out.push((k, v.get().to_string()));
            }
            Ok(out)
        }
    }
    let mut de = serde_json::Deserializer::from_str(raw);
    de.deserialize_map(V).unwrap_or_else(|e| panic!("not a JSON object ({e}): {raw}"))
}

pub const USER_KEYS: [&str; 7] = ["name", "email", "emailVerified", "image", "createdAt", "updatedAt", "id"];
pub const SESSION_KEYS: [&str; 8] = ["expiresAt", "token", "createdAt", "updatedAt", "ipAddress", "userAgent", "userId", "id"];

/// Checks a user object has exactly Better Auth's keys with the right types.
pub fn assert_user_shape(u: &Value) {
    let obj = u.as_object().unwrap_or_else(|| panic!("user is not an object: {u}"));
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    let mut want = USER_KEYS.to_vec();
    want.sort();
    assert_eq!(keys, want, "user keys: {u}");
    assert!(u["name"].is_string() && u["email"].is_string() && u["emailVerified"].is_boolean(), "{u}");
    assert!(u["image"].is_null() || u["image"].is_string(), "{u}");
    assert!(is_iso_ms(&u["createdAt"]) && is_iso_ms(&u["updatedAt"]), "dates: {u}");
    assert!(is_id(&u["id"]), "id: {u}");
}

pub fn assert_session_shape(s: &Value) {
    let obj = s.as_object().unwrap_or_else(|| panic!("session is not an object: {s}"));
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    let mut want = SESSION_KEYS.to_vec();
    want.sort();
    assert_eq!(keys, want, "session keys: {s}");
    for k in ["expiresAt", "createdAt", "updatedAt"] {
        assert!(is_iso_ms(&s[k]), "{k}: {s}");
    }
    assert!(is_id(&s["token"]) && is_id(&s["id"]) && is_id(&s["userId"]), "{s}");
    assert!(s["ipAddress"].is_string() && s["userAgent"].is_string(), "ipAddress/userAgent are strings: {s}");
}

/// 32 characters of `[A-Za-z0-9]`.
pub fn is_id(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

// ---------------------------------------------------------------------------------------------
// HTTP client with a cookie jar

/// An HTTP client with its own cookie jar. Redirects are not followed.
pub struct Client {
    http: reqwest::Client,
    server: String,
    origin: Option<String>,
    jar: Arc<Mutex<Vec<(String, String)>>>,
}

impl Client {
    fn new(server: &str, origin: Option<String>) -> Client {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        Client { http, server: server.to_string(), origin, jar: Arc::new(Mutex::new(Vec::new())) }
    }

    /// A new client with a copy of this one's cookies (a "stolen" copy, or another tab).
    pub fn fork(&self) -> Client {
        self.fork_with_origin(self.origin.as_deref())
    }
    /// A copy of the cookies on a client sending another `Origin` (or none).
    pub fn fork_with_origin(&self, origin: Option<&str>) -> Client {
        Client {
            http: self.http.clone(),
            server: self.server.clone(),
            origin: origin.map(str::to_string),
            jar: Arc::new(Mutex::new(self.jar.lock().expect("jar").clone())),
        }
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar.lock().expect("jar").iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }
    pub fn cookie_names(&self) -> Vec<String> {
        self.jar.lock().expect("jar").iter().map(|(k, _)| k.clone()).collect()
    }
    pub fn set_cookie(&self, name: &str, value: &str) {
        let mut jar = self.jar.lock().expect("jar");
        jar.retain(|(k, _)| k != name);
        jar.push((name.to_string(), value.to_string()));
    }
    pub fn remove_cookie(&self, name: &str) {
        self.jar.lock().expect("jar").retain(|(k, _)| k != name);
    }
    /// The session cookie's value as stored (URL-encoded `token.signature`).
    pub fn session_cookie(&self) -> Option<String> {
        self.cookie("better-auth.session_token")
    }

    fn store(&self, set_cookie: &str) {
        let mut parts = set_cookie.split(';');
        let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else { return };
        let (name, value) = (name.trim(), value.trim());
        let expired = parts.any(|a| {
            let a = a.trim().to_ascii_lowercase();
            a.strip_prefix("max-age=").and_then(|n| n.parse::<i64>().ok()).is_some_and(|n| n <= 0)
        });
        let mut jar = self.jar.lock().expect("jar");
        jar.retain(|(k, _)| k != name);
        if !expired && !value.is_empty() {
            jar.push((name.to_string(), value.to_string()));
        }
    }

    /// A request to `path`: relative to `/api/auth`, or an absolute URL.
    pub fn req(&self, method: Method, path: &str) -> Req<'_> {
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}/api/auth{path}", self.server)
        };
        Req { client: self, method, url, headers: Vec::new(), body: None, origin: self.origin.clone(), cookies: true }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.req(Method::GET, path).send().await
    }
    pub async fn post_json(&self, path: &str, body: Value) -> Resp {
        self.req(Method::POST, path).json(&body).send().await
    }
    pub async fn post_raw(&self, path: &str, content_type: &str, body: impl Into<Vec<u8>>) -> Resp {
        self.req(Method::POST, path).raw(content_type, body).send().await
    }
    /// A POST without a body (and without a content type).
    pub async fn post_empty(&self, path: &str) -> Resp {
        self.req(Method::POST, path).send().await
    }
    /// `GET /get-session` as JSON (`null` when signed out); asserts 200.
    pub async fn session(&self) -> Value {
        let r = self.get("/get-session").await;
        r.expect_status(200);
        r.json().clone()
    }
    /// `GET /get-session?disableCookieCache=true`; asserts 200.
    pub async fn session_from_db(&self) -> Value {
        let r = self.get("/get-session?disableCookieCache=true").await;
        r.expect_status(200);
        r.json().clone()
    }
}

pub struct Req<'a> {
    client: &'a Client,
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<(Option<String>, Vec<u8>)>,
    origin: Option<String>,
    cookies: bool,
}

impl Req<'_> {
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }
    /// Overrides the client's `Origin` for this request (`None`: no header).
    pub fn origin(mut self, origin: Option<&str>) -> Self {
        self.origin = origin.map(str::to_string);
        self
    }
    /// Sends no `Cookie` header even if the jar has cookies.
    pub fn no_cookies(mut self) -> Self {
        self.cookies = false;
        self
    }
    pub fn json(mut self, v: &Value) -> Self {
        self.body = Some((Some("application/json".into()), v.to_string().into_bytes()));
        self
    }
    pub fn form(mut self, pairs: &[(&str, &str)]) -> Self {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
        self.body = Some((Some("application/x-www-form-urlencoded".into()), body.into_bytes()));
        self
    }
    pub fn raw(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some((Some(content_type.to_string()), body.into()));
        self
    }
    /// A body without any `Content-Type` header.
    pub fn raw_untyped(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some((None, body.into()));
        self
    }

    pub async fn send(self) -> Resp {
        let c = self.client;
        let mut rb = c.http.request(self.method.clone(), &self.url);
        if let Some(o) = &self.origin {
            rb = rb.header("origin", o);
        }
        if self.cookies {
            let jar = c.jar.lock().expect("jar").clone();
            if !jar.is_empty() {
                let header = jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
                rb = rb.header("cookie", header);
            }
        }
        for (k, v) in &self.headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        if let Some((ct, bytes)) = self.body {
            if let Some(ct) = ct {
                rb = rb.header("content-type", ct);
            }
            rb = rb.body(bytes);
        }
        let res = rb.send().await.unwrap_or_else(|e| panic!("{} {}: {e}", self.method, self.url));
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let set_cookies: Vec<String> =
            headers.get_all("set-cookie").iter().map(|v| v.to_str().expect("ascii set-cookie").to_string()).collect();
        for sc in &set_cookies {
            c.store(sc);
        }
        let text = res.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).ok();
        Resp { status, headers, set_cookies, text, json, what: format!("{} {}", self.method, self.url) }
    }
}

/// A response, read in full.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    /// Every `Set-Cookie` line, in order.
    pub set_cookies: Vec<String>,
    pub text: String,
    json: Option<Value>,
    what: String,
}

impl Resp {
    /// The parsed JSON body (panics if the body is not JSON).
    pub fn json(&self) -> &Value {
        self.json.as_ref().unwrap_or_else(|| panic!("{}: body is not JSON: {:?} (status {})", self.what, self.text, self.status))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().expect("ascii header"))
    }
    pub fn code(&self) -> Option<&str> {
        self.json.as_ref().and_then(|j| j["code"].as_str())
    }
    /// The `Set-Cookie` line for cookie `name`, if any.
    pub fn cookie_line(&self, name: &str) -> Option<&str> {
        let prefix = format!("{name}=");
        self.set_cookies.iter().find(|l| l.starts_with(&prefix)).map(String::as_str)
    }
    /// The value set for cookie `name` (empty for a deletion).
    pub fn cookie_value(&self, name: &str) -> Option<String> {
        self.cookie_line(name).map(|l| l.split(';').next().unwrap_or("")[name.len() + 1..].to_string())
    }
    /// True when this response deletes cookie `name` exactly as Better Auth does.
    pub fn deletes_cookie(&self, name: &str) -> bool {
        self.cookie_line(name) == Some(&format!("{name}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"))
    }

    #[track_caller]
    pub fn expect_status(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "{}: unexpected status; body {:?}", self.what, self.text);
        self
    }

    /// Asserts a Better Auth error: status and exactly `{"message": message, "code": code}`.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str, message: &str) -> &Self {
        self.expect_status(status);
        let want = serde_json::json!({"message": message, "code": code});
        assert_eq!(self.json(), &want, "{}: error body", self.what);
        assert!(self.text.starts_with("{\"message\":"), "{}: message comes first: {}", self.what, self.text);
        assert_eq!(self.header("content-type"), Some("application/json"), "{}", self.what);
        self
    }
    /// Asserts the status and the error code, whatever the message.
    #[track_caller]
    pub fn expect_code(&self, status: u16, code: &str) -> &Self {
        self.expect_status(status);
        assert_eq!(self.code(), Some(code), "{}: body {:?}", self.what, self.text);
        self
    }
    /// Asserts a 404 with an empty body.
    #[track_caller]
    pub fn expect_empty_404(&self) -> &Self {
        self.expect_status(404);
        assert_eq!(self.text, "", "{}: 404 body must be empty", self.what);
        self
    }
}
