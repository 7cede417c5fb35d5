//! A configured provider resolved into endpoints, scopes and behaviour, plus the per-provider
//! caches (OIDC discovery, JWKS) and the one outbound HTTP client.
//!
//! Discovery is fetched lazily and cached (failures are not cached), so the server starts and serves
//! every other route while an identity provider is down. The HTTP client follows no redirects and
//! has short timeouts: provider endpoints are fixed by configuration, never by user input.

use super::config::{ProviderConfig, ProviderKind, SocialConfig, TokenAuth};
use crate::app::Auth;
use jsonwebtoken::jwk::JwkSet;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How long a discovery document is trusted.
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// How long a JWKS is trusted before it is fetched again.
const JWKS_TTL: Duration = Duration::from_secs(600);
/// An unknown `kid` refetches the JWKS, but not more often than this (a flood of forged tokens
/// must not turn into a flood of requests to the IdP).
const JWKS_MIN_REFRESH: Duration = Duration::from_secs(5);

/// Shared by every social route of one engine instance.
pub struct Runtime {
    /// Built on first use: the TLS root store and client cost start-up time and memory that a
    /// server without social providers never needs.
    http: OnceLock<Option<reqwest::Client>>,
    providers: OnceLock<BTreeMap<String, Arc<Provider>>>,
}

impl Runtime {
    pub fn new() -> Self {
        Self { http: OnceLock::new(), providers: OnceLock::new() }
    }

    pub fn http(&self) -> Result<&reqwest::Client, String> {
        self.http
            .get_or_init(|| {
                reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    // A callback makes up to three calls (discovery or JWKS, token, user info): at
                    // 8 s each they stay within server.request_timeout's default 30 s, so a slow
                    // provider ends in the provider error redirect rather than a JSON 503.
                    .connect_timeout(Duration::from_secs(5))
                    .timeout(Duration::from_secs(8))
                    .user_agent("better-auth")
                    .build()
                    .map_err(|e| tracing::error!(error = %e, "cannot build the HTTP client for social sign-in"))
                    .ok()
            })
            .as_ref()
            .ok_or_else(|| "no HTTP client".to_string())
    }

    fn all(&self, cfg: &SocialConfig) -> &BTreeMap<String, Arc<Provider>> {
        self.providers.get_or_init(|| {
            for p in cfg.problems() {
                tracing::error!("{p}; the provider is disabled");
            }
            cfg.providers
                .iter()
                .filter(|(_, p)| !p.disabled && !p.client_id.is_empty())
                .filter_map(|(id, p)| {
                    let kind = p.kind.or_else(|| ProviderKind::from_id(id))?;
                    Some((id.clone(), Arc::new(Provider::new(id, kind, p.clone()))))
                })
                .collect()
        })
    }

    /// The enabled provider with this id.
    pub fn provider(&self, auth: &Auth, id: &str) -> Option<Arc<Provider>> {
        self.all(super::settings(auth)).get(id).cloned()
    }
}

impl Default for Runtime {
    fn default() -> Self {
        Self::new()
    }
}

/// Resolved endpoints of a provider.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    pub authorization: String,
    pub token: String,
    pub userinfo: Option<String>,
    pub jwks: Option<String>,
    /// Expected `iss` of id_tokens and of the authorization response (RFC 9207), when known.
    pub issuer: Option<String>,
    /// OIDC RP-initiated logout (`end_session_endpoint` from discovery).
    pub end_session: Option<String>,
}

pub struct Provider {
    pub id: String,
    pub kind: ProviderKind,
    pub cfg: ProviderConfig,
    discovery: Mutex<Option<(Arc<Endpoints>, Instant)>>,
    jwks: Mutex<Option<(Arc<JwkSet>, Instant)>>,
}

impl Provider {
    pub fn new(id: &str, kind: ProviderKind, cfg: ProviderConfig) -> Self {
        Self { id: id.to_string(), kind, cfg, discovery: Mutex::new(None), jwks: Mutex::new(None) }
    }

