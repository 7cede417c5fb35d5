//! `change-password`, the password reset flow, and Better Auth scrypt hashes (spec §2.2, §8, §10.2, §15.2).

use crate::harness::*;
use chrono::{Duration, Utc};
use serde_json::{json, Value};

const COOKIE: &str = "better-auth.session_token";
const RESET_MESSAGE: &str = "If this email exists in our system, check your email for the reset link";
/// Spec §15.2: scrypt of "password123" with salt "0123456789abcdef0123456789abcdef".
const SCRYPT_HASH: &str = "0123456789abcdef0123456789abcdef:e8b256b6f9f4b1641136a66d4a26ba41a47b6c8c9bad6aa4145559ffda45ece1f0f16dec8482a3e5545feada0ba62f2b05eeb943b750c9396874e1762c78d27d";

async fn sign_in_status(srv: &TestServer, email: &str, password: &str) -> u16 {
    srv.client().post_json("/sign-in/email", json!({"email": email, "password": password})).await.status
}

/// Requests a reset for `email` and returns the e-mailed token (of a new e-mail: the answer comes
/// before the e-mail is written).
async fn reset_token(srv: &TestServer, email: &str) -> String {
    let before: Vec<Value> = srv.outbox(email).await.into_iter().map(|m| m["token"].clone()).collect();
    let r = srv.client().post_json("/request-password-reset", json!({"email": email, "redirectTo": "/reset"})).await;
    r.expect_status(200);
    let mail = srv.wait_mail(email, |m| m["kind"] == "reset-password" && !before.contains(&m["token"])).await;
    mail["token"].as_str().expect("token in the outbox").to_string()
}

both!(change_password_checks_current_password, |srv| async move {
    let u = srv.user("erin").await;
    let other = srv.sign_in(&u.email, &u.password).await;
    let r =
        u.client.post_json("/change-password", json!({"currentPassword": "not-the-password", "newPassword": "brand-new-password-1"})).await;
    r.expect_error(400, "INVALID_PASSWORD", "Invalid password");
    let r = u.client.post_json("/change-password", json!({"currentPassword": u.password, "newPassword": "short"})).await;
    r.expect_error(400, "PASSWORD_TOO_SHORT", "Password too short");
    let r = u.client.post_json("/change-password", json!({"currentPassword": u.password, "newPassword": "x".repeat(129)})).await;
    r.expect_error(400, "PASSWORD_TOO_LONG", "Password too long");

    let r = u.client.post_json("/change-password", json!({"currentPassword": u.password, "newPassword": "brand-new-password-1"})).await;
    r.expect_status(200);
    assert_eq!(key_order(&r.text), ["token", "user"]);
    assert_eq!(r.json()["token"], Value::Null);
    assert_user_shape(&r.json()["user"]);
    assert!(other.session_from_db().await.is_object(), "other sessions survive without revokeOtherSessions");
    assert_eq!(sign_in_status(&srv, &u.email, &u.password).await, 401);
    assert_eq!(sign_in_status(&srv, &u.email, "brand-new-password-1").await, 200);
    srv.client().post_json("/change-password", json!({"currentPassword": "a", "newPassword": "brand-new-password-2"})).await.expect_error(
        401,
        "UNAUTHORIZED",
        "Unauthorized",
    );
});

