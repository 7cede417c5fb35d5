//! The admin API (Portcullis additions under the admin capability's permission model): endpoints
//! created, listed, changed, deleted and given a new secret; deliveries listed by status; a dead
//! delivery sent again. Configured endpoints are listed (`"source": "config"`) but read-only.
//!
//! Must never: list a secret (it is answered once, by create and rotate-secret), or store an
//! endpoint whose URL `[webhooks]` would not deliver to.

use super::errors;
use super::{delivery, endpoints, outbox, settings};
use crate::app::Auth;
use crate::error::{ApiError, ApiResult};
use crate::http::input::{Input, Obj, Valid, ValidQuery};
use crate::http::reply::Reply;
use crate::plugins::admin::Authorized;
use crate::store::adapter::Row;
use axum::extract::State;
use serde_json::{json, Value};

crate::permission!(pub Create { webhook: ["create"] } else errors::YOU_ARE_NOT_ALLOWED_TO_MANAGE_WEBHOOKS);
crate::permission!(pub List { webhook: ["list"] } else errors::YOU_ARE_NOT_ALLOWED_TO_MANAGE_WEBHOOKS);
crate::permission!(pub Update { webhook: ["update"] } else errors::YOU_ARE_NOT_ALLOWED_TO_MANAGE_WEBHOOKS);
crate::permission!(pub Delete { webhook: ["delete"] } else errors::YOU_ARE_NOT_ALLOWED_TO_MANAGE_WEBHOOKS);

/// `{url, events, description?, enabled?}`
pub struct CreateBody {
    url: String,
    events: Vec<String>,
    description: Option<String>,
    enabled: Option<bool>,
}

impl Input for CreateBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        let url = o.string("url");
        let events = o.opt_strings("events");
        if events.is_none() {
            // Required: reported as zod reports a missing array.
            let _ = o.string("events");
        }
        CreateBody { url, events: events.unwrap_or_default(), description: o.opt_string("description"), enabled: o.opt_bool("enabled") }
    }
}

/// `{id, url?, events?, description?, enabled?}`
pub struct UpdateBody {
    id: String,
    url: Option<String>,
    events: Option<Vec<String>>,
    description: Option<String>,
    enabled: Option<bool>,
}

impl Input for UpdateBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        UpdateBody {
            id: o.string("id"),
            url: o.opt_string("url"),
            events: o.opt_strings("events"),
            description: o.opt_string("description"),
            enabled: o.opt_bool("enabled"),
        }
    }
}

/// `{id}`
pub struct IdBody {
    id: String,
}

impl Input for IdBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        IdBody { id: o.string("id") }
    }
}

/// `{id, overlapSeconds?}`
pub struct RotateBody {
    id: String,
    overlap_seconds: Option<f64>,
}

impl Input for RotateBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        RotateBody { id: o.string("id"), overlap_seconds: o.opt_number("overlapSeconds") }
    }
}

