//! Sign-in codes by SMS (`[two_factor.otp] sender = "sms"`): an embedder implements
//! [`SmsSender`] (its SMS provider) and registers `TwoFactor::with_sms`; the standalone server posts
//! each code to `otp.webhook_url` as JSON `{"to", "otp", "userId"}` ([`Webhook`]), where a small
//! relay of the operator's hands it to the provider. `to` is the user field `otp.phone_field`.
//!
//! Sending happens after the answer (bounded, as e-mail), so a slow provider never delays
//! `send-otp` and the time of the answer tells nothing. Must never: log a code or a phone number
//! in full, or follow a redirect to another host with a code.

use crate::app::Auth;
use crate::store::model::User;
use std::sync::Arc;

/// Delivers one sign-in code by SMS.
#[async_trait::async_trait]
pub trait SmsSender: Send + Sync + 'static {
    /// `to` is the user's phone number as stored; errors are logged (without the code).
    async fn send(&self, to: &str, otp: &str, user: &User) -> Result<(), String>;
}

/// Posts `{"to", "otp", "userId"}` to a URL; any 2xx is success.
pub struct Webhook {
    url: String,
    client: reqwest::Client,
}

impl Webhook {
    pub fn new(url: &str) -> Self {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self { url: url.to_string(), client }
    }
}

#[async_trait::async_trait]
impl SmsSender for Webhook {
    async fn send(&self, to: &str, otp: &str, user: &User) -> Result<(), String> {
        let body = serde_json::json!({ "to": to, "otp": otp, "userId": user.id });
        let res = self.client.post(&self.url).json(&body).send().await.map_err(|e| e.without_url().to_string())?;
        if res.status().is_success() {
            Ok(())
        } else {
            Err(format!("the SMS webhook answered {}", res.status()))
        }
    }
}

/// The configured sender (none: codes cannot go out by SMS; `send-otp` logs it).
#[derive(Clone, Default)]
pub struct Sender(pub Option<Arc<dyn SmsSender>>);

impl Sender {
    /// Sends in the background; the answer does not wait.
    pub fn send(&self, auth: &Auth, user: &User, otp: String) {
        let Some(sender) = self.0.clone() else {
            tracing::error!(user = %user.id, "two-factor code not sent: sender = \"sms\" but no SMS sender or webhook_url is configured");
            return;
        };
        let field = &super::settings(auth).otp.phone_field;
        let Some(to) = user.extra.get(field).or_else(|| user.hidden.get(field)).and_then(|v| v.as_str()).map(str::to_string) else {
            tracing::warn!(user = %user.id, field = %field, "two-factor code not sent: the user has no phone number");
            return;
        };
        let (user, gate) = (user.clone(), auth.send_gate.clone());
        auth.background.spawn("two-factor SMS", async move {
            if let Some(gate) = gate {
                if !gate.allow(&to).await {
                    return;
                }
            }
            if let Err(e) = sender.send(&to, &otp, &user).await {
                tracing::warn!(user = %user.id, error = %e, "sending a two-factor code by SMS failed");
            }
        });
    }
}
