//! X (Twitter) and Facebook against the fake IdP: their scopes, PKCE and token authentication,
//! profile mapping, X's e-mail placeholder, and Facebook's debug_token check. Also an anonymous
//! visitor (`[anonymous] enabled = true`) who signs in socially: linked, then deleted.

use crate::harness::{at_idp, query_param, Browser, Server};
use crate::{begin, sign_in};
use serde_json::json;

crate::both!(twitter_profile_pkce_and_basic_auth, |srv: Server| async move {
    srv.idp.user("jack", Some("Jack@Example.com"), true);
    let mut b = Browser::new(&srv);
    let url = begin(&srv, &mut b, "twitter", json!({})).await;
    assert_eq!(query_param(&url, "scope").as_deref(), Some("users.read tweet.read offline.access users.email"));
    assert_eq!(query_param(&url, "code_challenge_method").as_deref(), Some("S256"));
    let r = b.get(&at_idp(&url).await).await;
    assert_eq!(r.location.as_deref(), Some("/welcome"), "{:?}", r.location);
    assert_eq!(srv.idp.state.lock().unwrap().basic_token_calls, 1, "X authenticates the client with HTTP Basic");
    let s = b.get(&srv.url("/get-session")).await;
    let user = &s.body["user"];
    assert_eq!(user["email"], "jack@example.com", "confirmed_email, lower-cased");
    assert_eq!(user["emailVerified"], true);
    assert_eq!(user["name"], "User jack");
    assert_eq!(user["image"], "https://pbs.twimg.com/profile_images/x_normal.jpg");
    assert_eq!(srv.scalar("select \"accountId\" from \"account\"").await.as_deref(), Some("1445880548472328192"));
    srv
});

crate::both!(twitter_without_email_access_gets_better_auths_placeholder, |srv: Server| async move {
    srv.idp.user("quiet", None, false);
    let mut b = Browser::new(&srv);
    let r = sign_in(&srv, &mut b, "twitter").await;
    assert_eq!(r.location.as_deref(), Some("/welcome"), "{:?}", r.location);
    let s = b.get(&srv.url("/get-session")).await;
    assert_eq!(s.body["user"]["email"], "1445880548472328192@twitter.placeholder.invalid");
    assert_eq!(s.body["user"]["emailVerified"], false);
    // The same X account signs in to the same user.
    let mut again = Browser::new(&srv);
    assert_eq!(sign_in(&srv, &mut again, "twitter").await.location.as_deref(), Some("/dashboard"));
    assert_eq!(srv.count("user").await, 1);
    srv
});

crate::both!(facebook_profile_without_pkce, |srv: Server| async move {
    srv.idp.user("zuck", Some("zuck@example.com"), true);
    let mut b = Browser::new(&srv);
    let url = begin(&srv, &mut b, "facebook", json!({})).await;
    assert_eq!(query_param(&url, "scope").as_deref(), Some("email public_profile"));
    assert!(!url.contains("code_challenge"), "no PKCE for Facebook: {url}");
    let r = b.get(&at_idp(&url).await).await;
    assert_eq!(r.location.as_deref(), Some("/welcome"), "{:?}", r.location);
    assert_eq!(srv.idp.state.lock().unwrap().basic_token_calls, 0, "client secret in the form");
    let s = b.get(&srv.url("/get-session")).await;
    let user = &s.body["user"];
    assert_eq!(user["email"], "zuck@example.com");
    assert_eq!(user["emailVerified"], false, "Graph does not say the e-mail is verified");
    assert_eq!(user["name"], "User zuck");
    assert_eq!(user["image"], "https://platform-lookaside.fbsbx.com/x.jpg");
    assert_eq!(srv.scalar("select \"accountId\" from \"account\"").await.as_deref(), Some("10229876543210"));
    srv
});

crate::both!(facebook_token_of_another_app_is_refused, |srv: Server| async move {
    srv.idp.user("zuck", Some("zuck@example.com"), true);
    srv.idp.fault("other_app");
    let mut b = Browser::new(&srv);
    let r = sign_in(&srv, &mut b, "facebook").await;
    assert_eq!(r.status, 302);
    assert!(query_param(r.location.as_deref().unwrap(), "error").is_some_and(|e| !e.is_empty()), "{:?}", r.location);
    assert!(!b.has_session());
    assert_eq!(srv.count("user").await, 0);
    srv
});

crate::both!(
    anonymous_visitor_signing_in_socially_is_linked_and_deleted,
    config = |c: &mut portcullis::Config| crate::common::anonymous(c).enabled = true,
    |srv: Server| async move {
        srv.idp.user("alice", Some("alice@example.com"), true);
        let mut b = Browser::new(&srv);
        let anon = b.post(&srv.url("/sign-in/anonymous"), json!({})).await;
        assert_eq!(anon.status, 200, "{:?}", anon.body);
        let anon_id = anon.body["user"]["id"].as_str().unwrap().to_string();
        assert_eq!(srv.count("user").await, 1);

        let r = sign_in(&srv, &mut b, "fake").await;
        assert_eq!(r.location.as_deref(), Some("/welcome"), "{:?}", r.location);
        let s = b.get(&srv.url("/get-session?disableCookieCache=true")).await;
        assert_eq!(s.body["user"]["email"], "alice@example.com");
        assert_eq!(s.body["user"]["isAnonymous"], false);
        assert_ne!(s.body["user"]["id"], anon_id.as_str());
        assert_eq!(srv.count("user").await, 1, "the anonymous user is deleted");
        assert_eq!(srv.scalar(&format!("select id from \"user\" where id = '{anon_id}'")).await, None);
        assert_eq!(srv.count("session").await, 1, "only the new session is left");
        srv
    }
);
