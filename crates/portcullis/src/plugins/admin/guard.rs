//! Who may call an admin route: [`Authorized<P>`], an extractor for Portcullis's routes and an
//! embedder's own, that reads the session from the store (Better Auth's `adminMiddleware`: a
//! revoked session, or a role just taken away, is refused at once) and checks permission `P`.
//!
//! Declare a permission with [`permission!`](crate::permission):
//!
//! ```
//! portcullis::permission!(pub ReadUsers { user: ["list", "get"] } else portcullis::plugins::admin::errors::YOU_ARE_NOT_ALLOWED_TO_LIST_USERS);
//! // async fn handler(portcullis::plugins::admin::Authorized(cur, _): portcullis::plugins::admin::Authorized<ReadUsers>) { ... }
//! ```
//!
//! Without a session: 401 with no body. Without the permission: `P::DENIED` (403 with Better
//! Auth's code). Must never: answer from the cookie cache.

use super::roles;
use crate::access::Request;
use crate::app::Auth;
use crate::error::ApiError;
use crate::session::{Current, SensitiveSession};
use axum::extract::{FromRef, FromRequestParts};
use axum::http::{request::Parts, StatusCode};
use std::marker::PhantomData;

/// A permission an endpoint requires: resource → actions (all of them), and the refusal.
pub trait Permission: Send + Sync + 'static {
    const PERMISSIONS: &'static [(&'static str, &'static [&'static str])];
    /// The 403 answered when the session's user lacks it.
    const DENIED: ApiError;
    fn request() -> Request {
        Request::of(Self::PERMISSIONS)
    }
}

/// The caller's store-fresh session, whose user holds permission `P`.
pub struct Authorized<P>(pub Current, pub PhantomData<P>);

/// A store-fresh session without a permission check (stop-impersonating, has-permission); 401
/// with no body otherwise.
pub struct AdminSession(pub Current);

async fn fresh<S: Send + Sync>(parts: &mut Parts, state: &S) -> Result<Current, ApiError>
where
    Auth: FromRef<S>,
{
    match SensitiveSession::from_request_parts(parts, state).await {
        Ok(SensitiveSession(cur)) => Ok(cur),
        Err(e) if e.status == StatusCode::UNAUTHORIZED => Err(ApiError::bare(StatusCode::UNAUTHORIZED)),
        Err(e) => Err(e),
    }
}

impl<S: Send + Sync, P: Permission> FromRequestParts<S> for Authorized<P>
where
    Auth: FromRef<S>,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let cur = fresh(parts, state).await?;
        let auth = Auth::from_ref(state);
        if !roles::allows(super::settings(&auth), &cur.user, &P::request(), auth.now()) {
            return Err(P::DENIED);
        }
        Ok(Authorized(cur, PhantomData))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AdminSession
where
    Auth: FromRef<S>,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        fresh(parts, state).await.map(AdminSession)
    }
}

/// Declares a [`Permission`]: `permission!(pub Name { resource: ["action", ...], ... } else ERROR);`
#[macro_export]
macro_rules! permission {
    ($vis:vis $name:ident { $($res:ident : [$($act:literal),* $(,)?]),* $(,)? } else $err:expr) => {
        $vis struct $name;
        impl $crate::plugins::admin::Permission for $name {
            const PERMISSIONS: &'static [(&'static str, &'static [&'static str])] = &[$((stringify!($res), &[$($act),*])),*];
            const DENIED: $crate::ApiError = $err;
        }
    };
}

/// Whether `user` may do `request` (for checks inside a handler: the extra permissions of
/// create-user and update-user).
pub fn require(auth: &Auth, cur: &Current, request: &[(&str, &[&str])], denied: ApiError) -> Result<(), ApiError> {
    if roles::allows(super::settings(auth), &cur.user, &Request::of(request), auth.now()) {
        Ok(())
    } else {
        Err(denied)
    }
}
