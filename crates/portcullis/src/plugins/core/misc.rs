//! `/ok` and `/error`.

use crate::app::Auth;
use crate::http::reply::Reply;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use std::collections::HashMap;

pub async fn ok() -> Reply {
    Reply::json(&serde_json::json!({"ok": true}))
}

fn safe_code(s: &str) -> &str {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '\'' | '_' | '-')) {
        s
    } else {
        "UNKNOWN"
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// The error page the OAuth and e-mail flows send browsers to. In production it redirects to the
/// site root with the code, as Better Auth does.
pub async fn error_page(State(auth): State<Auth>, Query(q): Query<HashMap<String, String>>) -> Response {
    let code = safe_code(q.get("error").map(String::as_str).unwrap_or("UNKNOWN"));
    let desc = q.get("error_description");
    if auth.config.production {
        let mut url = format!("/?error={}", urlencode(code));
        if let Some(d) = desc {
            url.push_str(&format!("&error_description={}", urlencode(d)));
        }
        return Reply::redirect(&url).into_response();
    }
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{app}: sign-in error</title></head>\
         <body style=\"font-family:system-ui;max-width:32rem;margin:4rem auto\"><h1>Something went wrong</h1>\
         <p>Error code: <code>{code}</code></p>{desc}<p><a href=\"/\">Back to the application</a></p></body></html>",
        app = escape(&auth.config.app_name),
        code = escape(code),
        desc = desc.map(|d| format!("<p>{}</p>", escape(d))).unwrap_or_default(),
    );
    let mut res = Html(body).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    res
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
