//! Request ids (`x-request-id`, echoed, and on every log line of the request) and JSON logs that
//! carry no password, token or cookie.

use serde_json::json;
use std::sync::{Arc, Mutex};

// Off by default (`server.request_ids`; `portcullis serve` turns it on with JSON logs).
both!(no_request_id_unless_asked, |srv| async move {
    assert_eq!(srv.client().get("/ok").await.header("x-request-id"), None);
});

both!(every_answer_carries_a_request_id, config = |c| c.server.request_ids = true, |srv| async move {
    let c = srv.client();
    let r = c.get("/ok").await;
    let id = r.header("x-request-id").expect("an id").to_string();
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(c.get("/ok").await.header("x-request-id"), Some(id.as_str()), "a new id for each request");
    let r = c.req(reqwest::Method::GET, "/ok").header("x-request-id", "lb-7f3a:42").send().await;
    assert_eq!(r.header("x-request-id"), Some("lb-7f3a:42"), "a sane id from the proxy is kept");
    let long = "a".repeat(129);
    let r = c.req(reqwest::Method::GET, "/ok").header("x-request-id", &long).send().await;
    assert_eq!(r.header("x-request-id").map(str::len), Some(32), "an over-long id is replaced");
    let r = c.req(reqwest::Method::GET, &format!("{}/health/live", srv.origin())).header("x-request-id", "probe 1").send().await;
    assert_eq!(r.header("x-request-id").map(str::len), Some(32), "an id with a space is replaced");
});

/// Log lines written to memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);
impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// The server runs on the test's (current-thread) runtime, so the subscriber set for this thread
// sees every line its requests write, at every level.
both!(json_logs_carry_request_ids_and_no_secret, config = |c| c.server.request_ids = true, |srv| async move {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let password = "the-Secret-Passw0rd!";
    let c = srv.client();
    let up = c.post_json("/sign-up/email", json!({"email": "logs@example.com", "password": password, "name": "Logs"})).await;
    up.expect_status(200);
    let session_token = up.json()["token"].as_str().expect("token").to_string();
    c.post_json("/sign-in/email", json!({"email": "logs@example.com", "password": "a-wrong-Passw0rd!"})).await.expect_status(401);
    // A redirect to an untrusted origin is logged; the token in its query must not be.
    let r = c
        .post_json(
            "/sign-in/email",
            json!({"email": "logs@example.com", "password": password, "callbackURL": format!("https://evil.example/cb?t={session_token}")}),
        )
        .await;
    r.expect_status(403);
    let signed_in = srv.sign_in("logs@example.com", password).await;
    signed_in.get("/get-session").await.expect_status(200);
    srv.client()
        .post_json("/request-password-reset", json!({"email": "logs@example.com", "redirectTo": "/reset"}))
        .await
        .expect_status(200);
    let mail = srv.mail_of_kind("logs@example.com", "reset-password").await;
    let reset_token = mail["token"].as_str().expect("reset token").to_string();
    let new_password = "an-Other-Passw0rd!";
    srv.client().post_json("/reset-password", json!({"token": reset_token, "newPassword": new_password})).await.expect_status(200);
    let cookie = signed_in.session_cookie().expect("session cookie");
    drop(_guard);

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).expect("utf-8 logs");
    assert!(!text.is_empty(), "the requests wrote log lines");
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    }
    assert!(text.contains(r#""request_id":""#), "lines inside a request carry its id:\n{text}");
    for (what, secret) in [
        ("password", password),
        ("wrong password", "a-wrong-Passw0rd!"),
        ("new password", new_password),
        ("session token", &session_token),
        ("reset token", &reset_token),
        ("session cookie", &cookie),
    ] {
        assert!(!text.contains(secret), "the {what} appears in the logs:\n{text}");
    }
});
