//! Anonymous sessions (Better Auth's `anonymous()` plugin, `[anonymous] enabled = true`): sign-in,
//! `isAnonymous` on the user, deletion, and linking to a real account with the embedder's
//! `on_link_account` closure moving the anonymous user's data first.

use crate::common::anonymous;
use crate::harness::*;
use portcullis::plugins::anonymous::Link;
use portcullis::{ApiError, Config};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

fn on(c: &mut Config) {
    anonymous(c).enabled = true;
}

/// Signs in anonymously on a new client: (client, body).
async fn anon(srv: &TestServer) -> (Client, Value) {
    let c = srv.client();
    let r = c.post_json("/sign-in/anonymous", json!({})).await;
    r.expect_status(200);
    assert!(r.cookie_value("better-auth.session_token").is_some_and(|v| !v.is_empty()), "sets the session cookie");
    (c, r.json().clone())
}

both!(sign_in_creates_an_anonymous_user, config = on, |srv| async move {
    let (c, body) = anon(&srv).await;
    assert_eq!(key_order(&serde_json::to_string(&body).unwrap()), ["token", "user"]);
    let user = &body["user"];
    assert_eq!(user["isAnonymous"], true);
    assert_eq!(user["name"], "Anonymous");
    assert_eq!(user["emailVerified"], false);
    assert_eq!(user["image"], Value::Null);
    let email = user["email"].as_str().unwrap();
    let (local, domain) = email.split_once('@').unwrap();
    assert_eq!(domain, "anonymous.placeholder.invalid");
    assert_eq!(local.len(), 32);
    assert!(local.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit()), "{local}");
    assert!(is_id(&body["token"]));

    let s = c.session_from_db().await;
    assert_eq!(s["user"]["id"], user["id"]);
    assert_eq!(s["user"]["isAnonymous"], true);
    assert_eq!(s["session"]["token"], body["token"]);
    let stored = srv.sql_scalar(&format!("select email from \"user\" where id = '{}'", user["id"].as_str().unwrap())).await;
    assert_eq!(stored.as_deref(), Some(email));

    // Every visitor gets their own user.
    let (_, other) = anon(&srv).await;
    assert_ne!(other["user"]["id"], user["id"]);
    assert_ne!(other["user"]["email"], user["email"]);
});

both!(a_second_anonymous_sign_in_from_an_anonymous_session_is_refused, config = on, |srv| async move {
    let (c, body) = anon(&srv).await;
    let r = c.post_json("/sign-in/anonymous", json!({})).await;
    r.expect_error(400, "ANONYMOUS_USERS_CANNOT_SIGN_IN_AGAIN_ANONYMOUSLY", "Anonymous users cannot sign in again anonymously");
    assert!(r.cookie_line("better-auth.session_token").is_none(), "no new session");
    assert_eq!(c.session_from_db().await["user"]["id"], body["user"]["id"], "the anonymous session is kept");
    assert_eq!(srv.count("select count(*) from \"user\"").await, 1);
});

both!(a_signed_in_user_may_start_an_anonymous_session, config = on, |srv| async move {
    let u = srv.user("real").await;
    let r = u.client.post_json("/sign-in/anonymous", json!({})).await;
    r.expect_status(200);
    assert_eq!(r.json()["user"]["isAnonymous"], true);
    assert_eq!(srv.count("select count(*) from \"user\"").await, 2, "the real user is not touched");
});

both!(
    email_domain_name_shapes_the_generated_email,
    config = |c| {
        on(c);
        anonymous(c).email_domain_name = Some("guests.example.com".into());
    },
    |srv| async move {
        let (_, body) = anon(&srv).await;
        let email = body["user"]["email"].as_str().unwrap();
        let local = email.strip_suffix("@guests.example.com").expect(email);
        assert!(local.starts_with("temp-") && local.len() == 37, "{email}");
    }
);

both!(is_anonymous_is_false_for_others_and_not_settable, config = on, |srv| async move {
    let c = srv.client();
    // As Better Auth: on create, a field clients may not set takes its default silently.
    let r = c.post_json("/sign-up/email", json!({"name": "A", "email": "a@example.com", "password": PASSWORD, "isAnonymous": true})).await;
    r.expect_status(200);
    assert_eq!(r.json()["user"]["isAnonymous"], false);
    c.post_json("/update-user", json!({"isAnonymous": true})).await.expect_code(400, "FIELD_NOT_ALLOWED");
    assert_eq!(c.session_from_db().await["user"]["isAnonymous"], false);
});

both!(delete_anonymous_user, config = on, |srv| async move {
    let (c, body) = anon(&srv).await;
    let r = c.post_json("/delete-anonymous-user", json!({})).await;
    r.expect_status(200);
    assert_eq!(r.json(), &json!({"success": true}));
    assert!(r.deletes_cookie("better-auth.session_token"));
    assert_eq!(srv.count("select count(*) from \"user\"").await, 0);
    assert_eq!(srv.count("select count(*) from session").await, 0);
    assert_eq!(c.session_from_db().await, Value::Null);
    let _ = body;
    // Without a session: 401.
    srv.client().post_json("/delete-anonymous-user", json!({})).await.expect_code(401, "UNAUTHORIZED");
});

both!(a_real_user_cannot_use_delete_anonymous_user, config = on, |srv| async move {
    let u = srv.user("real").await;
    let r = u.client.post_json("/delete-anonymous-user", json!({})).await;
    r.expect_error(403, "USER_IS_NOT_ANONYMOUS", "User is not anonymous");
    assert_eq!(srv.count("select count(*) from \"user\"").await, 1);
    assert_eq!(u.client.session_from_db().await["user"]["id"], u.id.as_str());
});

