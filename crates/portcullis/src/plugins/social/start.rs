//! Starting a flow: `POST /sign-in/social`, `POST /link-social` (spec §2.3, §2.4, §11.1), and the
//! Portcullis additions `GET /sign-in/social/{provider}` (a plain link answering 302) and
//! `GET /auto-redirect/{provider}?client=tauri|extension` (native hand-off to a configured scheme).
//! A body with `idToken` skips the redirect and is handled by [`super::id_token`].

use super::id_token::IdTokenBody;
use super::provider::{Provider, Runtime};
use super::state::{self, Handoff, LinkData, StateData};
use super::{cipher::Keys, errors, id_token, oauth};
use crate::app::Auth;
use crate::error::{codes, ApiError, ApiResult};
use crate::http::input::{Input, Obj, Valid};
use crate::http::reply::Reply;
use crate::session::{RequestMeta, SensitiveSession};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::Extension;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Default)]
struct Options {
    callback_url: Option<String>,
    new_user_url: Option<String>,
    error_url: Option<String>,
    scopes: Vec<String>,
    login_hint: Option<String>,
    additional_params: Vec<(String, String)>,
    additional_data: Map<String, Value>,
    request_sign_up: Option<bool>,
    link: Option<LinkData>,
    handoff: Option<Handoff>,
}

/// The body of `POST /sign-in/social` (`socialSignInBodySchema`) or `POST /link-social`.
pub struct StartBody {
    provider: String,
    id_token: Option<IdTokenBody>,
    disable_redirect: bool,
    options: Options,
}

const RESERVED: &str = "additionalParams cannot include reserved OAuth parameters: \
    state, client_id, redirect_uri, response_type, code_challenge, code_challenge_method, nonce, scope";

fn not_reserved(k: &str) -> bool {
    !oauth::RESERVED_PARAMS.contains(&k)
}

/// Empty URLs count as absent (Better Auth's `if (url)`).
fn url(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty())
}

/// Never let extra data overwrite the flow's own fields.
fn extra_data(m: Option<Map<String, Value>>) -> Map<String, Value> {
    m.unwrap_or_default().into_iter().filter(|(k, _)| !is_state_key(k)).collect()
}

impl Input for StartBody {
    /// `socialSignInBodySchema`, in its order.
    fn parse(o: &mut Obj<'_>) -> Self {
        let callback_url = url(o.opt_string("callbackURL"));
        let new_user_url = url(o.opt_string("newUserCallbackURL"));
        let error_url = url(o.opt_string("errorCallbackURL"));
        let provider = o.any_string("provider");
        let disable_redirect = o.opt_bool("disableRedirect").unwrap_or(false);
        let id_token = IdTokenBody::read(o, true);
        let scopes = o.opt_strings("scopes").unwrap_or_default();
        let request_sign_up = o.opt_bool("requestSignUp");
        let login_hint = o.opt_string("loginHint");
        let additional_params = o.opt_string_record("additionalParams", not_reserved, RESERVED).unwrap_or_default();
        let additional_data = extra_data(o.opt_record("additionalData"));
        let options = Options {
            callback_url,
            new_user_url,
            error_url,
            scopes,
            login_hint,
            additional_params,
            additional_data,
            request_sign_up,
            ..Default::default()
        };
        StartBody { provider, id_token, disable_redirect, options }
    }
}

/// `POST /link-social`'s schema, in its order (no `newUserCallbackURL`; a shorter `idToken`).
pub struct LinkBody(StartBody);

impl Input for LinkBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        let callback_url = url(o.opt_string("callbackURL"));
        let provider = o.any_string("provider");
        let id_token = IdTokenBody::read(o, false);
        let request_sign_up = o.opt_bool("requestSignUp");
        let scopes = o.opt_strings("scopes").unwrap_or_default();
        let error_url = url(o.opt_string("errorCallbackURL"));
        let disable_redirect = o.opt_bool("disableRedirect").unwrap_or(false);
        let login_hint = o.opt_string("loginHint");
        let additional_params = o.opt_string_record("additionalParams", not_reserved, RESERVED).unwrap_or_default();
        let additional_data = extra_data(o.opt_record("additionalData"));
        let options = Options {
            callback_url,
            error_url,
            scopes,
            login_hint,
            additional_params,
            additional_data,
            request_sign_up,
            ..Default::default()
        };
        LinkBody(StartBody { provider, id_token, disable_redirect, options })
    }
}

