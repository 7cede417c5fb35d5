//! Test databases: a SQLite temp file or a fresh PostgreSQL database (PORTCULLIS_TEST_PG, default
//! `postgres://postgres@127.0.0.1:5432/postgres`), removed or dropped on drop, also on panic.

use super::{random_suffix, Backend};
use std::path::PathBuf;
use std::time::Duration;

const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The administrative PostgreSQL URL test databases are created from.
pub fn pg_admin_url() -> String {
    std::env::var("PORTCULLIS_TEST_PG").unwrap_or_else(|_| DEFAULT_PG.to_string())
}

/// A fresh PostgreSQL database, dropped (with force) on drop.
pub struct PgDatabase {
    admin_url: String,
    pub name: String,
    pub url: String,
}

impl PgDatabase {
    /// Creates `<prefix>_<pid>_<random>`.
    pub async fn create(prefix: &str) -> PgDatabase {
        use sqlx::Connection;
        let admin_url = pg_admin_url();
        let name = format!("{prefix}_{}", random_suffix());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL is required for the test suite ({admin_url}): {e}"));
        sqlx::query(&format!("CREATE DATABASE \"{name}\"")).execute(&mut admin).await.expect("create the test database");
        let _ = admin.close().await;
        let mut url = url::Url::parse(&admin_url).expect("PORTCULLIS_TEST_PG is a URL");
        url.set_path(&format!("/{name}"));
        PgDatabase { admin_url, name, url: url.to_string() }
    }

    /// `select count(*) ...` on a connection of its own.
    pub async fn count(&self, query: &str) -> i64 {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&self.url).await.expect("connect");
        let n: i64 = sqlx::query_scalar(query).fetch_one(&mut c).await.unwrap_or_else(|e| panic!("{query}: {e}"));
        let _ = c.close().await;
        n
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop may run inside the test's runtime: do the async work on a thread of its own.
        let done = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async move {
                use sqlx::Connection;
                if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut admin).await;
                    let _ = admin.close().await;
                }
            })
        });
        let _ = done.join();
    }
}

/// A SQLite file in the temp directory, deleted (with its -wal, -shm and -journal) on drop.
pub struct SqliteFile {
    pub path: PathBuf,
    /// `sqlite://<path>?mode=rwc`
    pub url: String,
}

impl SqliteFile {
    /// `<prefix>_<pid>_<random>.db`
    pub fn new(prefix: &str) -> SqliteFile {
        let path = std::env::temp_dir().join(format!("{prefix}_{}.db", random_suffix()));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        SqliteFile { path, url }
    }
}

impl Drop for SqliteFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = self.path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A pool on a test database.
pub enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

enum Place {
    Sqlite(SqliteFile),
    Postgres(PgDatabase),
}

/// A fresh test database with a small pool on it for direct statements.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    pub pool: Pool,
    // Declared after the pool: removed or dropped once the pool is gone.
    _place: Place,
}

impl TestDb {
    /// A database named `<prefix>_<pid>_<random>` (a `.db` file for SQLite).
    pub async fn new(backend: Backend, prefix: &str) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let file = SqliteFile::new(prefix);
                let opts =
                    file.url.parse::<sqlx::sqlite::SqliteConnectOptions>().expect("sqlite url").busy_timeout(Duration::from_secs(10));
                let pool = sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(2)
                    .connect_with(opts)
                    .await
                    .expect("open the SQLite test database");
                TestDb { backend, url: file.url.clone(), pool: Pool::Sqlite(pool), _place: Place::Sqlite(file) }
            }
            Backend::Postgres => {
                let pg = PgDatabase::create(prefix).await;
                let pool =
                    sqlx::postgres::PgPoolOptions::new().max_connections(2).connect(&pg.url).await.expect("connect to the test database");
                TestDb { backend, url: pg.url.clone(), pool: Pool::Postgres(pool), _place: Place::Postgres(pg) }
            }
        }
    }

    /// Runs a statement; returns the rows affected.
    pub async fn sql(&self, statement: &str) -> u64 {
        let r = match &self.pool {
            Pool::Sqlite(pool) => sqlx::query(statement).execute(pool).await.map(|r| r.rows_affected()),
            Pool::Postgres(pool) => sqlx::query(statement).execute(pool).await.map(|r| r.rows_affected()),
        };
        r.unwrap_or_else(|e| panic!("{statement}: {e}"))
    }

    /// The first column of the first row, as text (integers and booleans are stringified).
    pub async fn sql_scalar(&self, query: &str) -> Option<String> {
        use sqlx::Row;
        macro_rules! pick {
            ($row:expr) => {{
                let row = $row;
                if let Ok(v) = row.try_get::<Option<String>, _>(0) {
                    v
                } else if let Ok(v) = row.try_get::<Option<i64>, _>(0) {
                    v.map(|v| v.to_string())
                } else if let Ok(v) = row.try_get::<Option<i32>, _>(0) {
                    v.map(|v| v.to_string())
                } else {
                    row.try_get::<Option<bool>, _>(0).ok().flatten().map(|v| v.to_string())
                }
            }};
        }
        match &self.pool {
            Pool::Sqlite(pool) => {
                let row = sqlx::query(query).fetch_optional(pool).await.unwrap_or_else(|e| panic!("{query}: {e}"));
                row.and_then(|r| pick!(&r))
            }
            Pool::Postgres(pool) => {
                let row = sqlx::query(query).fetch_optional(pool).await.unwrap_or_else(|e| panic!("{query}: {e}"));
                row.and_then(|r| pick!(&r))
            }
        }
    }

    /// `select count(*) ...` as a number.
    pub async fn count(&self, query: &str) -> i64 {
        self.sql_scalar(query).await.and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{query}: not a count"))
    }
}
