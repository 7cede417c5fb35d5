//! `advanced.database.generate_id` (spec §9.3): random ids by default, UUIDs with `"uuid"` (in
//! PostgreSQL `uuid` columns, as Better Auth's migration makes them), on every row a flow writes.

use crate::harness::*;
use portcullis::config::{GenerateId, RateLimitStorage};
use serde_json::{json, Value};

fn uuids(c: &mut portcullis::Config) {
    c.advanced.database.generate_id = GenerateId::Uuid;
}

#[track_caller]
fn assert_uuid(v: &Value) {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string id: {v}"));
    let parts: Vec<usize> = s.split('-').map(str::len).collect();
    assert_eq!(parts, [8, 4, 4, 4, 12], "not a UUID: {s}");
    assert!(s.bytes().all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "not a lower-case UUID: {s}");
}

both!(default_ids_are_32_random_characters, |srv| async move {
    let u = srv.user("plain").await;
    assert!(u.id.len() == 32 && u.id.bytes().all(|b| b.is_ascii_alphanumeric()), "{}", u.id);
    let s = u.client.session().await;
    assert_eq!(s["session"]["id"].as_str().map(str::len), Some(32));
});

both!(uuid_ids_on_every_row, config = uuids, |srv| async move {
    let u = srv.user("uuid").await;
    assert_uuid(&json!(u.id));
    let s = u.client.session().await;
    assert_uuid(&s["session"]["id"]);
    assert_eq!(s["session"]["userId"], u.id.as_str());
    // Session tokens are secrets, not ids: still 32 random characters.
    assert_eq!(s["session"]["token"].as_str().map(str::len), Some(32));
    let accounts = u.client.get("/list-accounts").await;
    accounts.expect_status(200);
    let account = &accounts.json()[0];
    assert_uuid(&account["id"]);
    assert_eq!(account["accountId"], u.id.as_str());
    for (table, column) in [("user", "id"), ("session", "id"), ("account", "id"), ("session", "userId"), ("account", "userId")] {
        let stored = srv.sql_scalar(&format!("select cast(\"{column}\" as text) from \"{table}\" limit 1")).await.unwrap();
        assert_uuid(&json!(stored));
        if srv.backend == Backend::Postgres {
            let ty = srv
                .sql_scalar(&format!(
                    "select data_type::text from information_schema.columns where table_name = '{table}' and column_name = '{column}'"
                ))
                .await;
            assert_eq!(ty.as_deref(), Some("uuid"), "{table}.{column}");
        }
    }

    // The flows that look rows up by id still work on uuid columns: sign-in (an unknown address
    // too), sessions, the password and the verification rows of a reset.
    srv.client().post_json("/sign-in/email", json!({"email": "nobody@example.com", "password": u.password})).await.expect_status(401);
    let phone = srv.sign_in(&u.email, &u.password).await;
    let r = u.client.get("/list-sessions").await;
    r.expect_status(200);
    assert_eq!(r.json().as_array().map(Vec::len), Some(2));
    u.client.post_empty("/revoke-other-sessions").await.expect_status(200);
    assert_eq!(phone.session_from_db().await, Value::Null);
    let r = u.client.post_json("/update-user", json!({"name": "Renamed"})).await;
    r.expect_status(200);
    assert_eq!(u.client.session_from_db().await["user"]["name"], "Renamed");
    let r = u.client.post_json("/change-password", json!({"currentPassword": u.password, "newPassword": "a-new-password-1"})).await;
    r.expect_status(200);
    srv.client().post_json("/request-password-reset", json!({"email": u.email, "redirectTo": "/reset"})).await.expect_status(200);
    let token = srv.mail_of_kind(&u.email, "reset-password").await["token"].as_str().unwrap().to_string();
    let stored = srv.sql_scalar("select cast(\"id\" as text) from \"verification\" limit 1").await.unwrap();
    assert_uuid(&json!(stored));
    let r = srv.client().post_json("/reset-password", json!({"token": token, "newPassword": "the-reset-password"})).await;
    r.expect_status(200);
    srv.sign_in(&u.email, "the-reset-password").await;
    assert_eq!(srv.count("select count(*) from \"verification\"").await, 0, "the reset row was consumed");
    u.client.post_empty("/sign-out").await.expect_status(200);
});

both!(
    uuid_ids_for_database_rate_limits,
    config = |c| {
        uuids(c);
        c.rate_limit.enabled = Some(true);
        c.rate_limit.storage = Some(RateLimitStorage::Database);
    },
    |srv| async move {
        srv.client().get("/ok").await.expect_status(200);
        srv.client().get("/ok").await.expect_status(200);
        assert_eq!(srv.count("select count(*) from \"rateLimit\"").await, 1);
        let id = srv.sql_scalar("select cast(\"id\" as text) from \"rateLimit\"").await.unwrap();
        assert_uuid(&json!(id));
    }
);
