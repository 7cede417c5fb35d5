//! One-time codes by e-mail (Better Auth 1.7.24's `emailOTP()`, spec plugins §8): codes read from
//! the outbox, single use, expiry, the attempt limit, the three `storeOTP` modes (rows Better Auth
//! wrote included), sign-up on first sign-in, password reset, change of address, no enumeration.

use crate::harness::*;
use crate::magic_link::{b64url_sha256, insert_row};
use chrono::{Duration, Utc};
use portcullis::plugins::email_otp::config::{EmailOtpConfig, ResendStrategy, StoreOtp};
use portcullis::Config;
use serde_json::{json, Value};

fn on(c: &mut Config) -> &mut EmailOtpConfig {
    let m = c.section_mut::<EmailOtpConfig>().expect("[email_otp] parses");
    m.enabled = true;
    m
}

/// Asks for a code of `kind` for `email`; asserts Better Auth's answer.
async fn send(srv: &TestServer, email: &str, kind: &str) {
    let r = srv.client().post_json("/email-otp/send-verification-otp", json!({"email": email, "type": kind})).await;
    r.expect_status(200);
    assert_eq!(r.json(), &json!({"success": true}));
}

/// The newest code of `kind` mailed to `email`.
async fn code(srv: &TestServer, email: &str, kind: &str) -> String {
    let m = srv.mail_of_kind(email, &format!("email-otp:{kind}")).await;
    m["otp"].as_str().expect("otp in the outbox").to_string()
}

