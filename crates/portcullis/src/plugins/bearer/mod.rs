//! Bearer tokens, wire-compatible with Better Auth's `bearer()` plugin (spec plugins §6, core
//! §14.4): for clients without cookies (mobile apps, other services).
//!
//! Owns two hooks and nothing else (no routes, no table):
//! - request: `Authorization: Bearer <token>.<sig>` (the signed cookie value, URL-encoded or not),
//!   or `Bearer <token>` (the raw session token) only when `require_signature = false`, is checked
//!   with the session-cookie HMAC and, when valid, put into the request's `Cookie` header as the signed
//!   `session_token` cookie, replacing any session cookie there, so every guard and handler sees an
//!   ordinary cookie session. An invalid bearer token is ignored (a valid cookie still works).
//! - response: when the answer sets a non-empty, non-expiring `session_token` cookie, the header
//!   `set-auth-token: <token>.<sig>` (the URL-decoded cookie value) is added and exposed through
//!   `Access-Control-Expose-Headers`.
//!
//! The request hook runs after the origin/CSRF checks, which key on a `Cookie` header the client
//! really sent: a bearer-only request is a cross-origin API call by design and is not subject to
//! them (as in Better Auth, whose checks also see the request before the bearer hook rewrites it).
//!
//! Raw tokens are refused by default, unlike Better Auth (`requireSignature: false`): the raw token
//! is not kept by its owner's client alone. list-sessions returns every session's raw token and
//! sign-in bodies carry it, so with raw tokens accepted, whoever reads one of those answers holds a
//! credential for each listed session. The signed value travels only in the owner's cookie and in
//! `set-auth-token`, and cannot be made from the raw token without the secret.
//!
//! Must never: accept a signature compared with `==`, log a token, or let a malformed header turn
//! into anything but "no bearer session".

use crate::app::{Auth, Capability};
use crate::config::{parse_bool, ConfigError, Section};
use crate::crypto::{ct_eq, sign};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use serde::Deserialize;

/// `[bearer]`: Better Auth's `bearer()` options.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BearerConfig {
    /// Accept `Authorization: Bearer` and send `set-auth-token`. Off by default (opt-in plugin).
    pub enabled: bool,
    /// Refuse the raw session token; only `<token>.<signature>` authenticates (`requireSignature`).
    /// On by default, unlike Better Auth (see the module doc); `false` accepts raw tokens.
    pub require_signature: bool,
}

impl Default for BearerConfig {
    fn default() -> Self {
        Self { enabled: false, require_signature: true }
    }
}

impl Section for BearerConfig {
    const NAME: &'static str = "bearer";
    fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("PORTCULLIS_BEARER") {
            self.enabled = parse_bool("PORTCULLIS_BEARER", &v)?;
        }
        Ok(())
    }
}

/// The bearer capability.
pub struct Bearer;

#[async_trait::async_trait]
impl Capability for Bearer {
    fn id(&self) -> &'static str {
        "bearer"
    }
    fn sections(&self) -> Vec<crate::config::SectionSpec> {
        vec![crate::config::SectionSpec::of::<BearerConfig>()]
    }
    fn on_request(&self, auth: &Auth, _path: &str, parts: &mut Parts) {
        let Some(signed) = bearer_session(auth, &parts.headers) else { return };
        let cookie = format!("{}={}", auth.cookies.session_token.name, sign::encode_cookie_value(&signed));
        if replace_session_cookie(&mut parts.headers, &auth.cookies.session_token.name, &cookie) {
            parts.extensions.insert(crate::session::HeaderCredential);
        }
    }
    async fn on_response(&self, auth: &Auth, _path: &str, res: &mut Response) {
        let Some(value) = issued_session_cookie(res.headers(), &auth.cookies.session_token.name) else { return };
        let decoded = sign::decode_cookie_value(&value).into_owned();
        if let Ok(v) = HeaderValue::from_str(&decoded) {
            res.headers_mut().insert("set-auth-token", v);
            super::headers::expose(res.headers_mut(), "set-auth-token");
        }
    }
}

/// The signed session value (`token.sig`, canonical form) a valid bearer header stands for.
pub fn bearer_session(auth: &Auth, headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    // Better Auth compares the first seven characters case-insensitively.
    let scheme = value.get(..7)?;
    if !scheme.eq_ignore_ascii_case("bearer ") {
        return None;
    }
    let token = value.get(7..)?.trim();
    if token.is_empty() {
        return None;
    }
    if !token.contains('.') {
        if auth.config.section::<BearerConfig>().require_signature {
            return None;
        }
        // A raw session token: sign it ourselves, as Better Auth does.
        return Some(sign::sign_value(auth.secret(), token));
    }
    let decoded = sign::decode_cookie_value(token);
    let (value, sig) = decoded.rsplit_once('.')?;
    verify(auth.secrets(), value, sig)
}

/// Checks `sig` (standard or URL-safe base64, padded or not) against every configured secret in
/// constant time; returns the canonical signed value (what the session cookie carries).
pub fn verify(secrets: &[impl AsRef<str>], value: &str, sig: &str) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    let sig_bytes = [&STANDARD, &URL_SAFE, &STANDARD_NO_PAD, &URL_SAFE_NO_PAD].iter().find_map(|e| e.decode(sig).ok())?;
    let mut matched: Option<&str> = None;
    // Every secret is tried, so timing does not tell which one matched.
    for secret in secrets {
        let expected = sign::hmac_sha256(secret.as_ref().as_bytes(), value.as_bytes());
        if ct_eq(&expected, &sig_bytes) && matched.is_none() {
            matched = Some(secret.as_ref());
        }
    }
    matched.map(|secret| sign::sign_value(secret, value))
}

