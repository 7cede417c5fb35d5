//! `update-user`, `delete-user`, `list-accounts` and `change-email` (spec §2.2).

use crate::harness::*;
use chrono::{Duration, Utc};
use serde_json::{json, Value};

const COOKIE: &str = "better-auth.session_token";

both!(update_user_changes_name_and_image, |srv| async move {
    let u = srv.user("dave").await;
    let before = u.client.session().await["user"].clone();
    let cookie = u.client.session_cookie().unwrap();
    let r = u.client.post_json("/update-user", json!({"name": "Dave Renamed", "image": "https://example.com/d.png"})).await;
    r.expect_status(200);
    assert_eq!(r.json(), &json!({"status": true}), "1.7 does not return the user");
    assert_eq!(
        r.cookie_line(COOKIE),
        Some(format!("{COOKIE}={cookie}; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax").as_str()),
        "the session cookie is re-issued unchanged"
    );
    let after = u.client.session_from_db().await["user"].clone();
    assert_eq!(after["name"], "Dave Renamed");
    assert_eq!(after["image"], "https://example.com/d.png");
    assert_eq!(after["email"], before["email"]);
    assert_eq!(after["createdAt"], before["createdAt"]);
    assert!(parse_time(&after["updatedAt"]) > parse_time(&before["updatedAt"]), "updatedAt moves");
    assert_user_shape(&after);

    // image: null clears it; name alone works.
    u.client.post_json("/update-user", json!({"image": null})).await.expect_status(200);
    assert_eq!(u.client.session_from_db().await["user"]["image"], Value::Null);
    u.client.post_json("/update-user", json!({"name": "D"})).await.expect_status(200);
    assert_eq!(u.client.session_from_db().await["user"]["name"], "D");
});

