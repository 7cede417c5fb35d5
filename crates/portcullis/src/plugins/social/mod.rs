//! Social sign-in (Better Auth's social OAuth, spec §11): Discord, GitHub, Google, Microsoft, Apple,
//! any OpenID Connect provider (discovery) and any plain OAuth 2.0 provider (explicit endpoints and
//! a field mapping), with account linking and provider tokens.
//!
//! What it owns: starting flows (`/sign-in/social`, `/link-social`, plus the Portcullis additions
//! `GET /sign-in/social/{provider}` and `GET /auto-redirect/{provider}`), the OAuth state
//! (verification row `auth-state:<state>` + signed `state` cookie), PKCE S256, the OIDC nonce,
//! id_token verification against the provider's JWKS, the callback, account resolution and
//! linking, and the account endpoints (`/unlink-account`, `/get-access-token`, `/refresh-token`,
//! `/account-info`). Provider tokens are stored encrypted when `social.encrypt_oauth_tokens` is on,
//! in Better Auth's format, so rows move between the two servers both ways. Also the `idToken`
//! variants of sign-in and linking ([`id_token`]) and the sign-out hook that answers an OIDC
//! provider's end-session URL ([`logout`]).
//!
//! What it must never do: answer a callback with anything but a 302 (no 500s: failures redirect
//! with Better Auth's `?error=` codes), redirect to a URL that did not pass the trusted-origin check,
//! use a claim from an id_token it did not verify in the same flow, accept a state twice or from
//! another browser, log a token, code or secret, or fetch a URL taken from a request.
//!
//! Providers without an e-mail (Discord with only `identify`): by default the callback fails with
//! `email_not_found`, as Better Auth does. With `social.allow_missing_email = true` the user is
//! created with the placeholder `<accountId>@<provider>.portcullis.invalid` (`.invalid` is reserved
//! by RFC 2606, so nothing is ever delivered there) and `emailVerified = false`; the user stays
//! identified by the provider account, and implicit linking by e-mail can never match a real user.

pub mod account;
pub mod callback;
pub mod cipher;
pub mod config;
pub mod id_token;
pub mod jwt;
pub mod logout;
pub mod oauth;
pub mod profile;
pub mod provider;
pub mod start;
pub mod state;
pub mod tokens;

use crate::app::openapi::{Api, Op};
use crate::app::{Auth, Capability};
use crate::config::SectionSpec;
use crate::http::input::{check, Check};
use axum::Extension;
use std::sync::Arc;

/// This capability's `[social]` section.
pub(crate) fn settings(auth: &Auth) -> &config::SocialConfig {
    auth.config.section()
}

/// The social sign-in capability.
#[derive(Default)]
pub struct Social {
    runtime: Arc<provider::Runtime>,
}