    fn default_scopes(&self) -> &'static [&'static str] {
        match self.kind {
            ProviderKind::Discord => &["identify", "email"],
            ProviderKind::Github => &["read:user", "user:email"],
            ProviderKind::Google => &["email", "profile", "openid"],
            ProviderKind::Microsoft => &["openid", "profile", "email", "User.Read", "offline_access"],
            ProviderKind::Apple => &["email", "name"],
            ProviderKind::Facebook => &["email", "public_profile"],
            ProviderKind::Twitter => &["users.read", "tweet.read", "offline.access", "users.email"],
            ProviderKind::Oidc | ProviderKind::Oauth2 => &["openid", "email", "profile"],
        }
    }

    /// Scopes for an authorization request: defaults, configured, then requested (Discord: defaults,
    /// requested, configured). Generic providers' configured scopes replace the defaults.
    pub fn scopes(&self, requested: &[String]) -> Vec<String> {
        let generic = matches!(self.kind, ProviderKind::Oidc | ProviderKind::Oauth2);
        let mut out: Vec<String> = Vec::new();
        let mut push = |s: &str| {
            if !s.is_empty() && !out.iter().any(|o| o == s) {
                out.push(s.to_string());
            }
        };
        if !self.cfg.disable_default_scope && (!generic || self.cfg.scopes.is_empty()) {
            self.default_scopes().iter().for_each(|s| push(s));
        }
        if self.kind == ProviderKind::Discord {
            requested.iter().for_each(|s| push(s));
            self.cfg.scopes.iter().for_each(|s| push(s));
        } else {
            self.cfg.scopes.iter().for_each(|s| push(s));
            requested.iter().for_each(|s| push(s));
        }
        out
    }

    pub fn pkce(&self) -> bool {
        self.cfg.pkce.unwrap_or(!matches!(self.kind, ProviderKind::Discord | ProviderKind::Facebook | ProviderKind::Oauth2))
    }

    /// How the client authenticates at the token endpoint: as configured, else HTTP Basic for
    /// Twitter (Better Auth's `authentication: "basic"`) and the form body for the others.
    pub fn token_auth(&self) -> TokenAuth {
        self.cfg.token_auth.unwrap_or(if self.kind == ProviderKind::Twitter {
            TokenAuth::ClientSecretBasic
        } else {
            TokenAuth::ClientSecretPost
        })
    }

    /// Whether the flow binds an OIDC nonce (generic OIDC providers asking for `openid`).
    pub fn uses_nonce(&self, scopes: &[String]) -> bool {
        self.kind == ProviderKind::Oidc && scopes.iter().any(|s| s == "openid")
    }

    /// Whether a client may submit an ID token for this provider (`idToken` on `/sign-in/social`
    /// and `/link-social`): the providers whose identity is an OIDC ID token.
    pub fn supports_id_token(&self) -> bool {
        !self.cfg.disable_id_token_sign_in
            && matches!(
                self.kind,
                ProviderKind::Google | ProviderKind::Microsoft | ProviderKind::Apple | ProviderKind::Facebook | ProviderKind::Oidc
            )
    }

    pub fn redirect_uri(&self, auth: &Auth) -> String {
        self.cfg.redirect_uri.clone().unwrap_or_else(|| format!("{}/callback/{}", auth.auth_url, self.id))
    }

    /// The client secret sent to the token endpoint (Apple: a freshly minted ES256 JWT).
    pub fn client_secret(&self) -> Result<Option<String>, String> {
        if self.kind == ProviderKind::Apple {
            if let (Some(team), Some(kid), Some(key)) = (&self.cfg.team_id, &self.cfg.key_id, &self.cfg.private_key) {
                return super::jwt::apple_client_secret(&self.cfg.client_id, team, kid, key).map(Some);
            }
        }
        Ok(self.cfg.client_secret.clone())
    }

    /// Endpoints with configuration overrides applied; OIDC discovery is fetched (and cached) here.
    pub async fn endpoints(&self, http: &reqwest::Client) -> Result<Arc<Endpoints>, String> {
        let c = &self.cfg;
        let over = |v: &Option<String>, d: &str| v.clone().unwrap_or_else(|| d.to_string());
        let ep = match self.kind {
            ProviderKind::Discord => Endpoints {
                authorization: over(&c.authorization_url, "https://discord.com/api/oauth2/authorize"),
                token: over(&c.token_url, "https://discord.com/api/oauth2/token"),
                // Better Auth percent-encodes the `@` of `/users/@me`.
                userinfo: Some(over(&c.userinfo_url, "https://discord.com/api/users/%40me")),
                jwks: None,
                issuer: None,
                end_session: None,
            },
            ProviderKind::Github => Endpoints {
                authorization: over(&c.authorization_url, "https://github.com/login/oauth/authorize"),
                token: over(&c.token_url, "https://github.com/login/oauth/access_token"),
                userinfo: Some(over(&c.userinfo_url, &format!("{}/user", self.github_api()))),
                jwks: None,
                issuer: None,
                end_session: None,
            },
            ProviderKind::Google => Endpoints {
                authorization: over(&c.authorization_url, "https://accounts.google.com/o/oauth2/v2/auth"),
                token: over(&c.token_url, "https://oauth2.googleapis.com/token"),
                userinfo: c.userinfo_url.clone(),
                jwks: Some(over(&c.jwks_url, "https://www.googleapis.com/oauth2/v3/certs")),
                issuer: Some(over(&c.issuer, "https://accounts.google.com")),
                end_session: None,
            },
            ProviderKind::Microsoft => {
                let authority = c.authority.clone().unwrap_or_else(|| "https://login.microsoftonline.com".into());
                let authority = authority.trim_end_matches('/');
                let tenant = c.tenant_id.clone().unwrap_or_else(|| "common".into());
                // Multi-tenant issuers carry the user's tenant id (checked in `jwt`); a single
                // tenant has a fixed issuer.
                let single = !matches!(tenant.as_str(), "common" | "organizations" | "consumers");
                Endpoints {
                    authorization: over(&c.authorization_url, &format!("{authority}/{tenant}/oauth2/v2.0/authorize")),
                    token: over(&c.token_url, &format!("{authority}/{tenant}/oauth2/v2.0/token")),
                    userinfo: c.userinfo_url.clone(),
                    jwks: Some(over(&c.jwks_url, &format!("{authority}/{tenant}/discovery/v2.0/keys"))),
                    issuer: c.issuer.clone().or_else(|| single.then(|| format!("{authority}/{tenant}/v2.0"))),
                    end_session: None,
                }
            }
            ProviderKind::Apple => Endpoints {
                authorization: over(&c.authorization_url, "https://appleid.apple.com/auth/authorize"),
                token: over(&c.token_url, "https://appleid.apple.com/auth/token"),
                userinfo: None,
                jwks: Some(over(&c.jwks_url, "https://appleid.apple.com/auth/keys")),
                issuer: Some(over(&c.issuer, "https://appleid.apple.com")),
                end_session: None,
            },
            ProviderKind::Facebook => Endpoints {
                authorization: over(&c.authorization_url, "https://www.facebook.com/v24.0/dialog/oauth"),
                token: over(&c.token_url, &format!("{}/v24.0/oauth/access_token", self.api("https://graph.facebook.com"))),
                userinfo: Some(over(
                    &c.userinfo_url,
                    &format!("{}/me?fields=id,name,email,picture", self.api("https://graph.facebook.com")),
                )),
                // Limited Login ID tokens.
                jwks: Some(over(&c.jwks_url, "https://limited.facebook.com/.well-known/oauth/openid/jwks/")),
                issuer: Some(over(&c.issuer, "https://www.facebook.com")),
                end_session: None,
            },
            ProviderKind::Twitter => Endpoints {
                authorization: over(&c.authorization_url, "https://x.com/i/oauth2/authorize"),
                token: over(&c.token_url, &format!("{}/2/oauth2/token", self.api("https://api.x.com"))),
                userinfo: Some(over(
                    &c.userinfo_url,
                    &format!("{}/2/users/me?user.fields=profile_image_url", self.api("https://api.x.com")),
                )),
                jwks: None,
                issuer: None,
                end_session: None,
            },
            ProviderKind::Oauth2 => Endpoints {
                authorization: c.authorization_url.clone().unwrap_or_default(),
                token: c.token_url.clone().unwrap_or_default(),
                userinfo: c.userinfo_url.clone(),
                jwks: c.jwks_url.clone(),
                issuer: c.issuer.clone(),
                end_session: None,
            },
            ProviderKind::Oidc => return self.discover(http).await,
        };
        Ok(Arc::new(ep))
    }

    pub fn github_api(&self) -> String {
        self.api("https://api.github.com")
    }

    /// The provider's API base (`api_url`, else `default`), without a trailing slash.
    pub fn api(&self, default: &str) -> String {
        self.cfg.api_url.as_deref().unwrap_or(default).trim_end_matches('/').to_string()
    }

    async fn discover(&self, http: &reqwest::Client) -> Result<Arc<Endpoints>, String> {
        let mut cache = self.discovery.lock().await;
        if let Some((ep, at)) = cache.as_ref() {
            if at.elapsed() < DISCOVERY_TTL {
                return Ok(ep.clone());
            }
        }
        let c = &self.cfg;
        let url = match (&c.discovery_url, &c.issuer) {
            (Some(u), _) => u.clone(),
            (None, Some(iss)) => format!("{}/.well-known/openid-configuration", iss.trim_end_matches('/')),
            (None, None) => return Err("no discovery URL".into()),
        };
        let doc: Value = fetch_json(http, &url).await?;
        let field = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_string);
        let issuer = c.issuer.clone().or_else(|| field("issuer"));
        let ep = Endpoints {
            authorization: c
                .authorization_url
                .clone()
                .or_else(|| field("authorization_endpoint"))
                .ok_or("discovery: no authorization_endpoint")?,
            token: c.token_url.clone().or_else(|| field("token_endpoint")).ok_or("discovery: no token_endpoint")?,
            userinfo: c.userinfo_url.clone().or_else(|| field("userinfo_endpoint")),
            jwks: c.jwks_url.clone().or_else(|| field("jwks_uri")),
            issuer,
            end_session: field("end_session_endpoint"),
        };
        let ep = Arc::new(ep);
        *cache = Some((ep.clone(), Instant::now()));
        Ok(ep)
    }

    /// The provider's JWKS; `refresh` asks for a new copy (an id_token named an unknown `kid`).
    pub async fn jwks(&self, http: &reqwest::Client, url: &str, refresh: bool) -> Result<Arc<JwkSet>, String> {
        let mut cache = self.jwks.lock().await;
        if let Some((set, at)) = cache.as_ref() {
            let fresh = at.elapsed() < JWKS_TTL;
            if (fresh && !refresh) || at.elapsed() < JWKS_MIN_REFRESH {
                return Ok(set.clone());
            }
        }
        let set: JwkSet = serde_json::from_value(fetch_json(http, url).await?).map_err(|e| format!("JWKS: {e}"))?;
        let set = Arc::new(set);
        *cache = Some((set.clone(), Instant::now()));
        Ok(set)
    }
}

