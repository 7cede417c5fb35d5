//! Webhooks (`[webhooks] enabled = true`): a loopback receiver that fails and then answers gets
//! each event exactly once, signed (checked here with a plain HMAC), across a restart of the
//! server and with two instances on one database; a delivery that keeps failing is dead-lettered
//! and redelivered through the admin API; a rotated secret signs beside the new one during its
//! overlap.

use crate::common::db::TestDb;
use crate::harness::*;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use portcullis::plugins::webhooks::config::{EndpointConfig, WebhooksConfig};
use portcullis::Config;
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECRET1: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

// ---------------------------------------------------------------- the receiver

/// One request the receiver got, and what it answered.
#[derive(Clone, Debug)]
struct Hit {
    id: String,
    ts: i64,
    sig: String,
    body: String,
    answered: u16,
}

/// A loopback endpoint: answers 500 to the first `fail_first` attempts of each webhook-id (and to
/// everything while `down`), 200 otherwise.
#[derive(Clone)]
struct Receiver {
    url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
    fail_first: usize,
    down: Arc<AtomicBool>,
}

impl Receiver {
    async fn start(fail_first: usize) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let rx = Receiver { url, hits: Arc::default(), fail_first, down: Arc::default() };
        let app = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(rx.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        rx
    }
    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
    /// The ids answered 200.
    fn delivered(&self) -> Vec<String> {
        self.hits().into_iter().filter(|h| h.answered == 200).map(|h| h.id).collect()
    }
}

async fn receive(State(rx): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    let h = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let mut hits = rx.hits.lock().unwrap();
    let id = h("webhook-id");
    let before = hits.iter().filter(|x| x.id == id).count();
    let answered = if rx.down.load(Ordering::SeqCst) || before < rx.fail_first { 500 } else { 200 };
    hits.push(Hit { ts: h("webhook-timestamp").parse().unwrap_or(0), sig: h("webhook-signature"), id, body, answered });
    StatusCode::from_u16(answered).unwrap()
}

/// Whether some entry of the `webhook-signature` header is `secret`'s (the spec's check, by hand).
fn signed_by(hit: &Hit, secret: &str) -> bool {
    let key = STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.{}", hit.id, hit.ts, hit.body).as_bytes());
    let want = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    hit.sig.split(' ').any(|s| s == want)
}

// ---------------------------------------------------------------- configuration and servers

fn section(c: &mut Config) -> &mut WebhooksConfig {
    c.section_mut().expect("[webhooks] parses")
}

/// Webhooks on with short delays, loopback allowed, and (when `url` is given) one configured
/// endpoint `rx` signed with [`SECRET1`].
fn fast(c: &mut Config, url: &str, events: &[&str]) {
    let w = section(c);
    w.enabled = true;
    w.allow_private = true;
    w.backoff_base_ms = 20;
    w.backoff_max_seconds = 1;
    w.poll_interval_ms = 20;
    w.timeout_ms = 2_000;
    if !url.is_empty() {
        w.endpoints.push(EndpointConfig {
            id: Some("rx".into()),
            url: url.into(),
            events: events.iter().map(|e| e.to_string()).collect(),
            secret: SECRET1.into(),
            previous_secrets: vec![],
        });
    }
}

fn admin_on(c: &mut Config) {
    c.section_mut::<portcullis::plugins::admin::config::AdminConfig>().expect("[admin] parses").enabled = true;
}

// ---------------------------------------------------------------- cases

crate::on_both_backends!(failing_twice_then_answering_gets_each_event_once_signed, retries,);

