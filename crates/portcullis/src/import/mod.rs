//! `portcullis import`: users (and what belongs to them) from an existing Better Auth database on
//! any engine or naming, or from CSV / JSON exports of other systems, into this server's database.
//!
//! ```text
//!   source ──read a batch──> rows (logical field names) ──Writer──> target, through the adapter
//!   (database.rs: every table     (records.rs: a user and its      keyed on id, then e-mail /
//!    both sides have; or           password account per record)    provider identity; skip or
//!    records.rs: CSV / JSON)                                        update; refused rows reported
//! ```
//!
//! Password hashes are kept as they are: argon2, Better Auth's scrypt, bcrypt, PBKDF2 (PHC,
//! passlib, Django) and scrypt PHC are verified at the first sign-in, which then re-hashes with
//! the configured argon2id (crypto/password.rs). A hash in any other format refuses its row.
//! Idempotent: a re-run finds every row already there and imports nothing twice; an interrupted
//! run, run again, finishes the job. A dry run reads and checks everything and writes nothing.
//!
//! Must never: write to the source, write anything in a dry run, emit events or send mail for
//! imported rows (an import is not a sign-up), or put a hash or a token into the report or a log.

mod database;
mod records;
mod report;
mod writer;

pub use database::read_schema;
pub use records::Mapping;
pub use report::{Refusal, Report, TableReport};

use crate::config::SchemaConfig;
use crate::store::StoreError;
use crate::Auth;
use std::path::PathBuf;

/// Where the rows come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A Better Auth database (`postgres://…`, `sqlite://…`) named as `schema` says.
    Database { url: String, schema: SchemaConfig },
    /// A CSV export with a header line.
    Csv(PathBuf),
    /// A JSON export: an array of user objects, or `{"users": [...]}`.
    Json(PathBuf),
}

/// What happens to a row whose id (or a user's e-mail) is already in the target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnConflict {
    /// Leave the existing row as it is.
    #[default]
    Skip,
    /// Overwrite it with the source's values (its id is kept).
    Update,
}

impl std::str::FromStr for OnConflict {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "skip" => Ok(Self::Skip),
            "update" => Ok(Self::Update),
            _ => Err(format!("expected skip or update, got {s:?}")),
        }
    }
}

/// How to import.
#[derive(Debug, Clone)]
pub struct Options {
    pub on_conflict: OnConflict,
    /// Read and check everything, write nothing.
    pub dry_run: bool,
    /// Copy sessions too (database source): signed-in users stay signed in.
    pub sessions: bool,
    /// Copy verification values too (database source): pending e-mail links keep working.
    pub verification: bool,
    /// Rows per read and per write transaction.
    pub batch: usize,
    /// Column names of a CSV / JSON export (`--map`).
    pub mapping: Mapping,
    /// Add a source user's rows (accounts, sessions, memberships) to an existing user with the
    /// same e-mail even when one of the two e-mails is not verified. Off: such rows are refused,
    /// since an unverified address proves nobody owns it (an account pre-hijacking risk).
    pub merge_unverified: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            on_conflict: OnConflict::Skip,
            dry_run: false,
            sessions: false,
            verification: false,
            batch: 500,
            mapping: Mapping::default(),
            merge_unverified: false,
        }
    }
}

/// Why an import stopped as a whole (a row's problem is a refusal in the [`Report`] instead).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Usage(String),
    #[error("cannot read the source: {0}")]
    Source(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Imports `source` into `auth`'s database (its schema must exist: `migrate` first) and reports
/// what was read, imported, updated, skipped and refused, per table.
pub async fn run(auth: &Auth, source: &Source, opts: &Options) -> Result<Report, ImportError> {
    let target = auth.adapter()?;
    if crate::store::schema::existing_columns(target.db(), &target.names().table_raw("user")).await?.is_empty() {
        return Err(ImportError::Usage(
            "the target database has no schema: run `portcullis migrate` first (a dry run writes nothing, not even the schema)".into(),
        ));
    }
    let on_conflict = match opts.on_conflict {
        OnConflict::Skip => "skip",
        OnConflict::Update => "update",
    };
    let report = Report {
        source: match source {
            Source::Database { url, .. } => crate::store::driver::redact(url),
            Source::Csv(p) | Source::Json(p) => p.display().to_string(),
        },
        dry_run: opts.dry_run,
        on_conflict: on_conflict.into(),
        ..Report::default()
    };
    let mut w = writer::Writer::new(target, opts, report);
    match source {
        Source::Database { url, schema } => database::import(&mut w, target, url, schema.clone(), opts).await?,
        Source::Csv(path) | Source::Json(path) => {
            let table =
                |name: &str| target.tables().iter().find(|t| t.name == name).ok_or_else(|| ImportError::Usage(format!("no {name} table")));
            let new_id = || auth.new_id();
            let make = records::Make { now: auth.now(), new_id: &new_id };
            let json = matches!(source, Source::Json(_));
            records::import(&mut w, (table("user")?, table("account")?), path, json, &opts.mapping, &make, opts.batch).await?;
        }
    }
    Ok(w.report)
}
