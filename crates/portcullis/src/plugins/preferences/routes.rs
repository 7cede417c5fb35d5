//! `POST /preferences/merge`: `{ patch: { key: value|null }, meta: { key: timestamp } }` merged
//! into the signed-in user's document, answered with `{ <field>: {...}, <meta_field>: {...} }`.
//!
//! Merges of one user on one instance take turns ([`TURNS`]). Across instances, atomic without a
//! transaction: read the row, merge, and write it back only where `updatedAt`
//! still has the value read (to the millisecond) (the adapter's `update` answers no row on a miss), else read again,
//! a bounded number of times with a random pause. Each successful merge moves `updatedAt` forward
//! by at least a millisecond, so two merges never pass one compare-and-set on the same value.
//! The user before-hooks run on every attempt that writes (they may refuse); the after-hooks, the
//! `user.updated` event, the secondary copy of the user and the cookie cache follow the one write
//! that landed, as update-user's do.

use super::merge::{Doc, Patch};
use super::{errors, settings, PreferencesConfig};
use crate::app::Auth;
use crate::error::{codes, ApiError, ApiResult};
use crate::fields::{FieldType, Values};
use crate::http::input::{Input, Obj, Valid};
use crate::http::reply::Reply;
use crate::session::{self, hooks, SensitiveSession};
use crate::store::adapter::{Op, Row, Where};
use crate::store::model::{iso_ms, UserPatch};
use axum::extract::State;
use rand::Rng;
use serde_json::{Map, Value};
use std::time::Duration;

/// Compare-and-set attempts before answering `PREFERENCES_BUSY`.
const ATTEMPTS: u32 = 32;

/// Merges of one user on this instance take turns (a user hashes to one of these), so the
/// compare-and-set only ever races another instance's merge, not this instance's own.
static TURNS: [tokio::sync::Mutex<()>; 256] = [const { tokio::sync::Mutex::const_new(()) }; 256];

/// The engine's address is hashed in: engines in one process (tests, an embedder running two)
/// take turns apart, as instances on separate machines do.
fn turn(auth: &Auth, user_id: &str) -> &'static tokio::sync::Mutex<()> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&**auth as *const crate::app::AuthState as usize).hash(&mut h);
    user_id.hash(&mut h);
    &TURNS[(h.finish() % TURNS.len() as u64) as usize]
}

/// `{ patch: record, meta: record }`, both required.
pub struct MergeBody {
    patch: Map<String, Value>,
    meta: Map<String, Value>,
}

impl Input for MergeBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        MergeBody { patch: o.object("patch", |p| p.map().clone()), meta: o.object("meta", |m| m.map().clone()) }
    }
}

/// A user field as the adapter names it, and how it stores the document.
struct Column {
    name: String,
    as_text: bool,
}

fn column(auth: &Auth, field: &str) -> ApiResult<Column> {
    let f = auth.user_fields.get(field).ok_or_else(|| ApiError::internal(format!("preferences: user field {field} is not declared")))?;
    match f.def.ty {
        FieldType::Json => Ok(Column { name: f.column().to_string(), as_text: false }),
        FieldType::String => Ok(Column { name: f.column().to_string(), as_text: true }),
        other => Err(ApiError::internal(format!("preferences: user field {field} is {other:?}, not json or string"))),
    }
}

/// A stored value as an object: null (never written) is empty; a `string` field holds JSON text.
fn read(v: Option<&Value>) -> ApiResult<Map<String, Value>> {
    match v {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(Map::new()),
        Some(Value::String(s)) => match serde_json::from_str(s) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(errors::PREFERENCES_UNREADABLE),
        },
        Some(_) => Err(errors::PREFERENCES_UNREADABLE),
    }
}

fn write(c: &Column, m: Map<String, Value>) -> Value {
    let v = Value::Object(m);
    if c.as_text {
        Value::String(v.to_string())
    } else {
        v
    }
}