both!(change_password_can_revoke_other_sessions, |srv| async move {
    let u = srv.user("frank").await;
    let other = srv.sign_in(&u.email, &u.password).await;
    let old_cookie = u.client.fork();
    let r = u
        .client
        .post_json(
            "/change-password",
            json!({"currentPassword": u.password, "newPassword": "brand-new-password-1", "revokeOtherSessions": true}),
        )
        .await;
    r.expect_status(200);
    let token = r.json()["token"].as_str().expect("a new token").to_string();
    assert!(is_id(&r.json()["token"]));
    assert_ne!(token, u.token);
    let line = r.cookie_line(COOKIE).expect("new session cookie");
    assert!(line.starts_with(&format!("{COOKIE}={token}.")), "{line}");
    assert_eq!(u.client.session().await["session"]["token"], token.as_str(), "the changing client stays signed in");
    assert_eq!(other.session_from_db().await, Value::Null);
    assert_eq!(old_cookie.session_from_db().await, Value::Null, "the previous session is gone too");
    assert_eq!(srv.count(&format!(r#"select count(*) from "session" where "userId" = '{}'"#, u.id)).await, 1);
});

both!(request_password_reset_answers_the_same, |srv| async move {
    let u = srv.user("known").await;
    let a = srv.client().post_json("/request-password-reset", json!({"email": u.email, "redirectTo": "/reset"})).await;
    let b = srv.client().post_json("/request-password-reset", json!({"email": "ghost@example.com", "redirectTo": "/reset"})).await;
    a.expect_status(200);
    b.expect_status(200);
    assert_eq!(a.json(), &json!({"status": true, "message": RESET_MESSAGE}));
    assert_eq!(a.text, b.text);

    let mail = srv.mail_of_kind(&u.email, "reset-password").await;
    let token = mail["token"].as_str().unwrap();
    assert_eq!(token.len(), 24, "generateId(24)");
    assert!(token.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(mail["url"], format!("{}/reset-password/{token}?callbackURL=%2Freset", srv.auth_url()));
    let q = format!(r#"select "value" from "verification" where "identifier" = 'reset-password:{token}'"#);
    assert_eq!(srv.sql_scalar(&q).await.as_deref(), Some(u.id.as_str()));

    // Without redirectTo the link ends in an empty callbackURL.
    srv.client().post_json("/request-password-reset", json!({"email": u.email})).await.expect_status(200);
    let mail = srv.wait_mail(&u.email, |m| m["kind"] == "reset-password" && m["token"] != token).await;
    assert!(mail["url"].as_str().unwrap().ends_with("?callbackURL="), "{mail}");

    let r = srv.client().post_json("/request-password-reset", json!({"email": u.email, "redirectTo": "https://evil.example/x"})).await;
    r.expect_error(403, "INVALID_REDIRECT_URL", "Invalid redirectURL");
    srv.client().post_json("/request-password-reset", json!({"email": "nope"})).await.expect_code(400, "VALIDATION_ERROR");
});

/// A connection of its own holding the lock a reset request's token row needs, until released.
/// PostgreSQL: an exclusive lock on the verification table. SQLite locks the whole file, not a
/// table, so there it is the database's write lock (`BEGIN IMMEDIATE`): the server's insert waits
/// in its busy handler (10 s) while reads go on (WAL).
enum HeldLock {
    Postgres(sqlx::PgConnection),
    Sqlite(sqlx::SqliteConnection),
}

impl HeldLock {
    async fn take(srv: &TestServer) -> HeldLock {
        use sqlx::{Connection, Executor};
        let url = &srv.config.database_url;
        match srv.backend {
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
                c.execute(r#"BEGIN; LOCK TABLE "verification" IN ACCESS EXCLUSIVE MODE"#).await.expect("lock the table");
                HeldLock::Postgres(c)
            }
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(url).await.expect("connect");
                c.execute("BEGIN IMMEDIATE").await.expect("take the write lock");
                HeldLock::Sqlite(c)
            }
        }
    }

    async fn release(self) {
        use sqlx::Executor;
        match self {
            HeldLock::Postgres(mut c) => c.execute("COMMIT").await.map(|_| ()),
            HeldLock::Sqlite(mut c) => c.execute("COMMIT").await.map(|_| ()),
        }
        .expect("release the lock");
    }
}

both!(reset_request_answers_before_its_database_work, |srv| async move {
    // Unknown and known addresses must cost the same: the answer may not wait for the token row
    // (or the e-mail) that only a known address gets.
    let u = srv.user("locked").await;
    let held = HeldLock::take(&srv).await;
    let c = srv.client();
    // Not a timing measurement: without the fix the request waits as long as the lock is held.
    let answered =
        tokio::time::timeout(std::time::Duration::from_secs(5), c.post_json("/request-password-reset", json!({"email": u.email}))).await;
    let mailed_while_locked = srv.outbox(&u.email).await.into_iter().any(|m| m["kind"] == "reset-password");
    held.release().await;
    let r = answered.expect("the reset request is answered while its token row cannot be written");
    r.expect_status(200);
    assert_eq!(r.json(), &json!({"status": true, "message": RESET_MESSAGE}));
    assert!(!mailed_while_locked, "the lock held the work back");
    // Once the lock is gone the work completes: the e-mail arrives and its token works.
    let mail = srv.mail_of_kind(&u.email, "reset-password").await;
    let token = mail["token"].as_str().expect("a token");
    let r = srv.client().post_json("/reset-password", json!({"token": token, "newPassword": "after-the-lock-1"})).await;
    r.expect_status(200);
    srv.sign_in(&u.email, "after-the-lock-1").await;
});

/// An SMTP server that accepts connections and never says a word: every send waits for its
/// greeting until the command timeout (30 s). Its task ends with the test's runtime.
fn stalled_smtp() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("local addr").port();
    listener.set_nonblocking(true).expect("non-blocking");
    let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    port
}

/// More than the background bound (128) of reset requests while the mail server stalls.
const FLOOD: i64 = 140;

both!(
    reset_requests_get_their_token_while_the_mail_server_stalls,
    config = |c| c.mail.smtp_url = Some(format!("smtp+plain://127.0.0.1:{}", stalled_smtp())),
    |srv| async move {
        // Each request's look-up and token row take a background slot; when the slot was held
        // through the e-mail, a stalled server kept all of them for 30 s and every later request
        // was dropped: no token row, no e-mail, nothing the user could see.
        let u = srv.user("stalled").await;
        let c = srv.client();
        for _ in 0..FLOOD {
            c.post_json("/request-password-reset", json!({"email": u.email})).await.expect_status(200);
        }
        let rows = r#"select count(*) from "verification" where "identifier" like 'reset-password:%'"#;
        let mut written = 0;
        for _ in 0..200 {
            written = srv.count(rows).await;
            if written == FLOOD {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(written, FLOOD, "every request's token row is written while the e-mails wait for the server");
    }
);

both!(reset_link_redirects_with_token, |srv| async move {
    let u = srv.user("link").await;
    let token = reset_token(&srv, &u.email).await;
    let c = srv.client();
    let r = c.get(&format!("/reset-password/{token}?callbackURL={}", enc("/reset"))).await;
    r.expect_status(302);
    assert_eq!(r.header("location"), Some(format!("{}/reset?token={token}", srv.origin()).as_str()));
    assert_eq!(r.text, "");
    // The GET does not consume the token.
    let again = c.get(&format!("/reset-password/{token}?callbackURL={}", enc("/reset"))).await;
    assert_eq!(again.header("location"), r.header("location"));

    let bad = c.get(&format!("/reset-password/nope?callbackURL={}", enc("/reset"))).await;
    bad.expect_status(302);
    assert_eq!(bad.header("location"), Some(format!("{}/reset?error=INVALID_TOKEN", srv.origin()).as_str()));

    let missing = c.get(&format!("/reset-password/{token}")).await;
    missing.expect_error(400, "VALIDATION_ERROR", "[query.callbackURL] Invalid input: expected string, received undefined");

    let evil = c.get(&format!("/reset-password/{token}?callbackURL={}", enc("https://evil.example/reset"))).await;
    evil.expect_error(403, "INVALID_CALLBACK_URL", "Invalid callbackURL");
    let evil = c.get(&format!("/reset-password/{token}?callbackURL={}", enc("//evil.example/reset"))).await;
    evil.expect_code(403, "INVALID_CALLBACK_URL");

    // An expired token redirects with the error.
    let past = Utc::now() - Duration::minutes(1);
    srv.sql(&format!(r#"update "verification" set "expiresAt" = {} where "identifier" = 'reset-password:{token}'"#, ts(past))).await;
    let r = c.get(&format!("/reset-password/{token}?callbackURL={}", enc("/reset"))).await;
    assert_eq!(r.header("location"), Some(format!("{}/reset?error=INVALID_TOKEN", srv.origin()).as_str()));
});

both!(reset_password_works_once, |srv| async move {
    let u = srv.user("reset").await;
    let token = reset_token(&srv, &u.email).await;
    // A too-short password does not consume the token.
    let r = srv.client().post_json("/reset-password", json!({"newPassword": "short", "token": token})).await;
    r.expect_error(400, "PASSWORD_TOO_SHORT", "Password too short");

    let r = srv.client().post_json("/reset-password", json!({"newPassword": "after-reset-password-1", "token": token})).await;
    r.expect_status(200);
    assert_eq!(r.json(), &json!({"status": true}));
    assert_eq!(sign_in_status(&srv, &u.email, &u.password).await, 401);
    assert_eq!(sign_in_status(&srv, &u.email, "after-reset-password-1").await, 200);
    assert!(u.client.session_from_db().await.is_object(), "sessions survive unless configured otherwise");

    let again = srv.client().post_json("/reset-password", json!({"newPassword": "another-password-2", "token": token})).await;
    again.expect_error(400, "INVALID_TOKEN", "Invalid token");
    assert_eq!(sign_in_status(&srv, &u.email, "another-password-2").await, 401);

    srv.client().post_json("/reset-password", json!({"newPassword": "another-password-2"})).await.expect_error(
        400,
        "INVALID_TOKEN",
        "Invalid token",
    );
    srv.client()
        .post_json("/reset-password", json!({"newPassword": "another-password-2", "token": "made-up"}))
        .await
        .expect_code(400, "INVALID_TOKEN");

    // The token may come in the query string instead.
    let token = reset_token(&srv, &u.email).await;
    let r = srv.client().post_json(&format!("/reset-password?token={token}"), json!({"newPassword": "query-token-password"})).await;
    r.expect_status(200);
    assert_eq!(sign_in_status(&srv, &u.email, "query-token-password").await, 200);
});

both!(expired_reset_token_is_invalid, |srv| async move {
    let u = srv.user("late").await;
    let token = reset_token(&srv, &u.email).await;
    let past = Utc::now() - Duration::seconds(1);
    srv.sql(&format!(r#"update "verification" set "expiresAt" = {} where "identifier" = 'reset-password:{token}'"#, ts(past))).await;
    let r = srv.client().post_json("/reset-password", json!({"newPassword": "after-reset-password-1", "token": token})).await;
    r.expect_error(400, "INVALID_TOKEN", "Invalid token");
    assert_eq!(sign_in_status(&srv, &u.email, &u.password).await, 200);
});

both!(reset_can_revoke_sessions, config = |c| c.email_and_password.revoke_sessions_on_password_reset = true, |srv| async move {
    let u = srv.user("revoke").await;
    let token = reset_token(&srv, &u.email).await;
    srv.client().post_json("/reset-password", json!({"newPassword": "after-reset-password-1", "token": token})).await.expect_status(200);
    assert_eq!(u.client.session_from_db().await, Value::Null);
});

both!(reset_disabled, config = |c| c.email_and_password.reset_password_enabled = false, |srv| async move {
    let r = srv.client().post_json("/request-password-reset", json!({"email": "a@example.com"})).await;
    r.expect_error(400, "RESET_PASSWORD_DISABLED", "Reset password isn't enabled");
});

both!(better_auth_scrypt_hash_signs_in_and_is_upgraded, |srv| async move {
    let u = srv.user("legacy").await;
    let n = srv
        .sql(&format!(r#"update "account" set "password" = '{SCRYPT_HASH}' where "userId" = '{}' and "providerId" = 'credential'"#, u.id))
        .await;
    assert_eq!(n, 1);
    assert_eq!(sign_in_status(&srv, &u.email, "wrong-password-1").await, 401, "a wrong password against scrypt");
    assert_eq!(sign_in_status(&srv, &u.email, &u.password).await, 401, "the old argon2 password is gone");
    assert_eq!(sign_in_status(&srv, &u.email, "password123").await, 200);

    // The hash is upgraded to argon2id in the background.
    let h = wait_for_argon2(&srv, &u.id).await;
    assert!(h.contains("m=1024"), "current parameters: {h}");
    assert_eq!(sign_in_status(&srv, &u.email, "password123").await, 200);
    assert_eq!(sign_in_status(&srv, &u.email, "password124").await, 401);
});

both!(scrypt_hash_works_for_password_checks, |srv| async move {
    // change-password against a Better Auth hash; the background upgrade of the *old* password
    // must never overwrite the new one (repeated, since it is a race).
    let u = srv.user("legacy2").await;
    for i in 0..5 {
        srv.sql(&format!(r#"update "account" set "password" = '{SCRYPT_HASH}' where "userId" = '{}'"#, u.id)).await;
        let new = format!("brand-new-password-{i}");
        let r = u.client.post_json("/change-password", json!({"currentPassword": "password123", "newPassword": new})).await;
        r.expect_status(200);
        assert_eq!(sign_in_status(&srv, &u.email, &new).await, 200, "round {i}: the new password works");
        assert_eq!(sign_in_status(&srv, &u.email, "password123").await, 401, "round {i}: the old password is gone");
        assert_eq!(sign_in_status(&srv, &u.email, &new).await, 200, "round {i}: and stays gone");
    }
});

both!(unreadable_stored_hash_is_not_a_500, |srv| async move {
    let u = srv.user("broken").await;
    for bad in ["garbage", "abc:", ":def", "$argon2id$v=19$broken", ""] {
        srv.sql(&format!(r#"update "account" set "password" = '{bad}' where "userId" = '{}'"#, u.id)).await;
        let r = srv.client().post_json("/sign-in/email", json!({"email": u.email, "password": u.password})).await;
        r.expect_error(401, "INVALID_EMAIL_OR_PASSWORD", "Invalid email or password");
        let r = u.client.post_json("/change-password", json!({"currentPassword": u.password, "newPassword": "brand-new-password-1"})).await;
        assert!(r.status == 400, "hash {bad:?}: {} {}", r.status, r.text);
    }
});

both!(scrypt_hash_normalises_passwords_with_nfkc, |srv| async move {
    // Spec §15.2: full-width "Ａｂｃ１２３４５" and "Abc12345" give the same hash.
    const NFKC_HASH: &str = "fedcba9876543210fedcba9876543210:75c0346d527b16e3afd6d4f06723c87d56ee32f0f05f6f4010d0530b7960c323015723057d4c40ae5664b8339cacf53a2c34fdff7e9523918c2c8e414ad575db";
    let u = srv.user("nfkc").await;
    srv.sql(&format!(r#"update "account" set "password" = '{NFKC_HASH}' where "userId" = '{}'"#, u.id)).await;
    assert_eq!(sign_in_status(&srv, &u.email, "Ａｂｃ１２３４５").await, 200);
    // After the background upgrade both spellings must still work (§8: passwords are NFKC-normalised).
    wait_for_argon2(&srv, &u.id).await;
    assert_eq!(sign_in_status(&srv, &u.email, "Abc12345").await, 200, "ASCII spelling after the upgrade");
    assert_eq!(sign_in_status(&srv, &u.email, "Ａｂｃ１２３４５").await, 200, "full-width spelling after the upgrade");
    assert_eq!(sign_in_status(&srv, &u.email, "abc12345").await, 401);
});

both!(new_passwords_are_nfkc_normalised, |srv| async move {
    let c = srv.client();
    sign_up(&c, "fw@example.com", "Ｐａｓｓｗｏｒｄ１２３", "FW").await;
    assert_eq!(sign_in_status(&srv, "fw@example.com", "Ｐａｓｓｗｏｒｄ１２３").await, 200);
    assert_eq!(sign_in_status(&srv, "fw@example.com", "Password123").await, 200, "NFKC-equivalent spelling");
});

/// Polls until the user's stored hash is argon2id (the upgrade runs in the background).
async fn wait_for_argon2(srv: &TestServer, user_id: &str) -> String {
    let q = format!(r#"select "password" from "account" where "userId" = '{user_id}'"#);
    for _ in 0..200 {
        let h = srv.sql_scalar(&q).await.unwrap_or_default();
        if h.starts_with("$argon2id$") {
            return h;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the hash of {user_id} was not upgraded to argon2id");
}
