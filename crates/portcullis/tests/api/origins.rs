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
