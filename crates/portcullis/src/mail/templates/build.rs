//! [`Builder`]: collects the registered messages and the operator's override files, compiles
//! every template and checks it, so that [`Templates`] only ever holds templates that rendered.

use super::{escape, Message, Part, TemplateError, Templates, LAYOUT};
use crate::config::TemplateFiles;
use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Registers messages, then builds [`Templates`]:
///
/// ```text
/// let templates = Templates::builder("Acme")
///     .message(Message { name: "otp", subject: include_str!("otp.subject"), .., example: json!({ "code": "123456" }) })
///     .overrides(&config.mail.templates)
///     .build()?;
/// ```
pub struct Builder {
    app_name: String,
    messages: Vec<Message>,
    overrides: BTreeMap<String, TemplateFiles>,
}

impl Builder {
    pub(super) fn new(app_name: &str) -> Self {
        Self { app_name: app_name.to_string(), messages: Vec::new(), overrides: BTreeMap::new() }
    }

    /// Registers one message (its name must be new, and not `layout`).
    pub fn message(mut self, message: Message) -> Self {
        self.messages.push(message);
        self
    }

    pub fn messages(mut self, messages: impl IntoIterator<Item = Message>) -> Self {
        self.messages.extend(messages);
        self
    }

    /// The operator's files (`[mail.templates]`), by message name or `layout`.
    pub fn overrides(mut self, files: &BTreeMap<String, TemplateFiles>) -> Self {
        self.overrides.extend(files.iter().map(|(k, v)| (k.clone(), v.clone())));
        self
    }

    /// Reads the override files, compiles every template and renders each message with its
    /// example context. Any problem is an error naming the file (and line when there is one).
    pub fn build(self) -> Result<Templates, TemplateError> {
        self.check_names()?;
        let mut env = environment(&self.app_name)?;
        let mut origins = BTreeMap::new();
        let layout = self.overrides.get(LAYOUT);
        for (part, default) in [(Part::Text, include_str!("layout.txt")), (Part::Html, include_str!("layout.html"))] {
            add(&mut env, &mut origins, part.template(LAYOUT), layout.and_then(|f| file(f, part)), default)?;
        }
        for m in &self.messages {
            let files = self.overrides.get(m.name);
            for (part, default) in [(Part::Subject, m.subject), (Part::Text, m.text), (Part::Html, m.html)] {
                add(&mut env, &mut origins, part.template(m.name), files.and_then(|f| file(f, part)), default)?;
            }
        }
        let templates = Templates { env, origins };
        for m in &self.messages {
            let example = Value::from(minijinja::value::Serde(&m.example));
            if let Err(rendering) = templates.render_value(m.name, "ada@example.com", example, true) {
                return Err(self.explain(&templates, rendering));
            }
        }
        self.check_variables(&templates)?;
        Ok(templates)
    }

    /// A render error says "undefined value" at a line; the variable check names the variable.
    /// When both are about one template, the answer has the name and the line.
    fn explain(&self, templates: &Templates, rendering: TemplateError) -> TemplateError {
        let Err(TemplateError::Template { origin, message, .. }) = self.check_variables(templates) else { return rendering };
        match rendering {
            TemplateError::Template { origin: o, line, .. } if o == origin => TemplateError::Template { origin, line, message },
            rendering => rendering,
        }
    }

