//! A capability written only against the public extension points (as a third-party plugin would
//! be): it owns a table that it reaches through the generic adapter, refuses some sign-ins and
//! answers others itself before a session exists, and records every session born (in memory and
//! in its table, listed by its own route). Checked for email, social and ID-token sign-in.

use crate::common::Backend;
use crate::harness::{at_idp, query_param, Browser, Server};
use crate::id_token::Mint;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use portcullis::app::Capability;
use portcullis::http::reply::Reply;
use portcullis::session::hooks::{Decision, Hooks, SignIn};
use portcullis::store::adapter::{Query, Row, Where};
use portcullis::store::model::Session;
use portcullis::store::schema::{ColType, Column, Table};
use portcullis::{ApiError, ApiResult, Auth, SessionAuth};
use serde_json::json;
use std::sync::{Arc, Mutex};

/// Refuses users named "Banned", answers for users named "Onboard", logs the rest.
#[derive(Default)]
struct Gatekeeper {
    born: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl Capability for Gatekeeper {
    fn id(&self) -> &'static str {
        "test-gatekeeper"
    }
    fn schema(&self) -> Vec<Table> {
        vec![Table {
            name: "gateLog",
            columns: vec![
                Column::new("id", ColType::Text).pk(),
                Column::new("userId", ColType::Text).refs("user"),
                Column::new("method", ColType::Text),
                Column::new("createdAt", ColType::Time),
            ],
            indexes: vec![],
            search: vec![],
        }]
    }
    fn routes(&self) -> Router<Auth> {
        Router::new().route("/gatekeeper/born", get(born))
    }
    fn hooks(&self) -> Hooks {
        Hooks { before_session: true, after_session: true, ..Hooks::default() }
    }
    async fn before_session(&self, _auth: &Auth, s: &SignIn<'_>) -> Decision {
        if s.user.name.contains("Banned") {
            return Decision::Refuse(ApiError::new(StatusCode::FORBIDDEN, "BANNED_USER", "You have been banned from this application"));
        }
        if s.user.name.contains("Onboard") {
            return Decision::Answer(Reply::json(&json!({"onboarding": true, "method": s.method.id()})));
        }
        Decision::Continue
    }
    async fn after_session(&self, auth: &Auth, s: &SignIn<'_>, session: &Session) {
        assert_eq!(session.user_id, s.user.id);
        self.born.lock().unwrap().push(format!("{}:{}", s.method.id(), s.user.email));
        let mut row = Row::new();
        row.insert("userId".into(), json!(s.user.id));
        row.insert("method".into(), json!(s.method.id()));
        row.insert("createdAt".into(), json!(session.created_at.to_rfc3339()));
        auth.adapter().expect("a SQL store").create("gateLog", row).await.expect("log the sign-in");
    }
}

/// `GET /gatekeeper/born`: the signed-in user's sign-ins, newest first, from the capability's table.
async fn born(State(auth): State<Auth>, SessionAuth(cur): SessionAuth) -> ApiResult<Reply> {
    let q =
        Query { filter: vec![Where::eq("userId", cur.user.id.as_str())], sort_by: Some(("createdAt".into(), true)), ..Query::default() };
    let rows = auth.adapter()?.find_many("gateLog", &q).await?;
    Ok(Reply::json(&rows.iter().map(|r| r["method"].clone()).collect::<Vec<_>>()))
}

async fn start(backend: Backend) -> (Server, Arc<Gatekeeper>) {
    let gate = Arc::new(Gatekeeper::default());
    let srv = Server::start_with(backend, |_| {}, vec![gate.clone()]).await;
    (srv, gate)
}

fn born_of(gate: &Gatekeeper) -> Vec<String> {
    gate.born.lock().unwrap().clone()
}

