//! A Redis restart that clients never see (issue 16): sessions kept only in Redis (Better Auth's
//! default) with persistence, a few clients reading their sessions and signing in on two instances
//! while the dedicated redis-server is killed and started again, and not one failed request; then
//! the same once more with both instances idle, where the stale connection used to answer 503.

use crate::harness::{Client, Cluster, RedisProc, SignedUp, PASSWORD};
use reqwest::Method;
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What the load saw.
#[derive(Default)]
struct Tally {
    ok: AtomicUsize,
    failed: AtomicUsize,
    first_failure: std::sync::Mutex<Option<String>>,
}

impl Tally {
    fn record(&self, what: &str, status: u16, good: bool, text: &str) {
        if good {
            self.ok.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_failure.lock().unwrap_or_else(|e| e.into_inner());
        first.get_or_insert_with(|| format!("{what}: {status} {text}"));
    }
}

/// get-session, and a sign-in every fourth round, alternating between the instances, until `stop`.
async fn load(c: Client, u: SignedUp, origins: [String; 2], stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let mut round = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let origin = &origins[round % 2];
        if round % 4 == 3 {
            let body = json!({"email": u.email, "password": PASSWORD});
            let r = c.send(Method::POST, format!("{origin}/api/auth/sign-in/email"), Some(body)).await;
            tally.record("sign-in", r.status, r.status == 200, &r.text);
        }
        let r = c.send(Method::GET, format!("{origin}/api/auth/get-session"), None).await;
        let good = r.status == 200 && r.body["user"]["id"] == u.id.as_str();
        tally.record("get-session", r.status, good, &r.text);
        round += 1;
    }
}

#[tokio::test]
async fn a_redis_restart_under_load_and_while_idle_fails_no_request() {
    let mut redis = RedisProc::start_persistent().await;
    let cl = Cluster::start(&redis.url(), |_| {}).await;
    let mut users = Vec::new();
    for i in 0..4 {
        let c = cl.client();
        let u = c.sign_up(&cl.a, &format!("restart{i}")).await;
        users.push((c, u));
    }
    let origins = [cl.a.origin.clone(), cl.b.origin.clone()];
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let workers: Vec<_> = users
        .iter()
        .map(|(c, u)| {
            let u = SignedUp { id: u.id.clone(), token: u.token.clone(), email: u.email.clone() };
            tokio::spawn(load(c.clone(), u, origins.clone(), stop.clone(), tally.clone()))
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(400)).await;
    let before = tally.ok.load(Ordering::Relaxed);
    let down = std::time::Instant::now();
    redis.stop();
    redis.restart().await;
    eprintln!("redis restarted in {:?}", down.elapsed());
    tokio::time::sleep(Duration::from_millis(600)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.expect("load task");
    }
    let failure = tally.first_failure.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(tally.failed.load(Ordering::Relaxed), 0, "requests failed across the restart; first: {failure:?}");
    assert!(before >= 8, "the load ran before the restart ({before} requests)");
    assert!(tally.ok.load(Ordering::Relaxed) > before + 8, "and after it");

    // Idle instances, and Redis away longer than the connection manager's background reconnect
    // keeps trying: the next request finds a failed connection, not only a stale one.
    redis.stop();
    tokio::time::sleep(Duration::from_millis(800)).await;
    redis.restart().await;
    for (c, u) in &users {
        for on in [&cl.a, &cl.b] {
            let r = c.get(on, "/get-session").await;
            assert_eq!(r.status, 200, "the first request after an idle restart: {}", r.text);
            assert_eq!(r.body["user"]["id"], u.id.as_str());
        }
    }
}
