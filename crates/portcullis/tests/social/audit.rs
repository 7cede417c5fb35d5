//! The audit log of linked accounts: `account.linked` (OAuth link, and an implicit link at
//! sign-in) and `account.unlinked`, with the provider and account ids and never a token; a refused
//! provider sign-in is `sign-in.failed`.

use super::{at_idp, sign_in, sign_up};
use crate::harness::{Browser, Server};
use portcullis::plugins::audit::config::AuditConfig;
use serde_json::{json, Value};

fn on(c: &mut portcullis::Config) {
    c.section_mut::<AuditConfig>().expect("[audit] parses").enabled = Some(true);
    crate::common::social(c).account_linking.trusted_providers = vec!["fake".into()];
    crate::common::social(c).account_linking.require_local_email_verified = false;
}

async fn rows(srv: &Server, action: &str) -> Vec<Value> {
    let sql = format!(r#"select "data" from "auditLog" where "action" = '{action}' order by "createdAt""#);
    let first = srv.scalar(&sql).await;
    first.map(|d| serde_json::from_str(&d).unwrap()).into_iter().collect()
}

crate::both!(linking_and_unlinking_are_audited, config = on, |srv: Server| async move {
    let mut b = Browser::new(&srv);
    let uid = sign_up(&srv, &mut b, "dora@example.com").await;
    srv.idp.user("dora", Some("dora@example.com"), true);
    let r = b.post(&srv.url("/link-social"), json!({"provider": "fake", "callbackURL": "/settings"})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let back = at_idp(r.body["url"].as_str().unwrap()).await;
    assert_eq!(b.get(&back).await.location.as_deref(), Some("/settings"));
    let linked = rows(&srv, "account.linked").await;
    assert_eq!(linked.len(), 1);
    let d = &linked[0];
    assert_eq!((d["userId"].as_str(), d["via"].as_str()), (Some(uid.as_str()), Some("oauth")));
    assert_eq!((d["account"]["providerId"].as_str(), d["account"]["accountId"].as_str()), (Some("fake"), Some("dora")));
    let account = d["account"]["id"].as_str().unwrap().to_string();

    let r = b.post(&srv.url("/unlink-account"), json!({"accountId": account})).await;
    assert_eq!(r.body, json!({"status": true}));
    let unlinked = rows(&srv, "account.unlinked").await;
    assert_eq!(unlinked[0]["account"]["id"], account.as_str());
    let q = format!(
        r#"select cast(count(*) as text) from "auditLog" where "action" = 'account.unlinked' and "targetType" = 'account' and "targetId" = '{account}' and "actorId" = '{uid}'"#
    );
    assert_eq!(srv.scalar(&q).await.as_deref(), Some("1"));

    // An implicit link at sign-in (a trusted provider, same address).
    let mut again = Browser::new(&srv);
    sign_in(&srv, &mut again, "fake").await;
    assert!(again.has_session());
    let q = r#"select cast(count(*) as text) from "auditLog" where "action" = 'account.linked' and "data" like '%"via":"implicit"%'"#;
    assert_eq!(srv.scalar(q).await.as_deref(), Some("1"));
    // A refused provider sign-in (an unverified address matching a local account).
    let mut local = Browser::new(&srv);
    sign_up(&srv, &mut local, "erin@example.com").await;
    srv.idp.user("erin", Some("erin@example.com"), false);
    let mut refused = Browser::new(&srv);
    let r = sign_in(&srv, &mut refused, "fake").await;
    assert_eq!(r.status, 302);
    let q = r#"select cast(count(*) as text) from "auditLog" where "action" = 'sign-in.failed' and "data" like '%"method":"fake"%' and "data" like '%account_not_linked%'"#;
    assert_eq!(srv.scalar(q).await.as_deref(), Some("1"));
    // No token of the provider account in any row.
    let q = r#"select cast(count(*) as text) from "auditLog" where "data" like '%accessToken%' or "data" like '%refreshToken%' or "data" like '%idToken%'"#;
    assert_eq!(srv.scalar(q).await.as_deref(), Some("0"));
    srv
});
