//! The durable outbox: one `webhookDelivery` row per (event, endpoint), written in the request
//! that caused the event, and the lease that lets any number of instances share the work.
//!
//! ```text
//!  enqueue ──▶ pending ──claim (CAS on lockedUntil)──▶ sending ──2xx──▶ delivered
//!                ▲                                        │
//!                └──── failure: attempts+1, nextAttemptAt = now + backoff ◀┘
//!                                          attempts = max_attempts ──▶ dead ──redeliver──▶ pending
//! ```
//!
//! A claim is `update … set lockedBy = me, lockedUntil = now + lease where id = ? and status =
//! 'pending' and (lockedUntil is null or lockedUntil < now)`: the database lets exactly one
//! instance's update match (PostgreSQL re-checks the condition on the row it waited for; SQLite
//! writes one at a time). The lease outlasts the request timeout, so a row is never sent by two
//! instances at once; a crashed instance's lease simply expires and another takes the row.
//!
//! Must never: store a secret (`lastError` holds a status code or a transport error), or finish a
//! row it does not hold (every completion is conditioned on `lockedBy`).

use super::Endpoint;
use crate::app::Auth;
use crate::store::adapter::{Query, Row, Where};
use crate::store::model::iso_ms;
use crate::store::schema::{ColType, Column, Table};
use crate::store::StoreResult;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub const TABLE: &str = "webhookDelivery";

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const DEAD: &str = "dead";

/// `webhookDelivery`.
pub fn table() -> Table {
    use ColType::*;
    Table {
        name: TABLE,
        columns: vec![
            Column::new("id", Text).pk(),
            Column::new("endpointId", Text),
            Column::new("eventType", Text),
            Column::new("payload", Text),
            Column::new("status", Text),
            Column::new("attempts", Int),
            Column::new("nextAttemptAt", Time),
            Column::new("lastError", Text).null(),
            Column::new("lockedBy", Text).null(),
            Column::new("lockedUntil", Time).null(),
            Column::new("deliveredAt", Time).null(),
            Column::new("createdAt", Time),
        ],
        indexes: vec!["status", "nextAttemptAt", "endpointId"],
    }
}

/// One row as the admin API shows it (the payload as JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub id: String,
    pub endpoint_id: String,
    pub event_type: String,
    /// The body exactly as sent (signed as is on every attempt).
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: String,
    pub last_error: Option<String>,
    pub locked_by: Option<String>,
    pub locked_until: Option<String>,
    pub delivered_at: Option<String>,
    pub created_at: String,
}

impl Delivery {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "endpointId": self.endpoint_id,
            "eventType": self.event_type,
            "payload": serde_json::from_str::<Value>(&self.payload).unwrap_or(Value::Null),
            "status": self.status,
            "attempts": self.attempts,
            "nextAttemptAt": self.next_attempt_at,
            "lastError": self.last_error,
            "deliveredAt": self.delivered_at,
            "createdAt": self.created_at,
        })
    }
}

fn at(t: DateTime<Utc>) -> Value {
    Value::String(iso_ms::format(&t))
}

fn row(pairs: &[(&str, Value)]) -> Row {
    pairs.iter().map(|(k, v)| ((*k).to_string(), v.clone())).collect()
}

/// Writes one pending row for `endpoint`; its id is the `webhook-id` of every attempt.
pub async fn enqueue(auth: &Auth, endpoint: &Endpoint, event_type: &str, payload: &str) -> StoreResult<String> {
    let id = auth.new_id();
    let now = auth.now();
    let r = row(&[
        ("id", id.clone().into()),
        ("endpointId", endpoint.id.clone().into()),
        ("eventType", event_type.into()),
        ("payload", payload.into()),
        ("status", PENDING.into()),
        ("attempts", 0.into()),
        ("nextAttemptAt", at(now)),
        ("createdAt", at(now)),
    ]);
    auth.adapter()?.create(TABLE, r).await?;
    Ok(id)
}

/// Due rows not held by a live lease, oldest first (candidates: [`claim`] decides).
pub async fn due(auth: &Auth, limit: u32) -> StoreResult<Vec<Delivery>> {
    let now = auth.now();
    let q = Query {
        filter: vec![
            Where::eq("status", PENDING),
            Where::new("nextAttemptAt", crate::store::adapter::Op::Lte, at(now)),
            Where::eq("lockedUntil", Value::Null).or(),
            Where::new("lockedUntil", crate::store::adapter::Op::Lt, at(now)).or(),
        ],
        sort_by: Some(("nextAttemptAt".into(), false)),
        limit: Some(limit.into()),
        offset: None,
    };
    auth.adapter()?.find_many_as(TABLE, &q).await
}

