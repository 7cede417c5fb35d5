//! Social sign-in end to end over HTTP, against a local fake identity provider, on SQLite and
//! PostgreSQL (`PORTCULLIS_TEST_PG`, default postgres://postgres@127.0.0.1:5432/postgres).

mod admin;
mod audit;
#[path = "../common/mod.rs"]
mod common;
mod hardening;
mod harness;
mod id_token;
mod idp;
mod logout;
mod plugin;
mod provider_roles;
mod two_factor;
mod x_facebook;

use harness::{at_idp, query_param, Browser, Res, Server};
use serde_json::{json, Value};

/// Starts a flow for `provider` and returns the authorization URL.
async fn begin(srv: &Server, b: &mut Browser, provider: &str, extra: Value) -> String {
    let mut body =
        json!({"provider": provider, "callbackURL": "/dashboard", "newUserCallbackURL": "/welcome", "errorCallbackURL": "/oops"});
    if let Value::Object(m) = extra {
        for (k, v) in m {
            body[k] = v;
        }
    }
    let r = b.post(&srv.url("/sign-in/social"), body).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["redirect"], true);
    assert_eq!(r.location.as_deref(), r.body["url"].as_str());
    r.body["url"].as_str().unwrap().to_string()
}

/// A whole sign-in: start, IdP, callback. Returns the callback response.
async fn sign_in(srv: &Server, b: &mut Browser, provider: &str) -> Res {
    let url = begin(srv, b, provider, json!({})).await;
    let back = at_idp(&url).await;
    b.get(&back).await
}

async fn nothing_created(srv: &Server, b: &Browser) {
    assert!(!b.has_session(), "no session cookie");
    assert_eq!(srv.count("user").await, 0, "no user");
    assert_eq!(srv.count("account").await, 0, "no account");
    assert_eq!(srv.count("session").await, 0, "no session");
}

fn error_of(r: &Res) -> String {
    assert_eq!(r.status, 302);
    query_param(r.location.as_deref().unwrap(), "error").unwrap_or_default()
}

both!(first_sign_in_creates_then_reuses, |srv: Server| async move {
    srv.idp.user("alice", Some("Alice@Example.com"), true);
    let mut b = Browser::new(&srv);
    let url = begin(&srv, &mut b, "fake", json!({})).await;
    assert!(url.contains("code_challenge_method=S256") && url.contains("nonce="), "{url}");
    assert!(b.jar.contains_key("better-auth.state"));
    let r = b.get(&at_idp(&url).await).await;
    assert_eq!(r.location.as_deref(), Some("/welcome"));
    assert!(b.has_session());
    assert!(!b.jar.contains_key("better-auth.state"), "state cookie cleared");
    assert_eq!((srv.count("user").await, srv.count("account").await, srv.count("session").await), (1, 1, 1));
    let s = b.get(&srv.url("/get-session")).await;
    assert_eq!(s.body["user"]["email"], "alice@example.com");
    assert_eq!(s.body["user"]["emailVerified"], true);
    let list = b.get(&srv.url("/list-accounts")).await;
    assert_eq!(list.body[0]["providerId"], "fake");
    assert_eq!(list.body[0]["accountId"], "alice");
    assert_eq!(list.body[0]["scopes"], json!(["openid", "email", "profile"]));

    let mut b2 = Browser::new(&srv);
    let r2 = sign_in(&srv, &mut b2, "fake").await;
    assert_eq!(r2.location.as_deref(), Some("/dashboard"), "not a new user");
    assert_eq!((srv.count("user").await, srv.count("account").await, srv.count("session").await), (1, 1, 2));
    srv
});

both!(github_private_email_and_discord, |srv: Server| async move {
    srv.idp.user("octo", Some("octo@example.com"), true);
    let mut b = Browser::new(&srv);
    let r = sign_in(&srv, &mut b, "github").await;
    assert_eq!(r.location.as_deref(), Some("/welcome"), "{:?}", r.location);
    let s = b.get(&srv.url("/get-session")).await;
    assert_eq!(s.body["user"]["email"], "octo@example.com");
    assert_eq!(s.body["user"]["name"], "octo", "name falls back to login");
    assert_eq!(s.body["user"]["emailVerified"], true);
    assert_eq!(srv.scalar("select \"accountId\" from \"account\"").await.as_deref(), Some("4242"));

    // Discord with only `identify`: no e-mail → email_not_found by default.
    srv.idp.user("gamer", None, false);
    let mut d = Browser::new(&srv);
    let r = sign_in(&srv, &mut d, "discord").await;
    assert_eq!(error_of(&r), "email_not_found");
    assert!(r.location.unwrap().starts_with("/oops?"));
    assert!(!d.has_session());
    assert_eq!(srv.count("user").await, 1);
    srv
});

