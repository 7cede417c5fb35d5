//! The `idToken` variants of `/sign-in/social` and `/link-social` (spec §2.3, §2.4): a client
//! submits an ID token minted by the fake IdP's key (or a forged one) and gets Better Auth's answers.

use crate::harness::{Browser, Server};
use crate::idp::CLIENT_ID;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{json, Value};

/// What to put in a minted token; `None` leaves the claim out.
pub(crate) struct Mint<'a> {
    sub: &'a str,
    email: Option<&'a str>,
    verified: bool,
    nonce: Option<&'a str>,
    aud: &'a str,
    iss: Option<&'a str>,
    /// Seconds relative to now.
    iat: i64,
    exp: i64,
    forged: bool,
}

impl<'a> Mint<'a> {
    pub(crate) fn new(sub: &'a str, email: Option<&'a str>) -> Self {
        Mint { sub, email, verified: true, nonce: None, aud: CLIENT_ID, iss: None, iat: 0, exp: 3600, forged: false }
    }
    pub(crate) fn sign(&self, srv: &Server) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut c = json!({
            "iss": self.iss.unwrap_or(&srv.idp.url), "sub": self.sub, "aud": self.aud,
            "iat": now + self.iat, "exp": now + self.exp, "name": format!("User {}", self.sub),
        });
        if let Some(e) = self.email {
            c["email"] = json!(e);
            c["email_verified"] = json!(self.verified);
        }
        if let Some(n) = self.nonce {
            c["nonce"] = json!(n);
        }
        let pem: &[u8] = if self.forged { include_bytes!("other-key.pem") } else { include_bytes!("idp-key.pem") };
        let mut h = Header::new(jsonwebtoken::Algorithm::RS256);
        h.kid = Some("test-key-1".into());
        jsonwebtoken::encode(&h, &c, &EncodingKey::from_rsa_pem(pem).unwrap()).unwrap()
    }
}

async fn sign_in(srv: &Server, b: &mut Browser, provider: &str, id_token: Value) -> crate::harness::Res {
    b.post(&srv.url("/sign-in/social"), json!({"provider": provider, "callbackURL": "/dashboard", "idToken": id_token})).await
}

fn code(r: &crate::harness::Res) -> (u16, String) {
    (r.status, r.body["code"].as_str().unwrap_or_default().to_string())
}

async fn counts(srv: &Server) -> (i64, i64, i64) {
    (srv.count("user").await, srv.count("account").await, srv.count("session").await)
}

