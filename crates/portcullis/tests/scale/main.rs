//! Several Portcullis instances behind one PostgreSQL and one Redis (issue 6): sessions shared
//! through secondary storage with Better Auth's key layout, revocation that reaches every
//! instance, rate limits counted across instances, degraded mode while Redis is down, and races.
//!
//! Needs PostgreSQL (PORTCULLIS_TEST_PG, default postgres://postgres@127.0.0.1:5432/postgres),
//! Redis (PORTCULLIS_TEST_REDIS, default 127.0.0.1:6379; each test uses its own random key prefix and deletes it afterwards)
//! and /usr/bin/redis-server for the outage tests.

#[path = "../common/mod.rs"]
mod common;
mod db_outage;
mod harness;
mod outages;
mod pg_cluster;
mod restarts;

use harness::{shared_redis, Cluster, RedisProc};
use portcullis::config::RateLimitStorage;
use serde_json::{json, Value};
use std::time::Duration;

fn both_stores(c: &mut portcullis::Config) {
    c.session.store_session_in_database = true;
}

#[tokio::test]
async fn a_session_from_a_works_on_b_with_better_auths_key_layout() {
    let cl = Cluster::start(&shared_redis(), |_| {}).await;
    let alice = cl.client();
    let u = alice.sign_up(&cl.a, "alice").await;
    let s = alice.session(&cl.b).await;
    assert_eq!(s["user"]["id"], u.id.as_str());
    assert_eq!(s["session"]["token"], u.token.as_str());

    // `<token>` → {"session","user"} with a TTL to expiresAt; the active list; no session row.
    let cached: Value = serde_json::from_str(&cl.redis.get(&u.token).expect("session key")).expect("json");
    assert_eq!(cached["session"]["userId"], u.id.as_str());
    assert_eq!(cached["user"]["email"], u.email.as_str());
    let ttl = cl.redis.ttl(&u.token);
    assert!((604_700..=604_800).contains(&ttl), "ttl {ttl}");
    let list: Value = serde_json::from_str(&cl.redis.get(&format!("active-sessions-{}", u.id)).expect("list")).expect("json");
    assert_eq!(list[0]["token"], u.token.as_str());
    assert!(list[0]["expiresAt"].is_i64());
    assert_eq!(cl.db.count("select count(*) from session").await, 0, "secondary storage only (Better Auth's default)");

    // update-user on B refreshes the cached user everywhere.
    let r = alice.post(&cl.b, "/update-user", json!({"name": "Alice Two"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(alice.session(&cl.a).await["user"]["name"], "Alice Two");

    // list-sessions on A sees both sessions; revoke-session on B is refused on A at once.
    let other = cl.client();
    assert_eq!(other.sign_in(&cl.b, &u.email).await.status, 200);
    let l = alice.get(&cl.a, "/list-sessions").await;
    assert_eq!(l.body.as_array().map(Vec::len), Some(2), "{}", l.text);
    let other_token = other.session(&cl.a).await["session"]["token"].as_str().expect("token").to_string();
    let r = alice.post(&cl.b, "/revoke-session", json!({"token": other_token})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(other.session(&cl.a).await, Value::Null);
    assert!(cl.redis.get(&other_token).is_none());

    // sign-out on B: A refuses the token, and the active list is emptied (key deleted).
    let stolen = alice.fork();
    assert_eq!(alice.post(&cl.b, "/sign-out", json!({})).await.status, 200);
    assert_eq!(stolen.session(&cl.a).await, Value::Null);
    assert!(cl.redis.get(&u.token).is_none());
    assert!(cl.redis.get(&format!("active-sessions-{}", u.id)).is_none());
}

#[tokio::test]
async fn revoke_all_password_change_and_delete_user_reach_every_instance() {
    let cl = Cluster::start(&shared_redis(), |c| {
        both_stores(c);
        c.user.delete_user_enabled = true;
    })
    .await;
    let a1 = cl.client();
    let u = a1.sign_up(&cl.a, "bob").await;
    let a2 = cl.client();
    assert_eq!(a2.sign_in(&cl.b, &u.email).await.status, 200);
    assert_eq!(cl.db.count("select count(*) from session").await, 2, "also in the database");

    // change-password with revokeOtherSessions on A: a2's session dies on B at once.
    let r = a1
        .post(
            &cl.a,
            "/change-password",
            json!({"currentPassword": harness::PASSWORD, "newPassword": harness::PASSWORD, "revokeOtherSessions": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(a2.session(&cl.b).await, Value::Null);
    assert_eq!(a1.session(&cl.b).await["user"]["id"], u.id.as_str(), "the new session works everywhere");
    assert!(cl.redis.get(&format!("revoked-sessions-before-{}", u.id)).is_some());

    // revoke-other-sessions on B keeps the caller.
    let a3 = cl.client();
    assert_eq!(a3.sign_in(&cl.a, &u.email).await.status, 200);
    assert_eq!(a1.post(&cl.b, "/revoke-other-sessions", json!({})).await.status, 200);
    assert_eq!(a3.session(&cl.a).await, Value::Null);
    assert_ne!(a1.session(&cl.a).await, Value::Null);

    // delete-user on B: nothing of the user is accepted on A, nothing is left in Redis.
    let a4 = cl.client();
    assert_eq!(a4.sign_in(&cl.a, &u.email).await.status, 200);
    let r = a1.post(&cl.b, "/delete-user", json!({"password": harness::PASSWORD})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(a4.session(&cl.a).await, Value::Null);
    assert_eq!(a1.session(&cl.a).await, Value::Null);
    assert_eq!(cl.db.count("select count(*) from session").await, 0);
    let left: Vec<String> = cl.redis.keys().into_iter().filter(|k| !k.starts_with("revoked-sessions-before-")).collect();
    assert!(left.is_empty(), "left in Redis: {left:?}");
}

#[tokio::test]
async fn the_cookie_cache_is_bounded_and_revocation_check_makes_it_immediate() {
    for check in [false, true] {
        let cl = Cluster::start(&shared_redis(), |c| {
            c.session.cookie_cache.enabled = true;
            c.session.cookie_cache.max_age = 2;
            c.session.cookie_cache.revocation_check = check;
            crate::common::jwt(c).enabled = true;
        })
        .await;
        let c = cl.client();
        let u = c.sign_up(&cl.a, "carol").await;
        assert!(c.cookie("better-auth.session_data").is_some());
        let holder = c.fork();
        // A live session answered from the cache gets its JWT (confirmed by Redis, or by the store).
        assert!(holder.get(&cl.a, "/get-session").await.headers.contains_key("set-auth-jwt"));
        let r = c.post(&cl.b, "/revoke-sessions", json!({})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let s = holder.session(&cl.a).await;
        if check {
            assert_eq!(s, Value::Null, "revocation_check: refused at once");
        } else {
            assert_eq!(s["user"]["id"], u.id.as_str(), "without the check the cookie is trusted up to max_age");
            tokio::time::sleep(Duration::from_millis(2100)).await;
            assert_eq!(holder.session(&cl.a).await, Value::Null, "and refused once max_age has passed");
        }
    }
}

// `revocation_check` reads the session key and the revoked-before marker in one round trip.
#[tokio::test]
async fn redis_get_many_is_one_mget_in_key_order() {
    use portcullis::secondary::{RedisStorage, SecondaryStorage, DEFAULT_TIMEOUT};
    let view = harness::RedisView::new(&shared_redis(), &format!("pc-test-{}:", harness::random_hex()));
    let redis = RedisStorage::open(&shared_redis(), &view.prefix, DEFAULT_TIMEOUT).unwrap();
    redis.set("a", "1", Some(60)).await.unwrap();
    redis.set("c", "3", None).await.unwrap();
    let got = redis.get_many(&["c", "b", "a"]).await;
    view.clear();
    assert_eq!(got.unwrap(), vec![Some("3".to_string()), None, Some("1".to_string())]);
    assert_eq!(redis.get_many(&[]).await.unwrap(), Vec::<Option<String>>::new());
}

async fn rate_limit_across_instances(storage: Option<RateLimitStorage>) {
    let cl = Cluster::start(&shared_redis(), |c| {
        c.rate_limit.enabled = Some(true);
        c.rate_limit.storage = storage;
    })
    .await;
    let c = cl.client();
    let body = json!({"email": "nobody@example.com", "password": "wrong-password"});
    let mut statuses = Vec::new();
    for i in 0..4 {
        let on = if i % 2 == 0 { &cl.a } else { &cl.b };
        statuses.push(c.post(on, "/sign-in/email", body.clone()).await.status);
    }
    assert_eq!(statuses, vec![401, 401, 401, 429], "3 per 10 s counted across both instances");
    if storage == Some(RateLimitStorage::Database) {
        assert_eq!(cl.db.count(r#"select count(*) from "rateLimit""#).await, 1);
    } else {
        assert!(cl.redis.keys().iter().any(|k| k.ends_with("|/sign-in/email")), "{:?}", cl.redis.keys());
    }
}

#[tokio::test]
async fn rate_limits_count_across_instances_in_redis() {
    rate_limit_across_instances(None).await;
}

#[tokio::test]
async fn rate_limits_count_across_instances_in_the_database() {
    rate_limit_across_instances(Some(RateLimitStorage::Database)).await;
}

#[tokio::test]
async fn database_rate_limit_is_atomic_under_concurrency() {
    let cl = Cluster::start(&shared_redis(), |c| {
        c.rate_limit.enabled = Some(true);
        c.rate_limit.storage = Some(RateLimitStorage::Database);
    })
    .await;
    let c = cl.client();
    let body = json!({"email": "nobody@example.com", "password": "wrong-password"});
    let mut tasks = Vec::new();
    for i in 0..12 {
        let (c, body) = (c.clone(), body.clone());
        let origin = if i % 2 == 0 { cl.a.origin.clone() } else { cl.b.origin.clone() };
        tasks.push(tokio::spawn(async move {
            c.send(reqwest::Method::POST, format!("{origin}/api/auth/sign-in/email"), Some(body)).await.status
        }));
    }
    let mut allowed = 0;
    for t in tasks {
        if t.await.expect("task") != 429 {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 3, "exactly max requests pass, whatever the interleaving");
}

#[tokio::test]
async fn redis_outage_with_sessions_in_the_database_is_served_degraded_and_recovers() {
    let mut redis = RedisProc::start().await;
    let cl = Cluster::start(&redis.url(), both_stores).await;
    let c = cl.client();
    let u = c.sign_up(&cl.a, "dave").await;
    let before = c.cookie("better-auth.session_token");
    let leaving = cl.client();
    assert_eq!(leaving.sign_in(&cl.a, &u.email).await.status, 200);

    redis.stop();
    for on in [&cl.a, &cl.b, &cl.a] {
        let s = c.session(on).await;
        assert_eq!(s["user"]["id"], u.id.as_str(), "served from the database while Redis is down");
    }
    let during = cl.client();
    let r = during.sign_in(&cl.b, &u.email).await;
    assert_eq!(r.status, 200, "sign-in during the outage: {}", r.text);
    assert_eq!(leaving.post(&cl.b, "/sign-out", json!({})).await.status, 200);
    assert_eq!(leaving.session(&cl.a).await, Value::Null);
    assert!(cl.a.auth.secondary_health.failures() > 0 && cl.b.auth.secondary_health.failures() > 0);
    assert!(cl.a.auth.secondary_health.is_down());

    redis.restart().await;
    // Recovery: within a second or two the instances use Redis again; no session was lost.
    let mut recovered = false;
    for _ in 0..40 {
        assert_eq!(c.session(&cl.a).await["user"]["id"], u.id.as_str());
        assert_eq!(during.session(&cl.b).await["user"]["id"], u.id.as_str(), "the session made during the outage survives");
        if !cl.a.auth.secondary_health.is_down() {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "A left degraded mode");
    assert_eq!(c.cookie("better-auth.session_token"), before);
    let fresh = cl.client();
    assert_eq!(fresh.sign_in(&cl.a, &u.email).await.status, 200);
    let token = fresh.session(&cl.b).await["session"]["token"].as_str().expect("token").to_string();
    assert!(RedisViewOf(&redis, &cl).get(&token).is_some(), "new sessions are cached again");
}

/// The cluster's prefix on the dedicated server.
#[allow(non_snake_case)]
fn RedisViewOf(redis: &RedisProc, cl: &Cluster) -> harness::RedisView {
    harness::RedisView::new(&redis.url(), &cl.redis.prefix)
}

#[tokio::test]
async fn redis_outage_with_sessions_only_in_redis_is_a_clean_503() {
    let mut redis = RedisProc::start().await;
    let cl = Cluster::start(&redis.url(), |_| {}).await;
    let c = cl.client();
    c.sign_up(&cl.a, "erin").await;
    redis.stop();
    let r = c.get(&cl.b, "/get-session").await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.body, json!({"message": "Session storage unavailable", "code": "SECONDARY_STORAGE_UNAVAILABLE"}));
    let t = std::time::Instant::now();
    let r = c.get(&cl.a, "/get-session").await;
    assert_eq!(r.status, 503);
    assert!(t.elapsed() < Duration::from_secs(1), "bounded, never a hang");
    redis.restart().await;
    // The data went with the process (no persistence): the session is gone, cleanly.
    let mut last = 0;
    for _ in 0..40 {
        last = c.get(&cl.a, "/get-session").await.status;
        if last == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last, 200, "recovers when Redis returns");
}

#[tokio::test]
async fn a_revocation_during_a_redis_stall_is_replayed_when_it_answers() {
    let redis = RedisProc::start().await;
    let cl = Cluster::start(&redis.url(), both_stores).await;
    let c = cl.client();
    let u = c.sign_up(&cl.a, "frank").await;
    let holder = c.fork();
    // Redis keeps its data but stops answering: the revocation cannot reach it in time.
    let view = RedisViewOf(&redis, &cl);
    view.raw(&["CLIENT", "PAUSE", "1500", "ALL"]);
    assert_eq!(c.post(&cl.a, "/sign-out", json!({})).await.status, 200);
    assert_eq!(holder.session(&cl.a).await, Value::Null, "the revoking instance refuses it at once");
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let mut gone = false;
    for _ in 0..40 {
        if view.get(&u.token).is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the queued deletion reached Redis");
    assert_eq!(holder.session(&cl.b).await, Value::Null, "and every instance refuses it");
}

#[tokio::test]
async fn parallel_refreshes_of_one_session_stay_consistent() {
    let cl = Cluster::start(&shared_redis(), |c| {
        both_stores(c);
        c.session.update_age = 0;
    })
    .await;
    let c = cl.client();
    let u = c.sign_up(&cl.a, "gina").await;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let c = c.fork();
        let origin = if i % 2 == 0 { cl.a.origin.clone() } else { cl.b.origin.clone() };
        tasks.push(tokio::spawn(async move { c.send(reqwest::Method::GET, format!("{origin}/api/auth/get-session"), None).await }));
    }
    for t in tasks {
        let r = t.await.expect("task");
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["session"]["token"], u.token.as_str());
    }
    let cached: Value = serde_json::from_str(&cl.redis.get(&u.token).expect("still cached")).expect("json");
    assert_eq!(cached["session"]["token"], u.token.as_str());
    let list: Value = serde_json::from_str(&cl.redis.get(&format!("active-sessions-{}", u.id)).expect("list")).expect("json");
    assert_eq!(list.as_array().map(Vec::len), Some(1), "one entry per session, however many refreshes");
    assert_eq!(cl.db.count("select count(*) from session").await, 1);
}

#[tokio::test]
async fn parallel_revoke_and_get_session_never_resurrect_a_session() {
    for in_db in [false, true] {
        let cl = Cluster::start(&shared_redis(), |c| {
            c.session.store_session_in_database = in_db;
            c.session.update_age = 0;
        })
        .await;
        let c = cl.client();
        let u = c.sign_up(&cl.a, "hank").await;
        let mut readers = Vec::new();
        for i in 0..16 {
            let c = c.fork();
            let origin = if i % 2 == 0 { cl.a.origin.clone() } else { cl.b.origin.clone() };
            readers.push(tokio::spawn(async move {
                let mut statuses = Vec::new();
                for _ in 0..5 {
                    statuses.push(c.send(reqwest::Method::GET, format!("{origin}/api/auth/get-session"), None).await.status);
                }
                statuses
            }));
        }
        let revoker = c.fork();
        let r = revoker.post(&cl.b, "/sign-out", json!({})).await;
        assert_eq!(r.status, 200);
        for t in readers {
            for s in t.await.expect("task") {
                assert!(s == 200 || s == 401, "no 5xx while racing: {s}");
            }
        }
        // After the revocation (and every racing refresh) has finished, nobody gets the session.
        for on in [&cl.a, &cl.b] {
            assert_eq!(c.fork().session(on).await, Value::Null, "in_db={in_db}");
        }
        assert!(cl.redis.get(&u.token).is_none(), "in_db={in_db}: not resurrected in Redis");
        assert_eq!(cl.db.count("select count(*) from session").await, 0);
    }
}