async fn row_value(srv: &TestServer, identifier: &str) -> Option<String> {
    srv.sql_scalar(&format!(r#"select "value" from "verification" where "identifier" = '{identifier}'"#)).await
}

fn wrong(code: &str) -> String {
    let last = code.as_bytes()[code.len() - 1] - b'0';
    format!("{}{}", &code[..code.len() - 1], (last + 1) % 10)
}

async fn otp_sign_in(c: &Client, email: &str, otp: &str) -> Resp {
    c.post_json("/sign-in/email-otp", json!({"email": email, "otp": otp})).await
}

both!(
    sign_in_code_signs_up_then_in,
    config = |c| {
        on(c);
    },
    |srv| async move {
        let email = "otpnew@example.com";
        send(&srv, "OTPNew@Example.com", "sign-in").await;
        let otp = code(&srv, email, "sign-in").await;
        assert!(otp.len() == 6 && otp.bytes().all(|b| b.is_ascii_digit()), "{otp}");
        assert_eq!(row_value(&srv, &format!("sign-in-otp-{email}")).await, Some(format!("{otp}:0")), "plain by default");

        let c = srv.client();
        let r = otp_sign_in(&c, email, &otp).await;
        r.expect_status(200);
        assert_eq!(key_order(&r.text), ["token", "user"]);
        let user = r.json()["user"].clone();
        assert_eq!(user["email"], email);
        assert_eq!(user["emailVerified"], true);
        assert_eq!(user["name"], "");
        assert_eq!(c.session_from_db().await["user"]["id"], user["id"]);
        assert_eq!(row_value(&srv, &format!("sign-in-otp-{email}")).await, None, "used up");

        let reuse = otp_sign_in(&srv.client(), email, &otp).await;
        reuse.expect_error(400, "INVALID_OTP", "Invalid OTP");

        // A later code signs the same user in.
        send(&srv, email, "sign-in").await;
        let otp2 = srv.wait_mail(email, |m| m["kind"] == "email-otp:sign-in" && m["otp"] != otp.as_str()).await["otp"].clone();
        let r = otp_sign_in(&srv.client(), email, otp2.as_str().unwrap()).await;
        assert_eq!(r.json()["user"]["id"], user["id"]);
    }
);

both!(
    wrong_codes_and_the_attempt_limit,
    config = |c| {
        on(c);
    },
    |srv| async move {
        let u = srv.user("attempts").await;
        send(&srv, &u.email, "sign-in").await;
        let otp = code(&srv, &u.email, "sign-in").await;
        let c = srv.client();
        for n in 1..=3 {
            otp_sign_in(&c, &u.email, &wrong(&otp)).await.expect_error(400, "INVALID_OTP", "Invalid OTP");
            assert_eq!(row_value(&srv, &format!("sign-in-otp-{}", u.email)).await, Some(format!("{otp}:{n}")));
        }
        assert_eq!(c.session_from_db().await, Value::Null);
        // Out of attempts: even the right code is refused, and the code is gone.
        otp_sign_in(&c, &u.email, &otp).await.expect_error(403, "TOO_MANY_ATTEMPTS", "Too many attempts");
        otp_sign_in(&c, &u.email, &otp).await.expect_error(400, "INVALID_OTP", "Invalid OTP");
        // A new code works.
        send(&srv, &u.email, "sign-in").await;
        let fresh = srv.wait_mail(&u.email, |m| m["kind"] == "email-otp:sign-in" && m["otp"] != otp.as_str()).await;
        otp_sign_in(&c, &u.email, fresh["otp"].as_str().unwrap()).await.expect_status(200);
    }
);

both!(
    expired_codes,
    config = |c| {
        on(c);
    },
    |srv| async move {
        let u = srv.user("expired").await;
        send(&srv, &u.email, "sign-in").await;
        let otp = code(&srv, &u.email, "sign-in").await;
        let past = Utc::now() - Duration::seconds(1);
        srv.sql(&format!(r#"update "verification" set "expiresAt" = {} where "identifier" = 'sign-in-otp-{}'"#, ts(past), u.email)).await;
        otp_sign_in(&srv.client(), &u.email, &otp).await.expect_error(400, "OTP_EXPIRED", "OTP expired");
        otp_sign_in(&srv.client(), &u.email, &otp).await.expect_error(400, "INVALID_OTP", "Invalid OTP");
    }
);

both!(
    hashed_codes,
    config = |c| {
        on(c).store_otp = StoreOtp::Hashed;
    },
    |srv| async move {
        let u = srv.user("hashed").await;
        send(&srv, &u.email, "sign-in").await;
        let otp = code(&srv, &u.email, "sign-in").await;
        assert_eq!(row_value(&srv, &format!("sign-in-otp-{}", u.email)).await, Some(format!("{}:0", b64url_sha256(&otp))));
        otp_sign_in(&srv.client(), &u.email, &wrong(&otp)).await.expect_code(400, "INVALID_OTP");
        otp_sign_in(&srv.client(), &u.email, &otp).await.expect_status(200);
        // A code Better Auth stored hashed, one attempt already spent.
        insert_row(&srv, &format!("sign-in-otp-{}", u.email), "jZae727K08KaOmKSgOaGzww_XVqGr_PKEgIMkjrcbJI:1").await;
        let r = otp_sign_in(&srv.client(), &u.email, "123456").await;
        r.expect_status(200);
        assert_eq!(r.json()["user"]["id"], u.id.as_str());
    }
);

both!(
    encrypted_codes,
    config = |c| {
        on(c).store_otp = StoreOtp::Encrypted;
    },
    |srv| async move {
        let u = srv.user("encrypted").await;
        send(&srv, &u.email, "sign-in").await;
        let otp = code(&srv, &u.email, "sign-in").await;
        let stored = row_value(&srv, &format!("sign-in-otp-{}", u.email)).await.unwrap();
        let (cipher, attempts) = stored.rsplit_once(':').unwrap();
        assert_eq!(attempts, "0");
        assert!(cipher.len() == 2 * (24 + 6 + 16) && cipher.bytes().all(|b| b.is_ascii_hexdigit()), "hex(nonce ‖ ct ‖ tag): {cipher}");
        assert!(!cipher.contains(&otp));
        otp_sign_in(&srv.client(), &u.email, &otp).await.expect_status(200);
        // Better Auth 1.7.24's symmetricEncrypt({key: SECRET, data: "654321"}), made with its own code.
        let ba = "450e915079fd0da39b75755302cdde54632c0c7f9fc1f63069f64de707b8ff2e9efd847d27981f7780a4c28d7bb4";
        insert_row(&srv, &format!("sign-in-otp-{}", u.email), &format!("{ba}:0")).await;
        otp_sign_in(&srv.client(), &u.email, "654322").await.expect_code(400, "INVALID_OTP");
        otp_sign_in(&srv.client(), &u.email, "654321").await.expect_status(200);
    }
);

both!(
    no_enumeration,
    config = |c| {
        on(c);
    },
    |srv| async move {
        let known = srv.user("known").await;
        let ghost = "ghost@example.com";
        // Every type answers the same for an address with and without an account.
        for kind in ["email-verification", "forget-password", "sign-in"] {
            let a = srv.client().post_json("/email-otp/send-verification-otp", json!({"email": ghost, "type": kind})).await;
            let b = srv.client().post_json("/email-otp/send-verification-otp", json!({"email": known.email, "type": kind})).await;
            assert_eq!((a.status, a.text.as_str()), (b.status, b.text.as_str()), "{kind}");
        }
        let a = srv.client().post_json("/email-otp/request-password-reset", json!({"email": ghost})).await;
        let b = srv.client().post_json("/email-otp/request-password-reset", json!({"email": known.email})).await;
        assert_eq!((a.status, a.text.as_str()), (b.status, b.text.as_str()));
        code(&srv, &known.email, "forget-password").await;
        code(&srv, &known.email, "email-verification").await;
        // Only a sign-in code (sign-up is open) reached the address without an account; no row is
        // left for the others.
        srv.wait_mail(ghost, |m| m["kind"] == "email-otp:sign-in").await;
        let kinds: Vec<Value> = srv.outbox(ghost).await.iter().map(|m| m["kind"].clone()).collect();
        assert_eq!(kinds, [json!("email-otp:sign-in")]);
        for kind in ["email-verification", "forget-password"] {
            assert_eq!(row_value(&srv, &format!("{kind}-otp-{ghost}")).await, None);
        }
    }
);

both!(
    sign_up_disabled,
    config = |c| {
        on(c).disable_sign_up = true;
    },
    |srv| async move {
        let ghost = "nobody@example.com";
        send(&srv, ghost, "sign-in").await;
        let u = srv.user("member").await;
        send(&srv, &u.email, "sign-in").await;
        let otp = code(&srv, &u.email, "sign-in").await;
        assert!(srv.outbox(ghost).await.is_empty(), "no code for an address without an account");
        // Even with a code (here one Better Auth stored), no account is made.
        insert_row(&srv, &format!("sign-in-otp-{ghost}"), "111111:0").await;
        otp_sign_in(&srv.client(), ghost, "111111").await.expect_error(400, "INVALID_OTP", "Invalid OTP");
        assert_eq!(srv.count(&format!(r#"select count(*) from "user" where "email" = '{ghost}'"#)).await, 0);
        otp_sign_in(&srv.client(), &u.email, &otp).await.expect_status(200);
    }
);

both!(
    password_reset_by_code,
    config = |c| {
        on(c);
    },
    |srv| async move {
        let u = srv.user("reset").await;
        let c = srv.client();
        let r = c.post_json("/email-otp/request-password-reset", json!({"email": u.email})).await;
        assert_eq!(r.json(), &json!({"success": true}));
        let otp = code(&srv, &u.email, "forget-password").await;
        let body = |otp: &str, password: &str| json!({"email": u.email, "otp": otp, "password": password});
        c.post_json("/email-otp/reset-password", body(&otp, "short")).await.expect_error(400, "PASSWORD_TOO_SHORT", "Password too short");
        c.post_json("/email-otp/reset-password", body(&wrong(&otp), "after-otp-reset-1")).await.expect_code(400, "INVALID_OTP");
        // A right check leaves the code usable.
        let check = json!({"email": u.email, "type": "forget-password", "otp": otp});
        c.post_json("/email-otp/check-verification-otp", check).await.expect_status(200);
        let r = c.post_json("/email-otp/reset-password", body(&otp, "after-otp-reset-1")).await;
        r.expect_status(200);
        assert_eq!(r.json(), &json!({"success": true}));
        srv.client()
            .post_json("/sign-in/email", json!({"email": u.email, "password": u.password}))
            .await
            .expect_code(401, "INVALID_EMAIL_OR_PASSWORD");
        srv.sign_in(&u.email, "after-otp-reset-1").await;
        c.post_json("/email-otp/reset-password", body(&otp, "another-password-2")).await.expect_code(400, "INVALID_OTP");
        assert_eq!(
            srv.sql_scalar(&format!(r#"select "emailVerified" from "user" where "id" = '{}'"#, u.id))
                .await
                .as_deref()
                .map(|v| v == "true" || v == "1"),
            Some(true)
        );

        // The deprecated alias sends the same code type.
        let r = c.post_json("/forget-password/email-otp", json!({"email": u.email})).await;
        assert_eq!(r.json(), &json!({"success": true}));
        let again = srv.wait_mail(&u.email, |m| m["kind"] == "email-otp:forget-password" && m["otp"] != otp.as_str()).await;
        let r = c.post_json("/email-otp/reset-password", body(again["otp"].as_str().unwrap(), "third-password-3")).await;
        r.expect_status(200);
    }
);

both!(
    verify_email_and_check,
    config = |c| {
        on(c);
    },
    |srv| async move {
        let u = srv.user("verifyotp").await;
        send(&srv, &u.email, "email-verification").await;
        let otp = code(&srv, &u.email, "email-verification").await;
        let check = |otp: &str| json!({"email": u.email, "type": "email-verification", "otp": otp});
        srv.client().post_json("/email-otp/check-verification-otp", check(&otp)).await.expect_status(200);
        srv.client().post_json("/email-otp/check-verification-otp", check(&otp)).await.expect_status(200);
        let r = u.client.post_json("/email-otp/verify-email", json!({"email": u.email, "otp": otp})).await;
        r.expect_status(200);
        assert_eq!(key_order(&r.text), ["status", "token", "user"]);
        assert_eq!(r.json()["status"], true);
        assert_eq!(r.json()["token"], Value::Null);
        assert_eq!(r.json()["user"]["emailVerified"], true);
        assert_eq!(u.client.session_from_db().await["user"]["emailVerified"], true);
        u.client.post_json("/email-otp/verify-email", json!({"email": u.email, "otp": otp})).await.expect_code(400, "INVALID_OTP");

        // A code for an address without an account (stored by hand): correct, then USER_NOT_FOUND.
        insert_row(&srv, "email-verification-otp-ghost@example.com", "222222:0").await;
        let r = srv
            .client()
            .post_json(
                "/email-otp/check-verification-otp",
                json!({"email": "ghost@example.com", "type": "email-verification", "otp": "222222"}),
            )
            .await;
        r.expect_error(400, "USER_NOT_FOUND", "User not found");
    }
);

both!(
    bodies_are_checked,
    config = |c| {
        on(c);
    },
    |srv| async move {
        let c = srv.client();
        let r = c.post_json("/email-otp/send-verification-otp", json!({"email": "a@example.com", "type": "nope"})).await;
        r.expect_error(
            400,
            "VALIDATION_ERROR",
            "[body.type] Invalid option: expected one of \"email-verification\"|\"sign-in\"|\"forget-password\"|\"change-email\"",
        );
        let r = c.post_json("/email-otp/send-verification-otp", json!({"email": "a@example.com", "type": "change-email"})).await;
        r.expect_status(400);
        assert_eq!(r.json(), &json!({"message": "Invalid OTP type"}));
        let r = c.post_json("/email-otp/send-verification-otp", json!({"email": "not-an-email", "type": "sign-in"})).await;
        r.expect_error(400, "INVALID_EMAIL", "Invalid email");
        c.post_json("/email-otp/request-password-reset", json!({"email": "x"})).await.expect_code(400, "INVALID_EMAIL");
        c.post_json("/sign-in/email-otp", json!({"email": "a@example.com"})).await.expect_error(
            400,
            "VALIDATION_ERROR",
            "[body.otp] Invalid input: expected string, received undefined",
        );
        // Server-only endpoints of the plugin are not routed.
        assert_eq!(c.get("/email-otp/get-verification-otp?email=a@example.com&type=sign-in").await.status, 404);
    }
);

both!(
    revokes_unproven_access,
    config = |c| {
        on(c);
    },
    |srv| async move {
        let squatter = srv.user("victim").await;
        send(&srv, &squatter.email, "sign-in").await;
        let otp = code(&srv, &squatter.email, "sign-in").await;
        let owner = srv.client();
        let r = otp_sign_in(&owner, &squatter.email, &otp).await;
        r.expect_status(200);
        assert_eq!(r.json()["user"]["id"], squatter.id.as_str());
        assert_eq!(r.json()["user"]["emailVerified"], true);
        assert_eq!(squatter.client.session_from_db().await, Value::Null);
        srv.client()
            .post_json("/sign-in/email", json!({"email": squatter.email, "password": squatter.password}))
            .await
            .expect_code(401, "INVALID_EMAIL_OR_PASSWORD");
    }
);

both!(
    resend_reuses_the_code,
    config = |c| {
        on(c).resend_strategy = ResendStrategy::Reuse;
    },
    |srv| async move {
        let u = srv.user("reuse").await;
        send(&srv, &u.email, "sign-in").await;
        let first = code(&srv, &u.email, "sign-in").await;
        send(&srv, &u.email, "sign-in").await;
        let mut codes = Vec::new();
        for _ in 0..200 {
            codes = srv.outbox(&u.email).await.into_iter().filter(|m| m["kind"] == "email-otp:sign-in").map(|m| m["otp"].clone()).collect();
            if codes.len() == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        assert_eq!(codes, [json!(first), json!(first)], "the same code, sent twice");
        otp_sign_in(&srv.client(), &u.email, &first).await.expect_status(200);
    }
);

both!(
    change_email_by_code,
    config = |c| {
        on(c).change_email.enabled = true;
    },
    |srv| async move {
        let u = srv.user("mover").await;
        let taken = srv.user("taken").await;
        let new_email = "moved@example.com";
        let r = u.client.post_json("/email-otp/request-email-change", json!({"newEmail": new_email})).await;
        r.expect_status(200);
        assert_eq!(r.json(), &json!({"success": true}));
        let otp = code(&srv, new_email, "change-email").await;
        assert!(row_value(&srv, &format!("change-email-otp-{}:{new_email}", u.id)).await.is_some(), "1.7.24's identifier");
        // A taken address: the same answer, no code.
        let r = u.client.post_json("/email-otp/request-email-change", json!({"newEmail": taken.email})).await;
        assert_eq!(r.json(), &json!({"success": true}));
        u.client.post_json("/email-otp/request-email-change", json!({"newEmail": u.email})).await.expect_status(400);
        srv.client()
            .post_json("/email-otp/change-email", json!({"newEmail": new_email, "otp": otp}))
            .await
            .expect_code(401, "UNAUTHORIZED");

        u.client
            .post_json("/email-otp/change-email", json!({"newEmail": new_email, "otp": wrong(&otp)}))
            .await
            .expect_code(400, "INVALID_OTP");
        let r = u.client.post_json("/email-otp/change-email", json!({"newEmail": new_email, "otp": otp})).await;
        r.expect_status(200);
        assert_eq!(r.json(), &json!({"success": true}));
        let me = u.client.session_from_db().await;
        assert_eq!(me["user"]["email"], new_email);
        assert_eq!(me["user"]["emailVerified"], true);
        srv.sign_in(new_email, &u.password).await;
        assert!(srv.outbox(&taken.email).await.iter().all(|m| m["kind"] != "email-otp:change-email"));
    }
);

both!(
    change_email_off_by_default,
    config = |c| {
        on(c);
    },
    |srv| async move {
        let u = srv.user("stay").await;
        let r = u.client.post_json("/email-otp/request-email-change", json!({"newEmail": "elsewhere@example.com"})).await;
        r.expect_status(400);
        assert_eq!(r.json(), &json!({"message": "Change email with OTP is disabled"}));
    }
);

both!(
    code_on_sign_up,
    config = |c| {
        on(c).send_verification_on_sign_up = true;
    },
    |srv| async move {
        let u = srv.user("fresh").await;
        let otp = code(&srv, &u.email, "email-verification").await;
        let r = srv.client().post_json("/email-otp/verify-email", json!({"email": u.email, "otp": otp})).await;
        r.expect_status(200);
        assert_eq!(r.json()["user"]["emailVerified"], true);
    }
);

both!(
    sends_are_rate_limited,
    config = |c| {
        on(c);
        c.rate_limit.enabled = Some(true);
    },
    |srv| async move {
        let c = srv.client();
        for _ in 0..3 {
            c.post_json("/email-otp/send-verification-otp", json!({"email": "flood@example.com", "type": "sign-in"}))
                .await
                .expect_status(200);
        }
        let r = c.post_json("/email-otp/send-verification-otp", json!({"email": "flood@example.com", "type": "sign-in"})).await;
        assert_eq!(r.status, 429);
        for _ in 0..3 {
            otp_sign_in(&c, "flood@example.com", "000000").await;
        }
        assert_eq!(otp_sign_in(&c, "flood@example.com", "000000").await.status, 429, "guesses are limited too");
    }
);

// `override_default_email_verification`: every verification e-mail is a code, not a link.
both!(
    verification_by_code_instead_of_link,
    config = |c| {
        let m = on(c);
        m.override_default_email_verification = true;
        m.send_verification_on_sign_up = true; // ignored with the override: one code, not two
        c.email_verification.send_on_sign_up = Some(true);
    },
    |srv| async move {
        let u = srv.user("coded").await;
        let otp = code(&srv, &u.email, "email-verification").await;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let kinds: Vec<Value> = srv.outbox(&u.email).await.iter().map(|m| m["kind"].clone()).collect();
        assert_eq!(kinds, [json!("email-otp:email-verification")], "a code and no link");
        let r = u.client.post_json("/email-otp/verify-email", json!({"email": u.email, "otp": otp})).await;
        r.expect_status(200);
        assert_eq!(r.json()["user"]["emailVerified"], true);

        // /send-verification-email sends a code too (to an unverified account).
        let other = srv.user("coded-too").await;
        let first = code(&srv, &other.email, "email-verification").await;
        let r = srv.client().post_json("/send-verification-email", json!({"email": other.email})).await;
        r.expect_status(200);
        assert_eq!(r.json(), &json!({"status": true}));
        let again = srv.wait_mail(&other.email, |m| m["kind"] == "email-otp:email-verification" && m["otp"] != json!(first)).await;
        assert!(srv.outbox(&other.email).await.iter().all(|m| m["kind"] != "verify-email"));
        let r = other.client.post_json("/email-otp/verify-email", json!({"email": other.email, "otp": again["otp"]})).await;
        r.expect_status(200);
    }
);
