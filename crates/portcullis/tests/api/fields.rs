//! Additional user and session fields (Better Auth's `user.additionalFields` and
//! `session.additionalFields`): stored, defaulted, validated, returned (or not) by sign-up,
//! sign-in, update-user, update-session, get-session and the cookie cache, on both databases.

use crate::harness::*;
use portcullis::fields::FieldSet;
use portcullis::Config;
use serde_json::{json, Value};

/// The planning app's preferences and the SaaS template's profile fields: the conformance suite's
/// declaration (../shared/conformance/README.md, "Additional fields").
pub const USER_FIELDS: &str = r##"
theme = { type = "string", required = false, default_value = "auto" }
showWeekends = { type = "boolean", required = false, default_value = true }
highlightTeacher = { type = "boolean", required = false, default_value = false }
blocklist = { type = "string[]", required = false }
plannings = { type = "string[]", required = false }
colors = { type = "json", required = false }
prefsMeta = { type = "string", required = false }
nickname = { type = "string", required = false }
birthday = { type = "date", required = false }
monthlyCreditsQuota = { type = "number", required = false, default_value = 100, input = false }
plan = { type = "string", required = false, default_value = "free", input = false }
secretNote = { type = "string", required = false, returned = false }
"##;

fn declare(c: &mut Config) {
    c.user.additional_fields = toml::from_str::<FieldSet>(USER_FIELDS).expect("user fields");
    c.session.additional_fields =
        toml::from_str::<FieldSet>(r#"deviceName = { type = "string", required = false }"#).expect("session fields");
}

fn with_cache(c: &mut Config) {
    declare(c);
    c.session.cookie_cache.enabled = true;
}

const KEYS: [&str; 11] = [
    "theme",
    "showWeekends",
    "highlightTeacher",
    "blocklist",
    "plannings",
    "colors",
    "prefsMeta",
    "nickname",
    "birthday",
    "monthlyCreditsQuota",
    "plan",
];

/// The keys of the `"user"` object in a response body, in the order they were written.
fn user_keys(text: &str) -> Vec<String> {
    let at = text.find(r#""user":{"#).expect("a user object") + 7;
    let user: serde_json::Map<String, Value> = serde_json::from_str(&text[at..at + object_len(&text[at..])]).expect("user json");
    let mut found: Vec<(usize, String)> =
        user.keys().map(|k| (text[at..].find(&format!("\"{k}\":")).expect("key in text"), k.clone())).collect();
    found.sort();
    found.into_iter().map(|(_, k)| k).collect()
}

/// The length of the JSON object at the start of `s` (strings in this test hold no braces).
fn object_len(s: &str) -> usize {
    let mut depth = 0;
    for (i, ch) in s.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' if depth == 1 => return i + 1,
            '}' => depth -= 1,
            _ => {}
        }
    }
    panic!("unterminated object")
}

