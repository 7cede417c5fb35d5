//! The `portcullis` binary: `serve`, `migrate`, `check-config`, `secret`, `hash-time`, `admin`,
//! `import`.

mod admin;
mod check;
mod import;

use clap::{Parser, Subcommand};
use portcullis::{Auth, Config};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc for the server binary: a request allocates and frees a few dozen small blocks
/// (headers, JSON, rows), and glibc's malloc/free were ~17 % of get-session's instructions
/// (BENCHMARKS.md, issue 12). The library leaves the choice of allocator to its embedder; argon2's
/// working memory bypasses the allocator either way (crypto/password/blocks.rs). Without
/// transparent huge pages (`no_thp`): with them an idle server was ~8 MB larger.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "portcullis", version, about = "A Better Auth-compatible authentication server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct Common {
    /// TOML configuration file (environment variables override it).
    #[arg(short, long, env = "PORTCULLIS_CONFIG")]
    config: Option<PathBuf>,
    /// Database URL: `sqlite://file.db?mode=rwc` (default) or `postgres://user@host/db`.
    #[arg(long)]
    database_url: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (SQLite and a development secret when nothing is configured).
    Serve {
        #[command(flatten)]
        common: Common,
        /// Address to listen on, e.g. 127.0.0.1:3000.
        #[arg(short, long)]
        listen: Option<SocketAddr>,
        /// Do not create or update the schema on start.
        #[arg(long)]
        no_migrate: bool,
    },
    /// Create or update the database schema (idempotent) and exit.
    Migrate {
        #[command(flatten)]
        common: Common,
    },
    /// Check the configuration as `serve` would load it, reach the database, Redis and SMTP, and
    /// print what would run, without serving. Exit 1 with each problem on its own line.
    CheckConfig {
        #[command(flatten)]
        common: Common,
    },
    /// Time one password hash with the configured argon2 parameters, and the sign-in bound
    /// (hashing workers / hash time) they give on this machine. Use it to tune `password_hashing`.
    HashTime {
        #[command(flatten)]
        common: Common,
        /// Hashes to time, one after another on one thread (the median is reported).
        #[arg(long, default_value_t = 40)]
        count: usize,
        /// Hash on all the workers at once (`count` hashes each), as the server does under a
        /// sign-in burst, and report the throughput they reach together: the bound where hashes
        /// running side by side slow each other down (shared cache and memory bandwidth).
        #[arg(long)]
        concurrent: bool,
    },
    /// Manage users without editing SQL: create the first admin, set roles, ban, unban, list.
    /// Turns the admin plugin on for the command (its columns are created if missing).
    Admin {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        action: admin::Action,
    },
    /// Import users from a Better Auth database (any engine or naming) or a CSV / JSON export of
    /// another system into the configured database, keeping their password hashes. Idempotent;
    /// `--dry-run` writes nothing. Prints a report (`--report file.json` writes it as JSON).
    Import {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: import::Args,
    },
    /// Print a new random secret for BETTER_AUTH_SECRET.
    Secret {
        /// Random bytes in the secret (encoded as base64).
        #[arg(long, default_value_t = 32)]
        bytes: usize,
    },
}