async fn email_and_social(backend: Backend) {
    let (srv, gate) = start(backend).await;
    assert_eq!(srv.count("gateLog").await, 0, "the capability's table exists");

    // Email: sign-up (auto sign-in) and sign-in both pass through the hooks.
    let mut b = Browser::new(&srv);
    let r = b.post(&srv.url("/sign-up/email"), json!({"email": "ok@example.com", "password": "password-1234", "name": "Okay"})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = b.post(&srv.url("/sign-in/email"), json!({"email": "ok@example.com", "password": "password-1234"})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(born_of(&gate), ["email:ok@example.com", "email:ok@example.com"]);
    let r = b.get(&srv.url("/gatekeeper/born")).await;
    assert_eq!((r.status, r.body.clone()), (200, json!(["email", "email"])), "the capability's route reads its table");
    assert_eq!(srv.count("gateLog").await, 2);

    // A refused sign-up still creates the user (as Better Auth: the refusal is of the session), but no session.
    let mut banned = Browser::new(&srv);
    let r =
        banned.post(&srv.url("/sign-up/email"), json!({"email": "b@example.com", "password": "password-1234", "name": "Banned B"})).await;
    assert_eq!((r.status, r.body["code"].as_str()), (403, Some("BANNED_USER")), "{:?}", r.body);
    let r = banned.post(&srv.url("/sign-in/email"), json!({"email": "b@example.com", "password": "password-1234"})).await;
    assert_eq!((r.status, r.body["code"].as_str()), (403, Some("BANNED_USER")));
    assert!(!banned.has_session());
    // An answer instead of a session.
    let mut onboard = Browser::new(&srv);
    let r =
        onboard.post(&srv.url("/sign-up/email"), json!({"email": "o@example.com", "password": "password-1234", "name": "Onboard O"})).await;
    assert_eq!((r.status, r.body.clone()), (200, json!({"onboarding": true, "method": "email"})));
    assert!(!onboard.has_session());
    assert_eq!(srv.count("session").await, 2, "only the two allowed sign-ins made sessions");

    // Social: a provider callback.
    srv.idp.user("carol", Some("carol@example.com"), true);
    let mut s = Browser::new(&srv);
    let r =
        s.post(&srv.url("/sign-in/social"), json!({"provider": "fake", "callbackURL": "/dashboard", "errorCallbackURL": "/oops"})).await;
    let back = at_idp(r.body["url"].as_str().unwrap()).await;
    let r = s.get(&back).await;
    assert_eq!(r.location.as_deref(), Some("/dashboard"));
    assert!(s.has_session());
    assert_eq!(born_of(&gate).last().map(String::as_str), Some("fake:carol@example.com"));
    assert_eq!(s.get(&srv.url("/gatekeeper/born")).await.body, json!(["fake"]));
    // ... refused: the error page gets the capability's code.
    srv.idp.user("Banned", Some("bob@example.com"), true);
    let mut sb = Browser::new(&srv);
    let r =
        sb.post(&srv.url("/sign-in/social"), json!({"provider": "fake", "callbackURL": "/dashboard", "errorCallbackURL": "/oops"})).await;
    let back = at_idp(r.body["url"].as_str().unwrap()).await;
    let r = sb.get(&back).await;
    assert_eq!(query_param(r.location.as_deref().unwrap(), "error").as_deref(), Some("BANNED_USER"), "{:?}", r.location);
    assert!(!sb.has_session());

    // ID token.
    let mut t = Browser::new(&srv);
    let token = Mint::new("dave", Some("dave@example.com")).sign(&srv);
    let r = t.post(&srv.url("/sign-in/social"), json!({"provider": "fake", "idToken": {"token": token}})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(born_of(&gate).last().map(String::as_str), Some("fake:dave@example.com"));
    let mut tb = Browser::new(&srv);
    let mint = Mint::new("Banned", Some("eve@example.com"));
    let r = tb.post(&srv.url("/sign-in/social"), json!({"provider": "fake", "idToken": {"token": mint.sign(&srv)}})).await;
    assert_eq!((r.status, r.body["code"].as_str()), (403, Some("BANNED_USER")), "{:?}", r.body);
    assert!(!tb.has_session());
    assert_eq!(srv.count("gateLog").await, 4, "refused and answered sign-ins left no row");
    srv.stop().await;
}

#[tokio::test]
async fn plugin_hooks_sqlite() {
    email_and_social(Backend::Sqlite).await;
}

#[tokio::test]
async fn plugin_hooks_postgres() {
    email_and_social(Backend::Postgres).await;
}
