//! Passkeys (`@better-auth/passkey`, spec plugins §2) with a software authenticator
//! (tests/api/webauthn.rs): registration and sign-in with ES256 and Ed25519, the challenge bound
//! to the browser and used once, origins from configuration, cloned-authenticator counters, a row
//! written as Better Auth writes it, and the management endpoints.

use crate::harness::*;
use crate::webauthn::Authenticator;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use portcullis::plugins::passkey::PasskeyConfig;
use serde_json::{json, Value};

fn on(c: &mut portcullis::Config) {
    c.section_mut::<PasskeyConfig>().unwrap().enabled = true;
}

/// Registers `dev` for the signed-in `client`; returns the passkey row the server answered.
async fn register(client: &Client, dev: &mut Authenticator, name: &str) -> Value {
    let opts = client.get("/passkey/generate-register-options").await;
    opts.expect_status(200);
    let response = dev.create(opts.json());
    let r = client.post_json("/passkey/verify-registration", json!({"response": response, "name": name})).await;
    r.expect_status(200);
    r.json().clone()
}

/// A passkey sign-in from a fresh browser; returns that browser and the answer.
async fn sign_in(srv: &TestServer, dev: &mut Authenticator) -> (Client, Resp) {
    let browser = srv.client();
    let opts = browser.get("/passkey/generate-authenticate-options").await;
    opts.expect_status(200);
    let response = dev.get(opts.json());
    let r = browser.post_json("/passkey/verify-authentication", json!({"response": response})).await;
    (browser, r)
}

both!(register_then_sign_in_with_es256_and_ed25519, config = on, |srv| async move {
    let u = srv.user("pk").await;
    for (i, mut dev) in [Authenticator::es256(srv.origin()), Authenticator::ed25519(srv.origin())].into_iter().enumerate() {
        let row = register(&u.client, &mut dev, &format!("key {i}")).await;
        assert_eq!(row["userId"], u.id.as_str());
        assert_eq!(row["credentialID"], dev.id().as_str());
        assert_eq!(row["publicKey"], STANDARD.encode(dev.cose_key()).as_str(), "the COSE key as the authenticator encoded it");
        assert_eq!(
            (row["counter"].clone(), row["deviceType"].clone(), row["backedUp"].clone()),
            (json!(0), json!("singleDevice"), json!(false))
        );
        assert_eq!((row["transports"].clone(), row["aaguid"].clone()), (json!("internal"), json!("00000000-0000-0000-0000-000000000000")));
        let keys: Vec<&str> = row.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["name", "publicKey", "userId", "credentialID", "counter", "deviceType", "backedUp", "transports", "createdAt", "aaguid", "id"]
        );

        dev.counter = 1;
        let (browser, r) = sign_in(&srv, &mut dev).await;
        r.expect_status(200);
        assert_eq!(r.json()["user"]["id"], u.id.as_str());
        assert_eq!(r.json()["session"]["userId"], u.id.as_str());
        assert_eq!(browser.session().await["user"]["id"], u.id.as_str());
    }
    let list = u.client.get("/passkey/list-user-passkeys").await;
    list.expect_status(200);
    assert_eq!(list.json().as_array().map(Vec::len), Some(2));
    // The signed-in user's options list their passkeys; a stranger's are discoverable-only.
    let mine = u.client.get("/passkey/generate-authenticate-options").await;
    assert_eq!(mine.json()["allowCredentials"].as_array().map(Vec::len), Some(2));
    assert!(srv.client().get("/passkey/generate-authenticate-options").await.json().get("allowCredentials").is_none());
});

both!(a_challenge_is_used_once_and_only_by_its_ceremony, config = on, |srv| async move {
    let u = srv.user("pkonce").await;
    let mut dev = Authenticator::es256(srv.origin());
    let opts = u.client.get("/passkey/generate-register-options").await;
    let response = dev.create(opts.json());
    let body = json!({"response": response});
    u.client.post_json("/passkey/verify-registration", body.clone()).await.expect_status(200);
    u.client.post_json("/passkey/verify-registration", body).await.expect_error(400, "CHALLENGE_NOT_FOUND", "Challenge not found");

    // An authentication challenge is not a registration challenge, and the reverse.
    let mut other = Authenticator::es256(srv.origin());
    let auth_opts = u.client.get("/passkey/generate-authenticate-options").await;
    let mut reg_like = auth_opts.json().clone();
    reg_like["rp"] = json!({"id": auth_opts.json()["rpId"]});
    reg_like["user"] = json!({"id": "x"});
    let r = u.client.post_json("/passkey/verify-registration", json!({"response": other.create(&reg_like)})).await;
    r.expect_error(400, "CHALLENGE_NOT_FOUND", "Challenge not found");

    // The challenge is bound to the browser that asked for it: another browser has no cookie.
    dev.counter = 1;
    let opts = srv.client().get("/passkey/generate-authenticate-options").await;
    let response = dev.get(opts.json());
    let thief = srv.client();
    thief.post_json("/passkey/verify-authentication", json!({"response": response})).await.expect_error(
        400,
        "CHALLENGE_NOT_FOUND",
        "Challenge not found",
    );
});

