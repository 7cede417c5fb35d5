//! axum glue: origin/CSRF checks, client IP, rate limiting, cookies, bodies, replies.
pub mod body;
pub mod cookies;
pub mod input;
pub mod ip;
pub mod origin;
pub mod reply;
