//! The one place sessions are born and users are created, changed and deleted, with the typed
//! hooks every capability (and an embedder's closures, [`crate::app::FnHooks`]) may attach.
//!
//! Every path that signs a user in (email and password, sign-up, e-mail verification, a password
//! change, a social callback, an ID token, and the sign-in methods still to come) calls
//! [`sign_in`]; no handler creates a session by itself. Before the session exists, each
//! capability's [`Capability::before_session`](crate::app::Capability::before_session) sees the
//! user, the method and the request and may let it go on, refuse it with an [`ApiError`], or
//! answer the request itself (two-factor's `{"twoFactorRedirect": true}`, an onboarding redirect),
//! or amend it ([`Decision::Amend`]: a user it re-stored, which later hooks and the session see,
//! and where a provider callback lands). Social and ID-token sign-ins carry what the provider said
//! ([`Federated`]).
//! After it exists, [`after_session`](crate::app::Capability::after_session) sees it (audit,
//! webhooks, last-login-method). Users go through [`create_user`], [`update_user`] and
//! [`delete_user`] the same way (Better Auth's `databaseHooks` and `user.deleteUser.before/
//! afterDelete`): before-hooks may change the data or veto, after-hooks observe.
//!
//! Hooks run in capability registration order; the first refusal or answer wins and later hooks
//! do not run. Only capabilities that declare a hook in [`Capability::hooks`] are called, so a
//! route without hooks pays nothing.
//!
//! A hook that lets a sign-in go on may still need a cookie on its response (two-factor rotates
//! its `trust_device` cookie on every trusted sign-in): it calls [`set_cookie`], and the request
//! pipeline ([`with_hook_cookies`]) adds it to whatever the handler answers.

use super::RequestMeta;
use crate::app::events::{self, Event};
use crate::app::Auth;
use crate::error::{ApiError, ApiResult};
use crate::http::reply::Reply;
use crate::store::model::{Account, Session, User, UserPatch};
use crate::store::StoreError;
use axum::http::{header, Extensions, HeaderMap, HeaderValue};
use axum::response::Response;
use std::future::Future;
use std::sync::Mutex;

tokio::task_local! {
    /// The `Set-Cookie` values hooks added during the request being handled.
    static HOOK_COOKIES: Mutex<Vec<HeaderValue>>;
}

/// Adds a `Set-Cookie` to the response of the request being handled (from a hook, which has no
/// response to write to). False outside the request pipeline (a sign-in an embedder runs by
/// itself), where the cookie is dropped.
pub fn set_cookie(value: HeaderValue) -> bool {
    HOOK_COOKIES.try_with(|c| c.lock().map(|mut c| c.push(value)).is_ok()).unwrap_or(false)
}

/// Runs a request's handling so that the cookies hooks add with [`set_cookie`] reach its
/// response (also an error response: what a hook did, such as rotating a record, stays done).
pub async fn with_hook_cookies(handling: impl Future<Output = Response>) -> Response {
    HOOK_COOKIES
        .scope(Mutex::new(Vec::new()), async move {
            let mut res = handling.await;
            let added = HOOK_COOKIES.try_with(|c| c.lock().map(|mut c| std::mem::take(&mut *c)).unwrap_or_default()).unwrap_or_default();
            for c in added {
                res.headers_mut().append(header::SET_COOKIE, c);
            }
            res
        })
        .await
}

/// Which hooks a capability implements; only those are called.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hooks {
    pub before_session: bool,
    pub after_session: bool,
    /// `before_user_create` .. `after_user_delete`.
    pub user: bool,
    /// `on_session_answer` (get-session).
    pub session_answer: bool,
    /// `on_event` ([`crate::app::events`]).
    pub events: bool,
    /// `check_session_use` (every request that acts with a session).
    pub session_use: bool,
}

/// A request about to act with a session: a session extractor found it, or a handler that reads
/// the session cookie itself (sign-out) is about to use it.
pub struct SessionUse<'a> {
    /// The HTTP method (not a sign-in [`Method`]).
    pub method: &'a axum::http::Method,
    pub headers: &'a HeaderMap,
    /// The request's extensions ([`super::HeaderCredential`] says the session came from a header).
    pub extensions: &'a Extensions,
    /// The raw session token.
    pub token: &'a str,
}

/// Asks every capability that declared `session_use` whether the request may act with its
/// session; the first refusal is the answer.
pub fn check_session_use(auth: &Auth, u: &SessionUse<'_>) -> ApiResult<()> {
    for c in &auth.hooked.session_use {
        c.check_session_use(auth, u)?;
    }
    Ok(())
}

