//! The `portcullis` binary: `serve`, `migrate`, `secret`, `hash-time`.

use clap::{Parser, Subcommand};
use portcullis::{Auth, Config};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

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
    /// Time one password hash with the configured argon2 parameters, and the sign-in bound
    /// (hashing workers / hash time) they give on this machine. Use it to tune `password_hashing`.
    HashTime {
        #[command(flatten)]
        common: Common,
        /// Hashes to time, one after another on one thread (the median is reported).
        #[arg(long, default_value_t = 40)]
        count: usize,
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
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_target(false)
        .init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
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
        Command::HashTime { common, count } => {
            let ph = load(&common)?.password_hashing;
            let workers = ph.workers.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2));
            let hasher = portcullis::crypto::password::PasswordHasher::new(1, ph.memory_kib, ph.iterations, ph.parallelism);
            let mut times = Vec::with_capacity(count.max(1));
            for i in 0..count.max(1) + 2 {
                let start = std::time::Instant::now();
                hasher.hash(&format!("hash-time-password-{i}")).await.map_err(|e| e.to_string())?;
                if i >= 2 {
                    times.push(start.elapsed().as_secs_f64() * 1000.0); // the first two warm up
                }
            }
            times.sort_by(f64::total_cmp);
            let median = times[times.len() / 2];
            println!(
                "argon2id m={} t={} p={}: median {median:.2} ms per hash ({} hashes, one thread); bound with {workers} workers: {:.1} hashes/s",
                ph.memory_kib,
                ph.iterations,
                ph.parallelism,
                times.len(),
                workers as f64 * 1000.0 / median
            );
            Ok(())
        }
        Command::Migrate { common } => {
            let mut cfg = load(&common)?;
            cfg.migrate_on_start = false;
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
        Command::Serve { common, listen, no_migrate } => {
            let mut cfg = load(&common)?;
            if let Some(l) = listen {
                cfg.listen = l;
            }
            if no_migrate {
                cfg.migrate_on_start = false;
            }
            let auth = Auth::from_config(cfg).await.map_err(|e| e.to_string())?;
            portcullis::serve(auth).await.map_err(|e| e.to_string())
        }
    }
}
