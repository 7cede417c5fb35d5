//! The `session_data` cookie cache (spec §4.4, §5.3, §15.3).

use crate::harness::*;
use base64::Engine;
use chrono::{Duration, Utc};
use serde_json::{json, Value};

const DATA: &str = "better-auth.session_data";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn enable(c: &mut portcullis::Config) {
    c.session.cookie_cache.enabled = true;
}

/// base64url(HMAC-SHA256(secret, msg)) without padding.
fn sign_url(msg: &str) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(msg.as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

/// Decodes a compact cache cookie: (raw text of the payload, outer expiresAt, signature).
fn decode(cookie: &str) -> (String, i64, String) {
    let text = String::from_utf8(B64.decode(cookie).expect("base64url cookie")).expect("utf-8 JSON");
    let outer: Value = serde_json::from_str(&text).unwrap();
    (member(&text, "session"), outer["expiresAt"].as_i64().expect("expiresAt"), outer["signature"].as_str().unwrap().to_string())
}

/// Builds a compact cache cookie for `payload` (raw JSON) expiring at `expires_at`, signed with the test secret.
fn encode(payload: &str, expires_at: i64) -> String {
    let signed = format!("{},\"expiresAt\":{expires_at}}}", &payload[..payload.len() - 1]);
    let outer = format!("{{\"session\":{payload},\"expiresAt\":{expires_at},\"signature\":\"{}\"}}", sign_url(&signed));
    B64.encode(outer)
}

both!(compact_cookie_format, config = enable, |srv| async move {
    let u = srv.user("fmt").await;
    let line = srv.client().post_json("/sign-in/email", json!({"email": u.email, "password": u.password})).await;
    let line = line.cookie_line(DATA).expect("session_data is set on sign-in").to_string();
    assert!(line.ends_with("; Max-Age=300; Path=/; HttpOnly; SameSite=Lax"), "{line}");
    let value = line.split(';').next().unwrap()[DATA.len() + 1..].to_string();
    let (payload, expires_at, signature) = decode(&value);
    let signed = format!("{},\"expiresAt\":{expires_at}}}", &payload[..payload.len() - 1]);
    assert_eq!(signature, sign_url(&signed), "compact signature over the payload plus expiresAt");
    let p: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(key_order(&payload), ["session", "user", "updatedAt", "version"]);
    assert_eq!(p["version"], "1");
    assert_session_shape(&p["session"]);
    assert_user_shape(&p["user"]);
    assert_eq!(p["user"]["id"], u.id.as_str());
    let ttl = expires_at - Utc::now().timestamp_millis();
    assert!(ttl > 290_000 && ttl <= 300_000, "outer expiry is maxAge: {ttl} ms");
    // The sign-up client got one too.
    assert!(u.client.cookie(DATA).is_some());
});

both!(cache_answers_until_bypassed, config = enable, |srv| async move {
    let u = srv.user("cached").await;
    assert!(u.client.session().await.is_object());
    // Revoked behind the cookie's back: the cache still answers (bounded by maxAge, documented).
    srv.sql(&format!(r#"delete from "session" where "token" = '{}'"#, u.token)).await;
    let r = u.client.get("/get-session").await;
    r.expect_status(200);
    assert_eq!(r.json()["user"]["id"], u.id.as_str(), "served from the cookie cache");
    assert_eq!(r.json()["session"]["token"], u.token.as_str());
    assert!(r.set_cookies.is_empty(), "a cache hit writes no cookie: {:?}", r.set_cookies);
    // Sensitive endpoints re-read the store.
    u.client.fork().post_empty("/revoke-other-sessions").await.expect_error(401, "UNAUTHORIZED", "Unauthorized");
    // disableCookieCache goes to the database.
    let r = u.client.get("/get-session?disableCookieCache=true").await;
    assert_eq!(r.text, "null");
    assert!(r.deletes_cookie("better-auth.session_token"), "{:?}", r.set_cookies);
    assert!(r.deletes_cookie(DATA), "{:?}", r.set_cookies);
    assert_eq!(u.client.session().await, Value::Null);
});

both!(cache_is_bound_to_the_session_token, config = enable, |srv| async move {
    let alice = srv.user("alice").await;
    let bob = srv.user("bob").await;
    // Bob's token with Alice's cache: the cache is ignored.
    bob.client.set_cookie(DATA, &alice.client.cookie(DATA).unwrap());
    let s = bob.client.session().await;
    assert_eq!(s["user"]["id"], bob.id.as_str());
    // A cache without a session token is not a session.
    let c = srv.client();
    c.set_cookie(DATA, &alice.client.cookie(DATA).unwrap());
    assert_eq!(c.session().await, Value::Null);
});

both!(invalid_cache_falls_through_to_the_database, config = enable, |srv| async move {
    let u = srv.user("crafted").await;
    let (payload, _, _) = decode(&u.client.cookie(DATA).unwrap());
    srv.sql(&format!(r#"delete from "session" where "token" = '{}'"#, u.token)).await;
    let now = Utc::now().timestamp_millis();
    let probe = |cookie: String| {
        let c = u.client.fork();
        c.set_cookie(DATA, &cookie);
        async move { c.session().await }
    };
    // Control: a cookie we re-sign ourselves with a later expiry is accepted.
    assert!(probe(encode(&payload, now + 60_000)).await.is_object(), "re-signed cache is valid");
    // Outer expiry passed.
    assert_eq!(probe(encode(&payload, now - 1_000)).await, Value::Null);
    // Wrong version.
    assert_eq!(probe(encode(&payload.replace(r#""version":"1""#, r#""version":"0""#), now + 60_000)).await, Value::Null);
    // The embedded session has expired.
    let p: Value = serde_json::from_str(&payload).unwrap();
    let old = p["session"]["expiresAt"].as_str().unwrap();
    let past = (Utc::now() - Duration::minutes(1)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    assert_eq!(probe(encode(&payload.replacen(old, &past, 1), now + 60_000)).await, Value::Null);
    // A bad signature, a changed payload, garbage.
    let (_, exp, _) = decode(&u.client.cookie(DATA).unwrap());
    let forged = encode(&payload.replace(&u.email, "admin@example.com"), exp);
    let tampered = {
        let text = String::from_utf8(B64.decode(&forged).unwrap()).unwrap();
        B64.encode(text.replace("admin@example.com", "root@example.com"))
    };
    assert_eq!(probe(tampered).await, Value::Null);
    assert_eq!(probe("not-base64!".into()).await, Value::Null);
    assert_eq!(probe(B64.encode("{}")).await, Value::Null);
});

both!(database_answer_reissues_cache, config = enable, |srv| async move {
    let u = srv.user("reissue").await;
    u.client.set_cookie(DATA, "garbage");
    let r = u.client.get("/get-session").await;
    assert_eq!(r.json()["user"]["id"], u.id.as_str());
    let line = r.cookie_line(DATA).expect("a fresh cache cookie");
    assert!(line.contains("; Max-Age=300;"), "{line}");
    let (payload, _, _) = decode(&u.client.cookie(DATA).unwrap());
    assert_eq!(serde_json::from_str::<Value>(&payload).unwrap()["user"]["id"], u.id.as_str());
});

both!(leftover_cache_cookie_is_expired_when_disabled, |srv| async move {
    let u = srv.user("leftover").await;
    u.client.set_cookie(DATA, "stale");
    let r = u.client.get("/get-session").await;
    assert_eq!(r.json()["user"]["id"], u.id.as_str());
    assert!(r.deletes_cookie(DATA), "a leftover session_data must be expired (§4.4, §5.3 step 3); Set-Cookie: {:?}", r.set_cookies);
});

both!(remember_me_off_cache_cookie_has_no_max_age, config = enable, |srv| async move {
    let u = srv.user("forget").await;
    let r = srv.client().post_json("/sign-in/email", json!({"email": u.email, "password": u.password, "rememberMe": false})).await;
    r.expect_status(200);
    let line = r.cookie_line(DATA).expect("session_data");
    assert!(!line.contains("Max-Age"), "{line}");
});

both!(
    jwt_strategy,
    config = |c| {
        c.session.cookie_cache.enabled = true;
        c.session.cookie_cache.strategy = portcullis::config::CookieCacheStrategy::Jwt;
    },
    |srv| async move {
        let u = srv.user("jwt").await;
        let value = u.client.cookie(DATA).expect("session_data");
        let parts: Vec<&str> = value.split('.').collect();
        assert_eq!(parts.len(), 3, "a JWT: {value}");
        assert_eq!(B64.decode(parts[0]).unwrap(), br#"{"alg":"HS256"}"#);
        assert_eq!(parts[2], sign_url(&format!("{}.{}", parts[0], parts[1])), "HS256 with the secret");
        let claims: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["user"]["id"], u.id.as_str());
        assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 300);
        srv.sql(r#"delete from "session""#).await;
        assert_eq!(u.client.session().await["user"]["id"], u.id.as_str(), "served from the JWT cache");
        assert_eq!(u.client.session_from_db().await, Value::Null);
    }
);

// Issue 12, item 4: "sign out everywhere" must shut a still-cached cookie out of every endpoint
// that reveals tokens or changes the account, at once; only get-session may keep answering from
// the cache until `max_age` (Better Auth's documented bound).
both!(
    revoked_session_is_refused_by_sensitive_endpoints_despite_the_cache,
    config = |c| {
        c.session.cookie_cache.enabled = true;
        crate::common::jwt(c).enabled = true;
    },
    |srv| async move {
        let victim = srv.user("victim").await;
        // A second browser (the attacker's copy) with a warm cache cookie.
        let stolen = srv.sign_in(&victim.email, &victim.password).await;
        assert!(stolen.cookie(DATA).is_some(), "sign-in sets the cache cookie");
        // A second linked account, so unlink-account would really unlink something.
        let second = format!(
            r#"insert into "account" ("id", "accountId", "providerId", "userId", "createdAt", "updatedAt")
               select 'second-account', 'gh-1', 'github', "userId", "createdAt", "updatedAt" from "account" where "userId" = '{}'"#,
            victim.id
        );
        assert_eq!(srv.sql(&second).await, 1);

        // Sign out everywhere, then sign in again: the new session's token must not leak.
        victim.client.post_empty("/revoke-sessions").await.expect_status(200);
        let fresh = srv.sign_in(&victim.email, &victim.password).await;

        // get-session may still answer from the cache (bounded by cookie_cache.max_age) ...
        let r = stolen.get("/get-session").await;
        r.expect_status(200);
        assert_eq!(r.json()["user"]["id"], victim.id.as_str(), "served from the cookie cache");
        // ... but mints no JWT for the revoked session.
        assert!(r.header("set-auth-jwt").is_none(), "set-auth-jwt from a revoked session: {:?}", r.header("set-auth-jwt"));

        // Everything that reveals tokens or changes the account reads the store.
        stolen.get("/list-sessions").await.expect_error(401, "UNAUTHORIZED", "Unauthorized");
        stolen.get("/token").await.expect_error(401, "UNAUTHORIZED", "Unauthorized");
        stolen.post_json("/update-user", json!({"name": "pwned"})).await.expect_error(401, "UNAUTHORIZED", "Unauthorized");
        stolen.post_json("/unlink-account", json!({"accountId": "second-account"})).await.expect_error(401, "UNAUTHORIZED", "Unauthorized");
        assert_eq!(srv.count(&format!(r#"select count(*) from "account" where "userId" = '{}'"#, victim.id)).await, 2);
        assert_eq!(srv.sql_scalar(&format!(r#"select "name" from "user" where "id" = '{}'"#, victim.id)).await.as_deref(), Some("victim"));

        // The live session is unaffected.
        let r = fresh.get("/list-sessions").await;
        r.expect_status(200);
        assert_eq!(r.json().as_array().map(Vec::len), Some(1), "only the new session: {}", r.text);
        assert!(fresh.get("/get-session").await.header("set-auth-jwt").is_some());
        fresh.get("/token").await.expect_status(200);
        fresh.post_json("/update-user", json!({"name": "renamed"})).await.expect_status(200);
        fresh.post_json("/unlink-account", json!({"accountId": "second-account"})).await.expect_status(200);
    }
);

// The store read on list-sessions and unlink-account keeps their `fresh_age` check.
both!(
    sensitive_reads_keep_the_fresh_age_check,
    config = |c| {
        c.session.cookie_cache.enabled = true;
        c.session.fresh_age = 60;
    },
    |srv| async move {
        let u = srv.user("stale").await;
        u.client.get("/list-sessions").await.expect_status(200);
        // Age the session in the store; the cached copy still says it is new.
        let old = Utc::now() - Duration::minutes(5);
        srv.sql(&format!(r#"update "session" set "createdAt" = {} where "token" = '{}'"#, ts(old), u.token)).await;
        u.client.get("/list-sessions").await.expect_code(403, "SESSION_NOT_FRESH");
        u.client.post_json("/unlink-account", json!({"accountId": "x"})).await.expect_code(403, "SESSION_NOT_FRESH");
    }
);

// A cached copy of a revoked session must not be renewed: a response that re-issues the session
// cookies (here the change-email link) would hand out a new cache cookie, valid another `max_age`.
both!(
    verification_link_does_not_renew_a_revoked_cached_session,
    config = |c| {
        c.session.cookie_cache.enabled = true;
        c.user.change_email_enabled = true;
    },
    |srv| async move {
        let u = srv.user("renew").await;
        let stolen = srv.sign_in(&u.email, &u.password).await;
        u.client.post_json("/change-email", json!({"newEmail": "renewed@example.com"})).await.expect_status(200);
        let mail = srv.wait_mail("renewed@example.com", |m| m["token"].is_string()).await;
        let token = mail["token"].as_str().unwrap().to_string();
        u.client.post_empty("/revoke-sessions").await.expect_status(200);
        let r = stolen.get(&format!("/verify-email?token={}", enc(&token))).await;
        r.expect_status(200);
        assert_eq!(r.json()["user"]["email"], "renewed@example.com", "the link itself still works");
        assert!(r.set_cookies.is_empty(), "no cookies for a revoked session: {:?}", r.set_cookies);
    }
);

// Issue 12 review: `revocation_check` without secondary storage has nothing to check against, so a
// cache hit is not confirmed and must not be signed into a JWT as if it were.
both!(
    revocation_check_without_secondary_storage_mints_no_jwt_for_a_revoked_session,
    config = |c| {
        c.session.cookie_cache.enabled = true;
        c.session.cookie_cache.revocation_check = true;
        crate::common::jwt(c).enabled = true;
    },
    |srv| async move {
        let victim = srv.user("unchecked").await;
        let stolen = srv.sign_in(&victim.email, &victim.password).await;
        assert!(stolen.get("/get-session").await.header("set-auth-jwt").is_some(), "a live session gets its JWT");
        victim.client.post_empty("/revoke-sessions").await.expect_status(200);
        let r = stolen.get("/get-session").await;
        r.expect_status(200);
        assert_eq!(r.json()["user"]["id"], victim.id.as_str(), "still served from the cookie cache (max_age bound)");
        assert!(r.header("set-auth-jwt").is_none(), "set-auth-jwt from a revoked session: {:?}", r.header("set-auth-jwt"));
    }
);
