//! SMTP delivery through a pooled lettre transport.
//!
//! [`SmtpMailer`] is built from a URL:
//!
//! - `smtp://user:pass@host[:587]`: STARTTLS, required (no fallback to plain text);
//! - `smtps://user:pass@host[:465]`: implicit TLS;
//! - `smtp+plain://host[:25]`: no TLS at all, for local relays and tests only (logged as a warning).
//!
//! User and password are percent-decoded. Everything that can be checked without the network (URL,
//! TLS settings, sender address) is checked at construction, so a bad configuration fails at
//! startup rather than on the first message.
//!
//! Must never: put the SMTP password in an error or a log line, or log a message's link or token.

use super::{Email, MailError, Mailer};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::{AsyncSmtpTransport, AsyncSmtpTransportBuilder};
use lettre::{Address, AsyncTransport, Message, Tokio1Executor};
use percent_encoding::percent_decode_str;
use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

/// Timeout for each SMTP command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends mail through one SMTP server; see the module documentation.
pub struct SmtpMailer {
    from: Mailbox,
    builder: AsyncSmtpTransportBuilder,
    /// Built on first use: lettre's pool spawns a tokio task, so building needs a runtime.
    transport: OnceLock<AsyncSmtpTransport<Tokio1Executor>>,
}

impl SmtpMailer {
    /// Parses `smtp_url` and `from` (e.g. `"Acme <no-reply@acme.com>"`); sends nothing yet.
    pub fn new(smtp_url: &str, from: &str) -> Result<Self, MailError> {
        let from = from.parse::<Mailbox>().map_err(|e| MailError::InvalidFrom { address: from.to_string(), reason: e.to_string() })?;
        let target = parse_url(smtp_url)?;
        if target.security == Security::Plain {
            tracing::warn!(host = %target.host, port = target.port, "SMTP without TLS (smtp+plain): use it only for a local relay");
        }
        Ok(Self { from, builder: target.builder()?, transport: OnceLock::new() })
    }

    /// Connects, greets, upgrades to TLS and logs in as configured, then quits: the check of
    /// `portcullis check-config`. Sends no message; uses a connection of its own, not the pool.
    pub async fn test_connection(&self) -> Result<(), MailError> {
        let transport: AsyncSmtpTransport<Tokio1Executor> = self.builder.clone().build();
        match transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(MailError::Smtp("the server did not answer the greeting".into())),
            Err(e) => Err(MailError::Smtp(e.to_string())),
        }
    }

    fn message(&self, email: Email) -> Result<Message, MailError> {
        let to = email.to.parse::<Address>().map_err(|e| MailError::InvalidRecipient(e.to_string()))?;
        Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(email.subject)
            .multipart(MultiPart::alternative_plain_html(email.text, email.html))
            .map_err(|e| MailError::Build(e.to_string()))
    }
}

#[async_trait::async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: Email) -> Result<(), MailError> {
        let message = self.message(email)?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(MailError::NoRuntime);
        }
        let transport = self.transport.get_or_init(|| self.builder.clone().build());
        transport.send(message).await.map(drop).map_err(|e| MailError::Smtp(e.to_string()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    StartTls,
    Implicit,
    Plain,
}

#[derive(PartialEq, Eq)]
struct Target {
    security: Security,
    host: String,
    port: u16,
    credentials: Option<(String, String)>,
}

/// Never prints the password.
impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("security", &self.security)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .finish_non_exhaustive()
    }
}

impl Target {
    fn builder(&self) -> Result<AsyncSmtpTransportBuilder, MailError> {
        let tls = || TlsParameters::new(self.host.clone()).map_err(|e| MailError::InvalidSmtpUrl(format!("TLS setup failed: {e}")));
        let tls = match self.security {
            Security::StartTls => Tls::Required(tls()?),
            Security::Implicit => Tls::Wrapper(tls()?),
            Security::Plain => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(self.host.clone())
            .port(self.port)
            .tls(tls)
            .timeout(Some(COMMAND_TIMEOUT));
        if let Some((user, pass)) = &self.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), pass.clone()));
        }
        Ok(builder)
    }
}

fn invalid(reason: &str) -> MailError {
    MailError::InvalidSmtpUrl(reason.to_string())
}