crate::both!(id_token_sign_in, |srv: Server| async move {
    let mut b = Browser::new(&srv);
    // Refusals, none of which creates anything.
    let good = Mint::new("zoe", Some("Zoe@Example.com"));
    let r = sign_in(&srv, &mut b, "github", json!({"token": good.sign(&srv)})).await;
    assert_eq!(code(&r), (404, "ID_TOKEN_NOT_SUPPORTED".into()));
    assert_eq!(r.body["message"], "id_token not supported");
    let r = sign_in(&srv, &mut b, "fake", json!({"nonce": "x"})).await;
    assert_eq!(code(&r), (400, "VALIDATION_ERROR".into()));
    let r = sign_in(&srv, &mut b, "nope", json!({"token": good.sign(&srv)})).await;
    assert_eq!(code(&r), (404, "PROVIDER_NOT_FOUND".into()));
    let bad: Vec<(&str, String, Option<&str>)> = vec![
        ("forged signature", Mint { forged: true, ..Mint::new("zoe", Some("zoe@example.com")) }.sign(&srv), None),
        ("wrong audience", Mint { aud: "someone-else", ..Mint::new("zoe", Some("zoe@example.com")) }.sign(&srv), None),
        ("wrong issuer", Mint { iss: Some("https://evil.example"), ..Mint::new("zoe", Some("zoe@example.com")) }.sign(&srv), None),
        ("expired", Mint { iat: -7200, exp: -3600, ..Mint::new("zoe", Some("zoe@example.com")) }.sign(&srv), None),
        ("older than an hour", Mint { iat: -7200, ..Mint::new("zoe", Some("zoe@example.com")) }.sign(&srv), None),
        ("wrong nonce", Mint { nonce: Some("n-1"), ..Mint::new("zoe", Some("zoe@example.com")) }.sign(&srv), Some("n-2")),
        ("nonce expected, none in token", good.sign(&srv), Some("n-2")),
        ("not a JWT", "garbage".to_string(), None),
    ];
    for (why, token, nonce) in bad {
        let mut body = json!({"token": token});
        if let Some(n) = nonce {
            body["nonce"] = json!(n);
        }
        let r = sign_in(&srv, &mut b, "fake", body).await;
        assert_eq!(code(&r), (401, "INVALID_TOKEN".into()), "{why}");
        assert_eq!(r.body["message"], "Invalid token");
        assert!(r.set_cookies.is_empty(), "{why}");
    }
    let r = sign_in(&srv, &mut b, "fake", json!({"token": Mint::new("mute", None).sign(&srv)})).await;
    assert_eq!(code(&r), (401, "USER_EMAIL_NOT_FOUND".into()));
    assert_eq!(counts(&srv).await, (0, 0, 0));

    // A valid token (with its nonce) signs in and creates user + account + session.
    let token = Mint { nonce: Some("n-1"), ..Mint::new("zoe", Some("Zoe@Example.com")) }.sign(&srv);
    let r = sign_in(&srv, &mut b, "fake", json!({"token": token, "nonce": "n-1", "accessToken": "at-native"})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let keys: Vec<&str> = r.body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["redirect", "token", "user"]);
    assert_eq!(r.body["redirect"], false);
    assert_eq!(r.body["user"]["email"], "zoe@example.com");
    assert_eq!(r.body["user"]["emailVerified"], true);
    assert_eq!(r.body["token"].as_str().unwrap().len(), 32);
    assert!(b.has_session());
    let s = b.get(&srv.url("/get-session")).await;
    assert_eq!(s.body["user"]["email"], "zoe@example.com");
    assert_eq!(counts(&srv).await, (1, 1, 1));
    assert_eq!(srv.scalar("select \"idToken\" from \"account\"").await.as_deref(), Some(token.as_str()));
    assert_eq!(srv.scalar("select \"accessToken\" from \"account\"").await.as_deref(), Some("at-native"));
    let list = b.get(&srv.url("/list-accounts")).await;
    assert_eq!(list.body[0]["accountId"], "zoe");

    // Again (no nonce this time): the same user, a second session.
    let mut b2 = Browser::new(&srv);
    let r = sign_in(&srv, &mut b2, "fake", json!({"token": Mint::new("zoe", Some("zoe@example.com")).sign(&srv)})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["user"]["id"], s.body["user"]["id"]);
    assert_eq!(counts(&srv).await, (1, 1, 2));

    // An existing local user with an unverified e-mail is not linked implicitly.
    let mut local = Browser::new(&srv);
    let up = local
        .post(&srv.url("/sign-up/email"), json!({"name": "Yan", "email": "yan@example.com", "password": "correct-horse-battery"}))
        .await;
    assert_eq!(up.status, 200);
    let mut b3 = Browser::new(&srv);
    let r = sign_in(&srv, &mut b3, "fake", json!({"token": Mint::new("yan", Some("yan@example.com")).sign(&srv)})).await;
    assert_eq!(code(&r), (401, "OAUTH_LINK_ERROR".into()));
    assert_eq!(r.body["message"], "account not linked");
    assert!(!b3.has_session());
    srv
});

async fn link(srv: &Server, b: &mut Browser, id_token: Value) -> crate::harness::Res {
    b.post(&srv.url("/link-social"), json!({"provider": "fake", "callbackURL": "/settings", "idToken": id_token})).await
}

