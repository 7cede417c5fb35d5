//! `POST /preferences/merge` (`[preferences] enabled = true`): per-key merge, newest timestamp
//! wins, atomic on the server; concurrent patches from two devices lose nothing.

use crate::common::db::TestDb;
use crate::harness::*;
use portcullis::plugins::preferences::PreferencesConfig;
use portcullis::Config;
use serde_json::{json, Value};
use std::sync::Arc;

fn on(c: &mut Config) {
    c.section_mut::<PreferencesConfig>().expect("[preferences] parses").enabled = true;
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

const MERGE: &str = "/preferences/merge";

fn one(key: &str, value: Value, ts: Value) -> Value {
    json!({ "patch": { key: value }, "meta": { key: ts } })
}

/// Sends every body from its client at once; every answer.
async fn all_at_once(jobs: Vec<(Arc<Client>, Value)>) -> Vec<Resp> {
    let mut set = tokio::task::JoinSet::new();
    for (c, body) in jobs {
        set.spawn(async move { c.post_json(MERGE, body).await });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.expect("request task"));
    }
    out
}

both!(two_devices_merging_disjoint_keys_at_once_lose_nothing, config = on, |srv| async move {
    let u = srv.user("prefs").await;
    let laptop = Arc::new(u.client);
    let phone = Arc::new(srv.sign_in(&u.email, &u.password).await);
    let t = now_ms();
    let mut jobs = Vec::new();
    for i in 0..50 {
        jobs.push((laptop.clone(), one(&format!("laptop{i}"), json!(i), json!(t))));
        jobs.push((phone.clone(), one(&format!("phone{i}"), json!({ "n": i }), json!(t))));
    }
    for r in all_at_once(jobs).await {
        r.expect_status(200);
    }
    // An empty patch changes nothing and answers the document.
    let r = laptop.post_json(MERGE, json!({"patch": {}, "meta": {}})).await;
    r.expect_status(200);
    let prefs = r.json()["preferences"].as_object().expect("document").clone();
    assert_eq!(prefs.len(), 100, "{prefs:?}");
    for i in 0..50 {
        assert_eq!(prefs[&format!("laptop{i}")], json!(i));
        assert_eq!(prefs[&format!("phone{i}")], json!({ "n": i }));
    }
    assert_eq!(r.json()["prefsMeta"].as_object().unwrap().len(), 100);
    // The user carries both fields (get-session from the store).
    let s = phone.session_from_db().await;
    assert_eq!(s["user"]["preferences"].as_object().unwrap().len(), 100);
});

both!(same_key_races_end_with_the_newest_timestamp, config = on, |srv| async move {
    let u = srv.user("prefs").await;
    let laptop = Arc::new(u.client);
    let phone = Arc::new(srv.sign_in(&u.email, &u.password).await);
    let t = now_ms() - 60_000;
    // Timestamps interleaved between the devices and sent all at once: arrival order is random.
    let mut jobs = Vec::new();
    for i in 0..20 {
        let c = if i % 2 == 0 { laptop.clone() } else { phone.clone() };
        jobs.push((c, one("theme", json!(format!("v{i}")), json!(t + i))));
    }
    for r in all_at_once(jobs).await {
        r.expect_status(200);
    }
    let r = laptop.post_json(MERGE, json!({"patch": {}, "meta": {}})).await;
    assert_eq!(r.json()["preferences"], json!({"theme": "v19"}));
    assert_eq!(r.json()["prefsMeta"], json!({"theme": t + 19}));

    // A stale patch (older timestamp, ISO form) is ignored; a tie keeps the stored value.
    let old = chrono::DateTime::from_timestamp_millis(t).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let r = phone.post_json(MERGE, one("theme", json!("stale"), json!(old))).await;
    r.expect_status(200);
    assert_eq!(r.json()["preferences"], json!({"theme": "v19"}));
    let r = phone.post_json(MERGE, one("theme", json!("tie"), json!(t + 19))).await;
    assert_eq!(r.json()["preferences"], json!({"theme": "v19"}));

    // null deletes the key when newer, and an older write cannot bring it back.
    let r = laptop.post_json(MERGE, one("theme", Value::Null, json!(t + 30))).await;
    assert_eq!(r.json()["preferences"], json!({}));
    assert_eq!(r.json()["prefsMeta"], json!({"theme": t + 30}));
    let r = phone.post_json(MERGE, one("theme", json!("late"), json!(t + 25))).await;
    assert_eq!(r.json()["preferences"], json!({}));

    // update-user still writes whole values, as in Better Auth.
    laptop.post_json("/update-user", json!({"preferences": {"x": 1}})).await.expect_status(200);
    assert_eq!(laptop.session_from_db().await["user"]["preferences"], json!({"x": 1}));
});

