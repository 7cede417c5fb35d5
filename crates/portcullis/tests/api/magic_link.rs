//! Magic links (Better Auth 1.7.24's `magicLink()`, spec plugins §7): the link from the outbox,
//! single use, expiry, callback URLs, sign-up on first use, and tokens stored as Better Auth does.

use crate::harness::*;
use chrono::{Duration, Utc};
use portcullis::plugins::magic_link::config::{MagicLinkConfig, StoreToken};
use portcullis::Config;
use serde_json::{json, Value};

fn on(c: &mut Config) -> &mut MagicLinkConfig {
    let m = c.section_mut::<MagicLinkConfig>().expect("[magic_link] parses");
    m.enabled = true;
    m
}

/// Asks for a link for `email` and returns the e-mail (its `url` and `token`).
async fn link(srv: &TestServer, email: &str, body: Value) -> Value {
    let mut body = body;
    body["email"] = json!(email);
    let r = srv.client().post_json("/sign-in/magic-link", body).await;
    r.expect_status(200);
    assert_eq!(r.json(), &json!({"status": true}));
    srv.mail_of_kind(email, "magic-link").await
}

/// The path and query of a link (to follow it with the test client).
fn path_of(srv: &TestServer, url: &str) -> String {
    url.strip_prefix(&srv.auth_url()).expect("link under the base URL").to_string()
}

