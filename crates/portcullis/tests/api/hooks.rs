//! Hooks registered as closures on the builder (Better Auth's `databaseHooks`, and the sign-in
//! hooks): they may change a user before it is stored, veto a change, refuse a sign-in, and see
//! every session born and every user deleted.

use crate::harness::*;
use axum::http::StatusCode;
use portcullis::app::SignInInfo;
use portcullis::session::hooks::Decision;
use portcullis::store::model::{Session, User, UserPatch};
use portcullis::ApiError;
use serde_json::json;
use std::sync::{Arc, Mutex};

async fn run(backend: Backend) {
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let (l1, l2, l3) = (log.clone(), log.clone(), log.clone());
    let events = Arc::new(Mutex::new(Vec::<String>::new()));
    let e1 = events.clone();
    let srv = TestServer::start_with(
        backend,
        |c| c.user.delete_user_enabled = true,
        move |b| {
            b.before_user_create(|mut u: User| async move {
                    u.name = u.name.trim().to_string();
                    Ok(u)
                })
                .before_user_update(|(_, p): (String, UserPatch)| async move {
                    match p.name.as_deref() {
                        Some("root") => Err(ApiError::new(StatusCode::BAD_REQUEST, "NAME_RESERVED", "This name is reserved")),
                        _ => Ok(p),
                    }
                })
                .before_session(|s: SignInInfo| async move {
                    match s.user.email.ends_with("@blocked.example") {
                        true => Decision::Refuse(ApiError::new(StatusCode::FORBIDDEN, "BLOCKED_DOMAIN", "This domain is blocked")),
                        false => Decision::Continue,
                    }
                })
                .after_session(move |(s, session): (SignInInfo, Session)| {
                    let log = l1.clone();
                    async move {
                        log.lock().unwrap().push(format!("session {} {} {}", s.method.id(), s.user.email, session.user_id == s.user.id))
                    }
                })
                .after_user_create(move |u: User| {
                    let log = l2.clone();
                    async move { log.lock().unwrap().push(format!("created {}", u.name)) }
                })
                .after_user_delete(move |u: User| {
                    let log = l3.clone();
                    async move { log.lock().unwrap().push(format!("deleted {}", u.email)) }
                })
                .on_event(move |e: portcullis::app::Event| {
                    let events = e1.clone();
                    async move {
                        let text = e.data.to_string();
                        assert!(!text.contains("\"token\""), "no event carries a session token: {text}");
                        let detail = match e.kind {
                            "session.created" => e.data["method"].as_str().unwrap_or("?").to_string(),
                            "user.updated" => e.data["fields"].to_string(),
                            _ => e.data["user"]["email"].as_str().unwrap_or("?").to_string(),
                        };
                        let who = if e.target_id.is_some() { "target" } else { "none" };
                        events.lock().unwrap().push(format!("{} {} {}", e.kind, who, detail))
                    }
                })
        },
    )
    .await;

    let c = srv.client();
    let r = c.post_json("/sign-up/email", json!({"email": "hook@example.com", "password": PASSWORD, "name": "  Padded  "})).await;
    r.expect_status(200);
    assert_eq!(r.json()["user"]["name"], "Padded", "the before-hook changed the stored user");
    assert_eq!(srv.sql_scalar("select name from \"user\"").await.as_deref(), Some("Padded"));
    c.post_json("/update-user", json!({"name": "root"})).await.expect_error(400, "NAME_RESERVED", "This name is reserved");
    c.post_json("/update-user", json!({"name": "Fine"})).await.expect_status(200);
    let b = srv.client();
    let r = b.post_json("/sign-up/email", json!({"email": "x@blocked.example", "password": PASSWORD, "name": "X"})).await;
    r.expect_error(403, "BLOCKED_DOMAIN", "This domain is blocked");
    b.post_json("/sign-in/email", json!({"email": "x@blocked.example", "password": PASSWORD})).await.expect_code(403, "BLOCKED_DOMAIN");
    c.post_json("/delete-user", json!({"password": PASSWORD})).await.expect_status(200);
    assert_eq!(*log.lock().unwrap(), ["created Padded", "session email hook@example.com true", "created X", "deleted hook@example.com"]);
    // Events (app/events.rs) reach an embedder's closure: a refused sign-in creates no session.
    assert_eq!(
        *events.lock().unwrap(),
        [
            "user.created target hook@example.com",
            "session.created target email",
            "user.updated target [\"name\"]",
            "user.created target x@blocked.example",
            // The hook refused the session of the sign-up, then the sign-in.
            "sign-in.failed target ?",
            "sign-in.failed target ?",
            "user.deleted target hook@example.com",
        ]
    );
}

#[tokio::test]
async fn closure_hooks_sqlite() {
    run(Backend::Sqlite).await;
}

#[tokio::test]
async fn closure_hooks_postgres() {
    run(Backend::Postgres).await;
}
