//! Sessions (being assembled).
pub mod cookie_cache;
