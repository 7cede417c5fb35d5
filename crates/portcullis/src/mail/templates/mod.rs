//! E-mail templates: every message Portcullis sends is rendered here, through
//! [minijinja](https://docs.rs/minijinja) (Jinja syntax), from a registry of messages.
//!
//! # Messages and the layout
//!
//! A [`Message`] is a name (the [`Email::kind`], e.g. `"reset-password"`) and three templates: a
//! subject, a plain-text body and an HTML body. Capabilities register the messages they send
//! ([`Capability::mail_messages`](crate::app::Capability::mail_messages)) with built-in templates
//! compiled into the binary (`include_str!`), so a new e-mail is added by registering it, not by
//! editing this module. A body is rendered first, then placed in the layout (`layout.txt` and
//! `layout.html` beside this file) as `content`; the subject gets no layout.
//!
//! # Variables
//!
//! Every template sees:
//!
//! | variable | what |
//! | --- | --- |
//! | `app_name` | the configured `app_name` |
//! | `to` | the recipient's address |
//! | `content` | the layout only: the rendered body (already escaped in HTML) |
//!
//! and the variables of its message's context, listed by each message's [`Message::example`]
//! (the built-in ones: `url` and `token` for every message, `user_name` (the account's name), and
//! `new_email` for `change-email-confirmation`). A context's `url`, `token` and `otp` strings also
//! become the [`Email`]'s `url`, `token` and `otp` (what the development outbox shows).
//!
//! # Safety rules
//!
//! - In HTML every value is escaped (autoescape on `.html` templates; `|safe` is the template's
//!   explicit opt-out). Plain text is not escaped, so its links stay usable.
//! - Control characters in a rendered subject become spaces, so no value (an app name, an
//!   address) can add a header line.
//! - Undefined variables are errors (strict mode), never silently empty.
//! - Operator overrides (`[mail.templates.<message>]`, `[mail.templates.layout]`) are read,
//!   compiled, checked for unknown variables and rendered with the example context when the
//!   engine is built ([`Builder::build`]), so a broken template stops the start with its file and
//!   line, instead of failing at send time.
//!
//! This module only builds [`Email`] values: it never sends or logs anything. Errors at send
//! time carry no detail that could quote a value (a link or token).

mod build;
#[cfg(test)]
pub(crate) mod tests;

pub use build::Builder;

use super::Email;
use minijinja::value::merge_maps;
use minijinja::{context, Environment, Value};
use serde::Serialize;
use std::collections::BTreeMap;

/// The key of the layout under `[mail.templates]`; no message may take this name.
pub const LAYOUT: &str = "layout";

/// A message a capability sends, with its built-in templates.
#[derive(Clone, Debug)]
pub struct Message {
    /// The [`Email::kind`] it renders, and its key under `[mail.templates]`.
    pub name: &'static str,
    pub subject: &'static str,
    pub text: &'static str,
    pub html: &'static str,
    /// A JSON object with a value for every variable of the message's context (besides
    /// `app_name` and `to`), of the type the sender passes. It is the list of the message's
    /// variables, and the context its templates are rendered with at start.
    pub example: serde_json::Value,
}

/// The three templates of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    Subject,
    Text,
    Html,
}

impl Part {
    const ALL: [Part; 3] = [Part::Subject, Part::Text, Part::Html];

    /// The template's name in the engine: `<message>.subject`, `.txt` or `.html` (`.html` turns
    /// autoescape on).
    fn template(self, message: &str) -> String {
        let ext = match self {
            Part::Subject => "subject",
            Part::Text => "txt",
            Part::Html => "html",
        };
        format!("{message}.{ext}")
    }
}

/// The compiled, checked templates of every registered message.
pub struct Templates {
    env: Environment<'static>,
    /// Where each template came from, by template name: its file, or `built-in <name>`.
    origins: BTreeMap<String, String>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").field("templates", &self.origins).finish_non_exhaustive()
    }
}

impl Templates {
    /// A registry with the built-in layout and no message yet.
    pub fn builder(app_name: &str) -> Builder {
        Builder::new(app_name)
    }

    /// Renders message `name` to `to` with `context` (any serializable map: a struct, or
    /// `serde_json::json!({..})`). Errors name the template and line, never a value.
    pub fn render(&self, name: &str, to: &str, context: impl Serialize) -> Result<Email, TemplateError> {
        self.render_value(name, to, Value::from(minijinja::value::Serde(&context)), false)
    }

    fn render_value(&self, name: &str, to: &str, vars: Value, detail: bool) -> Result<Email, TemplateError> {
        if !self.origins.contains_key(&Part::Subject.template(name)) {
            return Err(TemplateError::Invalid(format!("no e-mail message named {name:?} is registered")));
        }
        let ctx = merge_maps([context! { to }, vars]);
        let part = |template: &str, ctx: Value| {
            let t = self.env.get_template(template).map_err(|e| self.error(&e, detail))?;
            t.render(ctx).map_err(|e| self.error(&e, detail))
        };
        let subject = part(&Part::Subject.template(name), ctx.clone())?;
        let text = part(&Part::Text.template(name), ctx.clone())?;
        let text = part("layout.txt", merge_maps([context! { content => text }, ctx.clone()]))?;
        let html = part(&Part::Html.template(name), ctx.clone())?;
        let html = part("layout.html", merge_maps([context! { content => Value::from_safe_string(html) }, ctx.clone()]))?;
        let field = |key: &str| ctx.get_attr(key).ok().and_then(|v| v.as_str().map(str::to_string));
        Ok(Email {
            to: to.to_string(),
            subject: clean_subject(&subject),
            text: ending_in_newline(text),
            html: ending_in_newline(html),
            kind: name.to_string(),
            url: field("url"),
            token: field("token"),
            otp: field("otp"),
        })
    }

    /// Maps an engine error to the file (or built-in template) and line it is about. Without
    /// `detail` only the kind of error is kept: at send time a detail could quote a value.
    fn error(&self, e: &minijinja::Error, detail: bool) -> TemplateError {
        let origin = match e.name() {
            Some(n) => self.origins.get(n).cloned().unwrap_or_else(|| n.to_string()),
            None => "(unknown)".to_string(),
        };
        let mut message = e.kind().to_string();
        if detail {
            if let Some(d) = e.detail() {
                message = format!("{message}: {d}");
            }
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                message = format!("{message}: {s}");
                source = s.source();
            }
        }
        TemplateError::Template { origin, line: e.line(), message }
    }
}

/// A template or registry problem. At start it stops the engine from being built.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// A template that does not compile or render: its file (or `built-in <name>`) and line.
    #[error("mail template {origin}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Template { origin: String, line: Option<usize>, message: String },
    /// Anything else: an unreadable file, an unknown message or variable, a duplicate name.
    #[error("{0}")]
    Invalid(String),
}

/// One line: control characters (CR, LF, tabs, ...) become spaces, and the ends are trimmed.
fn clean_subject(s: &str) -> String {
    let line: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    line.trim().to_string()
}

/// Template files lose their final newline when compiled; a mail body keeps one.
fn ending_in_newline(mut s: String) -> String {
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

/// Escapes text for HTML element content and quoted attribute values. Unlike minijinja's own
/// escaping it leaves `/` alone, so links in `href` stay readable (entity-encoded URLs look like
/// obfuscation to spam filters).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
