//! A small harness for the token tests: a fresh database per test (SQLite temp file, or a new
//! PostgreSQL database dropped afterwards), any number of Portcullis servers on it, a plain HTTP
//! client (cookies handled by hand, since bearer clients have none) and JWT verification against a
//! server's JWKS with `jsonwebtoken`, as a relying party would do it.

#![allow(dead_code)]

pub use crate::common::{Backend, PASSWORD};

use crate::common::http::{no_redirects, RawResp};
use crate::common::{bind_loopback, db::Pool, random_suffix, spawn_server, test_config};
use portcullis::Config;
use serde_json::{json, Value};
use std::future::Future;
use std::sync::Arc;

/// Declares a test that runs on SQLite and on PostgreSQL: `name::sqlite`, `name::postgres`.
#[macro_export]
macro_rules! both {
    ($name:ident, $test:expr) => {
        $crate::on_both_backends!($name, $crate::harness::run, $test);
    };
}

pub async fn run<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(Arc<TestDb>) -> Fut,
    Fut: Future<Output = ()>,
{
    test(TestDb::new(backend).await).await;
}

/// A test database; dropped (PostgreSQL) or deleted (SQLite) with the last reference.
pub struct TestDb(crate::common::db::TestDb);

impl std::ops::Deref for TestDb {
    type Target = crate::common::db::TestDb;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl TestDb {
    pub async fn new(backend: Backend) -> Arc<TestDb> {
        Arc::new(TestDb(crate::common::db::TestDb::new(backend, "portcullis_tok").await))
    }

    /// Sets `jwks.expiresAt` of key `kid` to now + `offset_secs` (negative: in the past).
    pub async fn set_key_expiry(&self, kid: &str, offset_secs: i64) {
        let at = chrono::Utc::now() + chrono::Duration::seconds(offset_secs);
        let n = match &self.pool {
            Pool::Sqlite(pool) => sqlx::query("update jwks set \"expiresAt\" = ?1 where id = ?2")
                .bind(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                .bind(kid)
                .execute(pool)
                .await
                .expect("update jwks")
                .rows_affected(),
            Pool::Postgres(pool) => sqlx::query("update jwks set \"expiresAt\" = $1 where id = $2")
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
        match &self.pool {
            Pool::Sqlite(pool) => sqlx::query_as(q).fetch_all(pool).await.expect("read jwks"),
            Pool::Postgres(pool) => sqlx::query_as(q).fetch_all(pool).await.expect("read jwks"),
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
        let bound = bind_loopback().await;
        let mut config = Config { listen: ([127, 0, 0, 1], bound.port).into(), ..test_config(db.url.clone(), &bound.origin) };
        config.mail.dev_outbox = Some(false);
        tweak(&mut config);
        let auth = portcullis::Auth::builder(config.clone()).build().await.expect("build the server");
        let task = spawn_server(auth, bound.listener);
        Server { origin: bound.origin, config, task, _db: db.clone() }
    }

    /// jwt on with the given tweak on top.
    pub async fn jwt(db: &Arc<TestDb>, tweak: impl FnOnce(&mut Config)) -> Server {
        Self::start(db, |c| {
            crate::common::jwt(c).enabled = true;
            tweak(c)
        })
        .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/api/auth{path}", self.origin)
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        let mut req = no_redirects().get(self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Resp::read(req.send().await.expect("GET")).await
    }

    pub async fn post(&self, path: &str, body: Value, headers: &[(&str, &str)]) -> Resp {
        let mut req = no_redirects().post(self.url(path)).json(&body);
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

pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Resp {
    async fn read(r: reqwest::Response) -> Self {
        let RawResp { status, headers, text, .. } = RawResp::read(r).await;
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