    /// Message names are unique and not `layout`; every override names a message or the layout;
    /// the layout has no subject.
    fn check_names(&self) -> Result<(), TemplateError> {
        let mut seen = BTreeSet::new();
        for m in &self.messages {
            if m.name == LAYOUT || !seen.insert(m.name) {
                return Err(TemplateError::Invalid(format!("e-mail message {:?} is registered twice (or is named layout)", m.name)));
            }
            if !m.example.is_object() {
                return Err(TemplateError::Invalid(format!("e-mail message {:?}: its example context is not an object", m.name)));
            }
        }
        for (name, files) in &self.overrides {
            if name == LAYOUT && files.subject.is_some() {
                return Err(TemplateError::Invalid("[mail.templates.layout]: the layout has no subject (set it per message)".into()));
            }
            if name != LAYOUT && !seen.contains(name.as_str()) {
                let known: Vec<&str> = seen.iter().copied().collect();
                return Err(TemplateError::Invalid(format!(
                    "[mail.templates.{name}]: no e-mail message of that name (the messages are: layout, {})",
                    known.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Refuses variables a template uses but its message never has, including in branches the
    /// example context does not take. The layout may use any message's variables.
    fn check_variables(&self, templates: &Templates) -> Result<(), TemplateError> {
        // The engine's functions (`range`, `dict`, ...) are globals too.
        let functions: BTreeSet<String> = templates.env.globals().map(|(k, _)| k.to_string()).filter(|k| k != "app_name").collect();
        let mut every: BTreeSet<String> = ["app_name", "to", "content"].map(String::from).into();
        for m in &self.messages {
            let mut vars: BTreeSet<String> = ["app_name", "to"].map(String::from).into();
            vars.extend(m.example.as_object().into_iter().flat_map(|o| o.keys().cloned()));
            every.extend(vars.iter().cloned());
            for part in Part::ALL {
                unknown_variables(templates, &part.template(m.name), &vars, &functions)?;
            }
        }
        for part in [Part::Text, Part::Html] {
            unknown_variables(templates, &part.template(LAYOUT), &every, &functions)?;
        }
        Ok(())
    }
}

/// The engine every template runs in: strict undefined, HTML autoescape on `.html` templates
/// (with [`escape`]), `app_name` as a global, and `trim_blocks`/`lstrip_blocks`, so a line
/// holding only `{% if %}` leaves no blank line in a plain-text mail.
fn environment(app_name: &str) -> Result<Environment<'static>, TemplateError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|name| if name.ends_with(".html") { AutoEscape::Html } else { AutoEscape::None });
    env.set_formatter(|out, state, value| {
        if matches!(state.auto_escape(), AutoEscape::Html) && !value.is_safe() {
            if let Some(s) = value.as_str() {
                return out.write_str(&escape(s)).map_err(minijinja::Error::from);
            }
        }
        minijinja::escape_formatter(out, state, value)
    });
    let syntax = SyntaxConfig::builder().trim_blocks(true).lstrip_blocks(true).build();
    env.set_syntax(syntax.map_err(|e| TemplateError::Invalid(format!("mail template syntax: {e}")))?);
    env.add_global("app_name", Value::from(app_name));
    Ok(env)
}

fn file(files: &TemplateFiles, part: Part) -> Option<&Path> {
    match part {
        Part::Subject => files.subject.as_deref(),
        Part::Text => files.text.as_deref(),
        Part::Html => files.html.as_deref(),
    }
}

/// Compiles template `name` from `file` when the operator named one, else from `default`.
fn add(
    env: &mut Environment<'static>,
    origins: &mut BTreeMap<String, String>,
    name: String,
    file: Option<&Path>,
    default: &'static str,
) -> Result<(), TemplateError> {
    let (origin, source) = match file {
        Some(path) => {
            let source = std::fs::read_to_string(path)
                .map_err(|e| TemplateError::Invalid(format!("mail template {}: cannot read it: {e}", path.display())))?;
            (path.display().to_string(), source)
        }
        None => (format!("built-in {name}"), default.to_string()),
    };
    let compiled = env.add_template_owned(name.clone(), source);
    origins.insert(name, origin.clone());
    compiled.map_err(|e| TemplateError::Template { origin, line: e.line(), message: describe(&e) })
}

fn describe(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    }
}

fn unknown_variables(
    templates: &Templates,
    name: &str,
    vars: &BTreeSet<String>,
    functions: &BTreeSet<String>,
) -> Result<(), TemplateError> {
    let template = templates.env.get_template(name).map_err(|e| templates.error(&e, true))?;
    let used = template.undeclared_variables(false);
    let mut unknown: Vec<&str> = used.iter().map(String::as_str).filter(|v| !vars.contains(*v) && !functions.contains(*v)).collect();
    if unknown.is_empty() {
        return Ok(());
    }
    unknown.sort_unstable();
    let origin = templates.origins.get(name).cloned().unwrap_or_else(|| name.to_string());
    let vars: Vec<&str> = vars.iter().map(String::as_str).collect();
    Err(TemplateError::Template {
        origin,
        line: None,
        message: format!("unknown variable {} (the variables here are: {})", unknown.join(", "), vars.join(", ")),
    })
}
