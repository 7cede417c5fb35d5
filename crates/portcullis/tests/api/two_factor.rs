//! Two-factor authentication (Better Auth's `twoFactor()`, spec plugins §1): enrolment, the
//! sign-in challenge, TOTP, backup codes, e-mailed codes, trusted devices, attempt caps, the
//! account lockout, and rows written the way Better Auth writes them.

use crate::harness::*;
use hmac::{Hmac, Mac};
use portcullis::crypto::symmetric::Keys;
use portcullis::plugins::two_factor::config::{OtpSender, TwoFactorConfig};
use portcullis::Config;
use serde_json::{json, Value};

const TWO_FACTOR: &str = "better-auth.two_factor";
const TRUST: &str = "better-auth.trust_device";
const SESSION: &str = "better-auth.session_token";

fn on(c: &mut Config) {
    let tf = c.section_mut::<TwoFactorConfig>().expect("[two_factor] parses");
    tf.enabled = true;
    tf.otp.sender = OtpSender::Email;
}

/// RFC 4226 HOTP, written here independently of the server's.
fn hotp(key: &[u8], counter: u64) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).unwrap();
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let o = (h[19] & 0xf) as usize;
    let bin = ((h[o] as u32 & 0x7f) << 24) | ((h[o + 1] as u32) << 16) | ((h[o + 2] as u32) << 8) | h[o + 3] as u32;
    format!("{:06}", bin % 1_000_000)
}

