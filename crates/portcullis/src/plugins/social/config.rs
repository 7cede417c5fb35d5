//! Configuration of social sign-in: providers, account linking, token encryption.
//!
//! TOML lives under `[social]`; every built-in provider can also be configured from Better Auth's
//! environment names (`GITHUB_CLIENT_ID`, `GITHUB_CLIENT_SECRET`, ..., `MICROSOFT_TENANT_ID`,
//! `APPLE_TEAM_ID`, `APPLE_KEY_ID`, `APPLE_PRIVATE_KEY`). This module parses only; it never touches
//! the network (discovery is fetched lazily by the provider at first use).

use crate::config::{ConfigError, Section};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The kinds of provider Portcullis knows how to talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Discord,
    Github,
    Google,
    Microsoft,
    Apple,
    Facebook,
    /// X (Twitter), OAuth 2.0 with PKCE; Better Auth's id `twitter`.
    Twitter,
    /// Any OpenID Connect provider, endpoints from `{issuer}/.well-known/openid-configuration`.
    Oidc,
    /// A plain OAuth 2.0 provider: explicit endpoints and a field mapping for its user-info JSON.
    Oauth2,
}

impl ProviderKind {
    /// The kind a provider id implies when `type` is not given.
    pub fn from_id(id: &str) -> Option<Self> {
        Some(match id {
            "discord" => Self::Discord,
            "github" => Self::Github,
            "google" => Self::Google,
            "microsoft" => Self::Microsoft,
            "apple" => Self::Apple,
            "facebook" => Self::Facebook,
            "twitter" => Self::Twitter,
            _ => return None,
        })
    }
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TokenAuth {
    /// `client_id` and `client_secret` in the form body (Better Auth's default).
    #[default]
    ClientSecretPost,
    /// HTTP Basic with the client id and secret.
    ClientSecretBasic,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SocialConfig {
    /// Providers by id (the id is the path segment of `/callback/<id>`).
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Encrypt provider access and refresh tokens at rest, byte-compatible with Better Auth's
    /// `account.encryptOAuthTokens`.
    pub encrypt_oauth_tokens: bool,
    /// Replace stored tokens on every sign-in (Better Auth's `account.updateAccountOnSignIn`).
    pub update_account_on_sign_in: bool,
    pub account_linking: AccountLinkingConfig,
    /// Refuse to create users through social sign-in (`signup_disabled`).
    pub disable_sign_up: bool,
    /// Sign in users whose provider returns no e-mail (e.g. Discord with only `identify`) with a
    /// placeholder address `<accountId>@<provider>.portcullis.invalid` (unverified). Off by
    /// default: Better Auth answers `email_not_found`.
    pub allow_missing_email: bool,
    /// URL schemes `/auto-redirect/{provider}` may hand a finished sign-in to (e.g. `tauri`,
    /// `myapp`). Empty: the endpoint refuses every hand-off.
    pub deep_link_schemes: Vec<String>,
}

impl Default for SocialConfig {
    fn default() -> Self {
        Self {
            providers: BTreeMap::new(),
            encrypt_oauth_tokens: false,
            update_account_on_sign_in: true,
            account_linking: AccountLinkingConfig::default(),
            disable_sign_up: false,
            allow_missing_email: false,
            deep_link_schemes: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountLinkingConfig {
    pub enabled: bool,
    /// Better Auth's trusted providers: their e-mail is trusted even when they do not say it is
    /// verified, but only with `trust_unverified_email` (see there).
    pub trusted_providers: Vec<String>,
    /// Portcullis addition, off by default: let `trusted_providers` link accounts by an e-mail the
    /// provider does not report verified (Better Auth's behaviour). Off, a trusted provider must
    /// still say `email_verified`, because a provider that lets users claim any address (e.g. a
    /// multi-tenant directory) would otherwise sign its users in to whichever local account owns
    /// that address.
    pub trust_unverified_email: bool,
    /// Implicit linking needs the local user's e-mail to be verified (Better Auth default: true).
    pub require_local_email_verified: bool,
    /// `link-social` may link a provider account with another e-mail.
    pub allow_different_emails: bool,
    /// Never link a provider account to an existing user by e-mail on sign-in.
    pub disable_implicit_linking: bool,
}

impl Default for AccountLinkingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            trusted_providers: Vec::new(),
            trust_unverified_email: false,
            require_local_email_verified: true,
            allow_different_emails: false,
            disable_implicit_linking: false,
        }
    }
}

impl AccountLinkingConfig {
    /// Whether the e-mail `provider_id` returned may be used to link to a local account: the
    /// provider says it is verified, or the provider is trusted and `trust_unverified_email` is on.
    pub fn email_vouched_for(&self, provider_id: &str, provider_says_verified: bool) -> bool {
        provider_says_verified || (self.trust_unverified_email && self.trusted_providers.iter().any(|x| x == provider_id))
    }
}

/// Where to find each user field in a plain OAuth 2.0 provider's user-info JSON (top-level keys,
/// or dotted paths like `data.user.id`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FieldMapping {
    pub id: String,
    pub email: String,
    pub email_verified: String,
    pub name: String,
    pub image: String,
}

impl Default for FieldMapping {
    fn default() -> Self {
        Self {
            id: "sub".into(),
            email: "email".into(),
            email_verified: "email_verified".into(),
            name: "name".into(),
            image: "picture".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderConfig {
    /// Provider kind; defaults from the id for the built-in ones.
    #[serde(rename = "type")]
    pub kind: Option<ProviderKind>,
    pub disabled: bool,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// Scopes added to the defaults (for `oidc`/`oauth2`: the scopes, default `openid email profile`).
    pub scopes: Vec<String>,
    pub disable_default_scope: bool,
    /// Overrides `{baseURL}/callback/<id>`.
    pub redirect_uri: Option<String>,
    pub prompt: Option<String>,
    /// How the client authenticates at the token endpoint; default per provider (HTTP Basic for
    /// Twitter, as Better Auth; the form body for the others).
    pub token_auth: Option<TokenAuth>,
    /// PKCE S256; default per provider (off for Discord and plain OAuth 2.0).
    pub pkce: Option<bool>,
    // Endpoint overrides (tests, self-hosted identity providers).
    pub authorization_url: Option<String>,
    pub token_url: Option<String>,
    pub userinfo_url: Option<String>,
    pub jwks_url: Option<String>,
    pub issuer: Option<String>,
    /// OIDC discovery document URL; default `{issuer}/.well-known/openid-configuration`.
    pub discovery_url: Option<String>,
    /// API base for GitHub (`https://api.github.com`, for `/user` and `/user/emails`), Facebook
    /// (`https://graph.facebook.com`, for `/me` and `/debug_token`) and Twitter
    /// (`https://api.x.com`, for `/2/users/me` and `/2/oauth2/token`).
    pub api_url: Option<String>,
    /// Microsoft: tenant (`common`, `organizations`, `consumers` or a tenant id).
    pub tenant_id: Option<String>,
    /// Microsoft: authority (`https://login.microsoftonline.com`).
    pub authority: Option<String>,
    /// Apple: team id, key id and the `.p8` private key (PEM) to mint the client-secret JWT.
    pub team_id: Option<String>,
    pub key_id: Option<String>,
    pub private_key: Option<String>,
    /// Plain OAuth 2.0: where the user fields are in the user-info JSON.
    pub mapping: FieldMapping,
    /// Extra `aud` values accepted for ID tokens a client submits to `/sign-in/social` or
    /// `/link-social` (`idToken`): e.g. Apple's app bundle id, Google's iOS/Android client ids.
    /// `client_id` is always accepted.
    pub audience: Vec<String>,
    /// Refuse client-submitted ID tokens for this provider (`ID_TOKEN_NOT_SUPPORTED`), like
    /// Better Auth's `disableIdTokenSignIn`.
    pub disable_id_token_sign_in: bool,
    /// Never send the user to this provider's `end_session_endpoint` on sign-out.
    pub disable_provider_logout: bool,
}

const BUILTIN: &[&str] = &["discord", "github", "google", "microsoft", "apple", "facebook", "twitter"];

impl Section for SocialConfig {
    const NAME: &'static str = "social";
    fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        self.apply_provider_env(get);
        Ok(())
    }
}

impl SocialConfig {
    /// Applies Better Auth's environment names for the built-in providers.
    pub fn apply_provider_env(&mut self, get: &dyn Fn(&str) -> Option<String>) {
        for id in BUILTIN {
            let up = id.to_ascii_uppercase();
            let client_id = get(&format!("{up}_CLIENT_ID"));
            let secret = get(&format!("{up}_CLIENT_SECRET"));
            if client_id.is_none() && secret.is_none() && !self.providers.contains_key(*id) {
                continue;
            }
            let p = self.providers.entry((*id).to_string()).or_default();
            if let Some(v) = client_id {
                p.client_id = v;
            }
            if let Some(v) = secret {
                p.client_secret = Some(v);
            }
            if *id == "microsoft" {
                if let Some(v) = get("MICROSOFT_TENANT_ID") {
                    p.tenant_id = Some(v);
                }
            }
            if *id == "apple" {
                if let Some(v) = get("APPLE_TEAM_ID") {
                    p.team_id = Some(v);
                }
                if let Some(v) = get("APPLE_KEY_ID") {
                    p.key_id = Some(v);
                }
                if let Some(v) = get("APPLE_PRIVATE_KEY") {
                    // Env files often carry the PEM with literal `\n`.
                    p.private_key = Some(v.replace("\\n", "\n"));
                }
            }
        }
    }

    /// Configuration problems that make a provider unusable, as messages.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (id, p) in &self.providers {
            if p.disabled {
                continue;
            }
            if !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') || id.is_empty() {
                out.push(format!("social provider id {id:?} must be [A-Za-z0-9_-]+"));
            }
            let Some(kind) = p.kind.or_else(|| ProviderKind::from_id(id)) else {
                out.push(format!("social provider {id:?}: set type = \"oidc\" or \"oauth2\" (or a built-in kind)"));
                continue;
            };
            if p.client_id.is_empty() {
                out.push(format!("social provider {id:?}: client_id is required"));
            }
            match kind {
                ProviderKind::Oidc if p.issuer.is_none() && p.discovery_url.is_none() => {
                    out.push(format!("social provider {id:?}: oidc needs issuer or discovery_url"))
                }
                ProviderKind::Oauth2 if p.authorization_url.is_none() || p.token_url.is_none() || p.userinfo_url.is_none() => {
                    out.push(format!("social provider {id:?}: oauth2 needs authorization_url, token_url and userinfo_url"))
                }
                ProviderKind::Apple
                    if p.client_secret.is_none() && (p.team_id.is_none() || p.key_id.is_none() || p.private_key.is_none()) =>
                {
                    out.push(format!("social provider {id:?}: apple needs client_secret, or team_id + key_id + private_key"))
                }
                _ => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_configure_builtins() {
        let mut c = SocialConfig::default();
        c.apply_env(&|k| match k {
            "GITHUB_CLIENT_ID" => Some("gh".into()),
            "GITHUB_CLIENT_SECRET" => Some("ghs".into()),
            "MICROSOFT_CLIENT_ID" => Some("ms".into()),
            "MICROSOFT_TENANT_ID" => Some("t1".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.providers["github"].client_id, "gh");
        assert_eq!(c.providers["github"].client_secret.as_deref(), Some("ghs"));
        assert_eq!(c.providers["microsoft"].tenant_id.as_deref(), Some("t1"));
        assert!(!c.providers.contains_key("discord"));
        assert!(c.problems().is_empty());
    }

    #[test]
    fn toml_generic_provider() {
        let c: SocialConfig = toml::from_str(
            "[providers.fake]\ntype = \"oidc\"\nclient_id = \"c\"\nclient_secret = \"s\"\ndiscovery_url = \"http://127.0.0.1:4190/.well-known/openid-configuration\"\n",
        )
        .unwrap();
        assert_eq!(c.providers["fake"].kind, Some(ProviderKind::Oidc));
        assert!(c.problems().is_empty());
        let bad: SocialConfig = toml::from_str("[providers.x]\nclient_id = \"c\"\n").unwrap();
        assert_eq!(bad.problems().len(), 1);
    }

    #[test]
    fn trusted_providers_need_a_verified_email_unless_configured() {
        let c: SocialConfig = toml::from_str("[account_linking]\ntrusted_providers = [\"github\"]\n").unwrap();
        let l = &c.account_linking;
        assert!(!l.trust_unverified_email, "off by default");
        assert!(!l.email_vouched_for("github", false), "trusted, but the provider says unverified");
        assert!(l.email_vouched_for("github", true));
        assert!(l.email_vouched_for("discord", true));
        let c: SocialConfig =
            toml::from_str("[account_linking]\ntrusted_providers = [\"github\"]\ntrust_unverified_email = true\n").unwrap();
        assert!(c.account_linking.email_vouched_for("github", false));
        assert!(!c.account_linking.email_vouched_for("discord", false), "only the listed providers");
    }
}