async fn user_count(srv: &TestServer, email: &str) -> i64 {
    srv.count(&format!(r#"select count(*) from "user" where "email" = '{email}'"#)).await
}

both!(
    link_signs_up_then_signs_in,
    config = |c| {
        on(c);
    },
    |srv| async move {
        let email = "newcomer@example.com";
        let body = json!({"name": "Magic Newcomer", "callbackURL": "/dashboard", "newUserCallbackURL": "/welcome"});
        let mail = link(&srv, email, body.clone()).await;
        let token = mail["token"].as_str().unwrap().to_string();
        assert_eq!(token.len(), 32);
        assert!(token.bytes().all(|b| b.is_ascii_alphabetic()), "letters only: {token}");
        assert_eq!(
            mail["url"],
            format!("{}/magic-link/verify?token={token}&callbackURL=%2Fdashboard&newUserCallbackURL=%2Fwelcome", srv.auth_url())
        );
        // The row Better Auth 1.7.24 writes.
        let value = srv.sql_scalar(&format!(r#"select "value" from "verification" where "identifier" = 'magic-link:{token}'"#)).await;
        assert_eq!(value.as_deref(), Some(r#"{"type":"magic-link","email":"newcomer@example.com","name":"Magic Newcomer"}"#));
        assert_eq!(user_count(&srv, email).await, 0, "asking for a link creates nobody");

        // Followed from a mail client: a GET without Origin.
        let browser = srv.client_with_origin(None);
        let r = browser.get(&path_of(&srv, mail["url"].as_str().unwrap())).await;
        r.expect_status(302);
        assert_eq!(r.header("location"), Some(format!("{}/welcome", srv.origin()).as_str()), "new users go to newUserCallbackURL");
        let me = browser.session_from_db().await;
        assert_eq!(me["user"]["email"], email);
        assert_eq!(me["user"]["name"], "Magic Newcomer");
        assert_eq!(me["user"]["emailVerified"], true);

        // The next link signs the same user in and goes to callbackURL.
        let mail2 = link(&srv, email, body).await;
        assert_ne!(mail2["token"], mail["token"]);
        let other = srv.client_with_origin(None);
        let r = other.get(&path_of(&srv, mail2["url"].as_str().unwrap())).await;
        assert_eq!(r.header("location"), Some(format!("{}/dashboard", srv.origin()).as_str()));
        assert_eq!(other.session_from_db().await["user"]["id"], me["user"]["id"]);
        assert_eq!(user_count(&srv, email).await, 1);
    }
);

both!(
    link_works_once_and_expires,
    config = |c| {
        on(c);
    },
    |srv| async move {
        let email = "once@example.com";
        let mail = link(&srv, email, json!({"callbackURL": "/home"})).await;
        let path = path_of(&srv, mail["url"].as_str().unwrap());
        srv.client_with_origin(None).get(&path).await.expect_status(302);

        let again = srv.client_with_origin(None);
        let r = again.get(&path).await;
        r.expect_status(302);
        assert_eq!(r.header("location"), Some(format!("{}/home?error=INVALID_TOKEN", srv.origin()).as_str()));
        assert!(r.cookie_value("better-auth.session_token").is_none());
        assert_eq!(again.session_from_db().await, Value::Null);

        // Expired: refused, to errorCallbackURL when given (replacing an `error` already there).
        let mail = link(&srv, email, json!({})).await;
        let token = mail["token"].as_str().unwrap();
        let past = Utc::now() - Duration::seconds(1);
        srv.sql(&format!(r#"update "verification" set "expiresAt" = {} where "identifier" = 'magic-link:{token}'"#, ts(past))).await;
        let r =
            srv.client().get(&format!("/magic-link/verify?token={token}&callbackURL=%2Fhome&errorCallbackURL=%2Foops%3Ferror%3Dx")).await;
        assert_eq!(r.header("location"), Some(format!("{}/oops?error=INVALID_TOKEN", srv.origin()).as_str()));
        assert!(r.cookie_value("better-auth.session_token").is_none());
        // An unknown token, and no callback at all: the root.
        let r = srv.client().get("/magic-link/verify?token=nosuchtoken").await;
        assert_eq!(r.header("location"), Some(format!("{}/?error=INVALID_TOKEN", srv.origin()).as_str()));
    }
);

both!(
    link_without_callback_answers_json,
    config = |c| {
        on(c);
    },
    |srv| async move {
        let u = srv.user("jsonlink").await;
        srv.sql(&format!(r#"update "user" set "emailVerified" = true where "id" = '{}'"#, u.id)).await;
        let mail = link(&srv, &u.email, json!({})).await;
        let c = srv.client_with_origin(None);
        let r = c.get(&format!("/magic-link/verify?token={}", mail["token"].as_str().unwrap())).await;
        r.expect_status(200);
        assert_eq!(key_order(&r.text), ["token", "user", "session"]);
        assert_eq!(r.json()["user"]["id"], u.id.as_str());
        assert_session_shape(&r.json()["session"]);
        assert_eq!(r.json()["session"]["token"], r.json()["token"]);
        assert_eq!(c.session_from_db().await["user"]["id"], u.id.as_str());
        // The password account of a verified user is untouched.
        srv.sign_in(&u.email, &u.password).await;
    }
);

both!(
    callback_urls_must_be_trusted,
    config = |c| {
        on(c);
    },
    |srv| async move {
        let c = srv.client();
        for (field, code, message) in [
            ("callbackURL", "INVALID_CALLBACK_URL", "Invalid callbackURL"),
            ("newUserCallbackURL", "INVALID_NEW_USER_CALLBACK_URL", "Invalid newUserCallbackURL"),
            ("errorCallbackURL", "INVALID_ERROR_CALLBACK_URL", "Invalid errorCallbackURL"),
        ] {
            let r = c.post_json("/sign-in/magic-link", json!({"email": "cb@example.com", field: "https://evil.example/x"})).await;
            r.expect_error(403, code, message);
        }
        assert!(srv.outbox("cb@example.com").await.is_empty(), "nothing sent for a refused request");

        let mail = link(&srv, "cb@example.com", json!({})).await;
        let token = mail["token"].as_str().unwrap();
        for field in ["callbackURL", "newUserCallbackURL", "errorCallbackURL"] {
            let r = c.get(&format!("/magic-link/verify?token={token}&{field}={}", enc("https://evil.example/x"))).await;
            r.expect_error(403, "INVALID_CALLBACK_URL", "Invalid callbackURL");
            let r = c.get(&format!("/magic-link/verify?token={token}&{field}={}", enc("//evil.example"))).await;
            r.expect_error(403, "INVALID_CALLBACK_URL", "Invalid callbackURL");
        }
        // Refusals spent nothing: the link still works.
        let r = c.get(&format!("/magic-link/verify?token={token}&callbackURL=%2Fok")).await;
        r.expect_status(302);
        assert_eq!(r.header("location"), Some(format!("{}/ok", srv.origin()).as_str()));

        c.post_json("/sign-in/magic-link", json!({"email": "not-an-email"})).await.expect_error(
            400,
            "VALIDATION_ERROR",
            "[body.email] Invalid email address",
        );
        c.get("/magic-link/verify").await.expect_error(
            400,
            "VALIDATION_ERROR",
            "[query.token] Invalid input: expected string, received undefined",
        );
    }
);

both!(
    sign_up_disabled,
    config = |c| {
        on(c).disable_sign_up = true;
    },
    |srv| async move {
        // The request is answered and mailed the same for any address: nothing tells it apart.
        let known = srv.user("known").await;
        let unknown = "stranger@example.com";
        let r1 = srv.client().post_json("/sign-in/magic-link", json!({"email": unknown, "callbackURL": "/in"})).await;
        let r2 = srv.client().post_json("/sign-in/magic-link", json!({"email": known.email, "callbackURL": "/in"})).await;
        assert_eq!((r1.status, r1.text.as_str()), (r2.status, r2.text.as_str()));
        let mail = srv.mail_of_kind(unknown, "magic-link").await;
        let r = srv.client().get(&path_of(&srv, mail["url"].as_str().unwrap())).await;
        assert_eq!(r.header("location"), Some(format!("{}/in?error=new_user_signup_disabled", srv.origin()).as_str()));
        assert_eq!(user_count(&srv, unknown).await, 0);

        let mail = srv.mail_of_kind(&known.email, "magic-link").await;
        let r = srv.client().get(&path_of(&srv, mail["url"].as_str().unwrap())).await;
        assert_eq!(r.header("location"), Some(format!("{}/in", srv.origin()).as_str()));
        assert!(r.cookie_value("better-auth.session_token").is_some());
    }
);

both!(
    hashed_tokens,
    config = |c| {
        on(c).store_token = StoreToken::Hashed;
    },
    |srv| async move {
        let mail = link(&srv, "hashed@example.com", json!({})).await;
        let token = mail["token"].as_str().unwrap();
        assert_eq!(srv.count(&format!(r#"select count(*) from "verification" where "identifier" = 'magic-link:{token}'"#)).await, 0);
        let hashed = b64url_sha256(token);
        assert_eq!(srv.count(&format!(r#"select count(*) from "verification" where "identifier" = 'magic-link:{hashed}'"#)).await, 1);
        let r = srv.client().get(&format!("/magic-link/verify?token={token}")).await;
        r.expect_status(200);
        assert_eq!(r.json()["user"]["email"], "hashed@example.com");
        // A link Better Auth stored (hashed, no name) verifies too.
        let ba_token = "BetterAuthWroteThisTokenAbcdefgh";
        insert_row(&srv, &format!("magic-link:{}", b64url_sha256(ba_token)), r#"{"type":"magic-link","email":"ba@example.com"}"#).await;
        let r = srv.client().get(&format!("/magic-link/verify?token={ba_token}")).await;
        r.expect_status(200);
        assert_eq!(r.json()["user"]["name"], "");
    }
);

both!(
    rows_better_auth_wrote_verify,
    config = |c| {
        on(c);
    },
    |srv| async move {
        let token = "PlainTokenFromBetterAuthAbcdefgh";
        insert_row(&srv, &format!("magic-link:{token}"), r#"{"type":"magic-link","email":"Mixed@Example.com","name":"Ba"}"#).await;
        let r = srv.client().get(&format!("/magic-link/verify?token={token}")).await;
        r.expect_status(200);
        assert_eq!(r.json()["user"]["email"], "mixed@example.com");
        assert_eq!(r.json()["user"]["name"], "Ba");
        // Not a magic-link record (1.7.1's shape without `type`, or another plugin's row): refused.
        insert_row(&srv, "magic-link:OldShape", r#"{"email":"old@example.com","name":""}"#).await;
        let r = srv.client().get("/magic-link/verify?token=OldShape").await;
        assert_eq!(r.header("location"), Some(format!("{}/?error=INVALID_TOKEN", srv.origin()).as_str()));
    }
);

both!(
    revokes_unproven_access,
    config = |c| {
        on(c);
    },
    |srv| async move {
        // Someone signed up with the victim's address first (unverified) and keeps a session.
        let squatter = srv.user("victim").await;
        let mail = link(&srv, &squatter.email, json!({"callbackURL": "/in"})).await;
        let owner = srv.client_with_origin(None);
        let r = owner.get(&path_of(&srv, mail["url"].as_str().unwrap())).await;
        assert_eq!(r.header("location"), Some(format!("{}/in", srv.origin()).as_str()));
        let me = owner.session_from_db().await;
        assert_eq!(me["user"]["id"], squatter.id.as_str(), "the same user row, now proven");
        assert_eq!(me["user"]["emailVerified"], true);
        assert_eq!(squatter.client.session_from_db().await, Value::Null, "the earlier session is revoked");
        let r = srv.client().post_json("/sign-in/email", json!({"email": squatter.email, "password": squatter.password})).await;
        r.expect_code(401, "INVALID_EMAIL_OR_PASSWORD");
        assert_eq!(srv.count(&format!(r#"select count(*) from "account" where "userId" = '{}'"#, squatter.id)).await, 0);
    }
);

both!(off_by_default, |srv| async move {
    let r = srv.client().post_json("/sign-in/magic-link", json!({"email": "a@example.com"})).await;
    assert_eq!(r.status, 404);
    assert_eq!(srv.client().get("/magic-link/verify?token=x").await.status, 404);
});

pub fn b64url_sha256(s: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(s.as_bytes()))
}

/// Inserts a verification row valid for five minutes, as another server would.
pub async fn insert_row(srv: &TestServer, identifier: &str, value: &str) {
    let now = Utc::now();
    let id: String = identifier.chars().filter(char::is_ascii_alphanumeric).take(24).collect();
    srv.sql(&format!(
        r#"insert into "verification" ("id", "identifier", "value", "expiresAt", "createdAt", "updatedAt") values ('{id}x{}', '{identifier}', '{}', {}, {}, {})"#,
        now.timestamp_micros(),
        value.replace('\'', "''"),
        ts(now + Duration::seconds(300)),
        ts(now),
        ts(now)
    ))
    .await;
}
