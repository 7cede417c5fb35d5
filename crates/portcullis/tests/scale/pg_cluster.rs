//! A throwaway PostgreSQL cluster a test can kill and start again: `initdb` in a temp directory,
//! `pg_ctl start` on a spare loopback port, `kill -9` of the postmaster and every backend (a
//! crash, as the kernel's OOM killer or a power cut would leave it), and `pg_ctl start` again
//! (crash recovery). Binaries from PORTCULLIS_TEST_PG_BIN (default /usr/lib/postgresql/15/bin).
//!
//! PostgreSQL refuses to run as root: when the tests run as root the commands run as the
//! `postgres` user (runuser), on a directory given to it. Killed and removed on drop.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct PgCluster {
    pub port: u16,
    root: PathBuf,
    bin: PathBuf,
    /// Whether commands run as the `postgres` user (the tests run as root).
    as_postgres: bool,
}

fn run(mut cmd: Command, what: &str) {
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(out.status.success(), "{what}: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

fn text(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("{cmd}: {e}"));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl PgCluster {
    pub async fn start() -> PgCluster {
        let bin = PathBuf::from(std::env::var("PORTCULLIS_TEST_PG_BIN").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into()));
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("spare port").local_addr().expect("addr").port();
        let root = std::env::temp_dir().join(format!("portcullis-pg-{}", crate::common::random_suffix()));
        std::fs::create_dir_all(&root).expect("cluster directory");
        let as_postgres = text("id", &["-u"]) == "0";
        if as_postgres {
            let uid: u32 = text("id", &["-u", "postgres"]).parse().expect("a postgres user to run PostgreSQL as");
            let gid: u32 = text("id", &["-g", "postgres"]).parse().expect("the postgres group");
            std::os::unix::fs::chown(&root, Some(uid), Some(gid)).expect("give the directory to postgres");
        }
        let c = PgCluster { port, root, bin, as_postgres };
        let mut init = c.command("initdb");
        init.args(["-D", &c.data(), "-U", "postgres", "-A", "trust", "--no-sync"]).stdout(Stdio::null());
        run(init, "initdb");
        c.start_server();
        c
    }

    fn data(&self) -> String {
        self.root.join("data").display().to_string()
    }

    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server (after a kill: crash recovery first) and waits until it accepts connections.
    pub fn start_server(&self) {
        let opts = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, self.root.display());
        let log = self.root.join("log").display().to_string();
        let mut start = self.command("pg_ctl");
        start.args(["-D", &self.data(), "-o", &opts, "-l", &log, "-w", "-t", "60", "start"]).stdout(Stdio::null());
        run(start, "pg_ctl start");
    }

    /// Kills the postmaster and every backend with SIGKILL, and waits until they are gone.
    pub fn kill(&self) {
        let Some(postmaster) = postmaster_pid(&self.root.join("data")) else { return };
        let mut pids = children_of(postmaster);
        pids.push(postmaster);
        let args: Vec<String> = pids.iter().map(u32::to_string).collect();
        let _ = Command::new("kill").arg("-9").args(&args).stderr(Stdio::null()).status();
        for _ in 0..500 {
            if pids.iter().all(|p| !alive(*p)) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("PostgreSQL processes {pids:?} survived kill -9");
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn postmaster_pid(data: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(data.join("postmaster.pid")).ok()?.lines().next()?.trim().parse().ok()?;
    alive(pid).then_some(pid)
}

/// A process that exists and is not a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().next() != Some("Z")))
        .unwrap_or(false)
}

/// The processes whose parent is `parent` (PostgreSQL's backends and auxiliary processes).
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().and_then(|s| {
                let (_, rest) = s.rsplit_once(')')?;
                rest.split_whitespace().nth(1)?.parse::<u32>().ok()
            }) == Some(parent)
        })
        .collect()
}
