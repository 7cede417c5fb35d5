//! Storage: the [`Store`] trait the rest of Portcullis talks to, Better Auth's schema, and one SQL
//! implementation that runs on SQLite and PostgreSQL.
//!
//! A `Store` knows rows, never HTTP: it returns `None` for "not there" and [`StoreError`] for a
//! failure of the database itself. Uniqueness violations come back as [`StoreError::Conflict`] so
//! handlers can answer a clean 4xx instead of a 500, and a database that cannot be reached (down,
//! restarting, no connection free within `database.acquire_timeout_ms`) as
//! [`StoreError::Unavailable`], which the HTTP edge answers with a 503 and `Retry-After`.

pub mod adapter;
pub mod driver;
mod kept;
pub mod model;
pub mod schema;
mod sql;

pub use driver::{Db, PoolOptions};
pub use sql::SqlStore;

use chrono::{DateTime, Utc};
use model::{Account, PendingRevocation, Session, User, UserPatch, Verification};

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("database error: {0}")]
    Db(String),
    /// A unique constraint was violated (e.g. the email is taken).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A query the schema cannot answer (an unknown model or field): a bug in the caller.
    #[error("invalid query: {0}")]
    Query(String),
    /// The database cannot be reached now: the connection broke or was refused, no connection was
    /// free within the pool's acquire timeout, or the server is shutting down or starting. The
    /// statement did not commit (a transaction whose connection breaks is rolled back), so the
    /// request can be repeated.
    #[error("database unavailable: {0}")]
    Unavailable(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(d) = &e {
            if d.is_unique_violation() {
                return StoreError::Conflict(d.message().to_string());
            }
        }
        if unreachable(&e) {
            return StoreError::Unavailable(e.to_string());
        }
        StoreError::Db(e.to_string())
    }
}

