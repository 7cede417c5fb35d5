//! The only dialect-specific code: how values are bound and read on PostgreSQL and SQLite.
//!
//! Everything above this module (SQL text, row mapping, the `Store` implementation) is written once
//! against [`Db`], [`Arg`] and [`RowRead`]. The two dialects differ in exactly two ways that matter
//! here: placeholders (`$1` vs `?1`) and timestamps (PostgreSQL `timestamptz`; SQLite stores
//! Better Auth's ISO-8601 text, `2026-01-01T00:00:00.000Z`). PostgreSQL `uuid` id columns
//! (`generate_id = "uuid"`) read as text here; the casts that write and compare them are rendered
//! by `schema::Names`.

use super::kept::Kept;
use super::schema::ColType;
use super::StoreError;
use crate::fields::js_key_order;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::{PgPoolOptions, PgRow};
use sqlx::query::Query;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{Database, Executor, IntoArguments, Postgres, Row, Sqlite};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// A bound parameter.
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
    Bool(bool),
    OptBool(Option<bool>),
    Int(i64),
    Time(DateTime<Utc>),
    OptTime(Option<DateTime<Utc>>),
    /// An additional field's value, written as its column type stores it (`null` is SQL NULL).
    Field(&'a serde_json::Value, ColType),
}

/// Typed access to a result row by column index.
pub trait RowRead {
    fn text(&self, i: usize) -> Result<String, StoreError>;
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError>;
    fn boolean(&self, i: usize) -> Result<bool, StoreError>;
    fn int(&self, i: usize) -> Result<i64, StoreError>;
    fn opt_time(&self, i: usize) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// An additional field's value from a column of type `ty` (SQL NULL is `null`).
    fn field(&self, i: usize, ty: ColType) -> Result<serde_json::Value, StoreError>;
    fn time(&self, i: usize) -> Result<DateTime<Utc>, StoreError> {
        self.opt_time(i)?.ok_or_else(|| StoreError::Db(format!("column {i} is null")))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Sqlite,
}

impl Dialect {
    /// The `n`-th (1-based) placeholder.
    pub fn ph(self, n: usize) -> String {
        match self {
            Dialect::Postgres => format!("${n}"),
            Dialect::Sqlite => format!("?{n}"),
        }
    }
}

/// A connection pool on one of the supported databases.
#[derive(Clone, Debug)]
pub enum Db {
    Pg(sqlx::PgPool, Arc<Kept<Postgres>>),
    Sqlite(sqlx::SqlitePool, Arc<Kept<Sqlite>>),
}

#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_connections: u32,
    /// How long a statement waits for a connection on PostgreSQL before it fails with
    /// [`StoreError::Unavailable`]; while the server is down, connection attempts are retried
    /// until then. (SQLite is a local file: it waits on its busy timeout instead.)
    pub acquire_timeout: Duration,
}
impl Default for PoolOptions {
    fn default() -> Self {
        Self::from(&crate::config::DatabaseConfig::default())
    }
}
impl From<&crate::config::DatabaseConfig> for PoolOptions {
    fn from(c: &crate::config::DatabaseConfig) -> Self {
        Self { max_connections: c.max_connections, acquire_timeout: Duration::from_millis(c.acquire_timeout_ms) }
    }
}

