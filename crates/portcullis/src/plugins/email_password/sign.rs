//! `POST /sign-up/email` and `POST /sign-in/email`.

use super::{check_length, check_max_length, upgrade_hash, verify::send_verification};
use crate::app::Auth;
use crate::crypto::{password::PasswordError, password::Verified};
use crate::error::{codes, ApiError, ApiResult};
use crate::fields::Action;
use crate::http::body::is_email;
use crate::http::input::{Input, Obj, Shape, Valid};
use crate::http::reply::Reply;
use crate::session::hooks::{self, Born, Method, SignIn, WriteError};
use crate::session::{self, RequestMeta};
use crate::store::model::{Account, User};
use crate::store::StoreError;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Serialize)]
struct SignUpOut<'a> {
    token: Option<&'a str>,
    user: &'a User,
}

/// `signUpEmailBodySchema`: the declared fields, and any others (additional user fields).
pub struct SignUpBody {
    name: String,
    email: String,
    password: String,
    image: Option<String>,
    callback_url: Option<String>,
    remember_me: Option<bool>,
    all: Map<String, Value>,
}

impl Input for SignUpBody {
    const SHAPE: Shape = Shape::ObjectAndRecord;
    fn parse(o: &mut Obj<'_>) -> Self {
        SignUpBody {
            name: o.string("name"),
            email: o.email("email"),
            password: o.nonempty("password"),
            image: o.opt_string("image"),
            callback_url: o.opt_string("callbackURL"),
            remember_me: o.opt_bool("rememberMe"),
            all: o.map().clone(),
        }
    }
}

pub async fn sign_up(State(auth): State<Auth>, Valid(b): Valid<SignUpBody>, meta: RequestMeta, headers: HeaderMap) -> ApiResult<Reply> {
    let cfg = &auth.config.email_and_password;
    if !cfg.enabled || cfg.disable_sign_up {
        return Err(codes::EMAIL_PASSWORD_SIGN_UP_DISABLED);
    }
    let (name, password, image, callback) = (b.name.as_str(), b.password.as_str(), b.image.as_deref(), b.callback_url.as_deref());
    let email = b.email.to_lowercase();
    let remember = b.remember_me.unwrap_or(true);
    check_length(&auth, password)?;

    let now = auth.now();
    let (extra, hidden) = auth.user_fields.complete(auth.user_fields.parse_input(&b.all, Action::Create, now)?);
    let enumeration_safe = cfg.require_email_verification || !cfg.auto_sign_in;
    let new_user = || User {
        extra: extra.clone(),
        hidden: hidden.clone(),
        id: auth.new_id(),
        name: name.to_string(),
        email: email.clone(),
        email_verified: false,
        image: image.map(str::to_string),
        created_at: now,
        updated_at: now,
    };
    if auth.store.find_user_by_email(&email).await?.is_some() {
        if !enumeration_safe {
            return Err(codes::USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL);
        }
        // Same work and the same answer as a real sign-up (every field it would echo, `image`
        // included, as Better Auth's synthetic user), so the response reveals nothing.
        let _ = super::hash(&auth, password).await?;
        return Ok(Reply::json(&SignUpOut { token: None, user: &new_user() }));
    }

    let hash = super::hash(&auth, password).await?;
    let user = new_user();
    let account = Account::credential(auth.new_id(), &user.id, hash, now);
    let user = match hooks::create_user(&auth, user, Some(&account)).await {
        Ok(user) => user,
        Err(WriteError::Store(StoreError::Conflict(_))) => return Err(codes::USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL),
        Err(e) => return Err(e.into()),
    };
    if auth.config.send_on_sign_up() && auth.config.email_verification.enabled {
        send_verification(&auth, &user, callback, None, None);
    }
    if enumeration_safe {
        return Ok(Reply::json(&SignUpOut { token: None, user: &user }));
    }
    let s = match hooks::sign_in(
        &auth,
        SignIn { user: &user, method: Method::SignUp, meta: &meta, headers: &headers, remember, federated: None },
    )
    .await?
    {
        Born::Session(s) => s,
        Born::Answered(r) => return Ok(r),
    };
    let mut cookies = session::issue_cookies(&auth, &s, &user, !remember);
    if remember && session::dont_remember_from(&auth, &headers) {
        cookies.push(auth.cookies.dont_remember.delete());
    }
    Ok(Reply::json(&SignUpOut { token: Some(&s.token), user: &user }).cookies(cookies))
}

#[derive(Serialize)]
struct SignInOut<'a> {
    redirect: bool,
    token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'a str>,
    user: &'a User,
}

/// `{email: string, password: string, callbackURL?, rememberMe?}`; the address is checked by
/// the handler (`INVALID_EMAIL`), as Better Auth does.
pub struct SignInBody {
    email: String,
    password: String,
    callback_url: Option<String>,
    remember_me: Option<bool>,
}

