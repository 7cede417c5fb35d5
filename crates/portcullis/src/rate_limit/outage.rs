//! What a request gets when its rate-limit counter cannot be read or written: the
//! `rate_limit.on_storage_error` choice, the error count, and the 503.
//!
//! A store reports [`Verdict::StorageError`] when Redis or the database fails, or when a database
//! counter stays too contended to update. Letting such requests through uncounted would turn any
//! storage outage (or a flood that makes one) into unlimited password guessing, so by default the
//! paths that Better Auth guards with its strict built-in rules are refused, and every other path
//! is let through (an outage must not take the whole API down). An explicit `allow` or `deny`
//! applies to every path.
//!
//! ```text
//!   Verdict::Allowed        → pass                  (ends an outage: logged once)
//!   Verdict::Limited(s)     → 429, X-Retry-After: s (Better Auth's answer)
//!   Verdict::StorageError   → counted; first of an outage logged
//!        on_storage_error = allow, or unset and not a sensitive path → pass
//!        on_storage_error = deny,  or unset and a sensitive path     → 503 RATE_LIMIT_UNAVAILABLE, Retry-After
//! ```
//!
//! Must never: answer a storage failure with a 500, log once per request during an outage, or log
//! a key (it holds the client's address).

use super::{too_many_requests, Verdict};
use crate::config::OnStorageError;
use crate::error::ApiError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub const RATE_LIMIT_UNAVAILABLE: ApiError =
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "RATE_LIMIT_UNAVAILABLE", "Rate limiting is unavailable; try again shortly");

/// `Retry-After` of the 503: a few times the secondary-storage guard's back-off, long enough for a
/// restarted Redis or a database fail-over to be seen.
const RETRY_AFTER_S: u64 = 5;

/// Paths of Better Auth's strict built-in rules, the password checks behind a session and the
/// password reset: there the limit is what stops password guessing and mail bombing. (A
/// capability's own stricter rules count too: [`Rules::has_capability_rule`](super::Rules::has_capability_rule).)
pub fn sensitive(path: &str) -> bool {
    super::special_rule(path).is_some() || path == "/reset-password"
}

/// Whether a request is refused when its counter is unavailable; `sensitive` as [`sensitive`].
pub fn denies(on_error: Option<OnStorageError>, sensitive: bool) -> bool {
    match on_error {
        Some(OnStorageError::Allow) => false,
        Some(OnStorageError::Deny) => true,
        None => sensitive,
    }
}

/// Rate-limit storage failures since start, for logs and metrics (all zero without failures).
#[derive(Debug, Default)]
pub struct RateLimitHealth {
    /// Requests whose counter could not be read or written.
    pub errors: AtomicU64,
    down: AtomicBool,
}

impl RateLimitHealth {
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
    /// Whether the last consume failed (the outage has not been seen to end yet).
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    /// Turns a store's verdict into the answer to send instead of serving the request, if any.
    /// `sensitive`: whether the request is refused by default when the counter is unavailable.
    pub fn judge(&self, verdict: Verdict, on_error: Option<OnStorageError>, sensitive: bool) -> Option<Response> {
        match verdict {
            Verdict::Allowed => {
                // One relaxed load per request; the swap only when an outage ends.
                if self.is_down() && self.down.swap(false, Ordering::Relaxed) {
                    tracing::info!("rate-limit storage is answering again");
                }
                None
            }
            Verdict::Limited(retry) => Some(too_many_requests(retry)),
            Verdict::StorageError(cause) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                if !self.down.swap(true, Ordering::Relaxed) {
                    let policy = match on_error {
                        Some(OnStorageError::Allow) => "every request is let through uncounted",
                        Some(OnStorageError::Deny) => "every limited request is refused with 503",
                        None => "sign-in, sign-up, password and verification requests are refused with 503, others let through",
                    };
                    tracing::warn!(error = %cause, "rate-limit storage failed; {policy} until it answers again (rate_limit.on_storage_error)");
                }
                denies(on_error, sensitive).then(unavailable)
            }
        }
    }
}

/// `503 {"message","code":"RATE_LIMIT_UNAVAILABLE"}` with `Retry-After`.
pub fn unavailable() -> Response {
    let mut res = RATE_LIMIT_UNAVAILABLE.into_response();
    res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_S));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_denies_only_the_sensitive_paths() {
        for p in [
            "/sign-in/email",
            "/sign-in/social",
            "/sign-up/email",
            "/change-password",
            "/change-email",
            "/request-password-reset",
            "/send-verification-email",
            "/verify-password",
            "/delete-user",
            "/reset-password",
            "/forget-password",
            "/forget-password/email-otp",
            "/email-otp/send-verification-otp",
            "/email-otp/request-password-reset",
        ] {
            assert!(sensitive(p) && denies(None, sensitive(p)), "{p}");
            assert!(!denies(Some(OnStorageError::Allow), sensitive(p)), "allow applies everywhere: {p}");
        }
        for p in [
            "/get-session",
            "/list-sessions",
            "/sign-out",
            "/update-user",
            "/reset-password/abc",
            "/delete-user/callback",
            "/",
            "/x/sign-in",
        ] {
            assert!(!sensitive(p) && !denies(None, sensitive(p)), "{p}");
            assert!(denies(Some(OnStorageError::Deny), sensitive(p)), "deny applies everywhere: {p}");
        }
    }

    #[tokio::test]
    async fn storage_errors_are_counted_and_answered_with_a_clean_503() {
        let h = RateLimitHealth::default();
        assert!(h.judge(Verdict::Allowed, None, true).is_none());
        assert_eq!(h.judge(Verdict::Limited(7), None, false).unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
        let res = h.judge(Verdict::StorageError("down".into()), None, true).unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers()[header::RETRY_AFTER], "5");
        let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], br#"{"message":"Rate limiting is unavailable; try again shortly","code":"RATE_LIMIT_UNAVAILABLE"}"#);
        assert!(h.judge(Verdict::StorageError("down".into()), None, false).is_none());
        assert!(h.judge(Verdict::StorageError("down".into()), Some(OnStorageError::Allow), true).is_none());
        assert_eq!(h.errors(), 3);
        assert!(h.is_down());
        assert!(h.judge(Verdict::Allowed, None, false).is_none());
        assert!(!h.is_down(), "a counted request ends the outage");
        assert_eq!(h.errors(), 3);
    }
}
