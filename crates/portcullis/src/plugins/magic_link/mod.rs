//! Magic links, wire-compatible with Better Auth 1.7.24's `magicLink()` plugin (spec plugins §7,
//! read against the 1.7.24 source where the spec, written for 1.7.1, differs).
//!
//! Owns `POST /sign-in/magic-link` (mails a link, answers `{"status":true}` whatever the address)
//! and `GET /magic-link/verify` (follows it: signs in, signing up first on an unknown address
//! unless `disable_sign_up`), the `[magic_link]` section and the `magic-link` e-mail.
//!
//! Storage (1.7.24): the verification row `magic-link:<token>` (or `magic-link:<base64url
//! SHA-256(token)>` with `store_token = "hashed"`) holding `{"type":"magic-link","email","name"?}`,
//! valid `expires_in` seconds. The token is 32 random letters `[a-zA-Z]`.
//!
//! Must never: let a token sign in twice (the row is taken atomically, [`Store::take_verification`]
//! (crate::store::Store::take_verification)), redirect anywhere but a trusted origin (the three
//! callback URLs are checked before anything else), or answer differently for addresses with and
//! without an account when sending.

pub mod config;
mod routes;

use crate::app::openapi::{Api, Op};
use crate::app::{Auth, Capability};
use crate::config::SectionSpec;
use crate::http::input::{check, Check};
use crate::mail::templates::Message;
use crate::rate_limit::Rule;
use config::MagicLinkConfig;

/// The e-mail with the link; its context: `url` (the link), `token` and `email`.
pub const MAGIC_LINK: &str = "magic-link";

/// This capability's `[magic_link]` section.
fn settings(auth: &Auth) -> &MagicLinkConfig {
    auth.config.section()
}

/// The magic-link capability.
pub struct MagicLink {
    rate_limit: Rule,
}

impl MagicLink {
    pub fn new(cfg: &MagicLinkConfig) -> Self {
        Self { rate_limit: cfg.rate_limit }
    }
}

impl Capability for MagicLink {
    fn id(&self) -> &'static str {
        "magic-link"
    }
    fn sections(&self) -> Vec<SectionSpec> {
        vec![SectionSpec::of::<MagicLinkConfig>()]
    }
    fn api(&self) -> Api {
        use crate::app::openapi::wire::*;
        Api::new("Magic link")
            .post("/sign-in/magic-link", routes::sign_in, Op::new("Mails a sign-in link").body::<routes::SignInBody>().json(status()))
            .get(
                "/magic-link/verify",
                routes::verify,
                Op::new("Follows a sign-in link")
                    .query::<routes::VerifyQuery>()
                    .json(object(&[], &[("token", string()), ("user", user()), ("session", session())]))
                    .redirect(),
            )
    }
    fn inputs(&self) -> Vec<(&'static str, Check)> {
        vec![("/sign-in/magic-link", check::<routes::SignInBody>())]
    }
    fn form_csrf_paths(&self) -> &'static [&'static str] {
        &["/sign-in/magic-link"]
    }
    /// Better Auth's `path.startsWith("/sign-in/magic-link") || path.startsWith("/magic-link/verify")`.
    fn rate_limit_rules(&self) -> Vec<(String, Option<Rule>)> {
        vec![("/sign-in/magic-link*".into(), Some(self.rate_limit)), ("/magic-link/verify*".into(), Some(self.rate_limit))]
    }
    fn mail_messages(&self) -> Vec<Message> {
        vec![Message {
            name: MAGIC_LINK,
            subject: include_str!("mail/magic-link.subject"),
            text: include_str!("mail/magic-link.txt"),
            html: include_str!("mail/magic-link.html"),
            example: serde_json::json!({
                "url": "https://auth.example.com/api/auth/magic-link/verify?token=abc&callbackURL=%2F",
                "token": "abc",
                "email": "ada@example.com",
            }),
        }]
    }
}
