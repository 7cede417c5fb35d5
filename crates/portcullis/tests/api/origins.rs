//! Trusted-origin patterns and secure cookie names (spec §4.1, §6.1–§6.3).

use crate::harness::*;
use reqwest::Method;
use serde_json::json;

fn patterns(c: &mut portcullis::Config) {
    c.trusted_origins = vec!["*.example.com".into(), "https://*.secure.test".into(), "myapp://callback".into()];
}

both!(wildcard_origin_patterns, config = patterns, |srv| async move {
    let u = srv.user("wild").await;
    for (origin, ok) in [
        ("https://a.example.com", true),
        ("http://a.b.example.com", true),
        ("https://example.com", false),
        ("https://a.example.com.evil.io", false),
        ("https://a.secure.test", true),
        ("http://a.secure.test", false),
    ] {
        let r = u.client.fork_with_origin(Some(origin)).post_json("/update-user", json!({"name": "n"})).await;
        if ok {
            r.expect_status(200);
        } else {
            r.expect_error(403, "INVALID_ORIGIN", "Invalid origin");
        }
    }
});

both!(wildcard_and_custom_scheme_callbacks, config = patterns, |srv| async move {
    let u = srv.user("scheme").await;
    for (cb, ok) in [
        ("https://app.example.com/done", true),
        ("myapp://callback", true),
        ("myapp://callback/done", true),
        ("myapp://callback.evil.tld", false),
        ("otherapp://callback", false),
        ("https://example.com/done", false),
    ] {
        let r = srv.client().post_json("/sign-in/email", json!({"email": u.email, "password": u.password, "callbackURL": cb})).await;
        if ok {
            r.expect_status(200);
            assert_eq!(r.json()["url"], cb);
        } else {
            r.expect_error(403, "INVALID_CALLBACK_URL", "Invalid callbackURL");
        }
    }
});

both!(null_origin_from_same_origin_fetch, |srv| async move {
    // 1.7.24: `Origin: null` with `Sec-Fetch-Site: same-origin` counts as the request's own origin.
    let u = srv.user("nullsame").await;
    let r = u
        .client
        .req(Method::POST, "/update-user")
        .origin(Some("null"))
        .header("sec-fetch-site", "same-origin")
        .json(&json!({"name": "same origin"}))
        .send()
        .await;
    r.expect_status(200);
    let r = u
        .client
        .req(Method::POST, "/update-user")
        .origin(Some("null"))
        .header("sec-fetch-site", "cross-site")
        .json(&json!({"name": "x"}))
        .send()
        .await;
    r.expect_code(403, "MISSING_OR_NULL_ORIGIN");
});

both!(https_base_url_uses_secure_cookies, config = |c| c.base_url = Some("https://auth.example.com".into()), |srv| async move {
    let c = srv.client_with_origin(Some("https://auth.example.com"));
    let r = c.post_json("/sign-up/email", json!({"name": "S", "email": "s@example.com", "password": PASSWORD})).await;
    r.expect_status(200);
    let token = r.json()["token"].as_str().unwrap().to_string();
    let line = r.cookie_line("__Secure-better-auth.session_token").expect("__Secure- prefixed cookie");
    let value = format!("{token}.{}", enc(&sign(&token)));
    assert_eq!(line, format!("__Secure-better-auth.session_token={value}; Max-Age=604800; Path=/; HttpOnly; Secure; SameSite=Lax"));
    assert!(r.cookie_line("better-auth.session_token").is_none());
    assert_eq!(c.session().await["session"]["token"], token.as_str());
    // Only the configured name is read.
    let bare = srv.client_with_origin(Some("https://auth.example.com"));
    bare.set_cookie("better-auth.session_token", &value);
    assert_eq!(bare.session().await, serde_json::Value::Null);
    // The server's own (http) address is not the trusted origin any more.
    let other = c.fork_with_origin(Some(srv.origin()));
    other.post_empty("/sign-out").await.expect_code(403, "INVALID_ORIGIN");
    // Links use the configured base URL.
    c.post_json("/send-verification-email", json!({"email": "s@example.com"})).await.expect_status(200);
    let mail = srv.mail_of_kind("s@example.com", "verify-email").await;
    assert!(mail["url"].as_str().unwrap().starts_with("https://auth.example.com/api/auth/verify-email?token="), "{mail}");
});

/// Issue 12 item 7: a host-only pattern trusts web URLs on matching hosts, never another scheme.
fn host_only(c: &mut portcullis::Config) {
    c.trusted_origins = vec!["*.example.com".into()];
}

fn star(c: &mut portcullis::Config) {
    c.trusted_origins = vec!["*".into()];
}

fn star_and_app(c: &mut portcullis::Config) {
    c.trusted_origins = vec!["*".into(), "myapp://".into()];
}

/// Signs in with `callbackURL = cb` and checks it is accepted (`ok`) or refused as Better Auth does.
async fn callback_verdicts(srv: &TestServer, name: &str, cases: &[(&str, bool)]) {
    let u = srv.user(name).await;
    for (cb, ok) in cases {
        let r = srv.client().post_json("/sign-in/email", json!({"email": u.email, "password": u.password, "callbackURL": cb})).await;
        if *ok {
            r.expect_status(200);
            assert_eq!(r.json()["url"], *cb);
        } else {
            r.expect_error(403, "INVALID_CALLBACK_URL", "Invalid callbackURL");
            assert!(r.cookie_line("better-auth.session_token").is_none(), "{cb}: a refused sign-in sets no session");
        }
    }
}

both!(host_only_patterns_refuse_other_schemes, config = host_only, |srv| async move {
    callback_verdicts(
        &srv,
        "hostonly",
        &[
            ("https://app.example.com/done", true),
            ("http://app.example.com/done", true),
            ("javascript://app.example.com/%0aalert(1)", false),
            ("data://app.example.com/text/html,x", false),
            ("vbscript://app.example.com/x", false),
            ("file://app.example.com/etc/passwd", false),
            ("myapp://app.example.com", false),
        ],
    )
    .await;
    // The other redirect fields go through the same rule.
    let r = srv
        .client()
        .post_json("/request-password-reset", json!({"email": "x@example.com", "redirectTo": "javascript://a.example.com/%0aalert(1)"}))
        .await;
    r.expect_code(403, "INVALID_REDIRECT_URL");
});

both!(star_pattern_trusts_web_origins_only, config = star, |srv| async move {
    callback_verdicts(
        &srv,
        "star",
        &[
            ("https://anything.example.org/done", true),
            ("/dashboard", true),
            ("javascript://app.example.com/%0aalert(1)", false),
            ("javascript:alert(1)", false),
            ("data:text/html,<script>alert(1)</script>", false),
            ("myapp://cb", false),
        ],
    )
    .await;
});

both!(app_schemes_are_trusted_when_listed, config = star_and_app, |srv| async move {
    callback_verdicts(
        &srv,
        "listed",
        &[("myapp://cb", true), ("otherapp://cb", false), ("javascript://app.example.com/%0aalert(1)", false)],
    )
    .await;
});
