//! Configuration sections owned by capabilities (`[social]`, `[jwt]`, `[bearer]`, and every
//! plugin to come).
//!
//! The core configuration does not know these types: a file's top-level tables that are not core
//! keys are kept raw here, and each capability parses its own with its own type (a [`Section`],
//! usually `#[serde(default, deny_unknown_fields)]`) when the engine is built. A typo inside a
//! section is refused then, naming the section and the key; a section no capability claims is
//! refused too, so `[jtw]` is an error rather than silently nothing.
//!
//! ```text
//! #[derive(Clone, Default, serde::Deserialize)]
//! #[serde(default, deny_unknown_fields)]
//! pub struct TwoFactorConfig { pub issuer: Option<String> }
//! impl Section for TwoFactorConfig { const NAME: &'static str = "two_factor"; }
//!
//! // the capability declares it:   fn sections(&self) -> Vec<SectionSpec> { vec![SectionSpec::of::<TwoFactorConfig>()] }
//! // its handlers read it:          let cfg = auth.config.section::<TwoFactorConfig>();
//! // an embedder sets it in code:   config.section_mut::<TwoFactorConfig>()?.issuer = Some("Acme".into());
//! ```

use super::ConfigError;
use serde::de::DeserializeOwned;
use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A capability's configuration section.
pub trait Section: DeserializeOwned + Default + Clone + Send + Sync + 'static {
    /// The table's name in the file (`[jwt]`).
    const NAME: &'static str;
    /// Applies environment variables (read through `get`) over what the file said.
    fn apply_env(&mut self, _get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        Ok(())
    }
    /// Refuses an impossible section; returns warnings for a questionable one.
    fn check(&self) -> Result<Vec<String>, ConfigError> {
        Ok(Vec::new())
    }
}

/// A section a capability declares (`Capability::sections`): its name and how to parse it.
#[derive(Clone, Copy)]
pub struct SectionSpec {
    pub name: &'static str,
    materialize: fn(&mut Sections) -> Result<Vec<String>, ConfigError>,
}

impl SectionSpec {
    pub fn of<T: Section>() -> Self {
        SectionSpec { name: T::NAME, materialize: |s| s.materialize::<T>() }
    }
    /// Parses the section (file, then environment, then `check`) and keeps it typed; returns
    /// its warnings. Called once per section when the engine is built.
    pub fn materialize(&self, sections: &mut Sections) -> Result<Vec<String>, ConfigError> {
        (self.materialize)(sections)
    }
}

trait Typed: Any + Send + Sync {
    fn clone_box(&self) -> Box<dyn Typed>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}
impl<T: Section> Typed for T {
    fn clone_box(&self) -> Box<dyn Typed> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Where environment variables come from (`Config::apply_env` records it for the sections).
pub type EnvSource = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The capabilities' sections: raw from the file until a capability parses them, typed after.
#[derive(Default)]
pub struct Sections {
    raw: BTreeMap<String, toml::Value>,
    typed: BTreeMap<&'static str, Box<dyn Typed>>,
    env: Option<EnvSource>,
}

impl Clone for Sections {
    fn clone(&self) -> Self {
        Sections { raw: self.raw.clone(), typed: self.typed.iter().map(|(k, v)| (*k, v.clone_box())).collect(), env: self.env.clone() }
    }
}

impl std::fmt::Debug for Sections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: sections hold client secrets.
        f.debug_struct("Sections").field("raw", &self.raw.keys()).field("typed", &self.typed.keys()).finish()
    }
}

impl Sections {
    pub(super) fn from_raw(raw: BTreeMap<String, toml::Value>) -> Self {
        Sections { raw, ..Default::default() }
    }
    pub(super) fn set_env(&mut self, env: EnvSource) {
        self.env = Some(env);
    }

    /// The parsed section. Panics if no registered capability declared `T` (a capability reading
    /// a section it did not declare in `Capability::sections` is a bug its first test shows).
    pub fn get<T: Section>(&self) -> &T {
        self.try_get().unwrap_or_else(|| panic!("configuration section [{}] is not declared by any capability", T::NAME))
    }
    /// The parsed section, if a capability declared it (or code set it).
    pub fn try_get<T: Section>(&self) -> Option<&T> {
        self.typed.get(T::NAME).and_then(|t| t.as_any().downcast_ref())
    }

