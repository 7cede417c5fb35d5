//! The signed-in user's provider accounts: `/unlink-account`, `/get-access-token`,
//! `/refresh-token`, `/account-info` (spec §2.5). Accounts are selected by their row id and must
//! belong to the session's user. Tokens leave this module only in the response to their owner.

use super::provider::{Provider, Runtime};
use super::{account, errors, oauth, profile};
use crate::app::Auth;
use crate::error::{codes, ApiError, ApiResult};
use crate::http::input::{Input, Obj, Valid, ValidQuery};
use crate::http::reply::Reply;
use crate::session::hooks::{self, SessionUse};
use crate::session::{self, Current, FreshSession, RequestMeta};
use crate::store::model::{iso_ms, Account};
use axum::extract::State;
use axum::http::{request::Parts, StatusCode};
use axum::Extension;
use chrono::Duration;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Refresh first when the access token expires within this many seconds.
const REFRESH_MARGIN_S: i64 = 5;

/// `{accountId: string}`
pub struct UnlinkBody(String);

impl Input for UnlinkBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        UnlinkBody(o.string("accountId"))
    }
}

/// `FreshSession` reads the store: a revoked session's cached cookie must not change the account.
pub async fn unlink_account(
    State(auth): State<Auth>,
    Valid(b): Valid<UnlinkBody>,
    FreshSession(cur): FreshSession,
    meta: RequestMeta,
) -> ApiResult<Reply> {
    let id = b.0.as_str();
    let accounts = auth.store.list_accounts(&cur.user.id).await?;
    // Better Auth's order: the last account is refused before the id is even looked at.
    if accounts.len() <= 1 {
        return Err(codes::FAILED_TO_UNLINK_LAST_ACCOUNT);
    }
    let Some(target) = accounts.iter().find(|a| a.id == id) else { return Err(codes::ACCOUNT_NOT_FOUND) };
    auth.store.delete_account(&target.id).await?;
    super::account::emit(&auth, "account.unlinked", &meta, target, "unlink-account").await;
    Ok(Reply::json(&json!({"status": true})))
}

/// The session, always re-read from the store; none → 401 with an empty body (Better Auth).
/// Reads the cookie itself (for the empty 401), so it asks the session-use hooks (CSRF tokens) as
/// the extractors do.
async fn current(auth: &Auth, parts: &Parts) -> ApiResult<Current> {
    let token = session::token_from(auth, &parts.headers).ok_or(ApiError::bare(StatusCode::UNAUTHORIZED))?;
    let (session, user) = session::find(auth, &token).await?.ok_or(ApiError::bare(StatusCode::UNAUTHORIZED))?;
    let u = SessionUse { method: &parts.method, headers: &parts.headers, extensions: &parts.extensions, token: &token };
    hooks::check_session_use(auth, &u)?;
    Ok(Current { session, user, dont_remember: false, from_cache: false })
}

/// `accountSelectionSchema`: `z.union([z.strictObject({accountId: z.string(), userId?}),
/// z.strictObject({useAccountCookie: z.literal(true), userId?})])`. As zod's union: the first
/// option that fits wins; if exactly one option failed only on unknown keys, its issue is the
/// answer; otherwise `Invalid input`. `useAccountCookie` needs the account cookie, which
/// Portcullis does not issue, so it never finds an account.
pub enum Selector {
    Account(String),
    Cookie,
}

impl Input for Selector {
    fn parse(_: &mut Obj<'_>) -> Self {
        Selector::Cookie
    }
    /// The union's members, for the API document (`read` checks which option fits).
    fn describe(o: &mut Obj<'_>) {
        o.opt_string("accountId");
        o.opt_bool("useAccountCookie");
        o.opt_string("userId");
    }
    fn read(v: Option<&Value>, at: &str, issues: &mut Vec<String>) -> Option<Self> {
        let Some(Value::Object(m)) = v else {
            issues.push(format!("[{at}] Invalid input"));
            return None;
        };
        // Per option: whether a member failed (zod "aborts" the option), and its unknown keys.
        let option = |key: &str, ok: fn(&Value) -> bool| {
            let failed = !m.get(key).is_some_and(ok) || m.get("userId").is_some_and(|u| !u.is_string());
            let unknown: Vec<String> = m.keys().filter(|k| *k != key && *k != "userId").map(|k| format!("{k:?}")).collect();
            (failed, unknown)
        };
        let account = option("accountId", Value::is_string);
        let cookie = option("useAccountCookie", |v| v == &Value::Bool(true));
        match (&account, &cookie) {
            ((false, u), _) if u.is_empty() => return m.get("accountId").and_then(Value::as_str).map(|s| Selector::Account(s.into())),
            (_, (false, u)) if u.is_empty() => return Some(Selector::Cookie),
            _ => {}
        }
        let unknown = match (account, cookie) {
            ((false, u), (true, _)) | ((true, _), (false, u)) => u,
            _ => {
                issues.push(format!("[{at}] Invalid input"));
                return None;
            }
        };
        let s = if unknown.len() > 1 { "s" } else { "" };
        issues.push(format!("[{at}] Unrecognized key{s}: {}", unknown.join(", ")));
        None
    }
}

impl Selector {
    fn account_id(self) -> ApiResult<String> {
        match self {
            Selector::Account(id) => Ok(id),
            Selector::Cookie => Err(codes::ACCOUNT_NOT_FOUND),
        }
    }
}

async fn owned_account(auth: &Auth, user_id: &str, id: &str) -> ApiResult<Account> {
    match auth.store.find_account_by_id(id).await? {
        Some(a) if a.user_id == user_id => Ok(a),
        _ => Err(codes::ACCOUNT_NOT_FOUND),
    }
}

