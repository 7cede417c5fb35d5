//! `portcullis check-config`: loads the configuration as `serve` does (file, then environment),
//! checks it with the engine's own start-up checks ([`portcullis::AuthBuilder::check`]), reaches
//! the database, Redis and the SMTP server, and prints what would run. Exit 0 when all is well,
//! 1 otherwise, with each problem on a line of its own (`problem: ...`).
//!
//! Must never print a secret: URLs are shown with their password replaced by `***`, and the
//! signing secret only as "set" or "development secret".

use portcullis::config::{Config, RateLimitStorage};
use portcullis::plugins::social::config::SocialConfig;
use portcullis::store::driver::redact;
use portcullis::Auth;

/// Checks `loaded` (the configuration, or why it did not load); Ok when there is no problem.
pub async fn run(loaded: Result<Config, String>) -> Result<(), String> {
    let cfg = loaded.map_err(|e| problems(&[format!("configuration: {e}")]))?;
    let checked = Auth::builder(cfg).check().map_err(|e| problems(&[format!("configuration: {e}")]))?;
    for (key, value) in summary(&checked) {
        println!("{key}: {value}");
    }
    for w in &checked.warnings {
        println!("warning: {w}");
    }
    let mut found = Vec::new();
    for r in checked.reach().await {
        match r.result {
            Ok(detail) => println!("reached {}: {detail}", r.name),
            Err(e) => found.push(format!("{}: {e}", r.name)),
        }
    }
    if found.is_empty() {
        println!("ok: the configuration is valid and every dependency answered");
        Ok(())
    } else {
        Err(problems(&found))
    }
}

/// Prints each problem on its own line; the error `main` reports after them.
fn problems(found: &[String]) -> String {
    for p in found {
        println!("problem: {}", p.replace('\n', " "));
    }
    format!("{} problem(s) found", found.len())
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn summary(checked: &portcullis::app::Checked) -> Vec<(&'static str, String)> {
    let c = &checked.config;
    let engine = if c.database_url.starts_with("postgres") { "PostgreSQL" } else { "SQLite" };
    let secondary = match &c.secondary_storage {
        Some(s) => format!(
            "{} (prefix {:?}, timeout {} ms; sessions also in the database: {})",
            redact(&s.url),
            s.prefix,
            s.timeout_ms,
            yes(c.session.store_session_in_database)
        ),
        None => "none (sessions in the database)".into(),
    };
    let providers: Vec<String> = c.sections.try_get::<SocialConfig>().map(|s| s.providers.keys().cloned().collect()).unwrap_or_default();
    let mut origins = vec![format!("{} (the base URL's)", c.origin())];
    origins.extend(c.trusted_origins.iter().cloned());
    let secret = match (&c.secrets, &c.secret) {
        (Some(_), _) => format!("set ({} versions)", c.secret_list().map(|l| l.len()).unwrap_or(0)),
        (None, Some(_)) => "set".into(),
        (None, None) => "DEVELOPMENT SECRET (set BETTER_AUTH_SECRET)".into(),
    };
    let mail = match (&c.mail.smtp_url, c.dev_outbox_enabled()) {
        (Some(u), outbox) => {
            format!("SMTP {} from {:?}{}", redact(u), c.mail.from, if outbox { ", and the development outbox" } else { "" })
        }
        (None, true) => "development outbox only (e-mail is not delivered)".into(),
        (None, false) => "none (e-mail is dropped)".into(),
    };
    vec![
        ("listen", c.listen.to_string()),
        ("base URL", c.auth_url()),
        ("production", yes(c.production).into()),
        ("secret", secret),
        (
            "database",
            format!(
                "{engine} {} (pool of {}, acquire timeout {} ms; migrate on start: {})",
                redact(&c.database_url),
                c.database.max_connections,
                c.database.acquire_timeout_ms,
                yes(c.migrate_on_start)
            ),
        ),
        ("secondary storage", secondary),
        ("capabilities", checked.capabilities.join(", ")),
        ("social providers", if providers.is_empty() { "none".into() } else { providers.join(", ") }),
        ("trusted origins", origins.join(", ")),
        ("rate limits", rate_limits(c)),
        ("mail", mail),
    ]
}

fn rate_limits(c: &Config) -> String {
    if !c.rate_limit_enabled() {
        return "off".into();
    }
    let r = &c.rate_limit;
    let storage = match c.rate_limit_storage() {
        RateLimitStorage::Memory => "memory",
        RateLimitStorage::SecondaryStorage => "secondary storage",
        RateLimitStorage::Database => "database",
    };
    let mut out = format!("{} per {} s per client, in {storage}", r.max, r.window);
    for rule in &r.custom_rules {
        if rule.enabled {
            out.push_str(&format!("; {} {} per {} s", rule.path, rule.max, rule.window));
        } else {
            out.push_str(&format!("; {} off", rule.path));
        }
    }
    if let Some(on) = r.on_storage_error {
        out.push_str(&format!("; on storage error: {on:?}"));
    }
    out
}