    /// The section to change in code, parsed from the file first if the file has it.
    pub fn get_mut<T: Section>(&mut self) -> Result<&mut T, ConfigError> {
        if !self.typed.contains_key(T::NAME) {
            let v = self.parse::<T>()?;
            self.raw.remove(T::NAME);
            self.typed.insert(T::NAME, Box::new(v));
        }
        self.typed
            .get_mut(T::NAME)
            .and_then(|t| t.as_any_mut().downcast_mut())
            .ok_or_else(|| ConfigError::Invalid(format!("configuration section [{}] is declared twice, with two types", T::NAME)))
    }

    /// Sets the section in code (what the file said is replaced; the environment is not applied).
    pub fn set<T: Section>(&mut self, value: T) {
        self.raw.remove(T::NAME);
        self.typed.insert(T::NAME, Box::new(value));
    }

    /// The section as the file (then the environment) gives it, or its default; not kept.
    pub fn parse<T: Section>(&self) -> Result<T, ConfigError> {
        if let Some(t) = self.try_get::<T>() {
            return Ok(t.clone());
        }
        let mut v = match self.raw.get(T::NAME) {
            Some(raw) => T::deserialize(raw.clone()).map_err(|e| ConfigError::Invalid(format!("[{}]: {}", T::NAME, e.message())))?,
            None => T::default(),
        };
        if let Some(env) = &self.env {
            v.apply_env(&**env)?;
        }
        Ok(v)
    }

    fn materialize<T: Section>(&mut self) -> Result<Vec<String>, ConfigError> {
        let warnings = self.get_mut::<T>()?.check()?;
        Ok(warnings)
    }

    /// The sections parsed so far (declared by a capability, or set in code), by name.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.typed.keys().copied()
    }

    /// Sections in the file that no capability parsed (call after every capability's
    /// `materialize`): each is a typo or a capability that is not compiled in.
    pub fn unclaimed(&self) -> impl Iterator<Item = &str> {
        self.raw.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Clone, Default, Debug, PartialEq, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Demo {
        enabled: bool,
        name: String,
    }
    impl Section for Demo {
        const NAME: &'static str = "demo";
        fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
            if let Some(n) = get("DEMO_NAME") {
                self.name = n;
            }
            Ok(())
        }
        fn check(&self) -> Result<Vec<String>, ConfigError> {
            if self.name == "bad" {
                return Err(ConfigError::Invalid("demo.name must not be bad".into()));
            }
            Ok(if self.enabled { Vec::new() } else { vec!["demo is off".into()] })
        }
    }

    fn raw(text: &str) -> Sections {
        let t: toml::Table = toml::from_str(text).unwrap();
        Sections::from_raw(t.into_iter().collect())
    }

    #[test]
    fn a_declared_section_is_parsed_with_the_environment_over_the_file() {
        let mut s = raw("[demo]\nenabled = true\nname = \"file\"\n[other]\nx = 1\n");
        s.set_env(Arc::new(|k| (k == "DEMO_NAME").then(|| "env".to_string())));
        assert!(SectionSpec::of::<Demo>().materialize(&mut s).unwrap().is_empty());
        assert_eq!(s.get::<Demo>(), &Demo { enabled: true, name: "env".into() });
        assert_eq!(s.unclaimed().collect::<Vec<_>>(), ["other"]);
        // A clone keeps the typed value.
        assert_eq!(s.clone().get::<Demo>().name, "env");
    }

    #[test]
    fn a_typo_names_the_section_and_the_key() {
        let mut s = raw("[demo]\nenabeld = true\n");
        let e = SectionSpec::of::<Demo>().materialize(&mut s).unwrap_err().to_string();
        assert!(e.starts_with("[demo]: unknown field `enabeld`, expected"), "{e}");
        let mut s = raw("[demo]\nname = \"bad\"\n");
        assert!(SectionSpec::of::<Demo>().materialize(&mut s).unwrap_err().to_string().contains("must not be bad"));
    }

    #[test]
    fn an_absent_section_is_its_default_and_code_may_set_it() {
        let mut s = Sections::default();
        assert_eq!(SectionSpec::of::<Demo>().materialize(&mut s).unwrap(), ["demo is off"]);
        assert_eq!(s.get::<Demo>(), &Demo::default());
        s.get_mut::<Demo>().unwrap().enabled = true;
        assert!(s.get::<Demo>().enabled);
        s.set(Demo { enabled: false, name: "code".into() });
        assert_eq!(s.parse::<Demo>().unwrap().name, "code");
    }
}
