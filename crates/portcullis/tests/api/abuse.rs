//! The bad-input and abuse suite (issue 12): what a hostile client can throw at the server, and
//! what it must get back. The rule for every case: never a 5xx other than the documented 503s
//! (`SERVER_BUSY`, `SERVICE_TIMEOUT`), never a panic, nothing half-written.
//!
//! | abuse | case |
//! |---|---|
//! | malformed JSON, wrong types, wrong or missing content types | `malformed_bodies` |
//! | oversized bodies | `oversized_body_is_413` |
//! | deeply nested bodies, garbage values, garbage cookies and queries | `garbage_inputs_never_500` |
//! | invalid UTF-8 in bodies, headers and queries | `invalid_utf8_anywhere` |
//! | path traversal, encoded slashes and dots | `path_tricks_are_plain_404s` |
//! | 10,000 distinct `X-Forwarded-For` values | `ten_thousand_forwarded_addresses_share_one_bucket` |
//! | a flood of sign-ins beyond the hashing queue | `hash_queue_flood_is_a_clean_503` |
//! | replayed reset, verification and session tokens | `replayed_tokens_are_refused` |
//! | huge headers, slow clients, bodies that never arrive | `connections.rs` |

use crate::harness::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends `request` as is over a fresh TCP connection (no client-side URL normalisation) and
/// returns the status code and body.
async fn raw_http(srv: &TestServer, request: &[u8]) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(srv.origin().trim_start_matches("http://")).await.expect("connect");
    s.write_all(request).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or(String::new(), |(_, b)| b.to_string());
    (status, body)
}

