//! Who a verify endpoint is verifying (Better Auth's `verifyTwoFactor`): a signed-in user (the
//! session read from the store; no attempt cap, success answers the current session), or the
//! sign-in challenge of the `two_factor` cookie (5 attempts per challenge, success consumes the
//! challenge and creates the session, with a trusted device when asked).

use super::{challenge, errors};
use crate::app::Auth;
use crate::error::ApiResult;
use crate::http::reply::Reply;
use crate::session::hooks::{self, Born, Method, SignIn};
use crate::session::{self, Current, RequestMeta};
use crate::store::model::{User, Verification};
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use serde_json::json;

pub enum Verifier {
    Session(Current),
    Challenge { identifier: String, row: Verification, user: User, dont_remember: bool },
}

/// Per-challenge attempt counter (`2fa-attempts-…`), consumed for the attempt and put back after.
pub struct Attempt {
    identifier: String,
    count: u32,
    expires_at: DateTime<Utc>,
}

impl Attempt {
    async fn rearm(&self, auth: &Auth, count: u32) {
        let v = challenge::verification_row(auth, self.identifier.clone(), count.to_string(), self.expires_at);
        if let Err(e) = auth.store.create_verification(&v).await {
            tracing::warn!(error = %e, "two-factor attempt counter not re-armed");
        }
    }
    pub async fn failed(&self, auth: &Auth) {
        self.rearm(auth, self.count + 1).await;
    }
    pub async fn restore(&self, auth: &Auth) {
        self.rearm(auth, self.count).await;
    }
}

impl Verifier {
    pub async fn resolve(auth: &Auth, headers: &HeaderMap, cur: Option<Current>) -> ApiResult<Self> {
        if let Some(cur) = cur {
            return Ok(Verifier::Session(cur));
        }
        let cookie = challenge::two_factor_cookie(auth);
        let identifier = challenge::signed_cookie(auth, headers, &cookie.name).ok_or(errors::INVALID_TWO_FACTOR_COOKIE)?;
        let row = auth.store.find_verification(&identifier).await?.filter(|r| r.expires_at > auth.now());
        let row = row.ok_or(errors::INVALID_TWO_FACTOR_COOKIE)?;
        let user = auth.store.find_user_by_id(&row.value).await?.ok_or(errors::INVALID_TWO_FACTOR_COOKIE)?;
        let dont_remember = session::dont_remember_from(auth, headers);
        Ok(Verifier::Challenge { identifier, row, user, dont_remember })
    }

    /// Refuses an enrolment challenge (`required_for_roles`, two-factor not on yet): only
    /// `verify-totp` (the first code of the new secret) may complete one.
    pub fn not_enrolling(self) -> ApiResult<Self> {
        match &self {
            Verifier::Challenge { user, .. } if !challenge::enabled_for(user) => Err(errors::TWO_FACTOR_NOT_ENABLED),
            _ => Ok(self),
        }
    }

    pub fn user(&self) -> &User {
        match self {
            Verifier::Session(c) => &c.user,
            Verifier::Challenge { user, .. } => user,
        }
    }

    /// On the sign-in path (no session): attempt caps and the account lockout apply.
    pub fn is_sign_in(&self) -> bool {
        matches!(self, Verifier::Challenge { .. })
    }

    /// The key of this verification's e-mailed code: the challenge, or `<userId>!<sessionId>`.
    pub fn key(&self) -> String {
        match self {
            Verifier::Session(c) => format!("{}!{}", c.user.id, c.session.id),
            Verifier::Challenge { identifier, .. } => identifier.clone(),
        }
    }

    /// Takes one of the challenge's `allowed` attempts (none to take with a session).
    pub async fn begin_attempt(&self, auth: &Auth, allowed: u32) -> ApiResult<Option<Attempt>> {
        let Verifier::Challenge { identifier: challenge_id, row, .. } = self else { return Ok(None) };
        let identifier = format!("2fa-attempts-{challenge_id}");
        let counter = challenge::consume(auth, &identifier).await?.ok_or(errors::INVALID_TWO_FACTOR_COOKIE)?;
        let count = counter.value.parse::<u32>().unwrap_or(allowed);
        if count >= allowed {
            challenge::consume(auth, challenge_id).await?;
            return Err(challenge::too_many(auth));
        }
        Ok(Some(Attempt { identifier, count, expires_at: row.expires_at }))
    }

    /// The success answer: `{token, user}` of the current session, or of the session the
    /// challenge becomes (with a trusted device when `trust_device`).
    pub async fn valid(&self, auth: &Auth, meta: &RequestMeta, headers: &HeaderMap, trust_device: bool) -> ApiResult<Reply> {
        let (identifier, user, dont_remember) = match self {
            Verifier::Session(c) => return Ok(Reply::json(&json!({ "token": c.session.token, "user": c.user }))),
            Verifier::Challenge { identifier, user, dont_remember, .. } => (identifier, user, *dont_remember),
        };
        let cookie = challenge::two_factor_cookie(auth);
        // An enrolment challenge becomes a session only once two-factor is on (its first TOTP
        // code); a backup code of a secret never verified does not count.
        if !challenge::enabled_for(user) {
            return Err(errors::TWO_FACTOR_NOT_ENABLED);
        }
        let consumed = challenge::consume(auth, identifier).await?;
        if !consumed.is_some_and(|v| crate::crypto::ct_eq(v.value.as_bytes(), user.id.as_bytes())) {
            hooks::set_cookie(cookie.delete());
            return Err(errors::INVALID_TWO_FACTOR_COOKIE);
        }
        let sign_in = SignIn { user, method: Method::Other("two-factor"), meta, headers, remember: !dont_remember, federated: None };
        let s = match hooks::sign_in(auth, sign_in).await? {
            Born::Session(s) => s,
            Born::Answered(r) => return Ok(r),
        };
        let mut cookies = session::issue_cookies(auth, &s, user, dont_remember);
        cookies.push(cookie.delete());
        if trust_device {
            cookies.push(challenge::new_trust_record(auth, &user.id).await?);
            cookies.retain(|c| !c.as_bytes().starts_with(format!("{}=", auth.cookies.dont_remember.name).as_bytes()));
            cookies.push(auth.cookies.dont_remember.delete());
        }
        Ok(Reply::json(&json!({ "token": s.token, "user": user })).cookies(cookies))
    }
}
