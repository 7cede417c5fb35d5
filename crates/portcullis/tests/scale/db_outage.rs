//! A database outage that fails fast (issue 16): a throwaway PostgreSQL cluster killed with
//! SIGKILL under a load of sign-ups and get-sessions, then started again. While it is down every
//! request that needs it is answered 503 `DATABASE_UNAVAILABLE` with `Retry-After` within about
//! `database.acquire_timeout_ms` (no 500, no hang), `/health/ready` says so, sessions held in Redis
//! keep answering, and afterwards service resumes by itself with every acknowledged sign-up
//! complete (a user row and its credential account) and none half-written.

use crate::common::{bind_loopback, spawn_server, test_config};
use crate::harness::{random_hex, shared_redis, Client, RedisView, Resp, PASSWORD};
use crate::pg_cluster::PgCluster;
use portcullis::config::SecondaryStorageConfig;
use portcullis::{Auth, Config};
use reqwest::Method;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// No request may take longer than this, outage or not: the pool gives up after 1 s.
const BOUND: Duration = Duration::from_millis(2500);

#[derive(Debug, Clone)]
struct Seen {
    what: &'static str,
    status: u16,
    code: Option<String>,
    retry_after: bool,
    took: Duration,
    at: Instant,
    email: Option<String>,
    ok_body: bool,
}

type Log = Arc<Mutex<Vec<Seen>>>;

impl Seen {
    /// What `r`, sent at `at`, answered; `ok_body` says whether its body was the expected one.
    fn of(what: &'static str, r: &Resp, at: Instant, email: Option<String>, ok_body: bool) -> Seen {
        Seen {
            what,
            status: r.status,
            code: r.body["code"].as_str().map(str::to_string),
            retry_after: r.headers.contains_key("retry-after"),
            took: at.elapsed(),
            at,
            email,
            ok_body,
        }
    }
}

async fn sign_ups(c: Client, origin: String, worker: usize, stop: Arc<AtomicBool>, log: Log) {
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let email = format!("load-{worker}-{n}-{}@example.com", random_hex());
        let t = Instant::now();
        let body = json!({"email": email, "password": PASSWORD, "name": "load"});
        let r = c.send(Method::POST, format!("{origin}/api/auth/sign-up/email"), Some(body)).await;
        let ok_body = r.body["user"]["email"] == email.as_str();
        log.lock().unwrap().push(Seen::of("sign-up", &r, t, Some(email), ok_body));
        n += 1;
    }
}

