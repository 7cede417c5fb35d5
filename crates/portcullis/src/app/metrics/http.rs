//! The request middleware that counts and times every request under the base path, and the
//! routers that answer a scrape (separate listener, bearer token, or an embedder's own mount).
//!
//! Must never: label with the raw path (route templates only), or answer a scrape on the main
//! listener without a token that matches in constant time.

use super::{Metrics, CONTENT_TYPE};
use crate::app::Auth;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use std::time::Instant;
use subtle::ConstantTimeEq;

/// Counts and times a request by route template (added by `Auth::router` when metrics are on).
pub async fn track(State(m): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = m.route(req.extensions().get::<MatchedPath>().map(MatchedPath::as_str));
    let method = verb(req.method());
    let res = next.run(req).await;
    m.observe(route, method, res.status().as_u16(), start.elapsed().as_secs_f64());
    res
}

/// A method as a static label: the ones routes use, `OTHER` for the rest (a client's free text).
fn verb(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// `GET /metrics`, answered with no check of its own: for a listener only the operator reaches,
/// or an embedder that mounts it behind its own guard ([`Auth::metrics_router`]).
pub(crate) fn open_router(auth: Auth) -> Router {
    Router::new().route("/metrics", get(scrape)).with_state(auth)
}

/// `GET /metrics` behind `Authorization: Bearer <token>` (401 without it).
pub(crate) fn token_router(auth: Auth, token: &str) -> Router {
    let token: Arc<[u8]> = token.as_bytes().into();
    Router::new().route(
        "/metrics",
        get(move |State(auth): State<Auth>, headers: HeaderMap| {
            let token = token.clone();
            async move {
                if !bearer_matches(&headers, &token) {
                    let mut res = StatusCode::UNAUTHORIZED.into_response();
                    res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                    return res;
                }
                scrape(State(auth)).await
            }
        })
        .with_state(auth),
    )
}

/// Whether `Authorization` is `Bearer <token>`, compared in constant time.
fn bearer_matches(headers: &HeaderMap, token: &[u8]) -> bool {
    let Some(given) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else { return false };
    let Some(given) = given.strip_prefix("Bearer ").or_else(|| given.strip_prefix("bearer ")) else { return false };
    bool::from(given.trim().as_bytes().ct_eq(token))
}

async fn scrape(State(auth): State<Auth>) -> Response {
    let Some(m) = auth.metrics.clone() else { return StatusCode::NOT_FOUND.into_response() };
    let body = m.render(&auth).await;
    ([(header::CONTENT_TYPE, CONTENT_TYPE), (header::CACHE_CONTROL, "no-store")], body).into_response()
}

impl Auth {
    /// `GET /metrics` for an embedding app to mount where it likes (behind its own guard: this
    /// router checks nothing). 404 when `[metrics]` is off.
    pub fn metrics_router(&self) -> Router {
        open_router(self.clone())
    }

    /// The metrics as OpenMetrics text, or `None` when `[metrics]` is off.
    pub async fn render_metrics(&self) -> Option<String> {
        let m = self.metrics.clone()?;
        Some(m.render(self).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_passes() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            h
        };
        let token = b"0123456789abcdef-scrape";
        assert!(bearer_matches(&with("Bearer 0123456789abcdef-scrape"), token));
        assert!(!bearer_matches(&with("Bearer 0123456789abcdef-scrap"), token));
        assert!(!bearer_matches(&with("Basic 0123456789abcdef-scrape"), token));
        assert!(!bearer_matches(&HeaderMap::new(), token));
    }
}