/// Whether `e` says the database could not be reached rather than that a statement failed.
fn unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => true,
        // SQLSTATE class 08 (connection exception), 57P01-57P03 (admin or crash shutdown, cannot
        // connect now: the server is stopping or still recovering), 53300 (too many connections).
        sqlx::Error::Database(d) => {
            d.code().is_some_and(|c| c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03" | "53300"))
        }
        _ => false,
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Rows with one verification identifier that [`Store::take_verification`] and
/// [`Store::delete_verifications`] remove at most (there is normally one; a bound keeps a flood
/// of rows from holding a request).
const MAX_SAME_IDENTIFIER: usize = 64;

#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates the schema (core tables plus `extra`) where missing. Returns the statements run.
    async fn migrate(&self, extra: &[schema::Table]) -> StoreResult<Vec<String>>;

    // users
    /// Inserts a user and, when given, its first account, atomically.
    async fn create_user(&self, user: &User, account: Option<&Account>) -> StoreResult<()>;
    async fn find_user_by_id(&self, id: &str) -> StoreResult<Option<User>>;
    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    /// Returns the updated user, or `None` if it does not exist.
    async fn update_user(&self, id: &str, patch: &UserPatch, now: DateTime<Utc>) -> StoreResult<Option<User>>;
    /// Deletes the user with its sessions and accounts.
    async fn delete_user(&self, id: &str) -> StoreResult<()>;

    // accounts
    async fn create_account(&self, account: &Account) -> StoreResult<()>;
    async fn find_credential_account(&self, user_id: &str) -> StoreResult<Option<Account>>;
    async fn list_accounts(&self, user_id: &str) -> StoreResult<Vec<Account>>;
    async fn update_password(&self, account_id: &str, hash: &str, now: DateTime<Utc>) -> StoreResult<()>;
    /// Replaces the hash only if it is still `old` (a re-hash must never undo a concurrent change).
    async fn replace_password(&self, account_id: &str, old: &str, new: &str, now: DateTime<Utc>) -> StoreResult<bool>;
    /// The account with provider identity `(providerId, accountId)` (Better Auth's account key).
    async fn find_account(&self, provider_id: &str, account_id: &str) -> StoreResult<Option<Account>>;
    /// The account with this row id.
    async fn find_account_by_id(&self, id: &str) -> StoreResult<Option<Account>>;
    /// Writes an account's provider tokens, their expiries, `scope` and `updatedAt` (by row id).
    async fn update_account_tokens(&self, account: &Account) -> StoreResult<()>;
    /// Deletes an account row; true when a row was removed.
    async fn delete_account(&self, id: &str) -> StoreResult<bool>;

    // sessions
    async fn create_session(&self, session: &Session) -> StoreResult<()>;
    /// Sets additional fields of a session (and `updatedAt`); the session and its user after the
    /// change, or `None` when it no longer exists.
    async fn update_session_fields(&self, token: &str, values: &model::Values, now: DateTime<Utc>) -> StoreResult<Option<(Session, User)>>;
    /// The sessions with these tokens and their users, in one round trip for up to 32 tokens.
    /// Tokens without a session are simply absent from the answer.
    async fn find_sessions(&self, tokens: &[&str]) -> StoreResult<Vec<(Session, User)>>;
    /// The session and its user in one round trip.
    async fn find_session(&self, token: &str) -> StoreResult<Option<(Session, User)>> {
        Ok(self.find_sessions(&[token]).await?.into_iter().next())
    }
    /// Moves `expiresAt`; returns false when the session no longer exists.
    async fn touch_session(&self, token: &str, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> StoreResult<bool>;
    async fn list_sessions(&self, user_id: &str) -> StoreResult<Vec<Session>>;
    async fn delete_session(&self, token: &str) -> StoreResult<()>;
    /// Deletes every session of a user except `keep` (when given).
    async fn delete_user_sessions(&self, user_id: &str, keep: Option<&str>) -> StoreResult<()>;

    // verification values
    async fn create_verification(&self, v: &Verification) -> StoreResult<()>;
    /// The newest row with this identifier.
    async fn find_verification(&self, identifier: &str) -> StoreResult<Option<Verification>>;
    /// Deletes the row; true only for the one caller that actually removed it (single use).
    async fn consume_verification(&self, id: &str) -> StoreResult<bool>;
    async fn delete_expired_verifications(&self, now: DateTime<Utc>) -> StoreResult<u64>;
    /// Better Auth's `consumeVerificationValue`: removes the newest row for `identifier`, and the
    /// older rows with it (a stale row can never be replayed), and returns it to the one caller
    /// that removed it. `None` for every other caller, for no row, and for an expired row (which
    /// is removed all the same). The gate of every single-use secret.
    async fn take_verification(&self, identifier: &str, now: DateTime<Utc>) -> StoreResult<Option<Verification>> {
        let Some(v) = self.find_verification(identifier).await? else { return Ok(None) };
        if !self.consume_verification(&v.id).await? {
            return Ok(None);
        }
        for _ in 0..MAX_SAME_IDENTIFIER {
            match self.find_verification(identifier).await? {
                Some(older) if older.created_at <= v.created_at => {
                    self.consume_verification(&older.id).await?;
                }
                _ => break,
            }
        }
        Ok((v.expires_at >= now).then_some(v))
    }
    /// Removes every row with this identifier (`deleteVerificationByIdentifier`).
    async fn delete_verifications(&self, identifier: &str) -> StoreResult<()> {
        for _ in 0..MAX_SAME_IDENTIFIER {
            let Some(v) = self.find_verification(identifier).await? else { break };
            self.consume_verification(&v.id).await?;
        }
        Ok(())
    }

    // revocations queued during a secondary-storage outage (`pendingRevocation`, created only when
    // sessions are in the database and in secondary storage; owned by `session::revocations`)
    async fn list_pending_revocations(&self) -> StoreResult<Vec<PendingRevocation>>;
    /// Inserts the rows atomically.
    async fn create_pending_revocations(&self, rows: &[PendingRevocation]) -> StoreResult<()>;
    /// Deletes the rows with these ids (absent ids are no error: another instance replayed them).
    async fn delete_pending_revocations(&self, ids: &[String]) -> StoreResult<()>;

    /// Checks the database answers.
    async fn ping(&self) -> StoreResult<()>;

    /// The generic adapter over this database for `tables` (the capabilities' own tables), when
    /// the store is SQL.
    fn adapter(&self, _tables: Vec<schema::Table>) -> Option<adapter::Adapter> {
        None
    }

    /// The additional fields (user, session) this store reads and writes, when it declares them:
    /// the engine refuses to start on a store that lacks a field a capability or the
    /// configuration declares, rather than silently drop its values.
    fn additional_fields(&self) -> Option<(&crate::fields::FieldSet, &crate::fields::FieldSet)> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::StoreError;
    use crate::error::{ApiError, StatusCode};

    #[test]
    fn an_unreachable_database_is_a_503_with_retry_after_and_a_failed_statement_a_500() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        for e in [sqlx::Error::PoolTimedOut, sqlx::Error::PoolClosed, sqlx::Error::Io(refused), sqlx::Error::WorkerCrashed] {
            let store = StoreError::from(e);
            assert!(matches!(store, StoreError::Unavailable(_)), "{store}");
            let api = ApiError::from(store);
            assert_eq!((api.status, api.code, api.retry_after), (StatusCode::SERVICE_UNAVAILABLE, Some("DATABASE_UNAVAILABLE"), Some(2)));
            assert_eq!(api.message, "The database is unavailable");
        }
        let store = StoreError::from(sqlx::Error::RowNotFound);
        assert!(matches!(store, StoreError::Db(_)));
        assert_eq!(ApiError::from(store).status, StatusCode::INTERNAL_SERVER_ERROR);
    }
}
