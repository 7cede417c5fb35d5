//! The bearer capability over HTTP (spec plugins §6, core §14.4 and the §15.1 exchange).

use crate::both;
use crate::harness::*;
use std::sync::Arc;

fn bearer(v: &str) -> String {
    format!("Bearer {v}")
}

async fn session_user(srv: &Server, headers: &[(&str, &str)]) -> Option<String> {
    let r = srv.get("/get-session", headers).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["user"]["id"].as_str().map(str::to_string)
}

both!(set_auth_token_matches_the_cookie, |db: Arc<TestDb>| async move {
    let srv = Server::start(&db, |c| crate::common::bearer(c).enabled = true).await;
    let up = srv.sign_up("mobile").await;
    let header = up.header("set-auth-token").expect("set-auth-token on sign-up");
    let cookie = up.session_cookie().expect("cookie");
    let wire = cookie.strip_prefix("better-auth.session_token=").expect("name");
    assert_eq!(header, urlencoding_decode(wire), "the URL-decoded cookie value");
    let raw = up.json()["token"].as_str().expect("token").to_string();
    assert!(header.starts_with(&format!("{raw}.")) && header.ends_with('=') && header.len() == 32 + 1 + 44);
    let expose = up.header("access-control-expose-headers").expect("exposed");
    assert!(expose.split(',').any(|h| h.trim() == "set-auth-token"), "{expose}");

    // Sign-in too, and the header signs the same way the cookie does.
    let email = up.json()["user"]["email"].as_str().expect("email").to_string();
    let r = srv.post("/sign-in/email", serde_json::json!({"email": email, "password": PASSWORD}), &[("origin", &srv.origin)]).await;
    assert_eq!(r.status, 200);
    let cookie = r.session_cookie().expect("cookie");
    assert_eq!(r.header("set-auth-token").expect("header"), urlencoding_decode(cookie.split_once('=').expect("pair").1));
    // Sign-out expires the cookie: no header.
    let out = srv.post("/sign-out", serde_json::json!({}), &[("authorization", &bearer(&header))]).await;
    assert_eq!(out.status, 200, "{}", out.text);
    assert!(out.header("set-auth-token").is_none());
});

both!(bearer_authenticates, |db: Arc<TestDb>| async move {
    // Raw tokens are checked here too: they are an opt-in (`require_signature = false`).
    let srv = Server::start(&db, |c| {
        crate::common::bearer(c).enabled = true;
        crate::common::bearer(c).require_signature = false;
    })
    .await;
    let up = srv.sign_up("api").await;
    let id = up.json()["user"]["id"].as_str().expect("id").to_string();
    let raw = up.json()["token"].as_str().expect("token").to_string();
    let signed = up.header("set-auth-token").expect("header");
    let encoded = up.session_cookie().expect("cookie").split_once('=').expect("pair").1.to_string();

    assert_eq!(session_user(&srv, &[("authorization", &bearer(&raw))]).await.as_deref(), Some(id.as_str()), "raw token");
    assert_eq!(session_user(&srv, &[("authorization", &bearer(&signed))]).await.as_deref(), Some(id.as_str()), "signed");
    assert_eq!(session_user(&srv, &[("authorization", &bearer(&encoded))]).await.as_deref(), Some(id.as_str()), "URL-encoded");
    assert_eq!(session_user(&srv, &[("authorization", &format!("bEaReR {raw}"))]).await.as_deref(), Some(id.as_str()), "any case");

    // A tampered signature, a wrong token, other schemes and junk: no session, never a 5xx.
    let mut sig = signed.clone().into_bytes();
    let i = sig.len() - 5;
    sig[i] = if sig[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(sig).expect("ascii");
    for bad in [
        bearer(&tampered),
        bearer("x".repeat(32).as_str()),
        format!("Basic {raw}"),
        "Bearer".into(),
        "Bearer .".into(),
        "Bearer %zz.%".into(),
    ] {
        assert_eq!(session_user(&srv, &[("authorization", &bad)]).await, None, "{bad}");
    }
    // An invalid bearer token leaves a valid cookie alone.
    let cookie = up.session_cookie().expect("cookie");
    let r = srv.get("/get-session", &[("authorization", &bearer(&tampered)), ("cookie", &cookie), ("origin", &srv.origin)]).await;
    assert_eq!(r.json()["user"]["id"], id.as_str());

    // The origin check keys on cookies the client sent: a bearer-only POST without Origin passes.
    let r = srv.post("/revoke-other-sessions", serde_json::json!({}), &[("authorization", &bearer(&signed))]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // JWT and bearer together: the get-session answer carries the JWT for a bearer client.
    let both = Server::start(&db, |c| {
        crate::common::bearer(c).enabled = true;
        crate::common::jwt(c).enabled = true;
    })
    .await;
    let r = both.get("/get-session", &[("authorization", &bearer(&signed))]).await;
    let jwt = r.header("set-auth-jwt").expect("set-auth-jwt for a bearer session");
    verify_with_jwks(&both.jwks().await, &jwt, &both.origin).expect("verifies");
});

// Issue 12, item 4: a raw session token (the one list-sessions and sign-in bodies show) is not a
// credential by default; only the signed `set-auth-token` value is. Raw tokens are an opt-in.
both!(raw_tokens_are_refused_unless_opted_in, |db: Arc<TestDb>| async move {
    let srv = Server::start(&db, |c| crate::common::bearer(c).enabled = true).await;
    assert!(srv.config.section::<portcullis::plugins::bearer::BearerConfig>().require_signature, "signed tokens only, by default");
    let up = srv.sign_up("strict").await;
    let raw = up.json()["token"].as_str().expect("token").to_string();
    let signed = up.header("set-auth-token").expect("header");
    assert_eq!(session_user(&srv, &[("authorization", &bearer(&raw))]).await, None, "raw token refused by default");
    assert!(session_user(&srv, &[("authorization", &bearer(&signed))]).await.is_some());
    let r = srv.get("/list-sessions", &[("authorization", &bearer(&raw))]).await;
    assert_eq!(r.status, 401, "{}", r.text);

    let lax = Server::start(&db, |c| {
        crate::common::bearer(c).enabled = true;
        crate::common::bearer(c).require_signature = false;
    })
    .await;
    let id = up.json()["user"]["id"].as_str().expect("id").to_string();
    assert_eq!(session_user(&lax, &[("authorization", &bearer(&raw))]).await.as_deref(), Some(id.as_str()), "opted in");
    assert_eq!(session_user(&lax, &[("authorization", &bearer(&signed))]).await.as_deref(), Some(id.as_str()));
});

both!(off_by_default, |db: Arc<TestDb>| async move {
    let srv = Server::start(&db, |_| {}).await;
    let up = srv.sign_up("cookie-only").await;
    assert!(up.header("set-auth-token").is_none());
    let raw = up.json()["token"].as_str().expect("token").to_string();
    assert_eq!(session_user(&srv, &[("authorization", &bearer(&raw))]).await, None);
});

/// `decodeURIComponent` for the cookie alphabet (`%XX` escapes only).
fn urlencoding_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).expect("hex escape"));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf-8")
}