/// How a user signs in. `id()` is Better Auth's method name (what last-login-method records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// `POST /sign-in/email`.
    Email,
    /// `POST /sign-up/email` with auto sign-in.
    SignUp,
    /// Following an e-mail verification link with `autoSignInAfterVerification`.
    VerifyEmail,
    /// `POST /change-password` with `revokeOtherSessions`: the new session replaces the old.
    ChangePassword,
    /// A social provider's callback (`GET|POST /callback/:id`).
    Social(String),
    /// `POST /sign-in/social` with an ID token.
    IdToken(String),
    /// A capability's own method (magic link, passkey, ...).
    Other(&'static str),
}

impl Method {
    pub fn id(&self) -> &str {
        match self {
            Method::Email | Method::SignUp | Method::ChangePassword => "email",
            Method::VerifyEmail => "email-verification",
            Method::Social(p) | Method::IdToken(p) => p,
            Method::Other(m) => m,
        }
    }
}

/// A sign-in about to happen.
pub struct SignIn<'a> {
    pub user: &'a User,
    pub method: Method,
    pub meta: &'a RequestMeta,
    pub headers: &'a HeaderMap,
    /// False for "don't remember me" (a one-day session without a persistent cookie).
    pub remember: bool,
    /// What the identity provider said, on a social or ID-token sign-in (`None` otherwise).
    pub federated: Option<Federated<'a>>,
}

/// What an identity provider said about the user signing in, for hooks that derive something
/// from it (the admin capability's `provider_roles`). Claims were verified (an ID token) or read
/// from the provider's user-info endpoint in this flow; the access token is the provider's, for
/// follow-up calls (Discord's guild API), and must never be logged or stored by a hook.
#[derive(Clone, Copy)]
pub struct Federated<'a> {
    /// The provider id (`discord`, `fake`, ...).
    pub provider: &'a str,
    /// The provider's kind (`discord`, `github`, `oidc`, ...).
    pub kind: &'a str,
    /// The ID token's claims, or the user-info profile.
    pub claims: &'a serde_json::Value,
    pub access_token: Option<&'a str>,
    /// The provider's API base when configured (`social.providers.<id>.api_url`).
    pub api_url: Option<&'a str>,
    /// The social capability's outbound client (no redirects, short timeouts).
    pub http: Option<&'a reqwest::Client>,
    /// True when this sign-in created the user.
    pub new_user: bool,
}

/// What a before-session hook changed while letting the sign-in go on.
#[derive(Default)]
pub struct Amend {
    /// The user as now stored: later hooks, the session and the caller's answer use it.
    pub user: Option<User>,
    /// Where a browser sign-in (a provider callback) should land instead of its callbackURL; the
    /// caller checks it against the trusted origins.
    pub landing: Option<String>,
}

/// A before-session hook's verdict.
pub enum Decision {
    Continue,
    /// Answer this error instead.
    Refuse(ApiError),
    /// Answer this instead of a session (no session is created).
    Answer(Reply),
    /// Go on, with these changes (see [`Amend`]).
    Amend(Amend),
}

/// What [`sign_in`] produced.
pub enum Born {
    Session(Session),
    /// A hook answered instead; send this as the response.
    Answered(Reply),
}

/// What a session carries beyond a sign-in's defaults (an impersonation: its own lifetime and
/// `impersonatedBy`).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Seconds the session lives, instead of `session.expires_in` (or a day, not remembered).
    pub expires_in: Option<i64>,
    /// Session fields set at creation (declared fields only; others are ignored by the store).
    pub fields: Vec<(String, serde_json::Value)>,
}

/// The one function that creates sessions for sign-ins. Runs the before-hooks, creates and stores
/// the session, then runs the after-hooks.
pub async fn sign_in(auth: &Auth, s: SignIn<'_>) -> ApiResult<Born> {
    sign_in_with(auth, s, Overrides::default()).await
}

/// [`sign_in`], with the session's lifetime or fields set by the caller.
pub async fn sign_in_with(auth: &Auth, s: SignIn<'_>, o: Overrides) -> ApiResult<Born> {
    Ok(sign_in_amended(auth, s, o).await?.born)
}

/// What [`sign_in_amended`] produced: the session (or answer), and what hooks amended.
pub struct Outcome {
    pub born: Born,
    /// The user as a hook re-stored it (its answer must carry this one), if any did.
    pub user: Option<User>,
    /// Where a hook asked a browser sign-in to land (not yet checked against trusted origins).
    pub landing: Option<String>,
}

