//! `advanced.cross_sub_domain_cookies`, `advanced.default_cookie_attributes` and
//! `advanced.cookies` on the wire (spec §4.2): what Set-Cookie carries when cookies are set, and
//! that deletions carry the same attributes (a browser keeps a `Domain` cookie otherwise).

use portcullis::config::{CookieAttributes, CookieOverride, SameSite};
use serde_json::json;

const TOKEN: &str = "better-auth.session_token";
const DATA: &str = "better-auth.session_data";
const DONT_REMEMBER: &str = "better-auth.dont_remember";

fn cross_subdomain(c: &mut portcullis::Config) {
    c.advanced.cross_sub_domain_cookies.enabled = true;
    c.advanced.cross_sub_domain_cookies.domain = Some(".example.test".into());
    c.session.cookie_cache.enabled = true;
}

both!(cross_subdomain_cookies_are_set_and_deleted_with_the_domain, config = cross_subdomain, |srv| async move {
    let u = srv.user("sub").await;
    let r = srv.client().post_json("/sign-in/email", json!({"email": u.email, "password": u.password, "rememberMe": false})).await;
    r.expect_status(200);
    let token = r.cookie_line(TOKEN).expect("session cookie");
    assert!(token.ends_with("; Domain=.example.test; Path=/; HttpOnly; SameSite=Lax"), "{token}");
    for name in [DATA, DONT_REMEMBER] {
        let line = r.cookie_line(name).unwrap_or_else(|| panic!("{name} set: {:?}", r.set_cookies));
        assert!(line.contains("; Domain=.example.test; Path=/"), "{line}");
    }
    // The session works, and sign-out deletes every cookie with the same Domain.
    let r = u.client.post_empty("/sign-out").await;
    r.expect_status(200);
    for name in [TOKEN, DATA, DONT_REMEMBER] {
        assert_eq!(
            r.cookie_line(name),
            Some(format!("{name}=; Max-Age=0; Domain=.example.test; Path=/; HttpOnly; SameSite=Lax").as_str()),
            "{:?}",
            r.set_cookies
        );
    }
    assert_eq!(u.client.session().await, serde_json::Value::Null);
});

both!(
    cross_subdomain_domain_defaults_to_the_base_url_host,
    config = |c| c.advanced.cross_sub_domain_cookies.enabled = true,
    |srv| async move {
        let u = srv.user("host").await;
        let r = srv.client().post_json("/sign-in/email", json!({"email": u.email, "password": u.password})).await;
        let line = r.cookie_line(TOKEN).expect("session cookie");
        assert!(line.contains("; Max-Age=604800; Domain=127.0.0.1; Path=/; HttpOnly; SameSite=Lax"), "{line}");
    }
);

fn attributes(c: &mut portcullis::Config) {
    c.advanced.default_cookie_attributes =
        CookieAttributes { same_site: Some(SameSite::None), partitioned: Some(true), max_age: Some(1000), ..Default::default() };
    c.advanced.cookies.insert(
        "session_token".into(),
        CookieOverride {
            name: Some("sid".into()),
            attributes: CookieAttributes { same_site: Some(SameSite::Strict), ..Default::default() },
        },
    );
}

both!(default_and_per_cookie_attributes_reach_set_cookie, config = attributes, |srv| async move {
    let u = srv.user("attrs").await;
    let c = srv.client();
    let r = c.post_json("/sign-in/email", json!({"email": u.email, "password": u.password, "rememberMe": false})).await;
    r.expect_status(200);
    // The renamed session cookie: its own SameSite, the defaults' Partitioned (and the Secure it
    // forces); no Max-Age without "remember me", whatever the defaults say.
    let sid = r.cookie_line("sid").unwrap_or_else(|| panic!("renamed session cookie: {:?}", r.set_cookies)).to_string();
    assert!(sid.ends_with("; Path=/; HttpOnly; Secure; SameSite=Strict; Partitioned"), "{sid}");
    assert!(!sid.contains("Max-Age"), "{sid}");
    assert!(r.cookie_line(TOKEN).is_none(), "{:?}", r.set_cookies);
    // A cookie without a Max-Age of its own takes the defaults' (`dont_remember`).
    let dr = r.cookie_line(DONT_REMEMBER).expect("dont_remember").to_string();
    assert!(dr.ends_with("; Max-Age=1000; Path=/; HttpOnly; Secure; SameSite=None; Partitioned"), "{dr}");
    // The renamed cookie is the one read back.
    assert_eq!(c.session().await["user"]["id"], u.id.as_str());
    let r = c.post_empty("/sign-out").await;
    r.expect_status(200);
    assert_eq!(r.cookie_line("sid"), Some("sid=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Strict; Partitioned"));
    assert_eq!(
        r.cookie_line(DONT_REMEMBER),
        Some(format!("{DONT_REMEMBER}=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=None; Partitioned").as_str())
    );
});
