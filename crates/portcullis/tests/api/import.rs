//! `portcullis import` (the `portcullis::import` library under the CLI): a Better Auth database
//! on the other engine, named its own way, and CSV / JSON exports of other systems, imported into
//! the test server's database; the users then sign in with their old passwords, which are
//! re-hashed to argon2id. Re-runs import nothing; dry runs write nothing; bad rows are refused
//! with their line and the rest imported.

use crate::common::db::TestDb;
use crate::harness::*;
use portcullis::config::{NamingStyle, SchemaConfig};
use portcullis::import::{self, OnConflict, Options, Report, Source};
use portcullis::store::adapter::{Adapter, Row};
use portcullis::store::schema::{core_tables, migrate, Names};
use portcullis::store::{Db, PoolOptions};
use serde_json::{json, Value};
use std::time::Duration;

/// Better Auth's scrypt of "password123" (spec §15.2).
const SCRYPT_HASH: &str = "0123456789abcdef0123456789abcdef:e8b256b6f9f4b1641136a66d4a26ba41a47b6c8c9bad6aa4145559ffda45ece1f0f16dec8482a3e5545feada0ba62f2b05eeb943b750c9396874e1762c78d27d";
/// The test server's own argon2id parameters (common::test_config).
const NATIVE: &str = "$argon2id$v=19$m=1024,t=1,p=1$";

fn row(v: Value) -> Row {
    v.as_object().expect("an object").clone()
}

/// The counts of `table` as (read, imported, updated, skipped, refused).
fn counts(r: &Report, table: &str) -> (u64, u64, u64, u64, u64) {
    let t = r.tables.iter().find(|t| t.table == table).unwrap_or_else(|| panic!("no {table} in {}", r.render()));
    (t.read, t.imported, t.updated, t.skipped, t.refused)
}

/// An engine for the server's database to import with (the server's own is not reachable).
async fn target(srv: &TestServer) -> portcullis::Auth {
    portcullis::Auth::from_config(srv.config.clone()).await.expect("target auth")
}

