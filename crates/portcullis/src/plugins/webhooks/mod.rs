//! Signed webhooks with a durable outbox (a Portcullis addition, `[webhooks] enabled = true`; off,
//! it adds no route, no table and no listener).
//!
//! Listens to every event ([`crate::app::events`]); for each endpoint whose patterns match the
//! event type, writes one `webhookDelivery` row before the request answers ([`outbox`]), and a
//! worker started with the engine delivers the rows in the Standard Webhooks format
//! ([`signature`], [`delivery`]), retrying with backoff until `dead`. Endpoints come from the
//! configuration and, when the admin capability is on, from `/admin/webhooks/*` ([`routes`],
//! permission `webhook: [create, list, update, delete]`, granted to the built-in `admin` role).
//!
//! | file | what |
//! | --- | --- |
//! | [`config`] | `[webhooks]` and `[[webhooks.endpoints]]` |
//! | [`signature`] | `whsec_` secrets, `v1,` signatures and their verification |
//! | [`endpoints`] | configured and stored endpoints, encrypted secrets, rotation |
//! | [`outbox`] | the `webhookDelivery` table and its lease |
//! | [`delivery`] | the worker, URL checks, backoff |
//! | [`routes`] | the admin API |
//!
//! Must never: emit events, put a secret in a payload, a row or a log line, or let a failed outbox
//! write fail the request that caused the event (it is logged with the event type and endpoint).

pub mod config;
pub mod delivery;
pub mod endpoints;
pub mod outbox;
pub mod routes;
pub mod signature;

use crate::app::{Auth, Capability, Event};
use crate::config::SectionSpec;
use crate::http::input::{check, Check};
use crate::session::hooks::Hooks;
use serde_json::{json, Value};
use signature::Secret;
use std::sync::Arc;
use tokio::sync::Notify;

/// This capability's `[webhooks]` section.
pub fn settings(auth: &Auth) -> &config::WebhooksConfig {
    auth.config.section()
}

/// Error codes of the admin API.
pub mod errors {
    crate::error_codes! {
        WEBHOOK_NOT_FOUND = NOT_FOUND, "Webhook endpoint not found";
        INVALID_WEBHOOK_URL = BAD_REQUEST, "The webhook URL must be an http(s) URL";
        PRIVATE_WEBHOOK_URL = BAD_REQUEST, "The webhook URL points to a private address";
        INVALID_WEBHOOK_EVENTS = BAD_REQUEST, "List at least one event type (exact, a prefix like user.*, or *)";
        CONFIGURED_WEBHOOK_IS_READ_ONLY = BAD_REQUEST, "This endpoint is configured in the server's configuration file";
        DELIVERY_NOT_FOUND = NOT_FOUND, "Webhook delivery not found";
        DELIVERY_NOT_DEAD = BAD_REQUEST, "Only a dead delivery can be redelivered";
        YOU_ARE_NOT_ALLOWED_TO_MANAGE_WEBHOOKS = FORBIDDEN, "You are not allowed to manage webhooks";
    }
}

/// An endpoint that receives deliveries, with the secrets that sign them (current first).
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub secrets: Vec<Secret>,
}

impl Endpoint {
    /// Whether one of its patterns matches `kind`: exact, `prefix.*`, or `*`.
    pub fn wants(&self, kind: &str) -> bool {
        self.events.iter().any(|p| matches(p, kind))
    }
}

/// `user.*` matches `user.created` (and `user.a.b`), `*` matches everything, else equality.
pub fn matches(pattern: &str, kind: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some("") => true,
        Some(prefix) if prefix.ends_with('.') => kind.starts_with(prefix),
        _ => pattern == kind,
    }
}

/// A configured endpoint (its secrets were checked at start).
fn configured(e: &config::EndpointConfig) -> Endpoint {
    let secrets: Vec<Secret> = std::iter::once(&e.secret).chain(&e.previous_secrets).filter_map(|s| Secret::parse(s)).collect();
    Endpoint { id: e.endpoint_id(), url: e.url.clone(), events: e.events.clone(), secrets }
}

/// The body of every delivery of `event`: `{"type", "timestamp", "data"}`. `data` is the event's
/// data (secret-free by the event contract) with its actor, target and organization ids added; the
/// request's address and user agent that the event records are not added.
pub fn payload(event: &Event) -> String {
    let mut data = match &event.data {
        Value::Object(m) => m.clone(),
        Value::Null => Default::default(),
        other => [("value".to_string(), other.clone())].into_iter().collect(),
    };
    for (k, v) in [
        ("actorId", event.actor_id.clone()),
        ("targetType", Some(event.target_type.to_string())),
        ("targetId", event.target_id.clone()),
        ("organizationId", event.organization_id.clone()),
    ] {
        if let Some(v) = v {
            data.entry(k).or_insert(Value::String(v));
        }
    }
    json!({ "type": event.kind, "timestamp": crate::store::model::iso_ms::format(&event.at), "data": data }).to_string()
}

