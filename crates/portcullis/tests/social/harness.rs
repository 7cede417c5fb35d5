//! Harness for the social sign-in tests: a Portcullis server on SQLite or a fresh PostgreSQL
//! database, a browser-like client with a cookie jar, and direct database counts.

#![allow(dead_code)]

pub use crate::common::{Backend, SECRET};

use crate::common::db::{PgDatabase, SqliteFile};
use crate::common::http::no_redirects;
use crate::common::{bind_loopback, spawn_server};
use crate::idp::{Idp, CLIENT_ID, CLIENT_SECRET};
use portcullis::plugins::social::config::{ProviderConfig, ProviderKind};
use portcullis::store::{Db, PoolOptions};
use portcullis::{Auth, Config};
use serde_json::Value;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

pub struct Server {
    pub origin: String,
    pub auth: Auth,
    pub db: Db,
    pub idp: Idp,
    pg: Option<PgDatabase>,
    sqlite: Option<SqliteFile>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// The generic OIDC provider `fake`, plus `github`, `twitter`, `facebook` and `discord`, all
/// pointing at the fake IdP.
pub fn providers(idp: &Idp) -> BTreeMap<String, ProviderConfig> {
    let mut m = BTreeMap::new();
    let base = ProviderConfig { client_id: CLIENT_ID.into(), client_secret: Some(CLIENT_SECRET.into()), ..Default::default() };
    m.insert(
        "fake".to_string(),
        ProviderConfig {
            kind: Some(ProviderKind::Oidc),
            discovery_url: Some(format!("{}/.well-known/openid-configuration", idp.url)),
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
            ..base.clone()
        },
    );
    m.insert(
        "github".to_string(),
        ProviderConfig {
            authorization_url: Some(format!("{}/authorize", idp.url)),
            token_url: Some(format!("{}/token", idp.url)),
            api_url: Some(idp.url.clone()),
            ..base.clone()
        },
    );
    for id in ["twitter", "facebook"] {
        m.insert(
            id.to_string(),
            ProviderConfig {
                authorization_url: Some(format!("{}/authorize", idp.url)),
                token_url: Some(format!("{}/token", idp.url)),
                api_url: Some(idp.url.clone()),
                // Facebook's issuer (of Limited Login ID tokens) is also what a callback's `iss` must be.
                issuer: (id == "facebook").then(|| idp.url.clone()),
                ..base.clone()
            },
        );
    }
    m.insert(
        "discord".to_string(),
        ProviderConfig {
            authorization_url: Some(format!("{}/authorize", idp.url)),
            token_url: Some(format!("{}/token", idp.url)),
            userinfo_url: Some(format!("{}/api/users/%40me", idp.url)),
            scopes: vec![],
            ..base
        },
    );
    m
}

impl Server {
    pub async fn start(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Server {
        Self::start_with(backend, tweak, Vec::new()).await
    }

    /// A server with extra capabilities registered through the public builder.
    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config), caps: Vec<Arc<dyn portcullis::Capability>>) -> Server {
        let idp = Idp::start().await;
        let bound = bind_loopback().await;
        let (listener, origin) = (bound.listener, bound.origin);
        let (url, pg, sqlite) = match backend {
            Backend::Sqlite => {
                let file = SqliteFile::new("portcullis-social");
                (file.url.clone(), None, Some(file))
            }
            Backend::Postgres => {
                let pg = PgDatabase::create("social").await;
                (pg.url.clone(), Some(pg), None)
            }
        };
        let mut cfg =
            Config { base_url: Some(origin.clone()), secret: Some(SECRET.into()), database_url: url.clone(), ..Default::default() };
        crate::common::social(&mut cfg).providers = providers(&idp);
        tweak(&mut cfg);
        let db = Db::connect(&url, &PoolOptions::default()).await.unwrap();
        // The builder makes its own store: it knows the capabilities' user fields (two-factor's).
        let auth = caps.into_iter().fold(Auth::builder(cfg), |b, c| b.capability(c)).build().await.unwrap();
        let task = spawn_server(auth.clone(), listener);
        Server { origin, auth, db, idp, pg, sqlite, task }
    }