/// Refreshes with the stored refresh token and persists the result. Err = a message for the log.
async fn do_refresh(auth: &Auth, rt: &Runtime, p: &Provider, a: &mut Account) -> Result<(), String> {
    let rt_token = account::open(auth, a.refresh_token.as_deref()).ok_or("no refresh token")?;
    let http = rt.http()?;
    let ep = p.endpoints(http).await?;
    let tokens = oauth::refresh(http, p, &ep, &rt_token).await?;
    let now = auth.now();
    account::apply_tokens(auth, a, &tokens, now);
    if tokens.refresh_token.is_none() {
        // The old refresh token stays; its expiry is unknown again only if the IdP said so.
        a.refresh_token_expires_at = a.refresh_token_expires_at.filter(|t| *t > now);
    }
    auth.store.update_account_tokens(a).await.map_err(|e| e.to_string())
}

/// A usable access token for the account, refreshing it first when it is about to expire.
async fn valid_access_token(auth: &Auth, rt: &Runtime, p: &Provider, a: &mut Account) -> Result<String, String> {
    let expiring = a.access_token_expires_at.is_some_and(|t| t - Duration::seconds(REFRESH_MARGIN_S) <= auth.now());
    if expiring && a.refresh_token.is_some() {
        do_refresh(auth, rt, p, a).await?;
    }
    account::open(auth, a.access_token.as_deref()).ok_or_else(|| "no access token".to_string())
}

pub async fn get_access_token(
    State(auth): State<Auth>,
    Extension(rt): Extension<Arc<Runtime>>,
    Valid(selector): Valid<Selector>,
    parts: Parts,
) -> ApiResult<Reply> {
    let cur = current(&auth, &parts).await?;
    let id = selector.account_id()?;
    let mut a = owned_account(&auth, &cur.user.id, &id).await?;
    let p = rt.provider(&auth, &a.provider_id).ok_or_else(|| errors::provider_not_supported(&a.provider_id))?;
    let token = valid_access_token(&auth, &rt, &p, &mut a).await.map_err(|e| {
        tracing::warn!(provider = %p.id, error = %e, "get-access-token failed");
        errors::FAILED_TO_GET_ACCESS_TOKEN
    })?;
    let mut out = Map::new();
    out.insert("accessToken".into(), json!(token));
    if let Some(t) = a.access_token_expires_at {
        out.insert("accessTokenExpiresAt".into(), json!(iso_ms::format(&t)));
    }
    out.insert("scopes".into(), json!(a.scopes()));
    if let Some(t) = &a.id_token {
        out.insert("idToken".into(), json!(t));
    }
    Ok(Reply::json(&Value::Object(out)))
}

pub async fn refresh_token(
    State(auth): State<Auth>,
    Extension(rt): Extension<Arc<Runtime>>,
    Valid(selector): Valid<Selector>,
    parts: Parts,
) -> ApiResult<Reply> {
    let cur = current(&auth, &parts).await?;
    let id = selector.account_id()?;
    let mut a = owned_account(&auth, &cur.user.id, &id).await?;
    let p = rt.provider(&auth, &a.provider_id).ok_or(errors::TOKEN_REFRESH_NOT_SUPPORTED)?;
    if a.refresh_token.is_none() {
        return Err(errors::REFRESH_TOKEN_NOT_FOUND);
    }
    do_refresh(&auth, &rt, &p, &mut a).await.map_err(|e| {
        tracing::warn!(provider = %p.id, error = %e, "refresh-token failed");
        errors::FAILED_TO_REFRESH_ACCESS_TOKEN
    })?;
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| iso_ms::format(&t));
    Ok(Reply::json(&json!({
        "accessToken": account::open(&auth, a.access_token.as_deref()),
        "refreshToken": account::open(&auth, a.refresh_token.as_deref()),
        "accessTokenExpiresAt": time(a.access_token_expires_at),
        "refreshTokenExpiresAt": time(a.refresh_token_expires_at),
        "scope": a.scope,
        "idToken": a.id_token,
        "providerId": a.provider_id,
        "accountId": a.id,
    })))
}

pub async fn account_info(
    State(auth): State<Auth>,
    Extension(rt): Extension<Arc<Runtime>>,
    ValidQuery(selector): ValidQuery<Selector>,
    parts: Parts,
) -> ApiResult<Reply> {
    let cur = current(&auth, &parts).await?;
    let id = selector.account_id()?;
    let mut a = owned_account(&auth, &cur.user.id, &id).await?;
    let p = rt.provider(&auth, &a.provider_id).ok_or(errors::PROVIDER_NOT_CONFIGURED)?;
    let token = valid_access_token(&auth, &rt, &p, &mut a).await.map_err(|e| {
        tracing::warn!(provider = %p.id, error = %e, "account-info: no access token");
        errors::ACCESS_TOKEN_NOT_FOUND
    })?;
    let http = rt.http().map_err(ApiError::internal)?;
    let ep = p.endpoints(http).await.map_err(|_| errors::FAILED_TO_GET_USER_INFO)?;
    let prof = profile::for_account(http, &p, &ep, &token, a.id_token.as_deref()).await.map_err(|e| {
        tracing::warn!(provider = %p.id, error = %e, "account-info: user info failed");
        errors::FAILED_TO_GET_USER_INFO
    })?;
    Ok(Reply::json(&json!({
        "user": {"name": prof.name, "email": prof.email, "image": prof.image, "emailVerified": prof.email_verified},
        "data": prof.raw,
        "account": {"id": a.id, "providerId": a.provider_id, "accountId": a.account_id},
    })))
}