both!(sign_up_stores_defaults_and_hides_unreturned_fields, config = with_cache, |srv| async move {
    let c = srv.client();
    let body = json!({
        "email": "fields@example.com", "password": PASSWORD, "name": "F",
        "theme": "dark", "blocklist": ["exam", "contrôle"], "colors": {"lecture": "#10b981"},
        "birthday": "2000-01-02T00:00:00.000Z", "nickname": "ada", "secretNote": "kept",
        "plan": "enterprise", "monthlyCreditsQuota": 999999,
    });
    let r = c.post_json("/sign-up/email", body).await;
    r.expect_status(200);
    let user = r.json()["user"].clone();
    let sign_up_text = r.text.clone();
    // Better Auth's key order: core fields, the additional ones in declaration order, id last.
    let mut expected: Vec<String> = ["name", "email", "emailVerified", "image", "createdAt", "updatedAt"].map(String::from).into();
    expected.extend(KEYS.map(String::from));
    expected.push("id".into());
    assert_eq!(user_keys(&sign_up_text), expected, "{user}");
    assert_eq!(user["theme"], "dark");
    assert_eq!(user["blocklist"], json!(["exam", "contrôle"]));
    assert_eq!(user["colors"], json!({"lecture": "#10b981"}));
    assert_eq!(user["birthday"], "2000-01-02T00:00:00.000Z");
    assert_eq!((user["showWeekends"].clone(), user["highlightTeacher"].clone()), (json!(true), json!(false)));
    assert_eq!((user["plan"].clone(), user["monthlyCreditsQuota"].clone()), (json!("free"), json!(100)), "input:false keeps the default");
    assert_eq!((user["plannings"].clone(), user["prefsMeta"].clone()), (Value::Null, Value::Null));
    assert_eq!(srv.sql_scalar("select \"secretNote\" from \"user\"").await.as_deref(), Some("kept"), "stored though not returned");

    // From the cookie cache, from the database, and at sign-in: the same fields, in the same order,
    // except that Better Auth answers from its cache in its cache schema's order: the core fields
    // `id, createdAt, updatedAt, email, emailVerified, name, image` first, then the others as the
    // cookie holds them (tests/fields/peer-readback.sh compares with the peer byte for byte).
    let mut from_cache: Vec<String> = ["id", "createdAt", "updatedAt", "email", "emailVerified", "name", "image"].map(String::from).into();
    from_cache.extend(KEYS.map(String::from));
    let cached = c.get("/get-session").await;
    let stored = c.get("/get-session?disableCookieCache=true").await;
    let signed_in = srv.client().post_json("/sign-in/email", json!({"email": "fields@example.com", "password": PASSWORD})).await;
    signed_in.expect_status(200);
    for (r, expected) in [(&cached, &from_cache), (&stored, &expected), (&signed_in, &expected)] {
        assert_eq!(&user_keys(&r.text), expected, "{}", r.text);
        let u = &r.json()["user"];
        for k in KEYS {
            assert_eq!(u[k], user[k], "{k}");
        }
    }
});

both!(update_user_sets_input_fields_and_refuses_the_others, config = declare, |srv| async move {
    let u = srv.user("upd").await;
    let meta = r#"{"theme":1709419845000,"plannings":1709419850000}"#;
    let r = u.client.post_json("/update-user", json!({"theme": "light", "plannings": ["p1"], "prefsMeta": meta})).await;
    r.expect_status(200);
    assert_eq!(r.json(), &json!({"status": true}));
    let s = u.client.session_from_db().await["user"].clone();
    assert_eq!((s["theme"].clone(), s["plannings"].clone(), s["prefsMeta"].clone()), (json!("light"), json!(["p1"]), json!(meta)));
    assert_eq!(s["showWeekends"], true, "untouched fields keep their values");

    u.client.post_json("/update-user", json!({"plan": "pro"})).await.expect_error(
        400,
        "FIELD_NOT_ALLOWED",
        "plan is not allowed to be set",
    );
    // A falsy value for an input:false field is ignored, as Better Auth's parseInputData does.
    u.client.post_json("/update-user", json!({"plan": "", "name": "n"})).await.expect_status(200);
    u.client.post_json("/update-user", json!({"showWeekends": "yes"})).await.expect_error(
        400,
        "VALIDATION_ERROR",
        "[body.showWeekends] Invalid input: expected boolean, received string",
    );
    u.client.post_json("/update-user", json!({"blocklist": ["a", 1]})).await.expect_code(400, "VALIDATION_ERROR");
    let s = u.client.session_from_db().await["user"].clone();
    assert_eq!((s["plan"].clone(), s["showWeekends"].clone(), s["name"].clone()), (json!("free"), json!(true), json!("n")));
    // Null clears an optional field.
    u.client.post_json("/update-user", json!({"theme": null})).await.expect_status(200);
    assert_eq!(u.client.session_from_db().await["user"]["theme"], Value::Null);
});

