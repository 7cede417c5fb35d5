//! `POST /sign-in/email-otp` (signing up on a first code unless `disable_sign_up`) and
//! `POST /email-otp/verify-email`.

use super::otp::{self, OnSuccess};
use super::{checked_email, errors, settings};
use crate::app::Auth;
use crate::error::{codes, ApiResult};
use crate::fields::Action;
use crate::http::input::{Input, Obj, Shape, Valid};
use crate::http::reply::Reply;
use crate::session::hooks::{self, Born, Method, SignIn};
use crate::session::{self, unproven, MaybeSession, RequestMeta};
use crate::store::model::{User, UserPatch};
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{json, Map, Value};

const METHOD: Method = Method::Other("email-otp");

/// `{email: string, otp: string, name?, image?}` and any other members (additional user fields).
pub struct SignInBody {
    email: String,
    otp: String,
    name: Option<String>,
    image: Option<String>,
    all: Map<String, Value>,
}

impl Input for SignInBody {
    const SHAPE: Shape = Shape::ObjectAndRecord;
    fn parse(o: &mut Obj<'_>) -> Self {
        SignInBody {
            email: o.string("email"),
            otp: o.string("otp"),
            name: o.opt_string("name"),
            image: o.opt_string("image"),
            all: o.map().clone(),
        }
    }
}

/// Signs `user` in through [`hooks::sign_in`]: `answer(token)` with the session cookies.
async fn signed_in(
    auth: &Auth,
    user: &User,
    meta: &RequestMeta,
    headers: &HeaderMap,
    answer: impl FnOnce(&str) -> Value,
) -> ApiResult<Reply> {
    let s = match hooks::sign_in(auth, SignIn { user, method: METHOD, meta, headers, remember: true, federated: None }).await? {
        Born::Session(s) => s,
        Born::Answered(r) => return Ok(r),
    };
    // Better Auth's `setSessionCookie` without `dontRememberMe`: a `dont_remember` cookie the
    // browser already holds keeps the session cookie a browser-session one.
    let cookies = session::issue_cookies(auth, &s, user, session::dont_remember_from(auth, headers));
    Ok(Reply::json(&answer(&s.token)).cookies(cookies))
}

/// `POST /sign-in/email-otp`
pub async fn sign_in(State(auth): State<Auth>, Valid(b): Valid<SignInBody>, meta: RequestMeta, headers: HeaderMap) -> ApiResult<Reply> {
    let cfg = settings(&auth);
    let email = b.email.to_lowercase();
    if let Err(e) = otp::verify(&auth, cfg, &otp::identifier("sign-in", &email), &b.otp, OnSuccess::Consume).await {
        let f = session::failed::Failed { method: "email-otp", user_id: None, email: Some(&email), error: &e };
        session::failed::emit(&auth, &meta, f).await;
        return Err(e);
    }
    let user = match auth.store.find_user_by_email(&email).await? {
        Some(u) if u.email_verified => u,
        // An account nobody proved the address of: its password, links and sessions go first.
        Some(u) => unproven::revoke_unproven_access(&auth, &u.id).await?.ok_or(errors::INVALID_OTP)?,
        None if cfg.disable_sign_up => return Err(errors::INVALID_OTP),
        None => {
            let mut rest = b.all;
            for k in ["email", "otp", "name", "image"] {
                rest.remove(k);
            }
            let now = auth.now();
            let (extra, hidden) = auth.user_fields.complete(auth.user_fields.parse_input(&rest, Action::Create, now)?);
            let user = User {
                extra,
                hidden,
                id: auth.new_id(),
                name: b.name.unwrap_or_default(),
                email,
                email_verified: true,
                image: b.image,
                created_at: now,
                updated_at: now,
            };
            hooks::create_user(&auth, user, None).await?
        }
    };
    signed_in(&auth, &user, &meta, &headers, |token| json!({"token": token, "user": user})).await
}

/// `{email: string, otp: string}`
pub struct VerifyEmailBody {
    email: String,
    otp: String,
}

impl Input for VerifyEmailBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        VerifyEmailBody { email: o.string("email"), otp: o.string("otp") }
    }
}

/// `POST /email-otp/verify-email`: marks the address verified; `{status, token, user}`, with a new
/// session when `email_verification.auto_sign_in_after_verification`, else `token: null` (and the
/// caller's own cookie cache refreshed when it is that user).
pub async fn verify_email(
    State(auth): State<Auth>,
    Valid(b): Valid<VerifyEmailBody>,
    MaybeSession(cur): MaybeSession,
    meta: RequestMeta,
    headers: HeaderMap,
) -> ApiResult<Reply> {
    let email = checked_email(&b.email)?;
    otp::verify(&auth, settings(&auth), &otp::identifier("email-verification", &email), &b.otp, OnSuccess::Consume).await?;
    // Whoever holds a valid code already knows the address gets mail: no enumeration here.
    let user = auth.store.find_user_by_email(&email).await?.ok_or(codes::USER_NOT_FOUND)?;
    let patch = UserPatch { email: Some(email), email_verified: Some(true), ..Default::default() };
    let was_verified = user.email_verified;
    let user = hooks::update_user(&auth, &user.id, patch).await?.ok_or(codes::USER_NOT_FOUND)?;
    auth.sessions.refresh_user(&user, auth.now()).await;
    if !was_verified {
        session::changed::emit(&auth, "email.verified", Some(&meta), Some(&user.id), &user, json!({ "via": "email-otp" })).await;
    }
    if auth.config.email_verification.auto_sign_in_after_verification {
        return signed_in(&auth, &user, &meta, &headers, |token| json!({"status": true, "token": token, "user": user})).await;
    }
    let body = Reply::json(&json!({"status": true, "token": null, "user": user}));
    Ok(match cur.filter(|c| c.user.id == user.id) {
        Some(c) => body.cookies(session::cache_cookie(&auth, &c.session, &user, c.dont_remember)),
        None => body,
    })
}
