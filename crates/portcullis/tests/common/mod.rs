//! Shared by the api, tokens, scale and social test binaries (each includes it with
//! `#[path = "../common/mod.rs"] mod common;`): constants, the two backends, servers on a free
//! loopback port, test databases, a cookie jar and response reading.

// Each binary uses only part of this module.
#![allow(dead_code)]

pub mod db;
pub mod http;

use portcullis::{Auth, Config};
use rand::Rng;

/// The harness secret of the spec's observed exchanges (core §15.1).
pub const SECRET: &str = "test-secret-0123456789abcdefghijklmnopqrstuvwxyz";
pub const PASSWORD: &str = "correct-horse-battery";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Declares one test case that runs on both backends: `name::sqlite` and `name::postgres`, each
/// calling `$run(Backend, args...)`. The suites' own `both!` macros are written with it.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, $run:path, $($arg:expr),*) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test]
            async fn sqlite() {
                $run($crate::common::Backend::Sqlite, $($arg),*).await
            }
            #[tokio::test]
            async fn postgres() {
                $run($crate::common::Backend::Postgres, $($arg),*).await
            }
        }
    };
}

/// [`on_both_backends!`] for a `$run(Backend, tweak, test)` that takes a configuration tweak:
/// `name, $run, config = |c| { ... }, test` or `name, $run, test` (no tweak).
#[macro_export]
macro_rules! on_both_backends_with_config {
    ($name:ident, $run:path, config = $tweak:expr, $test:expr) => {
        $crate::on_both_backends!($name, $run, $tweak, $test);
    };
    ($name:ident, $run:path, $test:expr) => {
        $crate::on_both_backends!($name, $run, |_: &mut portcullis::Config| {}, $test);
    };
}

/// 16 random hex digits.
pub fn random_hex() -> String {
    format!("{:016x}", rand::thread_rng().gen::<u64>())
}

/// `<pid>_<16 random hex digits>`: unique names for databases and files.
pub fn random_suffix() -> String {
    format!("{}_{}", std::process::id(), random_hex())
}

/// A listener on a free loopback port.
pub struct Bound {
    pub listener: tokio::net::TcpListener,
    pub port: u16,
    /// `http://127.0.0.1:<port>`
    pub origin: String,
}

pub async fn bind_loopback() -> Bound {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a port");
    let port = listener.local_addr().expect("local addr").port();
    Bound { listener, port, origin: format!("http://127.0.0.1:{port}") }
}

/// The test configuration: the harness secret, migrations on start, rate limiting off, the
/// development outbox on and small argon2 parameters.
pub fn test_config(database_url: String, origin: &str) -> Config {
    let mut config = Config {
        database_url,
        secret: Some(SECRET.to_string()),
        base_url: Some(origin.to_string()),
        migrate_on_start: true,
        ..Default::default()
    };
    config.rate_limit.enabled = Some(false);
    config.mail.dev_outbox = Some(true);
    config.password_hashing.workers = Some(2);
    config.password_hashing.memory_kib = 1024;
    config.password_hashing.iterations = 1;
    config.password_hashing.parallelism = 1;
    config
}

/// Serves `auth` on `listener` in a task of its own.
pub fn spawn_server(auth: Auth, listener: tokio::net::TcpListener) -> tokio::task::JoinHandle<std::io::Result<()>> {
    tokio::spawn(portcullis::serve_on(auth, listener))
}

/// The social capability's section of `c`, to change before the server is built.
#[allow(dead_code)]
pub fn social(c: &mut Config) -> &mut portcullis::plugins::social::config::SocialConfig {
    c.section_mut().expect("[social] parses")
}
/// The jwt capability's section of `c`.
#[allow(dead_code)]
pub fn jwt(c: &mut Config) -> &mut portcullis::plugins::jwt::config::JwtConfig {
    c.section_mut().expect("[jwt] parses")
}
/// The bearer capability's section of `c`.
#[allow(dead_code)]
pub fn bearer(c: &mut Config) -> &mut portcullis::plugins::bearer::BearerConfig {
    c.section_mut().expect("[bearer] parses")
}
/// The anonymous capability's section of `c`.
#[allow(dead_code)]
pub fn anonymous(c: &mut Config) -> &mut portcullis::plugins::anonymous::config::AnonymousConfig {
    c.section_mut().expect("[anonymous] parses")
}
