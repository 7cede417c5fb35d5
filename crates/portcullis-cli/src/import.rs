//! `portcullis import ...`: users from a Better Auth database or a CSV / JSON export into the
//! configured database (`portcullis::import` does the work; this file only reads the flags and
//! prints the report).

use portcullis::import::{self, Mapping, OnConflict, Options, Source};
use portcullis::{Auth, Config};
use std::path::PathBuf;

#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["from", "csv", "json"]))]
pub struct Args {
    /// A Better Auth database to copy from: `postgres://…` or `sqlite://file.db`.
    #[arg(long)]
    from: Option<String>,
    /// The source database's naming: a TOML file with `naming`, `plural` and `[rename]` (or a
    /// configuration with a `[schema]` section). Default: Better Auth's own names.
    #[arg(long, requires = "from")]
    from_schema: Option<PathBuf>,
    /// Copy sessions too (database source): signed-in users stay signed in.
    #[arg(long, requires = "from")]
    sessions: bool,
    /// Copy verification values too (database source): pending e-mail links keep working.
    #[arg(long, requires = "from")]
    verification: bool,
    /// A CSV export with a header line (see "Importing users" in the README for the columns).
    #[arg(long)]
    csv: Option<PathBuf>,
    /// A JSON export: an array of user objects, or `{"users": [...]}`.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Columns of a CSV / JSON export, as field=column pairs: `email=Email,name=full_name`.
    #[arg(long, value_parser = clap::value_parser!(Mapping))]
    map: Option<Mapping>,
    /// What to do with a row already in the target (same id, or a user's same e-mail).
    #[arg(long, default_value = "skip", value_parser = clap::value_parser!(OnConflict))]
    on_conflict: OnConflict,
    /// Read and check everything, write nothing, print the same report.
    #[arg(long)]
    dry_run: bool,
    /// Add a source user's rows (accounts, sessions, …) to an existing user with the same e-mail
    /// even when one of the two e-mails is not verified (by default such rows are refused).
    #[arg(long)]
    merge_unverified: bool,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Rows per read and per write transaction.
    #[arg(long, default_value_t = 500)]
    batch: usize,
}

pub async fn run(mut cfg: Config, args: Args) -> Result<(), String> {
    let source = match (args.from, args.csv, args.json) {
        (Some(url), _, _) => {
            let schema = match &args.from_schema {
                Some(p) => import::read_schema(&std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?)
                    .map_err(|e| e.to_string())?,
                None => Default::default(),
            };
            Source::Database { url, schema }
        }
        (_, Some(p), _) => Source::Csv(p),
        (_, _, Some(p)) => Source::Json(p),
        _ => return Err("give --from, --csv or --json".into()),
    };
    cfg.migrate_on_start = false;
    cfg.background = false;
    let auth = Auth::from_config(cfg).await.map_err(|e| e.to_string())?;
    // A dry run writes nothing, not even the schema: the target must have it already.
    if !args.dry_run {
        auth.migrate().await.map_err(|e| e.to_string())?;
    }
    let opts = Options {
        on_conflict: args.on_conflict,
        dry_run: args.dry_run,
        sessions: args.sessions,
        verification: args.verification,
        batch: args.batch.max(1),
        mapping: args.map.unwrap_or_default(),
        merge_unverified: args.merge_unverified,
    };
    let report = import::run(&auth, &source, &opts).await.map_err(|e| e.to_string())?;
    print!("{}", report.render());
    if let Some(path) = &args.report {
        let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(path, json + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}