both!(update_session_sets_session_fields, config = with_cache, |srv| async move {
    let u = srv.user("dev").await;
    assert_eq!(u.client.session().await["session"]["deviceName"], Value::Null);
    let r = u.client.post_json("/update-session", json!({"deviceName": "laptop", "ignored": 1})).await;
    r.expect_status(200);
    assert_eq!(r.json()["session"]["deviceName"], "laptop");
    assert_eq!(r.json()["session"]["token"], u.token.as_str());
    // The re-issued cache cookie carries it, and so does the database.
    assert_eq!(u.client.session().await["session"]["deviceName"], "laptop");
    assert_eq!(u.client.session_from_db().await["session"]["deviceName"], "laptop");
    let r = u.client.post_json("/update-session", json!({"nothing": true})).await;
    r.expect_status(400);
    assert_eq!(r.text, r#"{"message":"No fields to update"}"#);
    u.client.post_json("/update-session", json!({"deviceName": 3})).await.expect_code(400, "VALIDATION_ERROR");
});

/// A SaaS template's existing table: plural snake_case names and NOT NULL columns that only the
/// server's defaults fill.
fn saas(c: &mut Config) {
    c.schema.naming = portcullis::config::NamingStyle::SnakeCase;
    c.schema.plural = true;
    c.user.additional_fields = toml::from_str::<FieldSet>(
        r#"
        role = { type = "string", default_value = "user", input = false }
        nickname = { type = "string", required = false }
        avatarUrl = { type = "string", required = false, field_name = "avatar_url" }
        uuid = { type = "string", default_generator = "uuid", input = false, unique = true }
        monthlyCreditsQuota = { type = "number", default_value = 20 }
        "#,
    )
    .expect("saas fields");
}

both!(saas_tables_get_their_not_null_defaults, config = saas, |srv| async move {
    let c = srv.client();
    let r = c
        .post_json(
            "/sign-up/email",
            json!({"email": "saas@example.com", "password": PASSWORD, "name": "S", "avatarUrl": "https://a/b.png"}),
        )
        .await;
    r.expect_status(200);
    let user = r.json()["user"].clone();
    assert_eq!((user["role"].clone(), user["monthlyCreditsQuota"].clone()), (json!("user"), json!(20)));
    let uuid = user["uuid"].as_str().expect("uuid").to_string();
    assert_eq!((uuid.len(), &uuid[14..15]), (36, "4"), "a v4 UUID: {uuid}");
    let row = srv.sql_scalar("select uuid || ' ' || monthly_credits_quota || ' ' || avatar_url from users").await;
    assert_eq!(row, Some(format!("{uuid} 20 https://a/b.png")));
    assert_eq!(srv.count("select count(*) from users where role = 'user'").await, 1);
    let s = c.session_from_db().await;
    assert_eq!(s["user"]["avatarUrl"], "https://a/b.png");
    assert_eq!(s["user"]["uuid"], uuid.as_str());
});

/// An embedder's own store must carry the capabilities' fields (two-factor's `twoFactorEnabled`):
/// one without them is refused at build, naming the field; a shared pool gets them declared.
#[tokio::test]
async fn an_embedders_store_carries_the_capabilities_fields() {
    use portcullis::plugins::two_factor::config::TwoFactorConfig;
    use portcullis::store::{schema::Names, Db, PoolOptions, SqlStore};
    use std::sync::Arc;
    let mut config = Config { secret: Some(SECRET.into()), ..Config::default() };
    config.section_mut::<TwoFactorConfig>().unwrap().enabled = true;
    let db = || async { Db::connect("sqlite::memory:", &PoolOptions::default()).await.unwrap() };

    let bare = Arc::new(SqlStore::new(db().await, Names::new(Default::default())));
    let err = portcullis::Auth::builder(config.clone()).store(bare).build().await.err().expect("refused").to_string();
    assert!(err.contains("user field `twoFactorEnabled`") && err.contains("AuthBuilder::database"), "{err}");

    let auth = portcullis::Auth::builder(config).database(db().await).build().await.expect("builds on a shared pool");
    let (user, _) = auth.store.additional_fields().expect("a SQL store declares its fields");
    assert!(user.get("twoFactorEnabled").is_some());
}