impl Social {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait::async_trait]
impl Capability for Social {
    fn id(&self) -> &'static str {
        "social"
    }
    fn sections(&self) -> Vec<SectionSpec> {
        vec![SectionSpec::of::<config::SocialConfig>()]
    }
    fn cookies(&self) -> &'static [&'static str] {
        &[state::COOKIE]
    }
    fn api(&self) -> Api {
        use crate::app::openapi::wire::*;
        let runtime = self.runtime.clone();
        let tokens = || {
            object(&[], &[("accessToken", string()), ("accessTokenExpiresAt", any()), ("scopes", array(string())), ("idToken", string())])
        };
        Api::new("Social sign-in")
            .post(
                "/sign-in/social",
                start::sign_in_social,
                Op::new("Starts a provider sign-in (authorization URL), or signs in with a provider's ID token")
                    .body::<start::StartBody>()
                    .json(any_of([object(&[("url", string()), ("redirect", boolean())], &[]), signed_in()])),
            )
            .get("/sign-in/social/{provider}", start::sign_in_social_get, Op::new("Starts a provider sign-in by navigation").redirect())
            .get("/auto-redirect/{provider}", start::auto_redirect, Op::new("Redirects to the provider's authorization URL").redirect())
            .post(
                "/link-social",
                start::link_social,
                Op::new("Links a provider account to the user").signed_in().body::<start::LinkBody>().json(any()),
            )
            .get("/callback/{provider}", callback::get, Op::new("The provider's redirect back (authorization code)").redirect())
            .post("/callback/{provider}", callback::post, Op::new("The provider's form_post back").redirect())
            .post(
                "/unlink-account",
                tokens::unlink_account,
                Op::new("Unlinks a provider account").signed_in().body::<tokens::UnlinkBody>().json(status()),
            )
            .post(
                "/get-access-token",
                tokens::get_access_token,
                Op::new("A valid access token of a linked account (refreshed if needed)")
                    .signed_in()
                    .bare("401")
                    .body::<tokens::Selector>()
                    .json(tokens()),
            )
            .post(
                "/refresh-token",
                tokens::refresh_token,
                Op::new("Refreshes a linked account's tokens").signed_in().bare("401").body::<tokens::Selector>().json(any()),
            )
            .get(
                "/account-info",
                tokens::account_info,
                Op::new("The provider's profile of a linked account").signed_in().bare("401").query::<tokens::Selector>().json(any()),
            )
            .map_router(|r| r.layer(Extension(runtime)))
    }
    fn inputs(&self) -> Vec<(&'static str, Check)> {
        vec![
            ("/sign-in/social", check::<start::StartBody>()),
            ("/link-social", check::<start::LinkBody>()),
            ("/unlink-account", check::<tokens::UnlinkBody>()),
            ("/get-access-token", check::<tokens::Selector>()),
            ("/refresh-token", check::<tokens::Selector>()),
        ]
    }
    fn form_body_prefixes(&self) -> &'static [&'static str] {
        // Apple posts the authorization response as a form (`response_mode=form_post`).
        &["/callback/"]
    }
    async fn sign_out_url(&self, auth: &Auth, token: &str, body: Option<&serde_json::Value>) -> Option<String> {
        logout::end_session_url(auth, &self.runtime, token, body).await
    }
}

/// Route-level error codes of the social endpoints (spec §2.3–§2.5).
pub mod errors {
    use crate::error::ApiError;
    use axum::http::StatusCode as S;

    crate::error_codes! {
        PROVIDER_NOT_FOUND = NOT_FOUND, "Provider not found";
        ID_TOKEN_NOT_SUPPORTED = NOT_FOUND, "id_token not supported";
        USER_EMAIL_NOT_FOUND = UNAUTHORIZED, "User email not found";
        SOCIAL_ACCOUNT_ALREADY_LINKED = CONFLICT, "Social account already linked";
        LINKING_DIFFERENT_EMAILS_NOT_ALLOWED = UNAUTHORIZED, "Account not linked - different emails not allowed";
        LINKING_FAILED = EXPECTATION_FAILED, "Account not linked - unable to create account";
        LINKING_NOT_ALLOWED = UNAUTHORIZED, "Account not linked - linking not allowed";
        FAILED_TO_GET_ACCESS_TOKEN = BAD_REQUEST, "Failed to get a valid access token";
        TOKEN_REFRESH_NOT_SUPPORTED = BAD_REQUEST, "Refresh token not supported";
        REFRESH_TOKEN_NOT_FOUND = BAD_REQUEST, "Refresh token not found";
        FAILED_TO_REFRESH_ACCESS_TOKEN = BAD_REQUEST, "Failed to refresh access token";
        PROVIDER_NOT_CONFIGURED = BAD_REQUEST, "Provider not configured";
        ACCESS_TOKEN_NOT_FOUND = BAD_REQUEST, "Access token not found";
        FAILED_TO_GET_USER_INFO = UNAUTHORIZED, "Failed to get user info";
    }

    pub fn provider_not_supported(id: &str) -> ApiError {
        ApiError::new(S::BAD_REQUEST, "PROVIDER_NOT_SUPPORTED", "Provider is not supported.")
            .with_message(format!("Provider {id} is not supported."))
    }

    /// The provider's discovery document or endpoints could not be read (IdP down). A 502, not a
    /// 500: Portcullis itself is fine.
    pub fn provider_unavailable() -> ApiError {
        ApiError::new(S::BAD_GATEWAY, "PROVIDER_UNAVAILABLE", "The identity provider is unavailable")
    }
}
