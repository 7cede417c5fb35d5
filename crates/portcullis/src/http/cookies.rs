//! Cookie names, attributes and (de)serialisation, as Better Auth writes and reads them (§4).
//!
//! This is the one place a cookie gets its name and attributes (Better Auth's `createCookieGetter`).
//! Names are `${prefix}.${name}` (or `advanced.cookies.<name>.name`) with `__Secure-` in front
//! when cookies are secure. Attributes are merged in Better Auth's order: `Path=/; HttpOnly;
//! SameSite=Lax` (+ `Secure`), then the cross-subdomain `Domain`, then
//! `advanced.default_cookie_attributes`, then the cookie's own `Max-Age`, then
//! `advanced.cookies.<name>.attributes`. They are serialised in better-call's order:
//! `name=value; Max-Age=N; Domain=D; Path=/; HttpOnly; Secure; SameSite=Lax; Partitioned`.
//! A deletion carries the same attributes (a cookie set with a `Domain` is only removed by a
//! deletion with that `Domain`). This module formats and parses; it never decides what a cookie means.

use crate::config::{Config, CookieAttributes, CookieOverride, SameSite};
use axum::http::{header, HeaderMap, HeaderValue};
use std::collections::BTreeMap;

/// One auth cookie: its full name and resolved attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCookie {
    pub name: String,
    max_age: Option<u64>,
    domain: Option<String>,
    path: String,
    http_only: bool,
    secure: bool,
    same_site: Option<SameSite>,
    partitioned: bool,
}

impl AuthCookie {
    /// The cookie's own `Max-Age` (after every override), `None` for a browser-session cookie.
    pub fn max_age(&self) -> Option<u64> {
        self.max_age
    }

    /// A `Set-Cookie` value with the cookie's own `Max-Age`.
    pub fn set(&self, value: &str) -> HeaderValue {
        self.set_max_age(value, self.max_age)
    }

    /// A `Set-Cookie` value with this `Max-Age` instead (`None`: a browser-session cookie).
    pub fn set_max_age(&self, value: &str, max_age: Option<u64>) -> HeaderValue {
        let mut s = format!("{}={value}", self.name);
        if let Some(m) = max_age {
            s.push_str(&format!("; Max-Age={m}"));
        }
        if let Some(d) = &self.domain {
            s.push_str(&format!("; Domain={d}"));
        }
        s.push_str(&format!("; Path={}", self.path));
        if self.http_only {
            s.push_str("; HttpOnly");
        }
        // Browsers drop a `__Secure-` cookie, a `SameSite=None` one and a partitioned one
        // without `Secure`, so better-call adds it whatever the options say.
        if self.secure || self.name.starts_with("__Secure-") || self.same_site == Some(SameSite::None) || self.partitioned {
            s.push_str("; Secure");
        }
        if let Some(ss) = self.same_site {
            s.push_str(&format!("; SameSite={}", ss.as_str()));
        }
        if self.partitioned {
            s.push_str("; Partitioned");
        }
        HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// The same cookie without `HttpOnly`: page scripts may read it (a CSRF token, which is no
    /// credential by itself).
    pub fn readable(mut self) -> Self {
        self.http_only = false;
        self
    }

    /// The same cookie without `Domain`: only the host that set it receives it (sibling
    /// subdomains of a cross-subdomain set-up cannot read it).
    pub fn host_only(mut self) -> Self {
        self.domain = None;
        self
    }

    /// A `Set-Cookie` value that deletes the cookie: empty, `Max-Age=0`, the same attributes.
    pub fn delete(&self) -> HeaderValue {
        self.set_max_age("", Some(0))
    }
}

/// Every cookie's name and attributes, decided once from the configuration.
#[derive(Debug, Clone)]
pub struct CookieSettings {
    pub secure: bool,
    pub session_token: AuthCookie,
    pub session_data: AuthCookie,
    pub dont_remember: AuthCookie,
    rules: Rules,
}

/// What every cookie's name and attributes are made from.
#[derive(Debug, Clone)]
struct Rules {
    secure: bool,
    prefix: String,
    domain: Option<String>,
    defaults: CookieAttributes,
    overrides: BTreeMap<String, CookieOverride>,
}

impl CookieSettings {
    pub fn new(cfg: &Config) -> Self {
        let a = &cfg.advanced;
        let rules = Rules {
            secure: cfg.secure_cookies(),
            prefix: a.cookie_prefix.clone(),
            domain: cfg.cookie_domain(),
            defaults: a.default_cookie_attributes.clone(),
            overrides: a.cookies.clone(),
        };
        Self {
            secure: rules.secure,
            session_token: rules.cookie("session_token", Some(cfg.session.expires_in)),
            session_data: rules.cookie("session_data", Some(cfg.session.cookie_cache.max_age)),
            dont_remember: rules.cookie("dont_remember", None),
            rules,
        }
    }

