//! The audit log (`[audit]`, plugins/audit): one row per security event, written from the events
//! the capabilities emit; `GET /admin/audit-log` with filters and keyset pages (stable across
//! equal times); retention; no secret in any row.

use crate::harness::*;
use crate::webauthn::Authenticator;
use portcullis::plugins::admin::config::AdminConfig;
use portcullis::plugins::audit::config::AuditConfig;
use portcullis::plugins::organization::config::OrganizationConfig;
use portcullis::plugins::passkey::PasskeyConfig;
use portcullis::plugins::two_factor::config::TwoFactorConfig;
use portcullis::Config;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

fn admin_on(c: &mut Config) {
    c.section_mut::<AdminConfig>().unwrap().enabled = true;
}

/// Admin, organizations, two-factor (enabled without a code, to keep the flow short), passkeys,
/// and e-mail change without verification for unverified users.
fn everything(c: &mut Config) {
    admin_on(c);
    c.section_mut::<OrganizationConfig>().unwrap().enabled = true;
    let tf = c.section_mut::<TwoFactorConfig>().unwrap();
    tf.enabled = true;
    tf.skip_verification_on_enable = true;
    c.section_mut::<PasskeyConfig>().unwrap().enabled = true;
    c.user.change_email_enabled = true;
    c.user.update_email_without_verification = true;
}

async fn admin(srv: &TestServer, name: &str) -> SignedUp {
    let a = srv.user(name).await;
    assert_eq!(srv.sql(&format!("update \"user\" set role = 'admin' where id = '{}'", a.id)).await, 1);
    a
}

/// Every entry the admin API answers for `query`, following the cursor to the end.
async fn all_entries(c: &Client, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/admin/audit-log?limit=200{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let r = c.get(&path).await;
        r.expect_status(200);
        out.extend(r.json()["entries"].as_array().unwrap().iter().cloned());
        match r.json()["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return out,
        }
    }
}

fn actions(entries: &[Value]) -> BTreeSet<String> {
    entries.iter().map(|e| e["action"].as_str().unwrap().to_string()).collect()
}

fn one<'a>(entries: &'a [Value], action: &str) -> &'a Value {
    entries.iter().find(|e| e["action"] == action).unwrap_or_else(|| panic!("no {action} row"))
}

