//! Storage: the `Store` trait, Better Auth's schema, SQLite and PostgreSQL.
pub mod model;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(String),
}