impl Db {
    /// Connects to `postgres://…` or `sqlite://…` (a bare path is taken as a SQLite file).
    pub async fn connect(url: &str, opts: &PoolOptions) -> Result<Self, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(opts.max_connections)
                .acquire_timeout(opts.acquire_timeout)
                .connect(url)
                .await
                .map_err(|e| StoreError::Connect(redact(&e.to_string())))?;
            return Ok(Db::Pg(pool, Arc::default()));
        }
        let url = if url.starts_with("sqlite:") { url.to_string() } else { format!("sqlite://{url}?mode=rwc") };
        let options = SqliteConnectOptions::from_str(&url)
            .map_err(|e| StoreError::Connect(e.to_string()))?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(opts.max_connections.clamp(1, 8))
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Connect(e.to_string()))?;
        Ok(Db::Sqlite(pool, Arc::default()))
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Db::Pg(..) => Dialect::Postgres,
            Db::Sqlite(..) => Dialect::Sqlite,
        }
    }

    /// Runs a statement; returns the number of rows affected.
    pub async fn execute(&self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        match self {
            Db::Pg(p, _) => execute_on(p, sql, args).await,
            Db::Sqlite(p, _) => execute_on(p, sql, args).await,
        }
    }

    /// A read. Reads are idempotent, so they run on connections kept out of the pool: one round
    /// trip instead of the pool's three, and once more on a checked connection if a kept one has
    /// gone bad (see [`Kept`]). Writes stay on the pool.
    pub async fn fetch_all<T>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        map: impl Fn(&dyn RowRead) -> Result<T, StoreError> + Send + Sync,
    ) -> Result<Vec<T>, StoreError> {
        self.fetch(sql, args, false, &map).await
    }

    /// The first row of a read (see [`fetch_all`](Self::fetch_all)).
    pub async fn fetch_optional<T>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        map: impl Fn(&dyn RowRead) -> Result<T, StoreError> + Send + Sync,
    ) -> Result<Option<T>, StoreError> {
        Ok(self.fetch(sql, args, true, &map).await?.into_iter().next())
    }

    async fn fetch<T>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        first_only: bool,
        map: &(dyn Fn(&dyn RowRead) -> Result<T, StoreError> + Send + Sync),
    ) -> Result<Vec<T>, StoreError> {
        match self {
            Db::Pg(p, kept) => kept.fetch(p, sql, args, first_only, map).await,
            Db::Sqlite(p, kept) => kept.fetch(p, sql, args, first_only, map).await,
        }
    }

    /// Runs several statements in one transaction (all or nothing).
    pub async fn transaction(&self, stmts: &[(&str, Vec<Arg<'_>>)]) -> Result<(), StoreError> {
        match self {
            Db::Pg(p, _) => transaction_on(p, stmts).await,
            Db::Sqlite(p, _) => transaction_on(p, stmts).await,
        }
    }

    pub async fn close(&self) {
        match self {
            Db::Pg(p, kept) => {
                kept.release_all();
                p.close().await
            }
            Db::Sqlite(p, kept) => {
                kept.release_all();
                p.close().await
            }
        }
    }
}

/// Binding differs per database only in how timestamps travel.
pub trait Bind: Database + sqlx::database::HasStatementCache {
    fn bind<'q>(q: Query<'q, Self, Self::Arguments<'q>>, arg: Arg<'q>) -> Query<'q, Self, Self::Arguments<'q>>;
}

/// One body for both dialects; only the timestamp (`$time`) and JSON (`$json`) encodings differ.
macro_rules! impl_bind {
    ($db:ty, $time:expr, $json:expr) => {
        impl Bind for $db {
            fn bind<'q>(q: Query<'q, Self, Self::Arguments<'q>>, arg: Arg<'q>) -> Query<'q, Self, Self::Arguments<'q>> {
                let time = $time;
                match arg {
                    Arg::Text(s) => q.bind(s),
                    Arg::OptText(s) => q.bind(s),
                    Arg::Bool(b) => q.bind(b),
                    Arg::OptBool(b) => q.bind(b),
                    Arg::Int(i) => q.bind(i),
                    Arg::Time(t) => q.bind(time(t)),
                    Arg::OptTime(t) => q.bind(t.map(time)),
                    Arg::Field(v, ty) => match ty {
                        ColType::Text => q.bind(field_text(v)),
                        ColType::Bool => q.bind(v.as_bool()),
                        ColType::Int | ColType::BigInt => q.bind(v.as_i64()),
                        ColType::Time => q.bind(v.as_str().and_then(crate::fields::parse_date).map(time)),
                        ColType::Json => $json(q, v),
                    },
                }
            }
        }
    };
}
impl_bind!(Postgres, |t: DateTime<Utc>| t, |q: Query<'q, Postgres, _>, v: &'q Value| q
    .bind((!v.is_null()).then_some(sqlx::types::Json(v))));
