//! RP-initiated logout: signing out a user with an account at an OIDC provider that publishes an
//! `end_session_endpoint` answers that provider's logout URL (spec §2.2 `POST /sign-out` item 2).

use crate::harness::{at_idp, query_param, Browser, Server};
use serde_json::json;

async fn signed_in_with_fake(srv: &Server, b: &mut Browser) {
    let r = b.post(&srv.url("/sign-in/social"), json!({"provider": "fake", "callbackURL": "/dashboard"})).await;
    let done = b.get(&at_idp(r.body["url"].as_str().unwrap()).await).await;
    assert_eq!(done.location.as_deref(), Some("/dashboard"));
    assert!(b.has_session());
}

crate::both!(sign_out_answers_the_end_session_url, |srv: Server| async move {
    srv.idp.user("lea", Some("lea@example.com"), true);
    let mut b = Browser::new(&srv);
    signed_in_with_fake(&srv, &mut b).await;
    let id_token = srv.scalar("select \"idToken\" from \"account\"").await.unwrap();
    let r = b.post(&srv.url("/sign-out"), json!({"callbackURL": "/bye", "state": "s1"})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["success"], true);
    assert_eq!(r.body["redirect"], true);
    let url = r.body["url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&format!("{}/end-session?x=1&", srv.idp.url)), "{url}");
    assert_eq!(r.location.as_deref(), Some(url.as_str()));
    assert_eq!(query_param(&url, "id_token_hint").as_deref(), Some(id_token.as_str()));
    assert_eq!(query_param(&url, "post_logout_redirect_uri"), Some(format!("{}/bye", srv.origin)));
    assert_eq!(query_param(&url, "client_id").as_deref(), Some(crate::idp::CLIENT_ID));
    assert_eq!(query_param(&url, "state").as_deref(), Some("s1"));
    assert!(!b.has_session(), "cookies cleared");
    assert_eq!(srv.count("session").await, 0);

    // disableRedirect: the URL without Location; no callbackURL: only the id_token hint.
    signed_in_with_fake(&srv, &mut b).await;
    let r = b.post(&srv.url("/sign-out"), json!({"disableRedirect": true})).await;
    assert_eq!(r.body["redirect"], false);
    assert_eq!(r.location, None);
    let url = r.body["url"].as_str().unwrap();
    assert!(query_param(url, "id_token_hint").is_some() && query_param(url, "client_id").is_none(), "{url}");

    // A user without such an account, and no session at all: the plain answer.
    let mut local = Browser::new(&srv);
    let up =
        local.post(&srv.url("/sign-up/email"), json!({"name": "L", "email": "l@example.com", "password": "correct-horse-battery"})).await;
    assert_eq!(up.status, 200);
    let r = local.post(&srv.url("/sign-out"), json!({})).await;
    assert_eq!(r.body, json!({"success": true}));
    let r = Browser::new(&srv).post(&srv.url("/sign-out"), json!({})).await;
    assert_eq!(r.body, json!({"success": true}));
    srv
});