/// Parses an SMTP URL. Errors describe the problem without repeating the URL.
fn parse_url(raw: &str) -> Result<Target, MailError> {
    let url = url::Url::parse(raw.trim()).map_err(|e| MailError::InvalidSmtpUrl(e.to_string()))?;
    let (security, default_port) = match url.scheme() {
        "smtp" => (Security::StartTls, 587),
        "smtps" => (Security::Implicit, 465),
        "smtp+plain" => (Security::Plain, 25),
        _ => return Err(invalid("the scheme must be smtp://, smtps:// or smtp+plain://")),
    };
    let host = match url.host() {
        Some(url::Host::Domain(d)) if !d.is_empty() && !d.contains('%') => d.to_string(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        _ => return Err(invalid("a host name is required")),
    };
    if url.query().is_some() || url.fragment().is_some() || !matches!(url.path(), "" | "/") {
        return Err(invalid("paths and options (?...) are not supported"));
    }
    let decode = |s: &str, what: &str| {
        percent_decode_str(s).decode_utf8().map(|c| c.into_owned()).map_err(|_| invalid(&format!("the {what} is not valid UTF-8")))
    };
    let credentials = match (url.username(), url.password()) {
        ("", None) => None,
        ("", Some(_)) => return Err(invalid("a password needs a user name")),
        (_, None) => return Err(invalid("a user name needs a password")),
        (user, Some(pass)) => Some((decode(user, "user name")?, decode(pass, "password")?)),
    };
    Ok(Target { security, host, port: url.port().unwrap_or(default_port), credentials })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::templates::tests as templates;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::mpsc;

    fn target(security: Security, host: &str, port: u16, creds: Option<(&str, &str)>) -> Target {
        Target { security, host: host.into(), port, credentials: creds.map(|(u, p)| (u.into(), p.into())) }
    }

    #[test]
    fn parses_the_three_schemes_with_default_ports() {
        assert_eq!(
            parse_url("smtp://user:pass@mail.example.com").unwrap(),
            target(Security::StartTls, "mail.example.com", 587, Some(("user", "pass")))
        );
        let implicit = target(Security::Implicit, "mail.example.com", 2465, Some(("u", "p")));
        assert_eq!(parse_url("smtps://u:p@mail.example.com:2465").unwrap(), implicit);
        assert_eq!(parse_url("smtps://u:p@mail.example.com").unwrap().port, 465);
        assert_eq!(parse_url("smtp+plain://127.0.0.1").unwrap(), target(Security::Plain, "127.0.0.1", 25, None));
        assert_eq!(parse_url("smtp+plain://[::1]:2525/").unwrap(), target(Security::Plain, "::1", 2525, None));
    }

    #[test]
    fn percent_decodes_credentials() {
        let t = parse_url("smtp://apikey%40acme.com:p%40ss%3Aw%2Fo%25rd@smtp.example.com:587").unwrap();
        assert_eq!(t.credentials, Some(("apikey@acme.com".into(), "p@ss:w/o%rd".into())));
    }

    #[test]
    fn rejects_bad_urls_without_leaking_the_password() {
        for url in [
            "http://u:hunter2@host",
            "smtp://u:hunter2@",
            "smtp://:hunter2@host",
            "smtp://u@host",
            "smtp://u:hunter2@host?tls=off",
            "smtp://u:hunter2@host/path",
            "smtp://u:hunter2@host:99999",
            "smtp://u:%FF%FEhunter2@host",
            "not a url hunter2",
            "",
        ] {
            let err = parse_url(url).err().unwrap_or_else(|| panic!("{url} accepted")).to_string();
            assert!(!err.contains("hunter2"), "{url}: {err}");
        }
        let debug = format!("{:?}", parse_url("smtp://u:hunter2@host").unwrap());
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn invalid_from_fails_at_construction() {
        assert!(matches!(SmtpMailer::new("smtp+plain://127.0.0.1:25", "not an address"), Err(MailError::InvalidFrom { .. })));
        assert!(SmtpMailer::new("smtps://u:p@mail.example.com", "Acme <no-reply@localhost>").is_ok());
    }

    /// A fake SMTP server speaking just enough of the protocol; each finished message's transcript
    /// (commands and DATA) is sent on the channel.
    async fn fake_smtp() -> (u16, mpsc::UnboundedReceiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve_smtp(sock, tx.clone()));
            }
        });
        (port, rx)
    }

    async fn serve_smtp(sock: TcpStream, tx: mpsc::UnboundedSender<String>) {
        let (r, mut w) = sock.into_split();
        let mut lines = BufReader::new(r).lines();
        let mut transcript = String::new();
        let mut in_data = false;
        w.write_all(b"220 fake ESMTP\r\n").await.unwrap();
        while let Ok(Some(line)) = lines.next_line().await {
            transcript.push_str(&line);
            transcript.push('\n');
            let reply: &[u8] = if in_data {
                if line != "." {
                    continue;
                }
                in_data = false;
                let _ = tx.send(std::mem::take(&mut transcript));
                b"250 queued\r\n"
            } else {
                match line.get(..4).map(str::to_ascii_uppercase).as_deref() {
                    Some("EHLO" | "HELO") => b"250 fake\r\n",
                    Some("DATA") => {
                        in_data = true;
                        b"354 end with <CRLF>.<CRLF>\r\n"
                    }
                    Some("QUIT") => {
                        let _ = w.write_all(b"221 bye\r\n").await;
                        return;
                    }
                    _ => b"250 OK\r\n",
                }
            };
            if w.write_all(reply).await.is_err() {
                return;
            }
        }
    }

    #[tokio::test]
    async fn delivers_multipart_message_over_plain_smtp() {
        let (port, mut rx) = fake_smtp().await;
        let mailer = SmtpMailer::new(&format!("smtp+plain://127.0.0.1:{port}"), "Acme <no-reply@acme.test>").unwrap();
        let link = "http://localhost:3000/api/auth/verify-email?token=abc123";
        mailer.send(templates::verification("Acme", "user@example.com", link, "abc123")).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
        assert!(got.contains("MAIL FROM:<no-reply@acme.test>"), "{got}");
        assert!(got.contains("RCPT TO:<user@example.com>"), "{got}");
        assert!(got.contains("Subject: Verify your email address for Acme"), "{got}");
        assert!(got.contains("multipart/alternative"), "{got}");
        assert!(got.contains(link), "{got}");

        // The pooled connection is reused for a second message.
        mailer.send(templates::reset_password("Acme", "user@example.com", "http://x/reset/t2", "t2")).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
        assert!(got.contains("Subject: Reset your password for Acme") && got.contains("http://x/reset/t2"), "{got}");
    }

    #[tokio::test]
    async fn bad_recipient_and_unreachable_server_are_errors() {
        let mailer = SmtpMailer::new("smtp+plain://127.0.0.1:1", "a@b.test").unwrap();
        let mut e = templates::verification("Acme", "not an address", "http://x", "t");
        assert!(matches!(mailer.send(e.clone()).await, Err(MailError::InvalidRecipient(_))));
        e.to = "user@example.com".into();
        assert!(matches!(mailer.send(e).await, Err(MailError::Smtp(_))));
    }
}