    /// The cookie `short_name` (`state`, ...), with `max_age` as its own `Max-Age` unless the
    /// configuration overrides it (Better Auth's `createAuthCookie(name, { maxAge })`).
    pub fn cookie(&self, short_name: &str, max_age: Option<u64>) -> AuthCookie {
        self.rules.cookie(short_name, max_age)
    }
}

impl Rules {
    fn cookie(&self, short_name: &str, max_age: Option<u64>) -> AuthCookie {
        let own = self.overrides.get(short_name);
        let base = match own.and_then(|o| o.name.as_deref()) {
            Some(n) => n.to_string(),
            None => format!("{}.{short_name}", self.prefix),
        };
        let mut c = AuthCookie {
            name: if self.secure { format!("__Secure-{base}") } else { base },
            max_age: None,
            domain: self.domain.clone(),
            path: "/".into(),
            http_only: true,
            secure: self.secure,
            same_site: Some(SameSite::Lax),
            partitioned: false,
        };
        apply(&mut c, &self.defaults);
        if max_age.is_some() {
            c.max_age = max_age;
        }
        if let Some(o) = own {
            apply(&mut c, &o.attributes);
        }
        c
    }
}

/// Lays the attributes a layer sets over the cookie's.
fn apply(c: &mut AuthCookie, a: &CookieAttributes) {
    if let Some(v) = a.max_age {
        c.max_age = Some(v);
    }
    if let Some(v) = &a.domain {
        // An empty domain removes the attribute (better-call writes none for a falsy domain).
        c.domain = Some(v.clone()).filter(|d| !d.is_empty());
    }
    if let Some(v) = &a.path {
        c.path = v.clone();
    }
    if let Some(v) = a.http_only {
        c.http_only = v;
    }
    if let Some(v) = a.secure {
        c.secure = v;
    }
    if let Some(v) = a.same_site {
        c.same_site = Some(v);
    }
    if let Some(v) = a.partitioned {
        c.partitioned = v;
    }
}

/// The value of cookie `name` in the request; the first occurrence wins, as in Better Auth.
/// The values of several cookies in one pass over the `Cookie` headers (the first of each name).
pub fn get_many<'a, const N: usize>(headers: &'a HeaderMap, names: [&str; N]) -> [Option<&'a str>; N] {
    let mut out = [None; N];
    for h in headers.get_all(header::COOKIE) {
        let Ok(s) = h.to_str() else { continue };
        for pair in s.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=') {
                if let Some(i) = names.iter().position(|n| *n == k) {
                    out[i].get_or_insert(v);
                }
            }
        }
    }
    out
}

/// The value of the signed cookie `name` (better-call's `getSignedCookie`): URI-decoded, its
/// signature checked against every secret (rotation). `None` when absent or forged.
pub fn get_signed(headers: &HeaderMap, name: &str, secrets: &[impl AsRef<str>]) -> Option<String> {
    let raw = get(headers, name)?;
    crate::crypto::sign::verify_signed(secrets, &crate::crypto::sign::decode_cookie_value(raw)).map(str::to_string)
}

/// `value` signed with `secret` and URI-encoded, ready for [`AuthCookie::set`] (better-call's
/// `setSignedCookie`).
pub fn signed_value(secret: &str, value: &str) -> String {
    crate::crypto::sign::encode_cookie_value(&crate::crypto::sign::sign_value(secret, value))
}

