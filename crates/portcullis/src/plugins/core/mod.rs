//! Core endpoints every deployment has: session reading and revocation, the user's profile and
//! accounts, `/ok` and `/error`.

mod delete;
mod misc;
mod sessions;
mod user;

use crate::app::openapi::{Answer, Api, Op};
use crate::app::Capability;
use crate::http::input::{check, Check, Record};

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
    fn api(&self) -> Api {
        use crate::app::openapi::wire::*;
        let signed_in = |s: &'static str| Op::new(s).signed_in();
        Api::new("Core")
            .get("/ok", misc::ok, Op::new("Answers while the server runs").json(object(&[("ok", boolean())], &[])))
            .get(
                "/error",
                misc::error_page,
                Op::new("The error page OAuth and e-mail flows send browsers to (a redirect to `/?error=` in production)")
                    .answer("200", "An HTML page naming the error", Answer::Media("text/html"))
                    .redirect(),
            )
            .get(
                "/get-session",
                sessions::get_session,
                Op::new("The current session and its user, or null").json(nullable(session_and_user())),
            )
            .post(
                "/get-session",
                sessions::post_get_session,
                Op::new("Refused: get-session is a GET (Better Auth's deferred-session rule)"),
            )
            .post(
                "/sign-out",
                sessions::sign_out,
                Op::new("Ends the current session and clears its cookies")
                    .body::<sessions::SignOutBody>()
                    .json(object(&[("success", boolean())], &[("url", string()), ("redirect", boolean())])),
            )
            .get("/list-sessions", sessions::list_sessions, signed_in("The user's active sessions").json(array(session())))
            .post(
                "/revoke-session",
                sessions::revoke_session,
                signed_in("Revokes one of the user's sessions").body::<sessions::RevokeBody>().json(status()),
            )
            .post("/revoke-sessions", sessions::revoke_sessions, signed_in("Revokes every session of the user").json(status()))
            .post("/revoke-other-sessions", sessions::revoke_other_sessions, signed_in("Revokes the user's other sessions").json(status()))
            .post(
                "/update-user",
                user::update_user,
                signed_in("Updates the user's name, image or additional fields")
                    .body::<Record>()
                    .example(serde_json::json!({"name": "Ada Lovelace"}))
                    .json(status()),
            )
            .post(
                "/update-session",
                user::update_session,
                signed_in("Updates the session's additional fields").body::<Record>().json(object(&[("session", session())], &[])),
            )
            .post(
                "/delete-user",
                user::delete_user,
                signed_in("Deletes the user, or mails a confirmation link").bare("404").body::<user::DeleteBody>().json(success()),
            )
            .get(
                "/delete-user/callback",
                delete::callback,
                Op::new("Follows the deletion confirmation link").query::<crate::http::input::TokenQuery>().json(success()).redirect(),
            )
            .get("/list-accounts", user::list_accounts, signed_in("The accounts linked to the user").json(array(account())))
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