async fn sign_up(srv: &Server, b: &mut Browser, email: &str) {
    let r = b.post(&srv.url("/sign-up/email"), json!({"name": "Local", "email": email, "password": "correct-horse-battery"})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

crate::both!(id_token_link, |srv: Server| async move {
    let mut b = Browser::new(&srv);
    sign_up(&srv, &mut b, "carol@example.com").await;
    let sessions = srv.count("session").await;

    let r = link(&srv, &mut b, json!({"token": Mint { forged: true, ..Mint::new("carol", Some("carol@example.com")) }.sign(&srv)})).await;
    assert_eq!(code(&r), (401, "INVALID_TOKEN".into()));
    let r =
        link(&srv, &mut b, json!({"token": Mint { verified: false, ..Mint::new("carol", Some("carol@example.com")) }.sign(&srv)})).await;
    assert_eq!(code(&r), (401, "LINKING_NOT_ALLOWED".into()));
    assert_eq!(r.body["message"], "Account not linked - linking not allowed");
    let r = link(&srv, &mut b, json!({"token": Mint::new("carol", Some("carol@elsewhere.example")).sign(&srv)})).await;
    assert_eq!(code(&r), (401, "LINKING_DIFFERENT_EMAILS_NOT_ALLOWED".into()));
    let r = link(&srv, &mut b, json!({"token": Mint::new("carol", None).sign(&srv)})).await;
    assert_eq!(code(&r), (401, "USER_EMAIL_NOT_FOUND".into()));
    assert_eq!(srv.count("account").await, 1);

    let r = link(&srv, &mut b, json!({"token": Mint::new("carol", Some("Carol@example.com")).sign(&srv), "refreshToken": "rt-1"})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body, json!({"url": "", "status": true, "redirect": false}));
    assert_eq!(srv.count("account").await, 2);
    assert_eq!(srv.count("session").await, sessions, "linking creates no session");
    assert_eq!(srv.scalar("select \"refreshToken\" from \"account\" where \"providerId\" = 'fake'").await.as_deref(), Some("rt-1"));

    // Linking again updates the tokens of the same row.
    let again = Mint { iat: -5, ..Mint::new("carol", Some("carol@example.com")) }.sign(&srv);
    let r = link(&srv, &mut b, json!({"token": again, "accessToken": "at-2"})).await;
    assert_eq!(r.body, json!({"url": "", "status": true, "redirect": false}));
    assert_eq!(srv.count("account").await, 2);
    assert_eq!(srv.scalar("select \"idToken\" from \"account\" where \"providerId\" = 'fake'").await.as_deref(), Some(again.as_str()));
    assert_eq!(srv.scalar("select \"accessToken\" from \"account\" where \"providerId\" = 'fake'").await.as_deref(), Some("at-2"));

    // The same provider account cannot be linked to another user.
    let mut other = Browser::new(&srv);
    sign_up(&srv, &mut other, "dave@example.com").await;
    let r = link(&srv, &mut other, json!({"token": Mint::new("carol", Some("dave@example.com")).sign(&srv)})).await;
    assert_eq!(code(&r), (409, "SOCIAL_ACCOUNT_ALREADY_LINKED".into()));

    // No session: 401; a provider without id-token support: 404.
    let mut anon = Browser::new(&srv);
    let r = link(&srv, &mut anon, json!({"token": Mint::new("x", Some("x@example.com")).sign(&srv)})).await;
    assert_eq!(r.status, 401);
    let r =
        b.post(&srv.url("/link-social"), json!({"provider": "discord", "idToken": {"token": Mint::new("carol", None).sign(&srv)}})).await;
    assert_eq!(code(&r), (404, "ID_TOKEN_NOT_SUPPORTED".into()));
    srv
});

// Issue 12 item 13: a trusted provider's unverified e-mail links nothing by default, here too.
crate::both!(
    id_token_trusted_provider_needs_a_verified_email,
    config = |c: &mut portcullis::Config| {
        crate::common::social(c).account_linking.trusted_providers = vec!["fake".into()];
        crate::common::social(c).account_linking.require_local_email_verified = false;
    },
    |srv: Server| async move {
        let mut local = Browser::new(&srv);
        sign_up(&srv, &mut local, "erin@example.com").await;
        let unverified = || Mint { verified: false, ..Mint::new("erin", Some("erin@example.com")) };
        let mut b = Browser::new(&srv);
        let r = sign_in(&srv, &mut b, "fake", json!({"token": unverified().sign(&srv)})).await;
        assert_eq!(code(&r), (401, "OAUTH_LINK_ERROR".into()));
        assert_eq!(r.body["message"], "account not linked");
        assert!(!b.has_session());
        let r = link(&srv, &mut local, json!({"token": unverified().sign(&srv)})).await;
        assert_eq!(code(&r), (401, "LINKING_NOT_ALLOWED".into()));
        assert_eq!(srv.count("account").await, 1);
        srv
    }
);

crate::both!(
    id_token_trust_unverified_email_links,
    config = |c: &mut portcullis::Config| {
        crate::common::social(c).account_linking.trusted_providers = vec!["fake".into()];
        crate::common::social(c).account_linking.trust_unverified_email = true;
        crate::common::social(c).account_linking.require_local_email_verified = false;
    },
    |srv: Server| async move {
        let mut local = Browser::new(&srv);
        sign_up(&srv, &mut local, "erin@example.com").await;
        let r =
            link(&srv, &mut local, json!({"token": Mint { verified: false, ..Mint::new("erin", Some("erin@example.com")) }.sign(&srv)}))
                .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(srv.count("account").await, 2);
        srv
    }
);