/// `?status=pending|delivered|dead&endpointId=&limit=&offset=`
pub struct DeliveriesQuery {
    status: Option<String>,
    endpoint_id: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

impl Input for DeliveriesQuery {
    fn parse(o: &mut Obj<'_>) -> Self {
        DeliveriesQuery {
            status: o.opt_enum("status", &[outbox::PENDING, outbox::DELIVERED, outbox::DEAD]),
            endpoint_id: o.opt_string("endpointId"),
            limit: o.opt_string("limit"),
            offset: o.opt_string("offset"),
        }
    }
}

fn check_url(auth: &Auth, url: &str) -> Result<(), ApiError> {
    delivery::check_url(url, settings(auth).allow_private).map(drop).map_err(|why| {
        if why.contains("private") {
            errors::PRIVATE_WEBHOOK_URL
        } else {
            errors::INVALID_WEBHOOK_URL
        }
    })
}

fn check_events(events: &[String]) -> Result<(), ApiError> {
    let ok = |p: &String| {
        !p.is_empty() && p.len() <= 100 && (p == "*" || !p.contains('*') || (p.ends_with(".*") && p.matches('*').count() == 1))
    };
    if events.is_empty() || !events.iter().all(ok) {
        return Err(errors::INVALID_WEBHOOK_EVENTS);
    }
    Ok(())
}

fn is_configured(auth: &Auth, id: &str) -> bool {
    settings(auth).endpoints.iter().any(|e| e.endpoint_id() == id)
}

/// `POST /admin/webhooks/create`: `{webhook, secret}` (the secret is shown this once).
pub async fn create(State(auth): State<Auth>, Valid(b): Valid<CreateBody>, _: Authorized<Create>) -> ApiResult<Reply> {
    check_url(&auth, &b.url)?;
    check_events(&b.events)?;
    let (stored, secret) = endpoints::create(&auth, &b.url, &b.events, b.description, b.enabled.unwrap_or(true)).await?;
    Ok(Reply::json(&json!({ "webhook": stored.to_json(), "secret": secret })))
}

/// `GET /admin/webhooks/list`: `{webhooks}`, configured ones first.
pub async fn list(State(auth): State<Auth>, _: Authorized<List>) -> ApiResult<Reply> {
    let mut out: Vec<Value> = settings(&auth)
        .endpoints
        .iter()
        .map(|e| json!({ "id": e.endpoint_id(), "url": e.url, "events": e.events, "enabled": true, "source": "config" }))
        .collect();
    out.extend(endpoints::list(&auth).await?.iter().map(|s| s.to_json()));
    Ok(Reply::json(&json!({ "webhooks": out })))
}

/// `POST /admin/webhooks/update`: `{webhook}`.
pub async fn update(State(auth): State<Auth>, Valid(b): Valid<UpdateBody>, _: Authorized<Update>) -> ApiResult<Reply> {
    if is_configured(&auth, &b.id) {
        return Err(errors::CONFIGURED_WEBHOOK_IS_READ_ONLY);
    }
    let mut patch = Row::new();
    if let Some(url) = b.url {
        check_url(&auth, &url)?;
        patch.insert("url".into(), url.into());
    }
    if let Some(events) = b.events {
        check_events(&events)?;
        patch.insert("events".into(), json!(events));
    }
    if let Some(d) = b.description {
        patch.insert("description".into(), d.into());
    }
    if let Some(e) = b.enabled {
        patch.insert("enabled".into(), e.into());
    }
    let stored = endpoints::update(&auth, &b.id, patch).await?.ok_or(errors::WEBHOOK_NOT_FOUND)?;
    Ok(Reply::json(&json!({ "webhook": stored.to_json() })))
}

/// `POST /admin/webhooks/delete`: `{success: true}`. Its pending deliveries become dead when due.
pub async fn delete(State(auth): State<Auth>, Valid(b): Valid<IdBody>, _: Authorized<Delete>) -> ApiResult<Reply> {
    if is_configured(&auth, &b.id) {
        return Err(errors::CONFIGURED_WEBHOOK_IS_READ_ONLY);
    }
    if !endpoints::delete(&auth, &b.id).await? {
        return Err(errors::WEBHOOK_NOT_FOUND);
    }
    Ok(Reply::json(&json!({ "success": true })))
}

/// `POST /admin/webhooks/rotate-secret`: `{webhook, secret}`; the old secret signs beside the new
/// one for `overlapSeconds` (default `rotation_overlap_seconds`; 0 stops it at once).
pub async fn rotate_secret(State(auth): State<Auth>, Valid(b): Valid<RotateBody>, _: Authorized<Update>) -> ApiResult<Reply> {
    if is_configured(&auth, &b.id) {
        return Err(errors::CONFIGURED_WEBHOOK_IS_READ_ONLY);
    }
    let overlap = b.overlap_seconds.map_or(settings(&auth).rotation_overlap_seconds, |s| s.clamp(0.0, 31_536_000.0) as u64);
    let (stored, secret) = endpoints::rotate(&auth, &b.id, overlap).await?.ok_or(errors::WEBHOOK_NOT_FOUND)?;
    Ok(Reply::json(&json!({ "webhook": stored.to_json(), "secret": secret })))
}

/// `GET /admin/webhooks/deliveries`: `{deliveries, total}`, newest first (limit ≤ 100, default 50).
pub async fn deliveries(State(auth): State<Auth>, ValidQuery(q): ValidQuery<DeliveriesQuery>, _: Authorized<List>) -> ApiResult<Reply> {
    let num = |v: Option<String>, default: u64| v.and_then(|s| s.parse::<u64>().ok()).unwrap_or(default);
    let (limit, offset) = (num(q.limit, 50).clamp(1, 100), num(q.offset, 0));
    let (rows, total) = outbox::list(&auth, q.status.as_deref(), q.endpoint_id.as_deref(), limit, offset).await?;
    let rows: Vec<Value> = rows.iter().map(outbox::Delivery::to_json).collect();
    Ok(Reply::json(&json!({ "deliveries": rows, "total": total })))
}

/// `POST /admin/webhooks/redeliver`: a dead delivery pending again (same id), `{delivery}`.
pub async fn redeliver(State(auth): State<Auth>, Valid(b): Valid<IdBody>, _: Authorized<Update>) -> ApiResult<Reply> {
    match outbox::redeliver(&auth, &b.id).await? {
        Some(d) => Ok(Reply::json(&json!({ "delivery": d.to_json() }))),
        None if outbox::find(&auth, &b.id).await?.is_some() => Err(errors::DELIVERY_NOT_DEAD),
        None => Err(errors::DELIVERY_NOT_FOUND),
    }
}
