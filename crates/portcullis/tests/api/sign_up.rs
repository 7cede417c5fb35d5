//! `POST /sign-up/email` (spec §2.2, §4, §8).

use crate::harness::*;
use chrono::{Duration, Utc};
use serde_json::json;

const COOKIE: &str = "better-auth.session_token";

/// Checks `better-auth.session_token=<32>.<sig>; ...` where sig = HMAC(secret, token), URL-encoded.
#[track_caller]
fn assert_signed_session_cookie(line: &str, token: &str, max_age: Option<u64>) {
    let value = line.split(';').next().unwrap().strip_prefix("better-auth.session_token=").expect("cookie name");
    let (tok, sig) = dec(value).rsplit_once('.').map(|(a, b)| (a.to_string(), b.to_string())).expect("token.sig");
    assert_eq!(tok, token, "cookie carries the session token");
    assert_eq!(sig.len(), 44, "standard base64 signature with padding");
    assert_eq!(sig, sign(token), "signature is HMAC-SHA256(secret, token)");
    assert_eq!(value, format!("{token}.{}", enc_sig(&sig)), "the whole value is URL-encoded");
    let attrs = match max_age {
        Some(m) => format!("; Max-Age={m}; Path=/; HttpOnly; SameSite=Lax"),
        None => "; Path=/; HttpOnly; SameSite=Lax".to_string(),
    };
    assert_eq!(line, format!("{COOKIE}={value}{attrs}"));
}

/// encodeURIComponent of a base64 signature.
fn enc_sig(sig: &str) -> String {
    sig.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D")
}

