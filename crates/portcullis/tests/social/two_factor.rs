//! Two-factor on social sign-in, when the operator asks for it (`two_factor.intercept` with
//! `"social"`; Better Auth challenges only password sign-ins): the callback sends the browser to
//! `two_factor_page` with the challenge cookie instead of a session.

use super::sign_in;
use crate::harness::{Browser, Server};
use hmac::{Hmac, Mac};
use portcullis::plugins::two_factor::config::TwoFactorConfig;
use serde_json::json;

fn challenged_social(c: &mut portcullis::Config) {
    let tf = c.section_mut::<TwoFactorConfig>().expect("[two_factor] parses");
    tf.enabled = true;
    tf.allow_passwordless = true;
    tf.intercept = vec!["email".into(), "social".into()];
    tf.two_factor_page = Some("/two-factor".into());
}

/// The current TOTP code of an otpauth URI (RFC 6238, written independently of the server's).
fn totp(uri: &str) -> String {
    let b32 = uri.split("secret=").nth(1).unwrap().split('&').next().unwrap();
    let (mut buf, mut bits, mut key) = (0u32, 0, Vec::new());
    for c in b32.bytes() {
        buf = (buf << 5) | b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".iter().position(|&x| x == c).unwrap() as u32;
        bits += 5;
        if bits >= 8 {
            key.push((buf >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&key).unwrap();
    mac.update(&((chrono::Utc::now().timestamp() / 30) as u64).to_be_bytes());
    let h = mac.finalize().into_bytes();
    let o = (h[19] & 0xf) as usize;
    let bin = ((h[o] as u32 & 0x7f) << 24) | ((h[o + 1] as u32) << 16) | ((h[o + 2] as u32) << 8) | h[o + 3] as u32;
    format!("{:06}", bin % 1_000_000)
}

crate::both!(two_factor_challenges_social_sign_in_when_configured, config = challenged_social, |srv: Server| async move {
    srv.idp.user("tfa", Some("tfa@example.com"), true);
    let mut b = Browser::new(&srv);
    sign_in(&srv, &mut b, "fake").await;
    assert!(b.has_session(), "not enrolled yet: signed in");
    // No password: allow_passwordless lets a social user enrol.
    let en = b.post(&srv.url("/two-factor/enable"), json!({})).await;
    assert_eq!(en.status, 200, "{}", en.body);
    let uri = en.body["totpURI"].as_str().unwrap().to_string();
    let v = b.post(&srv.url("/two-factor/verify-totp"), json!({"code": totp(&uri)})).await;
    assert_eq!(v.status, 200, "{}", v.body);
    let me = b.get(&srv.url("/get-session?disableCookieCache=true")).await;
    assert_eq!(me.body["user"]["twoFactorEnabled"], true, "{}", me.body);

    let sessions = srv.count("session").await;
    let mut other = Browser::new(&srv);
    let r = sign_in(&srv, &mut other, "fake").await;
    assert_eq!(r.status, 302);
    assert_eq!(r.location.as_deref(), Some("/two-factor"));
    assert!(!other.has_session());
    assert!(other.jar.contains_key("better-auth.two_factor"));
    assert_eq!(srv.count("session").await, sessions, "no session before the second factor");
    let ok = other.post(&srv.url("/two-factor/verify-totp"), json!({"code": totp(&uri)})).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(other.has_session());
    srv
});

/// `required_for_roles = ["admin"]`, the default `intercept` (password sign-ins only).
fn required_for_admins(c: &mut portcullis::Config) {
    c.section_mut::<portcullis::plugins::admin::config::AdminConfig>().expect("[admin] parses").enabled = true;
    let tf = c.section_mut::<TwoFactorConfig>().expect("[two_factor] parses");
    tf.enabled = true;
    tf.allow_passwordless = true;
    tf.required_for_roles = vec!["admin".into()];
    tf.setup_page = Some("/setup-2fa".into());
    tf.two_factor_page = Some("/two-factor".into());
}

crate::both!(two_factor_required_for_roles, config = required_for_admins, |srv: Server| async move {
    use portcullis::plugins::admin::manage::set_role;
    // A plain user is unaffected: a social sign-in (not intercepted by default) gets a session.
    srv.idp.user("plain", Some("plain@example.com"), true);
    let mut p = Browser::new(&srv);
    let r = sign_in(&srv, &mut p, "fake").await;
    assert_eq!(r.location.as_deref(), Some("/welcome"));
    assert!(p.has_session());

    // An admin without two-factor: no session, sent to the setup page with the enrolment cookie.
    srv.idp.user("boss", Some("boss@example.com"), true);
    let mut first = Browser::new(&srv);
    sign_in(&srv, &mut first, "fake").await;
    set_role(&srv.auth, "boss@example.com", "admin").await.unwrap();
    let sessions = srv.count("session").await;
    let mut b = Browser::new(&srv);
    let r = sign_in(&srv, &mut b, "fake").await;
    assert_eq!(r.location.as_deref(), Some("/setup-2fa"));
    assert!(!b.has_session());
    assert!(b.jar.contains_key("better-auth.two_factor"));
    assert_eq!(srv.count("session").await, sessions, "no session before enrolment");
    // The enrolment cookie is no session: the rest of the API does not know the user.
    assert_eq!(b.get(&srv.url("/get-session")).await.body, serde_json::Value::Null);
    assert_eq!(b.post(&srv.url("/two-factor/enable"), json!({})).await.status, 200, "enrol with the cookie alone");
    let mut anon = Browser::new(&srv);
    assert_eq!(anon.post(&srv.url("/two-factor/enable"), json!({})).await.status, 401);
    // A fresh enable (a second call replaces the unverified secret), then its first code: a session.
    let en = b.post(&srv.url("/two-factor/enable"), json!({})).await;
    let uri = en.body["totpURI"].as_str().unwrap().to_string();
    let backup = en.body["backupCodes"][0].as_str().unwrap().to_string();
    let early = b.post(&srv.url("/two-factor/verify-backup-code"), json!({"code": backup})).await;
    assert_ne!(early.status, 200, "a backup code of an unverified secret does not enrol: {}", early.body);
    let ok = b.post(&srv.url("/two-factor/verify-totp"), json!({"code": totp(&uri)})).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(b.has_session());
    let me = b.get(&srv.url("/get-session?disableCookieCache=true")).await;
    assert_eq!((me.body["user"]["role"].as_str(), me.body["user"]["twoFactorEnabled"].as_bool()), (Some("admin"), Some(true)));
    // While the role holds, two-factor cannot be turned off.
    let off = b.post(&srv.url("/two-factor/disable"), json!({})).await;
    assert_eq!((off.status, off.body["code"].as_str()), (400, Some("TWO_FACTOR_REQUIRED_FOR_ROLE")));

    // An admin with two-factor: challenged on the social path, which is not intercepted by default.
    let mut again = Browser::new(&srv);
    let r = sign_in(&srv, &mut again, "fake").await;
    assert_eq!(r.location.as_deref(), Some("/two-factor"));
    assert!(!again.has_session());
    let ok = again.post(&srv.url("/two-factor/verify-totp"), json!({"code": totp(&uri), "trustDevice": true})).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(again.has_session());
    // A trusted device does not skip the required challenge.
    again.jar.remove("better-auth.session_token");
    again.jar.remove("better-auth.session_data");
    let r = sign_in(&srv, &mut again, "fake").await;
    assert_eq!(r.location.as_deref(), Some("/two-factor"));

    // A password sign-in of an admin without two-factor answers the enrolment challenge as JSON.
    let mut pw = Browser::new(&srv);
    let up =
        pw.post(&srv.url("/sign-up/email"), json!({"name": "Ann", "email": "ann@example.com", "password": "correct-horse-battery"})).await;
    assert_eq!(up.status, 200, "{}", up.body);
    set_role(&srv.auth, "ann@example.com", "admin").await.unwrap();
    let mut pw = Browser::new(&srv);
    let r = pw.post(&srv.url("/sign-in/email"), json!({"email": "ann@example.com", "password": "correct-horse-battery"})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({"twoFactorRedirect": true, "twoFactorMethods": [], "twoFactorSetupRequired": true, "url": "/setup-2fa"}));
    assert!(!pw.has_session());
    srv
});
