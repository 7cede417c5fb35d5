//! Cookie names, attributes and (de)serialisation, as Better Auth writes and reads them (§4).
//!
//! Names are `${prefix}.${name}` with `__Secure-` in front when cookies are secure. Attributes are
//! serialised in better-call's order: `name=value; Max-Age=N; Path=/; HttpOnly; Secure; SameSite=Lax`.
//! This module formats and parses; it never decides what a cookie means.

use crate::config::Config;
use axum::http::{header, HeaderMap, HeaderValue};

#[derive(Debug, Clone)]
pub struct CookieSettings {
    pub secure: bool,
    pub session_token: String,
    pub session_data: String,
    pub dont_remember: String,
}

impl CookieSettings {
    pub fn new(cfg: &Config) -> Self {
        let secure = cfg.secure_cookies();
        let name = |n: &str| {
            let base = format!("{}.{n}", cfg.advanced.cookie_prefix);
            if secure {
                format!("__Secure-{base}")
            } else {
                base
            }
        };
        Self { secure, session_token: name("session_token"), session_data: name("session_data"), dont_remember: name("dont_remember") }
    }

    /// A `Set-Cookie` value. `max_age: None` makes a browser-session cookie.
    pub fn set(&self, name: &str, value: &str, max_age: Option<u64>) -> HeaderValue {
        let mut s = format!("{name}={value}");
        if let Some(m) = max_age {
            s.push_str(&format!("; Max-Age={m}"));
        }
        s.push_str("; Path=/; HttpOnly");
        if self.secure {
            s.push_str("; Secure");
        }
        s.push_str("; SameSite=Lax");
        HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// A `Set-Cookie` value that deletes the cookie.
    pub fn delete(&self, name: &str) -> HeaderValue {
        self.set(name, "", Some(0))
    }
}

/// The value of cookie `name` in the request; the first occurrence wins, as in Better Auth.
pub fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    for h in headers.get_all(header::COOKIE) {
        let Ok(s) = h.to_str() else { continue };
        for pair in s.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=') {
                if k == name {
                    return Some(v);
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_like_better_call() {
        let c = CookieSettings::new(&Config::default());
        assert_eq!(c.session_token, "better-auth.session_token");
        assert_eq!(c.set("a", "b", Some(604800)).to_str().unwrap(), "a=b; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax");
        assert_eq!(c.delete("a").to_str().unwrap(), "a=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax");
        let https = Config { base_url: Some("https://auth.example.com".into()), ..Default::default() };
        let c = CookieSettings::new(&https);
        assert_eq!(c.session_token, "__Secure-better-auth.session_token");
        assert_eq!(c.set("a", "b", None).to_str().unwrap(), "a=b; Path=/; HttpOnly; Secure; SameSite=Lax");
    }

    #[test]
    fn first_occurrence_wins() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("x=1; a=first; a=second"));
        assert_eq!(get(&h, "a"), Some("first"));
        assert_eq!(get(&h, "b"), None);
    }
}