both!(every_security_event_leaves_a_row_without_secrets, config = everything, |srv| async move {
    let boss = admin(&srv, "auditboss").await;
    let u = srv.user("alice").await;
    let mut secrets = vec![PASSWORD.to_string(), u.token.clone(), boss.token.clone()];
    let ua = |c: &Client, path: &'static str, body: Value| {
        let c = c.fork();
        async move {
            c.req(reqwest::Method::POST, path)
                .header("user-agent", "audit-test/1.0")
                .header("x-forwarded-for", "203.0.113.50")
                .json(&body)
                .send()
                .await
        }
    };

    // Sign-in refused (known and unknown address), then accepted.
    let anon = srv.client();
    ua(&anon, "/sign-in/email", json!({"email": u.email, "password": "wrong-password-1"})).await.expect_status(401);
    ua(&anon, "/sign-in/email", json!({"email": "nobody@example.com", "password": "wrong-password-2"})).await.expect_status(401);
    let second = srv.sign_in(&u.email, PASSWORD).await;
    secrets.push(second.session_cookie().unwrap());

    // Password change, e-mail change (unverified user: at once), then a reset by e-mailed link.
    let new_password = "a-changed-password-1";
    secrets.push(new_password.into());
    let r = ua(&u.client, "/change-password", json!({"currentPassword": PASSWORD, "newPassword": new_password})).await;
    r.expect_status(200);
    ua(&u.client, "/change-email", json!({"newEmail": "alice2@example.com"})).await.expect_status(200);
    let email = "alice2@example.com";
    srv.client().post_json("/request-password-reset", json!({"email": email, "redirectTo": "/reset"})).await.expect_status(200);
    let reset = srv.wait_mail(email, |m| m["kind"] == "reset-password").await["token"].as_str().unwrap().to_string();
    let reset_password = "a-reset-password-1";
    secrets.extend([reset.clone(), reset_password.into()]);
    srv.client().post_json("/reset-password", json!({"token": reset, "newPassword": reset_password})).await.expect_status(200);

    // E-mail verification.
    u.client.post_json("/send-verification-email", json!({"email": email})).await.expect_status(200);
    let verify = srv.mail_of_kind(email, "verify-email").await["token"].as_str().unwrap().to_string();
    secrets.push(verify.clone());
    srv.client().get(&format!("/verify-email?token={}", enc(&verify))).await.expect_status(200);

    // Two-factor on, new backup codes, off.
    let c = srv.sign_in(email, reset_password).await;
    // (Not forked: enabling rotates the session, and this client carries on with the new one.)
    let r = c.post_json("/two-factor/enable", json!({"password": reset_password})).await;
    r.expect_status(200);
    let uri = r.json()["totpURI"].as_str().unwrap();
    secrets.push(uri.split("secret=").nth(1).unwrap().split('&').next().unwrap().to_string());
    let backup: Vec<String> = r.json()["backupCodes"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().into()).collect();
    secrets.extend(backup);
    let r = c.post_json("/two-factor/generate-backup-codes", json!({"password": reset_password})).await;
    r.expect_status(200);
    secrets.extend(r.json()["backupCodes"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()));
    // A wrong second factor at sign-in.
    let challenged = srv.client();
    let r = challenged.post_json("/sign-in/email", json!({"email": email, "password": reset_password})).await;
    assert_eq!(r.json()["twoFactorRedirect"], true, "{}", r.text);
    challenged.post_json("/two-factor/verify-backup-code", json!({"code": "not-a-code"})).await.expect_status(401);
    c.post_json("/two-factor/disable", json!({"password": reset_password})).await.expect_status(200);

    // A passkey added and deleted.
    let c = srv.sign_in(email, reset_password).await;
    let mut dev = Authenticator::es256(srv.origin());
    let opts = c.get("/passkey/generate-register-options").await;
    let r = c.post_json("/passkey/verify-registration", json!({"response": dev.create(opts.json()), "name": "laptop"})).await;
    r.expect_status(200);
    c.post_json("/passkey/delete-passkey", json!({"id": r.json()["id"]})).await.expect_status(200);
    // The deleted passkey no longer signs in.
    let browser = srv.client();
    let opts = browser.get("/passkey/generate-authenticate-options").await;
    let r = browser.post_json("/passkey/verify-authentication", json!({"response": dev.get(opts.json())})).await;
    assert_ne!(r.status, 200);

    // An organization, then revocations: one session, the others, all, and a sign-out.
    let r = c.post_json("/organization/create", json!({"name": "Audit Org", "slug": "audit-org"})).await;
    r.expect_status(200);
    let org = r.json()["id"].as_str().unwrap().to_string();
    let extra = srv.sign_in(email, reset_password).await;
    let extra_token = extra.session().await["session"]["token"].as_str().unwrap().to_string();
    secrets.push(extra_token.clone());
    c.post_json("/revoke-session", json!({"token": extra_token})).await.expect_status(200);
    c.post_json("/revoke-other-sessions", json!({})).await.expect_status(200);
    c.post_json("/revoke-sessions", json!({})).await.expect_status(200);
    let last = srv.sign_in(email, reset_password).await;
    ua(&last, "/sign-out", json!({})).await.expect_status(200);

    // Admin actions: ban (which revokes), impersonation.
    let bob = srv.user("bob").await;
    let carol = srv.user("carol").await;
    boss.client.post_json("/admin/ban-user", json!({"userId": bob.id, "banReason": "spam"})).await.expect_status(200);
    // The banned user's refused sign-in.
    srv.client().post_json("/sign-in/email", json!({"email": bob.email, "password": PASSWORD})).await.expect_status(403);
    let r = boss.client.fork().post_json("/admin/impersonate-user", json!({"userId": carol.id})).await;
    r.expect_status(200);

    let entries = all_entries(&boss.client, "").await;
    let seen = actions(&entries);
    for kind in [
        "user.created",
        "session.created",
        "sign-in.failed",
        "password.changed",
        "email.changed",
        "password.reset",
        "email.verified",
        "two-factor.enabled",
        "two-factor.backup-codes-generated",
        "two-factor.disabled",
        "passkey.added",
        "passkey.deleted",
        "organization.created",
        "member.added",
        "session.revoked",
        "admin.ban-user",
        "admin.impersonate-user",
    ] {
        assert!(seen.contains(kind), "{kind} missing from {seen:?}");
    }

    // Who, from where, with which browser, on what.
    let failed: Vec<&Value> = entries.iter().filter(|e| e["action"] == "sign-in.failed").collect();
    let known = failed
        .iter()
        .find(|e| e["targetId"] == u.id.as_str() && e["data"]["method"] == "email")
        .expect("the known address's failure names the user");
    assert_eq!(known["data"]["method"], "email");
    assert_eq!(known["data"]["reason"], "INVALID_EMAIL_OR_PASSWORD");
    assert_eq!(known["userAgent"], "audit-test/1.0");
    assert_eq!(known["actorIp"], "203.0.113.50");
    assert!(failed.iter().any(|e| e["targetId"].is_null() && e["data"]["email"] == "nobody@example.com"));
    assert!(failed.iter().any(|e| e["data"]["method"] == "two-factor" && e["data"]["reason"] == "INVALID_BACKUP_CODE"));
    assert!(failed.iter().any(|e| e["targetId"] == bob.id.as_str() && e["data"]["reason"] == "BANNED_USER"));
    assert!(failed.iter().any(|e| e["data"]["method"] == "passkey" && e["data"]["reason"] == "PASSKEY_NOT_FOUND"));
    let changed = one(&entries, "password.changed");
    assert_eq!((changed["actorId"].as_str(), changed["targetId"].as_str()), (Some(u.id.as_str()), Some(u.id.as_str())));
    assert_eq!(changed["targetType"], "user");
    assert_eq!(one(&entries, "email.changed")["data"]["previousEmail"], u.email.as_str());
    assert_eq!(one(&entries, "passkey.added")["data"]["passkey"]["name"], "laptop");
    let org_row = one(&entries, "organization.created");
    assert_eq!((org_row["organizationId"].as_str(), org_row["targetType"].as_str()), (Some(org.as_str()), Some("organization")));
    let revoked: Vec<&Value> = entries.iter().filter(|e| e["action"] == "session.revoked").collect();
    let reasons: BTreeSet<&str> = revoked.iter().map(|e| e["data"]["reason"].as_str().unwrap()).collect();
    for r in ["revoke-session", "revoke-other-sessions", "revoke-sessions", "sign-out", "admin.ban-user"] {
        assert!(reasons.contains(r), "session.revoked by {r}: {reasons:?}");
    }
    let out = revoked.iter().find(|e| e["data"]["reason"] == "sign-out").unwrap();
    assert_eq!((out["targetType"].as_str(), out["userAgent"].as_str()), (Some("session"), Some("audit-test/1.0")));
    assert!(out["data"]["session"]["id"].is_string() && out["data"]["session"].get("token").is_none());
    let ban = revoked.iter().find(|e| e["data"]["reason"] == "admin.ban-user").unwrap();
    assert_eq!((ban["actorId"].as_str(), ban["targetId"].as_str()), (Some(boss.id.as_str()), Some(bob.id.as_str())));
    let imp = one(&entries, "admin.impersonate-user");
    assert_eq!((imp["actorId"].as_str(), imp["targetId"].as_str()), (Some(boss.id.as_str()), Some(carol.id.as_str())));

    // No row holds a password, a session token, a reset or verification token or a backup code.
    let raw = serde_json::to_string(&entries).unwrap();
    for s in &secrets {
        assert!(!raw.contains(s.as_str()), "a secret is in the audit log: {s}");
    }
    let q = r#"select count(*) from "auditLog" where "data" like '%"token"%' or "data" like '%"password"%'"#;
    assert_eq!(srv.count(q).await, 0);
});