impl_bind!(Sqlite, |t: DateTime<Utc>| super::model::iso_ms::format(&t), |q: Query<'q, Sqlite, _>, v: &Value| q
    .bind((!v.is_null()).then(|| v.to_string())));

/// A text column holds strings as they are; any other JSON value as its JSON text.
fn field_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// What marks a statement planned with its values every time ([`build`]): the adapter's
/// substring and prefix matches (`like … escape`).
const PLANNED_EACH_TIME: &str = " like ";

/// The statement with its arguments. One that matches a `LIKE` pattern is not kept prepared: a
/// kept statement gets PostgreSQL's generic plan after five runs, which cannot know how selective
/// the pattern is, and it chose a sequential scan over the trigram index for the admin's user
/// search (67 ms instead of 6 ms at 1M users; BENCHMARKS.md, "Data at scale"). An unnamed
/// statement is planned with its values.
pub(super) fn build<'q, DB: Bind>(sql: &'q str, args: &[Arg<'q>]) -> Query<'q, DB, DB::Arguments<'q>> {
    let q = sqlx::query::<DB>(sql).persistent(!sql.contains(PLANNED_EACH_TIME));
    args.iter().fold(q, |q, a| DB::bind(q, *a))
}

async fn execute_on<DB>(pool: &sqlx::Pool<DB>, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError>
where
    DB: Bind,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    DB::QueryResult: RowsAffected,
{
    let res = build::<DB>(sql, args).execute(pool).await.map_err(StoreError::from)?;
    Ok(res.rows())
}

async fn transaction_on<DB>(pool: &sqlx::Pool<DB>, stmts: &[(&str, Vec<Arg<'_>>)]) -> Result<(), StoreError>
where
    DB: Bind,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
{
    let mut tx = pool.begin().await.map_err(StoreError::from)?;
    for (sql, args) in stmts {
        build::<DB>(sql, args).execute(&mut *tx).await.map_err(StoreError::from)?;
    }
    tx.commit().await.map_err(StoreError::from)
}

/// `rows_affected` lives on each driver's result type, not on a shared trait.
pub trait RowsAffected {
    fn rows(&self) -> u64;
}
impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows(&self) -> u64 {
        self.rows_affected()
    }
}
impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows(&self) -> u64 {
        self.rows_affected()
    }
}

fn col_err(i: usize, e: sqlx::Error) -> StoreError {
    StoreError::Db(format!("column {i}: {e}"))
}

/// One body for both dialects; integers and timestamps are read by `$int` and `$time`.
macro_rules! impl_row_read {
    ($row:ty, $opt_text:expr, $int:expr, $opt_int:expr, $time:expr, $json:expr) => {
        impl RowRead for $row {
            fn text(&self, i: usize) -> Result<String, StoreError> {
                $opt_text(self, i)?.ok_or_else(|| StoreError::Db(format!("column {i} is null")))
            }
            fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
                $opt_text(self, i)
            }
            fn boolean(&self, i: usize) -> Result<bool, StoreError> {
                self.try_get(i).map_err(|e| col_err(i, e))
            }
            fn int(&self, i: usize) -> Result<i64, StoreError> {
                $int(self, i)
            }
            fn opt_time(&self, i: usize) -> Result<Option<DateTime<Utc>>, StoreError> {
                $time(self, i)
            }
            fn field(&self, i: usize, ty: ColType) -> Result<Value, StoreError> {
                Ok(match ty {
                    ColType::Text => self.opt_text(i)?.map_or(Value::Null, Value::String),
                    ColType::Bool => {
                        let b: Option<bool> = self.try_get(i).map_err(|e| col_err(i, e))?;
                        b.map_or(Value::Null, Value::Bool)
                    }
                    ColType::Int | ColType::BigInt => {
                        let n: Option<i64> = $opt_int(self, i)?;
                        n.map_or(Value::Null, Value::from)
                    }
                    ColType::Time => self.opt_time(i)?.map_or(Value::Null, |t| Value::String(super::model::iso_ms::format(&t))),
                    ColType::Json => $json(self, i)?,
                })
            }
        }
    };
}
impl_row_read!(PgRow, pg_opt_text, pg_int, pg_opt_int, pg_time, pg_json);
impl_row_read!(SqliteRow, sqlite_opt_text, sqlite_int, sqlite_opt_int, sqlite_time, sqlite_json);

fn sqlite_opt_text(r: &SqliteRow, i: usize) -> Result<Option<String>, StoreError> {
    r.try_get(i).map_err(|e| col_err(i, e))
}

/// Text, or a `uuid` column (ids with `generate_id = "uuid"`) as its canonical string.
fn pg_opt_text(r: &PgRow, i: usize) -> Result<Option<String>, StoreError> {
    use sqlx::{TypeInfo, ValueRef};
    match r.try_get::<Option<String>, _>(i) {
        Ok(v) => Ok(v),
        Err(e) => {
            let raw = r.try_get_raw(i).map_err(|e| col_err(i, e))?;
            if raw.type_info().name() != "UUID" {
                return Err(col_err(i, e));
            }
            if raw.is_null() {
                return Ok(None);
            }
            let text = match raw.format() {
                sqlx::postgres::PgValueFormat::Text => raw.as_str().map(str::to_string).ok(),
                sqlx::postgres::PgValueFormat::Binary => {
                    raw.as_bytes().ok().and_then(|b| <[u8; 16]>::try_from(b).ok()).map(crate::crypto::hyphenated_uuid)
                }
            };
            text.map(Some).ok_or_else(|| StoreError::Db(format!("column {i}: unreadable uuid")))
        }
    }
}

fn pg_opt_int(r: &PgRow, i: usize) -> Result<Option<i64>, StoreError> {
    r.try_get::<Option<i64>, _>(i).or_else(|_| r.try_get::<Option<i32>, _>(i).map(|v| v.map(i64::from))).map_err(|e| col_err(i, e))
}

fn sqlite_opt_int(r: &SqliteRow, i: usize) -> Result<Option<i64>, StoreError> {
    r.try_get(i).map_err(|e| col_err(i, e))
}

/// jsonb hands keys back shortest first; Better Auth answers them as the JavaScript object the pg
/// driver parses them into, hence [`js_key_order`].
fn pg_json(r: &PgRow, i: usize) -> Result<Value, StoreError> {
    let v: Option<sqlx::types::Json<Value>> = r.try_get(i).map_err(|e| col_err(i, e))?;
    Ok(v.map_or(Value::Null, |j| js_key_order(j.0)))
}

/// JSON text, as Better Auth's Kysely adapter writes json and arrays on SQLite; text that is not
/// JSON reads as the string it is.
fn sqlite_json(r: &SqliteRow, i: usize) -> Result<Value, StoreError> {
    let v: Option<String> = r.try_get(i).map_err(|e| col_err(i, e))?;
    Ok(v.map_or(Value::Null, |s| serde_json::from_str(&s).map(js_key_order).unwrap_or(Value::String(s))))
}

/// PostgreSQL `integer` columns decode as i32, `bigint` as i64.
fn pg_int(r: &PgRow, i: usize) -> Result<i64, StoreError> {
    r.try_get::<i64, _>(i).or_else(|_| r.try_get::<i32, _>(i).map(i64::from)).map_err(|e| col_err(i, e))
}

fn pg_time(r: &PgRow, i: usize) -> Result<Option<DateTime<Utc>>, StoreError> {
    let t: Option<DateTime<Utc>> = r.try_get(i).map_err(|e| col_err(i, e))?;
    Ok(t.map(super::model::ms))
}

fn sqlite_int(r: &SqliteRow, i: usize) -> Result<i64, StoreError> {
    r.try_get(i).map_err(|e| col_err(i, e))
}

/// Better Auth on SQLite stores ISO text; epoch milliseconds and SQLite's own
/// `CURRENT_TIMESTAMP` format are read too, so rows written by other tools still load.
fn sqlite_time(r: &SqliteRow, i: usize) -> Result<Option<DateTime<Utc>>, StoreError> {
    if let Ok(v) = r.try_get::<Option<String>, _>(i) {
        return v.map(|s| parse_sqlite_time(&s).ok_or_else(|| StoreError::Db(format!("column {i}: bad timestamp {s:?}")))).transpose();
    }
    let v: Option<i64> = r.try_get(i).map_err(|e| col_err(i, e))?;
    Ok(v.and_then(DateTime::from_timestamp_millis))
}

fn parse_sqlite_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(super::model::ms(t.with_timezone(&Utc)));
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f") {
        return Some(super::model::ms(t.and_utc()));
    }
    s.parse::<i64>().ok().and_then(DateTime::from_timestamp_millis)
}

