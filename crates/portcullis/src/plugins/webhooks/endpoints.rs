//! Endpoints: those of `[[webhooks.endpoints]]` and those created through the admin API (the
//! `webhookEndpoint` table), seen as one [`Endpoint`] list with the secrets that sign for each.
//!
//! Stored secrets are encrypted with the server's secret ([`crate::crypto::symmetric`], purpose
//! `webhook-secret`), as provider tokens are. A rotation keeps the previous secret (encrypted) until
//! `previousSecretExpiresAt`; it signs beside the new one until then.
//!
//! Must never: return a stored secret outside create and rotate-secret, or sign with a secret
//! that does not decrypt (such an endpoint is skipped and logged, by id).

use super::signature::Secret;
use super::{settings, Endpoint};
use crate::app::Auth;
use crate::crypto::symmetric::Keys;
use crate::store::adapter::{Row, Where};
use crate::store::model::iso_ms;
use crate::store::schema::{ColType, Column, Table};
use crate::store::StoreResult;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

pub const TABLE: &str = "webhookEndpoint";

/// `webhookEndpoint`: `events` is a JSON array of patterns.
pub fn table() -> Table {
    use ColType::*;
    Table {
        name: TABLE,
        columns: vec![
            Column::new("id", Text).pk(),
            Column::new("url", Text),
            Column::new("events", Text),
            Column::new("description", Text).null(),
            Column::new("enabled", Bool),
            Column::new("secret", Text),
            Column::new("previousSecret", Text).null(),
            Column::new("previousSecretExpiresAt", Time).null(),
            Column::new("createdAt", Time),
            Column::new("updatedAt", Time),
        ],
        indexes: vec![],
    }
}

/// A stored row (secrets still encrypted).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stored {
    pub id: String,
    pub url: String,
    pub events: String,
    pub description: Option<String>,
    pub enabled: bool,
    secret: String,
    previous_secret: Option<String>,
    previous_secret_expires_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl Stored {
    pub fn patterns(&self) -> Vec<String> {
        serde_json::from_str(&self.events).unwrap_or_default()
    }

    /// As the admin API shows it: never a secret.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "url": self.url,
            "events": self.patterns(),
            "description": self.description,
            "enabled": self.enabled,
            "source": "api",
            "previousSecretExpiresAt": self.previous_secret_expires_at,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        })
    }

    /// The endpoint with the secrets that sign at `now` (current first).
    fn endpoint(&self, keys: &Keys, now: DateTime<Utc>) -> Option<Endpoint> {
        let Some(current) = keys.decrypt(&self.secret).as_deref().and_then(Secret::parse) else {
            tracing::error!(endpoint = %self.id, "webhook endpoint secret does not decrypt (was the server secret changed?); skipped");
            return None;
        };
        let mut secrets = vec![current];
        let live = self.previous_secret_expires_at.as_deref().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).is_some_and(|t| t > now);
        if let (true, Some(prev)) = (live, &self.previous_secret) {
            secrets.extend(keys.decrypt(prev).as_deref().and_then(Secret::parse));
        }
        Some(Endpoint { id: self.id.clone(), url: self.url.clone(), events: self.patterns(), secrets })
    }
}

fn keys(auth: &Auth) -> Keys {
    Keys::from_config(&auth.config).for_purpose("webhook-secret")
}

/// Every endpoint that receives events now: the configured ones, then the enabled stored ones.
pub async fn all(auth: &Auth) -> StoreResult<Vec<Endpoint>> {
    let mut out: Vec<Endpoint> = settings(auth).endpoints.iter().map(super::configured).collect();
    let (keys, now) = (keys(auth), auth.now());
    let stored: Vec<Stored> = auth.adapter()?.find_many_as(TABLE, &crate::store::adapter::Query::default()).await?;
    out.extend(stored.iter().filter(|s| s.enabled).filter_map(|s| s.endpoint(&keys, now)));
    Ok(out)
}

