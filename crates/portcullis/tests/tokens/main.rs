//! JWT/JWKS and bearer-token tests: every case on SQLite and on a fresh PostgreSQL database.

mod harness;

mod bearer;
mod jwt;