/// Inserts a row directly (the same statement on both backends).
async fn insert(srv: &TestServer, id: &str, action: &str, at: &str, actor: &str, target: (&str, &str), org: Option<&str>) {
    let org = org.map_or("null".to_string(), |o| format!("'{o}'"));
    let q = format!(
        r#"insert into "auditLog" ("id", "action", "actorId", "actorIp", "userAgent", "targetType", "targetId", "organizationId", "data", "createdAt") values ('{id}', '{action}', '{actor}', null, null, '{}', '{}', {org}, '{{"n":1}}', '{at}')"#,
        target.0, target.1
    );
    assert_eq!(srv.sql(&q).await, 1);
}

fn ids(entries: &[Value]) -> Vec<String> {
    entries.iter().map(|e| e["id"].as_str().unwrap().to_string()).collect()
}

both!(the_query_api_filters_and_pages_stably_across_equal_times, config = admin_on, |srv| async move {
    let boss = admin(&srv, "pager").await;
    let same = "2020-06-01T12:00:00.000Z";
    // Seven rows at one instant, two earlier, one later; ids chosen so the order is known.
    for i in 0..7 {
        insert(&srv, &format!("tie{i}"), "session.revoked", same, "actor-a", ("session", &format!("s{i}")), None).await;
    }
    insert(&srv, "early1", "admin.ban-user", "2020-05-01T00:00:00.000Z", "actor-b", ("user", "victim"), None).await;
    insert(&srv, "early2", "member.added", "2020-05-02T00:00:00.000Z", "actor-b", ("member", "m1"), Some("org-1")).await;
    insert(&srv, "late1", "session.created", "2020-07-01T00:00:00.000Z", "actor-a", ("session", "s9"), None).await;
    let window = format!("&to={}", enc("2021-01-01T00:00:00.000Z"));

    // Pages of three: newest first, ties by id descending, each row once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = format!("/admin/audit-log?limit=3{window}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let r = boss.client.get(&path).await;
        r.expect_status(200);
        assert_eq!(key_order(&r.text), ["entries", "nextCursor"]);
        let page = r.json()["entries"].as_array().unwrap().clone();
        assert!(page.len() <= 3);
        seen.extend(ids(&page));
        pages += 1;
        match r.json()["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let want = ["late1", "tie6", "tie5", "tie4", "tie3", "tie2", "tie1", "tie0", "early2", "early1"];
    assert_eq!(seen, want);
    assert_eq!(pages, 4);

    let get = |q: String| {
        let c = boss.client.fork();
        async move {
            let r = c.get(&format!("/admin/audit-log?{q}")).await;
            r.expect_status(200);
            ids(r.json()["entries"].as_array().unwrap())
        }
    };
    assert_eq!(get(format!("action=admin.ban-user{window}")).await, ["early1"]);
    assert_eq!(get(format!("action=session.*{window}")).await.len(), 8, "a prefix");
    assert_eq!(get(format!("actorId=actor-b{window}")).await, ["early2", "early1"]);
    assert_eq!(get(format!("targetId=s3{window}")).await, ["tie3"]);
    assert_eq!(get(format!("targetType=member{window}")).await, ["early2"]);
    assert_eq!(get(format!("organizationId=org-1{window}")).await, ["early2"]);
    let from = enc("2020-06-01T12:00:00.000Z");
    let to = enc("2020-06-30T00:00:00Z");
    assert_eq!(get(format!("from={from}&to={to}")).await.len(), 7, "inclusive bounds");
    assert_eq!(get(format!("action=session.*&limit=2&targetType=session{window}")).await, ["late1", "tie6"]);
    // The entry's data is JSON again.
    let r = boss.client.get(&format!("/admin/audit-log?targetId=victim{window}")).await;
    assert_eq!(r.json()["entries"][0]["data"], json!({"n": 1}));
    assert_eq!(r.json()["nextCursor"], Value::Null);

    // Bad input is a 400 with a code, never a 500.
    boss.client.get("/admin/audit-log?from=yesterday").await.expect_code(400, "INVALID_AUDIT_TIME");
    boss.client.get("/admin/audit-log?cursor=!!!").await.expect_code(400, "INVALID_AUDIT_CURSOR");
    boss.client.get("/admin/audit-log?cursor=bm9jb21tYQ").await.expect_code(400, "INVALID_AUDIT_CURSOR");
    boss.client.get("/admin/audit-log?limit=-1").await.expect_code(400, "INVALID_AUDIT_LIMIT");
    let r = boss.client.get("/admin/audit-log?limit=100000").await;
    r.expect_status(200);

    // Only holders of `audit: ["list"]`: a plain user is refused, no session is 401.
    let plain = srv.user("plainuser").await;
    plain.client.get("/admin/audit-log").await.expect_code(403, "YOU_ARE_NOT_ALLOWED_TO_LIST_AUDIT_LOG");
    srv.client().get("/admin/audit-log").await.expect_status(401);
});

struct Shifted(Arc<AtomicI64>);
impl portcullis::app::Clock for Shifted {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        portcullis::store::model::ms(chrono::Utc::now() + chrono::Duration::seconds(self.0.load(Ordering::SeqCst)))
    }
}