fn is_state_key(k: &str) -> bool {
    matches!(
        k,
        "callbackURL" | "codeVerifier" | "errorURL" | "newUserURL" | "link" | "expiresAt" | "requestSignUp" | "idTokenNonce" | "oauthState"
    ) || k.starts_with("portcullis")
}

/// Builds and stores a flow; returns the authorization URL and the state cookie.
async fn begin(auth: &Auth, rt: &Runtime, p: &Provider, o: Options) -> ApiResult<(String, HeaderValue)> {
    let http = rt.http().map_err(ApiError::internal)?;
    let ep = p.endpoints(http).await.map_err(|e| {
        tracing::warn!(provider = %p.id, error = %e, "provider endpoints unavailable");
        errors::provider_unavailable()
    })?;
    let fresh = state::fresh();
    let scopes = p.scopes(&o.scopes);
    let nonce = p.uses_nonce(&scopes).then_some(fresh.nonce.as_str());
    let pkce = p.pkce();
    let redirect_uri = p.redirect_uri(auth);
    let url = oauth::authorization_url(
        p,
        &ep,
        &oauth::AuthorizeRequest {
            redirect_uri: &redirect_uri,
            state: &fresh.state,
            scopes: &scopes,
            code_verifier: pkce.then_some(fresh.code_verifier.as_str()),
            nonce,
            login_hint: o.login_hint.as_deref(),
            additional: &o.additional_params,
        },
    )
    .map_err(|e| {
        tracing::error!(provider = %p.id, error = %e, "bad authorization endpoint");
        errors::provider_unavailable()
    })?;
    let mut data = StateData {
        callback_url: o.callback_url.unwrap_or_else(|| auth.config.origin()),
        code_verifier: fresh.code_verifier.clone(),
        error_url: o.error_url,
        new_user_url: o.new_user_url,
        link: o.link,
        expires_at: 0,
        request_sign_up: o.request_sign_up,
        id_token_nonce: nonce.map(str::to_string),
        oauth_state: fresh.state.clone(),
        pkce,
        scopes,
        handoff: o.handoff,
        provider: Some(p.id.clone()),
        additional: o.additional_data,
    };
    let cookie = state::store(auth, &mut data).await?;
    Ok((url, cookie))
}

fn provider_of(auth: &Auth, rt: &Runtime, id: &str) -> ApiResult<Arc<Provider>> {
    rt.provider(auth, id).ok_or(errors::PROVIDER_NOT_FOUND)
}

fn start_reply(url: String, cookie: HeaderValue, disable_redirect: bool) -> Reply {
    let mut r = Reply::json(&json!({"url": url, "redirect": !disable_redirect})).cookie(cookie);
    if !disable_redirect {
        if let Ok(v) = HeaderValue::from_str(&url) {
            r = r.header(header::LOCATION, v);
        }
    }
    r
}

pub async fn sign_in_social(
    State(auth): State<Auth>,
    Valid(b): Valid<StartBody>,
    Extension(rt): Extension<Arc<Runtime>>,
    meta: RequestMeta,
    headers: HeaderMap,
) -> ApiResult<Reply> {
    let p = provider_of(&auth, &rt, &b.provider)?;
    if let Some(t) = &b.id_token {
        return id_token::sign_in(&auth, &rt, &p, t, &meta, &headers).await;
    }
    let (url, cookie) = begin(&auth, &rt, &p, b.options).await?;
    Ok(start_reply(url, cookie, b.disable_redirect))
}

/// Validates query redirect fields the way the router validates body fields on POST.
fn query_url(auth: &Auth, q: &HashMap<String, String>, key: &str, err: ApiError) -> ApiResult<Option<String>> {
    match q.get(key).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) if auth.origins.matches(v, true) => Ok(Some(v.clone())),
        Some(_) => Err(err),
    }
}

fn query_options(auth: &Auth, q: &HashMap<String, String>) -> ApiResult<Options> {
    Ok(Options {
        callback_url: query_url(auth, q, "callbackURL", codes::INVALID_CALLBACK_URL)?,
        error_url: query_url(auth, q, "errorCallbackURL", codes::INVALID_ERROR_CALLBACK_URL)?,
        new_user_url: query_url(auth, q, "newUserCallbackURL", codes::INVALID_NEW_USER_CALLBACK_URL)?,
        scopes: q.get("scopes").map(|s| s.split([' ', ',']).filter(|x| !x.is_empty()).map(str::to_string).collect()).unwrap_or_default(),
        login_hint: q.get("loginHint").cloned(),
        ..Default::default()
    })
}

