//! Passkeys, wire- and database-compatible with `@better-auth/passkey` (spec plugins §2).
//!
//! Owns: `/passkey/generate-register-options`, `/passkey/verify-registration`,
//! `/passkey/generate-authenticate-options`, `/passkey/verify-authentication` (sign-in, through
//! the sign-in choke point as method `passkey`), `/passkey/list-user-passkeys`,
//! `/passkey/update-passkey`, `/passkey/delete-passkey`; the `passkey` table; the signed
//! `better-auth-passkey` challenge cookie; the `[passkey]` section.
//!
//! Ceremonies are verified by webauthn-rs-core ([`rp`]) with Better Auth's policy: attestation
//! `none`, user verification preferred (not required; user presence is), algorithms EdDSA, ES256
//! and RS256, a stored counter that must grow once either side is non-zero (a cloned
//! authenticator is refused). Rows keep SimpleWebAuthn's formats (base64 COSE key, base64url
//! credential id), so passkeys registered under Better Auth authenticate here and the reverse.
//!
//! The challenge is bound to the browser that asked for it: a random token in a signed cookie
//! names a verification row (5 minutes) holding the challenge, consumed once by the verify call.
//!
//! Must never: accept a ceremony whose challenge was not issued to this browser or was used
//! before, an origin or rpID outside the configuration, or a counter that went backwards.

mod routes;
pub mod rp;
pub mod store;

use crate::app::openapi::{Api, Op};
use crate::app::{Auth, Capability};
use crate::config::{parse_bool, ConfigError, Section, SectionSpec};
use crate::http::input::{check, Check};
use crate::store::schema::{ColType, Column, Table};
use serde::Deserialize;

/// The challenge cookie's short name (`better-auth.better-auth-passkey` in full).
pub const COOKIE: &str = "better-auth-passkey";
/// Seconds a ceremony's challenge lives (cookie and row).
pub const CHALLENGE_TTL: u64 = 300;

/// `[passkey]`: `@better-auth/passkey`'s options.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasskeyConfig {
    /// Serve the passkey endpoints and create the `passkey` table. Off by default (opt-in plugin).
    pub enabled: bool,
    /// The relying party id (`rpID`): a registrable domain of the origins. Default: the base
    /// URL's host.
    pub rp_id: Option<String>,
    /// Shown by authenticators (`rpName`). Default: `app_name`.
    pub rp_name: Option<String>,
    /// Origins a ceremony may come from (`origin`): the web app, a Tauri app, an extension.
    /// Default: the base URL's origin and every exact (wildcard-free) `trusted_origins` entry.
    /// Better Auth, without this option, trusts the request's `Origin` header; Portcullis trusts
    /// only its configuration.
    pub origins: Vec<String>,
}

impl Section for PasskeyConfig {
    const NAME: &'static str = "passkey";
    fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("PORTCULLIS_PASSKEY") {
            self.enabled = parse_bool("PORTCULLIS_PASSKEY", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_PASSKEY_RP_ID") {
            self.rp_id = Some(v);
        }
        Ok(())
    }
    fn check(&self) -> Result<Vec<String>, ConfigError> {
        for o in &self.origins {
            if url::Url::parse(o).map(|u| u.origin().ascii_serialization() != o.trim_end_matches('/')).unwrap_or(true) {
                return Err(ConfigError::Invalid(format!("passkey.origins: {o:?} is not an origin (scheme://host[:port])")));
            }
        }
        Ok(Vec::new())
    }
}

/// This capability's `[passkey]` section.
pub(crate) fn settings(auth: &Auth) -> &PasskeyConfig {
    auth.config.section()
}

/// `PASSKEY_ERROR_CODES`.
pub mod errors {
    crate::error_codes! {
        CHALLENGE_NOT_FOUND = BAD_REQUEST, "Challenge not found";
        YOU_ARE_NOT_ALLOWED_TO_REGISTER_THIS_PASSKEY = UNAUTHORIZED, "You are not allowed to register this passkey";
        FAILED_TO_VERIFY_REGISTRATION = BAD_REQUEST, "Failed to verify registration";
        PASSKEY_NOT_FOUND = UNAUTHORIZED, "Passkey not found";
        AUTHENTICATION_FAILED = UNAUTHORIZED, "Authentication failed";
        UNABLE_TO_CREATE_SESSION = BAD_REQUEST, "Unable to create session";
        FAILED_TO_UPDATE_PASSKEY = INTERNAL_SERVER_ERROR, "Failed to update passkey";
    }
}

/// The passkey capability.
pub struct Passkey;

#[async_trait::async_trait]
impl Capability for Passkey {
    fn id(&self) -> &'static str {
        "passkey"
    }
    fn sections(&self) -> Vec<SectionSpec> {
        vec![SectionSpec::of::<PasskeyConfig>()]
    }
    fn cookies(&self) -> &'static [&'static str] {
        &[COOKIE]
    }
    fn api(&self) -> Api {
        use crate::app::openapi::wire::*;
        Api::new("Passkey")
            .get(
                "/passkey/generate-register-options",
                routes::register_options,
                Op::new("WebAuthn registration options").signed_in().query::<routes::RegisterQuery>().json(any()),
            )
            .post(
                "/passkey/verify-registration",
                routes::verify_registration,
                Op::new("Registers a passkey").signed_in().body::<routes::RegistrationBody>().json(any()),
            )
            .get(
                "/passkey/generate-authenticate-options",
                routes::authenticate_options,
                Op::new("WebAuthn authentication options").json(any()),
            )
            .post(
                "/passkey/verify-authentication",
                routes::verify_authentication,
                Op::new("Signs in with a passkey").body::<routes::AuthenticationBody>().json(any()),
            )
            .get("/passkey/list-user-passkeys", routes::list, Op::new("The user's passkeys").signed_in().json(array(any())))
            .post(
                "/passkey/update-passkey",
                routes::update,
                Op::new("Renames a passkey").signed_in().body::<routes::UpdateBody>().json(any()),
            )
            .post(
                "/passkey/delete-passkey",
                routes::delete,
                Op::new("Deletes a passkey").signed_in().bare("401").body::<routes::DeleteBody>().json(any()),
            )
    }
    fn inputs(&self) -> Vec<(&'static str, Check)> {
        vec![
            ("/passkey/verify-registration", check::<routes::RegistrationBody>()),
            ("/passkey/verify-authentication", check::<routes::AuthenticationBody>()),
            ("/passkey/update-passkey", check::<routes::UpdateBody>()),
            ("/passkey/delete-passkey", check::<routes::DeleteBody>()),
        ]
    }
    fn schema(&self) -> Vec<Table> {
        use ColType::*;
        vec![Table {
            name: "passkey",
            columns: vec![
                Column::new("id", Text).pk(),
                Column::new("name", Text).null(),
                Column::new("publicKey", Text),
                Column::new("userId", Text).refs("user"),
                Column::new("credentialID", Text),
                Column::new("counter", Int),
                Column::new("deviceType", Text),
                Column::new("backedUp", Bool),
                Column::new("transports", Text).null(),
                Column::new("createdAt", Time).null(),
                Column::new("aaguid", Text).null(),
            ],
            indexes: vec!["userId", "credentialID"],
            search: vec![],
        }]
    }
}
