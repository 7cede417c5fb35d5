//! The admin capability (Better Auth's `admin()`, `[admin] enabled = true`): roles on every user,
//! the `/admin/*` endpoints with their permission refusals, bans (with expiry on an injected
//! clock), impersonation, configured roles with inheritance, and a banned row as Better Auth
//! writes it.

use crate::harness::*;
use portcullis::access::RoleDef;
use portcullis::plugins::admin::config::AdminConfig;
use portcullis::Config;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

fn cfg(c: &mut Config) -> &mut AdminConfig {
    c.section_mut().expect("[admin] parses")
}

fn on(c: &mut Config) {
    cfg(c).enabled = true;
}

/// `admin_ro` reads users and sessions; `admin_rw` extends it with writes.
fn with_ro_rw(c: &mut Config) {
    on(c);
    let ro: RoleDef = toml::from_str(r#"permissions = { user = ["list", "get"], session = ["list"] }"#).unwrap();
    let rw: RoleDef = toml::from_str(
        r#"extends = ["admin_ro"]
permissions = { user = ["update", "ban", "set-role"], session = ["revoke"] }"#,
    )
    .unwrap();
    cfg(c).roles.insert("admin_ro".into(), ro);
    cfg(c).roles.insert("admin_rw".into(), rw);
}

/// A signed-up user given `role` in the database (as the conformance suite seeds its admin).
async fn with_role(srv: &TestServer, name: &str, role: &str) -> SignedUp {
    let u = srv.user(name).await;
    assert_eq!(srv.sql(&format!("update \"user\" set role = '{role}' where id = '{}'", u.id)).await, 1);
    u
}

both!(every_new_user_has_the_default_role_and_is_not_banned, config = on, |srv| async move {
    let c = srv.client();
    let body = sign_up(&c, "plain@example.com", PASSWORD, "Plain").await;
    let u = &body["user"];
    assert_eq!(u["role"], "user");
    assert_eq!(u["banned"], false);
    assert_eq!(u["banReason"], Value::Null);
    assert_eq!(u["banExpires"], Value::Null);
    let raw = serde_json::to_string(u).unwrap();
    assert_eq!(
        key_order(&raw),
        ["name", "email", "emailVerified", "image", "createdAt", "updatedAt", "role", "banned", "banReason", "banExpires", "id"]
    );
    let s = c.session_from_db().await;
    assert_eq!(s["user"]["role"], "user");
    assert_eq!(s["session"]["impersonatedBy"], Value::Null);
    // input: false: a client cannot give itself a role.
    let r = srv
        .client()
        .post_json("/sign-up/email", json!({"email": "x@example.com", "password": PASSWORD, "name": "X", "role": "admin"}))
        .await;
    assert_eq!(r.status, 400, "{:?}", r.json());
});

both!(create_get_list_and_remove_users, config = on, |srv| async move {
    let a = with_role(&srv, "boss", "admin").await;
    let r = a
        .client
        .post_json("/admin/create-user", json!({"email": "New@Example.com", "password": "a-password-1", "name": "New", "role": "admin"}))
        .await;
    r.expect_status(200);
    let created = r.json()["user"].clone();
    assert_eq!(created["email"], "new@example.com");
    assert_eq!(created["role"], "admin");
    assert_eq!(created["banned"], false);
    srv.sign_in("new@example.com", "a-password-1").await;
    a.client.post_json("/admin/create-user", json!({"email": "new@example.com", "name": "Again"})).await.expect_error(
        400,
        "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL",
        "User already exists. Use another email.",
    );
    a.client.post_json("/admin/create-user", json!({"email": "nope", "name": "N"})).await.expect_code(400, "INVALID_EMAIL");

    let id = created["id"].as_str().unwrap();
    let r = a.client.get(&format!("/admin/get-user?id={id}")).await;
    r.expect_status(200);
    assert_eq!(r.json()["id"], created["id"], "the bare user");
    a.client.get("/admin/get-user?id=missing").await.expect_error(404, "USER_NOT_FOUND", "User not found");

    let r = a.client.get("/admin/list-users?searchValue=example.com&sortBy=email&sortDirection=desc&limit=1").await;
    r.expect_status(200);
    assert_eq!(r.json()["total"], 2);
    assert_eq!(r.json()["limit"], 1);
    assert!(r.json().get("offset").is_none());
    assert_eq!(r.json()["users"][0]["email"], "new@example.com");
    let r = a.client.get("/admin/list-users?filterField=role&filterValue=admin").await;
    assert_eq!(r.json()["total"], 2);
    let r = a.client.get("/admin/list-users?filterField=banned&filterValue=true").await;
    assert_eq!(r.json()["total"], 0);
    let r = a.client.get("/admin/list-users?searchField=name&searchOperator=starts_with&searchValue=Ne&offset=0").await;
    assert_eq!(r.json()["users"].as_array().unwrap().len(), 1);

    a.client.post_json("/admin/remove-user", json!({"userId": a.id})).await.expect_error(
        400,
        "YOU_CANNOT_REMOVE_YOURSELF",
        "You cannot remove yourself",
    );
    a.client.post_json("/admin/remove-user", json!({"userId": id})).await.expect_status(200);
    assert_eq!(srv.count(&format!("select count(*) from \"user\" where id = '{id}'")).await, 0);
    a.client.post_json("/admin/remove-user", json!({"userId": id})).await.expect_code(404, "USER_NOT_FOUND");
});

both!(a_plain_user_is_refused_every_admin_endpoint, config = on, |srv| async move {
    let u = srv.user("nobody").await;
    let c = &u.client;
    let uid = json!({"userId": u.id});
    for (path, body, code) in [
        ("/admin/create-user", json!({"email": "a@example.com", "name": "A"}), "YOU_ARE_NOT_ALLOWED_TO_CREATE_USERS"),
        ("/admin/set-role", json!({"userId": u.id, "role": "admin"}), "YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE"),
        ("/admin/set-user-password", json!({"userId": u.id, "newPassword": "whatever-1"}), "YOU_ARE_NOT_ALLOWED_TO_SET_USERS_PASSWORD"),
        ("/admin/update-user", json!({"userId": u.id, "data": {"name": "x"}}), "YOU_ARE_NOT_ALLOWED_TO_UPDATE_USERS"),
        ("/admin/ban-user", uid.clone(), "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS"),
        ("/admin/unban-user", uid.clone(), "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS"),
        ("/admin/impersonate-user", uid.clone(), "YOU_ARE_NOT_ALLOWED_TO_IMPERSONATE_USERS"),
        ("/admin/list-user-sessions", uid.clone(), "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS_SESSIONS"),
        ("/admin/revoke-user-session", json!({"sessionToken": u.token}), "YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS"),
        ("/admin/revoke-user-sessions", uid.clone(), "YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS"),
        ("/admin/remove-user", uid.clone(), "YOU_ARE_NOT_ALLOWED_TO_DELETE_USERS"),
    ] {
        let r = c.post_json(path, body).await;
        assert_eq!((r.status, r.code()), (403, Some(code)), "{path}: {:?}", r.json());
    }
    c.get("/admin/list-users").await.expect_code(403, "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS");
    c.get(&format!("/admin/get-user?id={}", u.id)).await.expect_code(403, "YOU_ARE_NOT_ALLOWED_TO_GET_USER");
    let r = c.post_json("/admin/has-permission", json!({"permissions": {"user": ["list"]}})).await;
    assert_eq!(r.json(), &json!({"error": null, "success": false}));
    // No session: 401 without a body.
    let r = srv.client().get("/admin/list-users").await;
    assert_eq!(r.status, 401);
    assert_eq!(srv.client().post_json("/admin/ban-user", uid).await.status, 401);
    let r = c.post_json("/admin/has-permission", json!({})).await;
    assert_eq!((r.status, r.json()["message"].as_str()), (400, Some("invalid permission check. no permission(s) were passed.")));
});

both!(set_role_and_set_user_password, config = on, |srv| async move {
    let a = with_role(&srv, "boss", "admin").await;
    let u = srv.user("member").await;
    let r = a.client.post_json("/admin/set-role", json!({"userId": u.id, "role": ["admin", "user"]})).await;
    r.expect_status(200);
    assert_eq!(r.json()["user"]["role"], "admin,user");
    let ok = u.client.post_json("/admin/has-permission", json!({"permissions": {"user": ["list"]}})).await;
    assert_eq!(ok.json()["success"], true, "the role takes effect at once");
    a.client.post_json("/admin/set-role", json!({"userId": "missing", "role": "user"})).await.expect_code(404, "USER_NOT_FOUND");

    let r = a.client.post_json("/admin/set-user-password", json!({"userId": u.id, "newPassword": "short"})).await;
    r.expect_code(400, "PASSWORD_TOO_SHORT");
    let r = a.client.post_json("/admin/set-user-password", json!({"userId": u.id, "newPassword": "set-by-admin-1"})).await;
    assert_eq!(r.json(), &json!({"status": true}));
    srv.sign_in(&u.email, "set-by-admin-1").await;
    let r = srv.client().post_json("/sign-in/email", json!({"email": u.email, "password": PASSWORD})).await;
    r.expect_code(401, "INVALID_EMAIL_OR_PASSWORD");
});

both!(update_user_checks_each_kind_of_change, config = with_ro_rw, |srv| async move {
    let a = with_role(&srv, "boss", "admin").await;
    let u = srv.user("member").await;
    let upd = |data: Value| json!({"userId": u.id, "data": data});
    let r = a.client.post_json("/admin/update-user", upd(json!({"name": "Renamed", "email": "Renamed@Example.com"}))).await;
    r.expect_status(200);
    assert_eq!(r.json()["name"], "Renamed", "the bare user");
    assert_eq!(r.json()["email"], "renamed@example.com");
    a.client.post_json("/admin/update-user", upd(json!({}))).await.expect_error(400, "NO_DATA_TO_UPDATE", "No data to update");
    a.client
        .post_json("/admin/update-user", upd(json!({"password": "x"})))
        .await
        .expect_code(400, "PASSWORD_CANNOT_BE_UPDATED_VIA_UPDATE_USER");
    a.client
        .post_json("/admin/update-user", upd(json!({"email": "boss@example.com"})))
        .await
        .expect_code(400, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL");
    a.client
        .post_json("/admin/update-user", json!({"userId": a.id, "data": {"banned": true}}))
        .await
        .expect_code(400, "YOU_CANNOT_BAN_YOURSELF");
    a.client
        .post_json("/admin/update-user", upd(json!({"role": "ghost"})))
        .await
        .expect_code(400, "YOU_ARE_NOT_ALLOWED_TO_SET_NON_EXISTENT_VALUE");
    let r = a.client.post_json("/admin/update-user", upd(json!({"banned": true, "banReason": "spam"}))).await;
    assert_eq!(r.json()["banned"], true);
    assert_eq!(srv.count(&format!("select count(*) from session where \"userId\" = '{}'", u.id)).await, 0, "banning ends the sessions");

    // admin_rw may update but not change e-mails; admin_ro may only read.
    let rw = with_role(&srv, "rw", "admin_rw").await;
    let ro = with_role(&srv, "ro", "admin_ro").await;
    rw.client.post_json("/admin/update-user", upd(json!({"name": "By rw"}))).await.expect_status(200);
    rw.client
        .post_json("/admin/update-user", upd(json!({"email": "z@example.com"})))
        .await
        .expect_code(403, "YOU_ARE_NOT_ALLOWED_TO_SET_USERS_EMAIL");
    ro.client.get("/admin/list-users").await.expect_status(200);
    ro.client.get(&format!("/admin/get-user?id={}", u.id)).await.expect_status(200);
    ro.client.post_json("/admin/list-user-sessions", json!({"userId": u.id})).await.expect_status(200);
    ro.client.post_json("/admin/update-user", upd(json!({"name": "By ro"}))).await.expect_code(403, "YOU_ARE_NOT_ALLOWED_TO_UPDATE_USERS");
    ro.client.post_json("/admin/unban-user", json!({"userId": u.id})).await.expect_code(403, "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS");
    rw.client.post_json("/admin/unban-user", json!({"userId": u.id})).await.expect_status(200);
    rw.client.post_json("/admin/remove-user", json!({"userId": u.id})).await.expect_code(403, "YOU_ARE_NOT_ALLOWED_TO_DELETE_USERS");
});

both!(ban_refuses_sign_in_and_unban_restores_it, config = on, |srv| async move {
    let a = with_role(&srv, "boss", "admin").await;
    let u = srv.user("bad").await;
    let r = a.client.post_json("/admin/ban-user", json!({"userId": u.id})).await;
    r.expect_status(200);
    assert_eq!(r.json()["user"]["banned"], true);
    assert_eq!(r.json()["user"]["banReason"], "No reason");
    assert_eq!(r.json()["user"]["banExpires"], Value::Null);
    assert_eq!(u.client.get("/get-session?disableCookieCache=true").await.json(), &Value::Null, "sessions ended");
    let r = srv.client().post_json("/sign-in/email", json!({"email": u.email, "password": PASSWORD})).await;
    r.expect_error(
        403,
        "BANNED_USER",
        "You have been banned from this application. Please contact support if you believe this is an error.",
    );
    a.client.post_json("/admin/ban-user", json!({"userId": a.id})).await.expect_code(400, "YOU_CANNOT_BAN_YOURSELF");
    a.client.post_json("/admin/ban-user", json!({"userId": "missing"})).await.expect_code(404, "USER_NOT_FOUND");
    let r = a.client.post_json("/admin/unban-user", json!({"userId": u.id})).await;
    assert_eq!((r.json()["user"]["banned"].clone(), r.json()["user"]["banReason"].clone()), (json!(false), Value::Null));
    srv.sign_in(&u.email, PASSWORD).await;
});

/// A clock the test moves.
pub(crate) struct Shifted(pub(crate) Arc<AtomicI64>);
impl portcullis::app::Clock for Shifted {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        portcullis::store::model::ms(chrono::Utc::now() + chrono::Duration::seconds(self.0.load(Ordering::SeqCst)))
    }
}

async fn ban_expiry(backend: Backend) {
    let offset = Arc::new(AtomicI64::new(0));
    let clock = Shifted(offset.clone());
    let srv = TestServer::start_with(backend, on, |b| b.clock(Arc::new(clock))).await;
    let a = with_role(&srv, "boss", "admin").await;
    let u = srv.user("brief").await;
    let r = a.client.post_json("/admin/ban-user", json!({"userId": u.id, "banReason": "cool down", "banExpiresIn": 3600})).await;
    let expires = parse_time(&r.json()["user"]["banExpires"]);
    assert!((expires - chrono::Utc::now()).num_seconds() > 3500);
    let r = srv.client().post_json("/sign-in/email", json!({"email": u.email, "password": PASSWORD})).await;
    r.expect_code(403, "BANNED_USER");
    offset.store(3601, Ordering::SeqCst);
    let c = srv.sign_in(&u.email, PASSWORD).await;
    let s = c.session_from_db().await;
    assert_eq!(
        (s["user"]["banned"].clone(), s["user"]["banReason"].clone(), s["user"]["banExpires"].clone()),
        (json!(false), Value::Null, Value::Null)
    );
}
crate::on_both_backends!(a_ban_with_an_expiry_is_lifted_once_it_expires, ban_expiry,);

both!(impersonation_switches_and_restores_the_admins_session, config = on, |srv| async move {
    let a = with_role(&srv, "boss", "admin").await;
    let u = srv.user("target").await;
    let other_admin = with_role(&srv, "peer", "admin").await;
    a.client.post_json("/admin/impersonate-user", json!({"userId": other_admin.id})).await.expect_error(
        403,
        "YOU_CANNOT_IMPERSONATE_ADMINS",
        "You cannot impersonate admins",
    );
    a.client.post_json("/admin/impersonate-user", json!({"userId": "missing"})).await.expect_code(404, "USER_NOT_FOUND");
    a.client.post_json("/admin/stop-impersonating", json!({})).await.expect_status(400);

    let r = a.client.post_json("/admin/impersonate-user", json!({"userId": u.id})).await;
    r.expect_status(200);
    assert_eq!(r.json()["session"]["impersonatedBy"], a.id.as_str());
    assert_eq!(r.json()["user"]["id"], u.id.as_str());
    let line = r.cookie_line("better-auth.session_token").unwrap().to_string();
    assert!(!line.contains("Max-Age"), "a don't-remember cookie: {line}");
    assert!(r.cookie_line("better-auth.admin_session").is_some());
    let life = parse_time(&r.json()["session"]["expiresAt"]) - parse_time(&r.json()["session"]["createdAt"]);
    assert_eq!(life.num_seconds(), 3600);
    let s = a.client.session_from_db().await;
    assert_eq!(s["user"]["id"], u.id.as_str());

    // The target's own list-sessions does not show the impersonation; the admin's list does.
    let mine = u.client.get("/list-sessions").await;
    assert_eq!(mine.json().as_array().unwrap().len(), 1);
    let all = a.client.post_json("/admin/list-user-sessions", json!({"userId": u.id})).await;
    // The admin's browser is now the target: it may not list sessions.
    all.expect_code(403, "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS_SESSIONS");

    let r = a.client.post_json("/admin/stop-impersonating", json!({})).await;
    r.expect_status(200);
    assert_eq!(r.json()["user"]["id"], a.id.as_str());
    assert!(r.deletes_cookie("better-auth.admin_session"));
    let s = a.client.session_from_db().await;
    assert_eq!(s["user"]["id"], a.id.as_str());
    assert_eq!(s["session"]["impersonatedBy"], Value::Null);
    let all = a.client.post_json("/admin/list-user-sessions", json!({"userId": u.id})).await;
    assert_eq!(all.json()["sessions"].as_array().unwrap().len(), 1, "the impersonation session is gone");
});

both!(
    impersonating_admins_needs_the_permission,
    config = |c| {
        on(c);
        let sup: RoleDef = toml::from_str(
            r#"extends = ["admin"]
permissions = { user = ["impersonate-admins"] }"#,
        )
        .unwrap();
        cfg(c).roles.insert("super".into(), sup);
    },
    |srv| async move {
        let s = with_role(&srv, "super", "super").await;
        let a = with_role(&srv, "boss", "admin").await;
        let r = s.client.post_json("/admin/impersonate-user", json!({"userId": a.id})).await;
        r.expect_status(200);
        assert_eq!(r.json()["session"]["impersonatedBy"], s.id.as_str());
    }
);

both!(revoking_sessions_reaches_the_user, config = on, |srv| async move {
    let a = with_role(&srv, "boss", "admin").await;
    let u = srv.user("member").await;
    let second = srv.sign_in(&u.email, PASSWORD).await;
    let r = a.client.post_json("/admin/list-user-sessions", json!({"userId": u.id})).await;
    let sessions = r.json()["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2);
    let r = a.client.post_json("/admin/revoke-user-session", json!({"sessionToken": u.token})).await;
    assert_eq!(r.json(), &json!({"success": true}));
    assert_eq!(u.client.get("/get-session?disableCookieCache=true").await.json(), &Value::Null);
    second.session_from_db().await;
    a.client.post_json("/admin/revoke-user-sessions", json!({"userId": u.id})).await.expect_status(200);
    assert_eq!(second.get("/get-session?disableCookieCache=true").await.json(), &Value::Null);
});

both!(a_banned_row_written_as_better_auth_writes_it_reads_back, config = on, |srv| async move {
    let a = with_role(&srv, "boss", "admin").await;
    let u = srv.user("legacy").await;
    let when = match srv.backend {
        Backend::Sqlite => "'2999-01-02T03:04:05.678Z'",
        Backend::Postgres => "'2999-01-02T03:04:05.678Z'::timestamptz",
    };
    let banned = if srv.backend == Backend::Sqlite { "1" } else { "true" };
    srv.sql(&format!(
        "update \"user\" set banned = {banned}, \"banReason\" = 'old', \"banExpires\" = {when}, role = 'user' where id = '{}'",
        u.id
    ))
    .await;
    let r = a.client.get(&format!("/admin/get-user?id={}", u.id)).await;
    let j = r.json();
    assert_eq!(
        (j["banned"].clone(), j["banReason"].clone(), j["banExpires"].clone()),
        (json!(true), json!("old"), json!("2999-01-02T03:04:05.678Z"))
    );
    srv.client().post_json("/sign-in/email", json!({"email": u.email, "password": PASSWORD})).await.expect_code(403, "BANNED_USER");
});

portcullis::permission!(ExportReports { report: ["export"] } else portcullis::plugins::admin::errors::YOU_ARE_NOT_ALLOWED_TO_LIST_USERS);

/// An embedder's route guarded by `Authorized<P>`, through a capability of its own.
struct Reports;
impl portcullis::Capability for Reports {
    fn id(&self) -> &'static str {
        "reports"
    }
    fn routes(&self) -> axum::Router<portcullis::Auth> {
        async fn export(portcullis::plugins::admin::Authorized(cur, _): portcullis::plugins::admin::Authorized<ExportReports>) -> String {
            format!("report for {}", cur.user.email)
        }
        axum::Router::new().route("/reports/export", axum::routing::get(export))
    }
}

fn with_reports(c: &mut Config) {
    with_ro_rw(c);
    cfg(c).statements.insert("report".into(), vec!["read".into(), "export".into()]);
    let rw = cfg(c).roles.get_mut("admin_rw").unwrap();
    rw.permissions.insert("report".into(), vec!["*".into()]);
}

async fn embedder_extractor(backend: Backend) {
    let srv = TestServer::start_with(backend, with_reports, |b| b.capability(Arc::new(Reports))).await;
    assert_eq!(srv.client().get("/reports/export").await.status, 401);
    let ro = with_role(&srv, "ro", "admin_ro").await;
    ro.client.get("/reports/export").await.expect_error(403, "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS", "You are not allowed to list users");
    let admin = with_role(&srv, "boss", "admin").await;
    admin.client.get("/reports/export").await.expect_code(403, "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS");
    let rw = with_role(&srv, "rw", "admin_rw").await;
    let r = rw.client.get("/reports/export").await;
    assert_eq!(r.status, 200);
    // The role is read from the store: taking it away takes effect at once.
    srv.sql(&format!("update \"user\" set role = 'user' where id = '{}'", rw.id)).await;
    assert_eq!(rw.client.get("/reports/export").await.status, 403);
}
crate::on_both_backends!(an_embedders_route_checks_a_permission_with_authorized, embedder_extractor,);

both!(bad_input_is_a_clean_4xx, config = on, |srv| async move {
    let a = with_role(&srv, "boss", "admin").await;
    let u = srv.user("member").await;
    for (path, body) in [
        ("/admin/update-user", json!({"userId": u.id, "data": {"banExpires": "not a date"}})),
        ("/admin/update-user", json!({"userId": u.id, "data": {"banned": "yes"}})),
        ("/admin/update-user", json!({"userId": u.id, "data": "x"})),
        ("/admin/update-user", json!({"userId": u.id, "data": {"role": 7}})),
        ("/admin/create-user", json!({"email": "n@example.com", "name": "N", "data": {"banExpires": {"a": 1}}})),
        ("/admin/create-user", json!({"email": 1, "name": "N"})),
        ("/admin/set-role", json!({"userId": u.id, "role": [1]})),
        ("/admin/ban-user", json!({"userId": u.id, "banExpiresIn": "soon"})),
        ("/admin/revoke-user-session", json!({})),
        ("/admin/has-permission", json!({"permissions": {"user": "list"}})),
    ] {
        let r = a.client.post_json(path, body.clone()).await;
        assert!(r.status < 500, "{path} {body}: {} {:?}", r.status, r.json());
    }
    for q in [
        "sortBy=nope",
        "filterField=nope&filterValue=1",
        "limit=abc&offset=-3",
        "filterField=banned&filterValue=maybe",
        "searchOperator=regex&searchValue=x",
    ] {
        let r = a.client.get(&format!("/admin/list-users?{q}")).await;
        assert!(r.status < 500, "{q}: {} {:?}", r.status, r.json());
    }
    let r = a.client.get("/admin/list-users?sortBy=nope").await;
    assert_eq!(r.json(), &json!({"users": [], "total": 0}), "an unknown field: Better Auth's empty answer");
    let r =
        a.client.post_json("/admin/update-user", json!({"userId": u.id, "data": {"banExpires": 4102444800000i64, "banned": false}})).await;
    assert_eq!(r.json()["banExpires"], "2100-01-01T00:00:00.000Z");
});

// Every admin action leaves an `auditLog` row: who, from where, what, to whom; no secrets.
both!(admin_actions_are_audited, config = on, |srv| async move {
    let a = with_role(&srv, "auditor", "admin").await;
    let u = srv.user("audited").await;
    let post = |path: &'static str, body: Value| {
        let c = a.client.fork();
        async move { c.req(reqwest::Method::POST, path).header("x-forwarded-for", "203.0.113.9").json(&body).send().await }
    };
    post("/admin/set-role", json!({"userId": u.id, "role": "admin"})).await.expect_status(200);
    post("/admin/ban-user", json!({"userId": u.id, "banReason": "spam"})).await.expect_status(200);
    post("/admin/set-user-password", json!({"userId": u.id, "newPassword": "a-new-password-1"})).await.expect_status(200);
    post("/admin/unban-user", json!({"userId": u.id})).await.expect_status(200);
    // A refused action writes nothing.
    u.client.post_json("/admin/ban-user", json!({"userId": a.id})).await.expect_status(401);

    for act in ["set-role", "ban-user", "set-user-password", "unban-user"] {
        let q = format!(
            r#"select count(*) from "auditLog" where "action" = 'admin.{act}' and "actorId" = '{}' and "actorIp" = '203.0.113.9' and "targetType" = 'user' and "targetId" = '{}'"#,
            a.id, u.id
        );
        assert_eq!(srv.count(&q).await, 1, "{act}");
    }
    // Four admin actions (the ban also emitted `session.revoked` for the user's sessions).
    let q = format!(r#"select count(*) from "auditLog" where "targetId" = '{}' and "action" like 'admin.%'"#, u.id);
    assert_eq!(srv.count(&q).await, 4);
    let data = srv.sql_scalar(r#"select "data" from "auditLog" where "action" = 'admin.ban-user'"#).await.unwrap();
    assert_eq!(serde_json::from_str::<Value>(&data).unwrap()["banReason"], "spam");
    let secrets = srv.count(r#"select count(*) from "auditLog" where "data" like '%a-new-password-1%'"#).await;
    assert_eq!(secrets, 0, "no password in the log");
});

// A time-bound grant (Portcullis's `expiresIn` on set-role): the role counts until its time, shows
// in the user's data with its expiry, and stops counting at once when the (injected) clock passes it.
async fn time_bound_grant(backend: Backend) {
    let offset = Arc::new(AtomicI64::new(0));
    let srv = TestServer::start_with(backend, on, |b| b.clock(Arc::new(Shifted(offset.clone())))).await;
    let a = with_role(&srv, "granter", "admin").await;
    let u = srv.user("temporary").await;
    let list = json!({"permissions": {"user": ["list"]}});
    let r = a.client.post_json("/admin/set-role", json!({"userId": u.id, "role": "admin", "expiresIn": 3600})).await;
    r.expect_status(200);
    let role = r.json()["user"]["role"].as_str().unwrap().to_string();
    let (name, until) = role.strip_prefix("user,").and_then(|g| g.split_once('@')).expect("user,admin@<time>");
    assert_eq!(name, "admin");
    assert!((parse_time(&json!(until)) - chrono::Utc::now()).num_seconds() > 3500, "{role}");
    assert_eq!(u.client.session_from_db().await["user"]["role"], role.as_str(), "the user's data shows the grant");
    assert_eq!(u.client.post_json("/admin/has-permission", list.clone()).await.json()["success"], true);
    u.client.get("/admin/list-users").await.expect_status(200);

    offset.store(3601, Ordering::SeqCst);
    assert_eq!(u.client.post_json("/admin/has-permission", list).await.json()["success"], false, "expired: at once");
    u.client.get("/admin/list-users").await.expect_code(403, "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS");

    for bad in [json!(0), json!(-5), json!(1e12), json!("soon")] {
        let r = a.client.post_json("/admin/set-role", json!({"userId": u.id, "role": "admin", "expiresIn": bad})).await;
        assert_eq!(r.status, 400, "{bad}: {:?}", r.json());
    }
}
crate::on_both_backends!(a_time_bound_role_stops_counting_when_it_expires, time_bound_grant,);