/// [`sign_in_with`], also returning what hooks amended ([`Decision::Amend`]): callers whose
/// answer carries the user or a redirect (the provider callback) use this one.
pub async fn sign_in_amended(auth: &Auth, s: SignIn<'_>, o: Overrides) -> ApiResult<Outcome> {
    let mut user: Option<User> = None;
    let mut landing: Option<String> = None;
    for c in &auth.hooked.before_session {
        let view = SignIn {
            user: user.as_ref().unwrap_or(s.user),
            method: s.method.clone(),
            meta: s.meta,
            headers: s.headers,
            remember: s.remember,
            federated: s.federated,
        };
        match c.before_session(auth, &view).await {
            Decision::Continue => {}
            Decision::Refuse(e) => {
                let f = super::failed::Failed { method: s.method.id(), user_id: Some(&view.user.id), email: None, error: &e };
                super::failed::emit(auth, s.meta, f).await;
                return Err(e);
            }
            Decision::Answer(r) => return Ok(Outcome { born: Born::Answered(r), user, landing }),
            Decision::Amend(a) => {
                user = a.user.or(user);
                landing = a.landing.or(landing);
            }
        }
    }
    let s = SignIn { user: user.as_ref().unwrap_or(s.user), ..s };
    let session = super::create(auth, s.user, s.meta, s.remember, &o).await?;
    for c in &auth.hooked.after_session {
        c.after_session(auth, &s, &session).await;
    }
    if auth.listens() {
        let data = serde_json::json!({ "session": events::session_data(&session), "user": s.user, "method": s.method.id() });
        auth.emit(Event::new(auth, "session.created", "session", Some(&session.id)).actor(Some(&s.user.id)).meta(s.meta).data(data)).await;
    }
    Ok(Outcome { born: Born::Session(session), user, landing })
}

/// Why a user write did not happen: a hook refused it, or the store failed (a
/// [`StoreError::Conflict`] is a taken unique value, which callers answer in their own way).
#[derive(Debug)]
pub enum WriteError {
    Refused(ApiError),
    Store(StoreError),
}

impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Refused(e) => e,
            WriteError::Store(e) => e.into(),
        }
    }
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::Refused(e) => write!(f, "refused by a hook: {e}"),
            WriteError::Store(e) => write!(f, "{e}"),
        }
    }
}

/// Creates a user (and its first account) after the before-hooks, which may change it or refuse.
/// Returns the user as stored.
pub async fn create_user(auth: &Auth, mut user: User, account: Option<&Account>) -> Result<User, WriteError> {
    for c in &auth.hooked.user {
        c.before_user_create(auth, &mut user).await.map_err(WriteError::Refused)?;
    }
    auth.store.create_user(&user, account).await.map_err(WriteError::Store)?;
    for c in &auth.hooked.user {
        c.after_user_create(auth, &user).await;
    }
    if auth.listens() {
        auth.emit(Event::new(auth, "user.created", "user", Some(&user.id)).data(events::user_data(&user))).await;
    }
    Ok(user)
}

/// Updates a user after the before-hooks (which may change the patch or refuse); `None` when the
/// user does not exist.
pub async fn update_user(auth: &Auth, id: &str, mut patch: UserPatch) -> Result<Option<User>, WriteError> {
    before_user_update(auth, id, &mut patch).await.map_err(WriteError::Refused)?;
    let Some(user) = auth.store.update_user(id, &patch, auth.now()).await.map_err(WriteError::Store)? else { return Ok(None) };
    after_user_update(auth, &user, &patch).await;
    Ok(Some(user))
}

/// The before-hooks of [`update_user`], for a capability that writes the user row its own way
/// (a compare-and-set): they may change `patch` or refuse.
pub async fn before_user_update(auth: &Auth, id: &str, patch: &mut UserPatch) -> ApiResult<()> {
    for c in &auth.hooked.user {
        c.before_user_update(auth, id, patch).await?;
    }
    Ok(())
}

/// The after-hooks and the `user.updated` event of [`update_user`], once `patch` is written.
pub async fn after_user_update(auth: &Auth, user: &User, patch: &UserPatch) {
    for c in &auth.hooked.user {
        c.after_user_update(auth, user).await;
    }
    if auth.listens() {
        let mut data = events::user_data(user);
        data["fields"] = patch.changed_fields().into();
        auth.emit(Event::new(auth, "user.updated", "user", Some(&user.id)).data(data)).await;
    }
}

/// Deletes a user with its sessions and accounts after the before-hooks (which may refuse).
pub async fn delete_user(auth: &Auth, user: &User) -> ApiResult<()> {
    for c in &auth.hooked.user {
        c.before_user_delete(auth, user).await?;
    }
    auth.sessions.delete_user(&user.id, auth.now()).await?;
    for c in &auth.hooked.user {
        c.after_user_delete(auth, user).await;
    }
    if auth.listens() {
        auth.emit(Event::new(auth, "user.deleted", "user", Some(&user.id)).data(events::user_data(user))).await;
    }
    Ok(())
}

/// A get-session answer on its way out: hooks may add headers (jwt's `set-auth-jwt`) and
/// top-level members (custom session data) without re-reading the body.
pub struct SessionAnswer<'a> {
    pub session: &'a Session,
    pub user: &'a User,
    /// Set when the cookie cache answered (the session may have been revoked since, unless
    /// `confirmed`).
    pub cache_hit: Option<&'a super::CacheHit>,
    pub headers: HeaderMap,
    /// Members added after `session` and `user`.
    pub extra: serde_json::Map<String, serde_json::Value>,
}
