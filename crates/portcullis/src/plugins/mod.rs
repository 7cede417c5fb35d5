//! Capabilities, one module each (Better Auth's plugin-per-folder layout).

pub mod admin;
pub mod anonymous;
pub mod audit;
pub mod bearer;
pub mod core;
pub mod csrf;
pub mod email_otp;
pub mod email_password;
pub(crate) mod headers;
pub mod jwt;
pub mod magic_link;
pub mod openapi;
pub mod organization;
pub mod passkey;
pub mod preferences;
pub mod social;
pub mod two_factor;
pub mod webhooks;

use crate::app::Capability;
use crate::config::{Config, ConfigError, SectionSpec};
use std::sync::Arc;

/// A server's capabilities, in the order their hooks run.
pub type Capabilities = Vec<Arc<dyn Capability>>;

/// The capabilities a default server runs with. The jwt, bearer, passkey, two-factor, magic-link,
/// e-mail OTP, admin, anonymous and OpenAPI capabilities are opt-in, as Better Auth's plugins are (`[jwt] enabled = true`, ...): off, they add no route, no table
/// sections are parsed (and a typo refused) whether they are on or off.
/// Returns them with their sections' warnings.
pub fn standard(config: &mut Config) -> Result<(Capabilities, Vec<String>), ConfigError> {
    standard_with(config, Embedder::default())
}

/// What an embedder gives the standard capabilities in code (closures a file cannot hold).
#[derive(Default)]
pub struct Embedder {
    /// The anonymous capability's `onLinkAccount` closures ([`anonymous::OnLink`]).
    pub on_link_account: Vec<anonymous::OnLink>,
}

/// [`standard`], with the embedder's closures handed to the capabilities they belong to.
pub fn standard_with(config: &mut Config, embedder: Embedder) -> Result<(Capabilities, Vec<String>), ConfigError> {
    let mut warnings = Vec::new();
    for spec in [
        SectionSpec::of::<bearer::BearerConfig>(),
        SectionSpec::of::<jwt::config::JwtConfig>(),
        SectionSpec::of::<passkey::PasskeyConfig>(),
        SectionSpec::of::<anonymous::config::AnonymousConfig>(),
        SectionSpec::of::<two_factor::config::TwoFactorConfig>(),
        SectionSpec::of::<magic_link::config::MagicLinkConfig>(),
        SectionSpec::of::<email_otp::config::EmailOtpConfig>(),
        SectionSpec::of::<admin::config::AdminConfig>(),
        SectionSpec::of::<organization::config::OrganizationConfig>(),
        SectionSpec::of::<preferences::PreferencesConfig>(),
        SectionSpec::of::<csrf::CsrfConfig>(),
        SectionSpec::of::<webhooks::config::WebhooksConfig>(),
        SectionSpec::of::<audit::config::AuditConfig>(),
        SectionSpec::of::<openapi::OpenApiConfig>(),
    ] {
        warnings.extend(spec.materialize(&mut config.sections)?);
    }
    let mut caps: Capabilities = vec![Arc::new(core::Core), Arc::new(email_password::EmailPassword), Arc::new(social::Social::new())];
    if config.section::<bearer::BearerConfig>().enabled {
        caps.push(Arc::new(bearer::Bearer));
    }
    let jwt = config.section::<jwt::config::JwtConfig>();
    if jwt.enabled {
        caps.push(Arc::new(jwt::Jwt::new(jwt)));
    }
    if config.section::<passkey::PasskeyConfig>().enabled {
        caps.push(Arc::new(passkey::Passkey));
    }
    // Admin's before-session hook (bans, provider roles) runs before two-factor's: a banned user
    // is refused before any challenge (as Better Auth, whose ban check runs when the session is
    // created), and `required_for_roles` sees the roles just derived from the provider.
    let admin = config.section::<admin::config::AdminConfig>();
    let admin_api = admin.enabled;
    let org_on = config.section::<organization::config::OrganizationConfig>().enabled;
    // The audit log only listens to events (it records each in the request that caused it).
    if config.section::<audit::config::AuditConfig>().is_on(admin_api || org_on) {
        caps.push(Arc::new(audit::Audit::new(admin_api)));
    }
    if admin.enabled {
        caps.push(Arc::new(admin::Admin::new(admin)));
    }
    let two_factor = config.section::<two_factor::config::TwoFactorConfig>();
    if two_factor.enabled {
        caps.push(Arc::new(two_factor::TwoFactor::new(two_factor)));
    }
    let magic = config.section::<magic_link::config::MagicLinkConfig>();
    if magic.enabled {
        caps.push(Arc::new(magic_link::MagicLink::new(magic)));
    }
    let otp = config.section::<email_otp::config::EmailOtpConfig>();
    if otp.enabled {
        caps.push(Arc::new(email_otp::EmailOtp::new(otp)));
    }
    let org = config.section::<organization::config::OrganizationConfig>();
    if org.enabled {
        caps.push(Arc::new(organization::Organization::new(org)?));
    }
    if config.section::<anonymous::config::AnonymousConfig>().enabled {
        let cap = embedder.on_link_account.into_iter().fold(anonymous::Anonymous::new(), anonymous::Anonymous::on_link);
        caps.push(Arc::new(cap));
    } else if !embedder.on_link_account.is_empty() {
        warnings.push("on_link_account closures are registered but [anonymous] is not enabled; they never run".into());
    }
    let prefs = config.section::<preferences::PreferencesConfig>();
    if prefs.enabled {
        caps.push(Arc::new(preferences::Preferences::new(prefs.clone())));
    }
    if config.section::<csrf::CsrfConfig>().mode == csrf::CsrfMode::Token {
        caps.push(Arc::new(csrf::CsrfTokens));
    }
    // Last: it listens to what the others emit, and its admin API needs the admin capability.
    if config.section::<webhooks::config::WebhooksConfig>().enabled {
        caps.push(Arc::new(webhooks::Webhooks::new(admin_api)));
    }
    if config.section::<openapi::OpenApiConfig>().enabled {
        caps.push(Arc::new(openapi::OpenApi::default()));
    }
    Ok((caps, warnings))
}
