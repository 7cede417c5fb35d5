//! The one error type that reaches HTTP.
//!
//! Every failure a handler can produce is an [`ApiError`]: an HTTP status, an optional stable
//! Better Auth error code and a message. It renders Better Auth's body `{"message","code"}` (in that
//! key order), or no body at all for the few bare statuses Better Auth emits. Codes are public API:
//! clients compare them against `authClient.$ERROR_CODES`, so they never change once shipped.
//!
//! Internal failures (a bug, a failed statement) become a 500 with a generic body; their detail is
//! logged, never sent. A database that cannot be reached is not a bug: it is a 503
//! `DATABASE_UNAVAILABLE` with `Retry-After` ([`codes::DATABASE_UNAVAILABLE`]), answered as soon as
//! the pool gives up (`database.acquire_timeout_ms`). Bad input must never take either path:
//! validate and return a 4xx instead.

pub use axum::http::StatusCode;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use std::borrow::Cow;

/// An error with Better Auth's wire shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: Option<&'static str>,
    pub message: Cow<'static, str>,
    /// Some Better Auth errors carry no body at all (e.g. 401 from get-access-token).
    pub empty_body: bool,
    /// Seconds for a `Retry-After` header (Portcullis's own 503s: the server is busy, not the client wrong).
    pub retry_after: Option<u32>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code.unwrap_or("-"), self.message)
    }
}
impl std::error::Error for ApiError {}

pub type ApiResult<T> = Result<T, ApiError>;

/// Better Auth's answers to additional-field input it refuses.
impl From<crate::fields::FieldError> for ApiError {
    fn from(e: crate::fields::FieldError) -> Self {
        use crate::fields::FieldError::*;
        match &e {
            NotAllowed(_) => codes::FIELD_NOT_ALLOWED.with_message(e.to_string()),
            Missing(_) => codes::MISSING_FIELD.with_message(e.to_string()),
            Invalid { field, .. } => ApiError::validation(format!("[body.{field}] {e}")),
        }
    }
}

impl ApiError {
    pub const fn new(status: StatusCode, code: &'static str, message: &'static str) -> Self {
        Self { status, code: Some(code), message: Cow::Borrowed(message), empty_body: false, retry_after: None }
    }
    pub fn with_message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.message = message.into();
        self
    }
    /// The same code and message with another status (Better Auth answers some codes with two).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
    /// An error without a `code` member (Better Auth has a few, e.g. "No fields to update").
    pub fn uncoded(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self { status, code: None, message: message.into(), empty_body: false, retry_after: None }
    }
    /// A bare status with an empty body.
    pub fn bare(status: StatusCode) -> Self {
        Self { status, code: None, message: Cow::Borrowed(""), empty_body: true, retry_after: None }
    }
    /// `[body.email] Invalid email address`-style validation error (zod's shape).
    pub fn validation(message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: Some("VALIDATION_ERROR"),
            message: message.into(),
            empty_body: false,
            retry_after: None,
        }
    }
    /// An unexpected internal failure. The cause is logged here and never sent to the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: Some("INTERNAL_SERVER_ERROR"),
            message: Cow::Borrowed("Internal Server Error"),
            empty_body: false,
            retry_after: None,
        }
    }
    /// Adds a `Retry-After` of `seconds`.
    pub const fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }
    pub fn code(&self) -> Option<&'static str> {
        self.code
    }
}

/// Better Auth's error body, `{"message","code"}` in that order; its schema is the API document's
/// `Error` (some errors add members, e.g. create-role's `missingPermissions`).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody<'a> {
    pub message: &'a str,
    /// The stable code (`USER_NOT_FOUND`, ...); absent on the few uncoded errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'a str>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = if self.empty_body {
            String::new()
        } else {
            serde_json::to_string(&ErrorBody { message: &self.message, code: self.code }).unwrap_or_default()
        };
        let mut res = (self.status, body).into_response();
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(s) = self.retry_after {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        res
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Unavailable(cause) => {
                log_unavailable(&cause);
                codes::DATABASE_UNAVAILABLE
            }
            other => ApiError::internal(other),
        }
    }
}

/// Logs an unreachable database at most once a second: during an outage every request meets it.
fn log_unavailable(cause: &str) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST_S: AtomicU64 = AtomicU64::new(0);
    let now_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    if LAST_S.swap(now_s, Ordering::Relaxed) != now_s {
        tracing::warn!(error = %cause, "the database is unavailable; answering 503 DATABASE_UNAVAILABLE");
    }
}

/// Declares error codes as `ApiError` constants named by their code, each with its HTTP status
/// and message. Core's are in [`codes`]; a capability declares its own in its folder (Better
/// Auth's plugin `$ERROR_CODES`):
///
/// ```
/// mod errors {
///     portcullis::error_codes! {
///         INVALID_TWO_FACTOR_COOKIE = UNAUTHORIZED, "Invalid two factor cookie";
///     }
/// }
/// assert_eq!(errors::INVALID_TWO_FACTOR_COOKIE.code, Some("INVALID_TWO_FACTOR_COOKIE"));
/// ```
#[macro_export]
macro_rules! error_codes {
    ($($name:ident = $status:ident, $msg:literal;)*) => {
        $(pub const $name: $crate::error::ApiError =
            $crate::error::ApiError::new($crate::error::StatusCode::$status, stringify!($name), $msg);)*
    };
}