fn base32_decode(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut buf, mut bits, mut out) = (0u32, 0, Vec::new());
    for c in s.bytes() {
        buf = (buf << 5) | A.iter().position(|&x| x == c).expect("base32") as u32;
        bits += 5;
        if bits >= 8 {
            out.push((buf >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    out
}

/// An authenticator app: the key of an otpauth URI.
pub struct App {
    key: Vec<u8>,
}

impl App {
    pub fn from_uri(uri: &str) -> App {
        let secret = uri.split("secret=").nth(1).unwrap().split('&').next().unwrap();
        App { key: base32_decode(secret) }
    }
    fn step() -> i64 {
        chrono::Utc::now().timestamp() / 30
    }
    /// The current step's code (valid while the server's clock is within a step of ours).
    pub fn next(&self) -> String {
        hotp(&self.key, Self::step() as u64)
    }
    /// A code valid for no nearby step.
    fn wrong(&self) -> String {
        let near: Vec<String> = (-3..=3).map(|d| hotp(&self.key, (Self::step() + d) as u64)).collect();
        (0..).map(|i| format!("{:06}", (123_457 * i + 7) % 1_000_000)).find(|c| !near.contains(c)).unwrap()
    }
}

struct Enrolled {
    user: SignedUp,
    app: App,
    backup: Vec<String>,
}

/// A user with TOTP enrolled and verified.
async fn enrolled(srv: &TestServer, name: &str) -> Enrolled {
    let user = srv.user(name).await;
    let r = user.client.post_json("/two-factor/enable", json!({"password": user.password})).await;
    r.expect_status(200);
    let app = App::from_uri(r.json()["totpURI"].as_str().unwrap());
    let backup: Vec<String> = r.json()["backupCodes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
    user.client.post_json("/two-factor/verify-totp", json!({"code": app.next()})).await.expect_status(200);
    Enrolled { user, app, backup }
}

/// A password sign-in on a new client, expected to be challenged.
async fn challenged(srv: &TestServer, u: &SignedUp) -> (Client, Resp) {
    let c = srv.client();
    let r = c.post_json("/sign-in/email", json!({"email": u.email, "password": u.password})).await;
    r.expect_status(200);
    assert_eq!(r.json()["twoFactorRedirect"], true, "{}", r.text);
    (c, r)
}

async fn sessions_of(srv: &TestServer, user_id: &str) -> i64 {
    srv.count(&format!(r#"select count(*) from "session" where "userId" = '{user_id}'"#)).await
}

both!(two_factor_lifecycle, config = on, |srv| async move {
    let u = srv.user("life").await;
    u.client.post_json("/two-factor/enable", json!({"password": "wrong-password-1"})).await.expect_error(
        400,
        "INVALID_PASSWORD",
        "Invalid password",
    );
    u.client.post_json("/two-factor/enable", json!({})).await.expect_code(400, "VALIDATION_ERROR");
    let r = u.client.post_json("/two-factor/enable", json!({"password": u.password})).await;
    r.expect_status(200);
    let uri = r.json()["totpURI"].as_str().unwrap();
    let app_name = &srv.config.app_name;
    assert!(uri.starts_with(&format!("otpauth://totp/{app_name}:{}?secret=", u.email.replace('@', "%40"))), "{uri}");
    assert!(uri.ends_with(&format!("&issuer={app_name}&digits=6&period=30")), "{uri}");
    assert_eq!(r.json()["method"], "totp");
    assert_eq!(r.json()["backupCodes"].as_array().unwrap().len(), 10);
    let app = App::from_uri(uri);
    assert_eq!(app.key.len(), 32, "the key is the 32 characters of the secret");
    assert_eq!(u.client.session_from_db().await["user"]["twoFactorEnabled"], false);

    // Not enrolled until a first code: no challenge yet.
    let plain = srv.client().post_json("/sign-in/email", json!({"email": u.email, "password": u.password})).await;
    assert!(plain.json()["token"].is_string(), "{}", plain.text);
    // The same URI again; a wrong code does not enrol.
    let again = u.client.post_json("/two-factor/get-totp-uri", json!({"password": u.password})).await;
    assert_eq!(again.json()["totpURI"], uri);
    u.client.post_json("/two-factor/verify-totp", json!({"code": app.wrong()})).await.expect_error(401, "INVALID_CODE", "Invalid code");
    let ok = u.client.post_json("/two-factor/verify-totp", json!({"code": app.next()})).await;
    ok.expect_status(200);
    assert_eq!(ok.json()["user"]["id"], u.id.as_str());
    assert!(ok.cookie_value(SESSION).is_some_and(|v| !v.is_empty()), "the session is rotated");
    assert_eq!(u.client.session_from_db().await["user"]["twoFactorEnabled"], true);
    // Enabling again is refused once verified.
    u.client.post_json("/two-factor/enable", json!({"password": u.password})).await.expect_code(400, "TOTP_ALREADY_ENABLED");

    // Sign-in: a challenge, no session, no session row.
    let before = sessions_of(&srv, &u.id).await;
    let (c, r) = challenged(&srv, &u).await;
    assert_eq!(r.json(), &json!({"twoFactorRedirect": true, "twoFactorMethods": ["totp", "otp"]}));
    assert!(r.deletes_cookie(SESSION));
    assert!(c.cookie(TWO_FACTOR).is_some());
    let line = r.cookie_line(TWO_FACTOR).unwrap();
    assert!(line.contains("; Max-Age=600; Path=/; HttpOnly; SameSite=Lax"), "{line}");
    assert_eq!(sessions_of(&srv, &u.id).await, before, "no session before the second factor");
    assert_eq!(c.session().await, Value::Null);

    c.post_json("/two-factor/verify-totp", json!({"code": app.wrong()})).await.expect_error(401, "INVALID_CODE", "Invalid code");
    let ok = c.post_json("/two-factor/verify-totp", json!({"code": app.next()})).await;
    ok.expect_status(200);
    assert_eq!(ok.json()["user"]["email"], u.email.as_str());
    assert!(ok.deletes_cookie(TWO_FACTOR));
    let s = c.session_from_db().await;
    assert_eq!(s["session"]["token"], ok.json()["token"]);
    assert_eq!(s["user"]["twoFactorEnabled"], true);
    // The challenge is spent: its cookie replayed is refused.
    let replay = srv.client();
    replay.set_cookie(TWO_FACTOR, &r.cookie_value(TWO_FACTOR).unwrap());
    replay.post_json("/two-factor/verify-totp", json!({"code": app.next()})).await.expect_error(
        401,
        "INVALID_TWO_FACTOR_COOKIE",
        "Invalid two factor cookie",
    );

    // Disable: off, row gone, sign-in is plain again.
    u.client.post_json("/two-factor/disable", json!({"password": "wrong-password-1"})).await.expect_code(400, "INVALID_PASSWORD");
    let d = c.post_json("/two-factor/disable", json!({"password": u.password})).await;
    assert_eq!(d.json(), &json!({"status": true}));
    assert_eq!(c.session_from_db().await["user"]["twoFactorEnabled"], false);
    assert_eq!(srv.count(&format!(r#"select count(*) from "twoFactor" where "userId" = '{}'"#, u.id)).await, 0);
    let plain = srv.client().post_json("/sign-in/email", json!({"email": u.email, "password": u.password})).await;
    assert!(plain.json()["token"].is_string(), "{}", plain.text);
});

both!(two_factor_backup_codes_are_single_use, config = on, |srv| async move {
    let e = enrolled(&srv, "backup").await;
    let (c, _) = challenged(&srv, &e.user).await;
    let ok = c.post_json("/two-factor/verify-backup-code", json!({"code": e.backup[3]})).await;
    ok.expect_status(200);
    assert_eq!(ok.json()["user"]["id"], e.user.id.as_str());
    assert_eq!(c.session_from_db().await["user"]["id"], e.user.id.as_str());

    let (c2, _) = challenged(&srv, &e.user).await;
    c2.post_json("/two-factor/verify-backup-code", json!({"code": e.backup[3]})).await.expect_error(
        401,
        "INVALID_BACKUP_CODE",
        "Invalid backup code",
    );
    c2.post_json("/two-factor/verify-backup-code", json!({"code": e.backup[4].to_uppercase()}))
        .await
        .expect_code(401, "INVALID_BACKUP_CODE");
    c2.post_json("/two-factor/verify-backup-code", json!({"code": e.backup[4]})).await.expect_status(200);

    // New codes replace the old ones.
    let fresh = e.user.client.post_json("/two-factor/generate-backup-codes", json!({"password": e.user.password})).await;
    fresh.expect_status(200);
    assert_eq!(fresh.json()["status"], true);
    let (c3, _) = challenged(&srv, &e.user).await;
    c3.post_json("/two-factor/verify-backup-code", json!({"code": e.backup[5]})).await.expect_code(401, "INVALID_BACKUP_CODE");
    c3.post_json("/two-factor/verify-backup-code", json!({"code": fresh.json()["backupCodes"][0]})).await.expect_status(200);
});

both!(two_factor_trusted_device_skips_the_challenge, config = on, |srv| async move {
    let e = enrolled(&srv, "trust").await;
    let (c, _) = challenged(&srv, &e.user).await;
    let ok = c.post_json("/two-factor/verify-totp", json!({"code": e.app.next(), "trustDevice": true})).await;
    ok.expect_status(200);
    let first = c.cookie(TRUST).expect("trust_device cookie");
    assert!(ok.cookie_line(TRUST).unwrap().contains("; Max-Age=2592000; Path=/; HttpOnly; SameSite=Lax"));
    let rows = r#"select count(*) from "verification" where "identifier" like 'trust-device-%'"#;
    assert_eq!(srv.count(rows).await, 1);

    // The same browser signs in without a challenge; the record rotates.
    c.post_empty("/sign-out").await.expect_status(200);
    let r = c.post_json("/sign-in/email", json!({"email": e.user.email, "password": e.user.password})).await;
    r.expect_status(200);
    assert!(r.json()["token"].is_string(), "{}", r.text);
    let second = c.cookie(TRUST).expect("rotated cookie");
    assert_ne!(first, second);
    assert_eq!(srv.count(rows).await, 1, "the old record is gone");
    // The old cookie no longer counts; a new browser is challenged.
    let stale = srv.client();
    stale.set_cookie(TRUST, &first);
    let r = stale.post_json("/sign-in/email", json!({"email": e.user.email, "password": e.user.password})).await;
    assert_eq!(r.json()["twoFactorRedirect"], true);
    assert!(r.deletes_cookie(TRUST), "an invalid trust cookie is expired");
    challenged(&srv, &e.user).await;
    // Another user cannot use it.
    let other = enrolled(&srv, "trust-other").await;
    let thief = srv.client();
    thief.set_cookie(TRUST, &second);
    let r = thief.post_json("/sign-in/email", json!({"email": other.user.email, "password": other.user.password})).await;
    assert_eq!(r.json()["twoFactorRedirect"], true);
});

both!(two_factor_attempts_per_challenge, config = on, |srv| async move {
    let e = enrolled(&srv, "attempts").await;
    let (c, _) = challenged(&srv, &e.user).await;
    for _ in 0..5 {
        c.post_json("/two-factor/verify-totp", json!({"code": e.app.wrong()})).await.expect_code(401, "INVALID_CODE");
    }
    let r = c.post_json("/two-factor/verify-totp", json!({"code": e.app.wrong()})).await;
    r.expect_error(400, "TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE", "Too many attempts. Please request a new code.");
    assert!(r.deletes_cookie(TWO_FACTOR));
    let r = c.post_json("/two-factor/verify-backup-code", json!({"code": e.backup[0]})).await;
    r.expect_code(401, "INVALID_TWO_FACTOR_COOKIE");
    // Without any cookie.
    srv.client().post_json("/two-factor/verify-totp", json!({"code": "123456"})).await.expect_code(401, "INVALID_TWO_FACTOR_COOKIE");
});

both!(two_factor_account_lockout, config = on, |srv| async move {
    let e = enrolled(&srv, "lockout").await;
    // 10 failures over two challenges lock the account.
    for _ in 0..2 {
        let (c, _) = challenged(&srv, &e.user).await;
        for _ in 0..5 {
            c.post_json("/two-factor/verify-backup-code", json!({"code": "nope0-nope0"})).await.expect_code(401, "INVALID_BACKUP_CODE");
        }
    }
    let (c, _) = challenged(&srv, &e.user).await;
    let r = c.post_json("/two-factor/verify-totp", json!({"code": e.app.next()})).await;
    r.expect_error(
        429,
        "ACCOUNT_TEMPORARILY_LOCKED",
        "Too many failed verification attempts. Your account is temporarily locked. Please try again later.",
    );
    c.post_json("/two-factor/verify-backup-code", json!({"code": e.backup[0]})).await.expect_code(429, "ACCOUNT_TEMPORARILY_LOCKED");
    // The lock expires (15 minutes, moved to the past here); success resets the count.
    srv.sql(&format!(r#"update "twoFactor" set "lockedUntil" = '2000-01-01T00:00:00.000Z' where "userId" = '{}'"#, e.user.id)).await;
    c.post_json("/two-factor/verify-totp", json!({"code": e.app.next()})).await.expect_status(200);
    let count = srv.sql_scalar(&format!(r#"select "failedVerificationCount" from "twoFactor" where "userId" = '{}'"#, e.user.id)).await;
    assert_eq!(count.as_deref(), Some("0"));
});

both!(two_factor_code_by_email, config = on, |srv| async move {
    let e = enrolled(&srv, "otp").await;
    let (c, _) = challenged(&srv, &e.user).await;
    let sent = c.post_empty("/two-factor/send-otp").await;
    assert_eq!(sent.json(), &json!({"status": true}));
    let mail = srv.mail_of_kind(&e.user.email, "two-factor-otp").await;
    let otp = mail["otp"].as_str().unwrap().to_string();
    assert_eq!(otp.len(), 6);
    assert!(mail["text"].as_str().unwrap().contains(&otp));
    let wrong = if otp == "000000" { "000001" } else { "000000" };
    c.post_json("/two-factor/verify-otp", json!({"code": wrong})).await.expect_error(401, "INVALID_CODE", "Invalid code");
    let ok = c.post_json("/two-factor/verify-otp", json!({"code": otp})).await;
    ok.expect_status(200);
    assert_eq!(c.session_from_db().await["user"]["id"], e.user.id.as_str());
    // Used once.
    let (c2, _) = challenged(&srv, &e.user).await;
    c2.post_json("/two-factor/verify-otp", json!({"code": otp})).await.expect_error(400, "OTP_HAS_EXPIRED", "OTP has expired");
    // Five wrong codes spend it.
    c2.post_empty("/two-factor/send-otp").await.expect_status(200);
    for _ in 0..5 {
        c2.post_json("/two-factor/verify-otp", json!({"code": "abcdef"})).await.expect_code(401, "INVALID_CODE");
    }
    c2.post_json("/two-factor/verify-otp", json!({"code": "abcdef"})).await.expect_code(400, "TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE");
});

both!(
    two_factor_without_otp_sender,
    config = |c| {
        c.section_mut::<TwoFactorConfig>().unwrap().enabled = true;
    },
    |srv| async move {
        let e = enrolled(&srv, "nootp").await;
        let (c, r) = challenged(&srv, &e.user).await;
        assert_eq!(r.json()["twoFactorMethods"], json!(["totp"]));
        c.post_empty("/two-factor/send-otp").await.expect_error(400, "OTP_NOT_CONFIGURED", "otp isn't configured");
        e.user.client.post_json("/two-factor/enable", json!({"password": e.user.password, "method": "otp"})).await.expect_error(
            400,
            "OTP_NOT_CONFIGURED",
            "OTP is not available",
        );
        e.user.client.post_json("/two-factor/enable", json!({"password": e.user.password, "method": "sms"})).await.expect_error(
            400,
            "VALIDATION_ERROR",
            r#"[body.method] Invalid option: expected one of "otp"|"totp""#,
        );
    }
);

both!(two_factor_dont_remember_is_kept, config = on, |srv| async move {
    let e = enrolled(&srv, "remember").await;
    let c = srv.client();
    let r = c.post_json("/sign-in/email", json!({"email": e.user.email, "password": e.user.password, "rememberMe": false})).await;
    assert_eq!(r.json()["twoFactorRedirect"], true);
    assert!(c.cookie("better-auth.dont_remember").is_some());
    let ok = c.post_json("/two-factor/verify-totp", json!({"code": e.app.next()})).await;
    ok.expect_status(200);
    let line = ok.cookie_line(SESSION).unwrap();
    assert!(!line.contains("Max-Age"), "a browser-session cookie: {line}");
    let s = c.session_from_db().await;
    let expires = chrono::DateTime::parse_from_rfc3339(s["session"]["expiresAt"].as_str().unwrap()).unwrap();
    let hours = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours();
    assert!((23..=24).contains(&hours), "a one-day session: {hours} h");
});

both!(two_factor_row_written_by_better_auth_verifies, config = on, |srv| async move {
    let u = srv.user("imported").await;
    // The row as Better Auth writes it: symmetricEncrypt(secret) and the encrypted JSON codes.
    let keys = Keys::single(SECRET);
    let secret = "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6";
    let codes = json!(["abcde-12345", "fghij-67890"]).to_string();
    srv.sql(&format!(
        r#"insert into "twoFactor" ("id", "secret", "backupCodes", "userId", "verified") values ('tf1', '{}', '{}', '{}', null)"#,
        keys.encrypt(secret),
        keys.encrypt(&codes),
        u.id
    ))
    .await;
    let t = if srv.backend == Backend::Sqlite { "1" } else { "true" };
    srv.sql(&format!(r#"update "user" set "twoFactorEnabled" = {t} where "id" = '{}'"#, u.id)).await;

    let (c, r) = challenged(&srv, &u).await;
    assert_eq!(r.json()["twoFactorMethods"], json!(["totp", "otp"]), "verified NULL counts as verified");
    let code = hotp(secret.as_bytes(), (chrono::Utc::now().timestamp() / 30) as u64);
    c.post_json("/two-factor/verify-totp", json!({"code": code})).await.expect_status(200);
    let (c2, _) = challenged(&srv, &u).await;
    c2.post_json("/two-factor/verify-backup-code", json!({"code": "fghij-67890"})).await.expect_status(200);
    // The remaining codes are stored the same way.
    let stored = srv.sql_scalar(&format!(r#"select "backupCodes" from "twoFactor" where "userId" = '{}'"#, u.id)).await.unwrap();
    assert_eq!(keys.decrypt(&stored).unwrap(), json!(["abcde-12345"]).to_string());
    // And the URI carries the same secret.
    let uri = u.client.post_json("/two-factor/get-totp-uri", json!({"password": u.password})).await;
    assert_eq!(App::from_uri(uri.json()["totpURI"].as_str().unwrap()).key, secret.as_bytes());
});

both!(
    two_factor_intercept_option,
    config = |c| {
        on(c);
        c.section_mut::<TwoFactorConfig>().unwrap().intercept = vec![];
    },
    |srv| async move {
        let e = enrolled(&srv, "nointercept").await;
        let r = srv.client().post_json("/sign-in/email", json!({"email": e.user.email, "password": e.user.password})).await;
        assert!(r.json()["token"].is_string(), "not intercepted: {}", r.text);
    }
);

/// A webhook relay on a loopback port: every body it receives.
pub async fn sms_relay() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use axum::routing::post;
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/sms",
        post(move |axum::Json(v): axum::Json<Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(v);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sms", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

#[tokio::test]
async fn two_factor_code_by_sms_webhook() {
    let (url, got) = sms_relay().await;
    let srv = TestServer::start(Backend::Sqlite, |c| {
        let tf = c.section_mut::<TwoFactorConfig>().unwrap();
        tf.enabled = true;
        tf.otp.sender = OtpSender::Sms;
        tf.otp.webhook_url = Some(url);
        c.user.additional_fields = toml::from_str(r#"phoneNumber = { type = "string", required = false }"#).unwrap();
    })
    .await;
    let client = srv.client();
    let r = client
        .post_json("/sign-up/email", json!({"email": "sms@example.com", "password": PASSWORD, "name": "Sms", "phoneNumber": "+15550100"}))
        .await;
    r.expect_status(200);
    let user_id = r.json()["user"]["id"].as_str().unwrap().to_string();
    let en = client.post_json("/two-factor/enable", json!({"password": PASSWORD})).await;
    let app = App::from_uri(en.json()["totpURI"].as_str().unwrap());
    client.post_json("/two-factor/verify-totp", json!({"code": app.next()})).await.expect_status(200);

    let c = srv.client();
    let r = c.post_json("/sign-in/email", json!({"email": "sms@example.com", "password": PASSWORD})).await;
    assert_eq!(r.json()["twoFactorMethods"], json!(["totp", "otp"]));
    c.post_empty("/two-factor/send-otp").await.expect_status(200);
    let mut sent = None;
    for _ in 0..200 {
        if let Some(v) = got.lock().unwrap().first().cloned() {
            sent = Some(v);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let sent = sent.expect("the webhook got the code");
    assert_eq!(sent["to"], "+15550100");
    assert_eq!(sent["userId"], user_id.as_str());
    let otp = sent["otp"].as_str().unwrap();
    c.post_json("/two-factor/verify-otp", json!({"code": otp})).await.expect_status(200);
    assert_eq!(c.session_from_db().await["user"]["id"], user_id.as_str());
}
