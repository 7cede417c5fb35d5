//! Issue 12: what the callback trusts. A state is bound to the provider it was issued for (item 12),
//! and a trusted provider's unverified e-mail links nothing unless `trust_unverified_email` (item 13).

use super::{begin, error_of, nothing_created, sign_in, sign_up};
use crate::harness::{at_idp, Browser, Server};
use serde_json::json;

/// `fake2`: a second provider at the same IdP, registered as the same client with the same redirect
/// URI, so a code issued to `fake`'s flow would exchange there: only the state binding stops it.
fn with_fake2(c: &mut portcullis::Config) {
    let base = c.base_url.clone().unwrap_or_default();
    let mut fake2 = crate::common::social(c).providers["fake"].clone();
    fake2.redirect_uri = Some(format!("{base}/api/auth/callback/fake"));
    crate::common::social(c).providers.insert("fake2".into(), fake2);
}

crate::both!(state_for_another_provider_is_refused, config = with_fake2, |srv: Server| async move {
    srv.idp.user("mallory", Some("mallory@example.com"), true);
    for other in ["fake2", "github"] {
        let mut b = Browser::new(&srv);
        let back = at_idp(&begin(&srv, &mut b, "fake", json!({})).await).await;
        assert!(back.contains("/callback/fake?"), "{back}");
        let calls = srv.idp.state.lock().unwrap().token_calls;
        let r = b.get(&back.replace("/callback/fake?", &format!("/callback/{other}?"))).await;
        assert_eq!(error_of(&r), "state_mismatch", "a state issued for fake at /callback/{other}");
        assert!(r.location.as_deref().unwrap().starts_with("/oops?"), "the flow's own error URL: {:?}", r.location);
        assert_eq!(srv.idp.state.lock().unwrap().token_calls, calls, "the code never reaches another provider's token endpoint");
        nothing_created(&srv, &b).await;
        // The diverted flow is aborted: its state is consumed and its cookie expired, so the code
        // cannot be finished at the right callback afterwards either.
        assert!(!b.jar.contains_key("better-auth.state"), "state cookie expired");
        assert_eq!(srv.count("verification").await, 0, "state consumed");
        let r = b.get(&back).await;
        assert_eq!(error_of(&r), "state_mismatch");
        nothing_created(&srv, &b).await;
    }
    // The same flow at its own callback signs in.
    let mut b = Browser::new(&srv);
    let r = sign_in(&srv, &mut b, "fake").await;
    assert_eq!(r.location.as_deref(), Some("/welcome"));
    assert_eq!(srv.scalar("select \"providerId\" from \"account\"").await.as_deref(), Some("fake"));
    srv
});

crate::both!(better_auth_state_without_provider_still_works, |srv: Server| async move {
    srv.idp.user("ba", Some("ba@example.com"), true);
    let mut b = Browser::new(&srv);
    let back = at_idp(&begin(&srv, &mut b, "fake", json!({})).await).await;
    assert_eq!(srv.count("verification").await, 1);
    let stripped = srv
        .db
        .execute("update \"verification\" set \"value\" = replace(\"value\", ',\"portcullisProvider\":\"fake\"', '')", &[])
        .await
        .unwrap();
    assert_eq!(stripped, 1);
    assert!(!srv.scalar("select \"value\" from \"verification\"").await.unwrap().contains("portcullisProvider"));
    let r = b.get(&back).await;
    assert_eq!(r.location.as_deref(), Some("/welcome"), "a row written by Better Auth names no provider and still works");
    assert!(b.has_session());
    srv
});

fn trusted(c: &mut portcullis::Config) {
    crate::common::social(c).account_linking.trusted_providers = vec!["fake".into()];
    crate::common::social(c).account_linking.require_local_email_verified = false;
}

fn trusted_unverified_ok(c: &mut portcullis::Config) {
    trusted(c);
    crate::common::social(c).account_linking.trust_unverified_email = true;
}

crate::both!(trusted_provider_still_needs_a_verified_email, config = trusted, |srv: Server| async move {
    // Sign-in: implicit linking to the local account with that address is refused.
    let mut local = Browser::new(&srv);
    sign_up(&srv, &mut local, "bob@example.com").await;
    srv.idp.user("bob", Some("bob@example.com"), false);
    let mut b = Browser::new(&srv);
    let r = sign_in(&srv, &mut b, "fake").await;
    assert_eq!(error_of(&r), "account_not_linked");
    assert!(!b.has_session());
    assert_eq!(srv.count("account").await, 1, "only bob's password account");
    // link-social: the unverified e-mail links nothing either.
    let r =
        local.post(&srv.url("/link-social"), json!({"provider": "fake", "callbackURL": "/settings", "errorCallbackURL": "/oops"})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = local.get(&at_idp(r.body["url"].as_str().unwrap()).await).await;
    assert_eq!(error_of(&r), "unable_to_link_account");
    assert_eq!(srv.count("account").await, 1);
    // A verified e-mail from the same provider links as before.
    srv.idp.user("bob", Some("bob@example.com"), true);
    let mut b = Browser::new(&srv);
    let r = sign_in(&srv, &mut b, "fake").await;
    assert_eq!(r.location.as_deref(), Some("/dashboard"));
    assert_eq!(srv.count("account").await, 2);
    srv
});

crate::both!(trust_unverified_email_links_as_better_auth_does, config = trusted_unverified_ok, |srv: Server| async move {
    let mut local = Browser::new(&srv);
    let uid = sign_up(&srv, &mut local, "bob@example.com").await;
    srv.idp.user("bob", Some("bob@example.com"), false);
    let mut b = Browser::new(&srv);
    let r = sign_in(&srv, &mut b, "fake").await;
    assert_eq!(r.location.as_deref(), Some("/dashboard"));
    assert_eq!(b.get(&srv.url("/get-session")).await.body["user"]["id"], uid);
    assert_eq!(srv.count("account").await, 2);
    // An untrusted provider's unverified e-mail still links nothing.
    srv.idp.user("octo", Some("bob@example.com"), false);
    let mut g = Browser::new(&srv);
    let r = sign_in(&srv, &mut g, "github").await;
    assert_eq!(error_of(&r), "account_not_linked");
    assert_eq!(srv.count("account").await, 2);
    srv
});
