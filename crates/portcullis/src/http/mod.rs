//! axum glue: origin/CSRF checks, client IP, rate limiting, cookies, bodies, replies.
pub mod body;
pub mod cookies;
pub mod input;
pub mod ip;
pub mod origin;
pub mod rate_limit;
pub mod rate_limit_outage;
pub mod rate_limit_shared;
pub mod reply;