/// The webhooks capability.
pub struct Webhooks {
    /// Wakes this engine's worker when a row was written.
    wake: Arc<Notify>,
    /// Serve the admin API (the admin capability is on).
    admin_api: bool,
}

impl Webhooks {
    pub fn new(admin_api: bool) -> Self {
        Webhooks { wake: Arc::new(Notify::new()), admin_api }
    }
}

#[async_trait::async_trait]
impl Capability for Webhooks {
    fn id(&self) -> &'static str {
        "webhooks"
    }
    fn sections(&self) -> Vec<SectionSpec> {
        vec![SectionSpec::of::<config::WebhooksConfig>()]
    }
    fn schema(&self) -> Vec<crate::store::schema::Table> {
        vec![endpoints::table(), outbox::table()]
    }
    fn api(&self) -> crate::app::openapi::Api {
        use crate::app::openapi::wire::*;
        use crate::app::openapi::{Api, Op};
        if !self.admin_api {
            return Api::default();
        }
        let op = |s: &'static str| Op::new(s).signed_in().bare("401");
        let webhook = |secret: bool| match secret {
            true => object(&[("webhook", any()), ("secret", string())], &[]),
            false => object(&[("webhook", any())], &[]),
        };
        Api::new("Webhooks")
            .post("/admin/webhooks/create", routes::create, op("Subscribes an endpoint").body::<routes::CreateBody>().json(webhook(true)))
            .get("/admin/webhooks/list", routes::list, op("The subscriptions").json(object(&[("webhooks", array(any()))], &[])))
            .post("/admin/webhooks/update", routes::update, op("Changes a subscription").body::<routes::UpdateBody>().json(webhook(false)))
            .post("/admin/webhooks/delete", routes::delete, op("Deletes a subscription").body::<routes::IdBody>().json(success()))
            .post(
                "/admin/webhooks/rotate-secret",
                routes::rotate_secret,
                op("A new signing secret (the old one kept for a while)").body::<routes::RotateBody>().json(webhook(true)),
            )
            .get(
                "/admin/webhooks/deliveries",
                routes::deliveries,
                op("Deliveries, the dead-letter list included")
                    .query::<routes::DeliveriesQuery>()
                    .json(object(&[("deliveries", array(any())), ("total", number())], &[])),
            )
            .post(
                "/admin/webhooks/redeliver",
                routes::redeliver,
                op("Delivers a delivery again").body::<routes::IdBody>().json(object(&[("delivery", any())], &[])),
            )
    }
    fn inputs(&self) -> Vec<(&'static str, Check)> {
        if !self.admin_api {
            return Vec::new();
        }
        vec![
            ("/admin/webhooks/create", check::<routes::CreateBody>()),
            ("/admin/webhooks/update", check::<routes::UpdateBody>()),
            ("/admin/webhooks/delete", check::<routes::IdBody>()),
            ("/admin/webhooks/rotate-secret", check::<routes::RotateBody>()),
            ("/admin/webhooks/redeliver", check::<routes::IdBody>()),
        ]
    }
    fn hooks(&self) -> Hooks {
        Hooks { events: true, ..Hooks::default() }
    }
    fn on_start(&self, auth: &Auth) {
        self.start(auth);
    }
    /// One outbox row per matching endpoint, written before the request answers.
    async fn on_event(&self, auth: &Auth, event: &Event) {
        let targets = match endpoints::all(auth).await {
            Ok(all) => all.into_iter().filter(|e| e.wants(event.kind)).collect::<Vec<_>>(),
            Err(e) => {
                tracing::error!(event = event.kind, error = %e, "webhook endpoints not read; event not queued");
                return;
            }
        };
        if targets.is_empty() {
            return;
        }
        let body = payload(event);
        for t in &targets {
            if let Err(e) = outbox::enqueue(auth, t, event.kind, &body).await {
                tracing::error!(event = event.kind, endpoint = %t.id, error = %e, "webhook delivery not queued");
            }
        }
        self.wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_exactly_by_prefix_or_all() {
        assert!(matches("user.*", "user.created"));
        assert!(!matches("user.*", "users.created"));
        assert!(!matches("user.*", "session.created"));
        assert!(matches("*", "member.added"));
        assert!(matches("session.created", "session.created"));
        assert!(!matches("session.created", "session.revoked"));
        assert!(!matches("user*", "user.created"), "only a dotted prefix is a wildcard");
    }
}
