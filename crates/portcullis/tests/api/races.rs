//! Concurrent requests that must not double-apply or fail with 500 (spec §2.2, §10.2).

use crate::harness::*;
use serde_json::json;

both!(concurrent_sign_ups_with_one_email, |srv| async move {
    let (a, b, c, d) = (srv.client(), srv.client(), srv.client(), srv.client());
    let body = json!({"name": "Race", "email": "race@example.com", "password": PASSWORD});
    let (ra, rb, rc, rd) = tokio::join!(
        a.post_json("/sign-up/email", body.clone()),
        b.post_json("/sign-up/email", body.clone()),
        c.post_json("/sign-up/email", body.clone()),
        d.post_json("/sign-up/email", body.clone()),
    );
    let all = [ra, rb, rc, rd];
    assert_eq!(all.iter().filter(|r| r.status == 200).count(), 1, "{:?}", all.iter().map(|r| (r.status, &r.text)).collect::<Vec<_>>());
    for r in all.iter().filter(|r| r.status != 200) {
        r.expect_error(422, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL", "User already exists. Use another email.");
    }
    assert_eq!(srv.count(r#"select count(*) from "user""#).await, 1);
    assert_eq!(srv.count(r#"select count(*) from "account""#).await, 1);
});

both!(concurrent_resets_with_one_token, |srv| async move {
    let u = srv.user("race").await;
    srv.client().post_json("/request-password-reset", json!({"email": u.email})).await.expect_status(200);
    let token = srv.mail_of_kind(&u.email, "reset-password").await["token"].as_str().unwrap().to_string();
    let (a, b, c) = (srv.client(), srv.client(), srv.client());
    let (ra, rb, rc) = tokio::join!(
        a.post_json("/reset-password", json!({"token": token, "newPassword": "first-new-password"})),
        b.post_json("/reset-password", json!({"token": token, "newPassword": "second-new-password"})),
        c.post_json("/reset-password", json!({"token": token, "newPassword": "third-new-password"})),
    );
    let all = [ra, rb, rc];
    assert_eq!(all.iter().filter(|r| r.status == 200).count(), 1, "{:?}", all.iter().map(|r| (r.status, &r.text)).collect::<Vec<_>>());
    for r in all.iter().filter(|r| r.status != 200) {
        r.expect_error(400, "INVALID_TOKEN", "Invalid token");
    }
    let mut ok = 0;
    for pw in ["first-new-password", "second-new-password", "third-new-password"] {
        if srv.client().post_json("/sign-in/email", json!({"email": u.email, "password": pw})).await.status == 200 {
            ok += 1;
        }
    }
    assert_eq!(ok, 1, "exactly one new password took effect");
});

both!(concurrent_refreshes_keep_the_token, config = |c| c.session.update_age = 0, |srv| async move {
    let u = srv.user("refresh").await;
    let cookie = u.client.session_cookie().unwrap();
    let (a, b, c) = (u.client.fork(), u.client.fork(), u.client.fork());
    let (ra, rb, rc) = tokio::join!(a.get("/get-session"), b.get("/get-session"), c.get("/get-session"));
    for r in [ra, rb, rc] {
        r.expect_status(200);
        assert_eq!(r.json()["session"]["token"], u.token.as_str());
        assert_eq!(r.cookie_value("better-auth.session_token").as_deref(), Some(cookie.as_str()));
    }
    assert_eq!(srv.count(r#"select count(*) from "session""#).await, 1);
});

// Session lookups under load go out in batches (one `token in (…)` query); every request must
// still get exactly its own session, and unknown or revoked tokens none.
both!(concurrent_get_sessions_each_get_their_own_user, |srv| async move {
    let mut users = Vec::new();
    for i in 0..12 {
        users.push(srv.user(&format!("batch{i}")).await);
    }
    let gone = srv.user("batchgone").await;
    let revoked = srv.client();
    revoked.set_cookie("better-auth.session_token", &gone.client.session_cookie().unwrap());
    gone.client.post_json("/sign-out", serde_json::json!({})).await.expect_status(200);
    let stranger = srv.client();
    stranger.set_cookie("better-auth.session_token", "not-a-signed-token.abc");
    let mut calls = Vec::new();
    for round in 0..4 {
        for u in &users {
            let (c, id) = (u.client.fork(), u.id.clone());
            calls.push(tokio::spawn(async move { (Some(id), c.get("/get-session").await) }));
        }
        if round % 2 == 0 {
            let (c, s) = (revoked.fork(), stranger.fork());
            calls.push(tokio::spawn(async move { (None, c.get("/get-session").await) }));
            calls.push(tokio::spawn(async move { (None, s.get("/get-session").await) }));
        }
    }
    for call in calls {
        let (id, r) = call.await.unwrap();
        r.expect_status(200);
        match id {
            Some(id) => {
                assert_eq!(r.json()["user"]["id"], id.as_str(), "{}", r.text);
                assert_eq!(r.json()["session"]["userId"], id.as_str());
            }
            None => assert_eq!(r.text, "null"),
        }
    }
});
