//! `POST /sign-in/magic-link` and `GET /magic-link/verify`.

use super::config::{MagicLinkConfig, StoreToken};
use super::{settings, MAGIC_LINK};
use crate::app::Auth;
use crate::crypto;
use crate::error::{codes, ApiError, ApiResult};
use crate::http::body::is_email;
use crate::http::input::{Input, Obj, Valid, ValidQuery};
use crate::http::reply::Reply;
use crate::session::hooks::{self, Born, Method, SignIn, WriteError};
use crate::session::{self, unproven, RequestMeta};
use crate::store::model::{User, Verification};
use axum::extract::State;
use axum::http::HeaderMap;
use chrono::Duration;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// `generateRandomString(32, "a-z", "A-Z")`
const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// `{email: z.email(), name?, callbackURL?, newUserCallbackURL?, errorCallbackURL?, metadata?}`;
/// the three URLs are checked against the trusted origins by the pipeline (`originCheckMiddleware`).
pub struct SignInBody {
    email: String,
    name: Option<String>,
    callback_url: Option<String>,
    new_user_callback_url: Option<String>,
    error_callback_url: Option<String>,
}

impl Input for SignInBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        let b = SignInBody {
            email: o.email("email"),
            name: o.opt_string("name"),
            callback_url: o.opt_string("callbackURL"),
            new_user_callback_url: o.opt_string("newUserCallbackURL"),
            error_callback_url: o.opt_string("errorCallbackURL"),
        };
        // Passed to Better Auth's `sendMagicLink`; Portcullis's e-mail has no use for it.
        let _ = o.opt_record("metadata");
        b
    }
}

/// The row's value, in Better Auth's key order (`name` left out when not given).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    #[serde(rename = "type")]
    kind: String,
    email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

/// Better Auth's strict record schema: `{type: "magic-link", email: z.email(), name?: string}`.
fn parse_record(value: &str) -> Option<Record> {
    let r: Record = serde_json::from_str(value).ok()?;
    (r.kind == "magic-link" && is_email(&r.email)).then_some(r)
}

fn identifier(cfg: &MagicLinkConfig, token: &str) -> String {
    match cfg.store_token {
        StoreToken::Plain => format!("magic-link:{token}"),
        StoreToken::Hashed => format!("magic-link:{}", crypto::sha256_b64url(token)),
    }
}

/// JavaScript's `x || fallback` on an optional string: an empty one is absent.
fn given(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

pub async fn sign_in(State(auth): State<Auth>, Valid(b): Valid<SignInBody>) -> ApiResult<Reply> {
    let cfg = settings(&auth);
    let token = crypto::random_string(32, LETTERS);
    let now = auth.now();
    let record = Record { kind: "magic-link".into(), email: b.email.clone(), name: b.name.clone() };
    let row = Verification {
        id: auth.new_id(),
        identifier: identifier(cfg, &token),
        value: serde_json::to_string(&record).map_err(ApiError::internal)?,
        expires_at: now + Duration::seconds(cfg.expires_in as i64),
        created_at: now,
        updated_at: now,
    };
    auth.store.create_verification(&row).await?;
    let mut url = url::Url::parse(&format!("{}/magic-link/verify", auth.auth_url)).map_err(ApiError::internal)?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("token", &token).append_pair("callbackURL", given(&b.callback_url).unwrap_or("/"));
        if let Some(u) = given(&b.new_user_callback_url) {
            q.append_pair("newUserCallbackURL", u);
        }
        if let Some(u) = given(&b.error_callback_url) {
            q.append_pair("errorCallbackURL", u);
        }
    }
    auth.send_mail(MAGIC_LINK, &b.email, json!({ "url": url.as_str(), "token": token, "email": b.email }));
    Ok(Reply::json(&json!({"status": true})))
}

/// `?token&callbackURL?&errorCallbackURL?&newUserCallbackURL?`
pub struct VerifyQuery {
    token: String,
    callback_url: Option<String>,
    error_callback_url: Option<String>,
    new_user_callback_url: Option<String>,
}

impl Input for VerifyQuery {
    fn parse(o: &mut Obj<'_>) -> Self {
        VerifyQuery {
            token: o.string("token"),
            callback_url: o.opt_string("callbackURL"),
            error_callback_url: o.opt_string("errorCallbackURL"),
            new_user_callback_url: o.opt_string("newUserCallbackURL"),
        }
    }
}

/// Where a verification ends: `new URL(target, baseURL)` of each callback.
struct Targets {
    callback: url::Url,
    new_user: url::Url,
    error: url::Url,
}

impl Targets {
    fn of(auth: &Auth, q: &VerifyQuery) -> ApiResult<Self> {
        let base = url::Url::parse(&auth.auth_url).map_err(ApiError::internal)?;
        let resolve = |u: &str| base.join(u).map_err(|_| codes::INVALID_CALLBACK_URL);
        let callback = resolve(given(&q.callback_url).unwrap_or("/"))?;
        let new_user = match given(&q.new_user_callback_url) {
            Some(u) => resolve(u)?,
            None => callback.clone(),
        };
        let error = match given(&q.error_callback_url) {
            Some(u) => resolve(u)?,
            None => callback.clone(),
        };
        Ok(Targets { callback, new_user, error })
    }

