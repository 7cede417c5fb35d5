//! The admin capability on social sign-in: a new social user gets the default role, and a banned
//! user's provider callback redirects to the error page with `error=BANNED_USER` and the message.

use super::sign_in;
use crate::harness::{query_param, Browser, Server};
use portcullis::plugins::admin::{config::AdminConfig, manage};

fn on(c: &mut portcullis::Config) {
    c.section_mut::<AdminConfig>().expect("[admin] parses").enabled = true;
}

crate::both!(a_banned_users_social_callback_redirects_with_banned_user, config = on, |srv: Server| async move {
    srv.idp.user("banme", Some("banme@example.com"), true);
    let mut b = Browser::new(&srv);
    sign_in(&srv, &mut b, "fake").await;
    assert!(b.has_session());
    let me = b.get(&srv.url("/get-session?disableCookieCache=true")).await;
    assert_eq!(me.body["user"]["role"], "user", "{}", me.body);

    manage::ban_user(&srv.auth, "banme@example.com", Some("abuse"), None).await.expect("ban");
    assert_eq!(b.get(&srv.url("/get-session?disableCookieCache=true")).await.body, serde_json::Value::Null, "sessions ended");
    let mut again = Browser::new(&srv);
    let r = sign_in(&srv, &mut again, "fake").await;
    assert_eq!(r.status, 302);
    let loc = r.location.clone().unwrap();
    assert_eq!(query_param(&loc, "error").as_deref(), Some("BANNED_USER"), "{loc}");
    assert_eq!(
        query_param(&loc, "error_description").as_deref(),
        Some("You have been banned from this application. Please contact support if you believe this is an error.")
    );
    assert!(!again.has_session());
    srv
});