both!(malformed_bodies, |srv| async move {
    let u = srv.user("bodies").await;
    let c = &u.client;
    c.post_raw("/sign-in/email", "application/json", "{bad json").await.expect_error(400, "BAD_REQUEST", "Invalid JSON in request body");
    c.post_raw("/update-user", "application/json; charset=utf-8", "{\"name\":").await.expect_error(
        400,
        "BAD_REQUEST",
        "Invalid JSON in request body",
    );
    c.post_raw("/update-user", "text/plain", "{\"name\":\"x\"}").await.expect_error(
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        "Content-Type \"text/plain\" is not allowed. Allowed types: application/json",
    );
    c.post_raw("/sign-in/email", "text/plain", "x").await.expect_code(415, "UNSUPPORTED_MEDIA_TYPE");
    let r = c.req(Method::POST, "/update-user").raw_untyped("{\"name\":\"x\"}").send().await;
    r.expect_error(415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type is required. Allowed types: application/json");
    // Wrong types are validation errors.
    srv.client().post_json("/sign-in/email", json!({"email": 5})).await.expect_code(400, "VALIDATION_ERROR");
    srv.client().post_json("/sign-up/email", json!({"email": "a@example.com", "password": PASSWORD, "name": ["x"]})).await.expect_error(
        400,
        "VALIDATION_ERROR",
        "[body.name] Invalid input: expected string, received array",
    );
    let r = srv.client().post_json("/sign-in/email", json!([1, 2])).await;
    r.expect_code(400, "VALIDATION_ERROR");
    assert_eq!(u.client.session_from_db().await["user"]["name"], "bodies", "nothing above changed the user");
});

both!(oversized_body_is_413, config = |c| c.advanced.max_body_bytes = 1024, |srv| async move {
    let big = json!({"email": "a@example.com", "password": "x".repeat(4096), "name": "n"});
    let r = srv.client().post_json("/sign-up/email", big).await;
    r.expect_status(413);
    let u = srv.user("big").await;
    let r = u.client.post_json("/update-user", json!({"name": "x".repeat(2000)})).await;
    r.expect_status(413);
    // Just under the limit is fine.
    u.client.post_json("/update-user", json!({"name": "y".repeat(900)})).await.expect_status(200);
});

both!(garbage_inputs_never_500, |srv| async move {
    let u = srv.user("fuzz").await;
    let anon = srv.client();
    let posts = [
        "/sign-up/email",
        "/sign-in/email",
        "/sign-out",
        "/revoke-session",
        "/revoke-sessions",
        "/revoke-other-sessions",
        "/update-user",
        "/delete-user",
        "/change-email",
        "/change-password",
        "/request-password-reset",
        "/reset-password",
        "/send-verification-email",
        "/get-session",
        "/no-such-endpoint",
    ];
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let bodies: Vec<Vec<u8>> = vec![
        b"null".to_vec(),
        b"[]".to_vec(),
        b"\"str\"".to_vec(),
        b"123".to_vec(),
        b"{}".to_vec(),
        b"true".to_vec(),
        br#"{"email":[],"password":{},"name":null,"token":5,"newPassword":[1],"currentPassword":false}"#.to_vec(),
        br#"{"email":"a@example.com","password":"x","callbackURL":{"a":1},"redirectTo":[]}"#.to_vec(),
        br#"{"email":"\u0000@example.com","password":"\ud800","name":"\u0000"}"#.to_vec(),
        br#"{"email":"a@example.com","newEmail":"a@example.com","password":"1e999","rememberMe":null}"#.to_vec(),
        br#"{"newEmail":1e999,"image":{"x":[]},"name":123456789012345678901234567890}"#.to_vec(),
        vec![0xff, 0xfe, 0x00, 0x7b],
        deep.into_bytes(),
        b"{\"a\":".repeat(100),
    ];
    let mut signed_in = u.client;
    for path in posts {
        for body in &bodies {
            // sign-out and revoke-sessions end the session: sign in again to keep exercising the guards.
            if signed_in.session_cookie().is_none() {
                signed_in = srv.sign_in(&u.email, &u.password).await;
            }
            for c in [&anon, &signed_in] {
                let r = c.post_raw(path, "application/json", body.clone()).await;
                assert!(r.status < 500, "POST {path} {:?}: {} {}", String::from_utf8_lossy(&body[..body.len().min(60)]), r.status, r.text);
            }
        }
        let r = anon.req(Method::POST, path).form(&[("email", "%%%"), ("password", ""), ("rememberMe", "true")]).send().await;
        assert!(r.status < 500, "form POST {path}: {} {}", r.status, r.text);
    }
    for q in [
        "/get-session?disableCookieCache=%ZZ",
        "/get-session?disableRefresh[]=1&disableRefresh=2",
        "/reset-password/%00?callbackURL=%00",
        "/reset-password/x?callbackURL=http://[::1",
        "/reset-password/x?callbackURL=",
        "/verify-email?token=a.b.c",
        "/verify-email?token=",
        "/verify-email?token=eyJ.eyJ.x&callbackURL=%2F%2Fevil",
        "/list-accounts?x=%F0%28",
        "/error?error=%3Cscript%3E",
    ] {
        for c in [&anon, &signed_in] {
            let r = c.get(q).await;
            assert!(r.status < 500, "GET {q}: {} {}", r.status, r.text);
        }
    }
    // Garbage cookies.
    let long = "x".repeat(3000);
    for v in ["", "%", "%E0%A4%A", ".", "a.b.c.d", long.as_str(), "eyJ9", "%ZZ.%ZZ"] {
        let c = srv.client();
        c.set_cookie("better-auth.session_token", v);
        c.set_cookie("better-auth.session_data", v);
        c.set_cookie("better-auth.dont_remember", v);
        for r in [c.get("/get-session").await, c.post_json("/update-user", json!({"name": "x"})).await, c.post_empty("/sign-out").await] {
            assert!(r.status < 500, "cookie {v:?}: {} {}", r.status, r.text);
        }
    }
    // Nothing above damaged the account.
    srv.sign_in(&u.email, &u.password).await;
});

both!(invalid_utf8_anywhere, |srv| async move {
    let u = srv.user("utf8").await;
    // In a JSON string, as a bare byte, and in a form body.
    for body in [&b"{\"email\":\"\xff@example.com\",\"password\":\"x\"}"[..], b"\xc3\x28", b"{\"name\":\"\xed\xa0\x80\"}"] {
        for (c, path) in [(&u.client, "/update-user"), (&srv.client(), "/sign-in/email")] {
            let r = c.post_raw(path, "application/json", body.to_vec()).await;
            assert_eq!(r.status, 400, "{path}: {} {}", r.status, r.text);
        }
    }
    let r = srv.client().post_raw("/sign-in/email", "application/x-www-form-urlencoded", b"email=%ff%fe&password=\xff".to_vec()).await;
    assert!(r.status < 500, "form: {} {}", r.status, r.text);
    // In headers (obs-text bytes are legal on the wire) and in the query.
    let origin = srv.origin().to_string();
    for (name, value) in
        [("origin", &b"http://\xff.example"[..]), ("cookie", b"better-auth.session_token=\xff\xfe"), ("user-agent", b"\xff\xfe\xfd")]
    {
        let mut req = b"POST /api/auth/sign-in/email HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
            .to_vec();
        req.extend_from_slice(name.as_bytes());
        req.extend_from_slice(b": ");
        req.extend_from_slice(value);
        req.extend_from_slice(b"\r\n\r\n{}");
        let (status, body) = raw_http(&srv, &req).await;
        assert!((400..500).contains(&status), "{name}: {status} {body}");
    }
    let (status, _) = raw_http(
        &srv,
        format!("GET /api/auth/get-session?x=%ff%fe HTTP/1.1\r\nHost: x\r\nOrigin: {origin}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(u.client.session_from_db().await["user"]["name"], "utf8", "nothing above changed the user");
});

both!(path_tricks_are_plain_404s, |srv| async move {
    let u = srv.user("paths").await;
    for path in [
        "/api/auth/../../etc/passwd",
        "/api/auth/%2e%2e/%2e%2e/etc/passwd",
        "/api/auth/sign-in%2femail",
        "/api/auth/sign-in%2Femail",
        "/api/auth/sign-in/..%2femail",
        "/api/auth//get-session/..",
        "/api/auth/%00",
        "/api/auth/reset-password/..%2f..%2f",
        "/__outbox/../api/auth/ok",
        "/api/auth/ok/%2e%2e",
    ] {
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let (status, body) = raw_http(&srv, req.as_bytes()).await;
        assert!(status == 404 || status == 400, "{path}: {status} {body}");
        assert!(!body.contains("root:"), "{path} read a file");
    }
    // An encoded slash never reaches a route that a real slash reaches.
    let req = format!(
        "POST /api/auth/sign-in%2Femail HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
        json!({"email": u.email, "password": u.password}).to_string().len(),
        json!({"email": u.email, "password": u.password})
    );
    assert_eq!(raw_http(&srv, req.as_bytes()).await.0, 404);
});

// Behind no trusted proxy (the only trusted one is 10.0.0.1, not the test client), 10,000 fresh
// forwarded addresses are 10,000 lies from one peer: one bucket, and the server stays healthy.
both!(
    ten_thousand_forwarded_addresses_share_one_bucket,
    config = |c| {
        c.rate_limit.enabled = Some(true);
        c.advanced.trusted_proxies = Some(vec!["10.0.0.1".into()]);
    },
    |srv| async move {
        let body = json!({"email": "victim@example.com", "password": "guess-password-1"});
        let c = srv.client();
        let mut tasks = Vec::new();
        for worker in 0..16u32 {
            let (c, body) = (c.fork(), body.clone());
            tasks.push(tokio::spawn(async move {
                let mut seen = Vec::new();
                for i in 0..625u32 {
                    let n = worker * 625 + i;
                    let xff = format!("198.{}.{}.{}", n >> 16 & 255, n >> 8 & 255, n & 255);
                    let r = c.req(Method::POST, "/sign-in/email").header("x-forwarded-for", &xff).json(&body).send().await;
                    seen.push(r.status);
                }
                seen
            }));
        }
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.extend(t.await.expect("task"));
        }
        assert_eq!(statuses.len(), 10_000);
        assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 3, "three guesses, whatever the header says");
        assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 9_997);
        srv.client().get("/ok").await.expect_status(200);
    }
);

