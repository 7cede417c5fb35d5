//! Outgoing e-mail: the [`Mailer`] interface, SMTP delivery, the development outbox, and the
//! templates messages are rendered from ([`templates`]).
//!
//! This module owns turning an [`Email`] into a delivered (or recorded) message. It picks the
//! mailer from [`MailConfig`] in [`from_config`], and offers [`Outgoing`] so request handlers
//! never wait for a mail server. It must never start sends without bound: a stalled mail server
//! holds each send for minutes (30 s per SMTP command), so a flood would otherwise pile up tasks,
//! connections and memory.
//!
//! Links and tokens in an [`Email`] are credentials (whoever holds a reset link owns the account),
//! so nothing here ever logs them, puts them in an error message, or prints them through `Debug`.
//! Only the recipient and the message kind are logged.

pub mod outbox;
pub mod smtp;
pub mod templates;

use crate::background::{Background, Dropped};
use crate::config::MailConfig;
use std::fmt;
use std::sync::Arc;

/// One message to send. `url`, `token` and `otp` are what the recipient acts on; the development
/// outbox exposes them so tests can follow links and type codes without parsing bodies.
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
    /// A one-time code the recipient types (two-factor, e-mail OTP).
    pub otp: Option<String>,
}

/// Redacts the body, link, token and code: an `Email` printed with `{:?}` must not leak credentials.
impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Email")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .field("kind", &self.kind)
            .field("url", &self.url.as_ref().map(|_| "<redacted>"))
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("otp", &self.otp.as_ref().map(|_| "<redacted>"))
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

/// E-mails being sent at once per [`Auth`](crate::Auth), unless built otherwise
/// ([`Outgoing::new`]). A healthy SMTP server takes well under a second per message, so this is
/// hundreds of messages a second; it fills only when the server stalls or a flood asks for mail.
pub const MAX_SENDING: usize = 256;

/// Decides, as a message is about to go out, whether it may: the limit on messages to one address
/// (`rate_limit.per_address`, implemented by the application). It runs in the background send, so
/// neither its answer nor its time shows in the response of the request that asked for the message.
#[async_trait::async_trait]
pub trait SendGate: Send + Sync {
    /// False: the message to `to` is not sent (the gate logs why).
    async fn allow(&self, to: &str) -> bool;
}

/// Sends e-mail from background tasks, so a slow mail server never delays a response and response
/// times don't reveal whether a message was sent. At most a bound of sends run at once; beyond it
/// a message is dropped, logged (recipient and kind only) and counted in [`dropped`](Self::dropped).
/// A [`SendGate`] may refuse a message before it goes out. Clones share the bound and the count.
#[derive(Clone)]
pub struct Outgoing {
    mailer: Arc<dyn Mailer>,
    tasks: Background,
    gate: Option<Arc<dyn SendGate>>,
}

impl fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outgoing").field("limit", &self.tasks.limit()).field("dropped", &self.tasks.dropped()).finish_non_exhaustive()
    }
}

impl Outgoing {
    /// Sends through `mailer`, at most `max` (at least 1) messages at once.
    pub fn new(mailer: Arc<dyn Mailer>, max: usize) -> Self {
        Self { mailer, tasks: Background::new(max), gate: None }
    }

    /// Asks `gate` before every message.
    pub fn with_gate(mut self, gate: Option<Arc<dyn SendGate>>) -> Self {
        self.gate = gate;
        self
    }

    /// Starts sending `email` and returns at once: true if it is on its way, false if it was
    /// dropped (every send slot taken, or no tokio runtime). A failed delivery is logged.
    pub fn send(&self, email: Email) -> bool {
        let (to, kind) = (email.to.clone(), email.kind.clone());
        let (mailer, gate) = (self.mailer.clone(), self.gate.clone());
        let started = self.tasks.try_spawn(async move {
            let (to, kind) = (email.to.clone(), email.kind.clone());
            if let Some(gate) = gate {
                if !gate.allow(&to).await {
                    return;
                }
            }
            if let Err(e) = mailer.send(email).await {
                tracing::warn!(%to, %kind, error = %e, "sending e-mail failed");
            }
        });
        match started {
            Ok(()) => true,
            Err(Dropped::Full) => {
                tracing::warn!(%to, %kind, limit = self.tasks.limit(), "e-mail dropped: too many e-mails being sent");
                false
            }
            Err(Dropped::NoRuntime) => {
                tracing::error!(%to, %kind, "e-mail dropped: no tokio runtime");
                false
            }
        }
    }

