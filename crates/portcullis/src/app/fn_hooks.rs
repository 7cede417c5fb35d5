//! Hooks as closures, for an embedder who wants Better Auth's `databaseHooks` and sign-in hooks
//! without writing a [`Capability`]:
//!
//! ```text
//! let auth = Auth::builder(config)
//!     .before_session(|s: SignInInfo| async move {
//!         if s.user.email.ends_with("@blocked.example") {
//!             return Decision::Refuse(ApiError::new(StatusCode::FORBIDDEN, "BLOCKED", "Blocked"));
//!         }
//!         Decision::Continue
//!     })
//!     .after_user_create(|u: User| async move { tracing::info!(user = %u.id, "welcome") })
//!     .build()
//!     .await?;
//! ```
//!
//! The closures get owned copies (`'static` futures), so they may be spawned or stored. They run
//! after every capability's hooks, in the order they were added.

use super::{Auth, Capability};
use crate::error::ApiError;
use crate::session::hooks::{Decision, Hooks, Method, SignIn};
use crate::store::model::{Session, User, UserPatch};
use axum::http::HeaderMap;
use std::future::Future;
use std::pin::Pin;

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type Hook<A, T> = Box<dyn Fn(A) -> BoxFut<T> + Send + Sync>;

/// A sign-in, owned (see [`SignIn`]).
#[derive(Debug, Clone)]
pub struct SignInInfo {
    pub user: User,
    pub method: Method,
    pub ip: Option<String>,
    pub user_agent: String,
    pub headers: HeaderMap,
    pub remember: bool,
}

impl SignInInfo {
    fn of(s: &SignIn<'_>) -> Self {
        Self {
            user: s.user.clone(),
            method: s.method.clone(),
            ip: s.meta.ip.clone(),
            user_agent: s.meta.user_agent.clone(),
            headers: s.headers.clone(),
            remember: s.remember,
        }
    }
}

/// The closures registered on an [`AuthBuilder`](super::AuthBuilder); one capability.
#[derive(Default)]
pub struct FnHooks {
    pub(super) before_session: Vec<Hook<SignInInfo, Decision>>,
    pub(super) after_session: Vec<Hook<(SignInInfo, Session), ()>>,
    pub(super) before_user_create: Vec<Hook<User, Result<User, ApiError>>>,
    pub(super) after_user_create: Vec<Hook<User, ()>>,
    pub(super) before_user_update: Vec<Hook<(String, UserPatch), Result<UserPatch, ApiError>>>,
    pub(super) after_user_update: Vec<Hook<User, ()>>,
    pub(super) before_user_delete: Vec<Hook<User, Result<(), ApiError>>>,
    pub(super) after_user_delete: Vec<Hook<User, ()>>,
    pub(super) on_event: Vec<Hook<super::Event, ()>>,
}

pub(super) fn boxed<A, T, F, Fut>(f: F) -> Hook<A, T>
where
    F: Fn(A) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    Box::new(move |a| Box::pin(f(a)))
}

impl FnHooks {
    pub fn is_empty(&self) -> bool {
        self.before_session.is_empty()
            && self.after_session.is_empty()
            && self.before_user_create.is_empty()
            && self.after_user_create.is_empty()
            && self.before_user_update.is_empty()
            && self.after_user_update.is_empty()
            && self.before_user_delete.is_empty()
            && self.after_user_delete.is_empty()
            && self.on_event.is_empty()
    }
}

#[async_trait::async_trait]
impl Capability for FnHooks {
    fn id(&self) -> &'static str {
        "fn-hooks"
    }
    fn hooks(&self) -> Hooks {
        Hooks {
            before_session: !self.before_session.is_empty(),
            after_session: !self.after_session.is_empty(),
            user: !(self.before_user_create.is_empty()
                && self.after_user_create.is_empty()
                && self.before_user_update.is_empty()
                && self.after_user_update.is_empty()
                && self.before_user_delete.is_empty()
                && self.after_user_delete.is_empty()),
            session_answer: false,
            events: !self.on_event.is_empty(),
            session_use: false,
        }
    }
    async fn before_session(&self, _auth: &Auth, s: &SignIn<'_>) -> Decision {
        for f in &self.before_session {
            match f(SignInInfo::of(s)).await {
                Decision::Continue => {}
                other => return other,
            }
        }
        Decision::Continue
    }
    async fn after_session(&self, _auth: &Auth, s: &SignIn<'_>, session: &Session) {
        for f in &self.after_session {
            f((SignInInfo::of(s), session.clone())).await;
        }
    }
    async fn before_user_create(&self, _auth: &Auth, user: &mut User) -> Result<(), ApiError> {
        for f in &self.before_user_create {
            *user = f(user.clone()).await?;
        }
        Ok(())
    }
    async fn after_user_create(&self, _auth: &Auth, user: &User) {
        for f in &self.after_user_create {
            f(user.clone()).await;
        }
    }
    async fn before_user_update(&self, _auth: &Auth, id: &str, patch: &mut UserPatch) -> Result<(), ApiError> {
        for f in &self.before_user_update {
            *patch = f((id.to_string(), patch.clone())).await?;
        }
        Ok(())
    }
    async fn after_user_update(&self, _auth: &Auth, user: &User) {
        for f in &self.after_user_update {
            f(user.clone()).await;
        }
    }
    async fn before_user_delete(&self, _auth: &Auth, user: &User) -> Result<(), ApiError> {
        for f in &self.before_user_delete {
            f(user.clone()).await?;
        }
        Ok(())
    }
    async fn after_user_delete(&self, _auth: &Auth, user: &User) {
        for f in &self.after_user_delete {
            f(user.clone()).await;
        }
    }
    async fn on_event(&self, _auth: &Auth, event: &super::Event) {
        for f in &self.on_event {
            f(event.clone()).await;
        }
    }
}
