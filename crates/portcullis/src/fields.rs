//! Additional fields: the extra columns of a row, declared as Better Auth's `additionalFields`
//! (`user.additionalFields`, `session.additionalFields`, and plugin schema fields).
//!
//! A [`FieldSet`] lists them in declaration order, which is wire order: Better Auth emits a user's
//! additional fields after `updatedAt` and before `id`, in the order they were declared, and the
//! compact cookie-cache signature covers that exact order. Input follows Better Auth's
//! `parseInputData`:
//!
//! - keys that are not declared are ignored;
//! - `input = false`: on create a default wins silently; otherwise a truthy value is refused
//!   (`FIELD_NOT_ALLOWED`), a falsy one ignored;
//! - on create, a missing field takes its default, or is refused when `required = true`
//!   (`MISSING_FIELD`);
//! - Portcullis also checks each value against the declared type (`VALIDATION_ERROR`) where
//!   Better Auth would hand it to the database unchecked (and fail there, or store `123` as
//!   `"123"`): a mismatched value never reaches a row.
//!
//! A leaf module: it knows values and declarations, never storage or HTTP.

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A field's type, as Better Auth names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum FieldType {
    #[serde(rename = "string")]
    String,
    #[serde(rename = "number")]
    Number,
    #[serde(rename = "boolean")]
    Boolean,
    #[serde(rename = "date")]
    Date,
    #[serde(rename = "json")]
    Json,
    #[serde(rename = "string[]")]
    StringArray,
    #[serde(rename = "number[]")]
    NumberArray,
}

impl FieldType {
    fn expected(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Number => "number",
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
            FieldType::Json => "json",
            FieldType::StringArray => "array",
            FieldType::NumberArray => "array",
        }
    }

    /// `None` when `v` (not null) is a value of this type, else what was expected and what came
    /// (for an array, of its first wrong element). Dates arrive as ISO-8601 strings (or epoch
    /// milliseconds), as `JSON.stringify` sends a JS `Date`.
    fn mismatch(self, v: &Value) -> Option<(&'static str, &'static str)> {
        let ok = match self {
            FieldType::String => v.is_string(),
            FieldType::Number => v.is_number(),
            FieldType::Boolean => v.is_boolean(),
            FieldType::Date => v.as_str().is_some_and(|s| parse_date(s).is_some()) || v.is_i64(),
            FieldType::Json => true,
            FieldType::StringArray | FieldType::NumberArray => {
                let Some(items) = v.as_array() else { return Some(("array", kind(v))) };
                let element = if self == FieldType::StringArray { FieldType::String } else { FieldType::Number };
                return items.iter().find_map(|i| element.mismatch(i));
            }
        };
        (!ok).then(|| (self.expected(), kind(v)))
    }
}

/// An ISO-8601 date-time (`2000-01-02T00:00:00.000Z`, any offset).
pub fn parse_date(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&chrono::Utc))
}

/// A default computed when a row is created (Better Auth's `defaultValue: () => ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Generator {
    /// A random UUID (v4) string.
    Uuid,
    /// The creation time.
    Now,
}

/// What happens to a row when the row it references is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum OnDelete {
    #[default]
    #[serde(rename = "cascade")]
    Cascade,
    #[serde(rename = "set null")]
    SetNull,
    #[serde(rename = "restrict")]
    Restrict,
    #[serde(rename = "no action")]
    NoAction,
}

/// A foreign key (Better Auth's `references: { model, field, onDelete }`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    pub model: String,
    #[serde(default = "id_field")]
    pub field: String,
    #[serde(default)]
    pub on_delete: OnDelete,
}

fn id_field() -> String {
    "id".into()
}
fn yes() -> bool {
    true
}

