//! `GET|POST /callback/{provider}` (spec §11.2): the browser comes back from the provider.
//!
//! Every outcome is a 302: success to the flow's callbackURL (newUserCallbackURL for a new user),
//! failure to the flow's errorCallbackURL or `{baseURL}/error` with `?error=<code>`. Nothing here
//! may answer a 500: internal failures become `error=internal_server_error`.

use super::provider::Runtime;
use super::state::{self, StateData};
use super::{account, oauth, profile};
use crate::app::Auth;
use crate::http::body::Body;
use crate::http::reply::Reply;
use crate::session::hooks::{self, Born, Federated, Method, Outcome, SignIn};
use crate::session::{self, RequestMeta};
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::Value;
use std::sync::Arc;

/// Appends `error` (and `error_description`) the way `URLSearchParams` does.
pub fn with_error(url: &str, code: &str, description: Option<&str>) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("error", code);
    if let Some(d) = description {
        q.append_pair("error_description", d);
    }
    let (base, frag) = match url.find('#') {
        Some(i) => (&url[..i], &url[i..]),
        None => (url, ""),
    };
    let sep = if base.contains('?') {
        if base.ends_with('?') || base.ends_with('&') {
            ""
        } else {
            "&"
        }
    } else {
        "?"
    };
    format!("{base}{sep}{}{frag}", q.finish())
}

fn default_error_url(auth: &Auth) -> String {
    format!("{}/error", auth.auth_url)
}

fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default()
}

fn first<'a>(q: &'a [(String, String)], k: &str) -> Option<&'a str> {
    q.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

/// POST (Apple's `response_mode=form_post`): bounce to a top-level GET so the `SameSite=Lax`
/// state cookie comes along. Body and query are merged; the query wins.
pub async fn post(State(auth): State<Auth>, Path(id): Path<String>, RawQuery(raw): RawQuery, body: Body) -> Response {
    let query = query_pairs(raw.as_deref());
    let mut merged: Vec<(String, String)> = Vec::new();
    if let Some(Value::Object(m)) = &body.0 {
        for (k, v) in m {
            if query.iter().any(|(qk, _)| qk == k) {
                continue;
            }
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Null => continue,
                other => other.to_string(),
            };
            merged.push((k.clone(), s));
        }
    }
    merged.extend(query);
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in &merged {
        ser.append_pair(k, v);
    }
    let id_enc: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    Reply::redirect(&format!("{}/callback/{id_enc}?{}", auth.auth_url, ser.finish())).into_response()
}

struct Fail {
    code: String,
    description: Option<String>,
    url: Option<String>,
    /// A sign-in hook refused (and `sign-in.failed` was emitted there).
    refused_by_hook: bool,
}

fn fail(code: &str, url: Option<&str>) -> Fail {
    Fail { code: code.to_string(), description: None, url: url.map(str::to_string), refused_by_hook: false }
}

pub async fn get(
    State(auth): State<Auth>,
    Extension(rt): Extension<Arc<Runtime>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    meta: RequestMeta,
) -> Response {
    let q = query_pairs(raw.as_deref());
    let Some(state_param) = first(&q, "state") else {
        return Reply::redirect(&with_error(&default_error_url(&auth), "state_not_found", None)).into_response();
    };
    let data = match state::take(&auth, &headers, state_param, &id).await {
        Ok(d) => d,
        Err(e) => {
            let url = e.error_url.unwrap_or_else(|| default_error_url(&auth));
            let mut r = Reply::redirect(&with_error(&url, e.code, None));
            if e.consumed {
                r = r.cookie(state::expire_cookie(&auth));
            }
            return r.into_response();
        }
    };
    let expire = state::expire_cookie(&auth);
    match finish(&auth, &rt, &id, &q, &data, &meta, &headers).await {
        Ok(reply) => reply.cookie(expire).into_response(),
        Err(f) => {
            if data.link.is_none() && !f.refused_by_hook {
                crate::session::failed::emit_code(&auth, &meta, &id, None, None, &f.code).await;
            }
            let url = f.url.or_else(|| data.error_url.clone()).unwrap_or_else(|| default_error_url(&auth));
            let target = match &data.handoff {
                Some(h) => h.target.clone(),
                None => url,
            };
            Reply::redirect(&with_error(&target, &f.code, f.description.as_deref())).cookie(expire).into_response()
        }
    }
}

