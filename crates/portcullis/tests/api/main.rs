//! Integration tests: every case starts its own Portcullis server and runs on SQLite and on
//! PostgreSQL (`<area>::<case>::sqlite`, `<area>::<case>::postgres`). PostgreSQL is required:
//! set PORTCULLIS_TEST_PG to override `postgres://postgres@127.0.0.1:5432/postgres`.

#[path = "../common/mod.rs"]
mod common;
#[macro_use]
mod harness;

mod abuse;
mod admin;
mod anonymous;
mod audit;
mod bodies;
mod config_sections;
mod connections;
mod cookie_cache;
mod cookie_options;
mod csrf;
mod email_otp;
mod fields;
mod health;
mod hooks;
mod ids;
mod import;
mod logs;
mod magic_link;
mod mail;
mod metrics;
mod openapi;
mod organization;
mod organization_roles;
mod origins;
mod passkeys;
mod password;
mod preferences;
mod races;
mod security;
mod send_limit;
mod sessions;
mod sign_in;
mod sign_up;
mod two_factor;
mod user;
mod verification;
mod webauthn;
mod webhooks;
