//! Outgoing e-mail: the [`Mailer`] interface, SMTP delivery and the development outbox.
//!
//! This module owns turning an [`Email`] into a delivered (or recorded) message. It picks the
//! mailer from [`MailConfig`] in [`from_config`], and offers [`spawn_send`] so request handlers
//! never wait for a mail server.
//!
//! Links and tokens in an [`Email`] are credentials (whoever holds a reset link owns the account),
//! so nothing here ever logs them, puts them in an error message, or prints them through `Debug`.
//! Only the recipient and the message kind are logged.

pub mod outbox;
pub mod smtp;
pub mod templates;

use crate::config::MailConfig;
use std::fmt;
use std::sync::Arc;

/// One message to send. `url` and `token` are what the recipient acts on; the development outbox
/// exposes them so tests can follow links without parsing bodies.
#[derive(Clone, serde::Serialize)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// What the message is for: `"verify-email"`, `"reset-password"`, `"delete-account"`, ...
    pub kind: String,
    pub url: Option<String>,
    pub token: Option<String>,
}

/// Redacts the body, link and token: an `Email` printed with `{:?}` must not leak credentials.
impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Email")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .field("kind", &self.kind)
            .field("url", &self.url.as_ref().map(|_| "<redacted>"))
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// Something that delivers (or records) e-mail.
#[async_trait::async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, email: Email) -> Result<(), MailError>;
}

/// Mail failures. Messages never contain passwords, tokens or links.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The SMTP URL is unusable; the reason never repeats the URL (it may hold a password).
    #[error("invalid SMTP URL: {0}")]
    InvalidSmtpUrl(String),
    #[error("invalid sender address {address:?}: {reason}")]
    InvalidFrom { address: String, reason: String },
    #[error("invalid recipient address: {0}")]
    InvalidRecipient(String),
    #[error("cannot build the message: {0}")]
    Build(String),
    #[error("SMTP delivery failed: {0}")]
    Smtp(String),
    #[error("SMTP sending needs a running tokio runtime")]
    NoRuntime,
}

/// What [`from_config`] returns: the mailer to send with, and the outbox to serve (if any).
pub type MailerAndOutbox = (Arc<dyn Mailer>, Option<Arc<outbox::Outbox>>);

/// Builds the mailer the configuration asks for, plus the outbox when `dev_outbox` is on:
///
/// - `smtp_url` set: SMTP, and with `dev_outbox` every message is also recorded in the outbox;
/// - no SMTP, `dev_outbox`: the outbox only (nothing is delivered);
/// - neither: a mailer that logs recipient and kind and drops the message.
///
/// `outbox_file` is honoured whenever an outbox is created.
pub fn from_config(cfg: &MailConfig, dev_outbox: bool) -> Result<MailerAndOutbox, MailError> {
    let outbox = dev_outbox.then(|| Arc::new(outbox::Outbox::new(cfg.outbox_file.clone())));
    let mailer: Arc<dyn Mailer> = match (&cfg.smtp_url, &outbox) {
        (Some(url), None) => Arc::new(smtp::SmtpMailer::new(url, &cfg.from)?),
        (Some(url), Some(ob)) => {
            let smtp: Arc<dyn Mailer> = Arc::new(smtp::SmtpMailer::new(url, &cfg.from)?);
            let ob: Arc<dyn Mailer> = ob.clone();
            Arc::new(Tee::new(vec![ob, smtp]))
        }
        (None, Some(ob)) => {
            tracing::warn!("no SMTP server configured: e-mail is NOT delivered, only kept in the development outbox");
            ob.clone()
        }
        (None, None) => {
            tracing::warn!("no SMTP server and no development outbox configured: e-mail is dropped");
            Arc::new(DiscardMailer)
        }
    };
    Ok((mailer, outbox))
}

/// Sends `email` from a background task and logs a failure, so a slow mail server never delays a
/// response and response times don't reveal whether a message was sent.
pub fn spawn_send(mailer: Arc<dyn Mailer>, email: Email) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        tracing::error!(to = %email.to, kind = %email.kind, "cannot send e-mail: no tokio runtime");
        return;
    };
    rt.spawn(async move {
        let (to, kind) = (email.to.clone(), email.kind.clone());
        if let Err(e) = mailer.send(email).await {
            tracing::warn!(%to, %kind, error = %e, "sending e-mail failed");
        }
    });
}

/// Fans one message out to several mailers, in order. Every mailer gets the message even when an
/// earlier one fails; the first error is returned.
pub struct Tee {
    mailers: Vec<Arc<dyn Mailer>>,
}

impl Tee {
    pub fn new(mailers: Vec<Arc<dyn Mailer>>) -> Self {
        Self { mailers }
    }
}

#[async_trait::async_trait]
impl Mailer for Tee {
    async fn send(&self, email: Email) -> Result<(), MailError> {
        let mut first_err = None;
        for m in &self.mailers {
            if let Err(e) = m.send(email.clone()).await {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

/// Drops every message, logging only its recipient and kind (never the link or token).
pub struct DiscardMailer;

#[async_trait::async_trait]
impl Mailer for DiscardMailer {
    async fn send(&self, email: Email) -> Result<(), MailError> {
        tracing::warn!(to = %email.to, kind = %email.kind, "e-mail dropped: no SMTP server or outbox configured");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Email {
        templates::reset_password("App", "a@example.com", "http://x/reset?token=SECRET", "SECRET")
    }

    #[test]
    fn debug_redacts_credentials() {
        let s = format!("{:?}", sample());
        assert!(!s.contains("SECRET"), "{s}");
        assert!(s.contains("a@example.com") && s.contains("reset-password"));
    }

    #[tokio::test]
    async fn config_picks_outbox_or_discard() {
        let cfg = MailConfig::default();
        let (mailer, outbox) = from_config(&cfg, true).unwrap();
        mailer.send(sample()).await.unwrap();
        assert_eq!(outbox.unwrap().messages_for("A@example.com").len(), 1);

        let (mailer, outbox) = from_config(&cfg, false).unwrap();
        assert!(outbox.is_none());
        mailer.send(sample()).await.unwrap();
    }

    #[tokio::test]
    async fn config_with_smtp_and_outbox_tees() {
        // Nothing listens on port 1: SMTP fails, but the outbox still records the message.
        let cfg = MailConfig { smtp_url: Some("smtp+plain://127.0.0.1:1".into()), ..Default::default() };
        let (mailer, outbox) = from_config(&cfg, true).unwrap();
        assert!(mailer.send(sample()).await.is_err());
        assert_eq!(outbox.unwrap().messages_for("a@example.com").len(), 1);
    }

    #[test]
    fn bad_smtp_url_is_a_startup_error_without_the_password() {
        let cfg = MailConfig { smtp_url: Some("ftp://user:hunter2@host".into()), ..Default::default() };
        let err = from_config(&cfg, false).err().unwrap().to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }
}
