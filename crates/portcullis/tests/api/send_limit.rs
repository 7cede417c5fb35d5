//! The limit on messages to one address (`rate_limit.per_address`): requests from many client
//! addresses, by every path that sends, put at most the limit into one inbox or phone, and no
//! answer changes (so the limit tells nobody which addresses have accounts).

use crate::harness::*;
use crate::two_factor::{sms_relay, App};
use portcullis::plugins::email_otp::config::EmailOtpConfig;
use portcullis::plugins::magic_link::config::MagicLinkConfig;
use portcullis::plugins::two_factor::config::{OtpSender, TwoFactorConfig};
use portcullis::Config;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

fn limited(c: &mut Config) {
    c.rate_limit.enabled = Some(true);
    c.rate_limit.per_address.max = 3;
    c.section_mut::<MagicLinkConfig>().unwrap().enabled = true;
    c.section_mut::<EmailOtpConfig>().unwrap().enabled = true;
}

/// A POST from client address `198.51.100.<n>` (the test client is a loopback proxy, trusted by
/// default), so the per-IP rules never stop it.
async fn post_from(client: &Client, n: usize, path: &str, body: &Value) -> Resp {
    client.req(Method::POST, path).header("x-forwarded-for", &format!("198.51.100.{n}")).json(body).send().await
}

/// Every sending path, for `email`.
fn sends(email: &str) -> [(&'static str, Value); 4] {
    [
        ("/request-password-reset", json!({"email": email, "redirectTo": "/reset"})),
        ("/sign-in/magic-link", json!({"email": email})),
        ("/email-otp/send-verification-otp", json!({"email": email, "type": "sign-in"})),
        ("/email-otp/request-password-reset", json!({"email": email})),
    ]
}

both!(one_inbox_gets_at_most_the_limit_from_any_number_of_clients, config = limited, |srv| async move {
    let victim = srv.user("flooded").await;
    let c = srv.client();
    let (mut seen, mut n) = (Vec::new(), 0);
    for round in 0..3 {
        for (path, body) in sends(&victim.email) {
            n += 1;
            let r = post_from(&c, n, path, &body).await;
            r.expect_status(200);
            if round == 0 {
                seen.push(r.text.clone());
            } else {
                assert_eq!(r.text, seen[(n - 1) % 4], "{path}: the answer beyond the limit is the answer within it");
            }
        }
    }
    // An address without an account gets the same answers, within and beyond its own limit.
    for round in 0..2 {
        for (i, (path, body)) in sends("nobody@example.com").into_iter().enumerate() {
            n += 1;
            let r = post_from(&c, n, path, &body).await;
            r.expect_status(200);
            assert_eq!(r.text, seen[i], "{path}, round {round}");
        }
    }
    // Another inbox has a budget of its own.
    let other = srv.user("bystander").await;
    post_from(&c, 200, "/request-password-reset", &sends(&other.email)[0].1).await.expect_status(200);
    srv.mail_of_kind(&other.email, "reset-password").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mails = srv.outbox(&victim.email).await;
    // One budget for every kind of message: 12 requests by 4 paths from 12 addresses, 3 mails.
    assert_eq!(mails.len(), 3, "{mails:?}");
    // The address is counted in whatever case it is written.
    post_from(&c, 201, "/sign-in/magic-link", &json!({"email": victim.email.to_uppercase()})).await.expect_status(200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(srv.outbox(&victim.email).await.len(), 3);
});

both!(
    limit_follows_configuration,
    config = |c| {
        limited(c);
        c.rate_limit.enabled = Some(false);
    },
    |srv| async move {
        // Rate limiting off turns the address limit off too, unless it is switched on by itself.
        let u = srv.user("unlimited").await;
        for _ in 0..5 {
            srv.client().post_json("/sign-in/magic-link", json!({"email": u.email})).await.expect_status(200);
        }
        for _ in 0..200 {
            if srv.outbox(&u.email).await.len() == 5 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("five links expected: {:?}", srv.outbox(&u.email).await);
    }
);

both!(
    the_address_limit_works_without_per_ip_limits,
    config = |c| {
        limited(c);
        c.rate_limit.enabled = Some(false);
        c.rate_limit.per_address.enabled = Some(true);
        c.rate_limit.per_address.max = 2;
    },
    |srv| async move {
        let u = srv.user("alone").await;
        for _ in 0..5 {
            srv.client().post_json("/sign-in/magic-link", json!({"email": u.email})).await.expect_status(200);
        }
        srv.mail_of_kind(&u.email, "magic-link").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(srv.outbox(&u.email).await.len(), 2);
    }
);

// Two-factor codes by text message count against the phone number.
#[tokio::test]
async fn a_phone_gets_at_most_the_limit_of_two_factor_codes() {
    let (url, got) = sms_relay().await;
    let srv = TestServer::start(Backend::Sqlite, |c| {
        c.rate_limit.enabled = Some(true);
        c.rate_limit.per_address.max = 2;
        let tf = c.section_mut::<TwoFactorConfig>().unwrap();
        tf.enabled = true;
        tf.otp.sender = OtpSender::Sms;
        tf.otp.webhook_url = Some(url);
        c.user.additional_fields = toml::from_str(r#"phoneNumber = { type = "string", required = false }"#).unwrap();
    })
    .await;
    let client = srv.client();
    let body = json!({"email": "phone@example.com", "password": PASSWORD, "name": "Phone", "phoneNumber": "+15550199"});
    client.post_json("/sign-up/email", body).await.expect_status(200);
    let en = client.post_json("/two-factor/enable", json!({"password": PASSWORD})).await;
    let app = App::from_uri(en.json()["totpURI"].as_str().unwrap());
    client.post_json("/two-factor/verify-totp", json!({"code": app.next()})).await.expect_status(200);

    let c = srv.client();
    let r = post_from(&c, 1, "/sign-in/email", &json!({"email": "phone@example.com", "password": PASSWORD})).await;
    assert_eq!(r.json()["twoFactorRedirect"], true);
    for n in 0..5 {
        post_from(&c, 10 + n, "/two-factor/send-otp", &json!({})).await.expect_status(200);
    }
    for _ in 0..200 {
        if got.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = got.lock().unwrap().clone();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent.iter().all(|s| s["to"] == "+15550199"));
}