    /// Messages dropped since start because the bound was reached (or no runtime ran).
    pub fn dropped(&self) -> u64 {
        self.tasks.dropped()
    }
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
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    fn sample() -> Email {
        templates::tests::reset_password("App", "a@example.com", "http://x/reset?token=SECRET", "SECRET")
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

    /// Holds every message until released, counting those it was given and those it finished.
    #[derive(Default)]
    struct Stalled {
        release: Option<tokio::sync::watch::Receiver<bool>>,
        got: AtomicUsize,
        done: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl Mailer for Stalled {
        async fn send(&self, _: Email) -> Result<(), MailError> {
            self.got.fetch_add(1, SeqCst);
            if let Some(mut release) = self.release.clone() {
                let _ = release.wait_for(|go| *go).await;
            }
            self.done.fetch_add(1, SeqCst);
            Ok(())
        }
    }

    /// Waits (a few seconds at most) until `n` reaches `want`.
    async fn reaches(n: &AtomicUsize, want: usize) {
        let wait = async {
            while n.load(SeqCst) < want {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(5), wait).await.expect("the sends ran");
    }

    #[tokio::test]
    async fn sends_beyond_the_bound_are_dropped_and_counted() {
        let (release, wait) = tokio::sync::watch::channel(false);
        let stalled = Arc::new(Stalled { release: Some(wait), ..Default::default() });
        let out = Outgoing::new(stalled.clone(), 2);
        assert!(out.send(sample()) && out.clone().send(sample()));
        reaches(&stalled.got, 2).await;
        assert_eq!(out.dropped(), 0);
        assert!(!out.send(sample()), "a stalled server holds both slots");
        assert_eq!(out.clone().dropped(), 1, "clones share the count");
        // Once the server answers, the slots come back.
        release.send_replace(true);
        reaches(&stalled.done, 2).await;
        tokio::task::yield_now().await;
        assert!(out.send(sample()));
        reaches(&stalled.done, 3).await;
        assert_eq!(stalled.got.load(SeqCst), 3, "the dropped message never reached the mailer");
        assert_eq!(out.dropped(), 1);
    }

    /// Lets `budget` messages through, then refuses, remembering whom it was asked about.
    struct Budget(std::sync::Mutex<(usize, Vec<String>)>);

    #[async_trait::async_trait]
    impl SendGate for Budget {
        async fn allow(&self, to: &str) -> bool {
            let mut b = self.0.lock().unwrap();
            b.1.push(to.to_string());
            b.0.checked_sub(1).map(|left| b.0 = left).is_some()
        }
    }

    #[tokio::test]
    async fn the_gate_is_asked_before_every_message_and_can_refuse() {
        let mailer = Arc::new(Stalled::default());
        let gate = Arc::new(Budget(std::sync::Mutex::new((1, Vec::new()))));
        let out = Outgoing::new(mailer.clone(), 4).with_gate(Some(gate.clone()));
        assert!(out.send(sample()), "a refused message still counts as handed over: the answer must not change");
        reaches(&mailer.done, 1).await;
        assert!(out.send(sample()));
        let asked = async {
            while gate.0.lock().unwrap().1.len() < 2 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(5), asked).await.expect("the gate was asked");
        tokio::task::yield_now().await;
        assert_eq!(mailer.got.load(SeqCst), 1, "the second message never reached the mailer");
        assert_eq!(gate.0.lock().unwrap().1, ["a@example.com", "a@example.com"]);
        assert_eq!(out.dropped(), 0, "refused by the gate is not dropped by the bound");
    }

    #[test]
    fn bad_smtp_url_is_a_startup_error_without_the_password() {
        let cfg = MailConfig { smtp_url: Some("ftp://user:hunter2@host".into()), ..Default::default() };
        let err = from_config(&cfg, false).err().unwrap().to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }
}