/// GET a JSON document (discovery, JWKS).
async fn fetch_json(http: &reqwest::Client, url: &str) -> Result<Value, String> {
    let res = http.get(url).header("accept", "application/json").send().await.map_err(|e| format!("GET {url}: {e}"))?;
    if !res.status().is_success() {
        return Err(format!("GET {url}: HTTP {}", res.status()));
    }
    res.json().await.map_err(|e| format!("GET {url}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(kind: ProviderKind, scopes: &[&str]) -> Provider {
        let cfg = ProviderConfig { client_id: "c".into(), scopes: scopes.iter().map(|s| s.to_string()).collect(), ..Default::default() };
        Provider::new("x", kind, cfg)
    }

    #[test]
    fn scope_order() {
        let req = vec!["extra".to_string()];
        assert_eq!(p(ProviderKind::Github, &["repo"]).scopes(&req), ["read:user", "user:email", "repo", "extra"]);
        assert_eq!(p(ProviderKind::Discord, &["guilds"]).scopes(&req), ["identify", "email", "extra", "guilds"]);
        assert_eq!(p(ProviderKind::Oidc, &["openid", "email"]).scopes(&[]), ["openid", "email"]);
        assert_eq!(p(ProviderKind::Oidc, &[]).scopes(&[]), ["openid", "email", "profile"]);
        assert!(!p(ProviderKind::Discord, &[]).pkce());
        assert!(p(ProviderKind::Github, &[]).pkce());
    }

    #[test]
    fn facebook_and_twitter_defaults() {
        assert_eq!(p(ProviderKind::Facebook, &[]).scopes(&[]), ["email", "public_profile"]);
        assert_eq!(p(ProviderKind::Twitter, &[]).scopes(&[]), ["users.read", "tweet.read", "offline.access", "users.email"]);
        assert!(!p(ProviderKind::Facebook, &[]).pkce());
        assert!(p(ProviderKind::Twitter, &[]).pkce());
        assert_eq!(p(ProviderKind::Twitter, &[]).token_auth(), TokenAuth::ClientSecretBasic);
        assert_eq!(p(ProviderKind::Facebook, &[]).token_auth(), TokenAuth::ClientSecretPost);
        assert!(p(ProviderKind::Facebook, &[]).supports_id_token());
        assert!(!p(ProviderKind::Twitter, &[]).supports_id_token());
        assert_eq!(ProviderKind::from_id("twitter"), Some(ProviderKind::Twitter));
        assert_eq!(ProviderKind::from_id("facebook"), Some(ProviderKind::Facebook));
    }
}