// One hashing worker with room for two waiting hashes: a burst of sign-ins and sign-ups gets
// answers or a clean 503 SERVER_BUSY with Retry-After, get-session keeps answering meanwhile, and
// no user is left without its credential account.
both!(
    hash_queue_flood_is_a_clean_503,
    config = |c| {
        c.password_hashing.workers = Some(1);
        c.password_hashing.max_queue = Some(2);
        c.password_hashing.memory_kib = 16 * 1024;
        c.password_hashing.iterations = 4;
    },
    |srv| async move {
        let u = srv.user("flooded").await;
        let mut tasks = Vec::new();
        for i in 0..40 {
            let c = srv.client();
            let body = match i % 3 {
                0 => json!({"email": u.email, "password": "wrong-password-x"}),
                1 => json!({"email": format!("nobody{i}@example.com"), "password": "wrong-password-x"}),
                _ => json!({"email": format!("new{i}@example.com"), "password": PASSWORD, "name": "New"}),
            };
            let path = if i % 3 == 2 { "/sign-up/email" } else { "/sign-in/email" };
            tasks.push(tokio::spawn(async move { c.post_json(path, body).await }));
        }
        // A signed-in browser is served while the queue is full.
        for _ in 0..5 {
            let s = tokio::time::timeout(Duration::from_secs(5), u.client.session()).await.expect("get-session answers during the flood");
            assert_eq!(s["user"]["email"], u.email.as_str());
        }
        let mut busy = 0;
        for t in tasks {
            let r = t.await.expect("task");
            match r.status {
                200 | 401 => {}
                503 => {
                    r.expect_error(503, "SERVER_BUSY", "The server is busy. Please try again shortly.");
                    assert_eq!(r.header("retry-after"), Some("1"));
                    busy += 1;
                }
                s => panic!("unexpected {s}: {}", r.text),
            }
        }
        assert!(busy > 0, "the flood never filled the queue");
        let users = srv.count(r#"select count(*) from "user""#).await;
        let accounts = srv.count(r#"select count(*) from "account" where "providerId" = 'credential'"#).await;
        assert_eq!(users, accounts, "every user has its credential account");
        // Once the burst is over, sign-in works again.
        srv.sign_in(&u.email, &u.password).await;
    }
);

both!(replayed_tokens_are_refused, config = |c| c.email_verification.send_on_sign_up = Some(true), |srv| async move {
    // A reset link works once.
    let u = srv.user("replay").await;
    srv.client().post_json("/request-password-reset", json!({"email": u.email, "redirectTo": "/reset"})).await.expect_status(200);
    let token = srv.mail_of_kind(&u.email, "reset-password").await["token"].as_str().expect("token").to_string();
    let reset = |pw: &str| json!({"newPassword": pw, "token": token});
    srv.client().post_json("/reset-password", reset("first-new-password")).await.expect_status(200);
    srv.client().post_json("/reset-password", reset("second-new-password")).await.expect_code(400, "INVALID_TOKEN");
    srv.sign_in(&u.email, "first-new-password").await;
    // A verification link works once; a second click is a no-op, not a second session.
    let mail = srv.mail_of_kind(&u.email, "verify-email").await;
    let vtoken = mail["token"].as_str().expect("token").to_string();
    let c = srv.client();
    c.get(&format!("/verify-email?token={vtoken}")).await.expect_status(200);
    let again = srv.client().get(&format!("/verify-email?token={vtoken}")).await;
    assert!(again.status < 500 && again.cookie_value("better-auth.session_token").is_none(), "{} {}", again.status, again.text);
    // A signed session cookie is dead once signed out, revoked or the password reset revoked it.
    let stolen = u.client.session_cookie().expect("cookie");
    u.client.post_empty("/sign-out").await.expect_status(200);
    let thief = srv.client();
    thief.set_cookie("better-auth.session_token", &stolen);
    assert_eq!(thief.session().await, Value::Null);
    thief.post_json("/update-user", json!({"name": "pwned"})).await.expect_code(401, "UNAUTHORIZED");
});
