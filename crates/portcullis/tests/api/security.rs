//! Origin and CSRF checks, redirect validation, rate limiting and routing (spec §1, §6, §7). Bad input
//! and abuse are in `abuse.rs`.

use crate::harness::*;
use reqwest::Method;
use serde_json::{json, Value};

both!(cookie_post_from_untrusted_origin, |srv| async move {
    let u = srv.user("hank").await;
    let evil = u.client.fork_with_origin(Some("http://evil.example"));
    evil.post_empty("/sign-out").await.expect_error(403, "INVALID_ORIGIN", "Invalid origin");
    assert!(u.client.session().await.is_object(), "still signed in");
    // Look-alikes of the trusted origin are untrusted too.
    let port = srv.origin().rsplit(':').next().unwrap().to_string();
    for o in [format!("https://127.0.0.1:{port}"), format!("http://127.0.0.1:{port}.evil.com"), "http://127.0.0.1".into()] {
        let c = u.client.fork_with_origin(Some(&o));
        c.post_json("/update-user", json!({"name": "pwned"})).await.expect_code(403, "INVALID_ORIGIN");
    }
    // A Referer is reduced to its origin.
    let r = u
        .client
        .req(Method::POST, "/update-user")
        .origin(None)
        .header("referer", "http://evil.example/page")
        .json(&json!({"name": "pwned"}))
        .send()
        .await;
    r.expect_code(403, "INVALID_ORIGIN");
    let r = u
        .client
        .req(Method::POST, "/update-user")
        .origin(None)
        .header("referer", &format!("{}/some/page?x=1", srv.origin()))
        .json(&json!({"name": "via referer"}))
        .send()
        .await;
    r.expect_status(200);
    assert_eq!(u.client.session_from_db().await["user"]["name"], "via referer");
});

both!(cookie_post_without_origin, |srv| async move {
    let u = srv.user("noorigin").await;
    let bare = u.client.fork_with_origin(None);
    bare.post_empty("/sign-out").await.expect_error(403, "MISSING_OR_NULL_ORIGIN", "Missing or null Origin");
    let null = u.client.fork_with_origin(Some("null"));
    null.post_json("/update-user", json!({"name": "x"})).await.expect_error(403, "MISSING_OR_NULL_ORIGIN", "Missing or null Origin");
    // Any cookie at all triggers the check, not only auth cookies.
    let c = srv.client_with_origin(None);
    c.set_cookie("unrelated", "1");
    c.post_json("/sign-in/email", json!({"email": u.email, "password": u.password})).await.expect_code(403, "MISSING_OR_NULL_ORIGIN");
    // GETs are not origin-checked.
    assert!(bare.session().await.is_object());
});

both!(extra_trusted_origins, config = |c| c.trusted_origins = vec!["https://app.example.com".into()], |srv| async move {
    let u = srv.user("trusted").await;
    let app = u.client.fork_with_origin(Some("https://app.example.com"));
    app.post_json("/update-user", json!({"name": "from app"})).await.expect_status(200);
    let r = srv
        .client()
        .post_json("/sign-in/email", json!({"email": u.email, "password": u.password, "callbackURL": "https://app.example.com/home"}))
        .await;
    r.expect_status(200);
    assert_eq!(r.json()["url"], "https://app.example.com/home");
    let sub = u.client.fork_with_origin(Some("https://evil.app.example.com"));
    sub.post_json("/update-user", json!({"name": "x"})).await.expect_code(403, "INVALID_ORIGIN");
});

both!(login_csrf_rules, |srv| async move {
    let u = srv.user("csrf").await;
    let body = json!({"email": u.email, "password": u.password});
    let r = srv
        .client_with_origin(None)
        .req(Method::POST, "/sign-in/email")
        .header("sec-fetch-site", "cross-site")
        .header("sec-fetch-mode", "navigate")
        .json(&body)
        .send()
        .await;
    r.expect_error(
        403,
        "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED",
        "Cross-site navigation login blocked. This request appears to be a CSRF attack.",
    );
    assert!(r.set_cookies.is_empty());
    // Fetch metadata without an Origin: the origin is required.
    let r =
        srv.client_with_origin(None).req(Method::POST, "/sign-in/email").header("sec-fetch-site", "same-origin").json(&body).send().await;
    r.expect_error(403, "MISSING_OR_NULL_ORIGIN", "Missing or null Origin");
    // Fetch metadata with the right Origin is fine.
    let r = srv
        .client()
        .req(Method::POST, "/sign-in/email")
        .header("sec-fetch-site", "same-origin")
        .header("sec-fetch-mode", "cors")
        .json(&body)
        .send()
        .await;
    r.expect_status(200);
    // No cookies, but a bad Origin on a login: refused.
    let r = srv.client_with_origin(Some("http://evil.example")).post_json("/sign-in/email", body.clone()).await;
    r.expect_error(403, "INVALID_ORIGIN", "Invalid origin");
    let r = srv
        .client_with_origin(Some("http://evil.example"))
        .post_json("/sign-up/email", json!({"name": "x", "email": "x@example.com", "password": PASSWORD}))
        .await;
    r.expect_code(403, "INVALID_ORIGIN");
    // No cookies, no Origin, no fetch metadata (curl, servers): allowed.
    srv.client_with_origin(None).post_json("/sign-in/email", body.clone()).await.expect_status(200);
    // sign-out is not a login: a bad Origin without cookies passes.
    srv.client_with_origin(Some("http://evil.example")).post_empty("/sign-out").await.expect_status(200);
});

