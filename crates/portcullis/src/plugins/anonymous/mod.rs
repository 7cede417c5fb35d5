//! Anonymous sessions, wire-compatible with Better Auth's `anonymous()` plugin (spec plugins §10.2).
//!
//! Owns: `POST /sign-in/anonymous` (a new user with a generated e-mail, `isAnonymous: true`, and a
//! session), `POST /delete-anonymous-user`, the `user.isAnonymous` field ([`routes`]), and the
//! linking of an anonymous visitor who later signs in or up by any other method ([`link`]): the
//! embedder's [`OnLink`] closures run (Better Auth's `onLinkAccount`), then the anonymous user is
//! deleted, unless `disable_delete_anonymous_user`.
//!
//! Must never: let an anonymous session create a second anonymous user, delete a user that is not
//! anonymous, or delete the anonymous user when the embedder's closure failed to move its data.

pub mod config;
pub mod link;
mod routes;

pub use link::{Link, OnLink, UserSession};

use crate::app::openapi::{Api, Op};
use crate::app::{Auth, Capability};
use crate::config::SectionSpec;
use crate::fields::{FieldDef, FieldSet, FieldType};
use crate::session::hooks::{Hooks, SignIn};
use crate::store::model::{Session, User};

/// The user field Better Auth's plugin adds.
pub const FIELD: &str = "isAnonymous";

/// The anonymous plugin's error codes (`ANONYMOUS_ERROR_CODES`).
pub mod errors {
    crate::error_codes! {
        INVALID_EMAIL_FORMAT = BAD_REQUEST, "Email was not generated in a valid format";
        FAILED_TO_CREATE_USER = INTERNAL_SERVER_ERROR, "Failed to create user";
        COULD_NOT_CREATE_SESSION = BAD_REQUEST, "Could not create session";
        ANONYMOUS_USERS_CANNOT_SIGN_IN_AGAIN_ANONYMOUSLY = BAD_REQUEST, "Anonymous users cannot sign in again anonymously";
        FAILED_TO_DELETE_ANONYMOUS_USER = INTERNAL_SERVER_ERROR, "Failed to delete anonymous user";
        FAILED_TO_DELETE_ANONYMOUS_USER_SESSIONS = INTERNAL_SERVER_ERROR, "Failed to delete anonymous user sessions";
        USER_IS_NOT_ANONYMOUS = FORBIDDEN, "User is not anonymous";
        DELETE_ANONYMOUS_USER_DISABLED = BAD_REQUEST, "Deleting anonymous users is disabled";
    }
}

/// This capability's `[anonymous]` section.
pub(crate) fn settings(auth: &Auth) -> &config::AnonymousConfig {
    auth.config.section()
}

/// Whether `user` is anonymous (`isAnonymous` is true; null and false are not).
pub fn is_anonymous(user: &User) -> bool {
    user.extra.get(FIELD).and_then(|v| v.as_bool()).unwrap_or(false) || user.hidden.get(FIELD).and_then(|v| v.as_bool()).unwrap_or(false)
}

/// The anonymous capability.
#[derive(Default)]
pub struct Anonymous {
    on_link: Vec<OnLink>,
}

impl Anonymous {
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a closure run when an anonymous visitor links to a real account, before the
    /// anonymous user is deleted (Better Auth's `onLinkAccount`).
    pub fn on_link(mut self, f: OnLink) -> Self {
        self.on_link.push(f);
        self
    }
}

#[async_trait::async_trait]
impl Capability for Anonymous {
    fn id(&self) -> &'static str {
        "anonymous"
    }
    fn sections(&self) -> Vec<SectionSpec> {
        vec![SectionSpec::of::<config::AnonymousConfig>()]
    }
    fn api(&self) -> Api {
        use crate::app::openapi::wire::*;
        Api::new("Anonymous")
            .post(
                "/sign-in/anonymous",
                routes::sign_in_anonymous,
                Op::new("Signs in as a new anonymous user").json(object(&[("token", string()), ("user", user())], &[])),
            )
            .post(
                "/delete-anonymous-user",
                routes::delete_anonymous_user,
                Op::new("Deletes the anonymous user").signed_in().json(success()),
            )
    }
    /// `isAnonymous`: boolean, optional, default false, not settable by clients.
    fn user_fields(&self) -> FieldSet {
        let mut f = FieldSet::new();
        f.add(FIELD, FieldDef::new(FieldType::Boolean).default_value(false.into()).no_input());
        f
    }
    fn hooks(&self) -> Hooks {
        Hooks { after_session: true, ..Hooks::default() }
    }
    async fn after_session(&self, auth: &Auth, sign_in: &SignIn<'_>, session: &Session) {
        link::after_sign_in(auth, &self.on_link, sign_in, session).await;
    }
}