/// Takes the lease on `id` for `lease` if no live lease holds it: the row, if this call won.
pub async fn claim(auth: &Auth, id: &str, worker: &str, lease: Duration) -> StoreResult<Option<Delivery>> {
    let now = auth.now();
    let filter = [
        Where::eq("id", id),
        Where::eq("status", PENDING),
        Where::eq("lockedUntil", Value::Null).or(),
        Where::new("lockedUntil", crate::store::adapter::Op::Lt, at(now)).or(),
    ];
    let data = row(&[("lockedBy", worker.into()), ("lockedUntil", at(now + lease))]);
    match auth.adapter()?.update(TABLE, &filter, data).await? {
        Some(r) => crate::store::adapter::from_row(r).map(Some),
        None => Ok(None),
    }
}

/// Marks a row this worker holds as delivered.
pub async fn delivered(auth: &Auth, d: &Delivery, worker: &str) -> StoreResult<()> {
    let data = row(&[
        ("status", DELIVERED.into()),
        ("attempts", (d.attempts + 1).into()),
        ("deliveredAt", at(auth.now())),
        ("lastError", Value::Null),
        ("lockedBy", Value::Null),
        ("lockedUntil", Value::Null),
    ]);
    release(auth, d, worker, data).await
}

/// Records a failed attempt: pending again after `retry_in`, or `dead` when there is none.
pub async fn failed(auth: &Auth, d: &Delivery, worker: &str, error: &str, retry_in: Option<Duration>) -> StoreResult<()> {
    let now = auth.now();
    let mut data = row(&[
        ("attempts", (d.attempts + 1).into()),
        ("lastError", error.chars().take(500).collect::<String>().into()),
        ("lockedBy", Value::Null),
        ("lockedUntil", Value::Null),
    ]);
    match retry_in {
        Some(delay) => data.insert("nextAttemptAt".into(), at(now + delay)),
        None => data.insert("status".into(), DEAD.into()),
    };
    release(auth, d, worker, data).await
}

async fn release(auth: &Auth, d: &Delivery, worker: &str, data: Row) -> StoreResult<()> {
    let filter = [Where::eq("id", d.id.as_str()), Where::eq("lockedBy", worker)];
    if auth.adapter()?.update_many(TABLE, &filter, data).await? == 0 {
        tracing::warn!(delivery = %d.id, "webhook delivery finished after its lease was lost");
    }
    Ok(())
}

/// Rows with `status` (any when `None`) for `endpoint` (any when `None`), newest first.
pub async fn list(auth: &Auth, status: Option<&str>, endpoint: Option<&str>, limit: u64, offset: u64) -> StoreResult<(Vec<Delivery>, u64)> {
    let mut filter = Vec::new();
    if let Some(s) = status {
        filter.push(Where::eq("status", s));
    }
    if let Some(e) = endpoint {
        filter.push(Where::eq("endpointId", e));
    }
    let a = auth.adapter()?;
    let total = a.count(TABLE, &filter).await?;
    let q = Query { filter, sort_by: Some(("createdAt".into(), true)), limit: Some(limit), offset: Some(offset) };
    Ok((a.find_many_as(TABLE, &q).await?, total))
}

/// A dead row back to pending, due now, with a fresh attempt budget; `None` if it is not dead.
pub async fn redeliver(auth: &Auth, id: &str) -> StoreResult<Option<Delivery>> {
    let filter = [Where::eq("id", id), Where::eq("status", DEAD)];
    let data = row(&[
        ("status", PENDING.into()),
        ("attempts", 0.into()),
        ("nextAttemptAt", at(auth.now())),
        ("lockedBy", Value::Null),
        ("lockedUntil", Value::Null),
    ]);
    match auth.adapter()?.update(TABLE, &filter, data).await? {
        Some(r) => crate::store::adapter::from_row(r).map(Some),
        None => Ok(None),
    }
}

/// Removes delivered and dead rows created before `before`; how many.
pub async fn sweep(auth: &Auth, before: DateTime<Utc>) -> StoreResult<u64> {
    let filter = [
        Where::new("status", crate::store::adapter::Op::In, json!([DELIVERED, DEAD])),
        Where::new("createdAt", crate::store::adapter::Op::Lt, at(before)),
    ];
    auth.adapter()?.delete_many(TABLE, &filter).await
}

/// One row by id.
pub async fn find(auth: &Auth, id: &str) -> StoreResult<Option<Delivery>> {
    match auth.adapter()?.find_one(TABLE, &[Where::eq("id", id)]).await? {
        Some(r) => crate::store::adapter::from_row(r).map(Some),
        None => Ok(None),
    }
}
