//! E-mail verification and change of address through verification tokens (spec §2.2, §10.1).

use crate::harness::*;
use chrono::Utc;
use serde_json::{json, Value};

fn jwt_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

async fn verified(srv: &TestServer, user_id: &str) -> bool {
    let v = srv.sql_scalar(&format!(r#"select "emailVerified" from "user" where "id" = '{user_id}'"#)).await.unwrap();
    matches!(v.as_str(), "true" | "1")
}

both!(send_and_verify_email, |srv| async move {
    let u = srv.user("verify").await;
    let r = u.client.post_json("/send-verification-email", json!({"email": u.email, "callbackURL": "/"})).await;
    r.expect_status(200);
    assert_eq!(r.json(), &json!({"status": true}));
    let mail = srv.mail_of_kind(&u.email, "verify-email").await;
    let token = mail["token"].as_str().unwrap().to_string();
    assert_eq!(mail["url"], format!("{}/verify-email?token={token}&callbackURL=%2F", srv.auth_url()));
    assert!(token.starts_with("eyJhbGciOiJIUzI1NiJ9."), "header {{\"alg\":\"HS256\"}}: {token}");
    let claims = jwt_claims(&token);
    assert_eq!(claims["email"], u.email.as_str());
    assert_eq!(claims["userId"], u.id.as_str());
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 3600);

    let v = srv.client().get(&format!("/verify-email?token={}", enc(&token))).await;
    v.expect_status(200);
    assert_eq!(v.json(), &json!({"status": true, "user": null}));
    assert!(v.set_cookies.is_empty(), "no auto sign-in by default: {:?}", v.set_cookies);
    assert_eq!(u.client.session_from_db().await["user"]["emailVerified"], true);
    assert!(verified(&srv, &u.id).await);

    // Verifying again is harmless; sending again is refused.
    let v = srv.client().get(&format!("/verify-email?token={}", enc(&token))).await;
    assert_eq!(v.json(), &json!({"status": true, "user": null}));
    u.client.post_json("/send-verification-email", json!({"email": u.email})).await.expect_error(
        400,
        "EMAIL_ALREADY_VERIFIED",
        "Email is already verified",
    );
});

both!(send_verification_email_rules, |srv| async move {
    let u = srv.user("rules").await;
    u.client.post_json("/send-verification-email", json!({"email": "someone@example.com"})).await.expect_error(
        400,
        "EMAIL_MISMATCH",
        "Email mismatch",
    );
    u.client.post_json("/send-verification-email", json!({"email": "nope"})).await.expect_code(400, "VALIDATION_ERROR");
    // Without a session the answer never reveals whether the address exists.
    let unknown = srv.client().post_json("/send-verification-email", json!({"email": "ghost@example.com"})).await;
    unknown.expect_status(200);
    assert_eq!(unknown.json(), &json!({"status": true}));
    let known = srv.client().post_json("/send-verification-email", json!({"email": u.email})).await;
    assert_eq!(known.text, unknown.text);
    srv.mail_of_kind(&u.email, "verify-email").await;
    let r =
        srv.client().post_json("/send-verification-email", json!({"email": "x@example.com", "callbackURL": "https://evil.example"})).await;
    r.expect_error(403, "INVALID_CALLBACK_URL", "Invalid callbackURL");
});

both!(verification_disabled, config = |c| c.email_verification.enabled = false, |srv| async move {
    let u = srv.user("off").await;
    u.client.post_json("/send-verification-email", json!({"email": u.email})).await.expect_error(
        400,
        "VERIFICATION_EMAIL_NOT_ENABLED",
        "Verification email isn't enabled",
    );
});

both!(bad_verification_tokens, |srv| async move {
    let u = srv.user("forged").await;
    u.client.post_json("/send-verification-email", json!({"email": u.email})).await.expect_status(200);
    let token = srv.mail_of_kind(&u.email, "verify-email").await["token"].as_str().unwrap().to_string();
    let c = srv.client();

    let forged = format!("{}abc", &token[..token.len() - 3]);
    c.get(&format!("/verify-email?token={}", enc(&forged))).await.expect_error(401, "INVALID_TOKEN", "Invalid token");
    c.get("/verify-email?token=abc").await.expect_error(401, "INVALID_TOKEN", "Invalid token");
    // alg "none" is not accepted.
    let parts: Vec<&str> = token.split('.').collect();
    let none = format!("eyJhbGciOiJub25lIn0.{}.", parts[1]);
    c.get(&format!("/verify-email?token={}", enc(&none))).await.expect_code(401, "INVALID_TOKEN");
    // Expired, but correctly signed.
    let now = Utc::now().timestamp();
    let old = jwt(&json!({"email": u.email, "userId": u.id, "iat": now - 7200, "exp": now - 3600}));
    c.get(&format!("/verify-email?token={}", enc(&old))).await.expect_error(401, "TOKEN_EXPIRED", "Token expired");
    // Correctly signed, for nobody.
    let ghost = jwt(&json!({"email": "ghost@example.com", "userId": "x", "iat": now, "exp": now + 3600}));
    c.get(&format!("/verify-email?token={}", enc(&ghost))).await.expect_error(401, "USER_NOT_FOUND", "User not found");
    // Correctly signed for the address, but bound to another user id.
    let other = jwt(&json!({"email": u.email, "userId": "someone-else", "iat": now, "exp": now + 3600}));
    let r = c.get(&format!("/verify-email?token={}", enc(&other))).await;
    assert!((400..500).contains(&r.status), "{} {}", r.status, r.text);

    c.get("/verify-email").await.expect_error(400, "VALIDATION_ERROR", "[query.token] Invalid input: expected string, received undefined");

    // With a callbackURL, errors redirect there.
    let r = c.get(&format!("/verify-email?token={}&callbackURL={}", enc(&forged), enc("/verified"))).await;
    r.expect_status(302);
    assert_eq!(r.header("location"), Some("/verified?error=INVALID_TOKEN"));
    let r = c.get(&format!("/verify-email?token={}&callbackURL={}", enc(&old), enc("/verified?x=1"))).await;
    assert_eq!(r.header("location"), Some("/verified?x=1&error=TOKEN_EXPIRED"));
    let r = c.get(&format!("/verify-email?token={}&callbackURL={}", enc(&token), enc("https://evil.example/v"))).await;
    r.expect_error(403, "INVALID_CALLBACK_URL", "Invalid callbackURL");

    assert!(!verified(&srv, &u.id).await, "nothing above verified the address");
});

both!(verify_with_callback_redirects, |srv| async move {
    let u = srv.user("cb").await;
    u.client.post_json("/send-verification-email", json!({"email": u.email, "callbackURL": "/verified"})).await.expect_status(200);
    let mail = srv.mail_of_kind(&u.email, "verify-email").await;
    assert!(mail["url"].as_str().unwrap().ends_with("&callbackURL=%2Fverified"), "{mail}");
    let r =
        srv.client().get(&format!("/verify-email?token={}&callbackURL={}", enc(mail["token"].as_str().unwrap()), enc("/verified"))).await;
    r.expect_status(302);
    assert_eq!(r.header("location"), Some("/verified"));
    assert_eq!(r.text, "");
    assert!(verified(&srv, &u.id).await);
});

both!(auto_sign_in_after_verification, config = |c| c.email_verification.auto_sign_in_after_verification = true, |srv| async move {
    let u = srv.user("auto").await;
    srv.client().post_json("/send-verification-email", json!({"email": u.email})).await.expect_status(200);
    let token = srv.mail_of_kind(&u.email, "verify-email").await["token"].as_str().unwrap().to_string();
    let fresh = srv.client();
    let r = fresh.get(&format!("/verify-email?token={}", enc(&token))).await;
    r.expect_status(200);
    assert!(r.cookie_line("better-auth.session_token").is_some(), "{:?}", r.set_cookies);
    let s = fresh.session().await;
    assert_eq!(s["user"]["id"], u.id.as_str());
    assert_eq!(s["user"]["emailVerified"], true);
});

both!(change_email_through_verification, config = |c| c.user.change_email_enabled = true, |srv| async move {
    let u = srv.user("changer").await;
    let r = u.client.post_json("/change-email", json!({"newEmail": "New@Example.com", "callbackURL": "/done"})).await;
    r.expect_status(200);
    assert_eq!(r.json(), &json!({"status": true}));
    assert_eq!(u.client.session_from_db().await["user"]["email"], u.email.as_str(), "unchanged until verified");

    let mail = srv.wait_mail("new@example.com", |m| m["token"].is_string()).await;
    let token = mail["token"].as_str().unwrap().to_string();
    assert!(mail["url"].as_str().unwrap().ends_with("&callbackURL=%2Fdone"), "{mail}");
    let claims = jwt_claims(&token);
    assert_eq!(claims["email"], u.email.as_str());
    assert_eq!(claims["updateTo"], "new@example.com");
    assert_eq!(claims["userId"], u.id.as_str());

    let r = u.client.get(&format!("/verify-email?token={}", enc(&token))).await;
    r.expect_status(200);
    assert_eq!(r.json()["status"], true);
    assert_eq!(r.json()["user"]["email"], "new@example.com");
    assert_eq!(u.client.session_from_db().await["user"]["email"], "new@example.com");
    srv.sign_in("new@example.com", &u.password).await;
});

both!(change_email_token_without_user_id_is_refused, |srv| async move {
    let u = srv.user("legacy").await;
    let now = Utc::now().timestamp();
    let t = jwt(
        &json!({"email": u.email, "updateTo": "stolen@example.com", "requestType": "change-email-verification", "iat": now, "exp": now + 3600}),
    );
    let r = srv.client().get(&format!("/verify-email?token={}", enc(&t))).await;
    assert!((400..500).contains(&r.status), "{} {}", r.status, r.text);
    assert_eq!(u.client.session_from_db().await["user"]["email"], u.email.as_str());
});

both!(
    change_email_with_confirmation_of_the_old_address,
    config = |c| {
        c.user.change_email_enabled = true;
        c.user.change_email_confirmation = true
    },
    |srv| async move {
        let u = srv.user("confirm").await;
        // Verify the current address first: confirmation only applies to verified users.
        u.client.post_json("/send-verification-email", json!({"email": u.email})).await.expect_status(200);
        let t = srv.mail_of_kind(&u.email, "verify-email").await["token"].as_str().unwrap().to_string();
        srv.client().get(&format!("/verify-email?token={}", enc(&t))).await.expect_status(200);

        u.client.post_json("/change-email", json!({"newEmail": "next@example.com"})).await.expect_status(200);
        let confirm = srv.mail_of_kind(&u.email, "change-email-confirmation").await;
        let token = confirm["token"].as_str().unwrap().to_string();
        let claims = jwt_claims(&token);
        assert_eq!(claims["requestType"], "change-email-confirmation");
        assert_eq!(claims["updateTo"], "next@example.com");
        assert!(srv.outbox("next@example.com").await.is_empty(), "nothing goes to the new address before confirmation");

        let r = u.client.get(&format!("/verify-email?token={}", enc(&token))).await;
        r.expect_status(200);
        assert_eq!(r.json()["status"], true);
        assert_eq!(u.client.session_from_db().await["user"]["email"], u.email.as_str(), "not changed yet");

        let second = srv.wait_mail("next@example.com", |m| m["token"].is_string()).await;
        let token = second["token"].as_str().unwrap().to_string();
        assert_eq!(jwt_claims(&token)["requestType"], "change-email-verification");
        let r = u.client.get(&format!("/verify-email?token={}", enc(&token))).await;
        r.expect_status(200);
        assert_eq!(r.json()["user"]["email"], "next@example.com");
        assert_eq!(u.client.session_from_db().await["user"]["email"], "next@example.com");
    }
);
