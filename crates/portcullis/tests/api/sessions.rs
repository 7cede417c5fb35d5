//! `get-session`, `sign-out`, `list-sessions` and the revoke endpoints (spec §2.2, §4.3, §5).

use crate::harness::*;
use chrono::{Duration, Utc};
use serde_json::{json, Value};

const COOKIE: &str = "better-auth.session_token";
const THREE: [&str; 3] = ["better-auth.session_token", "better-auth.session_data", "better-auth.dont_remember"];

#[track_caller]
fn assert_clears_cookies(r: &Resp) {
    for name in THREE {
        assert!(r.deletes_cookie(name), "{name} expired: {:?}", r.set_cookies);
    }
}

both!(get_session_without_cookie_is_null, |srv| async move {
    let r = srv.client().get("/get-session").await;
    r.expect_status(200);
    assert_eq!(r.text, "null");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("pragma"), Some("no-cache"));
    assert!(r.set_cookies.is_empty());
});

both!(get_session_shapes_and_dates, |srv| async move {
    let u = srv.user("alice").await;
    let r = u.client.get("/get-session").await;
    r.expect_status(200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("pragma"), Some("no-cache"));
    let body = r.json();
    assert_session_shape(&body["session"]);
    assert_user_shape(&body["user"]);
    assert_eq!(body["session"]["userId"], u.id.as_str());
    assert_eq!(body["session"]["token"], u.token.as_str());
    assert_eq!(body["user"]["email"], u.email.as_str());
    let ttl = parse_time(&body["session"]["expiresAt"]) - Utc::now();
    assert!(ttl > Duration::days(7) - Duration::minutes(5) && ttl <= Duration::days(7), "7 days: {ttl}");
    assert!(r.set_cookies.is_empty(), "nothing to refresh yet: {:?}", r.set_cookies);
    // The raw, undecoded signed value is accepted too.
    let c = srv.client();
    c.set_cookie(COOKIE, &dec(&u.client.session_cookie().unwrap()));
    assert_eq!(c.session().await["user"]["id"], u.id.as_str());
});

async fn sign_in(srv: &TestServer, u: &SignedUp) -> Resp {
    srv.client().post_json("/sign-in/email", json!({"email": u.email, "password": u.password})).await
}

both!(get_session_survives_dropped_database_connections, |srv| async move {
    // Reads (get-session's lookup, sign-in's user and account, ...) run on connections kept out
    // of the pool (one round trip instead of the pool's three). When the database drops them
    // (restart, idle timeout, an operator's pg_terminate_backend), the next read must still
    // answer, on a fresh connection.
    let u = srv.user("kept").await;
    for _ in 0..3 {
        assert_eq!(u.client.session().await["user"]["id"], u.id.as_str());
        sign_in(&srv, &u).await.expect_status(200);
    }
    if srv.backend == Backend::Postgres {
        let killed = srv
            .count(
                "select count(pg_terminate_backend(pid)) from pg_stat_activity \
                 where datname = current_database() and pid <> pg_backend_pid()",
            )
            .await;
        assert!(killed >= 1, "the server's connections were terminated");
    }
    for _ in 0..3 {
        let r = sign_in(&srv, &u).await;
        r.expect_status(200);
        assert_eq!(r.json()["user"]["id"], u.id.as_str());
        let r = u.client.get("/get-session").await;
        r.expect_status(200);
        assert_eq!(r.json()["user"]["id"], u.id.as_str());
    }
    // The sign-ins' sessions were written: list-sessions (a read) sees all seven.
    let r = u.client.get("/list-sessions").await;
    r.expect_status(200);
    assert_eq!(r.json().as_array().map(Vec::len), Some(7), "{}", r.text);
    // And a revocation is still seen at once.
    let cookie = dec(&u.client.session_cookie().unwrap());
    u.client.post_empty("/sign-out").await.expect_status(200);
    let c = srv.client();
    c.set_cookie(COOKIE, &cookie);
    assert_eq!(c.get("/get-session").await.text, "null");
});

both!(get_session_key_order, |srv| async move {
    // Spec §2.0: keys in schema order with `id` last (DB-served sessions).
    let u = srv.user("order").await;
    let r = u.client.get("/get-session").await;
    assert_eq!(key_order(&r.text), ["session", "user"]);
    assert_eq!(key_order(&member(&r.text, "session")), SESSION_KEYS, "{}", r.text);
    assert_eq!(key_order(&member(&r.text, "user")), USER_KEYS, "{}", r.text);
    let r = u.client.get("/list-sessions").await;
    let first = first_element(&r.text);
    assert_eq!(key_order(&first), SESSION_KEYS, "{}", r.text);
});

