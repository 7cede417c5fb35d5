//! Portcullis: a Better Auth-compatible authentication engine for axum.
//!
//! The crate speaks Better Auth's HTTP protocol (paths under `/api/auth`, JSON shapes, cookie names
//! and signatures, error codes) so the official `better-auth` JS client works against it unchanged,
//! and it runs on Better Auth's database schema.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod access;
pub mod app;
pub mod background;
pub mod config;
pub mod crypto;
pub mod error;
pub mod fields;
pub mod http;
pub mod import;
pub mod mail;
pub mod plugins;
pub mod rate_limit;
pub mod secondary;
pub mod session;
pub mod store;

pub use app::{serve, serve_on, serve_until, Auth, AuthBuilder, Capability};
pub use config::Config;
pub use error::{ApiError, ApiResult};
pub use session::{Current, MaybeSession, SensitiveSession, SessionAuth};
