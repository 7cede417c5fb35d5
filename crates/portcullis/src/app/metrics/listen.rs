//! The metrics capability: counts sign-ins, sign-ups and failed sign-ins from the events other
//! capabilities emit ([`crate::app::events`]), registered only when `[metrics]` is on.
//!
//! | event | series | `method` label |
//! | --- | --- | --- |
//! | `session.created` (not `signIn: false`) | `portcullis_sign_ins_total` | `data.method` |
//! | `user.created` | `portcullis_sign_ups_total` | `data.method` |
//! | `sign-in.failed` | `portcullis_sign_in_failures_total` | `data.method` |
//!
//! Must never: label with anything but the method (never a user id, address or e-mail).

use super::Metrics;
use crate::app::{Auth, Capability, Event};
use crate::session::hooks::Hooks;
use std::sync::Arc;

pub(crate) struct Listener(pub Arc<Metrics>);

/// A method name is a short identifier (`email`, `google`, `magic-link`); anything else (a
/// capability's mistake) is folded into `other` so it cannot grow the series without bound.
fn method(event: &Event) -> &str {
    match event.data.get("method").and_then(|m| m.as_str()) {
        Some(m) if !m.is_empty() && m.len() <= 40 && m.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') => m,
        _ => "other",
    }
}

#[async_trait::async_trait]
impl Capability for Listener {
    fn id(&self) -> &'static str {
        "metrics"
    }
    fn hooks(&self) -> Hooks {
        Hooks { events: true, ..Hooks::default() }
    }
    async fn on_event(&self, _auth: &Auth, event: &Event) {
        record(&self.0, event);
    }
}

fn record(m: &Metrics, event: &Event) {
    match event.kind {
        "session.created" if event.data.get("signIn").and_then(|v| v.as_bool()) != Some(false) => {
            Metrics::count(&m.sign_ins, method(event))
        }
        "user.created" => Metrics::count(&m.sign_ups, method(event)),
        "sign-in.failed" => Metrics::count(&m.sign_in_failures, method(event)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::super::MethodLabels;
    use super::*;
    use prometheus_client::metrics::counter::Counter;
    use serde_json::json;

    fn event(kind: &'static str, data: serde_json::Value) -> Event {
        Event {
            kind,
            actor_id: None,
            target_type: "user",
            target_id: None,
            organization_id: None,
            ip: None,
            user_agent: None,
            at: chrono::Utc::now(),
            data,
        }
    }

    fn get(family: &prometheus_client::metrics::family::Family<MethodLabels, Counter>, method: &str) -> u64 {
        family.get_or_create(&MethodLabels { method: method.into() }).get()
    }

    #[test]
    fn events_become_counts_by_method() {
        let m = Metrics::new(&crate::config::Config::default());
        record(&m, &event("session.created", json!({"method": "email", "signIn": true})));
        record(&m, &event("session.created", json!({"method": "email", "signIn": false})));
        record(&m, &event("session.created", json!({"method": "google"})));
        record(&m, &event("user.created", json!({"method": "email"})));
        record(&m, &event("sign-in.failed", json!({"method": "email"})));
        record(&m, &event("sign-in.failed", json!({"method": "a b\"c"})));
        record(&m, &event("user.updated", json!({"method": "email"})));
        assert_eq!(get(&m.sign_ins, "email"), 1, "a sign-up's session is no sign-in");
        assert_eq!(get(&m.sign_ins, "google"), 1);
        assert_eq!(get(&m.sign_ups, "email"), 1);
        assert_eq!(get(&m.sign_in_failures, "email"), 1);
        assert_eq!(get(&m.sign_in_failures, "other"), 1, "an odd method name is folded");
    }
}
