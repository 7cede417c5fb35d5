//! The contract between core and a capability (Better Auth's plugin shape:
//! `{ id, endpoints, schema, rateLimit, onRequest, hooks.after }`).

use super::Auth;
use crate::error::ApiError;
use crate::rate_limit::Rule;
use crate::session::hooks::{Decision, Hooks, SessionAnswer, SessionUse, SignIn};
use crate::store::model::{Session, User, UserPatch};
use crate::store::schema::Table;
use axum::http::request::Parts;
use axum::response::Response;
use axum::Router;

#[async_trait::async_trait]
pub trait Capability: Send + Sync + 'static {
    /// A stable identifier, e.g. `"email-password"`.
    fn id(&self) -> &'static str;
    /// Routes relative to the base path (e.g. `/sign-in/email`) with their OpenAPI entries: every
    /// route a client may call is declared here, so it is in the document ([`super::openapi`]).
    fn api(&self) -> super::openapi::Api {
        Default::default()
    }
    /// Routes that are not part of the API document (none of the standard capabilities has any:
    /// a test holds every standard route to [`Capability::api`]).
    fn routes(&self) -> Router<Auth> {
        Router::new()
    }
    /// Its configuration sections (`[jwt]`, ...): parsed from the file (then the environment)
    /// with its own type when the engine is built, a typo refused there naming the key; read with
    /// `auth.config.section::<T>()`. See [`crate::config::sections`].
    fn sections(&self) -> Vec<crate::config::SectionSpec> {
        Vec::new()
    }
    /// Tables (or extra columns) this capability needs; created by `migrate`.
    fn schema(&self) -> Vec<Table> {
        Vec::new()
    }
    /// Additional fields this capability keeps on the user (Better Auth's plugin `schema.user.fields`:
    /// `twoFactorEnabled`, `role`, ...). They come before `user.additional_fields` on the wire.
    fn user_fields(&self) -> crate::fields::FieldSet {
        Default::default()
    }
    /// Additional fields this capability keeps on the session (`activeOrganizationId`, ...).
    fn session_fields(&self) -> crate::fields::FieldSet {
        Default::default()
    }
    /// The cookies it sets, by short name (`state`, `two_factor`, ...): their names and attributes
    /// come from `http::cookies::CookieSettings::cookie`, and `advanced.cookies.<name>` may
    /// configure them.
    fn cookies(&self) -> &'static [&'static str] {
        &[]
    }
    /// Rate-limit rules by path pattern (`*` wildcard); `None` disables limiting for the path.
    fn rate_limit_rules(&self) -> Vec<(String, Option<Rule>)> {
        Vec::new()
    }
    /// The e-mails this capability sends: names, built-in templates and example contexts. They
    /// are compiled with the operator's overrides when the engine is built, and sent with
    /// [`Auth::send_mail`].
    fn mail_messages(&self) -> Vec<crate::mail::templates::Message> {
        Vec::new()
    }
    /// Paths that get Better Auth's form-CSRF protection (first logins without cookies).
    fn form_csrf_paths(&self) -> &'static [&'static str] {
        &[]
    }
    /// The body schema of each POST route (`(path, http::input::check::<T>())`), the one its
    /// handler reads with `Valid<T>`. The pipeline checks it right after the origin middleware and
    /// before the form-CSRF check, `on_request` and the handler's extractors, which is where Better
    /// Auth validates (before its endpoint middlewares: session guards, `formCsrfMiddleware`): a
    /// bad body is a 400 whatever the session or the Origin. List every POST route with a body.
    fn inputs(&self) -> Vec<(&'static str, crate::http::input::Check)> {
        Vec::new()
    }
    /// Path prefixes that accept `application/x-www-form-urlencoded` bodies without the form-CSRF
    /// rules (e.g. an OAuth `form_post` callback, which is a cross-site navigation by design).
    fn form_body_prefixes(&self) -> &'static [&'static str] {
        &[]
    }
    /// GET routes that may be cancelled at any await (a client leaving, `server.request_timeout`)
    /// without leaving half-written state: reads, and at most one idempotent write (get-session's
    /// sliding refresh). They run inline on their connection, without the cost of running to
    /// their end ([`request_task`](super::request_task)); every other route runs to its end.
    fn cancellable_paths(&self) -> &'static [&'static str] {
        &[]
    }
    /// Runs for every request under the base path after the origin/CSRF checks and before the
    /// handler (e.g. the bearer capability turns `Authorization: Bearer` into the session cookie).
    /// `path` is relative to the base path.
    fn on_request(&self, _auth: &Auth, _path: &str, _parts: &mut Parts) {}
    /// Runs after the handler on every response under the base path; may add headers
    /// (e.g. `set-auth-jwt` on get-session, `set-auth-token` when a session cookie is set).
    async fn on_response(&self, _auth: &Auth, _path: &str, _res: &mut Response) {}
    /// Sends the address-verification message to `to` in its own way, instead of the built-in
    /// link (Better Auth's `emailVerification.sendVerificationEmail` replaced by a plugin, as e-mail
    /// OTP's `overrideDefaultEmailVerification` does). True: it did, in the background, and the link
    /// is not sent. Not the change-of-address confirmation, which always goes out as a link.
    fn send_verification_email(&self, _auth: &Auth, _to: &str) -> bool {
        false
    }
    /// The hooks below that this capability implements (only those are called).
    fn hooks(&self) -> Hooks {
        Hooks::default()
    }
    /// Before any sign-in creates a session ([`crate::session::hooks::sign_in`]).
    async fn before_session(&self, _auth: &Auth, _sign_in: &SignIn<'_>) -> Decision {
        Decision::Continue
    }
    /// After a sign-in created `session`.
    async fn after_session(&self, _auth: &Auth, _sign_in: &SignIn<'_>, _session: &Session) {}
    /// Before a user is stored; may change it or refuse.
    async fn before_user_create(&self, _auth: &Auth, _user: &mut User) -> Result<(), ApiError> {
        Ok(())
    }
    async fn after_user_create(&self, _auth: &Auth, _user: &User) {}
    /// Before user `id` changes; may change the patch or refuse.
    async fn before_user_update(&self, _auth: &Auth, _id: &str, _patch: &mut UserPatch) -> Result<(), ApiError> {
        Ok(())
    }
    async fn after_user_update(&self, _auth: &Auth, _user: &User) {}
    /// Before a user (with sessions and accounts) is deleted; may refuse.
    async fn before_user_delete(&self, _auth: &Auth, _user: &User) -> Result<(), ApiError> {
        Ok(())
    }
    async fn after_user_delete(&self, _auth: &Auth, _user: &User) {}
    /// Before a request acts with a session (every session extractor, for the auth routes and an
    /// embedding app's own; sign-out): may refuse it (CSRF tokens). Declare `Hooks { session_use: true }`.
    fn check_session_use(&self, _auth: &Auth, _use: &SessionUse<'_>) -> Result<(), ApiError> {
        Ok(())
    }
    /// On a get-session answer that carries a session (from the store or the cookie cache).
    async fn on_session_answer(&self, _auth: &Auth, _answer: &mut SessionAnswer<'_>) {}
    /// An event some capability emitted ([`crate::app::events`]); declare `Hooks { events: true }`.
    /// Runs in the request that caused it, awaited: keep it to one write, or hand it off.
    async fn on_event(&self, _auth: &Auth, _event: &crate::app::Event) {}
    /// Once the engine is built (after migrations): start background work here, holding only
    /// [`Auth::downgrade`]'s weak handle so the work stops when the engine is dropped.
    fn on_start(&self, _auth: &Auth) {}
    /// On `POST /sign-out`, before the session `token` is deleted: a URL the browser should visit
    /// next (OIDC RP-initiated logout at the identity provider). `body` is the sign-out body.
    async fn sign_out_url(&self, _auth: &Auth, _token: &str, _body: Option<&serde_json::Value>) -> Option<String> {
        None
    }
}