/// What a response does to cookie `name` (its last `Set-Cookie`): `Some(value)` when it sets it,
/// `Some("")` when it deletes it (empty, or `Max-Age=0`), `None` when it leaves it alone.
pub fn outgoing(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut found = None;
    for v in headers.get_all(header::SET_COOKIE) {
        let Ok(s) = v.to_str() else { continue };
        let mut attrs = s.split(';');
        let Some((k, value)) = attrs.next().and_then(|p| p.trim().split_once('=')) else { continue };
        if k != name {
            continue;
        }
        let expired = attrs.filter_map(|a| a.trim().split_once('=')).any(|(k, v)| k.eq_ignore_ascii_case("max-age") && v.trim() == "0");
        found = Some(if expired { String::new() } else { value.to_string() });
    }
    found
}

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
        assert_eq!(c.session_token.name, "better-auth.session_token");
        assert_eq!(
            c.session_token.set("b").to_str().unwrap(),
            "better-auth.session_token=b; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax"
        );
        assert_eq!(c.session_data.delete().to_str().unwrap(), "better-auth.session_data=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax");
        assert_eq!(c.dont_remember.set("t").to_str().unwrap(), "better-auth.dont_remember=t; Path=/; HttpOnly; SameSite=Lax");
        let https = Config { base_url: Some("https://auth.example.com".into()), ..Default::default() };
        let c = CookieSettings::new(&https);
        assert_eq!(c.session_token.name, "__Secure-better-auth.session_token");
        assert_eq!(
            c.session_token.set_max_age("b", None).to_str().unwrap(),
            "__Secure-better-auth.session_token=b; Path=/; HttpOnly; Secure; SameSite=Lax"
        );
    }

    fn config(toml_text: &str) -> Config {
        let c: Config = toml::from_str(toml_text).unwrap();
        c.validate().unwrap();
        c
    }

    #[test]
    fn cross_subdomain_cookies_carry_the_domain_on_every_cookie_and_deletion() {
        let c =
            CookieSettings::new(&config("base_url = \"https://auth.example.com\"\n[advanced.cross_sub_domain_cookies]\nenabled = true\n"));
        assert_eq!(
            c.session_token.set("v").to_str().unwrap(),
            "__Secure-better-auth.session_token=v; Max-Age=604800; Domain=auth.example.com; Path=/; HttpOnly; Secure; SameSite=Lax"
        );
        for cookie in [&c.session_token, &c.session_data, &c.dont_remember, &c.cookie("state", Some(300))] {
            assert!(cookie.delete().to_str().unwrap().contains("; Max-Age=0; Domain=auth.example.com; Path=/"), "{cookie:?}");
        }
        let c = CookieSettings::new(&config(
            "base_url = \"https://auth.example.com\"\n[advanced.cross_sub_domain_cookies]\nenabled = true\ndomain = \".example.com\"\n",
        ));
        assert_eq!(
            c.dont_remember.delete().to_str().unwrap(),
            "__Secure-better-auth.dont_remember=; Max-Age=0; Domain=.example.com; Path=/; HttpOnly; Secure; SameSite=Lax"
        );
        // An empty default domain takes the attribute away again (better-call writes none).
        let c = CookieSettings::new(&config(
            "base_url = \"https://auth.example.com\"\n[advanced.cross_sub_domain_cookies]\nenabled = true\n[advanced.default_cookie_attributes]\ndomain = \"\"\n",
        ));
        assert!(!c.session_token.delete().to_str().unwrap().contains("Domain"));
        // Off, or on without anything to take the domain from.
        assert_eq!(CookieSettings::new(&Config::default()).session_token.domain, None);
        let no_base: Config = toml::from_str("[advanced.cross_sub_domain_cookies]\nenabled = true\n").unwrap();
        assert!(no_base.validate().unwrap_err().to_string().contains("needs a domain"));
    }

    #[test]
    fn attributes_merge_in_better_auths_order() {
        let c = CookieSettings::new(&config(
            r#"
            [advanced.cross_sub_domain_cookies]
            enabled = true
            domain = "example.com"
            [advanced.default_cookie_attributes]
            same_site = "none"
            partitioned = true
            domain = "app.example.com"
            max_age = 1000
            [advanced.cookies.session_data]
            name = "cache"
            attributes = { same_site = "Strict", http_only = false, path = "/api", max_age = 60 }
            "#,
        ));
        // The defaults beat the cross-subdomain domain; SameSite=None forces Secure.
        assert_eq!(
            c.session_token.set("v").to_str().unwrap(),
            "better-auth.session_token=v; Max-Age=604800; Domain=app.example.com; Path=/; HttpOnly; Secure; SameSite=None; Partitioned"
        );
        // A default Max-Age reaches only cookies without their own (`dont_remember`).
        assert_eq!(c.dont_remember.max_age(), Some(1000));
        // The cookie's own attributes win over everything, its name replaces prefix.name.
        assert_eq!(
            c.session_data.set("d").to_str().unwrap(),
            "cache=d; Max-Age=60; Domain=app.example.com; Path=/api; Secure; SameSite=Strict; Partitioned"
        );
        assert_eq!(
            c.session_data.delete().to_str().unwrap(),
            "cache=; Max-Age=0; Domain=app.example.com; Path=/api; Secure; SameSite=Strict; Partitioned"
        );
    }

    #[test]
    fn bad_cookie_options_are_refused() {
        let err = |t: &str| {
            toml::from_str::<Config>(t).map_err(|e| e.to_string()).and_then(|c| c.validate().map_err(|e| e.to_string())).unwrap_err()
        };
        assert!(err("[advanced.default_cookie_attributes]\nsame_site = \"sometimes\"\n").contains("same_site"));
        assert!(err("[advanced.default_cookie_attributes]\nsamesite = \"lax\"\n").contains("samesite"));
        assert!(err("[advanced.default_cookie_attributes]\nmax_age = 34560001\n").contains("400 days"));
        assert!(err("[advanced.default_cookie_attributes]\ndomain = \"a.com; HttpOnly\"\n").contains("domain"));
        assert!(err("[advanced.cookies.session_token]\nname = \"a=b\"\n").contains("not a valid cookie name"));
        let typo: Config = toml::from_str("[advanced.cookies.sesion_token]\nname = \"x\"\n").unwrap();
        // An unknown name is a start-up warning (checked against the capabilities' cookie
        // registry when the engine is built), not an error.
        assert!(typo.validate().is_ok());
    }

    #[test]
    fn first_occurrence_wins() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("x=1; a=first; a=second"));
        assert_eq!(get(&h, "a"), Some("first"));
        assert_eq!(get(&h, "b"), None);
    }
}
