//! Linking: an anonymous visitor who signs in or up by another method becomes that user.
//!
//! Better Auth's after-hook on `/sign-in*`, `/sign-up*`, `/callback*`, `/verify-email`,
//! magic-link, e-mail OTP, one-tap, passkey and phone-number verification: when the response sets
//! a new session and the request carried an anonymous session, `onLinkAccount({anonymousUser,
//! newUser})` runs, then the anonymous user is deleted (unless `disableDeleteAnonymousUser`, or
//! the new user is the same one, or is anonymous too).
//!
//! Here it is the after-session hook, which sees every sign-in ([`crate::session::hooks::sign_in`]):
//! every method links except an anonymous sign-in itself and a password change (whose path,
//! `/change-password`, Better Auth's matcher leaves out). A sign-in a before-session hook answered
//! instead (two-factor's challenge) creates no session and links nothing, as Better Auth's check of
//! `shouldRequireTwoFactor`.
//!
//! The anonymous session is the request's `session_token` cookie, read from the store. An
//! [`OnLink`] closure that fails leaves the anonymous user in place (its data was not moved), logs
//! why, and does not undo the sign-in.

use super::{is_anonymous, settings};
use crate::app::Auth;
use crate::error::ApiError;
use crate::session::hooks::{self, Method, SignIn};
use crate::session::{self};
use crate::store::model::{Session, User};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A user with one of its sessions.
#[derive(Debug, Clone)]
pub struct UserSession {
    pub user: User,
    pub session: Session,
}

/// What an [`OnLink`] closure gets: Better Auth's `{anonymousUser, newUser}`.
#[derive(Debug, Clone)]
pub struct Link {
    /// The anonymous user, with the session the request carried.
    pub anonymous_user: UserSession,
    /// The user who signed in or up, with the session just created.
    pub new_user: UserSession,
}

/// An embedder's `onLinkAccount`: moves the anonymous user's data to the new user before the
/// anonymous user is deleted. An error keeps the anonymous user.
pub type OnLink = Arc<dyn Fn(Link) -> Pin<Box<dyn Future<Output = Result<(), ApiError>> + Send>> + Send + Sync>;

/// Wraps a closure as an [`OnLink`].
pub fn on_link<F, Fut>(f: F) -> OnLink
where
    F: Fn(Link) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), ApiError>> + Send + 'static,
{
    Arc::new(move |l| Box::pin(f(l)))
}

/// Whether a sign-in by `method` links an anonymous session the request carries.
fn links(method: &Method) -> bool {
    !matches!(method, Method::ChangePassword | Method::Other("anonymous"))
}

/// The after-session hook: links and deletes the request's anonymous user, if any.
pub(super) async fn after_sign_in(auth: &Auth, on_link: &[OnLink], s: &SignIn<'_>, session: &Session) {
    if !links(&s.method) {
        return;
    }
    let Some(token) = session::token_from(auth, s.headers).filter(|t| *t != session.token) else { return };
    // The anonymous session acts here (its data moves, its user goes): a request that could not
    // act with it (the CSRF-token mode) does not link it. A provider callback is a navigation
    // bound to the browser that started it by the state cookie, so it is not asked.
    if !matches!(s.method, Method::Social(_)) {
        let extensions = axum::http::Extensions::new();
        let u = hooks::SessionUse { method: &axum::http::Method::POST, headers: s.headers, extensions: &extensions, token: &token };
        if hooks::check_session_use(auth, &u).is_err() {
            tracing::info!("anonymous link skipped: the request may not act with its anonymous session");
            return;
        }
    }
    let (anon_session, anon_user) = match session::find(auth, &token).await {
        Ok(Some(found)) => found,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "anonymous link skipped: the request's session could not be read");
            return;
        }
    };
    if !is_anonymous(&anon_user) {
        return;
    }
    let link = Link {
        anonymous_user: UserSession { user: anon_user.clone(), session: anon_session },
        new_user: UserSession { user: s.user.clone(), session: session.clone() },
    };
    for f in on_link {
        if let Err(e) = f(link.clone()).await {
            tracing::error!(anonymous_user = %anon_user.id, user = %s.user.id, error = %e, "anonymous user kept: on_link_account failed");
            return;
        }
    }
    if settings(auth).disable_delete_anonymous_user || anon_user.id == s.user.id || is_anonymous(s.user) {
        return;
    }
    if let Err(e) = hooks::delete_user(auth, &anon_user).await {
        tracing::error!(anonymous_user = %anon_user.id, error = %e, "failed to delete the anonymous user after linking");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_links_but_anonymous_and_password_change() {
        for m in [Method::Email, Method::SignUp, Method::VerifyEmail, Method::Social("github".into()), Method::IdToken("google".into())] {
            assert!(links(&m), "{m:?}");
        }
        assert!(links(&Method::Other("magic-link")));
        assert!(!links(&Method::Other("anonymous")));
        assert!(!links(&Method::ChangePassword));
    }
}