/// One declared field, as `[user.additional_fields.<name>]` in the configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    #[serde(rename = "type")]
    pub ty: FieldType,
    /// `Some(true)`: sign-up must give it (unless it has a default). Anything but `Some(false)`
    /// makes the column `NOT NULL`, as Better Auth's migrations do.
    #[serde(default)]
    pub required: Option<bool>,
    /// A literal default.
    #[serde(default)]
    pub default_value: Option<Value>,
    /// A computed default (`"uuid"`, `"now"`); `default_value` wins when both are set.
    #[serde(default)]
    pub default_generator: Option<Generator>,
    /// May a client set it (sign-up, update-user, update-session)?
    #[serde(default = "yes")]
    pub input: bool,
    /// Is it part of the answers (and of the cookie cache)?
    #[serde(default = "yes")]
    pub returned: bool,
    #[serde(default)]
    pub unique: bool,
    /// The column's name when it differs from the field's (before `schema.naming`).
    #[serde(default)]
    pub field_name: Option<String>,
    #[serde(default)]
    pub references: Option<Reference>,
}

impl FieldDef {
    /// A field of `ty`, optional, settable and returned.
    pub fn new(ty: FieldType) -> Self {
        Self {
            ty,
            required: Some(false),
            default_value: None,
            default_generator: None,
            input: true,
            returned: true,
            unique: false,
            field_name: None,
            references: None,
        }
    }
    pub fn default_value(mut self, v: Value) -> Self {
        self.default_value = Some(v);
        self
    }
    pub fn no_input(mut self) -> Self {
        self.input = false;
        self
    }
    pub fn hidden(mut self) -> Self {
        self.returned = false;
        self
    }
    /// Whether the column is `NOT NULL`.
    pub fn not_null(&self) -> bool {
        self.required != Some(false)
    }
    fn has_default(&self) -> bool {
        self.default_value.is_some() || self.default_generator.is_some()
    }
}

/// The core keys of a user; additional fields may not take them.
pub const USER_CORE: &[&str] = &["id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt"];
/// The core keys of a session.
pub const SESSION_CORE: &[&str] = &["id", "expiresAt", "token", "createdAt", "updatedAt", "ipAddress", "userAgent", "userId"];

/// A declared field and its name.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub def: FieldDef,
}

impl Field {
    /// The column's logical name: `field_name`, else the field's name.
    pub fn column(&self) -> &str {
        self.def.field_name.as_deref().unwrap_or(&self.name)
    }
}

/// The additional fields of one table, in declaration order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSet(Vec<Field>);

