//! The HTTP pipeline in Better Auth's order: rate limit, body parsing and media type, the origin
//! middleware (cookie-origin rule, callback URLs), body validation, form CSRF, then the
//! capability's handler. Unknown paths and wrong methods answer 404 with an
//! empty body, as better-call does.

use super::Auth;
use crate::error::codes;
use crate::http::{body, origin};
use crate::rate_limit;
use axum::body::Body as AxumBody;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::net::SocketAddr;
use std::time::Duration;

pub fn build(auth: Auth) -> Router {
    let mut api: Router<Auth> = Router::new();
    for c in &auth.capabilities {
        api = api.merge(c.api().into_router()).merge(c.routes());
    }
    let api = api.fallback(not_found).method_not_allowed_fallback(not_found).layer(middleware::from_fn_with_state(auth.clone(), pipeline));
    // Outside the pipeline, so a rate-limited or timed-out request is counted too; no layer at all
    // when metrics are off.
    let api = match &auth.metrics {
        Some(m) => api.layer(middleware::from_fn_with_state(m.clone(), super::metrics::track)),
        None => api,
    };
    let api = api.with_state(auth.clone());
    let mount = auth.config.mount_path();
    let mut app = if mount.is_empty() || mount == "/" { api } else { Router::new().nest(&mount, api) };
    if let (Some(outbox), true) = (&auth.outbox, auth.config.dev_outbox_enabled()) {
        app = app.merge(crate::mail::outbox::router(outbox.clone(), auth.config.mail.dev_outbox_allow_remote));
    }
    app.fallback(not_found)
}

async fn not_found() -> Response {
    StatusCode::NOT_FOUND.into_response()
}

pub use crate::http::ip::ClientIp;

/// Checks and handler run to their end (`request_task`), or inline for a cancellable GET route,
/// bounded by `server.request_timeout`; then every capability sees the response.
async fn pipeline(State(auth): State<Auth>, req: Request, next: Next) -> Response {
    let path = req.uri().path().trim_end_matches('/').to_string();
    let cancellable = req.method() == Method::GET && auth.cancellable_paths.iter().any(|p| *p == path);
    let limit = secs(auth.config.server.request_timeout);
    let run = {
        let auth = auth.clone();
        crate::session::hooks::with_hook_cookies(async move {
            match checks(&auth, req).await {
                Ok(req) => next.run(req).await,
                Err(res) => res,
            }
        })
    };
    // A request that finishes in a task of its own keeps its request id in its log lines.
    let run = tracing::Instrument::in_current_span(run);
    let mut res = if cancellable {
        // Pinned where it was built: the timeout holds a reference, not a copy of a large future.
        let run = std::pin::pin!(run);
        within(limit, run).await.unwrap_or_else(|| codes::SERVICE_TIMEOUT.retry_after(1).into_response())
    } else {
        super::request_task::run_to_end(&auth.detached, limit, run).await
    };
    for c in &auth.capabilities {
        c.on_response(&auth, &path, &mut res).await;
    }
    res
}

/// A configured number of seconds; `0` means no limit.
fn secs(n: u64) -> Option<Duration> {
    (n > 0).then(|| Duration::from_secs(n))
}

/// `fut`'s output, or `None` when `limit` passed first.
async fn within<F: std::future::Future>(limit: Option<Duration>, fut: F) -> Option<F::Output> {
    match limit {
        Some(d) => tokio::time::timeout(d, fut).await.ok(),
        None => Some(fut.await),
    }
}

async fn checks(auth: &Auth, req: Request) -> Result<Request, Response> {
    // better-call answers neither HEAD nor OPTIONS (CORS belongs to the host application).
    if matches!(*req.method(), Method::HEAD | Method::OPTIONS) {
        return Err(StatusCode::NOT_FOUND.into_response());
    }
    let path = req.uri().path().trim_end_matches('/').to_string();
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let client_ip = auth.ip_policy.client_ip(req.headers(), peer);

    if let Some(store) = &auth.rate_store {
        if !auth.config.advanced.disable_ip_tracking {
            if let Some(rule) = auth.rate_rules.rule_for(&path) {
                let key = rate_limit::key(client_ip.as_deref(), &path);
                let verdict = store.consume(&key, rule, auth.now().timestamp_millis()).await;
                if let (Some(m), rate_limit::Verdict::Limited(_)) = (&auth.metrics, &verdict) {
                    m.rate_limited(auth.rate_rules.rule_name(&path));
                }
                let sensitive = rate_limit::outage::sensitive(&path) || auth.rate_rules.has_capability_rule(&path);
                if let Some(answer) = auth.rate_limit_health.judge(verdict, auth.config.rate_limit.on_storage_error, sensitive) {
                    return Err(answer);
                }
            }
        }
    }

    let (mut parts, body) = req.into_parts();
    let form_csrf = auth.form_csrf_paths.iter().any(|p| *p == path);
    let parsed = if parts.method == Method::GET {
        None
    } else {
        let read = axum::body::to_bytes(body, auth.config.advanced.max_body_bytes);
        let bytes = within(secs(auth.config.server.body_read_timeout), read)
            .await
            .ok_or_else(|| {
                let mut res = codes::REQUEST_TIMEOUT.into_response();
                // The rest of the body may still be on its way: the connection cannot be reused.
                res.headers_mut().insert(axum::http::header::CONNECTION, axum::http::HeaderValue::from_static("close"));
                res
            })?
            .map_err(|_| body::too_large().into_response())?;
        let form_ok = form_csrf || auth.capabilities.iter().any(|c| c.form_body_prefixes().iter().any(|p| path.starts_with(p)));
        body::parse(&parts.headers, &bytes, form_ok).map_err(IntoResponse::into_response)?
    };

    // Better Auth's order: the cookie-origin rule, then callback URLs, then form CSRF (sign-in/up).
    // Turning the origin check off turns CSRF off too, as in Better Auth.
    let adv = &auth.config.advanced;
    let csrf = !adv.disable_csrf_check && !adv.disable_origin_check;
    let reject = IntoResponse::into_response;
    if csrf {
        origin::csrf_check(&auth.origins, &parts.method, &parts.headers, false).map_err(reject)?;
    }
    if !adv.disable_origin_check && !matches!(parts.method, Method::GET) {
        let query: Vec<(String, String)> =
            parts.uri.query().map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
        origin::check_url_fields(&auth.origins, parsed.as_ref(), &query).map_err(reject)?;
    }
    // Better Auth validates the body after its router middleware and before the endpoint's own
    // (form CSRF, session guards): a bad body is a 400 even from an untrusted Origin.
    if parts.method == Method::POST {
        // The exact path: `/sign-in/email/` is no route (404), whatever its body.
        if let Some(check) = auth.inputs.get(parts.uri.path()) {
            check(parsed.as_ref()).map_err(reject)?;
        }
    }
    if csrf && form_csrf {
        origin::csrf_check(&auth.origins, &parts.method, &parts.headers, true).map_err(reject)?;
    }

    for c in &auth.capabilities {
        c.on_request(auth, &path, &mut parts);
    }
    parts.extensions.insert(ClientIp(client_ip));
    parts.extensions.insert(body::Body(parsed));
    Ok(Request::from_parts(parts, AxumBody::empty()))
}