both!(creates_user_session_and_cookie, |srv| async move {
    let c = srv.client();
    let r = c.post_json("/sign-up/email", json!({"name": "Alice", "email": "alice@example.com", "password": "password123"})).await;
    r.expect_status(200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(key_order(&r.text), ["token", "user"]);
    let body = r.json();
    let token = body["token"].as_str().expect("token is a string");
    assert!(is_id(&body["token"]), "32-char token: {token}");
    let user = &body["user"];
    assert_user_shape(user);
    assert_eq!(key_order(&member(&r.text, "user")), USER_KEYS);
    assert_eq!(user["name"], "Alice");
    assert_eq!(user["email"], "alice@example.com");
    assert_eq!(user["emailVerified"], false);
    assert_eq!(user["image"], serde_json::Value::Null);
    assert_eq!(user["createdAt"], user["updatedAt"]);

    assert_eq!(r.set_cookies.len(), 1, "only the session cookie: {:?}", r.set_cookies);
    assert_signed_session_cookie(r.cookie_line(COOKIE).unwrap(), token, Some(604800));

    // The session works and belongs to the new user.
    let s = c.session().await;
    assert_eq!(s["user"], *user);
    assert_eq!(s["session"]["token"], token);

    // Storage: a credential account whose accountId is the user id, holding an argon2id hash.
    let uid = user["id"].as_str().unwrap();
    let q = format!(r#"select "accountId" from "account" where "userId" = '{uid}' and "providerId" = 'credential'"#);
    assert_eq!(srv.sql_scalar(&q).await.as_deref(), Some(uid));
    let hash = srv.sql_scalar(&format!(r#"select "password" from "account" where "userId" = '{uid}'"#)).await.unwrap();
    assert!(hash.starts_with("$argon2id$"), "new hashes are argon2id: {hash}");
    assert!(!hash.contains("password123"));
});

both!(stores_image_user_agent_and_ip, |srv| async move {
    let c = srv.client();
    let r = c
        .req(reqwest::Method::POST, "/sign-up/email")
        .header("user-agent", "UA/1.0")
        .header("x-forwarded-for", "2001:db8::1")
        .json(&json!({"name": "Alice", "email": "alice@example.com", "password": "password123", "image": "https://x/y.png"}))
        .send()
        .await;
    r.expect_status(200);
    assert_eq!(r.json()["user"]["image"], "https://x/y.png");
    let s = c.session().await;
    assert_eq!(s["session"]["userAgent"], "UA/1.0");
    assert_eq!(s["session"]["ipAddress"], "2001:0db8:0000:0000:0000:0000:0000:0000", "IPv6 masked to /64, expanded");
    assert_eq!(s["user"]["image"], "https://x/y.png");
});

both!(duplicate_email_is_422, |srv| async move {
    let c = srv.client();
    sign_up(&c, "dup@example.com", PASSWORD, "Dup").await;
    let again = srv.client().post_json("/sign-up/email", json!({"name": "X", "email": "dup@example.com", "password": PASSWORD})).await;
    again.expect_error(422, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL", "User already exists. Use another email.");
    assert!(again.set_cookies.is_empty());
    let upper = srv.client().post_json("/sign-up/email", json!({"name": "X", "email": "DUP@Example.com", "password": PASSWORD})).await;
    upper.expect_code(422, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL");
    assert_eq!(srv.count(r#"select count(*) from "user""#).await, 1);
});

both!(password_length_bounds, |srv| async move {
    let c = srv.client();
    let up = |email: &str, pw: String| json!({"name": "P", "email": email, "password": pw});
    c.post_json("/sign-up/email", up("a@example.com", "x".repeat(7))).await.expect_error(400, "PASSWORD_TOO_SHORT", "Password too short");
    c.post_json("/sign-up/email", up("a@example.com", "x".repeat(129))).await.expect_error(400, "PASSWORD_TOO_LONG", "Password too long");
    // Length is counted in UTF-16 code units: four emoji are 8 units.
    c.post_json("/sign-up/email", up("emoji@example.com", "😀😀😀😀".into())).await.expect_status(200);
    srv.client().post_json("/sign-up/email", up("min@example.com", "x".repeat(8))).await.expect_status(200);
    srv.client().post_json("/sign-up/email", up("max@example.com", "x".repeat(128))).await.expect_status(200);
    // An empty password fails validation too (never a 500).
    let empty = srv.client().post_json("/sign-up/email", up("e@example.com", String::new())).await;
    assert_eq!(empty.status, 400, "{}", empty.text);
    assert_eq!(srv.count(r#"select count(*) from "user""#).await, 3);
});

both!(invalid_email_is_validation_error, |srv| async move {
    let c = srv.client();
    for bad in ["not-an-email", "a@localhost", "a..b@x.io", "jürgen@x.io", ""] {
        let r = c.post_json("/sign-up/email", json!({"name": "N", "email": bad, "password": PASSWORD})).await;
        r.expect_error(400, "VALIDATION_ERROR", "[body.email] Invalid email address");
    }
    assert_eq!(srv.count(r#"select count(*) from "user""#).await, 0);
});

both!(missing_fields_are_validation_errors, |srv| async move {
    let c = srv.client();
    let r = c.post_json("/sign-up/email", json!({"email": "n@example.com", "password": PASSWORD})).await;
    r.expect_error(400, "VALIDATION_ERROR", "[body.name] Invalid input: expected string, received undefined");
    let r = c.post_json("/sign-up/email", json!({"name": "N", "email": "n@example.com"})).await;
    r.expect_error(400, "VALIDATION_ERROR", "[body.password] Invalid input: expected string, received undefined");
    let r = c.post_json("/sign-up/email", json!({"name": 5, "email": "n@example.com", "password": PASSWORD})).await;
    r.expect_error(400, "VALIDATION_ERROR", "[body.name] Invalid input: expected string, received number");
    let r = c.post_empty("/sign-up/email").await;
    // `z.object(...).and(z.record(...))`: both sides of the intersection report (Better Auth
    // 1.7.24 without plugins, through `auth.handler`).
    let both = "[body] Invalid input: expected object, received undefined; [body] Invalid input: expected record, received undefined";
    r.expect_error(400, "VALIDATION_ERROR", both);
    // An empty name is allowed.
    let ok = c.post_json("/sign-up/email", json!({"name": "", "email": "n@example.com", "password": PASSWORD})).await;
    ok.expect_status(200);
    assert_eq!(ok.json()["user"]["name"], "");
});

both!(email_is_lower_cased, |srv| async move {
    let c = srv.client();
    let body = sign_up(&c, "Mixed.Case@Example.COM", PASSWORD, "M").await;
    assert_eq!(body["user"]["email"], "mixed.case@example.com");
    let stored = srv.sql_scalar(r#"select "email" from "user""#).await;
    assert_eq!(stored.as_deref(), Some("mixed.case@example.com"));
    // Sign-in with any case finds the user.
    let r = srv.client().post_json("/sign-in/email", json!({"email": "MIXED.case@example.com", "password": PASSWORD})).await;
    r.expect_status(200);
    assert_eq!(r.json()["user"]["id"], body["user"]["id"]);
});

both!(form_urlencoded_sign_up, |srv| async move {
    let c = srv.client();
    let r = c
        .req(reqwest::Method::POST, "/sign-up/email")
        .form(&[("name", "Form"), ("email", "form@example.com"), ("password", PASSWORD)])
        .send()
        .await;
    r.expect_status(200);
    assert_eq!(r.json()["user"]["email"], "form@example.com");
    assert!(c.session_cookie().is_some());
    // Form values are strings: a boolean field sent as "false" fails validation.
    let r = srv
        .client()
        .req(reqwest::Method::POST, "/sign-up/email")
        .form(&[("name", "F"), ("email", "form2@example.com"), ("password", PASSWORD), ("rememberMe", "false")])
        .send()
        .await;
    r.expect_code(400, "VALIDATION_ERROR");
});

both!(remember_me_false_makes_browser_session_cookies, |srv| async move {
    let c = srv.client();
    let r = c.post_json("/sign-up/email", json!({"name": "R", "email": "r@example.com", "password": PASSWORD, "rememberMe": false})).await;
    r.expect_status(200);
    let token = r.json()["token"].as_str().unwrap().to_string();
    assert_signed_session_cookie(r.cookie_line(COOKIE).unwrap(), &token, None);
    let dr = r.cookie_line("better-auth.dont_remember").expect("dont_remember cookie");
    assert_eq!(dr, format!("better-auth.dont_remember=true.{}; Path=/; HttpOnly; SameSite=Lax", enc_sig(&sign("true"))));

    // The session lives one day, whatever expiresIn says.
    let s = c.session().await;
    let ttl = parse_time(&s["session"]["expiresAt"]) - Utc::now();
    assert!(ttl > Duration::hours(23) && ttl <= Duration::hours(24), "one day: {ttl}");

    // Never slid forward: even when the refresh is due, nothing is rewritten.
    let soon = Utc::now() + Duration::hours(1);
    srv.sql(&format!(r#"update "session" set "expiresAt" = {} where "token" = '{token}'"#, ts(soon))).await;
    let r = c.get("/get-session").await;
    r.expect_status(200);
    assert!(r.cookie_line(COOKIE).is_none(), "no refresh with dont_remember: {:?}", r.set_cookies);
    assert_eq!(parse_time(&r.json()["session"]["expiresAt"]).timestamp_millis(), soon.timestamp_millis());
});

both!(auto_sign_in_off_returns_null_token, config = |c| c.email_and_password.auto_sign_in = false, |srv| async move {
    let c = srv.client();
    let r = c.post_json("/sign-up/email", json!({"name": "A", "email": "a@example.com", "password": PASSWORD})).await;
    r.expect_status(200);
    assert_eq!(r.json()["token"], serde_json::Value::Null);
    assert_user_shape(&r.json()["user"]);
    assert!(r.set_cookies.is_empty(), "{:?}", r.set_cookies);
    assert_eq!(srv.count(r#"select count(*) from "session""#).await, 0);
    // The account exists: signing in works.
    srv.sign_in("a@example.com", PASSWORD).await;
});

both!(sign_up_disabled, config = |c| c.email_and_password.disable_sign_up = true, |srv| async move {
    let r = srv.client().post_json("/sign-up/email", json!({"name": "A", "email": "a@example.com", "password": PASSWORD})).await;
    r.expect_error(400, "EMAIL_PASSWORD_SIGN_UP_DISABLED", "Email and password sign up is not enabled");
    assert_eq!(srv.count(r#"select count(*) from "user""#).await, 0);
});

both!(sends_verification_on_sign_up_when_asked, config = |c| c.email_verification.send_on_sign_up = Some(true), |srv| async move {
    let c = srv.client();
    let r = c
        .post_json("/sign-up/email", json!({"name": "V", "email": "v@example.com", "password": PASSWORD, "callbackURL": "/welcome"}))
        .await;
    r.expect_status(200);
    let mail = srv.mail_of_kind("v@example.com", "verify-email").await;
    let url = mail["url"].as_str().unwrap();
    let prefix = format!("{}/verify-email?token=", srv.auth_url());
    assert!(url.starts_with(&prefix), "{url}");
    assert!(url.ends_with("&callbackURL=%2Fwelcome"), "{url}");
});

/// With enumeration-safe sign-up (require_email_verification, or auto_sign_in off), a sign-up for
/// an address that exists answers exactly what a new sign-up answers, every echoed field (`image`
/// too) included: only the fresh id and timestamps differ.
async fn duplicate_sign_up_echoes_what_a_new_one_does(srv: TestServer) {
    let body = json!({"name": "Dee", "email": "Dee@Example.com", "password": PASSWORD, "image": "https://example.com/dee.png"});
    let new = srv.client().post_json("/sign-up/email", body.clone()).await;
    new.expect_status(200);
    let dup = srv.client().post_json("/sign-up/email", body).await;
    dup.expect_status(200);
    assert_eq!(srv.count(r#"select count(*) from "user""#).await, 1, "the second is synthetic");
    assert_eq!(key_order(&new.text), key_order(&dup.text));
    assert_eq!(key_order(&member(&new.text, "user")), key_order(&member(&dup.text, "user")));
    let without_fresh = |v: &serde_json::Value| {
        let mut v = v.clone();
        for k in ["id", "createdAt", "updatedAt"] {
            v["user"].as_object_mut().expect("a user object").remove(k);
        }
        v
    };
    assert_eq!(without_fresh(new.json()), without_fresh(dup.json()));
    assert_eq!(dup.json()["user"]["image"], "https://example.com/dee.png");
    assert_eq!(dup.json()["user"]["email"], "dee@example.com");
    assert_user_shape(&dup.json()["user"]);
    assert_ne!(new.json()["user"]["id"], dup.json()["user"]["id"]);
}

both!(
    existing_address_answers_like_a_new_one_when_verification_is_required,
    config = |c| c.email_and_password.require_email_verification = true,
    duplicate_sign_up_echoes_what_a_new_one_does
);

both!(existing_address_answers_like_a_new_one_without_auto_sign_in, config = |c| c.email_and_password.auto_sign_in = false, |srv| {
    duplicate_sign_up_echoes_what_a_new_one_does(srv)
});