async fn wait_count(srv: &TestServer, q: &str, want: i64) {
    for _ in 0..100 {
        if srv.count(q).await == want {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{q} never counted {want}");
}

async fn retention(backend: Backend) {
    let offset = Arc::new(AtomicI64::new(0));
    let tweak = |c: &mut Config| {
        admin_on(c);
        let a = c.section_mut::<AuditConfig>().unwrap();
        a.retention_days = 30;
        a.prune_interval = 600;
    };
    let srv = TestServer::start_with(backend, tweak, |b| b.clock(Arc::new(Shifted(offset.clone())))).await;
    let old = (chrono::Utc::now() - chrono::Duration::days(40)).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let recent = (chrono::Utc::now() - chrono::Duration::days(20)).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    // A prune runs at start-up (on an empty log), from a task the timer spawns: let it finish
    // before the old row goes in, or it would take that row. The next one waits for the interval.
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    insert(&srv, "old1", "admin.ban-user", &old, "a", ("user", "x"), None).await;
    insert(&srv, "recent1", "admin.ban-user", &recent, "a", ("user", "x"), None).await;
    srv.user("first").await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(srv.count(r#"select count(*) from "auditLog" where "id" = 'old1'"#).await, 1, "within the interval");
    // After it, the next recorded event starts a prune in the background.
    offset.store(601, Ordering::SeqCst);
    srv.user("second").await;
    wait_count(&srv, r#"select count(*) from "auditLog" where "id" = 'old1'"#, 0).await;
    assert_eq!(srv.count(r#"select count(*) from "auditLog" where "id" = 'recent1'"#).await, 1, "younger rows stay");
    // Fifteen more days: the once-recent row is now past retention.
    offset.store(601 + 15 * 86_400, Ordering::SeqCst);
    srv.user("third").await;
    wait_count(&srv, r#"select count(*) from "auditLog" where "id" = 'recent1'"#, 0).await;
}

// The timer: with a one-second interval, an old row goes without any request.
both!(
    an_idle_server_prunes_on_its_timer,
    config = |c| {
        let a = c.section_mut::<AuditConfig>().unwrap();
        a.enabled = Some(true);
        a.retention_days = 1;
        a.prune_interval = 1;
    },
    |srv| async move {
        let old = (chrono::Utc::now() - chrono::Duration::days(2)).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        insert(&srv, "idle-old", "admin.ban-user", &old, "a", ("user", "x"), None).await;
        for _ in 0..60 {
            if srv.count(r#"select count(*) from "auditLog""#).await == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the old row was not pruned by the timer");
    }
);

#[tokio::test]
async fn retention_prunes_old_rows_sqlite() {
    retention(Backend::Sqlite).await;
}

#[tokio::test]
async fn retention_prunes_old_rows_postgres() {
    retention(Backend::Postgres).await;
}

// `[audit] enabled = true` without admin: rows are written (no query route); `events` selects.
both!(
    enabled_alone_records_the_selected_events,
    config = |c| {
        let a = c.section_mut::<AuditConfig>().unwrap();
        a.enabled = Some(true);
        a.events = vec!["session.*".into(), "sign-in.failed".into()];
    },
    |srv| async move {
        let u = srv.user("solo").await;
        srv.client().post_json("/sign-in/email", json!({"email": u.email, "password": "nope-nope-1"})).await.expect_status(401);
        u.client.post_json("/sign-out", json!({})).await.expect_status(200);
        for (a, n) in [("session.created", 1), ("session.revoked", 1), ("sign-in.failed", 1), ("user.created", 0)] {
            assert_eq!(srv.count(&format!(r#"select count(*) from "auditLog" where "action" = '{a}'"#)).await, n, "{a}");
        }
        srv.client().get("/admin/audit-log").await.expect_status(404);
    }
);

// With UUID ids (PostgreSQL `uuid` columns), rows and cursors work the same.
both!(
    pages_with_uuid_ids,
    config = |c| {
        admin_on(c);
        c.advanced.database.generate_id = portcullis::config::GenerateId::Uuid;
    },
    |srv| async move {
        let boss = admin(&srv, "uuidboss").await;
        for i in 0..3 {
            srv.user(&format!("uuid{i}")).await;
        }
        let all = all_entries(&boss.client, "&action=user.created").await;
        assert_eq!(all.len(), 4);
        let mut seen = Vec::new();
        let mut cursor = String::new();
        for _ in 0..4 {
            let r = boss.client.get(&format!("/admin/audit-log?action=user.created&limit=1{cursor}")).await;
            r.expect_status(200);
            seen.extend(ids(r.json()["entries"].as_array().unwrap()));
            cursor = r.json()["nextCursor"].as_str().map(|c| format!("&cursor={c}")).unwrap_or_default();
        }
        assert_eq!(seen, ids(&all), "one row per page, in the same order");
        assert!(cursor.is_empty(), "the last page has no cursor");
    }
);
