//! [`AuthBuilder::check`]: a configuration checked exactly as [`AuthBuilder::build`] checks it
//! (the same code: the capabilities' sections, [`Config::validate`], templates, fields, network
//! policy, mail settings), then each dependency reached once (database `select 1`, Redis, SMTP),
//! without serving. What `portcullis check-config` prints.
//!
//! Must never: return a secret or a password (every URL it reports is redacted), write to the
//! database or Redis (a missing SQLite file is created, as `serve` would), send an e-mail, or keep
//! a connection open.

use super::{AuthBuilder, StartError};
use crate::config::{Config, ConfigError};
use crate::http::ip::IpPolicy;
use crate::store::driver::redact;
use crate::store::{Db, PoolOptions};
use std::future::Future;
use std::time::Duration;

/// How long one dependency may take to answer the check (beyond its own configured timeouts).
const REACH_TIMEOUT: Duration = Duration::from_secs(15);

/// A configuration that passed every check the build makes before it connects anything.
pub struct Checked {
    /// The configuration as the server would run it (file, environment, capabilities' sections).
    pub config: Config,
    /// The ids of the capabilities that would run, in order.
    pub capabilities: Vec<&'static str>,
    /// What the build would log as warnings.
    pub warnings: Vec<String>,
}

/// One dependency reached: its name and what it answered (an error text without secrets).
pub struct Reached {
    pub name: &'static str,
    pub result: Result<String, String>,
}

impl AuthBuilder {
    /// Checks the configuration as [`build`](Self::build) does, without connecting anything.
    pub fn check(mut self) -> Result<Checked, StartError> {
        let prepared = self.prepare()?;
        let config = prepared.config;
        IpPolicy::new(&config.advanced).map_err(ConfigError::Invalid)?;
        if let Some(url) = &config.mail.smtp_url {
            crate::mail::smtp::SmtpMailer::new(url, &config.mail.from).map_err(|e| StartError::Mail(e.to_string()))?;
        }
        let capabilities = self.capabilities.iter().map(|c| c.id()).collect();
        Ok(Checked { config, capabilities, warnings: prepared.warnings })
    }
}

async fn bounded(fut: impl Future<Output = Result<String, String>>) -> Result<String, String> {
    tokio::time::timeout(REACH_TIMEOUT, fut).await.unwrap_or_else(|_| Err(format!("no answer within {REACH_TIMEOUT:?}")))
}

impl Checked {
    /// Reaches the database, then Redis and the SMTP server when configured; one entry each.
    pub async fn reach(&self) -> Vec<Reached> {
        let c = &self.config;
        let mut out = vec![Reached { name: "database", result: bounded(self.database()).await }];
        if let Some(s) = c.secondary_storage.as_ref().filter(|s| !s.url.starts_with("memory:")) {
            let result = bounded(async {
                let storage = crate::secondary::open(&s.url, &s.prefix, Duration::from_millis(s.timeout_ms))?;
                // A read of a key nobody writes: reaches Redis, changes nothing.
                match storage.get("portcullis:check-config").await {
                    Ok(_) => Ok(format!("{} answered", redact(&s.url))),
                    Err(e) => Err(format!("{}: {e}", redact(&s.url))),
                }
            })
            .await;
            out.push(Reached { name: "redis", result });
        }
        if let Some(url) = &c.mail.smtp_url {
            let result = bounded(async {
                let mailer = crate::mail::smtp::SmtpMailer::new(url, &c.mail.from).map_err(|e| e.to_string())?;
                mailer.test_connection().await.map(|()| format!("{} accepted the connection", redact(url))).map_err(|e| e.to_string())
            })
            .await;
            out.push(Reached { name: "smtp", result });
        }
        out
    }

    async fn database(&self) -> Result<String, String> {
        let c = &self.config;
        let db = Db::connect(&c.database_url, &PoolOptions::from(&c.database)).await.map_err(|e| {
            let e = e.to_string();
            if e.contains("timed out") {
                format!(
                    "{e}: nothing answered within database.acquire_timeout_ms ({} ms); is it running and reachable?",
                    c.database.acquire_timeout_ms
                )
            } else {
                e
            }
        })?;
        let res = db.execute("select 1", &[]).await.map(|_| format!("{} answered select 1", redact(&c.database_url)));
        db.close().await;
        res.map_err(|e| redact(&e.to_string()))
    }
}
