//! Preference sync without lost updates (opt-in, `[preferences] enabled = true`; not part of
//! Better Auth).
//!
//! Owns `POST /preferences/merge` and two user fields: the preference document (`preferences`,
//! a JSON object) and its per-key timestamps (`prefsMeta`). A client sends only the keys it
//! changed, each with the time it changed it; the server merges them per key, newest timestamp
//! wins ([`merge`]), in a compare-and-set loop on the user row ([`routes`]), so two devices that
//! change different keys at once both keep their change, and the same key ends with the newer
//! value whatever the order of arrival. update-user is untouched: it still writes whole values,
//! as in Better Auth.
//!
//! The fields are declared here as `json`; an operator who already has them (the same names in
//! `user.additional_fields`, as `json` or `string`) keeps their declaration: a `string` field holds
//! the JSON text.
//!
//! Must never: write the document without the compare-and-set (a lost update), or answer a 500
//! for a patch that is too large or malformed.

pub mod merge;
mod routes;

use crate::app::{Auth, Capability};
use crate::config::{parse_bool, ConfigError, Section, SectionSpec};
use crate::fields::{FieldDef, FieldSet, FieldType};
use serde::Deserialize;

/// This capability's error codes.
pub mod errors {
    crate::error_codes! {
        INVALID_PREFERENCES_PATCH = BAD_REQUEST, "Every patched key needs a timestamp in meta";
        PREFERENCE_TIMESTAMP_IN_FUTURE = BAD_REQUEST, "A preference timestamp is ahead of the server's clock";
        TOO_MANY_PREFERENCE_KEYS = BAD_REQUEST, "Too many preference keys";
        PREFERENCES_TOO_LARGE = BAD_REQUEST, "The preference document is too large";
        PREFERENCES_UNREADABLE = CONFLICT, "The stored preference document is not a JSON object";
        PREFERENCES_BUSY = CONFLICT, "The preferences changed too often to merge; retry";
    }
}

/// `[preferences]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PreferencesConfig {
    /// Serve `POST /preferences/merge` and keep the two fields. Off by default.
    pub enabled: bool,
    /// The user field holding the document.
    pub field: String,
    /// The user field holding each key's timestamp (epoch milliseconds).
    pub meta_field: String,
    /// Most keys in a patch, and in the document after a merge.
    pub max_keys: usize,
    /// Most bytes of the document (its JSON text) after a merge, and of a patch.
    pub max_document_bytes: usize,
    /// How far ahead of the server's clock a timestamp may be, in seconds: one further ahead
    /// would win every later change, so it is refused.
    pub max_clock_skew: u64,
}

impl Default for PreferencesConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            field: "preferences".into(),
            meta_field: "prefsMeta".into(),
            max_keys: 256,
            max_document_bytes: 64 * 1024,
            max_clock_skew: 300,
        }
    }
}

impl Section for PreferencesConfig {
    const NAME: &'static str = "preferences";
    fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("PORTCULLIS_PREFERENCES") {
            self.enabled = parse_bool("PORTCULLIS_PREFERENCES", &v)?;
        }
        Ok(())
    }
    fn check(&self) -> Result<Vec<String>, ConfigError> {
        if self.field.is_empty() || self.meta_field.is_empty() || self.field == self.meta_field {
            return Err(ConfigError::Invalid("preferences.field and preferences.meta_field must be two different names".into()));
        }
        if self.max_keys == 0 || self.max_document_bytes == 0 {
            return Err(ConfigError::Invalid("preferences.max_keys and preferences.max_document_bytes must be positive".into()));
        }
        Ok(Vec::new())
    }
}

/// The preferences capability.
pub struct Preferences {
    config: PreferencesConfig,
}

impl Preferences {
    pub fn new(config: PreferencesConfig) -> Self {
        Self { config }
    }
}

/// This capability's `[preferences]` section.
pub(crate) fn settings(auth: &Auth) -> &PreferencesConfig {
    auth.config.section()
}

#[async_trait::async_trait]
impl Capability for Preferences {
    fn id(&self) -> &'static str {
        "preferences"
    }
    fn sections(&self) -> Vec<SectionSpec> {
        vec![SectionSpec::of::<PreferencesConfig>()]
    }
    fn api(&self) -> crate::app::openapi::Api {
        use crate::app::openapi::wire::*;
        use crate::app::openapi::{Api, Op};
        Api::new("Preferences").post(
            "/preferences/merge",
            routes::merge,
            Op::new("Merges a patch into the user's preferences, newest timestamp per key wins")
                .signed_in()
                .body::<routes::MergeBody>()
                .json(any()),
        )
    }
    fn inputs(&self) -> Vec<(&'static str, crate::http::input::Check)> {
        vec![("/preferences/merge", crate::http::input::check::<routes::MergeBody>())]
    }
    /// Both fields as optional JSON, settable by update-user (as the client-side merge did).
    fn user_fields(&self) -> FieldSet {
        let mut f = FieldSet::new();
        f.add(&self.config.field, FieldDef::new(FieldType::Json));
        f.add(&self.config.meta_field, FieldDef::new(FieldType::Json));
        f
    }
}
