//! `POST /sign-in/anonymous` and `POST /delete-anonymous-user`.

use super::{errors, is_anonymous, settings, FIELD};
use crate::app::Auth;
use crate::crypto;
use crate::error::ApiResult;
use crate::http::reply::Reply;
use crate::session::hooks::{self, Born, Method, SignIn};
use crate::session::{self, MaybeSession, RequestMeta, SensitiveSession};
use crate::store::model::User;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Serialize;
use serde_json::{json, Value};

/// The e-mail of a new anonymous user: `temp-<id>@<email_domain_name>`, else
/// `<id>@anonymous.placeholder.invalid` (Better Auth's `createPlaceholderEmail`), with `<id>`
/// Better Auth's `generateId()` (32 `[a-zA-Z0-9]`); stored lower-cased, as every e-mail.
fn generated_email(auth: &Auth) -> String {
    let id = crypto::random_id(32);
    let email = match &settings(auth).email_domain_name {
        Some(domain) => format!("temp-{id}@{domain}"),
        None => format!("{id}@anonymous.placeholder.invalid"),
    };
    email.to_lowercase()
}

#[derive(Serialize)]
struct SignInOut<'a> {
    token: &'a str,
    user: &'a User,
}

/// `POST /sign-in/anonymous`: a new anonymous user and its session, `{token, user}`. Refused
/// (400) when the request already carries an anonymous session, as Better Auth's
/// `getSessionFromCtx` sees it (the cookie cache may answer).
pub async fn sign_in_anonymous(
    State(auth): State<Auth>,
    MaybeSession(cur): MaybeSession,
    meta: RequestMeta,
    headers: HeaderMap,
) -> ApiResult<Reply> {
    if cur.is_some_and(|c| is_anonymous(&c.user)) {
        return Err(errors::ANONYMOUS_USERS_CANNOT_SIGN_IN_AGAIN_ANONYMOUSLY);
    }
    let now = auth.now();
    let (mut extra, mut hidden) = auth.user_fields.defaults(now);
    match auth.user_fields.get(FIELD) {
        Some(f) if !f.def.returned => hidden.set(FIELD, Value::Bool(true)),
        _ => extra.set(FIELD, Value::Bool(true)),
    }
    let user = User {
        extra,
        hidden,
        id: auth.new_id(),
        name: "Anonymous".into(),
        email: generated_email(&auth),
        email_verified: false,
        image: None,
        created_at: now,
        updated_at: now,
    };
    let user = hooks::create_user(&auth, user, None).await?;
    let s = match hooks::sign_in(
        &auth,
        SignIn { user: &user, method: Method::Other("anonymous"), meta: &meta, headers: &headers, remember: true, federated: None },
    )
    .await?
    {
        Born::Session(s) => s,
        Born::Answered(r) => return Ok(r),
    };
    let cookies = session::issue_cookies(&auth, &s, &user, false);
    Ok(Reply::json(&SignInOut { token: &s.token, user: &user }).cookies(cookies))
}

/// `POST /delete-anonymous-user`: deletes the session's anonymous user (read from the store),
/// with its sessions and accounts, and clears the cookies; `{success: true}`.
pub async fn delete_anonymous_user(State(auth): State<Auth>, SensitiveSession(cur): SensitiveSession) -> ApiResult<Reply> {
    if settings(&auth).disable_delete_anonymous_user {
        return Err(errors::DELETE_ANONYMOUS_USER_DISABLED);
    }
    if !is_anonymous(&cur.user) {
        return Err(errors::USER_IS_NOT_ANONYMOUS);
    }
    hooks::delete_user(&auth, &cur.user).await?;
    Ok(Reply::json(&json!({"success": true})).cookies(session::clear_cookies(&auth)))
}
