//! The OAuth 2.0 wire: authorization URLs (Better Auth's parameter order, spec §11.1), the
//! authorization-code and refresh-token grants (§11.2 step 9), and token-response parsing.
//!
//! Secrets (client secret, codes, tokens) go only into request bodies or headers; errors returned
//! from here carry the provider's status and error code, never a token.

use super::config::{ProviderKind, TokenAuth};
use super::provider::{Endpoints, Provider};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Value};

/// Parameters an authorization request may not override through `additionalParams`.
pub const RESERVED_PARAMS: &[&str] =
    &["state", "client_id", "redirect_uri", "response_type", "code_challenge", "code_challenge_method", "nonce", "scope"];

pub struct AuthorizeRequest<'a> {
    pub redirect_uri: &'a str,
    pub state: &'a str,
    pub scopes: &'a [String],
    pub code_verifier: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub login_hint: Option<&'a str>,
    pub additional: &'a [(String, String)],
}

/// `code_challenge = base64url_nopad(SHA-256(verifier))`.
pub fn code_challenge(verifier: &str) -> String {
    use sha2::{Digest, Sha256};
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

pub fn authorization_url(p: &Provider, ep: &Endpoints, r: &AuthorizeRequest<'_>) -> Result<String, String> {
    let mut url = url::Url::parse(&ep.authorization).map_err(|e| format!("authorization URL: {e}"))?;
    {
        let mut q = url.query_pairs_mut();
        let response_type = if p.kind == ProviderKind::Apple { "code id_token" } else { "code" };
        q.append_pair("response_type", response_type);
        q.append_pair("client_id", &p.cfg.client_id);
        q.append_pair("state", r.state);
        q.append_pair("scope", &r.scopes.join(" "));
        q.append_pair("redirect_uri", r.redirect_uri);
        if let Some(h) = r.login_hint {
            q.append_pair("login_hint", h);
        }
        if let Some(n) = r.nonce {
            q.append_pair("nonce", n);
        }
        let prompt = p.cfg.prompt.clone().or_else(|| (p.kind == ProviderKind::Discord).then(|| "none".to_string()));
        if let Some(prompt) = prompt {
            q.append_pair("prompt", &prompt);
        }
        if p.kind == ProviderKind::Apple {
            q.append_pair("response_mode", "form_post");
        }
        if let Some(v) = r.code_verifier {
            q.append_pair("code_challenge_method", "S256");
            q.append_pair("code_challenge", &code_challenge(v));
        }
        if p.kind == ProviderKind::Google {
            q.append_pair("include_granted_scopes", "true");
        }
        for (k, v) in r.additional {
            if !RESERVED_PARAMS.contains(&k.as_str()) {
                q.append_pair(k, v);
            }
        }
    }
    Ok(url.into())
}

/// A token endpoint's answer.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub expires_in: Option<i64>,
    pub refresh_token_expires_in: Option<i64>,
    /// Granted scopes (split on spaces and commas).
    pub scopes: Vec<String>,
}

pub async fn exchange_code(
    http: &reqwest::Client,
    p: &Provider,
    ep: &Endpoints,
    code: &str,
    verifier: Option<&str>,
    redirect_uri: &str,
) -> Result<Tokens, String> {
    let mut form: Vec<(&str, String)> = vec![("grant_type", "authorization_code".into()), ("code", code.into())];
    if let Some(v) = verifier {
        form.push(("code_verifier", v.into()));
    }
    form.push(("redirect_uri", redirect_uri.into()));
    token_request(http, p, ep, form).await
}

pub async fn refresh(http: &reqwest::Client, p: &Provider, ep: &Endpoints, refresh_token: &str) -> Result<Tokens, String> {
    let mut form: Vec<(&str, String)> = vec![("grant_type", "refresh_token".into()), ("refresh_token", refresh_token.into())];
    if p.kind == ProviderKind::Microsoft {
        form.push(("scope", p.scopes(&[]).join(" ")));
    }
    token_request(http, p, ep, form).await
}