impl FieldSet {
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds (or, for a name already declared, replaces) a field; replacing keeps its place.
    pub fn add(&mut self, name: &str, def: FieldDef) -> &mut Self {
        match self.0.iter_mut().find(|f| f.name == name) {
            Some(f) => f.def = def,
            None => self.0.push(Field { name: name.to_string(), def }),
        }
        self
    }
    /// Appends `other`'s fields (a capability's fields after the configured ones).
    pub fn extend(&mut self, other: &FieldSet) {
        for f in &other.0 {
            self.add(&f.name, f.def.clone());
        }
    }
    pub fn iter(&self) -> impl Iterator<Item = &Field> {
        self.0.iter()
    }
    pub fn get(&self, name: &str) -> Option<&Field> {
        self.0.iter().find(|f| f.name == name)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Checks a declaration: no field shadows a core field, and literal defaults have the
    /// field's type.
    pub fn validate(&self, core: &[&str]) -> Result<(), String> {
        for f in &self.0 {
            if core.contains(&f.name.as_str()) || core.contains(&f.column()) {
                return Err(format!("{} is a core field", f.name));
            }
            if let Some((expected, received)) = f.def.default_value.as_ref().filter(|v| !v.is_null()).and_then(|v| f.def.ty.mismatch(v)) {
                return Err(format!("{}: default_value must be {expected}, not {received}", f.name));
            }
        }
        Ok(())
    }
    /// The defaults of a row created without input (Better Auth's `getSessionDefaultFields`),
    /// completed like [`complete`](Self::complete).
    pub fn defaults(&self, now: chrono::DateTime<chrono::Utc>) -> (Values, Values) {
        let given = self.0.iter().filter(|f| f.def.has_default()).map(|f| (f.name.clone(), default_of(&f.def, now))).collect();
        self.complete(Values(given))
    }
    /// A new row's fields from parsed input: every declared field in declaration order (absent
    /// ones as `null`, as the database returns them), split into returned and hidden ones.
    pub fn complete(&self, input: Values) -> (Values, Values) {
        let (mut shown, mut hidden) = (Values::default(), Values::default());
        let mut input = input.0;
        for f in &self.0 {
            let v = input.iter().position(|(k, _)| *k == f.name).map_or(Value::Null, |i| input.swap_remove(i).1);
            if f.def.returned { &mut shown } else { &mut hidden }.0.push((f.name.clone(), v));
        }
        (shown, hidden)
    }
    /// The fields that answers carry, in wire order.
    pub fn returned(&self) -> impl Iterator<Item = &Field> {
        self.0.iter().filter(|f| f.def.returned)
    }

    /// Better Auth's `parseInputData`: the declared fields of `body` (a JSON object's entries) to
    /// write, in declaration order. On create, defaults fill what is missing (`now` is the row's
    /// creation time, `uuid` draws a fresh id).
    pub fn parse_input(
        &self,
        body: &serde_json::Map<String, Value>,
        action: Action,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Values, FieldError> {
        let mut out = Vec::new();
        for f in &self.0 {
            let def = &f.def;
            if let Some(v) = body.get(&f.name) {
                if !def.input {
                    if action == Action::Create && def.has_default() {
                        out.push((f.name.clone(), default_of(def, now)));
                        continue;
                    }
                    if truthy(v) {
                        return Err(FieldError::NotAllowed(f.name.clone()));
                    }
                    continue;
                }
                if let Some((expected, received)) = (!v.is_null()).then(|| def.ty.mismatch(v)).flatten() {
                    return Err(FieldError::Invalid { field: f.name.clone(), expected, received });
                }
                out.push((f.name.clone(), normalise(def.ty, v.clone())));
                continue;
            }
            if action == Action::Create {
                if def.has_default() {
                    out.push((f.name.clone(), default_of(def, now)));
                } else if def.required == Some(true) {
                    return Err(FieldError::Missing(f.name.clone()));
                }
            }
        }
        Ok(Values(out))
    }
}

/// Whether input creates a row or updates one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
}

/// Why input was refused. Messages are Better Auth's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// `FIELD_NOT_ALLOWED`.
    #[error("{0} is not allowed to be set")]
    NotAllowed(String),
    /// `MISSING_FIELD`.
    #[error("{0} is required")]
    Missing(String),
    /// `VALIDATION_ERROR`, in zod's words.
    #[error("Invalid input: expected {expected}, received {received}")]
    Invalid { field: String, expected: &'static str, received: &'static str },
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Dates are kept as Better Auth answers them: ISO-8601 UTC with milliseconds.
fn normalise(ty: FieldType, v: Value) -> Value {
    if ty == FieldType::Json {
        return js_key_order(v);
    }
    if ty != FieldType::Date {
        return v;
    }
    let t = match &v {
        Value::String(s) => parse_date(s),
        Value::Number(n) => n.as_i64().and_then(chrono::DateTime::from_timestamp_millis),
        _ => None,
    };
    t.map_or(v, |t| Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)))
}

/// `v` with every object's keys in the order a JavaScript object holds them: the keys that are
/// array indices (`"0"`, `"2"`, `"10"`: canonical decimals below 2^32 - 1) first, ascending, then
/// the others as they came. Better Auth's json values live as JavaScript objects (the parsed
/// request body, the pg driver's parse of a jsonb column) and are written and answered in that
/// order: `{"b":1,"10":2,"2":3}` comes back as `{"2":3,"10":2,"b":1}`.
pub fn js_key_order(v: Value) -> Value {
    fn array_index(k: &str) -> Option<u32> {
        let canonical = !k.is_empty() && k.len() <= 10 && k.bytes().all(|b| b.is_ascii_digit()) && (k == "0" || !k.starts_with('0'));
        canonical.then(|| k.parse::<u64>().ok()).flatten().filter(|n| *n < u64::from(u32::MAX)).map(|n| n as u32)
    }
    match v {
        Value::Array(items) => Value::Array(items.into_iter().map(js_key_order).collect()),
        Value::Object(map) => {
            let (mut indices, rest): (Vec<_>, Vec<_>) =
                map.into_iter().map(|(k, v)| (k, js_key_order(v))).partition(|(k, _)| array_index(k).is_some());
            indices.sort_by_key(|(k, _)| array_index(k));
            Value::Object(indices.into_iter().chain(rest).collect())
        }
        other => other,
    }
}

