//! CSRF tokens for cookie sessions (opt-in, `[csrf] mode = "token"`; not part of Better Auth,
//! whose origin checks stay on in either mode).
//!
//! Each session has a CSRF token derived from it: base64url(HMAC-SHA256(secret, "csrf:" +
//! session token)). Nothing is stored; it changes with the session and, like the session cookie's
//! signature, verifies under every configured secret (rotation). The client learns it two ways:
//! get-session's answer carries it as a top-level `csrfToken`, and a readable (not `HttpOnly`)
//! cookie `<prefix>.csrf_token` is set beside the session cookie (sign-in, sign-up, refresh,
//! get-session) and deleted with it.
//!
//! Every request that acts with a session cookie through an unsafe method (anything but GET,
//! HEAD, OPTIONS, TRACE) must send it in `x-csrf-token`, or is refused with 403
//! `INVALID_CSRF_TOKEN`. The check sits in the session extractors (the capability's
//! `check_session_use` hook), so it covers the auth routes and an embedding app's own routes
//! alike, and it only concerns a request that really has a session: sign-in and sign-up without
//! one, or with a stale cookie, keep their rules. A session from `Authorization: Bearer` (the
//! bearer capability marks it with [`HeaderCredential`]) is not a browser's and is not checked.
//!
//! Must never: compare a token with `==`, log a token, or put one where another site can read it
//! (the cookie is `SameSite` as every auth cookie, and readable by the site's own scripts only).

use crate::app::{Auth, Capability};
use crate::config::{ConfigError, Section, SectionSpec};
use crate::crypto::{ct_eq, sign};
use crate::error::ApiError;
use crate::http::cookies;
use crate::session::hooks::{Hooks, SessionAnswer, SessionUse};
use crate::session::HeaderCredential;
use axum::http::{header, Method};
use axum::response::Response;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;

/// The request header that carries the token.
pub const HEADER: &str = "x-csrf-token";
/// The cookie's short name (`<prefix>.csrf_token`; `advanced.cookies.csrf_token` configures it).
pub const COOKIE: &str = "csrf_token";

pub mod errors {
    crate::error_codes! {
        INVALID_CSRF_TOKEN = FORBIDDEN, "Invalid CSRF token";
    }
}

/// `[csrf] mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CsrfMode {
    /// Better Auth's origin checks only.
    #[default]
    Off,
    /// The origin checks, and a token on every unsafe request that uses a session cookie.
    Token,
}

/// `[csrf]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CsrfConfig {
    pub mode: CsrfMode,
}

impl Section for CsrfConfig {
    const NAME: &'static str = "csrf";
    fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("PORTCULLIS_CSRF_MODE") {
            self.mode = match v.as_str() {
                "off" => CsrfMode::Off,
                "token" => CsrfMode::Token,
                other => return Err(ConfigError::Invalid(format!("PORTCULLIS_CSRF_MODE must be off or token, not {other:?}"))),
            };
        }
        Ok(())
    }
}

/// The session's CSRF token under `secret`.
pub fn token(secret: &str, session_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(sign::hmac_sha256(secret.as_bytes(), format!("csrf:{session_token}").as_bytes()))
}

/// Whether `given` is the session's token under any configured secret (each one tried, in
/// constant time).
pub fn verify(secrets: &[impl AsRef<str>], session_token: &str, given: &str) -> bool {
    let mut ok = false;
    for s in secrets {
        ok |= ct_eq(token(s.as_ref(), session_token).as_bytes(), given.as_bytes());
    }
    ok
}

/// Methods that change nothing and need no token.
fn safe(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE)
}

/// The CSRF-token capability.
pub struct CsrfTokens;

impl CsrfTokens {
    fn cookie(auth: &Auth) -> cookies::AuthCookie {
        // Host-only: a sibling subdomain (same site, the attacker this mode adds defence against)
        // must not read it; an app on another subdomain takes the token from get-session.
        auth.cookies.cookie(COOKIE, Some(auth.config.session.expires_in)).readable().host_only()
    }
}

/// The raw session token of a `session_token` cookie value a response sets.
fn raw_token(cookie_value: &str) -> Option<String> {
    let decoded = sign::decode_cookie_value(cookie_value);
    decoded.rsplit_once('.').map(|(t, _)| t.to_string()).filter(|t| !t.is_empty())
}

#[async_trait::async_trait]
impl Capability for CsrfTokens {
    fn id(&self) -> &'static str {
        "csrf-token"
    }
    fn sections(&self) -> Vec<SectionSpec> {
        vec![SectionSpec::of::<CsrfConfig>()]
    }
    fn cookies(&self) -> &'static [&'static str] {
        &[COOKIE]
    }
    fn hooks(&self) -> Hooks {
        Hooks { session_answer: true, session_use: true, ..Hooks::default() }
    }
    fn check_session_use(&self, auth: &Auth, u: &SessionUse<'_>) -> Result<(), ApiError> {
        if safe(u.method) || u.extensions.get::<HeaderCredential>().is_some() {
            return Ok(());
        }
        let given = u.headers.get(HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
        match !given.is_empty() && verify(auth.secrets(), u.token, given) {
            true => Ok(()),
            false => Err(errors::INVALID_CSRF_TOKEN),
        }
    }
    async fn on_session_answer(&self, auth: &Auth, a: &mut SessionAnswer<'_>) {
        let t = token(auth.secret(), &a.session.token);
        a.headers.append(header::SET_COOKIE, Self::cookie(auth).set(&t));
        a.extra.insert("csrfToken".into(), t.into());
    }
    /// The cookie follows the session cookie: set with it, deleted with it.
    async fn on_response(&self, auth: &Auth, _path: &str, res: &mut Response) {
        let Some(session) = cookies::outgoing(res.headers(), &auth.cookies.session_token.name) else { return };
        let cookie = Self::cookie(auth);
        if cookies::outgoing(res.headers(), &cookie.name).is_some() {
            return;
        }
        let value = match raw_token(&session) {
            Some(t) => cookie.set(&token(auth.secret(), &t)),
            None => cookie.delete(),
        };
        res.headers_mut().append(header::SET_COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_follow_the_session_and_the_secrets() {
        let t = token("s1", "session-a");
        assert_eq!(t.len(), 43);
        assert_ne!(t, token("s1", "session-b"));
        assert_ne!(t, token("s2", "session-a"));
        assert!(verify(&["s1"], "session-a", &t));
        // Rotation: an older secret still verifies.
        assert!(verify(&["s2", "s1"], "session-a", &t));
        assert!(!verify(&["s2"], "session-a", &t));
        assert!(!verify(&["s1"], "session-b", &t));
        assert!(!verify(&["s1"], "session-a", ""));
        assert!(!verify(&["s1"], "session-a", &t[..42]));
    }

    #[test]
    fn the_raw_token_comes_from_the_signed_cookie_value() {
        assert_eq!(raw_token("abc.c2ln%3D").as_deref(), Some("abc"));
        assert_eq!(raw_token("").as_deref(), None);
        assert_eq!(raw_token("nosig").as_deref(), None);
    }

    #[test]
    fn mode_parses() {
        let c: CsrfConfig = toml::from_str("mode = \"token\"").unwrap();
        assert_eq!(c.mode, CsrfMode::Token);
        assert_eq!(CsrfConfig::default().mode, CsrfMode::Off);
        assert!(toml::from_str::<CsrfConfig>("mode = \"on\"").is_err());
    }
}