async fn token_request(http: &reqwest::Client, p: &Provider, ep: &Endpoints, mut form: Vec<(&str, String)>) -> Result<Tokens, String> {
    let secret = p.client_secret()?;
    let mut req = http.post(&ep.token).header("accept", "application/json");
    match (p.token_auth(), secret) {
        (TokenAuth::ClientSecretBasic, Some(s)) => {
            // RFC 6749 §2.3.1: both parts form-urlencoded before base64.
            let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
            let basic = STANDARD.encode(format!("{}:{}", enc(&p.cfg.client_id), enc(&s)));
            req = req.header("authorization", format!("Basic {basic}"));
        }
        (_, Some(s)) => {
            form.push(("client_id", p.cfg.client_id.clone()));
            form.push(("client_secret", s));
        }
        (_, None) => form.push(("client_id", p.cfg.client_id.clone())),
    }
    let res = req.form(&form).send().await.map_err(|e| format!("token endpoint unreachable: {}", e.without_url()))?;
    let status = res.status();
    let ctype = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    let text = res.text().await.map_err(|e| format!("token response: {}", e.without_url()))?;
    let body: Map<String, Value> = if ctype.contains("application/x-www-form-urlencoded") {
        url::form_urlencoded::parse(text.as_bytes()).map(|(k, v)| (k.into_owned(), Value::String(v.into_owned()))).collect()
    } else {
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(m)) => m,
            _ => return Err(format!("token endpoint: HTTP {status}, not a JSON object")),
        }
    };
    if let Some(err) = body.get("error").and_then(Value::as_str) {
        return Err(format!("token endpoint: HTTP {status}, error {err}"));
    }
    if !status.is_success() {
        return Err(format!("token endpoint: HTTP {status}"));
    }
    let tokens = parse_tokens(&body);
    if tokens.access_token.is_none() {
        return Err("token endpoint: no access_token".into());
    }
    Ok(tokens)
}

fn num(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

pub fn parse_tokens(body: &Map<String, Value>) -> Tokens {
    let s = |k: &str| body.get(k).and_then(Value::as_str).filter(|v| !v.is_empty()).map(str::to_string);
    Tokens {
        access_token: s("access_token"),
        refresh_token: s("refresh_token"),
        id_token: s("id_token"),
        expires_in: num(body.get("expires_in")),
        refresh_token_expires_in: num(body.get("refresh_token_expires_in")),
        scopes: s("scope")
            .map(|v| v.split([' ', ',']).map(str::trim).filter(|x| !x.is_empty()).map(str::to_string).collect())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::social::config::ProviderConfig;

    #[test]
    fn pkce_vector() {
        assert_eq!(code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn github_url_matches_observed_order() {
        let p = Provider::new("github", ProviderKind::Github, ProviderConfig { client_id: "gh-client".into(), ..Default::default() });
        let ep = Endpoints { authorization: "https://github.com/login/oauth/authorize".into(), ..Default::default() };
        let scopes = p.scopes(&[]);
        let extra = vec![("state".to_string(), "evil".to_string()), ("foo".to_string(), "bar".to_string())];
        let r = AuthorizeRequest {
            redirect_uri: "http://localhost:3000/api/auth/callback/github",
            state: "S",
            scopes: &scopes,
            code_verifier: Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            nonce: None,
            login_hint: None,
            additional: &extra,
        };
        assert_eq!(
            authorization_url(&p, &ep, &r).unwrap(),
            "https://github.com/login/oauth/authorize?response_type=code&client_id=gh-client&state=S&scope=read%3Auser+user%3Aemail&redirect_uri=http%3A%2F%2Flocalhost%3A3000%2Fapi%2Fauth%2Fcallback%2Fgithub&code_challenge_method=S256&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&foo=bar"
        );
    }

    #[test]
    fn token_parsing() {
        let m: Map<String, Value> =
            serde_json::from_str(r#"{"access_token":"a","expires_in":"3600","scope":"read:user,user:email","refresh_token":""}"#).unwrap();
        let t = parse_tokens(&m);
        assert_eq!(t.access_token.as_deref(), Some("a"));
        assert_eq!(t.expires_in, Some(3600));
        assert_eq!(t.scopes, ["read:user", "user:email"]);
        assert_eq!(t.refresh_token, None);
    }
}