both!(a_foreign_origin_is_refused, config = on, |srv| async move {
    let u = srv.user("pkorigin").await;
    let mut evil = Authenticator::es256("https://evil.example");
    let opts = u.client.get("/passkey/generate-register-options").await;
    let r = u.client.post_json("/passkey/verify-registration", json!({"response": evil.create(opts.json())})).await;
    r.expect_error(400, "FAILED_TO_VERIFY_REGISTRATION", "Failed to verify registration");

    let mut dev = Authenticator::es256(srv.origin());
    register(&u.client, &mut dev, "good").await;
    dev.origin = "https://evil.example".into();
    dev.counter = 1;
    let (_, r) = sign_in(&srv, &mut dev).await;
    r.expect_error(401, "AUTHENTICATION_FAILED", "Authentication failed");
});

both!(a_cloned_authenticator_is_refused, config = on, |srv| async move {
    let u = srv.user("pkclone").await;
    let mut dev = Authenticator::es256(srv.origin());
    register(&u.client, &mut dev, "phone").await;
    dev.counter = 5;
    sign_in(&srv, &mut dev).await.1.expect_status(200);
    // A copy of the key still at counter 3: the stored counter (5) says it is behind.
    dev.counter = 3;
    sign_in(&srv, &mut dev).await.1.expect_error(401, "AUTHENTICATION_FAILED", "Authentication failed");
    dev.counter = 5;
    sign_in(&srv, &mut dev).await.1.expect_error(401, "AUTHENTICATION_FAILED", "Authentication failed");
    dev.counter = 6;
    sign_in(&srv, &mut dev).await.1.expect_status(200);
    let stored = srv.sql_scalar("select cast(\"counter\" as text) from \"passkey\"").await;
    assert_eq!(stored.as_deref(), Some("6"));
});

both!(a_passkey_better_auth_stored_still_signs_in, config = on, |srv| async move {
    let u = srv.user("pkba").await;
    let mut dev = Authenticator::es256(srv.origin());
    dev.synced = true;
    // The row as @better-auth/passkey writes it (SimpleWebAuthn's formats), inserted directly.
    srv.sql(&format!(
        "insert into \"passkey\" (\"id\", \"name\", \"publicKey\", \"userId\", \"credentialID\", \"counter\", \"deviceType\", \"backedUp\", \"transports\", \"createdAt\", \"aaguid\") \
         values ('ba-passkey-1', 'From Better Auth', '{}', '{}', '{}', 7, 'multiDevice', true, 'internal,hybrid', {}, 'adce0002-35bc-c60a-648b-0b25f1f05503')",
        STANDARD.encode(dev.cose_key()),
        u.id,
        dev.id(),
        if srv.backend == Backend::Postgres { "now()" } else { "'2026-01-01T00:00:00.000Z'" },
    ))
    .await;
    dev.counter = 8;
    let (_, r) = sign_in(&srv, &mut dev).await;
    r.expect_status(200);
    assert_eq!(r.json()["user"]["id"], u.id.as_str());
    let list = u.client.get("/passkey/list-user-passkeys").await;
    let row = &list.json()[0];
    assert_eq!((row["id"].clone(), row["counter"].clone(), row["backedUp"].clone()), (json!("ba-passkey-1"), json!(8), json!(true)));
    assert_eq!(row["transports"], "internal,hybrid");
});

both!(rename_and_delete_belong_to_the_owner, config = on, |srv| async move {
    let u = srv.user("pkown").await;
    let other = srv.user("pkother").await;
    let mut dev = Authenticator::es256(srv.origin());
    let id = register(&u.client, &mut dev, "old").await["id"].as_str().unwrap().to_string();

    let r = other.client.post_json("/passkey/update-passkey", json!({"id": id, "name": "mine now"})).await;
    r.expect_error(401, "YOU_ARE_NOT_ALLOWED_TO_REGISTER_THIS_PASSKEY", "You are not allowed to register this passkey");
    other.client.post_json("/passkey/delete-passkey", json!({"id": id})).await.expect_status(401);
    u.client.post_json("/passkey/update-passkey", json!({"id": "nope", "name": "x"})).await.expect_error(
        404,
        "PASSKEY_NOT_FOUND",
        "Passkey not found",
    );

    let r = u.client.post_json("/passkey/update-passkey", json!({"id": id, "name": "  new  "})).await;
    r.expect_status(200);
    assert_eq!(r.json()["passkey"]["name"], "new");
    let r = u.client.post_json("/passkey/delete-passkey", json!({"id": id})).await;
    r.expect_status(200);
    assert_eq!(r.json(), &json!({"status": true}));
    assert_eq!(u.client.get("/passkey/list-user-passkeys").await.json(), &json!([]));
    dev.counter = 1;
    sign_in(&srv, &mut dev).await.1.expect_error(401, "PASSKEY_NOT_FOUND", "Passkey not found");
});

both!(registration_needs_a_session_and_the_plugin_is_opt_in, |srv| async move {
    // Off (the default): no route.
    srv.client().get("/passkey/generate-authenticate-options").await.expect_status(404);
});

both!(registration_needs_a_fresh_session, config = on, |srv| async move {
    srv.client().get("/passkey/generate-register-options").await.expect_status(401);
    srv.client().post_json("/passkey/verify-registration", json!({"response": {}})).await.expect_status(401);
    srv.client().post_json("/passkey/verify-registration", json!({})).await.expect_status(401);
    srv.client().post_raw("/passkey/verify-registration", "application/json", "[]").await.expect_status(400);
});