/// Removes a password from a connection URL before it reaches a log or an error message.
pub fn redact(s: &str) -> String {
    match url::Url::parse(s) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_time_formats() {
        let t = parse_sqlite_time("2030-01-01T00:00:00.123Z").unwrap();
        assert_eq!(t.timestamp_millis(), 1893456000123);
        assert_eq!(parse_sqlite_time("2030-01-01 00:00:00").unwrap().timestamp_millis(), 1893456000000);
        assert_eq!(parse_sqlite_time("1893456000000").unwrap().timestamp_millis(), 1893456000000);
        assert!(parse_sqlite_time("yesterday").is_none());
    }

    /// Every additional-field type written and read back as the same JSON value, on both databases.
    async fn fields_round_trip(db: Db) {
        let table = format!("fields_{}", crate::crypto::random_id(8).to_lowercase());
        let (json, time) = match db.dialect() {
            Dialect::Postgres => ("jsonb", "timestamptz"),
            Dialect::Sqlite => ("text", "date"),
        };
        let bool_ty = if db.dialect() == Dialect::Postgres { "boolean" } else { "integer" };
        db.execute(&format!("create table \"{table}\" (t text, n integer, b {bool_ty}, d {time}, j {json}, a {json})"), &[]).await.unwrap();
        let cols = [ColType::Text, ColType::Int, ColType::Bool, ColType::Time, ColType::Json, ColType::Json];
        let rows = [
            serde_json::json!(["dark", 100, true, "2000-01-02T00:00:00.000Z", {"lecture": "#10b981", "n": [1, 2.5]}, ["exam", "contrôle"]]),
            serde_json::json!([null, null, null, null, null, null]),
        ];
        let d = db.dialect();
        for (k, row) in rows.iter().enumerate() {
            let vals = row.as_array().unwrap();
            let args: Vec<Arg> = vals.iter().zip(cols).map(|(v, c)| Arg::Field(v, c)).collect();
            let phs = (1..=6).map(|i| d.ph(i)).collect::<Vec<_>>().join(", ");
            db.execute(&format!("insert into \"{table}\" values ({phs})"), &args).await.unwrap();
            let got = db
                .fetch_all(&format!("select * from \"{table}\""), &[], |r| {
                    (0..6).map(|i| r.field(i, cols[i])).collect::<Result<Vec<_>, _>>()
                })
                .await
                .unwrap();
            assert_eq!(&got[k], vals, "row {k} on {d:?}");
        }
        db.execute(&format!("drop table \"{table}\""), &[]).await.unwrap();
        db.close().await;
    }

    #[tokio::test]
    async fn additional_field_values_round_trip_on_sqlite() {
        let path = std::env::temp_dir().join(format!("portcullis-driver-{}.db", crate::crypto::random_id(12)));
        fields_round_trip(Db::connect(&format!("sqlite://{}?mode=rwc", path.display()), &PoolOptions::default()).await.unwrap()).await;
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
        }
    }

    #[tokio::test]
    async fn additional_field_values_round_trip_on_postgres() {
        let url = std::env::var("PORTCULLIS_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        fields_round_trip(Db::connect(&url, &PoolOptions::default()).await.unwrap()).await;
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
    }
}