/// Better Auth's error codes (`BASE_ERROR_CODES` and the route-level ones), each with its status.
pub mod codes {

    crate::error_codes! {
        UNAUTHORIZED = UNAUTHORIZED, "Unauthorized";
        USER_NOT_FOUND = BAD_REQUEST, "User not found";
        FAILED_TO_CREATE_USER = UNPROCESSABLE_ENTITY, "Failed to create user";
        FAILED_TO_CREATE_SESSION = BAD_REQUEST, "Failed to create session";
        FAILED_TO_GET_SESSION = UNAUTHORIZED, "Failed to get session";
        INVALID_PASSWORD = BAD_REQUEST, "Invalid password";
        INVALID_EMAIL = BAD_REQUEST, "Invalid email";
        INVALID_EMAIL_OR_PASSWORD = UNAUTHORIZED, "Invalid email or password";
        INVALID_USER = BAD_REQUEST, "Invalid user";
        INVALID_TOKEN = BAD_REQUEST, "Invalid token";
        FAILED_TO_GET_USER_INFO = NOT_FOUND, "Failed to get user info";
        TOKEN_EXPIRED = UNAUTHORIZED, "Token expired";
        EMAIL_NOT_VERIFIED = FORBIDDEN, "Email not verified";
        PASSWORD_TOO_SHORT = BAD_REQUEST, "Password too short";
        PASSWORD_TOO_LONG = BAD_REQUEST, "Password too long";
        USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL = UNPROCESSABLE_ENTITY, "User already exists. Use another email.";
        EMAIL_CAN_NOT_BE_UPDATED = BAD_REQUEST, "Email can not be updated";
        CHANGE_EMAIL_DISABLED = BAD_REQUEST, "Change email is disabled";
        CREDENTIAL_ACCOUNT_NOT_FOUND = BAD_REQUEST, "Credential account not found";
        SESSION_EXPIRED = BAD_REQUEST, "Session expired. Re-authenticate to perform this action.";
        FAILED_TO_UNLINK_LAST_ACCOUNT = BAD_REQUEST, "You can't unlink your last account";
        ACCOUNT_NOT_FOUND = BAD_REQUEST, "Account not found";
        CROSS_SITE_NAVIGATION_LOGIN_BLOCKED = FORBIDDEN, "Cross-site navigation login blocked. This request appears to be a CSRF attack.";
        VERIFICATION_EMAIL_NOT_ENABLED = BAD_REQUEST, "Verification email isn't enabled";
        EMAIL_ALREADY_VERIFIED = BAD_REQUEST, "Email is already verified";
        EMAIL_MISMATCH = BAD_REQUEST, "Email mismatch";
        SESSION_NOT_FRESH = FORBIDDEN, "Session is not fresh";
        INVALID_ORIGIN = FORBIDDEN, "Invalid origin";
        INVALID_CALLBACK_URL = FORBIDDEN, "Invalid callbackURL";
        INVALID_REDIRECT_URL = FORBIDDEN, "Invalid redirectURL";
        INVALID_ERROR_CALLBACK_URL = FORBIDDEN, "Invalid errorCallbackURL";
        INVALID_NEW_USER_CALLBACK_URL = FORBIDDEN, "Invalid newUserCallbackURL";
        MISSING_OR_NULL_ORIGIN = FORBIDDEN, "Missing or null Origin";
        FIELD_NOT_ALLOWED = BAD_REQUEST, "Field not allowed to be set";
        MISSING_FIELD = BAD_REQUEST, "Field is required";
        METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED = METHOD_NOT_ALLOWED, "POST method requires deferSessionRefresh to be enabled in session config";
        BODY_MUST_BE_AN_OBJECT = BAD_REQUEST, "Body must be an object";
        PASSWORD_ALREADY_SET = BAD_REQUEST, "User already has a password set";
        EMAIL_PASSWORD_SIGN_UP_DISABLED = BAD_REQUEST, "Email and password sign up is not enabled";
        EMAIL_PASSWORD_DISABLED = BAD_REQUEST, "Email and password is not enabled";
        RESET_PASSWORD_DISABLED = BAD_REQUEST, "Reset password isn't enabled";
        NOT_FOUND = NOT_FOUND, "Not found";
        BAD_REQUEST = BAD_REQUEST, "Invalid JSON in request body";
        UNSUPPORTED_MEDIA_TYPE = UNSUPPORTED_MEDIA_TYPE, "Content-Type is not allowed";
        PAYLOAD_TOO_LARGE = PAYLOAD_TOO_LARGE, "Request body is too large";
    }

    // Portcullis's own: the server protecting itself. Each has a status and a stable code.
    crate::error_codes! {
        REQUEST_TIMEOUT = REQUEST_TIMEOUT, "Request body not received in time";
        SERVICE_TIMEOUT = SERVICE_UNAVAILABLE, "The server took too long to answer. Please try again.";
        SERVER_BUSY = SERVICE_UNAVAILABLE, "The server is busy. Please try again shortly.";
    }

    /// The database cannot be reached (see [`StoreError::Unavailable`](crate::store::StoreError)).
    pub const DATABASE_UNAVAILABLE: crate::error::ApiError =
        crate::error::ApiError::new(crate::error::StatusCode::SERVICE_UNAVAILABLE, "DATABASE_UNAVAILABLE", "The database is unavailable")
            .retry_after(2);
}
