//! Building responses the way better-call sends them: JSON without charset, one `Set-Cookie`
//! header per cookie, redirects as 302 with an empty body and `Content-Type: application/json`.

use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug)]
pub struct Reply {
    status: StatusCode,
    body: String,
    cookies: Vec<HeaderValue>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Reply {
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Self {
        let body = match serde_json::to_string(value) {
            Ok(b) => b,
            Err(e) => return Self::from_error(crate::ApiError::internal(e)),
        };
        Self { status: StatusCode::OK, body, cookies: Vec::new(), headers: Vec::new() }
    }
    /// `302 Location: url`, kept verbatim (relative URLs stay relative).
    pub fn redirect(url: &str) -> Self {
        let mut r = Self { status: StatusCode::FOUND, body: String::new(), cookies: Vec::new(), headers: Vec::new() };
        r.headers.push((header::LOCATION, HeaderValue::from_str(url).unwrap_or_else(|_| HeaderValue::from_static("/"))));
        r
    }
    fn from_error(e: crate::ApiError) -> Self {
        Self { status: e.status, body: String::new(), cookies: Vec::new(), headers: Vec::new() }
    }
    /// Another status for a JSON answer (an error body Better Auth extends beyond
    /// `{message, code}`, such as create-role's `missingPermissions`).
    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
    pub fn cookie(mut self, c: HeaderValue) -> Self {
        self.cookies.push(c);
        self
    }
    pub fn cookies(mut self, cs: impl IntoIterator<Item = HeaderValue>) -> Self {
        self.cookies.extend(cs);
        self
    }
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }
    /// `cache-control: no-store` and `pragma: no-cache`.
    pub fn no_store(self) -> Self {
        self.header(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
            .header(header::PRAGMA, HeaderValue::from_static("no-cache"))
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut res = (self.status, self.body).into_response();
        let h = res.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for c in self.cookies {
            h.append(header::SET_COOKIE, c);
        }
        for (k, v) in self.headers {
            h.append(k, v);
        }
        res
    }
}
