//! Core endpoints every deployment has: session reading and revocation, the user's profile and
//! accounts, `/ok` and `/error`.

mod delete;
mod misc;
mod sessions;
mod user;

use crate::app::{Auth, Capability};
use crate::http::input::{check, Check, Record};
use axum::routing::{get, post};
use axum::Router;

pub struct Core;

/// The confirmation link before an account is deleted (`user.delete_user_verification`).
pub const DELETE_ACCOUNT: &str = "delete-account";

/// Context: `url`, `token` and `user_name`, as for e-mail and password's messages.
fn delete_account_message() -> crate::mail::templates::Message {
    crate::mail::templates::Message {
        name: DELETE_ACCOUNT,
        subject: include_str!("mail/delete-account.subject"),
        text: include_str!("mail/delete-account.txt"),
        html: include_str!("mail/delete-account.html"),
        example: serde_json::json!({ "url": "https://auth.example.com/api/auth/delete-user/callback?token=abc", "token": "abc", "user_name": "Ada" }),
    }
}

impl Capability for Core {
    fn id(&self) -> &'static str {
        "core"
    }
    fn routes(&self) -> Router<Auth> {
        Router::new()
            .route("/ok", get(misc::ok))
            .route("/error", get(misc::error_page))
            .route("/get-session", get(sessions::get_session).post(sessions::post_get_session))
            .route("/sign-out", post(sessions::sign_out))
            .route("/list-sessions", get(sessions::list_sessions))
            .route("/revoke-session", post(sessions::revoke_session))
            .route("/revoke-sessions", post(sessions::revoke_sessions))
            .route("/revoke-other-sessions", post(sessions::revoke_other_sessions))
            .route("/update-user", post(user::update_user))
            .route("/update-session", post(user::update_session))
            .route("/delete-user", post(user::delete_user))
            .route("/delete-user/callback", get(delete::callback))
            .route("/list-accounts", get(user::list_accounts))
    }
    fn cookies(&self) -> &'static [&'static str] {
        &["session_token", "session_data", "dont_remember"]
    }
    fn inputs(&self) -> Vec<(&'static str, Check)> {
        vec![
            ("/sign-out", check::<sessions::SignOutBody>()),
            ("/revoke-session", check::<sessions::RevokeBody>()),
            ("/update-user", check::<Record>()),
            ("/update-session", check::<Record>()),
            ("/delete-user", check::<user::DeleteBody>()),
        ]
    }
    fn mail_messages(&self) -> Vec<crate::mail::templates::Message> {
        vec![delete_account_message()]
    }
    /// Reads, and get-session's one idempotent refresh write: nothing to leave half-done.
    fn cancellable_paths(&self) -> &'static [&'static str] {
        &["/ok", "/error", "/get-session", "/list-sessions", "/list-accounts"]
    }
}
