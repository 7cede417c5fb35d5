//! Request ids: every request of the standalone server runs inside a `request` tracing span that
//! carries its id, so every log line it writes (JSON logs included) names it, and the response
//! echoes it in `x-request-id`.
//!
//! The id is the client's (or its proxy's) `x-request-id` when that is sane (1 to [`MAX_LEN`]
//! visible ASCII characters), else 128 random bits in hex. An embedding app adds the same with
//! `axum::middleware::from_fn(portcullis::app::request_id::middleware)`.
//!
//! Must never: put the path, query, headers or body in the span (a path or query may carry a
//! token: `/reset-password/<token>`, `?token=`), or accept an id that could forge a log line.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub const HEADER: &str = "x-request-id";
/// Longest `x-request-id` taken from a request; a longer one is replaced.
pub const MAX_LEN: usize = 128;

/// Runs the request in a `request` span named by its id, and echoes the id in the response.
pub async fn middleware(mut req: Request, next: Next) -> Response {
    let id = take_or_make(req.headers_mut());
    let mut res = next.run(req).instrument(span(&id)).await;
    res.headers_mut().insert(HEADER, id);
    res
}

/// The request's id: its own when sane, else a new one, which is then set on the request too (so
/// handlers see the id the log lines carry).
pub fn take_or_make(headers: &mut HeaderMap) -> HeaderValue {
    match headers.get(HEADER).filter(|v| sane(v.as_bytes())) {
        Some(v) => v.clone(),
        None => {
            let id = generate();
            headers.insert(HEADER, id.clone());
            id
        }
    }
}

/// The `request` span every log line of the request is written in.
pub fn span(id: &HeaderValue) -> tracing::Span {
    tracing::info_span!("request", request_id = id.to_str().unwrap_or_default())
}

/// 1..=[`MAX_LEN`] visible ASCII characters: no space, no control character, nothing to escape.
fn sane(b: &[u8]) -> bool {
    !b.is_empty() && b.len() <= MAX_LEN && b.iter().all(|c| (0x21..=0x7e).contains(c))
}

/// 128 random bits as 32 hex digits.
fn generate() -> HeaderValue {
    let n: u128 = rand::random();
    HeaderValue::try_from(format!("{n:032x}")).unwrap_or(HeaderValue::from_static("0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_visible_ascii_ids_are_taken() {
        assert!(sane(b"abc-123_XYZ:/="));
        assert!(!sane(b""));
        assert!(!sane(b"has space"));
        assert!(!sane("é".as_bytes()));
        assert!(!sane(&[b'a'; MAX_LEN + 1]));
        assert!(sane(&[b'a'; MAX_LEN]));
        let g = generate();
        assert_eq!(g.len(), 32);
        assert!(sane(g.as_bytes()));
    }
}
