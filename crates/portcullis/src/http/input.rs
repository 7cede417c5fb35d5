//! Typed request input: one extractor ([`Valid`] for bodies, [`ValidQuery`] for queries) that reads
//! a JSON value into a Rust type described by [`Input`], and answers Better Auth's validation error
//! when it does not fit: every issue, in the schema's order, worded as zod v4 words it and joined
//! as better-call joins them (`[body.email] Invalid email address; [body.password] ...`).
//!
//! A schema is a `parse` function over an [`Obj`]: each accessor is one zod schema member
//! (`string()` is `z.string()`, `opt_bool()` is `z.boolean().optional()`, ...). Accessors record an
//! issue and return a placeholder when a member does not fit; the value is only handed out when
//! there was none.
//!
//! Order: Better Auth validates before its endpoint middlewares (session guards, form CSRF). Put
//! `Valid<T>` before any session extractor in a handler's arguments, and register the body schema
//! with [`Capability::inputs`](crate::app::Capability::inputs) so the pipeline checks it before the
//! form-CSRF check too. Must never: accept a value with an issue, or report issues in another order
//! than the schema's (clients show the message).

use super::body::{is_email, kind, Body};
use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde_json::{Map, Value};

/// A schema: reads an object into `Self`. `SHAPE` says what the whole input must be.
pub trait Input: Sized + Send {
    const SHAPE: Shape = Shape::Object;
    fn parse(o: &mut Obj<'_>) -> Self;
    /// Declares the members for the API document ([`doc::describe`]): by default `parse` run in
    /// recording mode, so the document is the schema itself. Override for unions (`read`).
    fn describe(o: &mut Obj<'_>) {
        Self::parse(o);
    }
    /// The whole input at `at` (`body` or `query`); override for unions.
    fn read(v: Option<&Value>, at: &str, issues: &mut Vec<String>) -> Option<Self> {
        let empty = Map::new();
        let map = match (v, Self::SHAPE) {
            (Some(Value::Object(m)), _) => m,
            (None, Shape::OptionalObject) => &empty,
            (v, shape) => {
                for expected in shape.expected() {
                    issues.push(format!("[{at}] Invalid input: expected {expected}, received {}", kind(v)));
                }
                return None;
            }
        };
        Some(Self::parse(&mut Obj { map, at: at.to_string(), issues, doc: None }))
    }
}

/// The top-level zod type of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `z.object({...})`
    Object,
    /// `z.object({...}).optional()`: an absent body is an empty object.
    OptionalObject,
    /// `z.record(z.string(), z.any())`
    Record,
    /// `z.object({...}).and(z.record(...))` (sign-up: declared fields plus additional ones)
    ObjectAndRecord,
}

impl Shape {
    fn expected(self) -> &'static [&'static str] {
        match self {
            Shape::Object | Shape::OptionalObject => &["object"],
            Shape::Record => &["record"],
            Shape::ObjectAndRecord => &["object", "record"],
        }
    }
}

/// Parses `v` as `T`, or Better Auth's `VALIDATION_ERROR` with every issue.
pub fn parse<T: Input>(v: Option<&Value>, at: &str) -> Result<T, ApiError> {
    let mut issues = Vec::new();
    match T::read(v, at, &mut issues) {
        Some(t) if issues.is_empty() => Ok(t),
        _ => Err(ApiError::validation(issues.join("; "))),
    }
}

/// The query string as better-call sees it: a repeated key becomes an array.
pub fn query_value(query: Option<&str>) -> Value {
    let mut m = Map::new();
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()).into_owned() {
        match m.get_mut(&k) {
            None => {
                m.insert(k, Value::String(v));
            }
            Some(Value::Array(a)) => a.push(Value::String(v)),
            Some(prev) => *prev = Value::Array(vec![prev.take(), Value::String(v)]),
        }
    }
    Value::Object(m)
}

/// One object being read at a zod path (`body`, `body.idToken`, ...), collecting issues; or, with
/// `doc`, an empty one whose accessors record the members they stand for ([`doc::describe`]).
pub struct Obj<'a> {
    map: &'a Map<String, Value>,
    at: String,
    issues: &'a mut Vec<String>,
    doc: Option<&'a mut Vec<doc::Field>>,
}