both!(
    disable_delete_anonymous_user,
    config = |c| {
        on(c);
        anonymous(c).disable_delete_anonymous_user = true;
    },
    |srv| async move {
        let (c, _) = anon(&srv).await;
        let r = c.post_json("/delete-anonymous-user", json!({})).await;
        r.expect_error(400, "DELETE_ANONYMOUS_USER_DISABLED", "Deleting anonymous users is disabled");
        // Linking keeps the anonymous user too.
        c.post_json("/sign-up/email", json!({"name": "B", "email": "b@example.com", "password": PASSWORD})).await.expect_status(200);
        assert_eq!(srv.count("select count(*) from \"user\"").await, 2);
    }
);

both!(off_by_default, |srv| async move {
    srv.client().post_json("/sign-in/anonymous", json!({})).await.expect_status(404);
    let r = srv.client().post_json("/sign-up/email", json!({"name": "A", "email": "a@example.com", "password": PASSWORD})).await;
    r.expect_status(200);
    assert!(r.json()["user"].get("isAnonymous").is_none(), "no isAnonymous field without the plugin");
});

/// The embedder's application data: notes by owner id.
type Notes = Arc<Mutex<HashMap<String, Vec<String>>>>;

async fn linking(backend: Backend, fail: bool) {
    let notes: Notes = Arc::default();
    let seen: Arc<Mutex<Vec<Link>>> = Arc::default();
    let (n, s) = (notes.clone(), seen.clone());
    let srv = TestServer::start_with(backend, on, move |b| {
        b.on_link_account(move |link: Link| {
            let (notes, seen) = (n.clone(), s.clone());
            async move {
                seen.lock().unwrap().push(link.clone());
                if fail {
                    return Err(ApiError::uncoded(axum::http::StatusCode::INTERNAL_SERVER_ERROR, "app database down"));
                }
                let mut notes = notes.lock().unwrap();
                let moved = notes.remove(&link.anonymous_user.user.id).unwrap_or_default();
                notes.entry(link.new_user.user.id.clone()).or_default().extend(moved);
                Ok(())
            }
        })
    })
    .await;
    let (c, body) = anon(&srv).await;
    let anon_id = body["user"]["id"].as_str().unwrap().to_string();
    notes.lock().unwrap().insert(anon_id.clone(), vec!["cart: 2 books".into()]);
    let anonymous_jar = c.fork();

    let r = c.post_json("/sign-up/email", json!({"name": "Linked", "email": "linked@example.com", "password": PASSWORD})).await;
    r.expect_status(200);
    let new_id = r.json()["user"]["id"].as_str().unwrap().to_string();
    assert_eq!(r.json()["user"]["isAnonymous"], false);
    assert_eq!(c.session_from_db().await["user"]["id"], new_id.as_str());

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "the closure runs once");
    assert_eq!(seen[0].anonymous_user.user.id, anon_id);
    assert_eq!(seen[0].anonymous_user.session.token, body["token"].as_str().unwrap());
    assert_eq!(seen[0].new_user.user.id, new_id);
    assert_eq!(seen[0].new_user.session.token, r.json()["token"].as_str().unwrap());

    let anon_rows = srv.count(&format!("select count(*) from \"user\" where id = '{anon_id}'")).await;
    if fail {
        assert_eq!(anon_rows, 1, "a failed move keeps the anonymous user");
        assert_eq!(notes.lock().unwrap().get(&anon_id).map(Vec::len), Some(1));
    } else {
        assert_eq!(anon_rows, 0, "the anonymous user is deleted");
        assert_eq!(srv.count(&format!("select count(*) from session where \"userId\" = '{anon_id}'")).await, 0);
        assert_eq!(anonymous_jar.session_from_db().await, Value::Null, "its session is gone");
        assert_eq!(notes.lock().unwrap().get(&new_id), Some(&vec!["cart: 2 books".to_string()]), "the data moved");
    }

    // A later sign-in from the real account links nothing more.
    let again = srv.client();
    again.post_json("/sign-in/email", json!({"email": "linked@example.com", "password": PASSWORD})).await.expect_status(200);
    assert_eq!(srv.count("select count(*) from \"user\" where email = 'linked@example.com'").await, 1);
}

#[tokio::test]
async fn sign_up_links_and_deletes_the_anonymous_user_sqlite() {
    linking(Backend::Sqlite, false).await;
}
#[tokio::test]
async fn sign_up_links_and_deletes_the_anonymous_user_postgres() {
    linking(Backend::Postgres, false).await;
}
#[tokio::test]
async fn a_failing_link_closure_keeps_the_anonymous_user_sqlite() {
    linking(Backend::Sqlite, true).await;
}
#[tokio::test]
async fn a_failing_link_closure_keeps_the_anonymous_user_postgres() {
    linking(Backend::Postgres, true).await;
}

both!(email_sign_in_links_too, config = on, |srv| async move {
    let real = srv.user("existing").await;
    let (c, body) = anon(&srv).await;
    let r = c.post_json("/sign-in/email", json!({"email": real.email, "password": PASSWORD})).await;
    r.expect_status(200);
    assert_eq!(c.session_from_db().await["user"]["id"], real.id.as_str());
    let anon_id = body["user"]["id"].as_str().unwrap();
    assert_eq!(srv.count(&format!("select count(*) from \"user\" where id = '{anon_id}'")).await, 0);
    assert_eq!(srv.count("select count(*) from \"user\"").await, 1);
});