/// The stored hash of `email`'s password account, once it satisfies `done` (an upgrade is written
/// in the background after the sign-in answers).
async fn hash_of(srv: &TestServer, email: &str, done: impl Fn(&str) -> bool) -> String {
    let q = format!(
        "select a.\"password\" from \"account\" a join \"user\" u on u.\"id\" = a.\"userId\" where u.\"email\" = '{email}' and a.\"providerId\" = 'credential'"
    );
    let mut last = String::new();
    for _ in 0..200 {
        last = srv.sql_scalar(&q).await.unwrap_or_default();
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("hash of {email} never satisfied the check; last {last:?}");
}

async fn signs_in(srv: &TestServer, email: &str, password: &str) -> u16 {
    srv.client().post_json("/sign-in/email", json!({"email": email, "password": password})).await.status
}

/// A Better Auth database on the other engine, snake_case and plural with one renamed column,
/// made by Portcullis's own migration and holding Better Auth rows.
async fn better_auth_source(srv: &TestServer) -> (TestDb, SchemaConfig) {
    let other = match srv.backend {
        Backend::Sqlite => Backend::Postgres,
        Backend::Postgres => Backend::Sqlite,
    };
    let src = TestDb::new(other, "portcullis_import_src").await;
    let mut schema = SchemaConfig { naming: NamingStyle::SnakeCase, plural: true, ..Default::default() };
    schema.rename.insert("user.emailVerified".into(), "is_verified".into());
    let db = Db::connect(&src.url, &PoolOptions::default()).await.expect("source db");
    let names = Names::new(schema.clone());
    migrate(&db, &names, &core_tables()).await.expect("source schema");
    let a = Adapter::new(db.clone(), names, core_tables());
    let t = "2025-01-02T03:04:05.000Z";
    for (id, email) in [("ba-user-1", "Ada@Example.com"), ("ba-user-2", "grace@example.com"), ("ba-user-3", "taken@example.com")] {
        a.create("user", row(json!({"id": id, "name": id, "email": email, "emailVerified": true, "createdAt": t, "updatedAt": t})))
            .await
            .expect("user");
        let acc = json!({"id": format!("{id}-cred"), "accountId": id, "providerId": "credential", "userId": id, "password": SCRYPT_HASH, "createdAt": t, "updatedAt": t});
        a.create("account", row(acc)).await.expect("account");
    }
    let github = json!({"id": "ba-gh", "accountId": "gh-42", "providerId": "github", "userId": "ba-user-1",
        "accessToken": "v1:tokens-stay-as-better-auth-encrypted-them", "scope": "read:user", "createdAt": t, "updatedAt": t});
    a.create("account", row(github)).await.expect("github account");
    let session = json!({"id": "ba-session", "token": "ba-session-token", "userId": "ba-user-2", "expiresAt": "2099-01-01T00:00:00.000Z",
        "createdAt": t, "updatedAt": t});
    a.create("session", row(session)).await.expect("session");
    // ba-user-3 matches a target user whose e-mail is not verified: nothing is added to that user.
    let session = json!({"id": "ba-session-3", "token": "ba-session-token-3", "userId": "ba-user-3", "expiresAt": "2099-01-01T00:00:00.000Z",
        "createdAt": t, "updatedAt": t});
    a.create("session", row(session)).await.expect("session");
    let v = json!({"id": "ba-verification", "identifier": "x", "value": "y", "expiresAt": "2099-01-01T00:00:00.000Z", "createdAt": t, "updatedAt": t});
    a.create("verification", row(v)).await.expect("verification");
    db.close().await;
    (src, schema)
}

both!(better_auth_database_on_the_other_engine, |srv| async move {
    // A user of the target with the e-mail of a source user: matched by e-mail, left alone.
    let taken = srv.user("taken").await;
    let (src, schema) = better_auth_source(&srv).await;
    let auth = target(&srv).await;
    let source = Source::Database { url: src.url.clone(), schema };
    let users = "select count(*) from \"user\"";
    let before = srv.count(users).await;

    let dry = import::run(&auth, &source, &Options { dry_run: true, sessions: true, ..Options::default() }).await.unwrap();
    assert_eq!(srv.count(users).await, before, "a dry run writes nothing");
    assert_eq!(srv.count("select count(*) from \"session\" where \"id\" = 'ba-session'").await, 0);

    let report = import::run(&auth, &source, &Options { sessions: true, ..Options::default() }).await.unwrap();
    let text = report.render();
    assert_eq!(counts(&report, "user"), (3, 2, 0, 1, 0), "{text}");
    // ba-user-3's password account belongs to the existing user now, who already has one.
    assert_eq!(counts(&report, "account"), (4, 3, 0, 1, 0), "{text}");
    assert_eq!(counts(&report, "session"), (2, 1, 0, 0, 1), "{text}");
    let refusal = &report.tables.iter().find(|t| t.table == "session").unwrap().refusals[0];
    assert_eq!(refusal.row, "id ba-session-3");
    assert!(refusal.reason.contains("not verified"), "{text}");
    assert_eq!(srv.count("select count(*) from \"session\" where \"token\" = 'ba-session-token-3'").await, 0);
    assert!(report.tables.iter().all(|t| t.table != "verification"), "{text}");
    assert!(report.notes.iter().any(|n| n.contains("verification")), "{text}");
    for t in ["user", "account", "session"] {
        assert_eq!(counts(&dry, t), counts(&report, t), "the dry run reports what the run does: {}", dry.render());
    }
    assert!(!serde_json::to_string(&report).unwrap().contains(SCRYPT_HASH), "no hash in a report");

    // The e-mail is lowercased; the provider token is copied byte for byte.
    assert_eq!(srv.count("select count(*) from \"user\" where \"email\" = 'ada@example.com'").await, 1);
    let token = srv.sql_scalar("select \"accessToken\" from \"account\" where \"id\" = 'ba-gh'").await;
    assert_eq!(token.as_deref(), Some("v1:tokens-stay-as-better-auth-encrypted-them"));
    assert_eq!(
        srv.sql_scalar("select \"userId\" from \"session\" where \"token\" = 'ba-session-token'").await.as_deref(),
        Some("ba-user-2")
    );
    assert_eq!(srv.count(users).await, before + 2);

    // Old passwords sign in, and the scrypt hash becomes the server's argon2id.
    assert_eq!(signs_in(&srv, "ada@example.com", "password123").await, 200);
    assert_eq!(signs_in(&srv, "grace@example.com", "wrong-password").await, 401);
    assert!(hash_of(&srv, "ada@example.com", |h| h.starts_with(NATIVE)).await.starts_with(NATIVE));
    assert_eq!(signs_in(&srv, "ada@example.com", "password123").await, 200);
    // The existing user kept their own password.
    assert_eq!(signs_in(&srv, &taken.email, &taken.password).await, 200);

    // A re-run imports nothing.
    let again = import::run(&auth, &source, &Options { sessions: true, ..Options::default() }).await.unwrap();
    assert_eq!(counts(&again, "user"), (3, 0, 0, 3, 0), "{}", again.render());
    assert_eq!(counts(&again, "account"), (4, 0, 0, 4, 0), "{}", again.render());
    assert_eq!(counts(&again, "session"), (2, 0, 0, 1, 1), "{}", again.render());
    assert_eq!(srv.count(users).await, before + 2);
    assert!(hash_of(&srv, "ada@example.com", |_| true).await.starts_with(NATIVE), "a re-run keeps the upgraded hash");
});

/// Other systems' hashes for (password, hash).
async fn foreign_hashes() -> Vec<(&'static str, String)> {
    let argon2 = portcullis::crypto::password::PasswordHasher::new(1, 2048, 1, 1).hash("argon-from-elsewhere").await.unwrap();
    vec![
        ("correctbatteryhorsestapler", "$2b$04$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie".into()),
        ("argon-from-elsewhere", argon2),
        ("hunter2-import", "$pbkdf2-sha256$i=1000,l=32$c2FsdHNhbHRzYWx0MTIzNA$P965fEPhrsY7N+ljm/SiB67SYgbhjtFzEGTaTnso4Y8".into()),
        ("hunter2-import", "$pbkdf2-sha256$1000$c2FsdHNhbHRzYWx0MTIzNA$P965fEPhrsY7N.ljm/SiB67SYgbhjtFzEGTaTnso4Y8".into()),
        ("hunter2-import", "pbkdf2_sha256$1000$Qx7mK2pZ9wL4$QjVzJBsBd36lXawyv3fuT9eMpA3IEANLUzRnbN+mBOg=".into()),
        ("hunter2-import", "$scrypt$ln=10,r=8,p=1$c2FsdHNhbHRzYWx0MTIzNA$11LmKudVEoSzT0iO02LmwuK1HZi/xln1eeHlTEvyO+o".into()),
    ]
}

both!(csv_export_with_foreign_hashes, |srv| async move {
    let hashes = foreign_hashes().await;
    let mut csv = String::from("Email,full_name,email_verified,created_at,password_hash,hash_format\n");
    for (i, (_, hash)) in hashes.iter().enumerate() {
        csv.push_str(&format!("User{i}@Example.com,User {i},true,1700000000,\"{hash}\",\n"));
    }
    // Lines 8 to 11: bad rows, each refused with its line; the good ones around them imported.
    csv.push_str("md5@example.com,Md5,,,5f4dcc3b5aa765d61d8327deb882cf99,\n");
    csv.push_str(",No E-mail,,,,\n");
    csv.push_str("hint@example.com,Hint,,,$2b$04$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie,argon2\n");
    csv.push_str("verified@example.com,Verified,maybe,,,\n");
    csv.push_str("nopassword@example.com,No Password,false,2024-05-06T07:08:09Z,,\n");
    let file = std::env::temp_dir().join(format!("portcullis_import_{}.csv", crate::common::random_suffix()));
    std::fs::write(&file, csv).unwrap();
    let auth = target(&srv).await;
    let source = Source::Csv(file.clone());
    let opts = Options { mapping: "email=Email,name=full_name".parse().unwrap(), batch: 4, ..Options::default() };
    let users = "select count(*) from \"user\"";
    let before = srv.count(users).await;

    let dry = import::run(&auth, &source, &Options { dry_run: true, ..opts.clone() }).await.unwrap();
    assert_eq!(srv.count(users).await, before, "a dry run writes nothing");
    let report = import::run(&auth, &source, &opts).await.unwrap();
    let text = report.render();
    assert_eq!(counts(&report, "user"), (11, 7, 0, 0, 4), "{text}");
    assert_eq!(counts(&report, "account"), (6, 6, 0, 0, 0), "{text}");
    assert_eq!(counts(&dry, "user"), counts(&report, "user"), "{}", dry.render());
    let refusals: Vec<_> = report.tables[0].refusals.iter().map(|r| (r.row.as_str(), r.reason.as_str())).collect();
    let lines: Vec<_> = refusals.iter().map(|r| r.0).collect();
    assert_eq!(lines, ["line 8", "line 9", "line 10", "line 11"], "{text}");
    assert!(refusals[0].1.contains("password hash not recognised"), "{text}");
    assert!(refusals[2].1.contains("hash_format"), "{text}");
    assert!(!text.contains("5f4dcc3b"), "no hash in a report: {text}");
    assert_eq!(srv.count(users).await, before + 7);
    assert_eq!(srv.sql_scalar("select \"name\" from \"user\" where \"email\" = 'user0@example.com'").await.as_deref(), Some("User 0"));

    for (i, (password, _)) in hashes.iter().enumerate() {
        let email = format!("user{i}@example.com");
        assert_eq!(signs_in(&srv, &email, "not-the-password").await, 401, "{email}");
        assert_eq!(signs_in(&srv, &email, password).await, 200, "{email}");
        assert!(hash_of(&srv, &email, |h| h.starts_with(NATIVE)).await.starts_with(NATIVE), "{email}");
        assert_eq!(signs_in(&srv, &email, password).await, 200, "{email} after the upgrade");
    }

    // A re-run imports nothing; the same rows are refused again.
    let again = import::run(&auth, &source, &opts).await.unwrap();
    let _ = std::fs::remove_file(&file);
    assert_eq!(counts(&again, "user"), (11, 0, 0, 7, 4), "{}", again.render());
    assert_eq!(counts(&again, "account"), (6, 0, 0, 6, 0), "{}", again.render());
    assert_eq!(srv.count(users).await, before + 7);
    assert!(hash_of(&srv, "user0@example.com", |_| true).await.starts_with(NATIVE), "a re-run keeps the upgraded hash");
});

both!(csv_rerun_and_json_update, |srv| async move {
    let file = std::env::temp_dir().join(format!("portcullis_import_{}.csv", crate::common::random_suffix()));
    std::fs::write(
        &file,
        "email,name,password\nrita@example.com,Rita,$2b$04$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie\nsam@example.com,Sam,\n",
    )
    .unwrap();
    let auth = target(&srv).await;
    let first = import::run(&auth, &Source::Csv(file.clone()), &Options::default()).await.unwrap();
    assert_eq!(counts(&first, "user"), (2, 2, 0, 0, 0), "{}", first.render());
    let again = import::run(&auth, &Source::Csv(file.clone()), &Options::default()).await.unwrap();
    assert_eq!(counts(&again, "user"), (2, 0, 0, 2, 0), "{}", again.render());
    assert_eq!(counts(&again, "account"), (1, 0, 0, 1, 0), "{}", again.render());
    assert_eq!(srv.count("select count(*) from \"account\" where \"providerId\" = 'credential'").await, 1);

    // An import interrupted after the users were written: the re-run writes what is missing. The
    // export's e-mails are not verified, so adding to a user matched by e-mail is the operator's
    // call (--merge-unverified); without it the row is refused, with the reason.
    srv.sql("delete from \"account\"").await;
    let refused = import::run(&auth, &Source::Csv(file.clone()), &Options::default()).await.unwrap();
    assert_eq!(counts(&refused, "account"), (1, 0, 0, 0, 1), "{}", refused.render());
    assert!(refused.tables[1].refusals[0].reason.contains("not verified"), "{}", refused.render());
    let resumed = import::run(&auth, &Source::Csv(file.clone()), &Options { merge_unverified: true, ..Options::default() }).await.unwrap();
    assert_eq!(counts(&resumed, "user"), (2, 0, 0, 2, 0), "{}", resumed.render());
    assert_eq!(counts(&resumed, "account"), (1, 1, 0, 0, 0), "{}", resumed.render());
    let _ = std::fs::remove_file(&file);

    // JSON, updating what is there: the name changes, the id stays.
    let id = srv.sql_scalar("select \"id\" from \"user\" where \"email\" = 'sam@example.com'").await.unwrap();
    let json = std::env::temp_dir().join(format!("portcullis_import_{}.json", crate::common::random_suffix()));
    std::fs::write(&json, r#"{"users": [{"email": "SAM@example.com", "name": "Samuel", "emailVerified": true}, 42]}"#).unwrap();
    let opts = Options { on_conflict: OnConflict::Update, ..Options::default() };
    let refused = import::run(&auth, &Source::Json(json.clone()), &opts).await.unwrap();
    assert_eq!(counts(&refused, "user"), (2, 0, 0, 0, 2), "matched by an unverified e-mail: {}", refused.render());
    let opts = Options { merge_unverified: true, ..opts };
    let updated = import::run(&auth, &Source::Json(json.clone()), &opts).await.unwrap();
    let _ = std::fs::remove_file(&json);
    assert_eq!(counts(&updated, "user"), (2, 0, 1, 0, 1), "{}", updated.render());
    assert_eq!(updated.tables[0].refusals[0].row, "item 2");
    assert_eq!(srv.sql_scalar(&format!("select \"name\" from \"user\" where \"id\" = '{id}'")).await.as_deref(), Some("Samuel"));
    assert_eq!(signs_in(&srv, "rita@example.com", "correctbatteryhorsestapler").await, 200);
});
