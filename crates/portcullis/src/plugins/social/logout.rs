//! RP-initiated logout (spec §2.2 `POST /sign-out` item 2): when the user signing out has an
//! account at an OIDC provider whose discovery names an `end_session_endpoint`, sign-out answers
//! that provider's logout URL, so the browser also leaves the IdP's session.
//!
//! Better Auth's rules: the most recently updated such account wins; `id_token_hint` is its stored
//! id_token; `post_logout_redirect_uri` is the body's `callbackURL` resolved against the base URL
//! (with `client_id` and the body's `state`); without either, `client_id` alone. Any failure
//! (IdP down, no discovery) just means no URL: sign-out itself never fails because of a provider.

use super::config::ProviderKind;
use super::provider::Runtime;
use crate::app::Auth;
use serde_json::Value;

/// The logout URL for the session `token`, looked up before the session is deleted.
pub async fn end_session_url(auth: &Auth, rt: &Runtime, token: &str, body: Option<&Value>) -> Option<String> {
    let logout_capable = |id: &str| rt.provider(auth, id).filter(|p| p.kind == ProviderKind::Oidc && !p.cfg.disable_provider_logout);
    // Nothing to look up when no provider could answer (the common case).
    if !super::settings(auth).providers.keys().any(|id| logout_capable(id).is_some()) {
        return None;
    }
    let (session, _) = crate::session::find(auth, token).await.ok().flatten()?;
    let mut accounts = auth.store.list_accounts(&session.user_id).await.ok()?;
    accounts.retain(|a| logout_capable(&a.provider_id).is_some());
    accounts.sort_by_key(|a| std::cmp::Reverse(a.updated_at));
    let field = |k: &str| body.and_then(|b| b.get(k)).and_then(Value::as_str).filter(|s| !s.is_empty());
    let post_logout = field("callbackURL").and_then(|cb| url::Url::parse(&auth.auth_url).ok()?.join(cb).ok());
    let http = rt.http().ok()?;
    let mut seen: Vec<&str> = Vec::new();
    for a in &accounts {
        if seen.contains(&a.provider_id.as_str()) {
            continue;
        }
        seen.push(&a.provider_id);
        let p = logout_capable(&a.provider_id)?;
        let ep = match p.endpoints(http).await {
            Ok(ep) => ep,
            Err(e) => {
                tracing::warn!(provider = %p.id, error = %e, "sign-out: provider discovery unavailable");
                continue;
            }
        };
        let Some(mut url) = ep.end_session.as_deref().and_then(|u| url::Url::parse(u).ok()) else { continue };
        {
            let mut q = url.query_pairs_mut();
            if let Some(t) = &a.id_token {
                q.append_pair("id_token_hint", t);
            }
            if let Some(to) = &post_logout {
                q.append_pair("post_logout_redirect_uri", to.as_str());
                q.append_pair("client_id", &p.cfg.client_id);
                if let Some(s) = field("state") {
                    q.append_pair("state", s);
                }
            } else if a.id_token.is_none() {
                q.append_pair("client_id", &p.cfg.client_id);
            }
        }
        return Some(url.into());
    }
    None
}