    /// A 302 to the error callback with `error` (and `error_description`) set, as
    /// `URLSearchParams.set` does: replacing a parameter of the same name.
    fn fail(&self, error: &str, description: Option<&str>) -> Reply {
        let mut u = self.error.clone();
        set_param(&mut u, "error", error);
        if let Some(d) = description {
            set_param(&mut u, "error_description", d);
        }
        Reply::redirect(u.as_str())
    }
}

fn set_param(u: &mut url::Url, key: &str, value: &str) {
    let mut pairs: Vec<(String, String)> = u.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    match pairs.iter().position(|(k, _)| k == key) {
        Some(i) => {
            pairs[i].1 = value.to_string();
            let mut seen = false;
            pairs.retain(|(k, _)| k != key || !std::mem::replace(&mut seen, true));
        }
        None => pairs.push((key.to_string(), value.to_string())),
    }
    u.query_pairs_mut().clear().extend_pairs(pairs);
}

/// An unknown, used or expired link: `sign-in.failed` (`method = "magic-link"`), then the
/// redirect with `error=INVALID_TOKEN`.
async fn invalid(auth: &Auth, meta: &RequestMeta, t: &Targets) -> Reply {
    let e = codes::INVALID_TOKEN;
    crate::session::failed::emit(
        auth,
        meta,
        crate::session::failed::Failed { method: "magic-link", user_id: None, email: None, error: &e },
    )
    .await;
    t.fail("INVALID_TOKEN", None)
}

pub async fn verify(
    State(auth): State<Auth>,
    ValidQuery(q): ValidQuery<VerifyQuery>,
    meta: RequestMeta,
    headers: HeaderMap,
) -> ApiResult<Reply> {
    // Better Auth's three `originCheck` middlewares, all reported as the callbackURL.
    for u in [&q.callback_url, &q.new_user_callback_url, &q.error_callback_url] {
        if given(u).is_some_and(|u| !auth.origins.matches(u, true)) {
            return Err(codes::INVALID_CALLBACK_URL);
        }
    }
    let t = Targets::of(&auth, &q)?;
    let cfg = settings(&auth);
    let identifier = identifier(cfg, &q.token);
    let pending = auth.store.find_verification(&identifier).await?;
    if pending.is_none_or(|v| parse_record(&v.value).is_none()) {
        return Ok(invalid(&auth, &meta, &t).await);
    }
    let taken = auth.store.take_verification(&identifier, auth.now()).await?;
    let Some(record) = taken.and_then(|v| parse_record(&v.value)) else { return Ok(invalid(&auth, &meta, &t).await) };

    let (mut user, is_new) = match auth.store.find_user_by_email(&record.email.to_lowercase()).await? {
        Some(u) => (u, false),
        None if cfg.disable_sign_up => return Ok(t.fail("new_user_signup_disabled", None)),
        None => match sign_up(&auth, &record).await {
            Ok(u) => (u, true),
            Err(WriteError::Refused(e)) => return Ok(t.fail(e.code.unwrap_or("failed_to_create_user"), Some(&e.message))),
            Err(WriteError::Store(e)) => {
                tracing::warn!(error = %e, "magic link: creating the user failed");
                return Ok(t.fail("failed_to_create_user", None));
            }
        },
    };
    if !user.email_verified {
        match unproven::revoke_unproven_access(&auth, &user.id).await? {
            Some(u) => user = u,
            None => return Ok(t.fail("user_not_found", None)),
        }
    }
    let sign_in =
        SignIn { user: &user, method: Method::Other("magic-link"), meta: &meta, headers: &headers, remember: true, federated: None };
    let s = match hooks::sign_in(&auth, sign_in).await? {
        Born::Session(s) => s,
        Born::Answered(r) => return Ok(r),
    };
    // Better Auth's `setSessionCookie` without `dontRememberMe`: a `dont_remember` cookie the
    // browser already holds keeps the session cookie a browser-session one.
    let cookies = session::issue_cookies(&auth, &s, &user, session::dont_remember_from(&auth, &headers));
    // Better Auth's `if (!ctx.query.callbackURL)`: without one the answer is JSON.
    if given(&q.callback_url).is_none() {
        return Ok(Reply::json(&json!({"token": s.token, "user": user, "session": s})).cookies(cookies));
    }
    let target = if is_new { &t.new_user } else { &t.callback };
    Ok(Reply::redirect(target.as_str()).cookies(cookies))
}

/// The new user of a first link: the address proven, `name` as given at the request (or "").
async fn sign_up(auth: &Auth, record: &Record) -> Result<User, WriteError> {
    let now = auth.now();
    let (extra, hidden) = auth.user_fields.defaults(now);
    let user = User {
        extra,
        hidden,
        id: auth.new_id(),
        name: record.name.clone().unwrap_or_default(),
        email: record.email.to_lowercase(),
        email_verified: true,
        image: None,
        created_at: now,
        updated_at: now,
    };
    hooks::create_user(auth, user, None).await
}