impl Input for SignInBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        SignInBody {
            email: o.string("email"),
            password: o.string("password"),
            callback_url: o.opt_string("callbackURL"),
            remember_me: o.opt_bool("rememberMe"),
        }
    }
}

pub async fn sign_in(State(auth): State<Auth>, Valid(b): Valid<SignInBody>, meta: RequestMeta, headers: HeaderMap) -> ApiResult<Reply> {
    if !auth.config.email_and_password.enabled {
        return Err(codes::EMAIL_PASSWORD_DISABLED);
    }
    let (email, password, callback) = (b.email.as_str(), b.password.as_str(), b.callback_url.as_deref());
    let remember = b.remember_me.unwrap_or(true);
    check_max_length(&auth, password)?;
    if !is_email(email) {
        return Err(codes::INVALID_EMAIL);
    }
    let email = email.to_lowercase();
    // A full hash queue refuses before the database reads, so a sign-in flood costs the store
    // nothing; the answer does not depend on the address.
    if auth.hasher.is_full() {
        return Err(super::busy());
    }

    // Response time must not tell which addresses exist, nor which hash an account holds: the
    // same two reads either way (an unknown address looks up the credential account of an id
    // nobody has), then a check padded so that its time has the same distribution whatever the
    // account holds (`verify_padded`, see crypto::password's "Timing").
    let user = auth.store.find_user_by_email(&email).await?;
    // The id nobody has is drawn only for an unknown address, off a known user's hot path: a
    // microsecond, lost in the spread of the database reads and of the padding.
    let nobody;
    let owner = match &user {
        Some(u) => u.id.as_str(),
        None => {
            // Shaped like a real id, so a `uuid` column takes it.
            nobody = auth.new_id();
            nobody.as_str()
        }
    };
    let account = auth.store.find_credential_account(owner).await?;
    let hash = account.as_ref().filter(|_| user.is_some()).and_then(|a| a.password.as_deref());
    let verified = auth.hasher.verify_padded(hash, password).await;
    // A refusal is emitted with what the handler already read (the user id when the address is
    // known): the same one event, no extra read, whichever way it failed.
    let failed = |user_id: Option<String>, error: ApiError| {
        let (auth, meta, email) = (&auth, &meta, email.as_str());
        async move {
            let f = session::failed::Failed { method: "email", user_id: user_id.as_deref(), email: Some(email), error: &error };
            session::failed::emit(auth, meta, f).await;
            Err::<Reply, ApiError>(error)
        }
    };
    // An address with a user but no password (a social account): the user, read anyway.
    let known = if auth.listens() { user.as_ref().map(|u| u.id.clone()) } else { None };
    let (Some(user), Some(account), Some(hash)) = (user, account.as_ref(), hash) else {
        match verified {
            // A full queue answers the same for every address.
            Err(PasswordError::Busy) => return Err(super::busy()),
            Err(e) => tracing::warn!(error = %e, "dummy password verification did not run"),
            Ok(_) => {}
        }
        return failed(known, codes::INVALID_EMAIL_OR_PASSWORD).await;
    };
    match verified {
        Ok(Verified::Match { needs_rehash }) => {
            if needs_rehash {
                upgrade_hash(&auth, &account.id, hash, password);
            }
        }
        Ok(Verified::Mismatch) => return failed(Some(user.id.clone()), codes::INVALID_EMAIL_OR_PASSWORD).await,
        Err(PasswordError::Busy) => return Err(super::busy()),
        Err(e) => {
            tracing::warn!(account = %account.id, error = %e, "stored password hash is unreadable");
            return failed(Some(user.id.clone()), codes::INVALID_EMAIL_OR_PASSWORD).await;
        }
    }
    if auth.config.email_and_password.require_email_verification && !user.email_verified {
        if auth.config.email_verification.send_on_sign_in && auth.config.email_verification.enabled {
            send_verification(&auth, &user, callback, None, None);
        }
        return failed(Some(user.id.clone()), codes::EMAIL_NOT_VERIFIED).await;
    }
    let s = match hooks::sign_in(
        &auth,
        SignIn { user: &user, method: Method::Email, meta: &meta, headers: &headers, remember, federated: None },
    )
    .await?
    {
        Born::Session(s) => s,
        Born::Answered(r) => return Ok(r),
    };
    let mut cookies = session::issue_cookies(&auth, &s, &user, !remember);
    if remember && session::dont_remember_from(&auth, &headers) {
        cookies.push(auth.cookies.dont_remember.delete());
    }
    let out = SignInOut { redirect: callback.is_some(), token: &s.token, url: callback, user: &user };
    let mut reply = Reply::json(&out).cookies(cookies);
    if let Some(url) = callback.and_then(|c| HeaderValue::from_str(c).ok()) {
        reply = reply.header(header::LOCATION, url);
    }
    Ok(reply)
}