/// Rewrites the `Cookie` header(s): every other cookie kept, `name` replaced by `cookie`.
fn replace_session_cookie(headers: &mut HeaderMap, name: &str, cookie: &str) -> bool {
    let mut pairs: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|p| !p.is_empty() && p.split_once('=').map_or(*p, |(k, _)| k) != name)
        .map(str::to_string)
        .collect();
    pairs.push(cookie.to_string());
    match HeaderValue::from_str(&pairs.join("; ")) {
        Ok(v) => {
            headers.remove(header::COOKIE);
            headers.insert(header::COOKIE, v);
            true
        }
        Err(_) => false,
    }
}

/// The value of the last `Set-Cookie` for `name` when it is non-empty and not an expiry
/// (`Max-Age=0`).
fn issued_session_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    crate::http::cookies::outgoing(headers, name).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::cookies;

    /// Spec core §15.1, bearer plugin exchange observed with the harness secret.
    const HARNESS_SECRET: &str = "test-secret-0123456789abcdefghijklmnopqrstuvwxyz";
    const TOKEN: &str = "9rgOGktarVt2jhqAUN6TEpxNMaJ1rsGC";
    const SET_AUTH_TOKEN: &str = "9rgOGktarVt2jhqAUN6TEpxNMaJ1rsGC.4x2oFnyFBqBCCzyWTv2am56+o8qhuL3+pCZcWMYq6vM=";
    const COOKIE: &str = "9rgOGktarVt2jhqAUN6TEpxNMaJ1rsGC.4x2oFnyFBqBCCzyWTv2am56%2Bo8qhuL3%2BpCZcWMYq6vM%3D";

    #[test]
    fn spec_bearer_vector() {
        // The raw token signs to the observed header value, which is the decoded cookie.
        assert_eq!(sign::sign_value(HARNESS_SECRET, TOKEN), SET_AUTH_TOKEN);
        assert_eq!(sign::decode_cookie_value(COOKIE), SET_AUTH_TOKEN);
        assert_eq!(sign::encode_cookie_value(SET_AUTH_TOKEN), COOKIE);
        // Both forms of the signed value verify, as do URL-safe and unpadded signatures.
        let (v, s) = SET_AUTH_TOKEN.rsplit_once('.').unwrap();
        assert_eq!(verify(&[HARNESS_SECRET], v, s).as_deref(), Some(SET_AUTH_TOKEN));
        let url_safe = s.replace('+', "-").replace('/', "_");
        assert_eq!(verify(&[HARNESS_SECRET], v, url_safe.trim_end_matches('=')).as_deref(), Some(SET_AUTH_TOKEN));
        // The response hook turns the cookie into the header value.
        let mut h = HeaderMap::new();
        h.append(
            header::SET_COOKIE,
            HeaderValue::from_str(&format!("better-auth.session_token={COOKIE}; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax")).unwrap(),
        );
        let got = issued_session_cookie(&h, "better-auth.session_token").unwrap();
        assert_eq!(sign::decode_cookie_value(&got), SET_AUTH_TOKEN);
    }

    #[test]
    fn signatures_are_required_by_default() {
        assert!(BearerConfig::default().require_signature);
        let c: BearerConfig = toml::from_str("enabled = true").unwrap();
        assert!(c.require_signature, "a [bearer] section without the key keeps the default");
        let c: BearerConfig = toml::from_str("require_signature = false").unwrap();
        assert!(!c.require_signature);
    }

    #[test]
    fn tampering_is_refused() {
        let (v, s) = SET_AUTH_TOKEN.rsplit_once('.').unwrap();
        let mut bad = s.to_string().into_bytes();
        bad[3] = if bad[3] == b'A' { b'B' } else { b'A' };
        assert!(verify(&[HARNESS_SECRET], v, std::str::from_utf8(&bad).unwrap()).is_none());
        assert!(verify(&[HARNESS_SECRET], "9rgOGktarVt2jhqAUN6TEpxNMaJ1rsGD", s).is_none());
        assert!(verify(&["other-secret"], v, s).is_none());
        assert!(verify(&[HARNESS_SECRET], v, "not base64!").is_none());
        assert!(verify(&[HARNESS_SECRET], "", s).is_none());
        // Rotation: an older secret still verifies and the canonical value uses it.
        assert_eq!(verify(&["new-secret", HARNESS_SECRET], v, s).as_deref(), Some(SET_AUTH_TOKEN));
    }

    #[test]
    fn expired_or_empty_cookie_gives_no_header() {
        let mut h = HeaderMap::new();
        h.append(header::SET_COOKIE, HeaderValue::from_static("better-auth.session_token=; Max-Age=0; Path=/"));
        assert!(issued_session_cookie(&h, "better-auth.session_token").is_none());
        h.append(header::SET_COOKIE, HeaderValue::from_static("better-auth.session_data=x; Max-Age=300"));
        assert!(issued_session_cookie(&h, "better-auth.session_token").is_none());
        let mut h = HeaderMap::new();
        h.append(header::SET_COOKIE, HeaderValue::from_static("better-auth.session_token=a.b; Path=/"));
        assert_eq!(issued_session_cookie(&h, "better-auth.session_token").as_deref(), Some("a.b"));
    }

    #[test]
    fn cookie_rewrite_keeps_other_cookies() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; better-auth.session_token=old"));
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        replace_session_cookie(&mut h, "better-auth.session_token", "better-auth.session_token=new");
        assert_eq!(h.get_all(header::COOKIE).iter().count(), 1);
        assert_eq!(h[header::COOKIE], "a=1; b=2; better-auth.session_token=new");
        assert_eq!(cookies::get(&h, "better-auth.session_token"), Some("new"));
    }
}