pub async fn merge(State(auth): State<Auth>, Valid(b): Valid<MergeBody>, SensitiveSession(cur): SensitiveSession) -> ApiResult<Reply> {
    let cfg = settings(&auth);
    let now = auth.now().timestamp_millis();
    if Value::Object(b.patch.clone()).to_string().len() > cfg.max_document_bytes {
        return Err(errors::PREFERENCES_TOO_LARGE);
    }
    let patch = Patch::new(&b.patch, &b.meta, cfg.max_keys, now, cfg.max_clock_skew.saturating_mul(1000) as i64)?;
    let (field, meta) = (column(&auth, &cfg.field)?, column(&auth, &cfg.meta_field)?);
    let id = cur.user.id.clone();
    let _turn = turn(&auth, &id).lock().await;
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            pause(attempt).await;
        }
        let row = auth.adapter()?.find_one("user", &[Where::eq("id", id.as_str())]).await?.ok_or(codes::USER_NOT_FOUND)?;
        let mut doc = Doc { values: read(row.get(&field.name))?, meta: read(row.get(&meta.name))? };
        if !doc.apply(&patch) {
            return Ok(Reply::json(&answer(cfg, doc)));
        }
        doc.prune_tombstones(cfg.max_keys);
        check_limits(cfg, &doc)?;
        let mut up = UserPatch {
            extra: Values(vec![(cfg.field.clone(), Value::Object(doc.values)), (cfg.meta_field.clone(), Value::Object(doc.meta))]),
            ..UserPatch::default()
        };
        hooks::before_user_update(&auth, &id, &mut up).await?;
        let Some(written) = compare_and_set(&auth, &id, &row, &field, &meta, &up, cfg, now).await? else { continue };
        let doc = Doc { values: read(written.get(&field.name))?, meta: read(written.get(&meta.name))? };
        let user = auth.store.find_user_by_id(&id).await?.ok_or(codes::USER_NOT_FOUND)?;
        hooks::after_user_update(&auth, &user, &up).await;
        auth.sessions.refresh_user(&user, auth.now()).await;
        let cookies = session::issue_cookies(&auth, &cur.session, &user, cur.dont_remember);
        return Ok(Reply::json(&answer(cfg, doc)).cookies(cookies));
    }
    Err(errors::PREFERENCES_BUSY)
}

/// Writes the document where `updatedAt` is still the one read; `None` on a miss.
#[allow(clippy::too_many_arguments)]
async fn compare_and_set(
    auth: &Auth,
    id: &str,
    row: &Row,
    field: &Column,
    meta: &Column,
    up: &UserPatch,
    cfg: &PreferencesConfig,
    now: i64,
) -> ApiResult<Option<Row>> {
    let seen_ms = row.get("updatedAt").and_then(Value::as_str).and_then(crate::fields::parse_date).map_or(0, |t| t.timestamp_millis());
    let next = chrono::DateTime::from_timestamp_millis(now.max(seen_ms + 1))
        .ok_or_else(|| ApiError::internal("preferences: updatedAt out of range"))?;
    let get = |name: &str| read(up.extra.get(name));
    let mut data = Row::new();
    data.insert(field.name.clone(), write(field, get(&cfg.field)?));
    data.insert(meta.name.clone(), write(meta, get(&cfg.meta_field)?));
    data.insert("updatedAt".into(), Value::String(iso_ms::format(&next)));
    // Equal to the millisecond read (a row written by a database default keeps microseconds,
    // which the millisecond value read back would never equal).
    let from = chrono::DateTime::from_timestamp_millis(seen_ms).ok_or_else(|| ApiError::internal("preferences: updatedAt out of range"))?;
    let to = from + chrono::Duration::milliseconds(1);
    let filter = [
        Where::eq("id", id),
        Where::new("updatedAt", Op::Gte, Value::String(iso_ms::format(&from))),
        Where::new("updatedAt", Op::Lt, Value::String(iso_ms::format(&to))),
    ];
    Ok(auth.adapter()?.update("user", &filter, data).await?)
}

fn check_limits(cfg: &PreferencesConfig, doc: &Doc) -> ApiResult<()> {
    if doc.values.len() > cfg.max_keys {
        return Err(errors::TOO_MANY_PREFERENCE_KEYS.with_message(format!("The document may hold at most {} keys", cfg.max_keys)));
    }
    // The meta map (with its tombstones) counts too: both ride in every session answer.
    if Value::Object(doc.values.clone()).to_string().len() + Value::Object(doc.meta.clone()).to_string().len() > cfg.max_document_bytes {
        return Err(errors::PREFERENCES_TOO_LARGE);
    }
    Ok(())
}

fn answer(cfg: &PreferencesConfig, doc: Doc) -> Value {
    let mut out = Map::new();
    out.insert(cfg.field.clone(), Value::Object(doc.values));
    out.insert(cfg.meta_field.clone(), Value::Object(doc.meta));
    Value::Object(out)
}

/// A random pause that grows with the attempt (up to 50 ms), so writers that missed together do
/// not retry together.
async fn pause(attempt: u32) {
    let cap = (1u64 << attempt.min(6)).min(50);
    let ms = rand::thread_rng().gen_range(0..=cap);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}
