//! What revocation and rate limiting guarantee while their storage fails (issue 12, items 8 and 9):
//! a revocation queued during a Redis outage survives a restart of the instance that queued it,
//! the cookie cache's revocation check honours Better Auth's revoked-before marker, and a rate
//! limit that cannot be counted refuses sign-in (503) but lets the rest of the API through, unless
//! `rate_limit.on_storage_error` says otherwise.

use crate::both_stores;
use crate::harness::{self, shared_redis, Cluster, RedisProc, RedisView};
use portcullis::config::{OnStorageError, RateLimitStorage};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_revocation_queued_during_an_outage_survives_a_restart_of_the_instance() {
    let redis = RedisProc::start().await;
    let mut cl = Cluster::start(&redis.url(), both_stores).await;
    let view = RedisView::new(&redis.url(), &cl.redis.prefix);
    let c = cl.client();
    let u = c.sign_up(&cl.a, "ivan").await;
    // Another device with the same cookies, on connections of its own (none to the old A); each
    // read below uses a fresh copy, since a refused read clears the cookies it was sent with.
    let holder = c.detached();
    assert!(view.get(&u.token).is_some());

    // Redis keeps its data but stops answering: A cannot delete the key and queues the revocation.
    let pause = Instant::now();
    view.raw(&["CLIENT", "PAUSE", "3000", "ALL"]);
    assert_eq!(c.post(&cl.a, "/sign-out", json!({})).await.status, 200);
    drop(c);

    // A dies and a new A starts on the same database while Redis is still unreachable.
    cl.restart_a().await;
    assert_eq!(holder.fork().session(&cl.a).await, Value::Null, "refused during the outage");
    assert!(pause.elapsed() < Duration::from_millis(2800), "the outage lasted long enough: {:?}", pause.elapsed());

    // Redis answers again, with the stale copy the old A could not delete.
    tokio::time::sleep(Duration::from_millis(3100).saturating_sub(pause.elapsed())).await;
    for _ in 0..30 {
        assert_eq!(holder.fork().session(&cl.a).await, Value::Null, "the restarted instance does not resurrect it");
        if !cl.a.auth.secondary_health.is_down() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!cl.a.auth.secondary_health.is_down(), "the new A uses Redis again");
    assert_eq!(holder.fork().session(&cl.a).await, Value::Null, "the restarted instance does not resurrect it");
    let queued = || cl.db.count(r#"select count(*) from "pendingRevocation""#);
    let mut replayed = false;
    for _ in 0..40 {
        if view.get(&u.token).is_none() && queued().await == 0 {
            replayed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(replayed, "the restarted instance replayed the deletion and removed the row");
    for on in [&cl.a, &cl.b] {
        assert_eq!(holder.fork().session(on).await, Value::Null);
    }
}

#[tokio::test]
async fn revocation_check_honours_the_revoked_before_marker() {
    let cl = Cluster::start(&shared_redis(), |c| {
        c.session.cookie_cache.enabled = true;
        c.session.cookie_cache.revocation_check = true;
    })
    .await;
    let c = cl.client();
    let u = c.sign_up(&cl.a, "judy").await;
    assert!(c.cookie("better-auth.session_data").is_some());
    // A lost update of the active list (Better Auth's #11073, or another writer) leaves the
    // session out of it, so revoke-all cannot delete its key; the marker is what revokes it.
    cl.redis.raw(&["DEL", &format!("{}active-sessions-{}", cl.redis.prefix, u.id)]);
    let other = cl.client();
    assert_eq!(other.sign_in(&cl.b, &u.email).await.status, 200);
    assert_eq!(other.post(&cl.b, "/revoke-sessions", json!({})).await.status, 200);
    assert!(cl.redis.get(&u.token).is_some(), "the key revoke-all did not know of survived");
    assert!(cl.redis.get(&format!("revoked-sessions-before-{}", u.id)).is_some());
    assert_eq!(c.session(&cl.a).await, Value::Null, "a cached cookie older than the marker is refused");
}

fn wrong_password() -> Value {
    json!({"email": "nobody@example.com", "password": "wrong-password"})
}

#[tokio::test]
async fn rate_limits_with_redis_down_refuse_sign_in_and_serve_the_rest_by_default() {
    let mut redis = RedisProc::start().await;
    for on_error in [None, Some(OnStorageError::Allow), Some(OnStorageError::Deny)] {
        if on_error.is_some() {
            redis.restart().await;
        }
        let cl = Cluster::start(&redis.url(), |c| {
            both_stores(c);
            c.rate_limit.enabled = Some(true);
            c.rate_limit.on_storage_error = on_error;
        })
        .await;
        let c = cl.client();
        let u = c.sign_up(&cl.a, "kim").await;
        redis.stop();

        let sign_in = c.sign_in(&cl.a, &u.email).await;
        let session = c.get(&cl.a, "/get-session").await;
        let refused = c.post(&cl.b, "/sign-up/email", json!({"email": "x@example.com", "password": harness::PASSWORD, "name": "x"})).await;
        match on_error {
            None => {
                assert_eq!(sign_in.status, 503, "{}", sign_in.text);
                assert_eq!(
                    sign_in.body,
                    json!({"message": "Rate limiting is unavailable; try again shortly", "code": "RATE_LIMIT_UNAVAILABLE"})
                );
                assert_eq!(sign_in.headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("5"));
                assert_eq!(refused.status, 503, "sign-up too");
                assert_eq!(session.status, 200, "a non-sensitive path is let through: {}", session.text);
                assert_eq!(session.body["user"]["id"], u.id.as_str());
            }
            Some(OnStorageError::Allow) => {
                assert_eq!(sign_in.status, 200, "allow: {}", sign_in.text);
                assert_eq!(session.status, 200);
            }
            Some(OnStorageError::Deny) => {
                assert_eq!(sign_in.status, 503);
                assert_eq!(session.status, 503, "deny applies to every path: {}", session.text);
                assert_eq!(session.body["code"], "RATE_LIMIT_UNAVAILABLE");
            }
        }
        assert!(cl.a.auth.rate_limit_health.errors() >= 2, "{on_error:?}: counted");
        assert!(cl.b.auth.rate_limit_health.errors() >= 1, "{on_error:?}: counted");
    }
}

#[tokio::test]
async fn rate_limits_in_a_failing_database_refuse_sign_in_by_default() {
    let cl = Cluster::start(&shared_redis(), |c| {
        c.rate_limit.enabled = Some(true);
        c.rate_limit.storage = Some(RateLimitStorage::Database);
    })
    .await;
    let c = cl.client();
    assert_eq!(c.post(&cl.a, "/sign-in/email", wrong_password()).await.status, 401, "counted while the table is there");
    // The counters' table disappears (a bad migration, a failing database): every consume errors.
    cl.sql(r#"alter table "rateLimit" rename to "rateLimitGone""#).await;
    let r = c.post(&cl.a, "/sign-in/email", wrong_password()).await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.body["code"], "RATE_LIMIT_UNAVAILABLE");
    let r = c.get(&cl.a, "/get-session").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(cl.a.auth.rate_limit_health.errors(), 2);
    assert!(cl.a.auth.rate_limit_health.is_down());
    cl.sql(r#"alter table "rateLimitGone" rename to "rateLimit""#).await;
    assert_eq!(c.post(&cl.a, "/sign-in/email", wrong_password()).await.status, 401, "counted again");
    assert!(!cl.a.auth.rate_limit_health.is_down());
}
