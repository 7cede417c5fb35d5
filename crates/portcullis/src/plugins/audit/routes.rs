//! `GET /admin/audit-log` (a Portcullis addition under the admin capability's permissions:
//! `audit: ["list"]`, granted to the built-in `admin` role): the rows newest first, filtered by
//! `action` (exact, or a prefix `session.*`), `actorId`, `targetId`, `targetType`,
//! `organizationId`, `from` and `to` (ISO times, inclusive), in pages of `limit` (50, at most 200)
//! continued with `cursor` (opaque: the last row's time and id). Answers
//! `{"entries": [...], "nextCursor": "..." | null}`.
//!
//! Must never: skip or repeat a row between pages (the order is the time, then the id, and the
//! cursor continues strictly after the last row), or answer a malformed filter with a 500.

use super::{errors, TABLE};
use crate::app::Auth;
use crate::error::ApiResult;
use crate::http::input::{Input, Obj, ValidQuery};
use crate::http::reply::Reply;
use crate::plugins::admin::Authorized;
use crate::store::adapter::{Op, Query, Row, Where};
use axum::extract::State;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

crate::permission!(pub ListAuditLog { audit: ["list"] } else errors::YOU_ARE_NOT_ALLOWED_TO_LIST_AUDIT_LOG);

pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 200;

/// The query string.
pub struct AuditQuery {
    action: Option<String>,
    actor_id: Option<String>,
    target_id: Option<String>,
    target_type: Option<String>,
    organization_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

impl Input for AuditQuery {
    fn parse(o: &mut Obj<'_>) -> Self {
        AuditQuery {
            action: o.opt_string("action"),
            actor_id: o.opt_string("actorId"),
            target_id: o.opt_string("targetId"),
            target_type: o.opt_string("targetType"),
            organization_id: o.opt_string("organizationId"),
            from: o.opt_string("from"),
            to: o.opt_string("to"),
            limit: o.opt_string("limit"),
            cursor: o.opt_string("cursor"),
        }
    }
}

fn time(v: &str) -> ApiResult<String> {
    let t: DateTime<Utc> = crate::fields::parse_date(v).ok_or(errors::INVALID_AUDIT_TIME)?;
    Ok(crate::store::model::iso_ms::format(&t))
}

/// The cursor after a row: base64url of `createdAt,id`.
pub fn cursor_of(created_at: &str, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{created_at},{id}"))
}

/// `(createdAt, id)` of a cursor.
fn parse_cursor(c: &str) -> ApiResult<(String, String)> {
    let raw = URL_SAFE_NO_PAD.decode(c).ok().and_then(|b| String::from_utf8(b).ok()).ok_or(errors::INVALID_AUDIT_CURSOR)?;
    let (at, id) = raw.split_once(',').ok_or(errors::INVALID_AUDIT_CURSOR)?;
    Ok((time(at).map_err(|_| errors::INVALID_AUDIT_CURSOR)?, id.to_string()))
}

/// The where clauses of `q` (all and-ed; the cursor's tie-break is the one `OR` group).
fn filter(q: &AuditQuery) -> ApiResult<Vec<Where>> {
    let mut f = Vec::new();
    if let Some(a) = q.action.as_deref().filter(|a| !a.is_empty()) {
        f.push(match a.strip_suffix('*') {
            Some(prefix) => Where::new("action", Op::StartsWith, prefix),
            None => Where::eq("action", a),
        });
    }
    for (field, v) in
        [("actorId", &q.actor_id), ("targetId", &q.target_id), ("targetType", &q.target_type), ("organizationId", &q.organization_id)]
    {
        if let Some(v) = v {
            f.push(Where::eq(field, v.as_str()));
        }
    }
    if let Some(from) = &q.from {
        f.push(Where::new("createdAt", Op::Gte, time(from)?));
    }
    if let Some(to) = &q.to {
        f.push(Where::new("createdAt", Op::Lte, time(to)?));
    }
    if let Some(c) = &q.cursor {
        // createdAt < at OR (createdAt = at AND id < last): `at >= createdAt` and-ed with the
        // two alternatives or-ed.
        let (at, id) = parse_cursor(c)?;
        f.push(Where::new("createdAt", Op::Lte, at.clone()));
        f.push(Where::new("createdAt", Op::Lt, at).or());
        f.push(Where::new("id", Op::Lt, id).or());
    }
    Ok(f)
}

fn limit(q: &AuditQuery) -> ApiResult<u64> {
    match q.limit.as_deref() {
        None | Some("") => Ok(DEFAULT_LIMIT),
        Some(s) => s.trim().parse::<u64>().ok().filter(|n| *n > 0).map(|n| n.min(MAX_LIMIT)).ok_or(errors::INVALID_AUDIT_LIMIT),
    }
}

/// A row as answered: `data` parsed back into JSON.
fn entry(mut row: Row) -> Value {
    if let Some(Value::String(s)) = row.get("data") {
        let parsed = serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone()));
        row.insert("data".into(), parsed);
    }
    Value::Object(row)
}

pub async fn list(State(auth): State<Auth>, ValidQuery(q): ValidQuery<AuditQuery>, _: Authorized<ListAuditLog>) -> ApiResult<Reply> {
    let limit = limit(&q)?;
    let query = Query { filter: filter(&q)?, limit: Some(limit + 1), ..Query::default() };
    let mut rows = auth.adapter()?.find_sorted(TABLE, &query, &[("createdAt", true), ("id", true)]).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let next = match rows.last() {
        Some(last) if more => {
            let text = |k: &str| last.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
            Some(cursor_of(&text("createdAt"), &text("id")))
        }
        _ => None,
    };
    let entries: Vec<Value> = rows.into_iter().map(entry).collect();
    Ok(Reply::json(&json!({ "entries": entries, "nextCursor": next })))
}