both!(
    limits_and_malformed_patches_are_clear_400s,
    config = |c| {
        let p = c.section_mut::<PreferencesConfig>().unwrap();
        p.enabled = true;
        p.max_keys = 3;
        p.max_document_bytes = 200;
    },
    |srv| async move {
        let u = srv.user("prefs").await;
        let c = &u.client;
        let t = now_ms();
        let many = json!({"patch": {"a": 1, "b": 1, "c": 1, "d": 1}, "meta": {"a": t, "b": t, "c": t, "d": t}});
        c.post_json(MERGE, many).await.expect_code(400, "TOO_MANY_PREFERENCE_KEYS");
        c.post_json(MERGE, json!({"patch": {"a": 1, "b": 1, "c": 1}, "meta": {"a": t, "b": t, "c": t}})).await.expect_status(200);
        // The document may not grow past the bound either.
        c.post_json(MERGE, one("d", json!(1), json!(t))).await.expect_code(400, "TOO_MANY_PREFERENCE_KEYS");
        c.post_json(MERGE, one("a", json!("x".repeat(300)), json!(t + 1))).await.expect_code(400, "PREFERENCES_TOO_LARGE");
        c.post_json(MERGE, json!({"patch": {"a": 2}, "meta": {}})).await.expect_code(400, "INVALID_PREFERENCES_PATCH");
        c.post_json(MERGE, one("a", json!(2), json!("not a date"))).await.expect_code(400, "INVALID_PREFERENCES_PATCH");
        c.post_json(MERGE, json!({"patch": {"a": 2}, "meta": {"a": t + 1, "z": t}})).await.expect_code(400, "INVALID_PREFERENCES_PATCH");
        c.post_json(MERGE, one("a", json!(2), json!(t + 3_600_000))).await.expect_code(400, "PREFERENCE_TIMESTAMP_IN_FUTURE");
        c.post_json(MERGE, json!({"patch": {"a": 2}})).await.expect_code(400, "VALIDATION_ERROR");
        c.post_json(MERGE, json!({"patch": [1], "meta": {}})).await.expect_code(400, "VALIDATION_ERROR");
        // Nothing of the refused patches was written.
        let r = c.post_json(MERGE, json!({"patch": {}, "meta": {}})).await;
        assert_eq!(r.json()["preferences"], json!({"a": 1, "b": 1, "c": 1}));
        // Signed out: 401.
        srv.client().post_json(MERGE, one("a", json!(2), json!(t))).await.expect_status(401);
    }
);

both!(off_by_default, |srv| async move {
    let u = srv.user("prefs").await;
    u.client.post_json(MERGE, one("a", json!(1), json!(now_ms()))).await.expect_empty_404();
});

/// Several instances on one PostgreSQL database: merges take turns only within an instance, so the
/// instances' merges of one user race through the compare-and-set on `updatedAt`; nothing is lost.
/// (Without the compare-and-set, this test loses keys.)
#[tokio::test]
async fn instances_merging_at_once_lose_nothing() {
    const INSTANCES: usize = 6;
    let db = TestDb::new(Backend::Postgres, "portcullis_prefs").await;
    let mut servers = Vec::new();
    for _ in 0..INSTANCES {
        servers.push(Instance::start(&db.url, &on).await);
    }
    // One user, signed in on every instance with the same session.
    let first = servers[0].client();
    sign_up(&first, "twin@example.com", PASSWORD, "Twin").await;
    let session = first.session_cookie().expect("a session cookie");
    let clients: Vec<Client> = servers
        .iter()
        .map(|s| {
            let c = s.client();
            c.set_cookie("better-auth.session_token", &session);
            c
        })
        .collect();
    let t = now_ms();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..40 {
        for (n, c) in clients.iter().enumerate() {
            let (c, body) = (c.fork(), one(&format!("i{n}k{i}"), json!(i), json!(t)));
            set.spawn(async move {
                c.post_json("/preferences/merge", body).await.expect_status(200);
            });
        }
    }
    while let Some(done) = set.join_next().await {
        done.expect("merge task");
    }
    let r = clients[1].post_json("/preferences/merge", json!({"patch": {}, "meta": {}})).await;
    r.expect_status(200);
    let prefs = r.json()["preferences"].as_object().expect("document").clone();
    assert_eq!(prefs.len(), 40 * INSTANCES, "every key of every instance: {prefs:?}");
}
