//! The one-shot commands (`migrate`, `import`, `admin`) do their job and exit: they start none of
//! the background work a server runs (audit-log pruning, webhook delivery). They once did: the
//! audit pruner of `migrate` raced the migration on a fresh database, and an `import --dry-run`
//! (which writes nothing, the schema included) into a database without the audit table always
//! logged "audit log pruning failed: no such table: auditLog" (a release build, every time; a
//! debug build may exit before its pruner runs).

mod common;

use common::TempDir;
use std::path::Path;
use std::process::{Command, Output};

/// Runs `portcullis <command> -c <config> --database-url <db> <rest>` with warnings logged:
/// (exit code, stderr).
fn run(command: &str, config: &Path, db: &str, rest: &[&str]) -> (i32, String) {
    let Output { status, stderr, .. } = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg(command)
        .arg("-c")
        .arg(config)
        .args(["--database-url", db])
        .args(rest)
        .env_clear()
        .env("BETTER_AUTH_SECRET", "one-shot-secret-0123456789abcdefghijklmn")
        .env("PORTCULLIS_ADMIN_PASSWORD", "one-shot-password-123")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run portcullis");
    (status.code().unwrap_or(-1), String::from_utf8_lossy(&stderr).into_owned())
}

#[test]
fn one_shot_commands_start_no_background_work() {
    let dir = TempDir::new("one-shot");
    // Audit is on with admin: a server prunes the audit table as it starts.
    let with_audit = dir.file("audit.toml", "[admin]\nenabled = true\n");
    let without = dir.file("plain.toml", "[two_factor]\nenabled = true\n");
    let csv = dir.file("users.csv", "email,name\nann@example.com,Ann\n");
    let csv = csv.to_str().expect("utf-8 path");

    // A database without the audit table; the dry run of an import with audit on leaves it so.
    let db = format!("sqlite://{}?mode=rwc", dir.path("plain.db").display());
    let (code, err) = run("migrate", &without, &db, &[]);
    assert_eq!(code, 0, "migrate failed:\n{err}");
    let (code, err) = run("import", &with_audit, &db, &["--csv", csv, "--dry-run"]);
    assert_eq!(code, 0, "the dry run failed:\n{err}");
    assert!(!err.contains("pruning"), "the dry run started the audit pruner:\n{err}");

    // A fresh database migrated with audit on, then an admin made: no pruning, no failure.
    let db = format!("sqlite://{}?mode=rwc", dir.path("audit.db").display());
    let (code, err) = run("migrate", &with_audit, &db, &[]);
    assert_eq!(code, 0, "migrate failed:\n{err}");
    assert!(!err.contains("WARN"), "migrate of a fresh database warns:\n{err}");
    let (code, err) = run("admin", &with_audit, &db, &["create", "--email", "root@example.com", "--name", "Root"]);
    assert_eq!(code, 0, "admin create failed:\n{err}");
    assert!(!err.contains("failed"), "admin create logged a failure:\n{err}");
}