fn load(common: &Common) -> Result<Config, String> {
    let mut cfg = Config::load(common.config.as_deref()).map_err(|e| e.to_string())?;
    if let Some(u) = &common.database_url {
        cfg.database_url = u.clone();
    }
    Ok(cfg)
}

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stdout, filtered by `RUST_LOG` (default `info`): text, or one JSON object a line with
/// `PORTCULLIS_LOG_FORMAT=json` (the request's span, with its `request_id`, on every line a request
/// writes). The environment only: logging starts before the configuration file is read, so that
/// reading it can be logged.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    match std::env::var("PORTCULLIS_LOG_FORMAT").as_deref() {
        Ok("json") => builder.json().with_current_span(true).with_span_list(false).init(),
        Ok("text") | Ok("") | Err(_) => builder.init(),
        Ok(other) => {
            builder.init();
            tracing::warn!("PORTCULLIS_LOG_FORMAT={other:?} is neither `json` nor `text`; logging as text");
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Secret { bytes } => {
            use base64::Engine;
            use rand::RngCore;
            let mut buf = vec![0u8; bytes.clamp(16, 256)];
            rand::rngs::OsRng.fill_bytes(&mut buf);
            println!("{}", base64::engine::general_purpose::STANDARD.encode(buf));
            Ok(())
        }
        Command::HashTime { common, count, concurrent } => hash_time(&load(&common)?.password_hashing, count.max(1), concurrent).await,
        Command::Migrate { common } => {
            let mut cfg = load(&common)?;
            cfg.migrate_on_start = false;
            cfg.background = false;
            let auth = Auth::from_config(cfg).await.map_err(|e| e.to_string())?;
            let applied = auth.migrate().await.map_err(|e| e.to_string())?;
            if applied.is_empty() {
                println!("schema is up to date");
            } else {
                for s in &applied {
                    println!("{s};");
                }
                println!("applied {} statement(s)", applied.len());
            }
            Ok(())
        }
        Command::CheckConfig { common } => check::run(load(&common)).await,
        Command::Admin { common, action } => admin::run(load(&common)?, action).await,
        Command::Import { common, args } => import::run(load(&common)?, args).await,
        Command::Serve { common, listen, no_migrate } => {
            let mut cfg = load(&common)?;
            if let Some(l) = listen {
                cfg.listen = l;
            }
            if no_migrate {
                cfg.migrate_on_start = false;
            }
            // JSON logs name each request: its id is on every line it writes.
            if std::env::var("PORTCULLIS_LOG_FORMAT").as_deref() == Ok("json") {
                cfg.server.request_ids = true;
            }
            let auth = Auth::from_config(cfg).await.map_err(|e| e.to_string())?;
            portcullis::serve(auth).await.map_err(|e| e.to_string())
        }
    }
}

/// `portcullis hash-time`: the median time of one hash and the sign-in bound it gives.
async fn hash_time(ph: &portcullis::config::PasswordHashingConfig, count: usize, concurrent: bool) -> Result<(), String> {
    use portcullis::crypto::password::PasswordHasher;
    let workers = ph.workers.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2));
    let threads = if concurrent { workers } else { 1 };
    let hasher = PasswordHasher::new(threads, ph.memory_kib, ph.iterations, ph.parallelism);
    // Each stream hashes `count` times after two warm-up hashes; the streams run side by side.
    let streams: Vec<_> = (0..threads)
        .map(|t| {
            let hasher = hasher.clone();
            tokio::spawn(async move {
                let mut times = Vec::with_capacity(count);
                for i in 0..count + 2 {
                    let start = std::time::Instant::now();
                    hasher.hash(&format!("hash-time-password-{t}-{i}")).await.map_err(|e| e.to_string())?;
                    if i >= 2 {
                        times.push((start, start.elapsed().as_secs_f64() * 1000.0));
                    }
                }
                Ok::<_, String>(times)
            })
        })
        .collect();
    let mut times = Vec::new();
    for stream in streams {
        times.extend(stream.await.map_err(|e| e.to_string())??);
    }
    let first = times.iter().map(|t| t.0).min().ok_or("no hash timed")?;
    let wall = times.iter().map(|t| t.0.duration_since(first).as_secs_f64() * 1000.0 + t.1).fold(0.0, f64::max);
    let mut ms: Vec<f64> = times.iter().map(|t| t.1).collect();
    ms.sort_by(f64::total_cmp);
    let median = ms[ms.len() / 2];
    let (m, t, p) = (ph.memory_kib, ph.iterations, ph.parallelism);
    if concurrent {
        let rate = ms.len() as f64 * 1000.0 / wall;
        println!("argon2id m={m} t={t} p={p}: median {median:.2} ms per hash ({} hashes, {threads} threads at once); bound with {workers} workers: {rate:.1} hashes/s measured", ms.len());
    } else {
        let bound = workers as f64 * 1000.0 / median;
        println!("argon2id m={m} t={t} p={p}: median {median:.2} ms per hash ({} hashes, one thread); bound with {workers} workers: {bound:.1} hashes/s", ms.len());
    }
    Ok(())
}
