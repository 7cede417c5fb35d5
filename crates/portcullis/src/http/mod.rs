//! axum glue: origin/CSRF checks, client IP, rate limiting, cookies, extractors.
pub mod ip;
pub mod origin;
pub mod rate_limit;
