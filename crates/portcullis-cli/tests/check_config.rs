//! `portcullis check-config` as an operator runs it: the binary, a configuration file and the
//! environment. A good configuration reaches the database and Redis, prints what would run
//! without a secret, and exits 0; an unreachable database or a mistyped key exits 1 with the
//! problem on its own line.
//!
//! Needs PostgreSQL (PORTCULLIS_TEST_PG, default postgres://postgres@127.0.0.1:5432/postgres, trust
//! authentication so a made-up password is accepted) and Redis (PORTCULLIS_TEST_REDIS, default
//! redis://127.0.0.1:6379).

mod common;

use common::TempDir;
use std::path::PathBuf;
use std::process::{Command, Output};

const SECRET: &str = "check-config-secret-0123456789abcdefghijkl";
const DB_PASSWORD: &str = "pg-pass-never-printed";

/// The test PostgreSQL URL with a password in it (trust authentication ignores it).
fn pg_url_with_password() -> String {
    let url = std::env::var("PORTCULLIS_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    url.replacen("postgres@", &format!("postgres:{DB_PASSWORD}@"), 1)
}

fn redis_url() -> String {
    std::env::var("PORTCULLIS_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Runs `portcullis check-config -c <config>` with only `env` in its environment.
fn check_config(config: &PathBuf, env: &[(&str, &str)]) -> (i32, String) {
    let Output { status, stdout, stderr } = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["check-config", "-c"])
        .arg(config)
        .env_clear()
        .envs(env.iter().copied())
        .env("RUST_LOG", "error")
        .output()
        .expect("run portcullis");
    let out = String::from_utf8_lossy(&stdout).into_owned();
    let err = String::from_utf8_lossy(&stderr).into_owned();
    assert!(!out.contains(SECRET) && !err.contains(SECRET), "the secret is never printed:\n{out}\n{err}");
    assert!(!out.contains(DB_PASSWORD) && !err.contains(DB_PASSWORD), "no password is printed:\n{out}\n{err}");
    (status.code().unwrap_or(-1), out)
}

#[test]
fn a_good_configuration_reaches_everything_and_prints_what_would_run() {
    let dir = TempDir::new("check-config");
    let config = dir.file(
        "good.toml",
        &format!(
            "database_url = \"{}\"\nsecret = \"{SECRET}\"\ntrusted_origins = [\"https://app.example.com\"]\n\
             [secondary_storage]\nurl = \"{}\"\n[rate_limit]\nenabled = true\n",
            pg_url_with_password(),
            redis_url()
        ),
    );
    let (code, out) = check_config(&config, &[("PORTCULLIS_LISTEN", "127.0.0.1:4100")]);
    assert_eq!(code, 0, "{out}");
    for line in [
        "listen: 127.0.0.1:4100",
        "base URL: http://127.0.0.1:4100/api/auth",
        "secret: set",
        "database: PostgreSQL postgres://postgres:***@",
        "capabilities: core, email-password",
        "social providers: none",
        "trusted origins: http://127.0.0.1:4100 (the base URL's), https://app.example.com",
        "rate limits: 100 per 10 s per client, in secondary storage",
        "reached database: ",
        "reached redis: ",
        "ok: the configuration is valid and every dependency answered",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    assert!(!out.contains("problem:"), "{out}");
}

#[test]
fn an_unreachable_database_and_a_mistyped_key_are_problems() {
    let dir = TempDir::new("check-config");
    let config = dir.file("unreachable.toml", &format!("secret = \"{SECRET}\"\n[database]\nacquire_timeout_ms = 300\n"));
    // The environment wins over the file, as for `serve`.
    let url = format!("postgres://postgres:{DB_PASSWORD}@127.0.0.1:1/postgres");
    let started = std::time::Instant::now();
    let (code, out) = check_config(&config, &[("DATABASE_URL", &url)]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("database: PostgreSQL postgres://postgres:***@127.0.0.1:1/postgres"), "{out}");
    let problems: Vec<&str> = out.lines().filter(|l| l.starts_with("problem: ")).collect();
    assert_eq!(problems.len(), 1, "{out}");
    assert!(problems[0].starts_with("problem: database: ") && problems[0].contains("acquire_timeout_ms (300 ms)"), "{out}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "bounded: {:?}", started.elapsed());

    let typo = dir.file("typo.toml", &format!("secret = \"{SECRET}\"\n[sesion]\nexpires_in = 60\n"));
    let (code, out) = check_config(&typo, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("problem: configuration: unknown configuration key or section `sesion`"), "{out}");
    assert!(!out.contains("listen:"), "nothing is reported as if it would run:\n{out}");

    let nested = dir.file("nested.toml", &format!("secret = \"{SECRET}\"\n[session]\nexpires_inn = 60\n"));
    let (code, out) = check_config(&nested, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("problem: configuration: ") && out.contains("expires_inn"), "{out}");
}