both!(callback_urls_are_validated, |srv| async move {
    let u = srv.user("redirect").await;
    let sign_in = |cb: Value| json!({"email": u.email, "password": u.password, "callbackURL": cb});
    for bad in [
        "https://evil.example",
        "https://evil.example/x",
        "//evil.com",
        "/\\evil.com",
        "/%2fevil.com",
        "/%5Cevil.com",
        "javascript:alert(1)",
    ] {
        let r = srv.client().post_json("/sign-in/email", sign_in(json!(bad))).await;
        r.expect_error(403, "INVALID_CALLBACK_URL", "Invalid callbackURL");
        assert!(r.set_cookies.is_empty(), "{bad}: no session on a refused callback");
    }
    let port = srv.origin().rsplit(':').next().unwrap().to_string();
    let lookalike = format!("http://127.0.0.1:{port}.evil.com/");
    srv.client().post_json("/sign-in/email", sign_in(json!(lookalike))).await.expect_code(403, "INVALID_CALLBACK_URL");
    for good in ["/dashboard", "/a#frag", "/path:colon?x=1"] {
        let r = srv.client().post_json("/sign-in/email", sign_in(json!(good))).await;
        r.expect_status(200);
        assert_eq!(r.json()["url"], good);
    }
    // Sign-up's callbackURL and a query-string callbackURL are checked too.
    let r = srv
        .client()
        .post_json(
            "/sign-up/email",
            json!({"name": "n", "email": "n@example.com", "password": PASSWORD, "callbackURL": "https://evil.example"}),
        )
        .await;
    r.expect_code(403, "INVALID_CALLBACK_URL");
    let r = srv
        .client()
        .post_json("/sign-in/email?callbackURL=https%3A%2F%2Fevil.example", json!({"email": u.email, "password": u.password}))
        .await;
    r.expect_code(403, "INVALID_CALLBACK_URL");
    // Not a string.
    let r = srv.client().post_json("/sign-in/email", sign_in(json!(5))).await;
    assert_eq!((r.status, r.text.as_str()), (400, r#"{"message":"Invalid callbackURL: expected a string"}"#));
});

both!(unknown_routes_and_wrong_methods_are_empty_404s, |srv| async move {
    let c = srv.client();
    for (m, p) in [
        (Method::GET, "/no-such-endpoint"),
        (Method::POST, "/no-such-endpoint"),
        (Method::GET, "/sign-in/email"),
        (Method::PUT, "/sign-in/email"),
        (Method::DELETE, "/get-session"),
        (Method::GET, "/sign-out"),
        (Method::POST, "/list-sessions"),
        (Method::POST, "/sign-in/email/"),
        (Method::OPTIONS, "/sign-in/email"),
        (Method::GET, ""),
        (Method::GET, "/"),
    ] {
        let r = c.req(m.clone(), p).send().await;
        assert_eq!((r.status, r.text.as_str()), (404, ""), "{m} {p}");
    }
    let r = c.req(Method::HEAD, "/get-session").send().await;
    r.expect_status(404);
    let r = c.get(&format!("{}/nope", srv.origin())).await;
    r.expect_empty_404();
    let r = c.get(&format!("{}/api/nope", srv.origin())).await;
    r.expect_empty_404();
    let r = c.get("/ok").await;
    r.expect_status(200);
    assert_eq!(r.json(), &json!({"ok": true}));
});

both!(rate_limit_on_sign_in, config = |c| c.rate_limit.enabled = Some(true), |srv| async move {
    let body = json!({"email": "nobody@example.com", "password": "wrong-password-1"});
    for i in 0..3 {
        let r = srv.client().post_json("/sign-in/email", body.clone()).await;
        assert_eq!(r.status, 401, "request {i} is allowed");
    }
    let r = srv.client().post_json("/sign-in/email", body.clone()).await;
    r.expect_status(429);
    assert_eq!(r.text, r#"{"message":"Too many requests. Please try again later."}"#);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let retry: u64 = r.header("x-retry-after").expect("X-Retry-After").parse().expect("seconds");
    assert!((1..=10).contains(&retry), "retry after {retry}");
    assert!(r.header("retry-after").is_none());
    // Other paths have their own bucket.
    srv.client().get("/get-session").await.expect_status(200);
    srv.client().get("/ok").await.expect_status(200);
    // Another client IP has its own bucket too (X-Forwarded-For with a single address).
    let r = srv.client().req(Method::POST, "/sign-in/email").header("x-forwarded-for", "203.0.113.9").json(&body).send().await;
    r.expect_status(401);
});

// Issue 12 item 1: X-Forwarded-For is believed only from a trusted proxy. Here the only trusted
// proxy is 10.0.0.1, so the test client (a loopback peer) is a direct client whose header is ignored.
both!(
    forwarded_for_from_an_untrusted_peer_is_ignored,
    config = |c| {
        c.rate_limit.enabled = Some(true);
        c.advanced.trusted_proxies = Some(vec!["10.0.0.1".into()]);
    },
    |srv| async move {
        let body = json!({"email": "nobody@example.com", "password": "wrong-password-1"});
        let attempt = |i: u32| {
            let c = srv.client();
            let body = body.clone();
            async move {
                c.req(Method::POST, "/sign-in/email").header("x-forwarded-for", &format!("203.0.113.{i}")).json(&body).send().await.status
            }
        };
        // A fresh forwarded address per request does not buy a fresh bucket.
        let statuses = [attempt(1).await, attempt(2).await, attempt(3).await, attempt(4).await, attempt(5).await];
        assert_eq!(statuses, [401, 401, 401, 429, 429]);
        // Nor does it end up on the session: the peer address is recorded.
        let c = srv.client();
        let r = c
            .req(Method::POST, "/sign-up/email")
            .header("x-forwarded-for", "203.0.113.77")
            .json(&json!({"name": "Ann", "email": "ann@example.com", "password": PASSWORD}))
            .send()
            .await;
        r.expect_status(200);
        assert_eq!(c.session().await["session"]["ipAddress"], "127.0.0.1");
    }
);

both!(
    rate_limit_custom_rule,
    config = |c| {
        c.rate_limit.enabled = Some(true);
        c.rate_limit.custom_rules = vec![portcullis::config::RateLimitRule { path: "/ok".into(), window: 60, max: 2, enabled: true }];
    },
    |srv| async move {
        let c = srv.client();
        c.get("/ok").await.expect_status(200);
        c.get("/ok").await.expect_status(200);
        c.get("/ok").await.expect_status(429);
        // Sign-up shares the special 3-per-10-s rule.
        for i in 0..3 {
            let r = srv
                .client()
                .post_json("/sign-up/email", json!({"name": "n", "email": format!("n{i}@example.com"), "password": PASSWORD}))
                .await;
            r.expect_status(200);
        }
        srv.client()
            .post_json("/sign-up/email", json!({"name": "n", "email": "n9@example.com", "password": PASSWORD}))
            .await
            .expect_status(429);
    }
);

// Issue 12, item 10: the password checks behind a session get the sign-in limit (3 per 10 s per
// IP), so a stolen session cannot be used to guess the password.
both!(
    rate_limit_on_password_checks_behind_a_session,
    config = |c| {
        c.rate_limit.enabled = Some(true);
        c.user.delete_user_enabled = true;
    },
    |srv| async move {
        let u = srv.user("guessed").await;
        for i in 0..3 {
            let r = u.client.post_json("/verify-password", json!({"password": format!("guess-number-{i}")})).await;
            r.expect_error(400, "INVALID_PASSWORD", "Invalid password");
        }
        let r = u.client.post_json("/verify-password", json!({"password": u.password})).await;
        r.expect_status(429);
        assert!(r.header("x-retry-after").is_some());
        for i in 0..3 {
            let r = u.client.post_json("/delete-user", json!({"password": format!("guess-number-{i}")})).await;
            r.expect_error(400, "INVALID_PASSWORD", "Invalid password");
        }
        u.client.post_json("/delete-user", json!({"password": u.password})).await.expect_status(429);
        assert_eq!(srv.count(&format!(r#"select count(*) from "user" where "id" = '{}'"#, u.id)).await, 1, "not deleted");
        // Other paths keep the default limit.
        u.client.get("/get-session").await.expect_status(200);
    }
);