impl<'a> Obj<'a> {
    /// Records member `key` when describing (a no-op when reading).
    fn note(&mut self, key: &str, kind: doc::Kind, required: bool) {
        if let Some(d) = self.doc.as_deref_mut() {
            d.push(doc::Field { key: key.to_string(), kind, required });
        }
    }
    /// Refines the kind of the member just recorded (`email()` is a `string()` that is an e-mail).
    fn retag(&mut self, kind: doc::Kind) {
        if let Some(f) = self.doc.as_deref_mut().and_then(|d| d.last_mut()) {
            f.kind = kind;
        }
    }
    fn required_last(&mut self) {
        if let Some(f) = self.doc.as_deref_mut().and_then(|d| d.last_mut()) {
            f.required = true;
        }
    }
    pub fn map(&self) -> &'a Map<String, Value> {
        self.map
    }
    /// Member `key` as sent (read by hand): documented as any value, optional.
    pub fn raw(&mut self, key: &str) -> Option<&'a Value> {
        self.note(key, doc::Kind::Any, false);
        self.map.get(key)
    }
    /// Documents the member just read as required (a hand-read one the parse refuses without).
    pub fn doc_required(&mut self) {
        self.required_last();
    }
    fn issue(&mut self, key: &str, msg: impl std::fmt::Display) {
        self.issues.push(format!("[{}.{key}] {msg}", self.at));
    }
    fn expected(&mut self, key: &str, expected: &str) {
        let got = kind(self.map.get(key));
        self.issue(key, format_args!("Invalid input: expected {expected}, received {got}"));
    }
    /// `z.string()`
    pub fn string(&mut self, key: &str) -> String {
        self.note(key, doc::Kind::String, true);
        match self.map.get(key) {
            Some(Value::String(s)) => s.clone(),
            _ => {
                self.expected(key, "string");
                String::new()
            }
        }
    }
    /// `z.string().optional()`
    pub fn opt_string(&mut self, key: &str) -> Option<String> {
        self.note(key, doc::Kind::String, false);
        match self.map.get(key) {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.expected(key, "string");
                None
            }
        }
    }
    /// `z.string().nonempty()`
    pub fn nonempty(&mut self, key: &str) -> String {
        let s = self.string(key);
        self.retag(doc::Kind::NonEmpty);
        if matches!(self.map.get(key), Some(Value::String(s)) if s.is_empty()) {
            self.issue(key, "Too small: expected string to have >=1 characters");
        }
        s
    }
    /// `z.email()`
    pub fn email(&mut self, key: &str) -> String {
        let s = self.string(key);
        self.retag(doc::Kind::Email);
        if matches!(self.map.get(key), Some(Value::String(s)) if !is_email(s)) {
            self.issue(key, "Invalid email address");
        }
        s
    }
    /// `z.enum([...]).or(z.string())`: any string; anything else is a failed union.
    pub fn any_string(&mut self, key: &str) -> String {
        self.note(key, doc::Kind::String, true);
        match self.map.get(key) {
            Some(Value::String(s)) => s.clone(),
            _ => {
                self.issue(key, "Invalid input");
                String::new()
            }
        }
    }
    /// `z.enum([...]).optional()`: one of `options`, or `None` when absent.
    pub fn opt_enum(&mut self, key: &str, options: &[&str]) -> Option<String> {
        self.note(key, doc::Kind::enumeration(options), false);
        match self.map.get(key) {
            None => None,
            Some(Value::String(s)) if options.contains(&s.as_str()) => Some(s.clone()),
            Some(_) => {
                let list: Vec<String> = options.iter().map(|o| format!("\"{o}\"")).collect();
                self.issue(key, format_args!("Invalid option: expected one of {}", list.join("|")));
                None
            }
        }
    }
    /// `z.enum([...])`: one of `options`; anything else (absent included) is zod's invalid option.
    pub fn one_of(&mut self, key: &str, options: &[&str]) -> String {
        self.note(key, doc::Kind::enumeration(options), true);
        match self.map.get(key) {
            Some(Value::String(s)) if options.contains(&s.as_str()) => s.clone(),
            _ => {
                let quoted: Vec<String> = options.iter().map(|o| format!("{o:?}")).collect();
                self.issue(key, format_args!("Invalid option: expected one of {}", quoted.join("|")));
                String::new()
            }
        }
    }
    /// `z.boolean().optional()`
    pub fn opt_bool(&mut self, key: &str) -> Option<bool> {
        self.note(key, doc::Kind::Bool, false);
        match self.map.get(key) {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                self.expected(key, "boolean");
                None
            }
        }
    }
    /// `z.number().optional()`
    pub fn opt_number(&mut self, key: &str) -> Option<f64> {
        self.note(key, doc::Kind::Number, false);
        match self.map.get(key) {
            None => None,
            Some(Value::Number(n)) => n.as_f64(),
            Some(_) => {
                self.expected(key, "number");
                None
            }
        }
    }
    /// `z.array(z.string()).optional()`
    pub fn opt_strings(&mut self, key: &str) -> Option<Vec<String>> {
        self.note(key, doc::Kind::Strings, false);
        let items = match self.map.get(key) {
            None => return None,
            Some(Value::Array(a)) => a,
            Some(_) => {
                self.expected(key, "array");
                return None;
            }
        };
        let mut out = Vec::new();
        for (i, v) in items.iter().enumerate() {
            match v {
                Value::String(s) => out.push(s.clone()),
                other => self.issue(&format!("{key}.{i}"), format_args!("Invalid input: expected string, received {}", kind(Some(other)))),
            }
        }
        Some(out)
    }
    /// `z.record(z.string(), z.any()).optional()`
    pub fn opt_record(&mut self, key: &str) -> Option<Map<String, Value>> {
        self.note(key, doc::Kind::Record, false);
        match self.map.get(key) {
            None => None,
            Some(Value::Object(m)) => Some(m.clone()),
            Some(_) => {
                self.expected(key, "record");
                None
            }
        }
    }
    /// `z.record(z.string(), z.string()).refine(ok, message).optional()`: the refinement runs only
    /// when every value is a string, as in zod.
    pub fn opt_string_record(&mut self, key: &str, ok: impl Fn(&str) -> bool, message: &str) -> Option<Vec<(String, String)>> {
        let m = self.opt_record(key);
        self.retag(doc::Kind::StringRecord);
        let m = m?;
        let before = self.issues.len();
        let mut out = Vec::new();
        for (k, v) in &m {
            match v {
                Value::String(s) => out.push((k.clone(), s.clone())),
                other => self.issue(&format!("{key}.{k}"), format_args!("Invalid input: expected string, received {}", kind(Some(other)))),
            }
        }
        if self.issues.len() == before && !out.iter().all(|(k, _)| ok(k)) {
            self.issue(key, message);
        }
        Some(out)
    }
    /// `z.object({...})` at `key` (required): `T::default()` with an issue when it is not one.
    pub fn object<T: Default>(&mut self, key: &str, f: impl FnOnce(&mut Obj<'_>) -> T) -> T {
        if self.doc.is_some() {
            self.opt_object(key, f);
            self.required_last();
            return T::default();
        }
        if self.map.get(key).is_none() {
            self.expected(key, "object");
            return T::default();
        }
        self.opt_object(key, f).unwrap_or_default()
    }
    /// A nested `z.object({...}).optional()` read with `f`.
    pub fn opt_object<T>(&mut self, key: &str, f: impl FnOnce(&mut Obj<'_>) -> T) -> Option<T> {
        if let Some(d) = self.doc.as_deref_mut() {
            let (empty, mut inner) = (Map::new(), Vec::new());
            f(&mut Obj { map: &empty, at: String::new(), issues: self.issues, doc: Some(&mut inner) });
            d.push(doc::Field { key: key.to_string(), kind: doc::Kind::Object(inner), required: false });
            return None;
        }
        match self.map.get(key) {
            None => None,
            Some(Value::Object(m)) => {
                let at = format!("{}.{key}", self.at);
                Some(f(&mut Obj { map: m, at, issues: self.issues, doc: None }))
            }
            Some(_) => {
                self.expected(key, "object");
                None
            }
        }
    }
}

/// `{ token: string, callbackURL?: string }`: the query of a link mailed with a token
/// (verify-email, delete-user/callback).
pub struct TokenQuery {
    pub token: String,
    pub callback_url: Option<String>,
}

impl Input for TokenQuery {
    fn parse(o: &mut Obj<'_>) -> Self {
        TokenQuery { token: o.string("token"), callback_url: o.opt_string("callbackURL") }
    }
}

/// `z.record(z.string(), z.any())`: any object, kept whole (update-user, update-session).
pub struct Record(pub Map<String, Value>);

impl Input for Record {
    const SHAPE: Shape = Shape::Record;
    fn parse(o: &mut Obj<'_>) -> Self {
        Record(o.map().clone())
    }
}

/// The request body read as `T` (better-call's body validation).
pub struct Valid<T>(pub T);

impl<S: Send + Sync, T: Input> FromRequestParts<S> for Valid<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let body = parts.extensions.get::<Body>();
        parse(body.and_then(|b| b.0.as_ref()), "body").map(Valid)
    }
}

/// The query string read as `T`; repeated keys are arrays, as in better-call.
pub struct ValidQuery<T>(pub T);

impl<S: Send + Sync, T: Input> FromRequestParts<S> for ValidQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parse(Some(&query_value(parts.uri.query())), "query").map(ValidQuery)
    }
}

/// A body check the pipeline runs before the form-CSRF check ([`check::<T>`](check)).
pub type Check = fn(Option<&Value>) -> Result<(), ApiError>;

/// The check for body schema `T`.
pub fn check<T: Input>() -> Check {
    |v| parse::<T>(v, "body").map(|_| ())
}

pub mod doc;
#[cfg(test)]
mod tests;