    pub async fn stop(self) {
        self.task.abort();
        self.db.close().await;
        // Dropping them drops the PostgreSQL database or deletes the SQLite files.
        drop(self.pg);
        drop(self.sqlite);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/api/auth{path}", self.origin)
    }

    pub async fn count(&self, table: &str) -> i64 {
        self.db.fetch_optional(&format!("select count(*) from \"{table}\""), &[], |r| r.int(0)).await.unwrap().unwrap_or(0)
    }

    pub async fn scalar(&self, sql: &str) -> Option<String> {
        self.db.fetch_optional(sql, &[], |r| r.opt_text(0)).await.unwrap().flatten()
    }
}

/// A browser: one cookie jar, an Origin header on requests, redirects not followed.
pub struct Browser {
    pub http: reqwest::Client,
    pub jar: BTreeMap<String, String>,
    pub origin: String,
}

pub struct Res {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub body: Value,
}

impl Browser {
    pub fn new(srv: &Server) -> Browser {
        Browser { http: no_redirects(), jar: BTreeMap::new(), origin: srv.origin.clone() }
    }

    fn cookie_header(&self) -> String {
        self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn finish(&mut self, res: reqwest::Response) -> Res {
        let status = res.status().as_u16();
        let location = res.headers().get("location").map(|v| v.to_str().unwrap().to_string());
        let set_cookies: Vec<String> = res.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
        for c in &set_cookies {
            let pair = c.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() || c.contains("Max-Age=0") {
                self.jar.remove(k);
            } else {
                self.jar.insert(k.to_string(), v.to_string());
            }
        }
        let text = res.text().await.unwrap();
        Res { status, location, set_cookies, body: serde_json::from_str(&text).unwrap_or(Value::Null) }
    }

    pub async fn post(&mut self, url: &str, body: Value) -> Res {
        let mut req = self.http.post(url).json(&body).header("origin", &self.origin);
        if !self.jar.is_empty() {
            req = req.header("cookie", self.cookie_header());
        }
        let res = req.send().await.unwrap();
        self.finish(res).await
    }

    pub async fn get(&mut self, url: &str) -> Res {
        let mut req = self.http.get(url);
        if !self.jar.is_empty() {
            req = req.header("cookie", self.cookie_header());
        }
        let res = req.send().await.unwrap();
        self.finish(res).await
    }

    pub fn has_session(&self) -> bool {
        self.jar.contains_key("better-auth.session_token")
    }
}

/// Follows an authorization URL at the IdP (no login page) and returns where it sends the browser.
pub async fn at_idp(url: &str) -> String {
    let res = no_redirects().get(url).send().await.unwrap();
    assert!(matches!(res.status().as_u16(), 302 | 303), "IdP refused: {}", res.text().await.unwrap_or_default());
    res.headers().get("location").unwrap().to_str().unwrap().to_string()
}

pub fn query_param(url: &str, key: &str) -> Option<String> {
    let u = url::Url::parse(url).unwrap_or_else(|_| url::Url::parse("http://x").unwrap().join(url).unwrap());
    u.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

/// Runs `test` on a fresh server and stops the server it hands back. Used by [`both!`].
pub async fn run<T, F, Fut>(backend: Backend, tweak: T, test: F)
where
    T: FnOnce(&mut Config),
    F: FnOnce(Server) -> Fut,
    Fut: Future<Output = Server>,
{
    let srv = Server::start(backend, tweak).await;
    let srv = test(srv).await;
    srv.stop().await;
}

/// Declares a test running on SQLite and PostgreSQL.
#[macro_export]
macro_rules! both {
    ($name:ident, $($rest:tt)*) => {
        $crate::on_both_backends_with_config!($name, $crate::harness::run, $($rest)*);
    };
}
