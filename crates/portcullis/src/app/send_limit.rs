//! The limit on messages to one address (`rate_limit.per_address`): a [`SendGate`] over the
//! rate-limit store, so every instance sharing Redis or the `rateLimit` table counts together.
//!
//! Every e-mail ([`Auth::send_mail`](super::Auth::send_mail)) and every two-factor text message
//! passes it just before it goes out, in the background: whether a message was refused never shows
//! in an answer or its timing, so the limit cannot tell anyone which addresses have accounts. The
//! per-IP rules still answer 429 to the client that asks too often; this one stops many clients
//! (or one with many addresses) flooding one inbox or phone.

use super::Clock;
use crate::config::OnStorageError;
use crate::mail::SendGate;
use crate::rate_limit::outage::RateLimitHealth;
use crate::rate_limit::{address_key, RateLimitStore, Rule, Verdict};
use std::sync::Arc;

pub struct SendLimit {
    pub store: Arc<dyn RateLimitStore>,
    pub rule: Rule,
    pub on_error: Option<OnStorageError>,
    pub health: Arc<RateLimitHealth>,
    pub clock: Arc<dyn Clock>,
}

#[async_trait::async_trait]
impl SendGate for SendLimit {
    async fn allow(&self, to: &str) -> bool {
        let verdict = self.store.consume(&address_key(to), self.rule, self.clock.now().timestamp_millis()).await;
        match verdict {
            Verdict::Limited(_) => {
                tracing::warn!(%to, max = self.rule.max, window_s = self.rule.window_s, "message not sent: too many to this address (rate_limit.per_address)");
                false
            }
            // An unavailable counter refuses as on the sign-in and mail paths: a mail flood is
            // what this limit is for.
            other => self.health.judge(other, self.on_error, true).is_none(),
        }
    }
}