both!(update_user_refuses_email_and_empty_updates, |srv| async move {
    let u = srv.user("erin").await;
    u.client.post_json("/update-user", json!({"email": "new@example.com"})).await.expect_error(
        400,
        "EMAIL_CAN_NOT_BE_UPDATED",
        "Email can not be updated",
    );
    u.client.post_json("/update-user", json!({"email": "new@example.com", "name": "x"})).await.expect_code(400, "EMAIL_CAN_NOT_BE_UPDATED");
    for body in [json!({}), json!({"unknownField": 1})] {
        let r = u.client.post_json("/update-user", body).await;
        r.expect_status(400);
        assert_eq!(r.text, r#"{"message":"No fields to update"}"#, "no code");
    }
    let s = u.client.session_from_db().await;
    assert_eq!(s["user"]["email"], u.email.as_str());
    assert_eq!(s["user"]["name"], "erin");
    srv.client().post_json("/update-user", json!({"name": "x"})).await.expect_error(401, "UNAUTHORIZED", "Unauthorized");
    // A non-object body is a 400, never a 500.
    let r = u.client.post_json("/update-user", json!(["name"])).await;
    assert_eq!(r.status, 400, "{}", r.text);
});

both!(delete_user_disabled_by_default, |srv| async move {
    let u = srv.user("keep").await;
    let r = u.client.post_json("/delete-user", json!({"password": u.password})).await;
    r.expect_empty_404();
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(u.client.session_from_db().await.is_object());
    assert_eq!(srv.count(r#"select count(*) from "user""#).await, 1);
});

both!(delete_user_with_password, config = |c| c.user.delete_user_enabled = true, |srv| async move {
    let u = srv.user("gone").await;
    let phone = srv.sign_in(&u.email, &u.password).await;
    let bystander = srv.user("bystander").await;
    u.client.post_json("/delete-user", json!({"password": "wrong-password-1"})).await.expect_error(
        400,
        "INVALID_PASSWORD",
        "Invalid password",
    );
    assert_eq!(srv.count(r#"select count(*) from "user""#).await, 2);

    let r = u.client.post_json("/delete-user", json!({"password": u.password})).await;
    r.expect_status(200);
    assert_eq!(r.json(), &json!({"success": true, "message": "User deleted"}));
    assert!(r.deletes_cookie(COOKIE), "{:?}", r.set_cookies);
    assert_eq!(u.client.session().await, Value::Null);
    assert_eq!(phone.session_from_db().await, Value::Null);
    let uid = &u.id;
    assert_eq!(srv.count(&format!(r#"select count(*) from "user" where "id" = '{uid}'"#)).await, 0);
    assert_eq!(srv.count(&format!(r#"select count(*) from "account" where "userId" = '{uid}'"#)).await, 0);
    assert_eq!(srv.count(&format!(r#"select count(*) from "session" where "userId" = '{uid}'"#)).await, 0);
    srv.client()
        .post_json("/sign-in/email", json!({"email": u.email, "password": u.password}))
        .await
        .expect_code(401, "INVALID_EMAIL_OR_PASSWORD");
    assert!(bystander.client.session_from_db().await.is_object());
    // The address is free again.
    sign_up(&srv.client(), &u.email, PASSWORD, "again").await;
});

both!(delete_user_without_password_needs_fresh_session, config = |c| c.user.delete_user_enabled = true, |srv| async move {
    let u = srv.user("stale").await;
    let old = Utc::now() - Duration::days(2);
    srv.sql(&format!(r#"update "session" set "createdAt" = {} where "token" = '{}'"#, ts(old), u.token)).await;
    u.client.post_json("/delete-user", json!({})).await.expect_error(
        400,
        "SESSION_EXPIRED",
        "Session expired. Re-authenticate to perform this action.",
    );
    let fresh = srv.sign_in(&u.email, &u.password).await;
    let r = fresh.post_json("/delete-user", json!({})).await;
    r.expect_status(200);
    assert_eq!(r.json(), &json!({"success": true, "message": "User deleted"}));
    assert_eq!(srv.count(r#"select count(*) from "user""#).await, 0);
    srv.client().post_json("/delete-user", json!({})).await.expect_error(401, "UNAUTHORIZED", "Unauthorized");
});

both!(list_accounts_shows_credential_account, |srv| async move {
    let u = srv.user("gina").await;
    let r = u.client.get("/list-accounts").await;
    r.expect_status(200);
    let list = r.json().as_array().expect("an array").clone();
    assert_eq!(list.len(), 1);
    let a = &list[0];
    let mut keys: Vec<&str> = a.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["accountId", "createdAt", "id", "providerId", "scopes", "updatedAt", "userId"], "{a}");
    assert_eq!(a["providerId"], "credential");
    assert_eq!(a["accountId"], u.id.as_str());
    assert_eq!(a["userId"], u.id.as_str());
    assert_eq!(a["scopes"], json!([]));
    assert!(is_id(&a["id"]) && is_iso_ms(&a["createdAt"]) && is_iso_ms(&a["updatedAt"]), "{a}");
    assert!(!r.text.contains("password") && !r.text.contains("$argon2"), "{}", r.text);
    srv.client().get("/list-accounts").await.expect_error(401, "UNAUTHORIZED", "Unauthorized");
});

both!(
    change_email_without_verification,
    config = |c| {
        c.user.change_email_enabled = true;
        c.user.update_email_without_verification = true
    },
    |srv| async move {
        let u = srv.user("mover").await;
        let taken = srv.user("taken").await;
        let r = u.client.post_json("/change-email", json!({"newEmail": "Moved@Example.com"})).await;
        r.expect_status(200);
        assert_eq!(r.json(), &json!({"status": true}));
        let s = u.client.session_from_db().await;
        assert_eq!(s["user"]["email"], "moved@example.com");
        assert_eq!(s["user"]["emailVerified"], false);
        srv.sign_in("moved@example.com", &u.password).await;
        srv.client().post_json("/sign-in/email", json!({"email": u.email, "password": u.password})).await.expect_status(401);

        u.client.post_json("/change-email", json!({"newEmail": "moved@example.com"})).await.expect_status(400);
        let same = u.client.post_json("/change-email", json!({"newEmail": "MOVED@example.com"})).await;
        assert_eq!((same.status, same.text.as_str()), (400, r#"{"message":"Email is the same"}"#));

        // A taken address answers the same, and changes nothing.
        let r = u.client.post_json("/change-email", json!({"newEmail": taken.email})).await;
        r.expect_status(200);
        assert_eq!(r.json(), &json!({"status": true}));
        assert_eq!(u.client.session_from_db().await["user"]["email"], "moved@example.com");
        assert_eq!(taken.client.session_from_db().await["user"]["email"], taken.email.as_str());

        u.client.post_json("/change-email", json!({"newEmail": "bad"})).await.expect_code(400, "VALIDATION_ERROR");
        srv.client().post_json("/change-email", json!({"newEmail": "x@example.com"})).await.expect_error(
            401,
            "UNAUTHORIZED",
            "Unauthorized",
        );
    }
);

both!(change_email_disabled, config = |c| c.user.change_email_enabled = false, |srv| async move {
    let u = srv.user("fixed").await;
    u.client.post_json("/change-email", json!({"newEmail": "x@example.com"})).await.expect_error(
        400,
        "CHANGE_EMAIL_DISABLED",
        "Change email is disabled",
    );
});

both!(
    change_email_without_any_flow,
    config = |c| {
        c.user.change_email_enabled = true;
        c.email_verification.enabled = false
    },
    |srv| async move {
        let u = srv.user("noflow").await;
        let r = u.client.post_json("/change-email", json!({"newEmail": "x@example.com"})).await;
        assert_eq!((r.status, r.text.as_str()), (400, r#"{"message":"Verification email isn't enabled"}"#));
        assert_eq!(u.client.session_from_db().await["user"]["email"], u.email.as_str());
    }
);

fn verified_deletion(c: &mut portcullis::Config) {
    c.user.delete_user_enabled = true;
    c.user.delete_user_verification = true;
}

/// The link's query parameter `name`, decoded.
fn query_param(url: &str, name: &str) -> String {
    let u = reqwest::Url::parse(url).expect("a link");
    u.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned()).expect("the parameter")
}

both!(delete_user_confirmed_by_email, config = verified_deletion, |srv| async move {
    let u = srv.user("confirm").await;
    let other = srv.user("other").await;
    let r = u.client.post_json("/delete-user", json!({"callbackURL": "/goodbye"})).await;
    r.expect_status(200);
    assert_eq!(r.json(), &json!({"success": true, "message": "Verification email sent"}));
    assert_eq!(srv.count(r#"select count(*) from "user""#).await, 2, "nothing deleted yet");
    let mail = srv.mail_of_kind(&u.email, "delete-account").await;
    let link = mail["url"].as_str().expect("a link").to_string();
    assert!(link.starts_with(&format!("{}/delete-user/callback?token=", srv.auth_url())), "{link}");
    let token = query_param(&link, "token");
    assert!(token.len() == 32 && token.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()), "{token}");
    assert_eq!(query_param(&link, "callbackURL"), "/goodbye");

    // Without a session, or with someone else's: refused, and the other user keeps their account.
    srv.client().get(&link).await.expect_error(404, "FAILED_TO_GET_USER_INFO", "Failed to get user info");
    other.client.get(&link).await.expect_error(404, "INVALID_TOKEN", "Invalid token");
    assert!(other.client.session_from_db().await.is_object());
    // The token was burned by that attempt (single use): a new link is needed.
    u.client.get(&link).await.expect_error(404, "INVALID_TOKEN", "Invalid token");
    u.client.post_json("/delete-user", json!({})).await.expect_status(200);
    let link = srv.wait_mail(&u.email, |m| m["kind"] == "delete-account" && m["url"].as_str() != Some(link.as_str())).await["url"]
        .as_str()
        .unwrap()
        .to_string();
    u.client
        .get(&link.replace("callbackURL=%2F", "callbackURL=https%3A%2F%2Fevil.example%2F"))
        .await
        .expect_code(403, "INVALID_CALLBACK_URL");
    let r = u.client.get(&link).await;
    assert_eq!((r.status, r.header("location")), (302, Some("/")), "{}", r.text);
    assert!(r.deletes_cookie(COOKIE));
    let uid = &u.id;
    assert_eq!(srv.count(&format!(r#"select count(*) from "user" where "id" = '{uid}'"#)).await, 0);
    assert_eq!(srv.count(r#"select count(*) from "user""#).await, 1);
});