both!(expired_session_is_null_and_clears_cookies, |srv| async move {
    let u = srv.user("exp").await;
    let past = Utc::now() - Duration::minutes(1);
    srv.sql(&format!(r#"update "session" set "expiresAt" = {} where "token" = '{}'"#, ts(past), u.token)).await;
    let r = u.client.get("/get-session").await;
    r.expect_status(200);
    assert_eq!(r.text, "null");
    assert_clears_cookies(&r);
    assert!(u.client.session_cookie().is_none());
    assert_eq!(srv.count(r#"select count(*) from "session""#).await, 0, "the expired row is deleted");
    // Guards see no session either.
    let c = srv.client();
    c.set_cookie(COOKIE, &format!("{}.{}", u.token, enc(&sign(&u.token))));
    c.get("/list-sessions").await.expect_error(401, "UNAUTHORIZED", "Unauthorized");
});

both!(bad_signatures_are_no_session, |srv| async move {
    let u = srv.user("tamper").await;
    let good = dec(&u.client.session_cookie().unwrap());
    let (token, sig) = good.rsplit_once('.').unwrap();
    // A wrong signature of the right shape: null, and cookies are left alone.
    let flipped = match sig.strip_prefix('A') {
        Some(rest) => format!("B{rest}"),
        None => format!("A{}", &sig[1..]),
    };
    let c = srv.client();
    for value in [format!("{token}.{}", enc(&flipped)), token.to_string(), format!("{token}.short"), format!("{token}x.{}", enc(sig))] {
        c.set_cookie(COOKIE, &value);
        let r = c.get("/get-session").await;
        r.expect_status(200);
        assert_eq!(r.text, "null", "cookie {value}");
        assert!(r.set_cookies.is_empty(), "a bad signature clears nothing: {:?}", r.set_cookies);
    }
    // A correctly signed token without a session row: null and cookies cleared.
    let ghost = "AbCdEfGhIjKlMnOpQrStUvWxYz012345";
    c.set_cookie(COOKIE, &format!("{ghost}.{}", enc(&sign(ghost))));
    let r = c.get("/get-session").await;
    assert_eq!(r.text, "null");
    assert!(r.deletes_cookie(COOKIE), "{:?}", r.set_cookies);
    // The first of two session cookies wins.
    let c = srv.client();
    let header = format!("{COOKIE}={token}.{}; {COOKIE}={}", enc(&flipped), u.client.session_cookie().unwrap());
    let r = c.req(reqwest::Method::GET, "/get-session").header("cookie", &header).send().await;
    assert_eq!(r.text, "null");
    // The real session is untouched.
    assert_eq!(u.client.session().await["user"]["id"], u.id.as_str());
});

both!(sliding_refresh_keeps_token_and_moves_expiry, |srv| async move {
    let u = srv.user("slide").await;
    let before = u.client.session_cookie().unwrap();
    let due = Utc::now() + Duration::days(5);
    srv.sql(&format!(r#"update "session" set "expiresAt" = {} where "token" = '{}'"#, ts(due), u.token)).await;
    let r = u.client.get("/get-session").await;
    r.expect_status(200);
    let line = r.cookie_line(COOKIE).expect("session cookie re-issued");
    assert_eq!(line, format!("{COOKIE}={before}; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax"), "same token, same signature");
    let s = &r.json()["session"];
    assert_eq!(s["token"], u.token.as_str());
    let ttl = parse_time(&s["expiresAt"]) - Utc::now();
    assert!(ttl > Duration::days(7) - Duration::minutes(5), "moved to now + 7 days: {ttl}");
    assert!(parse_time(&s["updatedAt"]) > parse_time(&s["createdAt"]), "updatedAt moves: {s}");
    // Stored, not just answered.
    let r = u.client.get("/get-session").await;
    assert!(r.cookie_line(COOKIE).is_none(), "not due any more: {:?}", r.set_cookies);
    assert_eq!(r.json()["session"]["expiresAt"], s["expiresAt"]);
});

both!(disable_refresh_flag, |srv| async move {
    let u = srv.user("norefresh").await;
    let due = Utc::now() + Duration::days(5);
    srv.sql(&format!(r#"update "session" set "expiresAt" = {} where "token" = '{}'"#, ts(due), u.token)).await;
    // Any non-empty value is true, "false" included (z.coerce.boolean).
    for q in ["disableRefresh=true", "disableRefresh=false", "disableRefresh=0"] {
        let r = u.client.get(&format!("/get-session?{q}")).await;
        r.expect_status(200);
        assert!(r.set_cookies.is_empty(), "{q}: {:?}", r.set_cookies);
        assert_eq!(parse_time(&r.json()["session"]["expiresAt"]).timestamp_millis(), due.timestamp_millis(), "{q}");
    }
    // The empty string is false.
    let r = u.client.get("/get-session?disableRefresh=").await;
    assert!(r.cookie_line(COOKIE).is_some(), "{:?}", r.set_cookies);
});

both!(update_age_zero_refreshes_every_time, config = |c| c.session.update_age = 0, |srv| async move {
    let u = srv.user("always").await;
    for _ in 0..2 {
        let r = u.client.get("/get-session").await;
        assert!(r.cookie_line(COOKIE).unwrap().contains("Max-Age=604800"), "{:?}", r.set_cookies);
    }
});

both!(post_get_session_is_405, |srv| async move {
    let u = srv.user("post").await;
    let r = u.client.post_empty("/get-session").await;
    r.expect_error(
        405,
        "METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED",
        "POST method requires deferSessionRefresh to be enabled in session config",
    );
});

both!(sign_out_ends_the_session, |srv| async move {
    let u = srv.user("frank").await;
    let kept = u.client.fork();
    let r = u.client.post_empty("/sign-out").await;
    r.expect_status(200);
    assert_eq!(r.json(), &json!({"success": true}));
    assert_clears_cookies(&r);
    assert!(u.client.cookie_names().is_empty());
    assert_eq!(u.client.session().await, Value::Null);
    assert_eq!(kept.session_from_db().await, Value::Null, "a copied cookie no longer works");
    assert_eq!(srv.count(r#"select count(*) from "session""#).await, 0);
    // Signing out without a session still succeeds.
    let r = srv.client().post_json("/sign-out", json!({})).await;
    r.expect_status(200);
    assert_eq!(r.json(), &json!({"success": true}));
});

both!(list_sessions_active_only_with_tokens, |srv| async move {
    let u = srv.user("carol").await;
    let phone = srv.sign_in(&u.email, &u.password).await;
    let tablet = srv.sign_in(&u.email, &u.password).await;
    let r = u.client.get("/list-sessions").await;
    r.expect_status(200);
    let list = r.json().as_array().unwrap().clone();
    assert_eq!(list.len(), 3);
    for s in &list {
        assert_session_shape(s);
        assert_eq!(s["userId"], u.id.as_str());
    }
    let phone_token = phone.session().await["session"]["token"].clone();
    assert!(list.iter().any(|s| s["token"] == phone_token), "tokens are listed");
    // Expired sessions are not listed.
    let tablet_token = tablet.session().await["session"]["token"].as_str().unwrap().to_string();
    let past = Utc::now() - Duration::hours(1);
    srv.sql(&format!(r#"update "session" set "expiresAt" = {} where "token" = '{tablet_token}'"#, ts(past))).await;
    assert_eq!(u.client.get("/list-sessions").await.json().as_array().unwrap().len(), 2);
    // Another user's sessions are not listed.
    let other = srv.user("other").await;
    assert_eq!(other.client.get("/list-sessions").await.json().as_array().unwrap().len(), 1);
    srv.client().get("/list-sessions").await.expect_error(401, "UNAUTHORIZED", "Unauthorized");
});

both!(list_sessions_needs_a_fresh_session, |srv| async move {
    let u = srv.user("stale").await;
    let old = Utc::now() - Duration::days(2);
    srv.sql(&format!(r#"update "session" set "createdAt" = {} where "token" = '{}'"#, ts(old), u.token)).await;
    u.client.get("/list-sessions").await.expect_error(403, "SESSION_NOT_FRESH", "Session is not fresh");
    // A fresh sign-in may list again.
    let c = srv.sign_in(&u.email, &u.password).await;
    c.get("/list-sessions").await.expect_status(200);
});

both!(revoke_session, |srv| async move {
    let u = srv.user("dave").await;
    let phone = srv.sign_in(&u.email, &u.password).await;
    let phone_token = phone.session().await["session"]["token"].as_str().unwrap().to_string();
    let r = u.client.post_json("/revoke-session", json!({"token": phone_token})).await;
    r.expect_status(200);
    assert_eq!(r.json(), &json!({"status": true}));
    assert!(r.set_cookies.is_empty(), "revoking another session sets no cookie: {:?}", r.set_cookies);
    assert_eq!(phone.session_from_db().await, Value::Null);
    assert!(u.client.session().await.is_object());

    // Another user's token: a silent no-op.
    let eve = srv.user("eve").await;
    let r = u.client.post_json("/revoke-session", json!({"token": eve.token})).await;
    r.expect_status(200);
    assert_eq!(r.json(), &json!({"status": true}));
    assert_eq!(eve.client.session_from_db().await["user"]["id"], eve.id.as_str());
    // Unknown token: also 200.
    u.client.post_json("/revoke-session", json!({"token": "nope"})).await.expect_status(200);

    u.client.post_json("/revoke-session", json!({})).await.expect_error(
        400,
        "VALIDATION_ERROR",
        "[body.token] Invalid input: expected string, received undefined",
    );
    srv.client().post_json("/revoke-session", json!({"token": eve.token})).await.expect_error(401, "UNAUTHORIZED", "Unauthorized");

    // Revoking one's own session expires the cookies.
    let r = u.client.post_json("/revoke-session", json!({"token": u.token})).await;
    r.expect_status(200);
    assert!(r.deletes_cookie(COOKIE), "{:?}", r.set_cookies);
    assert_eq!(u.client.session().await, Value::Null);
});

both!(revoke_sessions_ends_all, |srv| async move {
    let u = srv.user("all").await;
    let phone = srv.sign_in(&u.email, &u.password).await;
    let keep = srv.user("bystander").await;
    let r = u.client.post_empty("/revoke-sessions").await;
    r.expect_status(200);
    assert_eq!(r.json(), &json!({"status": true}));
    assert_clears_cookies(&r);
    assert_eq!(u.client.session().await, Value::Null);
    assert_eq!(phone.session_from_db().await, Value::Null);
    assert!(keep.client.session().await.is_object(), "other users are not affected");
    assert_eq!(srv.count(&format!(r#"select count(*) from "session" where "userId" = '{}'"#, u.id)).await, 0);
    srv.client().post_empty("/revoke-sessions").await.expect_error(401, "UNAUTHORIZED", "Unauthorized");
});

both!(revoke_other_sessions_keeps_current, |srv| async move {
    let u = srv.user("others").await;
    let phone = srv.sign_in(&u.email, &u.password).await;
    let tablet = srv.sign_in(&u.email, &u.password).await;
    let r = u.client.post_empty("/revoke-other-sessions").await;
    r.expect_status(200);
    assert_eq!(r.json(), &json!({"status": true}));
    assert!(r.set_cookies.is_empty(), "{:?}", r.set_cookies);
    assert_eq!(phone.session_from_db().await, Value::Null);
    assert_eq!(tablet.session_from_db().await, Value::Null);
    assert_eq!(u.client.session().await["session"]["token"], u.token.as_str());
    assert_eq!(u.client.get("/list-sessions").await.json().as_array().unwrap().len(), 1);
    srv.client().post_empty("/revoke-other-sessions").await.expect_error(401, "UNAUTHORIZED", "Unauthorized");
});

both!(
    configured_lifetimes,
    config = |c| {
        c.session.expires_in = 3600;
        c.session.fresh_age = 0;
    },
    |srv| async move {
        let u = srv.user("short").await;
        let s = u.client.session().await;
        let ttl = parse_time(&s["session"]["expiresAt"]) - Utc::now();
        assert!(ttl > Duration::minutes(55) && ttl <= Duration::hours(1), "expiresIn 3600: {ttl}");
        let r = srv.client().post_json("/sign-in/email", json!({"email": u.email, "password": u.password})).await;
        assert!(r.cookie_line(COOKIE).unwrap().contains("; Max-Age=3600;"), "{:?}", r.set_cookies);
        // freshAge 0 turns the freshness check off.
        let old = Utc::now() - Duration::days(30);
        srv.sql(&format!(r#"update "session" set "createdAt" = {} where "token" = '{}'"#, ts(old), u.token)).await;
        u.client.get("/list-sessions").await.expect_status(200);
    }
);
