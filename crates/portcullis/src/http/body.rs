//! Request bodies: size limit, media type, JSON parsing, and zod-shaped validation messages.
//!
//! The router middleware reads and parses a body once ([`parse`]) and stores it in the request
//! extensions; handlers read it into a type with [`super::input::Valid`] (Better Auth's validation
//! errors), or take it raw with the [`Body`] extractor.

use crate::error::{codes, ApiError};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use serde_json::{Map, Value};

/// The parsed request body: `None` when the request had none.
#[derive(Debug, Clone, Default)]
pub struct Body(pub Option<Value>);

impl<S: Send + Sync> FromRequestParts<S> for Body {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(parts.extensions.get::<Body>().cloned().unwrap_or_default())
    }
}

/// zod's name for the type of a JSON value (`undefined` when absent).
pub fn kind(v: Option<&Value>) -> &'static str {
    match v {
        None => "undefined",
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "boolean",
        Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Array(_)) => "array",
        Some(Value::Object(_)) => "object",
    }
}

/// zod v4's e-mail pattern (ASCII local part, dotted domain with an alphabetic TLD of 2+).
pub fn is_email(s: &str) -> bool {
    static RE: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(r"^(?:[A-Za-z0-9_'+\-]+\.)*[A-Za-z0-9_'+\-]*[A-Za-z0-9_+-]@(?:[A-Za-z0-9][A-Za-z0-9\-]*\.)+[A-Za-z]{2,}$").ok()
    })
    .as_ref()
    .is_some_and(|re| s.len() <= 320 && re.is_match(s))
}

/// Media types accepted for a body: JSON everywhere, plus form posts where `allow_form`.
pub fn parse(headers: &HeaderMap, bytes: &[u8], allow_form: bool) -> Result<Option<Value>, ApiError> {
    if bytes.is_empty() {
        return Ok(None);
    }
    let allowed = if allow_form { "application/x-www-form-urlencoded, application/json" } else { "application/json" };
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let Some(ct) = ct else {
        return Err(codes::UNSUPPORTED_MEDIA_TYPE.with_message(format!("Content-Type is required. Allowed types: {allowed}")));
    };
    let media = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match media.as_str() {
        "application/json" => serde_json::from_slice(bytes).map(Some).map_err(|_| codes::BAD_REQUEST),
        "application/x-www-form-urlencoded" if allow_form => {
            let map: Map<String, Value> =
                url::form_urlencoded::parse(bytes).map(|(k, v)| (k.into_owned(), Value::String(v.into_owned()))).collect();
            Ok(Some(Value::Object(map)))
        }
        _ => Err(codes::UNSUPPORTED_MEDIA_TYPE.with_message(format!("Content-Type \"{media}\" is not allowed. Allowed types: {allowed}"))),
    }
}

/// The error for a body over the configured limit.
pub fn too_large() -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", "Request body is too large")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn email_pattern_matches_zod() {
        assert!(is_email("alice@example.com"));
        assert!(is_email("a.b+c@x.io"));
        assert!(!is_email("a@localhost"));
        assert!(!is_email("a..b@x.io"));
        assert!(!is_email("not-an-email"));
        assert!(!is_email("jürgen@x.io"));
    }

    #[test]
    fn media_types() {
        let mut h = HeaderMap::new();
        assert_eq!(parse(&h, b"", false).unwrap(), None);
        assert_eq!(parse(&h, b"{}", false).unwrap_err().status, 415);
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        let e = parse(&h, b"{}", false).unwrap_err();
        assert_eq!(e.message, "Content-Type \"text/plain\" is not allowed. Allowed types: application/json");
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
        assert_eq!(parse(&h, b"{bad", false).unwrap_err().code, Some("BAD_REQUEST"));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
        assert_eq!(parse(&h, b"email=a%40b.co", true).unwrap().unwrap()["email"], "a@b.co");
    }
}
