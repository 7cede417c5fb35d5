//! `GET /health/live` and `GET /health/ready`, the probes an orchestrator asks (Kubernetes, a load
//! balancer), served by the standalone server ([`serve`](super::serve)) beside the auth routes, at
//! the root (an embedding app has its own probes, so [`Auth::router`](super::Auth::router) has none).
//!
//! `live`: the process answers. `ready`: the database answers `select 1`, and Redis (when
//! configured) answers a read, each within [`PROBE_TIMEOUT`]; otherwise 503 with `Retry-After`.
//! The answer names each dependency `ok` or `down` and nothing more: no error text, host or
//! address reaches an unauthenticated caller (the cause is in the server's log).

use super::Auth;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use std::time::Duration;

/// How long a probe waits for one dependency.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

pub fn router(auth: Auth) -> Router {
    Router::new().route("/health/live", get(live)).route("/health/ready", get(ready)).with_state(auth)
}

async fn live() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn ready(State(auth): State<Auth>) -> Response {
    let mut body = Map::new();
    let database = database_up(&auth).await;
    body.insert("database".into(), state(database));
    let mut ok = database;
    if let Some(redis) = redis_up(&auth).await {
        body.insert("redis".into(), state(redis));
        ok &= redis;
    }
    body.insert("status".into(), Value::from(if ok { "ok" } else { "unavailable" }));
    let mut res = Json(Value::Object(body)).into_response();
    if !ok {
        *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    res
}

/// Whether the database answered `select 1` within [`PROBE_TIMEOUT`] (the cause is logged).
pub(crate) async fn database_up(auth: &Auth) -> bool {
    match tokio::time::timeout(PROBE_TIMEOUT, auth.store.ping()).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the database did not answer");
            false
        }
        Err(_) => {
            tracing::warn!("readiness: the database did not answer within {PROBE_TIMEOUT:?}");
            false
        }
    }
}

/// Whether secondary storage answered a read within [`PROBE_TIMEOUT`]; `None` when none is configured.
pub(crate) async fn redis_up(auth: &Auth) -> Option<bool> {
    let secondary = auth.secondary.as_ref()?;
    let up = matches!(tokio::time::timeout(PROBE_TIMEOUT, secondary.get("health:ready")).await, Ok(Ok(_)));
    if !up {
        tracing::warn!("readiness: secondary storage did not answer");
    }
    Some(up)
}

fn state(up: bool) -> Value {
    Value::from(if up { "ok" } else { "down" })
}