/// `GET /sign-in/social/{provider}?callbackURL=...`: the same flow for plain links; answers 302.
pub async fn sign_in_social_get(
    State(auth): State<Auth>,
    Extension(rt): Extension<Arc<Runtime>>,
    Path(provider): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Reply> {
    let p = provider_of(&auth, &rt, &provider)?;
    let o = query_options(&auth, &q)?;
    let (url, cookie) = begin(&auth, &rt, &p, o).await?;
    Ok(Reply::redirect(&url).cookie(cookie))
}

/// `GET /auto-redirect/{provider}?client=tauri|extension&callbackURL=<scheme>://...`: starts a
/// flow in the system browser whose result (a bearer token, or `?error=`) is handed to the
/// native client's deep link. Only schemes listed in `social.deep_link_schemes` are accepted, so
/// the endpoint cannot be used to send tokens to an arbitrary URL.
pub async fn auto_redirect(
    State(auth): State<Auth>,
    Extension(rt): Extension<Arc<Runtime>>,
    Path(provider): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Reply> {
    let p = provider_of(&auth, &rt, &provider)?;
    let client = q.get("client").map(String::as_str).unwrap_or("");
    if !matches!(client, "tauri" | "extension") {
        return Err(ApiError::validation("[query.client] Invalid option: expected \"tauri\" or \"extension\""));
    }
    let target = q.get("callbackURL").cloned().unwrap_or_else(|| default_handoff(client, &p.id));
    if !deep_link_allowed(&super::settings(&auth).deep_link_schemes, &target) {
        return Err(codes::INVALID_CALLBACK_URL);
    }
    let mut o = query_options(&auth, &HashMap::new())?;
    o.scopes = q.get("scopes").map(|s| s.split([' ', ',']).filter(|x| !x.is_empty()).map(str::to_string).collect()).unwrap_or_default();
    o.callback_url = Some(target.clone());
    o.handoff = Some(Handoff { client: client.to_string(), target });
    let (url, cookie) = begin(&auth, &rt, &p, o).await?;
    Ok(Reply::redirect(&url).cookie(cookie))
}

fn default_handoff(client: &str, provider: &str) -> String {
    match client {
        "tauri" => format!("tauri://localhost/auth-callback/{provider}"),
        _ => String::new(),
    }
}

/// Whether `target` is an absolute URL on one of the configured deep-link schemes. Web schemes
/// are never accepted here (a browser redirect needs no hand-off, and it would leak the token).
pub fn deep_link_allowed(schemes: &[String], target: &str) -> bool {
    let Ok(u) = url::Url::parse(target) else { return false };
    let scheme = u.scheme();
    if matches!(scheme, "http" | "https" | "javascript" | "data" | "file" | "blob") {
        return false;
    }
    schemes.iter().any(|s| s.trim_end_matches("://").eq_ignore_ascii_case(scheme))
}

pub async fn link_social(
    State(auth): State<Auth>,
    Valid(LinkBody(b)): Valid<LinkBody>,
    Extension(rt): Extension<Arc<Runtime>>,
    SensitiveSession(cur): SensitiveSession,
    meta: RequestMeta,
) -> ApiResult<Reply> {
    let p = provider_of(&auth, &rt, &b.provider)?;
    if let Some(t) = &b.id_token {
        return id_token::link(&auth, &rt, &p, t, &cur, &meta).await;
    }
    if !super::settings(&auth).account_linking.enabled {
        return Err(errors::LINKING_NOT_ALLOWED);
    }
    let mut o = b.options;
    let enc = Keys::from_config(&auth.config).for_purpose("oauth-link-session-token").encrypt(&cur.session.token);
    o.link = Some(LinkData { user_id: cur.user.id.clone(), email: cur.user.email.clone(), encrypted_session_token: Some(enc) });
    let (url, cookie) = begin(&auth, &rt, &p, o).await?;
    Ok(start_reply(url, cookie, b.disable_redirect))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_links_only_to_listed_schemes() {
        let s = vec!["tauri".to_string(), "myapp://".to_string()];
        assert!(deep_link_allowed(&s, "tauri://localhost/auth-callback/discord"));
        assert!(deep_link_allowed(&s, "myapp://auth-callback/x?y=1"));
        assert!(!deep_link_allowed(&s, "evil://x"));
        assert!(!deep_link_allowed(&s, "https://evil.example"));
        assert!(!deep_link_allowed(&s, "not a url"));
        assert!(!deep_link_allowed(&[], "tauri://localhost"));
    }
}
