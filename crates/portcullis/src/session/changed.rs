//! Events about a change to one user's credentials or identity: `password.changed`,
//! `password.reset`, `email.changed`, `email.verified`, `two-factor.*`, `passkey.*`,
//! `account.linked` / `account.unlinked`. `targetType = "user"`, `data = {user, ...details}`
//! (the user as on the wire).
//!
//! Must never: carry a secret (no password, hash, token, code, secret or key in `details`), or
//! build anything when nobody listens.

use super::RequestMeta;
use crate::app::events::Event;
use crate::app::Auth;
use crate::store::model::User;
use serde_json::{json, Value};

/// Emits `kind` about `user`, by `actor` (the user themself unless an admin or nobody acted),
/// with `details` (an object merged beside `user`, or `Value::Null`).
pub async fn emit(auth: &Auth, kind: &'static str, meta: Option<&RequestMeta>, actor: Option<&str>, user: &User, details: Value) {
    if !auth.listens() {
        return;
    }
    let mut data = json!({ "user": user });
    if let (Value::Object(d), Value::Object(extra)) = (&mut data, details) {
        d.extend(extra);
    }
    let mut event = Event::new(auth, kind, "user", Some(&user.id)).actor(actor).data(data);
    if let Some(meta) = meta {
        event = event.meta(meta);
    }
    auth.emit(event).await;
}

/// The account as events carry it: provider and account id, never its tokens or password.
pub fn account_data(provider_id: &str, account_id: &str) -> Value {
    json!({ "account": { "providerId": provider_id, "accountId": account_id } })
}
