//! JWT/JWKS and bearer-token tests: every case on SQLite and on a fresh PostgreSQL database.

#[path = "../common/mod.rs"]
mod common;
mod harness;

mod bearer;
mod jwt;
