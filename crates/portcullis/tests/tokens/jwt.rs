//! The jwt capability over HTTP: /jwks, /token, set-auth-jwt, algorithms, rotation, instances.

use crate::both;
use crate::harness::*;
use std::sync::Arc;

/// `Cookie` header value for a sign-up answer.
fn cookie_of(r: &Resp) -> String {
    r.session_cookie().expect("sign-up sets the session cookie")
}

async fn token_of(srv: &Server, cookie: &str) -> String {
    let r = srv.get("/token", &[("cookie", cookie)]).await;
    assert_eq!(r.status, 200, "/token: {}", r.text);
    r.json()["token"].as_str().expect("token").to_string()
}

both!(off_by_default, |db: Arc<TestDb>| async move {
    let srv = Server::start(&db, |_| {}).await;
    assert_eq!(srv.get("/jwks", &[]).await.status, 404);
    let up = srv.sign_up("ada").await;
    let cookie = cookie_of(&up);
    assert_eq!(srv.get("/token", &[("cookie", &cookie)]).await.status, 404);
    let r = srv.get("/get-session", &[("cookie", &cookie)]).await;
    assert_eq!(r.status, 200);
    assert!(r.header("set-auth-jwt").is_none());
    assert!(r.header("set-auth-token").is_none());
});