both!(
    discord_without_email_placeholder,
    config = |c: &mut portcullis::Config| crate::common::social(c).allow_missing_email = true,
    |srv: Server| async move {
        srv.idp.user("gamer", None, false);
        let mut d = Browser::new(&srv);
        let url = begin(&srv, &mut d, "discord", json!({})).await;
        assert!(!url.contains("code_challenge"), "Discord gets no PKCE");
        assert!(url.contains("prompt=none"));
        let r = d.get(&at_idp(&url).await).await;
        assert_eq!(r.location.as_deref(), Some("/welcome"));
        let s = d.get(&srv.url("/get-session")).await;
        assert_eq!(s.body["user"]["email"], "80351110224678912@discord.portcullis.invalid");
        assert_eq!(s.body["user"]["emailVerified"], false);
        srv
    }
);

both!(state_failures_create_nothing, |srv: Server| async move {
    srv.idp.user("eve", Some("eve@example.com"), true);
    // Tampered state: default error page.
    let mut b = Browser::new(&srv);
    let back = at_idp(&begin(&srv, &mut b, "fake", json!({})).await).await;
    let state = query_param(&back, "state").unwrap();
    let forged = back.replace(&format!("state={state}"), "state=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let r = b.get(&forged).await;
    assert_eq!(error_of(&r), "state_mismatch");
    assert!(r.location.as_deref().unwrap().starts_with(&srv.url("/error")));
    // Without the state cookie (another browser): the flow's error URL, the state survives.
    let mut other = Browser::new(&srv);
    let r = other.get(&back).await;
    assert_eq!(error_of(&r), "state_mismatch");
    assert!(r.location.as_deref().unwrap().starts_with("/oops"));
    nothing_created(&srv, &other).await;
    // No state at all.
    let r = b.get(&srv.url("/callback/fake?code=x")).await;
    assert_eq!(error_of(&r), "state_not_found");
    // The right browser still finishes; a replay then fails.
    let ok = b.get(&back).await;
    assert_eq!(ok.location.as_deref(), Some("/welcome"));
    let mut replay = Browser::new(&srv);
    replay.jar.insert("better-auth.state".into(), b.jar.get("better-auth.state").cloned().unwrap_or_default());
    let r = replay.get(&back).await;
    assert_eq!(error_of(&r), "state_mismatch");
    assert_eq!(srv.count("session").await, 1);
    srv
});

both!(expired_state_and_missing_verifier, |srv: Server| async move {
    srv.idp.user("eve", Some("eve@example.com"), true);
    let mut b = Browser::new(&srv);
    let back = at_idp(&begin(&srv, &mut b, "fake", json!({})).await).await;
    srv.db
        .execute("update \"verification\" set \"value\" = replace(\"value\", '\"expiresAt\":', '\"expiresAt\":1,\"x\":')", &[])
        .await
        .unwrap();
    let r = b.get(&back).await;
    assert_eq!(error_of(&r), "state_mismatch");
    nothing_created(&srv, &b).await;

    // The stored verifier is lost: the IdP refuses the code (PKCE), nothing is created.
    let mut b = Browser::new(&srv);
    let back = at_idp(&begin(&srv, &mut b, "fake", json!({})).await).await;
    srv.db
        .execute(
            "update \"verification\" set \"value\" = replace(\"value\", '\"codeVerifier\":\"', '\"codeVerifier\":\"\",\"old\":\"')",
            &[],
        )
        .await
        .unwrap();
    let r = b.get(&back).await;
    assert_eq!(error_of(&r), "invalid_code");
    nothing_created(&srv, &b).await;
    srv
});

both!(provider_and_token_failures, |srv: Server| async move {
    srv.idp.user("eve", Some("eve@example.com"), true);
    for (fault, code) in [
        ("access_denied", "access_denied"),
        ("server_error", "invalid_code"),
        ("bad_signature", "unable_to_get_user_info"),
        ("wrong_aud", "unable_to_get_user_info"),
        ("wrong_nonce", "unable_to_get_user_info"),
    ] {
        srv.idp.fault(fault);
        let mut b = Browser::new(&srv);
        let r = sign_in(&srv, &mut b, "fake").await;
        assert_eq!(error_of(&r), code, "fault {fault}");
        assert!(r.location.as_deref().unwrap().starts_with("/oops?"), "{:?}", r.location);
        nothing_created(&srv, &b).await;
    }
    srv
});

both!(open_redirects_refused, |srv: Server| async move {
    let mut b = Browser::new(&srv);
    for (field, code) in [
        ("callbackURL", "INVALID_CALLBACK_URL"),
        ("errorCallbackURL", "INVALID_ERROR_CALLBACK_URL"),
        ("newUserCallbackURL", "INVALID_NEW_USER_CALLBACK_URL"),
    ] {
        for bad in ["https://evil.example", "//evil.example", "/\\evil.example"] {
            let r = b.post(&srv.url("/sign-in/social"), json!({"provider": "fake", field: bad})).await;
            assert_eq!(r.status, 403, "{field}={bad}");
            assert_eq!(r.body["code"], code);
            assert!(r.set_cookies.is_empty());
        }
    }
    let r = b.get(&srv.url("/sign-in/social/fake?callbackURL=https://evil.example")).await;
    assert_eq!(r.status, 403);
    let r = b.post(&srv.url("/sign-in/social"), json!({"provider": "nope"})).await;
    assert_eq!((r.status, r.body["code"].as_str()), (404, Some("PROVIDER_NOT_FOUND")));
    // The GET variant answers 302 to the IdP.
    let r = b.get(&srv.url("/sign-in/social/fake?callbackURL=/dashboard")).await;
    assert_eq!(r.status, 302);
    assert!(r.location.unwrap().starts_with(&srv.idp.url));
    assert_eq!(srv.count("verification").await, 1);
    srv
});

async fn sign_up(srv: &Server, b: &mut Browser, email: &str) -> String {
    let r = b.post(&srv.url("/sign-up/email"), json!({"name": "Local", "email": email, "password": "correct-horse-battery"})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["user"]["id"].as_str().unwrap().to_string()
}

both!(untrusted_linking_refused, |srv: Server| async move {
    let mut local = Browser::new(&srv);
    sign_up(&srv, &mut local, "bob@example.com").await;
    srv.idp.user("bob", Some("bob@example.com"), true);
    let mut b = Browser::new(&srv);
    let r = sign_in(&srv, &mut b, "fake").await;
    assert_eq!(error_of(&r), "account_not_linked", "local e-mail unverified");
    assert_eq!(srv.count("account").await, 1);
    assert!(!b.has_session());
    srv
});

both!(
    trusted_linking_allowed,
    config = |c: &mut portcullis::Config| {
        crate::common::social(c).account_linking.trusted_providers = vec!["fake".into()];
        crate::common::social(c).account_linking.trust_unverified_email = true;
        crate::common::social(c).account_linking.require_local_email_verified = false;
    },
    |srv: Server| async move {
        let mut local = Browser::new(&srv);
        let uid = sign_up(&srv, &mut local, "bob@example.com").await;
        srv.idp.user("bob", Some("bob@example.com"), false);
        let mut b = Browser::new(&srv);
        let r = sign_in(&srv, &mut b, "fake").await;
        assert_eq!(r.location.as_deref(), Some("/dashboard"));
        let s = b.get(&srv.url("/get-session")).await;
        assert_eq!(s.body["user"]["id"], uid);
        assert_eq!(srv.count("account").await, 2);
        srv
    }
);

both!(link_and_unlink, |srv: Server| async move {
    let mut b = Browser::new(&srv);
    sign_up(&srv, &mut b, "carol@example.com").await;
    srv.idp.user("carol", Some("carol@example.com"), true);
    let r = b.post(&srv.url("/link-social"), json!({"provider": "fake", "callbackURL": "/settings"})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let back = at_idp(r.body["url"].as_str().unwrap()).await;
    let sessions_before = srv.count("session").await;
    let r = b.get(&back).await;
    assert_eq!(r.location.as_deref(), Some("/settings"));
    assert_eq!(srv.count("session").await, sessions_before, "linking creates no session");
    let list = b.get(&srv.url("/list-accounts")).await;
    let accounts = list.body.as_array().unwrap().clone();
    assert_eq!(accounts.len(), 2);
    let oauth = accounts.iter().find(|a| a["providerId"] == "fake").unwrap()["id"].as_str().unwrap().to_string();
    let cred = accounts.iter().find(|a| a["providerId"] == "credential").unwrap()["id"].as_str().unwrap().to_string();

    // Another user cannot link the same provider account.
    let mut other = Browser::new(&srv);
    sign_up(&srv, &mut other, "carol2@example.com").await;
    srv.idp.user("carol", Some("carol2@example.com"), true);
    let r =
        other.post(&srv.url("/link-social"), json!({"provider": "fake", "callbackURL": "/settings", "errorCallbackURL": "/oops"})).await;
    let r = other.get(&at_idp(r.body["url"].as_str().unwrap()).await).await;
    assert_eq!(error_of(&r), "account_already_linked_to_different_user");

    let r = b.post(&srv.url("/unlink-account"), json!({"accountId": "nope"})).await;
    assert_eq!(r.body["code"], "ACCOUNT_NOT_FOUND");
    let r = b.post(&srv.url("/unlink-account"), json!({"accountId": oauth})).await;
    assert_eq!(r.body, json!({"status": true}));
    let r = b.post(&srv.url("/unlink-account"), json!({"accountId": cred})).await;
    assert_eq!((r.status, r.body["code"].as_str()), (400, Some("FAILED_TO_UNLINK_LAST_ACCOUNT")));
    let r = b.post(&srv.url("/link-social"), json!({"provider": "fake"})).await;
    assert_eq!(r.status, 200);
    let mut anon = Browser::new(&srv);
    let r = anon.post(&srv.url("/link-social"), json!({"provider": "fake"})).await;
    assert_eq!(r.status, 401);
    srv
});

both!(
    tokens_refresh_and_encryption,
    config = |c: &mut portcullis::Config| crate::common::social(c).encrypt_oauth_tokens = true,
    |srv: Server| async move {
        srv.idp.user("dan", Some("dan@example.com"), true);
        let mut b = Browser::new(&srv);
        sign_in(&srv, &mut b, "fake").await;
        let id = b.get(&srv.url("/list-accounts")).await.body[0]["id"].as_str().unwrap().to_string();
        let stored = srv.scalar("select \"accessToken\" from \"account\"").await.unwrap();
        assert!(!stored.starts_with("at-"), "encrypted at rest");
        let at = b.post(&srv.url("/get-access-token"), json!({"accountId": id})).await;
        assert!(at.body["accessToken"].as_str().unwrap().starts_with("at-"), "{:?}", at.body);
        assert!(at.body["idToken"].is_string());

        let r = b.post(&srv.url("/refresh-token"), json!({"accountId": id})).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_ne!(r.body["accessToken"], at.body["accessToken"]);
        assert_eq!(r.body["accountId"], id.as_str());
        assert_eq!(r.body["scope"], "openid,email,profile");
        let at2 = b.post(&srv.url("/get-access-token"), json!({"accountId": id})).await;
        assert_eq!(at2.body["accessToken"], r.body["accessToken"], "new tokens stored");

        // Refused refresh; then an expiring token refreshes itself.
        srv.idp.fault("refresh_refused");
        let r = b.post(&srv.url("/refresh-token"), json!({"accountId": id})).await;
        assert_eq!(r.body["code"], "FAILED_TO_REFRESH_ACCESS_TOKEN");
        let past = portcullis::store::model::iso_ms::format(&(chrono::Utc::now() - chrono::Duration::seconds(10)));
        match srv.db.dialect() {
            portcullis::store::driver::Dialect::Postgres => {
                srv.db.execute(&format!("update \"account\" set \"accessTokenExpiresAt\" = '{past}'::timestamptz"), &[]).await.unwrap()
            }
            portcullis::store::driver::Dialect::Sqlite => {
                srv.db.execute(&format!("update \"account\" set \"accessTokenExpiresAt\" = '{past}'"), &[]).await.unwrap()
            }
        };
        let at3 = b.post(&srv.url("/get-access-token"), json!({"accountId": id})).await;
        assert_eq!(at3.status, 200);
        assert_ne!(at3.body["accessToken"], at2.body["accessToken"], "refreshed automatically");

        let info = b.get(&srv.url(&format!("/account-info?accountId={id}"))).await;
        assert_eq!(info.body["user"]["email"], "dan@example.com");
        assert_eq!(info.body["account"]["accountId"], "dan");
        let r = b.post(&srv.url("/get-access-token"), json!({"providerId": "fake"})).await;
        assert_eq!(r.status, 400);
        let mut anon = Browser::new(&srv);
        let r = anon.post(&srv.url("/get-access-token"), json!({"accountId": id})).await;
        assert_eq!(r.status, 401);
        srv
    }
);

both!(
    better_auth_encrypted_token_decrypts,
    config = |c: &mut portcullis::Config| {
        c.secret = Some(portcullis::config::DEV_SECRET.into());
        crate::common::social(c).encrypt_oauth_tokens = true;
    },
    |srv: Server| async move {
        let mut b = Browser::new(&srv);
        let uid = sign_up(&srv, &mut b, "vec@example.com").await;
        // §15.5: "ya29.access-token" encrypted by Better Auth under its default secret.
        let ct = "f8abc305c43ca98725828afb6f1f7abd2e6033dde25750012db1277c5bbc4b66963beccdfdcb44574c2a5c835e4f953ccc55c0f57f33cd0ef0";
        let now = chrono::Utc::now();
        let a = portcullis::store::model::Account {
            id: "acct_vector".into(),
            account_id: "vec".into(),
            provider_id: "fake".into(),
            user_id: uid,
            access_token: Some(ct.into()),
            refresh_token: None,
            id_token: None,
            access_token_expires_at: None,
            refresh_token_expires_at: None,
            scope: Some("openid".into()),
            password: None,
            created_at: now,
            updated_at: now,
        };
        srv.auth.store.create_account(&a).await.unwrap();
        let r = b.post(&srv.url("/get-access-token"), json!({"accountId": "acct_vector"})).await;
        assert_eq!(r.body["accessToken"], "ya29.access-token", "{:?}", r.body);
        srv
    }
);

both!(
    form_post_bounce_and_native_handoff,
    config = |c: &mut portcullis::Config| crate::common::social(c).deep_link_schemes = vec!["myapp".into()],
    |srv: Server| async move {
        // form_post callbacks are bounced to a GET (query wins over the body).
        let res = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .post(srv.url("/callback/fake?state=q"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("code=c1&state=b&user=%7B%22name%22%3A1%7D")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 302);
        let loc = res.headers().get("location").unwrap().to_str().unwrap().to_string();
        assert!(loc.starts_with(&srv.url("/callback/fake?")), "{loc}");
        assert_eq!(query_param(&loc, "code").as_deref(), Some("c1"));
        assert_eq!(query_param(&loc, "state").as_deref(), Some("q"));

        // Native hand-off only to configured schemes.
        let mut b = Browser::new(&srv);
        let r = b.get(&srv.url("/auto-redirect/fake?client=tauri&callbackURL=evil://x")).await;
        assert_eq!(r.status, 403);
        let r = b.get(&srv.url("/auto-redirect/fake?client=desktop&callbackURL=myapp://cb")).await;
        assert_eq!(r.status, 400);
        srv.idp.user("nat", Some("nat@example.com"), true);
        let r = b.get(&srv.url("/auto-redirect/fake?client=tauri&callbackURL=myapp://auth-callback/fake")).await;
        assert_eq!(r.status, 302);
        let done = b.get(&at_idp(r.location.as_deref().unwrap()).await).await;
        let to = done.location.unwrap();
        assert!(to.starts_with("myapp://auth-callback/fake?token="), "{to}");
        let token = query_param(&to, "token").unwrap();
        let s = reqwest::Client::new()
            .get(srv.url("/get-session"))
            .header("cookie", format!("better-auth.session_token={}", urlencode(&token)))
            .send()
            .await
            .unwrap();
        let s: Value = s.json().await.unwrap();
        assert_eq!(s["user"]["email"], "nat@example.com");
        srv
    }
);

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