async fn retries(backend: Backend) {
    let rx = Receiver::start(2).await;
    let srv = TestServer::start(backend, |c| fast(c, &rx.url, &["user.*", "session.created"])).await;
    let u = srv.user("hooked").await;
    u.client.post_json("/update-user", json!({"name": "Renamed"})).await.expect_status(200);
    wait_until("three events delivered", || rx.delivered().len() == 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let hits = rx.hits();
    let ids: BTreeSet<String> = hits.iter().map(|h| h.id.clone()).collect();
    assert_eq!(ids.len(), 3, "one webhook-id per event: {hits:?}");
    let mut types = BTreeSet::new();
    for id in &ids {
        let mine: Vec<&Hit> = hits.iter().filter(|h| &h.id == id).collect();
        assert_eq!(mine.iter().map(|h| h.answered).collect::<Vec<_>>(), [500, 500, 200], "three attempts, one success, same id");
        assert!(mine.iter().all(|h| h.body == mine[0].body), "the same body on every attempt");
        assert!(mine.iter().all(|h| signed_by(h, SECRET1)), "every attempt signed");
        let body: Value = serde_json::from_str(&mine[0].body).unwrap();
        assert!(body["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
        assert!(!mine[0].body.contains("\"token\""), "no session token in a payload: {}", mine[0].body);
        types.insert(body["type"].as_str().unwrap().to_string());
        if body["type"] == "user.updated" {
            assert_eq!(body["data"]["targetId"], u.id.as_str());
        }
    }
    assert_eq!(types, BTreeSet::from(["user.created".into(), "session.created".into(), "user.updated".into()]));
    let stored = srv.count("select count(*) from \"webhookDelivery\" where status = 'delivered' and attempts = 3").await;
    assert_eq!(stored, 3);
    assert_eq!(srv.count("select count(*) from \"webhookDelivery\" where \"lastError\" is not null").await, 0);
}

crate::on_both_backends!(a_pending_delivery_survives_a_restart_and_is_delivered_once, restart,);

async fn restart(backend: Backend) {
    let rx = Receiver::start(0).await;
    rx.down.store(true, Ordering::SeqCst);
    let db = TestDb::new(backend, "portcullis_wh").await;
    let url = rx.url.clone();
    let tweak = move |c: &mut Config| {
        fast(c, &url, &["user.created"]);
        section(c).max_attempts = 1_000;
        section(c).backoff_base_ms = 50;
    };
    let a = Instance::start(&db.url, &tweak).await;
    sign_up(&a.client(), "restart@example.com", PASSWORD, "Hooked").await;
    wait_until("a first, failed attempt", || !rx.hits().is_empty()).await;
    a.stop().await;
    assert_eq!(db.count("select count(*) from \"webhookDelivery\" where status = 'pending'").await, 1);
    rx.down.store(false, Ordering::SeqCst);
    let b = Instance::start(&db.url, &tweak).await;
    wait_until("the delivery after the restart", || rx.delivered().len() == 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let hits = rx.hits();
    assert!(hits.iter().all(|h| h.id == hits[0].id && signed_by(h, SECRET1)), "one id on every attempt: {hits:?}");
    assert_eq!(rx.delivered().len(), 1, "delivered once");
    assert_eq!(db.count("select count(*) from \"webhookDelivery\" where status = 'delivered'").await, 1);
    drop(b);
}

#[tokio::test]
async fn two_instances_on_one_postgres_database_deliver_each_event_once() {
    let rx = Receiver::start(0).await;
    let db = TestDb::new(Backend::Postgres, "portcullis_wh").await;
    let url = rx.url.clone();
    let tweak = move |c: &mut Config| {
        fast(c, &url, &["user.created"]);
        section(c).poll_interval_ms = 5;
    };
    let a = Instance::start(&db.url, &tweak).await;
    let b = Instance::start(&db.url, &tweak).await;
    const N: usize = 24;
    for i in 0..N {
        let at = if i % 2 == 0 { &a } else { &b };
        sign_up(&at.client(), &format!("pair{i}@example.com"), PASSWORD, "Hooked").await;
    }
    wait_until("every event delivered", || rx.delivered().len() == N).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hits = rx.hits();
    let ids: BTreeSet<&str> = hits.iter().map(|h| h.id.as_str()).collect();
    assert_eq!((hits.len(), ids.len()), (N, N), "N events, N requests: {hits:?}");
    assert_eq!(db.count("select count(*) from \"webhookDelivery\" where status = 'delivered' and attempts = 1").await, N as i64);
}

/// The deliveries the admin API lists with `status`.
async fn deliveries(c: &Client, status: &str) -> Value {
    let r = c.get(&format!("/admin/webhooks/deliveries?status={status}")).await;
    r.expect_status(200);
    r.json().clone()
}

/// The dead-letter list once it holds one delivery (within 15 s).
async fn one_dead(c: &Client) -> Value {
    let mut dead = Value::Null;
    for _ in 0..750 {
        dead = deliveries(c, "dead").await;
        if dead["total"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(dead["total"], 1, "{dead}");
    dead
}

crate::on_both_backends!(a_dead_delivery_is_listed_and_redelivered_through_the_admin_api, dead_letter,);

async fn dead_letter(backend: Backend) {
    let rx = Receiver::start(0).await;
    rx.down.store(true, Ordering::SeqCst);
    let srv = TestServer::start(backend, |c| {
        admin_on(c);
        fast(c, "", &[]);
        section(c).max_attempts = 3;
    })
    .await;
    let boss = srv.user("boss").await;
    assert_eq!(srv.sql(&format!("update \"user\" set role = 'admin' where id = '{}'", boss.id)).await, 1);
    let plain = srv.user("plain").await;
    let create = json!({"url": rx.url, "events": ["user.updated"]});
    plain.client.post_json("/admin/webhooks/create", create.clone()).await.expect_error(
        403,
        "YOU_ARE_NOT_ALLOWED_TO_MANAGE_WEBHOOKS",
        "You are not allowed to manage webhooks",
    );
    boss.client.post_json("/admin/webhooks/create", json!({"url": "ftp://example.com/", "events": ["*"]})).await.expect_error(
        400,
        "INVALID_WEBHOOK_URL",
        "The webhook URL must be an http(s) URL",
    );
    boss.client.post_json("/admin/webhooks/create", json!({"url": rx.url, "events": ["us*er"]})).await.expect_status(400);
    let r = boss.client.post_json("/admin/webhooks/create", create).await;
    r.expect_status(200);
    let secret = r.json()["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    let l = boss.client.get("/admin/webhooks/list").await;
    l.expect_status(200);
    assert_eq!(l.json()["webhooks"].as_array().unwrap().len(), 1);
    assert!(!l.text.contains("whsec_") && !l.text.contains(&secret[6..]), "a secret is never listed: {}", l.text);
    let raw = srv.sql_scalar("select secret from \"webhookEndpoint\"").await.unwrap();
    assert!(!raw.contains(&secret[6..]), "stored encrypted");

    plain.client.post_json("/update-user", json!({"name": "Changed"})).await.expect_status(200);
    let dead = one_dead(&boss.client).await;
    let d = &dead["deliveries"][0];
    assert_eq!(
        (d["attempts"].as_i64(), d["lastError"].as_str(), d["eventType"].as_str()),
        (Some(3), Some("HTTP 500"), Some("user.updated"))
    );
    assert_eq!(d["payload"]["data"]["user"]["name"], "Changed");
    assert_eq!(rx.hits().len(), 3, "max_attempts attempts, then no more");
    let id = d["id"].as_str().unwrap().to_string();

    rx.down.store(false, Ordering::SeqCst);
    let r = boss.client.post_json("/admin/webhooks/redeliver", json!({"id": id})).await;
    r.expect_status(200);
    assert_eq!(r.json()["delivery"]["status"], "pending");
    wait_until("the redelivery", || rx.delivered().len() == 1).await;
    let hits = rx.hits();
    assert!(hits.iter().all(|h| h.id == id && signed_by(h, &secret)), "the same webhook-id, signed with the endpoint's secret");
    for _ in 0..100 {
        if deliveries(&boss.client, "delivered").await["total"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(deliveries(&boss.client, "delivered").await["total"], 1);
    boss.client.post_json("/admin/webhooks/redeliver", json!({"id": id})).await.expect_error(
        400,
        "DELIVERY_NOT_DEAD",
        "Only a dead delivery can be redelivered",
    );
    boss.client.post_json("/admin/webhooks/redeliver", json!({"id": "nope"})).await.expect_status(404);
}

crate::on_both_backends!(a_rotated_secret_signs_beside_the_new_one_during_the_overlap, rotation,);

async fn rotation(backend: Backend) {
    let rx = Receiver::start(0).await;
    let srv = TestServer::start(backend, |c| {
        admin_on(c);
        fast(c, "", &[]);
    })
    .await;
    let boss = srv.user("boss").await;
    srv.sql(&format!("update \"user\" set role = 'admin' where id = '{}'", boss.id)).await;
    let r = boss.client.post_json("/admin/webhooks/create", json!({"url": rx.url, "events": ["user.updated"]})).await;
    r.expect_status(200);
    let (id, first) = (r.json()["webhook"]["id"].as_str().unwrap().to_string(), r.json()["secret"].as_str().unwrap().to_string());
    let r = boss.client.post_json("/admin/webhooks/rotate-secret", json!({"id": id})).await;
    r.expect_status(200);
    let second = r.json()["secret"].as_str().unwrap().to_string();
    assert_ne!(first, second);

    boss.client.post_json("/update-user", json!({"name": "One"})).await.expect_status(200);
    wait_until("the first delivery", || rx.delivered().len() == 1).await;
    let h = &rx.hits()[0];
    assert_eq!(h.sig.split(' ').count(), 2, "two signatures during the overlap: {}", h.sig);
    assert!(signed_by(h, &first) && signed_by(h, &second));

    let r = boss.client.post_json("/admin/webhooks/rotate-secret", json!({"id": id, "overlapSeconds": 0})).await;
    r.expect_status(200);
    let third = r.json()["secret"].as_str().unwrap().to_string();
    boss.client.post_json("/update-user", json!({"name": "Two"})).await.expect_status(200);
    wait_until("the second delivery", || rx.delivered().len() == 2).await;
    let h = rx.hits().into_iter().find(|h| h.body.contains("\"Two\"")).unwrap();
    assert_eq!(h.sig.split(' ').count(), 1, "{}", h.sig);
    assert!(signed_by(&h, &third) && !signed_by(&h, &second));
    boss.client.post_json("/admin/webhooks/rotate-secret", json!({"id": "nope"})).await.expect_status(404);
    boss.client.post_json("/admin/webhooks/delete", json!({"id": id})).await.expect_status(200);
    boss.client.post_json("/admin/webhooks/delete", json!({"id": id})).await.expect_status(404);
}

crate::on_both_backends!(concurrent_claims_of_one_row_have_one_winner, claims,);

/// The lease itself: many workers claiming one due row at once, one wins; once its lease has
/// expired, another may take it.
async fn claims(backend: Backend) {
    use portcullis::plugins::webhooks::outbox;
    let db = TestDb::new(backend, "portcullis_wh").await;
    // The worker runs, but never finds the row below due.
    let inst = Instance::start(&db.url, &|c: &mut Config| {
        fast(c, "", &[]);
        section(c).poll_interval_ms = 600_000;
    })
    .await;
    let auth = inst.weak.upgrade().unwrap();
    // Due in the far future: the worker never takes it; only the claims below compete.
    let id = "d1".to_string();
    let insert = format!(
        "insert into \"webhookDelivery\" (id, \"endpointId\", \"eventType\", payload, status, attempts, \"nextAttemptAt\", \"createdAt\") \
         values ('{id}', 'e', 'user.created', '{{}}', 'pending', 0, {t}, {t})",
        t = when(backend, "2999-01-01T00:00:00.000Z")
    );
    assert_eq!(db.sql(&insert).await, 1);
    let mut set = tokio::task::JoinSet::new();
    for i in 0..16 {
        let (auth, id) = (auth.clone(), id.clone());
        set.spawn(async move { outbox::claim(&auth, &id, &format!("w{i}"), chrono::Duration::seconds(60)).await.unwrap().is_some() });
    }
    let mut won = 0;
    while let Some(r) = set.join_next().await {
        won += usize::from(r.unwrap());
    }
    assert_eq!(won, 1, "exactly one claim wins");
    // An expired lease (a crashed worker's) is taken over.
    assert_eq!(
        db.sql(&format!(
            "update \"webhookDelivery\" set \"lockedUntil\" = {} where id = '{id}'",
            when(backend, "2000-01-01T00:00:00.000Z")
        ))
        .await,
        1
    );
    assert!(outbox::claim(&auth, &id, "late", chrono::Duration::seconds(60)).await.unwrap().is_some());
    assert!(outbox::claim(&auth, &id, "later", chrono::Duration::seconds(60)).await.unwrap().is_none());
}

fn when(backend: Backend, iso: &str) -> String {
    match backend {
        Backend::Sqlite => format!("'{iso}'"),
        Backend::Postgres => format!("'{iso}'::timestamptz"),
    }
}

crate::on_both_backends!(finished_deliveries_are_removed_after_the_retention, retention,);

async fn retention(backend: Backend) {
    let rx = Receiver::start(0).await;
    let srv = TestServer::start(backend, |c| {
        fast(c, &rx.url, &["user.created"]);
        section(c).retention_seconds = 0;
    })
    .await;
    srv.user("kept").await;
    wait_until("the delivery", || rx.delivered().len() == 1).await;
    for _ in 0..750 {
        if srv.count("select count(*) from \"webhookDelivery\"").await == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the delivered row was not swept");
}

crate::on_both_backends!(private_addresses_are_refused_unless_allowed, private_addresses,);

/// Without `allow_private`: a literal private address is refused at creation, and a name that
/// resolves to one (`localhost`) fails at each attempt without a request being sent.
async fn private_addresses(backend: Backend) {
    let rx = Receiver::start(0).await;
    let port = rx.url.rsplit(':').next().unwrap().trim_end_matches("/hook").to_string();
    let srv = TestServer::start(backend, |c| {
        admin_on(c);
        fast(c, "", &[]);
        let w = section(c);
        w.allow_private = false;
        w.max_attempts = 2;
    })
    .await;
    let boss = srv.user("boss").await;
    srv.sql(&format!("update \"user\" set role = 'admin' where id = '{}'", boss.id)).await;
    boss.client.post_json("/admin/webhooks/create", json!({"url": rx.url, "events": ["*"]})).await.expect_error(
        400,
        "PRIVATE_WEBHOOK_URL",
        "The webhook URL points to a private address",
    );
    let by_name = format!("http://localhost:{port}/hook");
    boss.client.post_json("/admin/webhooks/create", json!({"url": by_name, "events": ["user.updated"]})).await.expect_status(200);
    boss.client.post_json("/update-user", json!({"name": "Nope"})).await.expect_status(200);
    let dead = one_dead(&boss.client).await;
    assert!(dead["deliveries"][0]["lastError"].as_str().unwrap().contains("loopback"), "{dead}");
    assert!(rx.hits().is_empty(), "no request reached the private address");
}