both!(jwks_shape_and_stored_key, |db: Arc<TestDb>| async move {
    let srv = Server::jwt(&db, |_| {}).await;
    let set = srv.jwks().await;
    let keys = set["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1, "{set}");
    let k = keys[0].as_object().expect("a key");
    assert_eq!(k["alg"], "EdDSA");
    assert_eq!(k["crv"], "Ed25519");
    assert_eq!(k["kty"], "OKP");
    assert_eq!(k["x"].as_str().expect("x").len(), 43);
    assert_eq!(k["kid"].as_str().expect("kid").len(), 32);
    let mut members: Vec<&str> = k.keys().map(String::as_str).collect();
    members.sort_unstable();
    assert_eq!(members, ["alg", "crv", "kid", "kty", "x"], "only public members");
    // Made once: the second read serves the same key.
    assert_eq!(srv.jwks().await, set);
    // Stored as Better Auth does: the private JWK encrypted, as a quoted JSON string.
    let rows = db.jwks_rows().await;
    assert_eq!(rows.len(), 1);
    let (private, alg, crv) = &rows[0];
    let sealed: String = serde_json::from_str(private).expect("privateKey is a JSON string");
    assert!(sealed.len() > 100 && sealed.bytes().all(|b| b.is_ascii_hexdigit()), "hex ciphertext");
    assert_eq!((alg.as_deref(), crv.as_deref()), (Some("EdDSA"), Some("Ed25519")));
});

both!(token_verifies_with_jwks, |db: Arc<TestDb>| async move {
    let srv = Server::jwt(&db, |_| {}).await;
    let up = srv.sign_up("grace").await;
    let user = up.json()["user"].clone();
    let cookie = cookie_of(&up);
    let token = token_of(&srv, &cookie).await;
    let header = jwt_header(&token);
    assert_eq!(header.as_object().expect("header").len(), 2, "only alg and kid: {header}");
    assert_eq!(header["alg"], "EdDSA");
    let claims = verify_with_jwks(&srv.jwks().await, &token, &srv.origin).expect("the token verifies");
    assert_eq!(claims["sub"], user["id"]);
    assert_eq!(claims["iss"], srv.origin.as_str());
    assert_eq!(claims["aud"], srv.origin.as_str());
    for field in ["id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt"] {
        assert_eq!(claims[field], user[field], "{field}");
    }
    let (iat, exp) = (claims["iat"].as_i64().expect("iat"), claims["exp"].as_i64().expect("exp"));
    assert_eq!(exp - iat, 900, "15 minutes by default");
    // Without a session: 401.
    assert_eq!(srv.get("/token", &[]).await.status, 401);
    // A token for another audience does not verify.
    assert!(verify_with_jwks(&srv.jwks().await, &token, "https://elsewhere.example").is_err());
});

both!(set_auth_jwt_on_get_session, |db: Arc<TestDb>| async move {
    let srv = Server::jwt(&db, |_| {}).await;
    let up = srv.sign_up("linus").await;
    let cookie = cookie_of(&up);
    let r = srv.get("/get-session", &[("cookie", &cookie)]).await;
    assert_eq!(r.status, 200);
    let body = r.json();
    let jwt = r.header("set-auth-jwt").expect("set-auth-jwt");
    let claims = verify_with_jwks(&srv.jwks().await, &jwt, &srv.origin).expect("verifies");
    assert_eq!(claims["sub"], body["user"]["id"]);
    assert_eq!(claims["email"], body["user"]["email"]);
    let expose = r.header("access-control-expose-headers").expect("exposed");
    assert!(expose.split(',').any(|h| h.trim() == "set-auth-jwt"), "{expose}");
    // Signed out: no header.
    let anon = srv.get("/get-session", &[]).await;
    assert_eq!(anon.text, "null");
    assert!(anon.header("set-auth-jwt").is_none());
    // Turned off by configuration.
    let quiet = Server::jwt(&db, |c| crate::common::jwt(c).disable_setting_jwt_header = true).await;
    let r = quiet.get("/get-session", &[("cookie", &cookie)]).await;
    assert_eq!(r.status, 200);
    assert!(r.header("set-auth-jwt").is_none());
});

async fn algorithm_case(db: Arc<TestDb>, alg: portcullis::plugins::jwt::keys::Alg, kty: &str, crv: Option<&str>) {
    let srv = Server::jwt(&db, |c| crate::common::jwt(c).algorithm = alg).await;
    let up = srv.sign_up("alg").await;
    let token = token_of(&srv, &cookie_of(&up)).await;
    assert_eq!(jwt_header(&token)["alg"], alg.as_str());
    let set = srv.jwks().await;
    let key = &set["keys"][0];
    assert_eq!(key["alg"], alg.as_str());
    assert_eq!(key["kty"], kty);
    assert_eq!(key["crv"].as_str(), crv);
    assert!(key.get("d").is_none() && key.get("p").is_none(), "no private members: {key}");
    verify_with_jwks(&set, &token, &srv.origin).expect("verifies");
}

both!(es256, |db: Arc<TestDb>| async move {
    algorithm_case(db, portcullis::plugins::jwt::keys::Alg::ES256, "EC", Some("P-256")).await;
});

both!(rs256, |db: Arc<TestDb>| async move {
    algorithm_case(db, portcullis::plugins::jwt::keys::Alg::RS256, "RSA", None).await;
});

both!(plain_private_keys_when_encryption_is_off, |db: Arc<TestDb>| async move {
    let srv = Server::jwt(&db, |c| crate::common::jwt(c).disable_private_key_encryption = true).await;
    let up = srv.sign_up("plain").await;
    let token = token_of(&srv, &cookie_of(&up)).await;
    verify_with_jwks(&srv.jwks().await, &token, &srv.origin).expect("verifies");
    let rows = db.jwks_rows().await;
    let jwk: serde_json::Value = serde_json::from_str(&rows[0].0).expect("a plain JWK");
    assert_eq!(jwk["kty"], "OKP");
    assert!(jwk["d"].is_string());
});

both!(rotation_with_grace_period, |db: Arc<TestDb>| async move {
    // key_cache_seconds = 0: every signature re-reads the table, so the SQL edits below are seen
    // at once (the default caches the key for 60 s).
    let srv = Server::jwt(&db, |c| {
        crate::common::jwt(c).rotation_interval = Some(3600);
        crate::common::jwt(c).grace_period = 7200;
        crate::common::jwt(c).key_cache_seconds = 0;
    })
    .await;
    let up = srv.sign_up("rot").await;
    let cookie = cookie_of(&up);
    let old = token_of(&srv, &cookie).await;
    let old_kid = jwt_header(&old)["kid"].as_str().expect("kid").to_string();
    // Same key while it is live.
    assert_eq!(jwt_header(&token_of(&srv, &cookie).await)["kid"], old_kid.as_str());

    // The key expired a minute ago: new tokens use a new key, the old one is still published.
    db.set_key_expiry(&old_kid, -60).await;
    let new = token_of(&srv, &cookie).await;
    let new_kid = jwt_header(&new)["kid"].as_str().expect("kid").to_string();
    assert_ne!(new_kid, old_kid);
    let set = srv.jwks().await;
    assert_eq!(set["keys"].as_array().expect("keys").len(), 2);
    verify_with_jwks(&set, &old, &srv.origin).expect("old token verifies during the grace period");
    verify_with_jwks(&set, &new, &srv.origin).expect("new token verifies");
    // get-session's header follows the new key too.
    let r = srv.get("/get-session", &[("cookie", &cookie)]).await;
    assert_eq!(jwt_header(&r.header("set-auth-jwt").expect("header"))["kid"], new_kid.as_str());

    // Grace over (expired 3 h ago, grace 2 h): the old key is gone, its tokens verify no more.
    db.set_key_expiry(&old_kid, -3 * 3600).await;
    let set = srv.jwks().await;
    let kids: Vec<&str> = set["keys"].as_array().expect("keys").iter().filter_map(|k| k["kid"].as_str()).collect();
    assert_eq!(kids, [new_kid.as_str()]);
    assert!(verify_with_jwks(&set, &old, &srv.origin).is_err());
    verify_with_jwks(&set, &new, &srv.origin).expect("new token still verifies");
});

both!(signing_key_is_cached, |db: Arc<TestDb>| async move {
    // With the default cache, an expiry written behind the server's back is only seen after the
    // cache interval; within it, tokens keep their kid (no table read per token).
    let srv = Server::jwt(&db, |c| crate::common::jwt(c).rotation_interval = Some(3600)).await;
    let up = srv.sign_up("cache").await;
    let cookie = cookie_of(&up);
    let first = jwt_header(&token_of(&srv, &cookie).await)["kid"].as_str().expect("kid").to_string();
    db.set_key_expiry(&first, -60).await;
    let again = jwt_header(&token_of(&srv, &cookie).await)["kid"].as_str().expect("kid").to_string();
    assert_eq!(again, first, "served from the in-memory key");
    // A fresh instance reads the table and rotates.
    let other = Server::jwt(&db, |c| crate::common::jwt(c).rotation_interval = Some(3600)).await;
    let rotated = jwt_header(&token_of(&other, &cookie).await)["kid"].as_str().expect("kid").to_string();
    assert_ne!(rotated, first);
});

#[tokio::test]
async fn two_instances_share_keys_postgres() {
    let db = TestDb::new(Backend::Postgres).await;
    let a = Server::jwt(&db, |_| {}).await;
    // Both instances issue tokens for the same issuer (a load-balanced deployment).
    let b = Server::jwt(&db, |c| {
        crate::common::jwt(c).issuer = Some(a.origin.clone());
        crate::common::jwt(c).audience = Some(a.origin.clone());
    })
    .await;
    let up = a.sign_up("shared").await;
    let cookie = cookie_of(&up);
    let from_a = token_of(&a, &cookie).await;
    verify_with_jwks(&b.jwks().await, &from_a, &a.origin).expect("A's token verifies with B's JWKS");
    // The session made on A works on B, and B signs with the same key.
    let from_b = token_of(&b, &cookie).await;
    assert_eq!(jwt_header(&from_b)["kid"], jwt_header(&from_a)["kid"]);
    verify_with_jwks(&a.jwks().await, &from_b, &a.origin).expect("B's token verifies with A's JWKS");
    assert_eq!(a.jwks().await, b.jwks().await);
}
