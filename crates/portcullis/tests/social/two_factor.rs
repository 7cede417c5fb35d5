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