/// The endpoint `id` (configured or stored, enabled or not), with its signing secrets.
pub async fn by_id(auth: &Auth, id: &str) -> StoreResult<Option<Endpoint>> {
    if let Some(e) = settings(auth).endpoints.iter().find(|e| e.endpoint_id() == id) {
        return Ok(Some(super::configured(e)));
    }
    Ok(find(auth, id).await?.and_then(|s| s.endpoint(&keys(auth), auth.now())))
}

pub async fn find(auth: &Auth, id: &str) -> StoreResult<Option<Stored>> {
    match auth.adapter()?.find_one(TABLE, &[Where::eq("id", id)]).await? {
        Some(r) => crate::store::adapter::from_row(r).map(Some),
        None => Ok(None),
    }
}

pub async fn list(auth: &Auth) -> StoreResult<Vec<Stored>> {
    let q = crate::store::adapter::Query { sort_by: Some(("createdAt".into(), false)), ..Default::default() };
    auth.adapter()?.find_many_as(TABLE, &q).await
}

/// Stores a new endpoint; returns it and its secret (shown this once).
pub async fn create(
    auth: &Auth,
    url: &str,
    events: &[String],
    description: Option<String>,
    enabled: bool,
) -> StoreResult<(Stored, String)> {
    let secret = Secret::generate();
    let now = Value::String(iso_ms::format(&auth.now()));
    let mut r = Row::new();
    r.insert("id".into(), auth.new_id().into());
    r.insert("url".into(), url.into());
    r.insert("events".into(), json!(events).to_string().into());
    r.insert("description".into(), description.into());
    r.insert("enabled".into(), enabled.into());
    r.insert("secret".into(), keys(auth).encrypt(&secret).into());
    r.insert("createdAt".into(), now.clone());
    r.insert("updatedAt".into(), now);
    let stored = crate::store::adapter::from_row(auth.adapter()?.create(TABLE, r).await?)?;
    Ok((stored, secret))
}

/// Changes `url`, `events`, `description` or `enabled` of `id`; the row after, if it exists.
pub async fn update(auth: &Auth, id: &str, mut patch: Row) -> StoreResult<Option<Stored>> {
    if let Some(ev) = patch.get("events").cloned() {
        patch.insert("events".into(), ev.to_string().into());
    }
    patch.insert("updatedAt".into(), iso_ms::format(&auth.now()).into());
    match auth.adapter()?.update(TABLE, &[Where::eq("id", id)], patch).await? {
        Some(r) => crate::store::adapter::from_row(r).map(Some),
        None => Ok(None),
    }
}

pub async fn delete(auth: &Auth, id: &str) -> StoreResult<bool> {
    Ok(auth.adapter()?.delete_many(TABLE, &[Where::eq("id", id)]).await? > 0)
}

/// A new secret for `id`; the current one keeps signing for `overlap_s` seconds.
pub async fn rotate(auth: &Auth, id: &str, overlap_s: u64) -> StoreResult<Option<(Stored, String)>> {
    let Some(old) = find(auth, id).await? else { return Ok(None) };
    let secret = Secret::generate();
    let now = auth.now();
    let until = now + chrono::Duration::seconds(i64::try_from(overlap_s).unwrap_or(i64::MAX / 2_000_000).min(10 * 365 * 86_400));
    let mut patch = Row::new();
    patch.insert("secret".into(), keys(auth).encrypt(&secret).into());
    patch.insert("previousSecret".into(), (overlap_s > 0).then_some(old.secret).into());
    patch.insert("previousSecretExpiresAt".into(), (overlap_s > 0).then(|| iso_ms::format(&until)).into());
    patch.insert("updatedAt".into(), iso_ms::format(&now).into());
    let filter = [Where::eq("id", id)];
    Ok(match auth.adapter()?.update(TABLE, &filter, patch).await? {
        Some(r) => Some((crate::store::adapter::from_row(r)?, secret)),
        None => None,
    })
}