async fn sessions(c: Client, origin: String, user_id: String, stop: Arc<AtomicBool>, log: Log) {
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        let r = c.send(Method::GET, format!("{origin}/api/auth/get-session"), None).await;
        let ok_body = r.body["user"]["id"] == user_id.as_str();
        log.lock().unwrap().push(Seen::of("get-session", &r, t, None, ok_body));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_killed_database_is_answered_503_fast_and_loses_nothing_acknowledged() {
    let pg = Arc::new(PgCluster::start().await);
    let prefix = format!("pc-test-{}:", random_hex());
    let _redis_cleanup = RedisView::new(&shared_redis(), &prefix);
    // A: Better Auth's default with Redis, sessions in secondary storage only. B: sessions in both
    // stores and refreshed on every read (update_age 0), so each get-session also writes the
    // database: during the outage that write fails and the read must still be answered.
    let mut origins = Vec::new();
    let mut servers = Vec::new();
    for both in [false, true] {
        let bound = bind_loopback().await;
        let mut config = Config {
            secondary_storage: Some(SecondaryStorageConfig { url: shared_redis(), prefix: prefix.clone(), ..Default::default() }),
            ..test_config(pg.url(), &bound.origin)
        };
        config.database.acquire_timeout_ms = 1000;
        if both {
            config.session.store_session_in_database = true;
            config.session.update_age = 0;
        }
        let auth = Auth::builder(config).build().await.expect("build the server");
        origins.push(bound.origin.clone());
        servers.push(spawn_server(auth, bound.listener));
    }
    let origin = origins[0].clone();

    let stop = Arc::new(AtomicBool::new(false));
    let log: Log = Arc::default();
    let mut tasks = Vec::new();
    for w in 0..4 {
        let on = origins[w % 2].clone();
        let c = Client::new(&on, &format!("10.9.0.{w}"));
        tasks.push(tokio::spawn(sign_ups(c, on, w, stop.clone(), log.clone())));
    }
    for w in 0..4 {
        let on = origins[w % 2].clone();
        let c = Client::new(&on, &format!("10.9.1.{w}"));
        let email = format!("reader{w}-{}@example.com", random_hex());
        let body = json!({"email": email, "password": PASSWORD, "name": "reader"});
        let r = c.send(Method::POST, format!("{on}/api/auth/sign-up/email"), Some(body)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let u = r.body["user"]["id"].as_str().expect("id").to_string();
        tasks.push(tokio::spawn(sessions(c, on, u, stop.clone(), log.clone())));
    }

    tokio::time::sleep(Duration::from_millis(800)).await;
    let killer = pg.clone();
    tokio::task::spawn_blocking(move || killer.kill()).await.expect("kill");
    let killed = Instant::now();

    // Readiness reports the database down, within its 1 s probe.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let probe = Client::new(&origin, "10.9.2.1");
    let t = Instant::now();
    let ready = probe.send(Method::GET, format!("{origin}/health/ready"), None).await;
    let probe_took = t.elapsed();
    assert_eq!(ready.status, 503, "{}", ready.text);
    assert_eq!(ready.body["database"], "down");
    assert!(ready.headers.contains_key("retry-after"));
    assert!(probe_took < Duration::from_millis(1500), "/health/ready took {probe_took:?}");

    tokio::time::sleep(Duration::from_millis(2500)).await;
    let starter = pg.clone();
    tokio::task::spawn_blocking(move || starter.start_server()).await.expect("start");
    let restarted = Instant::now();

    // Service resumes by itself: sign-ups succeed again.
    let resumed = async {
        loop {
            let n = log.lock().unwrap().iter().filter(|s| s.what == "sign-up" && s.status == 200 && s.at > restarted).count();
            if n >= 3 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), resumed).await.expect("sign-ups succeed again after the restart");
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("load task");
    }

    let log = log.lock().unwrap().clone();
    for s in &log {
        assert!(s.status == 200 || s.status == 503, "only 200 or 503: {s:?}");
        assert!(s.took < BOUND, "answered within {BOUND:?}: {s:?}");
        if s.status == 503 {
            assert_eq!(s.code.as_deref(), Some("DATABASE_UNAVAILABLE"), "{s:?}");
            assert!(s.retry_after, "503 with Retry-After: {s:?}");
        } else {
            assert!(s.ok_body, "{s:?}");
        }
    }
    let during = |s: &&Seen| s.at >= killed && s.at + s.took <= restarted;
    let refused = log.iter().filter(during).filter(|s| s.what == "sign-up" && s.status == 503).count();
    assert!(refused >= 3, "sign-ups were refused during the outage ({refused})");
    let reads: Vec<_> = log.iter().filter(during).filter(|s| s.what == "get-session").collect();
    assert!(reads.len() >= 10, "get-session ran during the outage ({})", reads.len());
    assert!(reads.iter().all(|s| s.status == 200), "sessions in Redis keep answering: {:?}", reads.iter().find(|s| s.status != 200));

    // Every acknowledged sign-up is complete in the database; nothing is half-written.
    let acknowledged: Vec<&str> =
        log.iter().filter(|s| s.what == "sign-up" && s.status == 200).filter_map(|s| s.email.as_deref()).collect();
    use sqlx::Connection;
    let mut db = sqlx::PgConnection::connect(&pg.url()).await.expect("connect after the restart");
    let complete: i64 = sqlx::query_scalar(
        r#"select count(*) from "user" u join account a on a."userId" = u.id and a."providerId" = 'credential' where u.email = any($1)"#,
    )
    .bind(&acknowledged)
    .fetch_one(&mut db)
    .await
    .expect("count complete sign-ups");
    assert_eq!(complete as usize, acknowledged.len(), "every acknowledged sign-up has its user and account");
    let half: i64 = sqlx::query_scalar(
        r#"select count(*) from "user" u where u.email like 'load-%' and not exists (select 1 from account a where a."userId" = u.id)"#,
    )
    .fetch_one(&mut db)
    .await
    .expect("count half-written sign-ups");
    assert_eq!(half, 0, "no user without its account");
    let _ = db.close().await;
    drop(servers);
    let slowest = log.iter().map(|s| s.took).max().unwrap_or_default();
    eprintln!(
        "{} requests, {} acknowledged sign-ups, {refused} refused during the outage, slowest {slowest:?}",
        log.len(),
        acknowledged.len()
    );
}