fn default_of(def: &FieldDef, now: chrono::DateTime<chrono::Utc>) -> Value {
    if let Some(v) = &def.default_value {
        return normalise(def.ty, v.clone());
    }
    match def.default_generator {
        Some(Generator::Uuid) => Value::String(uuid_v4()),
        Some(Generator::Now) => Value::String(now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        None => Value::Null,
    }
}

/// A random (version 4) UUID.
pub fn uuid_v4() -> String {
    crate::crypto::uuid_v4()
}

/// Field values in wire order: a row's additional fields, as answers carry them (serialised as
/// the entries of the enclosing object).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Values(pub Vec<(String, Value)>);

impl Values {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Sets `name` (in place when present, else appended).
    pub fn set(&mut self, name: &str, v: Value) {
        match self.0.iter_mut().find(|(k, _)| k == name) {
            Some(e) => e.1 = v,
            None => self.0.push((name.to_string(), v)),
        }
    }
    /// Writes every entry into a map being serialised.
    pub fn serialize_entries<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        Ok(())
    }
}

impl Serialize for Values {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        self.serialize_entries(&mut m)?;
        m.end()
    }
}

impl<'de> Deserialize<'de> for FieldSet {
    /// From a TOML table of tables, keeping the declaration order (the wire order).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FieldSet;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a table of field declarations")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<FieldSet, A::Error> {
                let mut set = FieldSet::new();
                while let Some((name, def)) = m.next_entry::<String, FieldDef>()? {
                    if set.get(&name).is_some() {
                        return Err(serde::de::Error::custom(format!("field {name} is declared twice")));
                    }
                    set.add(&name, def);
                }
                Ok(set)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The conformance suite's user fields (../shared/conformance/README.md).
    fn planning() -> FieldSet {
        let toml = r#"
            theme = { type = "string", required = false, default_value = "auto" }
            showWeekends = { type = "boolean", required = false, default_value = true }
            blocklist = { type = "string[]", required = false }
            colors = { type = "json", required = false }
            birthday = { type = "date", required = false }
            monthlyCreditsQuota = { type = "number", required = false, default_value = 100, input = false }
            plan = { type = "string", required = false, default_value = "free", input = false }
            secretNote = { type = "string", required = false, returned = false }
            code = { type = "string", input = false }
        "#;
        toml::from_str(toml).unwrap()
    }

    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_millis(1_700_000_000_000).unwrap()
    }

    fn obj(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn declaration_order_is_kept() {
        let names: Vec<_> = planning().iter().map(|f| f.name.clone()).collect();
        assert_eq!(names[..3], ["theme", "showWeekends", "blocklist"]);
        assert_eq!(planning().returned().count(), 8, "secretNote is not returned");
    }

    #[test]
    fn create_fills_defaults_and_ignores_input_false_with_a_default() {
        let body = obj(
            json!({"theme": "dark", "plan": "enterprise", "monthlyCreditsQuota": 999, "unknown": 1, "birthday": "2000-01-02T00:00:00Z"}),
        );
        let v = planning().parse_input(&body, Action::Create, now()).unwrap();
        assert_eq!(v.get("theme"), Some(&json!("dark")));
        assert_eq!(v.get("showWeekends"), Some(&json!(true)));
        assert_eq!(v.get("plan"), Some(&json!("free")));
        assert_eq!(v.get("monthlyCreditsQuota"), Some(&json!(100)));
        assert_eq!(v.get("birthday"), Some(&json!("2000-01-02T00:00:00.000Z")));
        assert_eq!(v.get("unknown"), None);
        assert_eq!(v.get("blocklist"), None, "absent, no default: left to the database (null)");
    }

    #[test]
    fn update_refuses_truthy_input_false_and_fills_nothing() {
        let set = planning();
        let err = set.parse_input(&obj(json!({"plan": "pro"})), Action::Update, now()).unwrap_err();
        assert_eq!(err, FieldError::NotAllowed("plan".into()));
        assert_eq!(err.to_string(), "plan is not allowed to be set");
        let v = set.parse_input(&obj(json!({"plan": "", "theme": "light"})), Action::Update, now()).unwrap();
        assert_eq!(v.0, vec![("theme".to_string(), json!("light"))]);
        let err = set.parse_input(&obj(json!({"code": "x"})), Action::Create, now()).unwrap_err();
        assert_eq!(err, FieldError::NotAllowed("code".into()), "input:false without a default");
    }

    #[test]
    fn required_without_default_is_missing_on_create_only() {
        let mut set = FieldSet::new();
        set.add("nickname", FieldDef { required: Some(true), ..FieldDef::new(FieldType::String) });
        let err = set.parse_input(&obj(json!({})), Action::Create, now()).unwrap_err();
        assert_eq!(err.to_string(), "nickname is required");
        assert!(set.parse_input(&obj(json!({})), Action::Update, now()).unwrap().is_empty());
    }

    #[test]
    fn wrong_types_are_refused() {
        let set = planning();
        for (body, expected) in [
            (json!({"theme": 1}), "Invalid input: expected string, received number"),
            (json!({"showWeekends": "yes"}), "Invalid input: expected boolean, received string"),
            (json!({"blocklist": ["a", 1]}), "Invalid input: expected string, received number"),
            (json!({"blocklist": "a"}), "Invalid input: expected array, received string"),
            (json!({"birthday": "tomorrow"}), "Invalid input: expected date, received string"),
        ] {
            let err = set.parse_input(&obj(body), Action::Update, now()).unwrap_err();
            assert_eq!(err.to_string(), expected);
        }
        let ok = set.parse_input(&obj(json!({"theme": null, "colors": {"a": [1]}})), Action::Update, now()).unwrap();
        assert_eq!(ok.get("theme"), Some(&Value::Null), "null clears an optional field");
    }

    #[test]
    fn generators() {
        let mut set = FieldSet::new();
        set.add("uuid", FieldDef { default_generator: Some(Generator::Uuid), ..FieldDef::new(FieldType::String) });
        set.add("at", FieldDef { default_generator: Some(Generator::Now), ..FieldDef::new(FieldType::Date) });
        let v = set.parse_input(&obj(json!({})), Action::Create, now()).unwrap();
        let id = v.get("uuid").unwrap().as_str().unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_eq!(v.get("at"), Some(&json!("2023-11-14T22:13:20.000Z")));
    }

    #[test]
    fn unknown_keys_and_duplicates_in_declarations_are_refused() {
        assert!(toml::from_str::<FieldSet>("a = { type = \"string\", typo = 1 }").is_err());
        assert!(toml::from_str::<FieldSet>("a = { type = \"text\" }").is_err());
    }

    #[test]
    fn values_serialise_in_order() {
        let v = Values(vec![("z".into(), json!(1)), ("a".into(), json!(null))]);
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"{"z":1,"a":null}"#);
    }

    #[test]
    fn json_keys_take_javascripts_order() {
        // What `JSON.stringify(JSON.parse(text))` gives in Node for each text.
        for (text, js) in [
            (r#"{"b":1,"10":2,"2":3}"#, r#"{"2":3,"10":2,"b":1}"#),
            (
                r#"{"td":1,"nested":{"z":[{"1":1,"0":0}],"a":2},"lecture":3}"#,
                r#"{"td":1,"nested":{"z":[{"0":0,"1":1}],"a":2},"lecture":3}"#,
            ),
            // Not array indices: leading zero, sign, too large (2^32 - 1), empty.
            (r#"{"x":0,"01":1,"-1":2,"4294967295":3,"4294967294":4,"":5}"#, r#"{"4294967294":4,"x":0,"01":1,"-1":2,"4294967295":3,"":5}"#),
        ] {
            let v: Value = serde_json::from_str(text).unwrap();
            assert_eq!(serde_json::to_string(&js_key_order(v)).unwrap(), js, "{text}");
        }
    }
}
