//! Sessions: create, look up, refresh, revoke; the cookie cache.
pub mod cookie_cache;