async fn finish(
    auth: &Auth,
    rt: &Runtime,
    id: &str,
    q: &[(String, String)],
    data: &StateData,
    meta: &RequestMeta,
    headers: &HeaderMap,
) -> Result<Reply, Fail> {
    if let Some(err) = first(q, "error") {
        // The provider's own error code, passed on (sanitised by the error page when shown).
        let description = first(q, "error_description").map(str::to_string);
        return Err(Fail { code: err.to_string(), description, url: None, refused_by_hook: false });
    }
    let Some(code) = first(q, "code") else { return Err(fail("no_code", None)) };
    let Some(p) = rt.provider(auth, id) else { return Err(fail("oauth_provider_not_found", None)) };
    let http = rt.http().map_err(|_| fail("internal_server_error", None))?;
    let ep = p.endpoints(http).await.map_err(|e| {
        tracing::warn!(provider = %p.id, error = %e, "provider endpoints unavailable");
        fail("invalid_code", None)
    })?;
    if let (Some(iss), Some(expected)) = (first(q, "iss"), ep.issuer.as_deref()) {
        if iss != expected {
            return Err(fail("issuer_mismatch", None));
        }
    }
    let scopes_requested = if data.scopes.is_empty() { p.scopes(&[]) } else { data.scopes.clone() };
    let nonce = if p.uses_nonce(&scopes_requested) {
        Some(data.id_token_nonce.as_deref().ok_or_else(|| fail("nonce_binding_missing", None))?)
    } else {
        None
    };
    let verifier = data.pkce.then_some(data.code_verifier.as_str()).filter(|v| !v.is_empty());
    let redirect_uri = p.redirect_uri(auth);
    let tokens = oauth::exchange_code(http, &p, &ep, code, verifier, &redirect_uri).await.map_err(|e| {
        tracing::warn!(provider = %p.id, error = %e, "code exchange failed");
        fail("invalid_code", None)
    })?;
    let prof = profile::fetch(http, &p, &ep, &tokens, nonce, first(q, "user")).await.map_err(|e| {
        tracing::warn!(provider = %p.id, error = %e, "user info failed");
        fail("unable_to_get_user_info", None)
    })?;
    let scopes = account::granted(&tokens, &scopes_requested);
    let email = account::email_of(auth, &p.id, &prof);

    if let Some(link) = &data.link {
        let linked = account::link(auth, &p.id, email.as_deref(), &prof, &tokens, &scopes, link).await.map_err(|c| fail(c, None))?;
        if let Some(a) = linked {
            account::emit(auth, "account.linked", meta, &a, "oauth").await;
        }
        return Ok(Reply::redirect(&data.callback_url));
    }
    let Some(email) = email else { return Err(fail("email_not_found", None)) };
    let (user, is_new) = account::sign_in(auth, &p.id, &email, &prof, &tokens, &scopes, meta).await.map_err(|c| fail(c, None))?;
    let kind = format!("{:?}", p.kind).to_ascii_lowercase();
    let federated = Federated {
        provider: &p.id,
        kind: &kind,
        claims: &prof.raw,
        access_token: tokens.access_token.as_deref(),
        api_url: p.cfg.api_url.as_deref(),
        http: Some(http),
        new_user: is_new,
    };
    let sign_in = SignIn { user: &user, method: Method::Social(p.id.clone()), meta, headers, remember: true, federated: Some(federated) };
    let (session, user, landing) = match hooks::sign_in_amended(auth, sign_in, Default::default()).await {
        Ok(Outcome { born: Born::Session(s), user: amended, landing }) => (s, amended.unwrap_or(user), landing),
        Ok(Outcome { born: Born::Answered(r), .. }) => return Ok(r),
        // A capability refused: its code and message, verbatim (Better Auth 1.7.24 forwards an
        // app-defined rejection's code as it is, e.g. `error=BANNED_USER`).
        Err(e) if e.code.is_some() => {
            let code = e.code.unwrap_or_default().to_string();
            return Err(Fail { code, description: Some(e.message.to_string()), url: None, refused_by_hook: true });
        }
        Err(_) => return Err(fail("unable_to_create_session", None)),
    };
    let cookies = session::issue_cookies(auth, &session, &user, false);
    if let Some(h) = &data.handoff {
        // Native clients cannot read the browser's cookies: hand them the bearer token instead.
        let token = crate::crypto::sign::sign_value(auth.secret(), &session.token);
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        ser.append_pair("token", &token);
        ser.append_pair("new_user", if is_new { "true" } else { "false" });
        let sep = if h.target.contains('?') { '&' } else { '?' };
        return Ok(Reply::redirect(&format!("{}{sep}{}", h.target, ser.finish())).cookies(cookies));
    }
    let to = if is_new { data.new_user_url.as_deref().unwrap_or(&data.callback_url) } else { &data.callback_url };
    // A hook's landing (a role's post-sign-in page) replaces the flow's URL only when trusted.
    let to = match landing {
        Some(l) if auth.origins.matches(&l, true) => l,
        Some(l) => {
            tracing::warn!(landing = ?l, "a sign-in hook's landing URL is not a trusted origin; using the callbackURL");
            to.to_string()
        }
        None => to.to_string(),
    };
    Ok(Reply::redirect(&to).cookies(cookies))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_params_append_like_url_search_params() {
        assert_eq!(
            with_error("/oauth-error?from=x", "access_denied", Some("a b")),
            "/oauth-error?from=x&error=access_denied&error_description=a+b"
        );
        assert_eq!(with_error("http://h/api/auth/error", "state_mismatch", None), "http://h/api/auth/error?error=state_mismatch");
        assert_eq!(with_error("/e#frag", "x", None), "/e?error=x#frag");
    }
}
