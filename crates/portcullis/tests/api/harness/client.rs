//! An HTTP client with its own cookie jar (reqwest without its cookie feature). Redirects are not followed.

use crate::common::http::{no_redirects_with_timeout, CookieJar, RawResp};
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;

/// An HTTP client with its own cookie jar. Redirects are not followed.
pub struct Client {
    http: reqwest::Client,
    server: String,
    origin: Option<String>,
    jar: CookieJar,
}

impl Client {
    pub(super) fn new(server: &str, origin: Option<String>) -> Client {
        Client { http: no_redirects_with_timeout(), server: server.to_string(), origin, jar: CookieJar::default() }
    }

    /// A new client with a copy of this one's cookies (a "stolen" copy, or another tab).
    pub fn fork(&self) -> Client {
        self.fork_with_origin(self.origin.as_deref())
    }
    /// A copy of the cookies on a client sending another `Origin` (or none).
    pub fn fork_with_origin(&self, origin: Option<&str>) -> Client {
        Client { http: self.http.clone(), server: self.server.clone(), origin: origin.map(str::to_string), jar: self.jar.copy() }
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar.get(name)
    }
    pub fn cookie_names(&self) -> Vec<String> {
        self.jar.names()
    }
    pub fn set_cookie(&self, name: &str, value: &str) {
        self.jar.set(name, value)
    }
    pub fn remove_cookie(&self, name: &str) {
        self.jar.remove(name)
    }
    /// The session cookie's value as stored (URL-encoded `token.signature`).
    pub fn session_cookie(&self) -> Option<String> {
        self.cookie("better-auth.session_token")
    }

    /// A request to `path`: relative to `/api/auth`, or an absolute URL.
    pub fn req(&self, method: Method, path: &str) -> Req<'_> {
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}/api/auth{path}", self.server)
        };
        Req { client: self, method, url, headers: Vec::new(), body: None, origin: self.origin.clone(), cookies: true }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.req(Method::GET, path).send().await
    }
    pub async fn post_json(&self, path: &str, body: Value) -> Resp {
        self.req(Method::POST, path).json(&body).send().await
    }
    pub async fn post_raw(&self, path: &str, content_type: &str, body: impl Into<Vec<u8>>) -> Resp {
        self.req(Method::POST, path).raw(content_type, body).send().await
    }
    /// A POST without a body (and without a content type).
    pub async fn post_empty(&self, path: &str) -> Resp {
        self.req(Method::POST, path).send().await
    }
    /// `GET /get-session` as JSON (`null` when signed out); asserts 200.
    pub async fn session(&self) -> Value {
        let r = self.get("/get-session").await;
        r.expect_status(200);
        r.json().clone()
    }
    /// `GET /get-session?disableCookieCache=true`; asserts 200.
    pub async fn session_from_db(&self) -> Value {
        let r = self.get("/get-session?disableCookieCache=true").await;
        r.expect_status(200);
        r.json().clone()
    }
}

pub struct Req<'a> {
    client: &'a Client,
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<(Option<String>, Vec<u8>)>,
    origin: Option<String>,
    cookies: bool,
}

impl Req<'_> {
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }
    /// Overrides the client's `Origin` for this request (`None`: no header).
    pub fn origin(mut self, origin: Option<&str>) -> Self {
        self.origin = origin.map(str::to_string);
        self
    }
    /// Sends no `Cookie` header even if the jar has cookies.
    pub fn no_cookies(mut self) -> Self {
        self.cookies = false;
        self
    }
    pub fn json(mut self, v: &Value) -> Self {
        self.body = Some((Some("application/json".into()), v.to_string().into_bytes()));
        self
    }
    pub fn form(mut self, pairs: &[(&str, &str)]) -> Self {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
        self.body = Some((Some("application/x-www-form-urlencoded".into()), body.into_bytes()));
        self
    }
    pub fn raw(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some((Some(content_type.to_string()), body.into()));
        self
    }
    /// A body without any `Content-Type` header.
    pub fn raw_untyped(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some((None, body.into()));
        self
    }

    pub async fn send(self) -> Resp {
        let c = self.client;
        let mut rb = c.http.request(self.method.clone(), &self.url);
        if let Some(o) = &self.origin {
            rb = rb.header("origin", o);
        }
        if self.cookies {
            if let Some(header) = c.jar.header() {
                rb = rb.header("cookie", header);
            }
        }
        for (k, v) in &self.headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        if let Some((ct, bytes)) = self.body {
            if let Some(ct) = ct {
                rb = rb.header("content-type", ct);
            }
            rb = rb.body(bytes);
        }
        let res = rb.send().await.unwrap_or_else(|e| panic!("{} {}: {e}", self.method, self.url));
        let RawResp { status, headers, set_cookies, text } = RawResp::read_or_empty(res).await;
        for sc in &set_cookies {
            c.jar.store(sc);
        }
        let json = serde_json::from_str(&text).ok();
        Resp { status, headers, set_cookies, text, json, what: format!("{} {}", self.method, self.url) }
    }
}

/// A response, read in full.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    /// Every `Set-Cookie` line, in order.
    pub set_cookies: Vec<String>,
    pub text: String,
    json: Option<Value>,
    what: String,
}

impl Resp {
    /// The parsed JSON body (panics if the body is not JSON).
    pub fn json(&self) -> &Value {
        self.json.as_ref().unwrap_or_else(|| panic!("{}: body is not JSON: {:?} (status {})", self.what, self.text, self.status))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().expect("ascii header"))
    }
    pub fn code(&self) -> Option<&str> {
        self.json.as_ref().and_then(|j| j["code"].as_str())
    }
    /// The `Set-Cookie` line for cookie `name`, if any.
    pub fn cookie_line(&self, name: &str) -> Option<&str> {
        let prefix = format!("{name}=");
        self.set_cookies.iter().find(|l| l.starts_with(&prefix)).map(String::as_str)
    }
    /// The value set for cookie `name` (empty for a deletion).
    pub fn cookie_value(&self, name: &str) -> Option<String> {
        self.cookie_line(name).map(|l| l.split(';').next().unwrap_or("")[name.len() + 1..].to_string())
    }
    /// True when this response deletes cookie `name` exactly as Better Auth does.
    pub fn deletes_cookie(&self, name: &str) -> bool {
        self.cookie_line(name) == Some(&format!("{name}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"))
    }

    #[track_caller]
    pub fn expect_status(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "{}: unexpected status; body {:?}", self.what, self.text);
        self
    }

    /// Asserts a Better Auth error: status and exactly `{"message": message, "code": code}`.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str, message: &str) -> &Self {
        self.expect_status(status);
        let want = serde_json::json!({"message": message, "code": code});
        assert_eq!(self.json(), &want, "{}: error body", self.what);
        assert!(self.text.starts_with("{\"message\":"), "{}: message comes first: {}", self.what, self.text);
        assert_eq!(self.header("content-type"), Some("application/json"), "{}", self.what);
        self
    }
    /// Asserts the status and the error code, whatever the message.
    #[track_caller]
    pub fn expect_code(&self, status: u16, code: &str) -> &Self {
        self.expect_status(status);
        assert_eq!(self.code(), Some(code), "{}: body {:?}", self.what, self.text);
        self
    }
    /// Asserts a 404 with an empty body.
    #[track_caller]
    pub fn expect_empty_404(&self) -> &Self {
        self.expect_status(404);
        assert_eq!(self.text, "", "{}: 404 body must be empty", self.what);
        self
    }
}
