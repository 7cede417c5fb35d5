//! Events: what happened to users, sessions, accounts and organizations, in one shape that any
//! capability may emit and any capability may listen to (the audit log, webhooks, metrics).
//!
//! A capability that acts calls [`Auth::emit`] after the action succeeded (the sign-in hooks, the
//! user writes and the plugins' routes do). A capability that listens declares
//! `Hooks { events: true, .. }` and implements [`Capability::on_event`](super::Capability::on_event);
//! listeners run in registration order, each awaited, so a listener that must not lose an event
//! (the webhook outbox) writes it before the request answers. With no listener, emitting costs one
//! branch: build an event only after [`Auth::listens`] said someone will read it.
//!
//! Must never: carry a secret. `data` holds ids, names and non-secret values (never a password,
//! token, code or key); a session appears through [`session_data`], which leaves its token out.

use super::Auth;
use crate::session::RequestMeta;
use crate::store::model::{Session, User};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// One thing that happened. `kind` names it in the dotted form webhooks use: `user.created`,
/// `session.created`, `session.revoked`, `sign-in.failed`, `password.changed`, `admin.ban-user`,
/// `organization.created`, `member.added`, ... (the README's "Audit log" section lists every kind,
/// its target and its data).
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: &'static str,
    /// Who acted: the signed-in user, or `None` for the operator, the server or an anonymous
    /// request (a failed sign-in).
    pub actor_id: Option<String>,
    /// What it happened to: `user`, `session`, `account`, `organization`, `member`, ...
    pub target_type: &'static str,
    pub target_id: Option<String>,
    pub organization_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub at: DateTime<Utc>,
    /// What a subscriber needs to act on it (the user as on the wire, the session without its
    /// token, the changed fields...), never a secret. `Value::Null` when there is nothing more.
    pub data: Value,
}

impl Event {
    /// An event about `target_type` `target_id`, now, with nothing else set.
    pub fn new(auth: &Auth, kind: &'static str, target_type: &'static str, target_id: Option<&str>) -> Self {
        Event {
            kind,
            actor_id: None,
            target_type,
            target_id: target_id.map(str::to_string),
            organization_id: None,
            ip: None,
            user_agent: None,
            at: auth.now(),
            data: Value::Null,
        }
    }
    pub fn actor(mut self, id: Option<&str>) -> Self {
        self.actor_id = id.map(str::to_string);
        self
    }
    pub fn organization(mut self, id: Option<&str>) -> Self {
        self.organization_id = id.map(str::to_string);
        self
    }
    /// The request's client address and User-Agent.
    pub fn meta(mut self, meta: &RequestMeta) -> Self {
        self.ip = meta.ip.clone();
        self.user_agent = (!meta.user_agent.is_empty()).then(|| meta.user_agent.clone());
        self
    }
    pub fn data(mut self, data: Value) -> Self {
        self.data = data;
        self
    }
}

/// A session as events carry it: its wire JSON without the token.
pub fn session_data(s: &Session) -> Value {
    let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.remove("token");
    }
    v
}

/// `{"user": ...}` as on the wire.
pub fn user_data(u: &User) -> Value {
    json!({ "user": u })
}

impl Auth {
    /// True when some capability listens to events (build one only then).
    pub fn listens(&self) -> bool {
        !self.hooked.events.is_empty()
    }

    /// Hands `event` to every listener, in registration order.
    pub async fn emit(&self, event: Event) {
        for c in &self.hooked.events {
            c.on_event(self, &event).await;
        }
    }
}
