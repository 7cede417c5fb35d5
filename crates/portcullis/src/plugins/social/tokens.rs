//! The signed-in user's provider accounts: `/unlink-account`, `/get-access-token`,
//! `/refresh-token`, `/account-info` (spec §2.5). Accounts are selected by their row id and must
//! belong to the session's user. Tokens leave this module only in the response to their owner.

use super::provider::{Provider, Runtime};
use super::{account, errors, oauth, profile};
use crate::app::Auth;
use crate::error::{codes, ApiError, ApiResult};
use crate::http::body::Body;
use crate::http::reply::Reply;
use crate::session::{self, Current, FreshSession};
use crate::store::model::{iso_ms, Account};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Extension;
use chrono::Duration;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// Refresh first when the access token expires within this many seconds.
const REFRESH_MARGIN_S: i64 = 5;

/// `FreshSession` reads the store: a revoked session's cached cookie must not change the account.
pub async fn unlink_account(State(auth): State<Auth>, FreshSession(cur): FreshSession, body: Body) -> ApiResult<Reply> {
    let f = body.object()?;
    let id = f.str("accountId")?;
    let accounts = auth.store.list_accounts(&cur.user.id).await?;
    // Better Auth's order: the last account is refused before the id is even looked at.
    if accounts.len() <= 1 {
        return Err(codes::FAILED_TO_UNLINK_LAST_ACCOUNT);
    }
    let Some(target) = accounts.iter().find(|a| a.id == id) else { return Err(codes::ACCOUNT_NOT_FOUND) };
    auth.store.delete_account(&target.id).await?;
    Ok(Reply::json(&json!({"status": true})))
}

/// The session, always re-read from the store; none → 401 with an empty body (Better Auth).
async fn current(auth: &Auth, headers: &HeaderMap) -> ApiResult<Current> {
    let token = session::token_from(auth, headers).ok_or(ApiError::bare(StatusCode::UNAUTHORIZED))?;
    let (session, user) = session::find(auth, &token).await?.ok_or(ApiError::bare(StatusCode::UNAUTHORIZED))?;
    Ok(Current { session, user, dont_remember: false, from_cache: false })
}

/// `{accountId}` (strict object; `useAccountCookie` needs the account cookie, which Portcullis
/// does not issue, so it never finds an account).
fn selector(body: &Body) -> ApiResult<String> {
    let invalid = || ApiError::validation("[body] Invalid input");
    let Some(Value::Object(m)) = &body.0 else { return Err(invalid()) };
    if m.keys().any(|k| !matches!(k.as_str(), "accountId" | "userId" | "useAccountCookie")) {
        return Err(invalid());
    }
    match (m.get("accountId"), m.get("useAccountCookie")) {
        (Some(Value::String(s)), None) => Ok(s.clone()),
        (None, Some(Value::Bool(true))) => Err(codes::ACCOUNT_NOT_FOUND),
        _ => Err(invalid()),
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
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Reply> {
    let cur = current(&auth, &headers).await?;
    let id = selector(&body)?;
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
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Reply> {
    let cur = current(&auth, &headers).await?;
    let id = selector(&body)?;
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
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Reply> {
    let cur = current(&auth, &headers).await?;
    let id = q.get("accountId").filter(|s| !s.is_empty()).ok_or_else(|| ApiError::validation("[query] Invalid input"))?;
    let mut a = owned_account(&auth, &cur.user.id, id).await?;
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
