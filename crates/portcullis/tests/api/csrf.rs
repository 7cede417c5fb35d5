//! `[csrf] mode = "token"`: unsafe requests that act with a session cookie must send the session's
//! CSRF token in `x-csrf-token` (from get-session's `csrfToken` or the readable `csrf_token`
//! cookie), or get 403 `INVALID_CSRF_TOKEN`; sign-in without a session, bearer requests and the
//! mode's default (off) are unchanged.

use crate::common::bearer;
use crate::harness::*;
use portcullis::plugins::csrf::{CsrfConfig, CsrfMode};
use portcullis::session::SessionAuth;
use portcullis::Config;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;

const COOKIE: &str = "better-auth.csrf_token";

fn on(c: &mut Config) {
    c.section_mut::<CsrfConfig>().expect("[csrf] parses").mode = CsrfMode::Token;
}

async fn post(c: &Client, path: &str, body: Value, token: Option<&str>) -> Resp {
    let r = c.req(Method::POST, path).json(&body);
    match token {
        Some(t) => r.header("x-csrf-token", t).send().await,
        None => r.send().await,
    }
}

both!(a_forged_request_is_refused_and_the_apps_is_not, config = on, |srv| async move {
    let u = srv.user("csrf").await;
    let c = &u.client;
    let rename = json!({"name": "Renamed"});
    post(c, "/update-user", rename.clone(), None).await.expect_error(403, "INVALID_CSRF_TOKEN", "Invalid CSRF token");
    post(c, "/update-user", rename.clone(), Some("forged")).await.expect_code(403, "INVALID_CSRF_TOKEN");

    // The app's request: the token from get-session.
    let s = c.get("/get-session").await;
    let token = s.json()["csrfToken"].as_str().expect("csrfToken in get-session").to_string();
    assert!(s.json()["session"].is_object() && s.json()["user"].is_object());
    post(c, "/update-user", rename.clone(), Some(&token)).await.expect_status(200);
    assert_eq!(c.session_from_db().await["user"]["name"], "Renamed");

    // Or from the readable cookie set at sign-up.
    let from_cookie = c.cookie(COOKIE).expect("csrf_token cookie");
    assert_eq!(from_cookie, token);
    post(c, "/update-user", json!({"name": "Again"}), Some(&from_cookie)).await.expect_status(200);

    // Another session's token does not fit this one.
    let other = srv.user("other").await;
    let other_token = other.client.cookie(COOKIE).unwrap();
    post(c, "/update-user", rename.clone(), Some(&other_token)).await.expect_code(403, "INVALID_CSRF_TOKEN");

    // Routes that read the session cookie themselves check it too (provider tokens).
    post(c, "/get-access-token", json!({"accountId": "none"}), None).await.expect_code(403, "INVALID_CSRF_TOKEN");
    let r = post(c, "/get-access-token", json!({"accountId": "none"}), Some(&token)).await;
    assert_ne!(r.code(), Some("INVALID_CSRF_TOKEN"), "{}", r.text);

    // Safe methods need no token.
    c.get("/list-sessions").await.expect_status(200);

    // Sign-out is protected too, and deletes the cookie with the session's.
    post(c, "/sign-out", json!({}), None).await.expect_code(403, "INVALID_CSRF_TOKEN");
    let r = post(c, "/sign-out", json!({}), Some(&token)).await;
    r.expect_status(200);
    assert_eq!(r.cookie_value(COOKIE).as_deref(), Some(""));
});

both!(sign_in_and_sign_up_set_a_readable_cookie_and_need_no_token, config = on, |srv| async move {
    let c = srv.client();
    let r = c.post_json("/sign-up/email", json!({"email": "new@example.com", "password": PASSWORD, "name": "New"})).await;
    r.expect_status(200);
    let line = r.cookie_line(COOKIE).expect("csrf cookie at sign-up").to_string();
    assert!(!line.contains("HttpOnly"), "{line}");
    assert!(line.contains("SameSite=Lax"), "{line}");
    // Signing in again while signed in, and on a fresh client, is not a session use.
    srv.client().post_json("/sign-in/email", json!({"email": "new@example.com", "password": PASSWORD})).await.expect_status(200);
    let r = c.post_json("/sign-in/email", json!({"email": "new@example.com", "password": PASSWORD})).await;
    r.expect_status(200);
    // A new session, a new token.
    let fresh = r.cookie_value(COOKIE).expect("csrf cookie at sign-in");
    assert_ne!(fresh, line.split(';').next().unwrap()[COOKIE.len() + 1..]);
    // A stale session cookie (revoked elsewhere) does not stand in the way of signing in.
    let stale = c.fork();
    post(&c, "/revoke-sessions", json!({}), Some(&fresh)).await.expect_status(200);
    stale.post_json("/sign-in/email", json!({"email": "new@example.com", "password": PASSWORD})).await.expect_status(200);
});

both!(
    bearer_requests_are_not_browser_requests,
    config = |c| {
        on(c);
        bearer(c).enabled = true;
    },
    |srv| async move {
        let u = srv.user("bearer").await;
        let r = srv.client().post_json("/sign-in/email", json!({"email": u.email, "password": PASSWORD})).await;
        let auth = format!("Bearer {}", r.header("set-auth-token").expect("set-auth-token"));
        let api = srv.client_with_origin(None);
        let r =
            api.req(Method::POST, "/update-user").no_cookies().header("authorization", &auth).json(&json!({"name": "Api"})).send().await;
        r.expect_status(200);
        // The same session from a browser's cookie still needs the token.
        post(&u.client, "/update-user", json!({"name": "X"}), None).await.expect_code(403, "INVALID_CSRF_TOKEN");
    }
);

both!(off_by_default_nothing_changes, |srv| async move {
    let u = srv.user("plain").await;
    let s = u.client.get("/get-session").await;
    assert!(s.json().get("csrfToken").is_none());
    assert!(u.client.cookie(COOKIE).is_none());
    post(&u.client, "/update-user", json!({"name": "Plain"}), None).await.expect_status(200);
});

/// An embedding app's own route, guarded by the session extractor.
struct Notes;
impl portcullis::Capability for Notes {
    fn id(&self) -> &'static str {
        "notes"
    }
    fn routes(&self) -> axum::Router<portcullis::Auth> {
        async fn create(SessionAuth(cur): SessionAuth) -> String {
            format!("note by {}", cur.user.email)
        }
        async fn list(SessionAuth(cur): SessionAuth) -> String {
            format!("notes of {}", cur.user.email)
        }
        axum::Router::new().route("/notes", axum::routing::post(create).get(list))
    }
}

async fn embedded(backend: Backend) {
    let srv = TestServer::start_with(backend, on, |b| b.capability(Arc::new(Notes))).await;
    let u = srv.user("notes").await;
    let token = u.client.cookie(COOKIE).unwrap();
    let r = u.client.req(Method::POST, "/notes").send().await;
    assert_eq!((r.status, r.code()), (403, Some("INVALID_CSRF_TOKEN")));
    let r = u.client.req(Method::POST, "/notes").header("x-csrf-token", &token).send().await;
    assert_eq!((r.status, r.text.as_str()), (200, "note by notes@example.com"));
    assert_eq!(u.client.get("/notes").await.status, 200);
    // Without a session the extractor answers 401, as before.
    assert_eq!(srv.client().req(Method::POST, "/notes").send().await.status, 401);
}
crate::on_both_backends!(an_embedders_route_with_the_session_extractor_is_protected, embedded,);
