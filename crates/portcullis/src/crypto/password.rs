//! Password hashing and verification on a bounded pool of dedicated OS threads.
//!
//! New hashes are argon2id PHC strings. Verification also accepts Better Auth's scrypt format
//! (`salthex:keyhex`, spec §8) so an existing database keeps working, and the bcrypt, PBKDF2 and
//! scrypt PHC hashes of other systems that `portcullis import` keeps (password/legacy.rs); such a
//! match asks the caller to re-hash. Memory-hard hashing is slow and big (19 MiB per argon2 hash by default, 32 MiB per
//! Better Auth scrypt), so it runs only on `workers` threads, each reusing one argon2 buffer: a burst
//! of logins queues instead of multiplying memory or starving the async runtime.
//!
//! This module must never hash on an async executor thread or tokio's (unbounded) blocking pool,
//! never compare hashes with `==`, never panic on a stored hash (it comes from a database we do not
//! fully control), and never allocate argon2 memory for a stored hash beyond [`MAX_STORED_M_COST`].
//!
//! # Timing: a check about an account that may not exist
//!
//! Sign-in must take as long for an unknown address as for a known one, whatever hash the known
//! account holds: Better Auth's scrypt costs several times an argon2id hash with our parameters,
//! and an argon2 hash written under earlier parameters costs what those parameters cost. Running
//! one fixed dummy computation for unknown addresses would let response time tell which addresses
//! hold which kind of hash (which ones are migrated Better Auth users); so would padding to a fixed
//! floor, since the costliest kind's own checks sometimes run past it. So
//! [`verify_padded`](PasswordHasher::verify_padded), the check for callers that may have no account
//! at all, does this:
//!
//! ```text
//!   stored hash?  --none / unreadable-->  dummy: argon2id with the configured parameters
//!        | readable                              |
//!        v                                       v
//!   verify it on a worker  ......  the worker measures the execution time (queue wait excluded)
//!        |                         and keeps it in a ring of recent times for that kind of hash
//!        v
//!   match?  --yes-->  answer at once (the caller knows the password: timing tells it nothing)
//!        | no / dummy / unreadable
//!        v
//!   async sleep until the check has cost the largest of its own time and one time picked at
//!   random from every other kind's ring (at most 3 s)
//! ```
//!
//! Every kind's answers then have the same distribution, not only the same floor: the model, and
//! where it is not exact, are in the doc of `timing` (password/timing.rs). The kinds every
//! deployment can meet must have times in the rings before the first padded answer, so the first
//! check to be padded has one Better Auth scrypt computation and one dummy timed on the pool
//! before it pads (once; the wait counts towards its padding). A match never waits for it, so a
//! server whose sign-ins all succeed never allocates scrypt's 32 MiB. Argon2 parameter sets other
//! than the configured one are only known once met: the first check of such a hash after a start
//! answers at its own time; the kind is then part of every padded answer (and a successful
//! sign-in re-hashes such an account anyway). Padding is a timer, not work: it costs no CPU and no
//! worker, so it does not lower the sign-in rate the pool sustains. A pool that refuses the job
//! (full queue: [`PasswordError::Busy`]) answers at once (that does not depend on the account).
//! Checks for a signed-in user's own account ([`verify`](PasswordHasher::verify)) are not padded:
//! they reveal nothing the caller does not already know, but their times feed the rings.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::rngs::OsRng;
use rand::RngCore;
use tokio::sync::oneshot;
use unicode_normalization::UnicodeNormalization;

use super::ct_eq;
use blocks::Blocks;
use legacy::Legacy;
use timing::{Costs, Kind};

mod blocks;
mod legacy;
mod timing;

/// Inputs longer than this are refused outright (callers enforce 128 chars; this is a backstop so
/// nobody can make us hash megabytes).
pub const MAX_INPUT_BYTES: usize = 4096;
/// Hashes that may wait for a worker, per worker, unless configured (`password_hashing.max_queue`):
/// about 2.5 s of queue at the default cost (~20 ms a hash).
pub const DEFAULT_QUEUE_PER_WORKER: usize = 128;
/// Largest argon2 memory cost (KiB) we will honour in a stored hash: 1 GiB.
pub const MAX_STORED_M_COST: u32 = 1024 * 1024;
/// Largest argon2 time and lane costs we will honour in a stored hash.
const MAX_STORED_T_COST: u32 = 64;
const MAX_STORED_P_COST: u32 = 64;
/// A stored hash longer than this cannot be one we or Better Auth wrote.
const MAX_STORED_LEN: usize = 1024;

const SALT_LEN: usize = 16;
const OUTPUT_LEN: usize = 32;
/// Better Auth's scrypt: N = 2^14, r = 16, p = 1, dkLen = 64.
const SCRYPT_LOG_N: u8 = 14;
const SCRYPT_R: u32 = 16;
const SCRYPT_KEY_LEN: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password input exceeds {MAX_INPUT_BYTES} bytes")]
    TooLong,
    #[error("malformed password hash")]
    Malformed,
    #[error("password hash parameters exceed the allowed cost")]
    TooCostly,
    #[error("password hashing pool is unavailable")]
    Unavailable,
    /// Every worker is busy and `max_queue` hashes already wait: the caller answers 503 at once
    /// instead of queueing without bound (a sign-in flood would otherwise grow memory and every
    /// sign-in's wait).
    #[error("password hashing queue is full")]
    Busy,
    #[error("password hashing failed")]
    Internal,
}

/// Outcome of [`PasswordHasher::verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// The password is right; `needs_rehash` when the stored hash is not argon2id with the
    /// configured parameters (callers should store a fresh [`PasswordHasher::hash`]).
    Match {
        needs_rehash: bool,
    },
    Mismatch,
}

/// Handle to the hashing pool; clones share it. The worker threads exit once every clone is gone.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    jobs: mpsc::Sender<Job>,
    params: Params,
    workers: usize,
    /// Jobs sent and not yet picked up by a worker, and how many may wait.
    waiting: Arc<AtomicUsize>,
    max_queue: AtomicUsize,
    /// What each kind of check costs here (see "Timing" above).
    costs: Costs,
    /// Set once Better Auth's scrypt and the dummy have been timed on this pool.
    calibrated: tokio::sync::OnceCell<()>,
}

/// Counts a job as waiting until a worker starts it (or it is dropped unstarted).
struct Waiting(Arc<AtomicUsize>);
impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = &self.inner.params;
        f.debug_struct("PasswordHasher")
            .field("workers", &self.inner.workers)
            .field("max_queue", &self.inner.max_queue.load(Ordering::Relaxed))
            .field("m_cost", &p.m_cost())
            .field("t_cost", &p.t_cost())
            .field("p_cost", &p.p_cost())
            .finish()
    }
}

type Job = Box<dyn FnOnce(&mut Workspace) + Send>;

impl PasswordHasher {
    /// Starts `workers` (at least 1) hashing threads for argon2id with `memory_kib`, `iterations`
    /// and `parallelism`. Out-of-range parameters are raised to argon2's minimums (logged) rather
    /// than failing, since a too-weak config must not take the server down at startup.
    pub fn new(workers: usize, memory_kib: u32, iterations: u32, parallelism: u32) -> Self {
        Self::with_priority(workers, memory_kib, iterations, parallelism, Priority::Normal)
    }

    /// As [`new`](Self::new), the hashing threads running at `priority`.
    pub fn with_priority(workers: usize, memory_kib: u32, iterations: u32, parallelism: u32, priority: Priority) -> Self {
        let params = configured_params(memory_kib, iterations, parallelism);
        let workers = workers.max(1);
        let (jobs, rx) = mpsc::channel::<Job>();
        // std's receiver is single-consumer; the mutex makes it a shared queue. A worker holds the
        // lock only while waiting, never while hashing.
        let rx = Arc::new(Mutex::new(rx));
        let block_count = params.block_count();
        for i in 0..workers {
            let rx = Arc::clone(&rx);
            let spawned = std::thread::Builder::new().name(format!("portcullis-pwhash-{i}")).spawn(move || {
                priority.apply_to_this_thread();
                worker_loop(&rx, block_count)
            });
            if let Err(e) = spawned {
                // With no worker at all the receiver is dropped and every call returns Unavailable.
                tracing::error!(error = %e, "could not start password hashing thread {i}");
            }
        }
        let max_queue = AtomicUsize::new(DEFAULT_QUEUE_PER_WORKER * workers);
        let inner = Inner {
            jobs,
            params,
            workers,
            waiting: Arc::default(),
            max_queue,
            costs: Costs::default(),
            calibrated: tokio::sync::OnceCell::new(),
        };
        Self { inner: Arc::new(inner) }
    }

    /// At most `max_queue` (at least 1) hashes wait for a worker; beyond that calls fail with
    /// [`PasswordError::Busy`] at once. The default is [`DEFAULT_QUEUE_PER_WORKER`] per worker.
    pub fn with_max_queue(self, max_queue: usize) -> Self {
        self.inner.max_queue.store(max_queue.max(1), Ordering::Relaxed);
        self
    }

    /// Hashes waiting for a worker right now.
    pub fn waiting(&self) -> usize {
        self.inner.waiting.load(Ordering::Relaxed)
    }

    /// Whether a hash queued now would be refused with [`PasswordError::Busy`]: lets a caller
    /// refuse before its own work (a sign-in's database reads). A hint only; the queue decides.
    pub fn is_full(&self) -> bool {
        self.waiting() >= self.inner.max_queue.load(Ordering::Relaxed)
    }

    /// Hashes `password` into an argon2id PHC string with a fresh random 16-byte salt.
    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        check_input(password)?;
        // NFKC like Better Auth, so the accepted spellings of a password never change when a
        // scrypt hash is upgraded to argon2id.
        let pwd = password.nfkc().collect::<String>().into_bytes();
        let params = self.inner.params.clone();
        self.run(move |ws| hash_argon2id(ws, &params, &pwd)).await?
    }

    /// Checks `password` against a stored argon2 PHC string or Better Auth scrypt hash, for an
    /// account the caller already knows exists (not padded: see "Timing" above).
    pub async fn verify(&self, stored: &str, password: &str) -> Result<Verified, PasswordError> {
        check_input(password)?;
        // Parse before queueing: a bad row costs nothing and never occupies a worker.
        let stored = Stored::parse(stored)?;
        let needs_rehash = self.needs_rehash(&stored);
        let (matched, _) = self.timed_match(stored, password).await?;
        Ok(if matched? { Verified::Match { needs_rehash } } else { Verified::Mismatch })
    }

    /// Checks `password` where the account may not exist (`stored` is `None` for an unknown
    /// address or an account without a password): anything but a match takes a time with the same
    /// distribution (see "Timing" above) whether there was a hash, which kind, or an unreadable
    /// one. An unreadable hash answers its error only after its padding.
    pub async fn verify_padded(&self, stored: Option<&str>, password: &str) -> Result<Verified, PasswordError> {
        check_input(password)?;
        let (check, unreadable) = match stored.map(Stored::parse) {
            Some(Ok(s)) => (s, None),
            Some(Err(e)) => (self.dummy(), Some(e)),
            None => (self.dummy(), None),
        };
        let real = stored.is_some() && unreadable.is_none();
        let needs_rehash = self.needs_rehash(&check);
        let kind = check.kind();
        let (matched, took) = self.timed_match(check, password).await?;
        if real && matches!(matched, Ok(true)) {
            return Ok(Verified::Match { needs_rehash });
        }
        // The first check to be padded waits for the calibration; that wait counts towards its padding.
        let waiting = Instant::now();
        self.calibrate_once().await;
        // Its own time is a draw of its kind only if the computation ran (see `timed_match`);
        // otherwise it pads as a check of no kind, to one pick of every kind.
        let own = matched.is_ok().then_some(kind);
        let padding = self.inner.costs.target(own).saturating_sub(took + waiting.elapsed());
        // Even with nothing left to wait this goes through the timer: tokio rounds every deadline
        // up to its next millisecond tick, and that rounding must land on every kind's answer,
        // not only on the padded ones.
        tokio::time::sleep(padding).await;
        if let Some(e) = unreadable {
            return Err(e);
        }
        matched.map(|_| Verified::Mismatch)
    }

    /// Whether a match against `stored` should be re-hashed with the configured algorithm.
    fn needs_rehash(&self, stored: &Stored) -> bool {
        match stored {
            Stored::Argon2 { alg, version, params, hash, .. } => {
                *alg != Algorithm::Argon2id
                    || *version != Version::V0x13
                    || !same_cost(params, &self.inner.params)
                    || hash.len() != OUTPUT_LEN
            }
            Stored::Scrypt { .. } | Stored::Legacy(_) => true,
        }
    }

    /// What a real argon2id verification with the configured parameters computes, against a hash
    /// nobody's password produces; only its cost matters.
    fn dummy(&self) -> Stored {
        Stored::Argon2 {
            alg: Algorithm::Argon2id,
            version: Version::V0x13,
            params: self.inner.params.clone(),
            salt: b"portcullis-dummy".to_vec(),
            hash: vec![0; OUTPUT_LEN],
        }
    }

    /// Runs `stored.matches` on the pool and records its execution time (measured on the worker,
    /// so queue wait is left out) for its kind.
    async fn timed_match(&self, stored: Stored, password: &str) -> Result<(Result<bool, PasswordError>, Duration), PasswordError> {
        let kind = stored.kind();
        // As typed: each kind normalises (or not) as the system that wrote it did.
        let pwd = password.to_string();
        let (matched, took) = self
            .run(move |ws| {
                let start = Instant::now();
                let matched = stored.matches(ws, &pwd);
                (matched, start.elapsed())
            })
            .await?;
        // A hash argon2 refuses fails before doing the work: that time says nothing of the kind.
        if matched.is_ok() {
            self.inner.costs.record(kind, took);
        }
        Ok((matched, took))
    }

    /// Times one Better Auth scrypt computation and one dummy on the pool, once per pool (retried
    /// by the next call if the pool refused them), so that the kinds every deployment can meet have
    /// times to pick from before the first answer is padded, whichever kind its check was.
    async fn calibrate_once(&self) {
        let timed = self.inner.calibrated.get_or_try_init(|| async {
            let probe = Stored::Scrypt { salt: "0".repeat(32), key: vec![0; SCRYPT_KEY_LEN] };
            let _ = self.timed_match(probe, "portcullis-scrypt-probe").await?;
            self.timed_match(self.dummy(), "portcullis-dummy-probe").await.map(|_| ())
        });
        if let Err(e) = timed.await {
            tracing::warn!(error = %e, "could not time scrypt and argon2id for the sign-in timing");
        }
    }

    /// Queues `f` on the pool and awaits its result without blocking the runtime.
    async fn run<T: Send + 'static>(&self, f: impl FnOnce(&mut Workspace) -> T + Send + 'static) -> Result<T, PasswordError> {
        let waiting = &self.inner.waiting;
        if waiting.fetch_add(1, Ordering::Relaxed) >= self.inner.max_queue.load(Ordering::Relaxed) {
            waiting.fetch_sub(1, Ordering::Relaxed);
            return Err(PasswordError::Busy);
        }
        let queued = Waiting(waiting.clone());
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |ws| {
            drop(queued);
            // The request went away (client disconnect, timeout): don't burn a worker on it.
            if !tx.is_closed() {
                let _ = tx.send(f(ws));
            }
        });
        self.inner.jobs.send(job).map_err(|_| PasswordError::Unavailable)?;
        // A dropped sender means the job panicked; the worker survives (see `worker_loop`).
        rx.await.map_err(|_| PasswordError::Unavailable)
    }
}

fn configured_params(memory_kib: u32, iterations: u32, parallelism: u32) -> Params {
    let p = parallelism.clamp(Params::MIN_P_COST, Params::MAX_P_COST);
    let t = iterations.max(Params::MIN_T_COST);
    // argon2 needs at least 8 KiB per lane.
    let m = memory_kib.max(8 * p);
    if (m, t, p) != (memory_kib, iterations, parallelism) {
        tracing::warn!(m, t, p, "argon2 parameters raised to argon2's minimums");
    }
    Params::new(m, t, p, Some(OUTPUT_LEN)).unwrap_or_else(|e| {
        tracing::error!(error = %e, "invalid argon2 parameters; using argon2 defaults");
        Params::DEFAULT
    })
}

fn same_cost(a: &Params, b: &Params) -> bool {
    (a.m_cost(), a.t_cost(), a.p_cost()) == (b.m_cost(), b.t_cost(), b.p_cost()) && a.keyid().is_empty() && a.data().is_empty()
}

fn check_input(password: &str) -> Result<(), PasswordError> {
    if password.len() > MAX_INPUT_BYTES {
        return Err(PasswordError::TooLong);
    }
    Ok(())
}

/// CPU priority of the hashing threads relative to the threads that answer requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// As every other thread: hashing and requests share the cores evenly.
    Normal,
    /// Niceness 19: requests come first, hashing keeps a small guaranteed share under full load.
    Low,
    /// `SCHED_IDLE`: any runnable request thread preempts a hash at once; hashing runs on the
    /// cycles nothing else wants (all of them on a machine that is not saturated).
    #[default]
    Idle,
}

impl std::str::FromStr for Priority {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "normal" => Ok(Self::Normal),
            "low" => Ok(Self::Low),
            "idle" => Ok(Self::Idle),
            _ => Err(format!("expected normal, low or idle, got {s:?}")),
        }
    }
}

impl Priority {
    /// Lowers the calling thread's priority (on Linux, niceness and policy are per thread);
    /// lowering needs no privilege. Elsewhere a no-op.
    fn apply_to_this_thread(self) {
        #[cfg(target_os = "linux")]
        {
            // SAFETY: plain syscalls on the calling thread itself (pid 0 / its own tid).
            let rc = unsafe {
                match self {
                    Priority::Normal => 0,
                    Priority::Low => libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 19),
                    Priority::Idle => {
                        let param = libc::sched_param { sched_priority: 0 };
                        libc::sched_setscheduler(0, libc::SCHED_IDLE, &param)
                    }
                }
            };
            if rc != 0 {
                tracing::warn!(priority = ?self, "could not lower the password hashing threads' priority");
            }
        }
    }
}

fn worker_loop(rx: &Mutex<mpsc::Receiver<Job>>, block_count: usize) {
    let mut ws = Workspace { blocks: None, size: block_count };
    loop {
        // The guard lives only inside the block below, so the lock is released before the job runs.
        // Poisoning cannot leave the receiver inconsistent, so a poisoned lock is still used.
        // A worker holding a buffer waits at most IDLE_RELEASE for work, then gives the buffer
        // back to the OS (workers waiting for the lock follow in turn, so all are freed within
        // `workers` x IDLE_RELEASE of the last hash).
        let next = {
            let rx = rx.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if ws.blocks.is_none() {
                rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected)
            } else {
                rx.recv_timeout(IDLE_RELEASE)
            }
        };
        let job = match next {
            Ok(job) => job,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                ws.blocks = None;
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return, // every PasswordHasher clone is gone
        };
        // A panicking job (a bug) drops its oneshot sender, which the caller sees as Unavailable;
        // the thread lives on so the pool never silently shrinks.
        if catch_unwind(AssertUnwindSafe(|| job(&mut ws))).is_err() {
            tracing::error!("password hashing job panicked");
        }
    }
}

/// How long a worker keeps its argon2 buffer without work before returning it to the OS.
const IDLE_RELEASE: std::time::Duration = std::time::Duration::from_secs(15);

/// A worker's reusable argon2 memory, sized for the configured parameters, allocated on first
/// use (so an idle pool costs no memory) and released after [`IDLE_RELEASE`] without work.
struct Workspace {
    blocks: Option<Blocks>,
    size: usize,
}

impl Workspace {
    fn argon2(&mut self, ctx: &Argon2<'_>, pwd: &[u8], salt: &[u8], out: &mut [u8]) -> argon2::Result<()> {
        let need = ctx.params().block_count();
        if need > self.size {
            // A stored hash costlier than our config (e.g. written before the cost was lowered):
            // a one-off buffer, freed right after; its size is capped by `MAX_STORED_M_COST`.
            return ctx.hash_password_into_with_memory(pwd, salt, out, &mut *Blocks::new(need));
        }
        let blocks = self.blocks.get_or_insert_with(|| Blocks::new(self.size));
        // argon2 overwrites every block it uses, so leftovers from the previous hash are harmless.
        ctx.hash_password_into_with_memory(pwd, salt, out, &mut blocks[..need])
    }
}

fn hash_argon2id(ws: &mut Workspace, params: &Params, pwd: &[u8]) -> Result<String, PasswordError> {
    let mut salt = [0u8; SALT_LEN];
    OsRng.fill_bytes(&mut salt);
    let ctx = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = [0u8; OUTPUT_LEN];
    ws.argon2(&ctx, pwd, &salt, &mut out).map_err(|_| PasswordError::Internal)?;
    let salt = SaltString::encode_b64(&salt).map_err(|_| PasswordError::Internal)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|_| PasswordError::Internal)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|_| PasswordError::Internal)?),
    };
    Ok(phc.to_string())
}

/// A parsed stored hash, owned so it can move to a worker thread.
enum Stored {
    Argon2 {
        alg: Algorithm,
        version: Version,
        params: Params,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    /// Better Auth: the salt is the hex *string's* ASCII bytes, not the decoded bytes.
    Scrypt {
        salt: String,
        key: Vec<u8>,
    },
    /// Another system's hash, kept by an import.
    Legacy(Legacy),
}

/// The format of a stored password hash (`argon2id`, `argon2i`, `argon2d`, `better-auth-scrypt`,
/// `bcrypt`, `pbkdf2`, `django-pbkdf2`, `scrypt`), or why it cannot be verified here: what
/// `portcullis import` checks before it keeps a hash. Runs no hash.
pub fn hash_format(stored: &str) -> Result<&'static str, PasswordError> {
    Ok(match Stored::parse(stored)? {
        Stored::Argon2 { alg, .. } => alg.ident().as_str(),
        Stored::Scrypt { .. } => "better-auth-scrypt",
        Stored::Legacy(l) => l.format(),
    })
}

impl Stored {
    fn kind(&self) -> Kind {
        match self {
            Stored::Argon2 { params, .. } => Kind::Argon2 { m: params.m_cost(), t: params.t_cost(), p: params.p_cost() },
            Stored::Scrypt { .. } => Kind::Scrypt,
            Stored::Legacy(l) => l.kind(),
        }
    }

    fn parse(s: &str) -> Result<Self, PasswordError> {
        if s.len() > MAX_STORED_LEN {
            return Err(PasswordError::Malformed);
        }
        if let Some(legacy) = Legacy::parse(s) {
            legacy.map(Stored::Legacy)
        } else if s.starts_with('$') {
            Self::parse_phc(s)
        } else if let Some((salt, key)) = s.split_once(':') {
            // Better Auth writes 32 lowercase hex chars; any non-empty salt is usable as-is.
            let key = hex::decode(key).map_err(|_| PasswordError::Malformed)?;
            if salt.is_empty() || key.len() != SCRYPT_KEY_LEN {
                return Err(PasswordError::Malformed);
            }
            Ok(Stored::Scrypt { salt: salt.to_owned(), key })
        } else {
            Err(PasswordError::Malformed)
        }
    }

    fn parse_phc(s: &str) -> Result<Self, PasswordError> {
        let phc = PasswordHash::new(s).map_err(|_| PasswordError::Malformed)?;
        let alg = Algorithm::try_from(phc.algorithm).map_err(|_| PasswordError::Malformed)?;
        let version = match phc.version {
            Some(v) => Version::try_from(v).map_err(|_| PasswordError::Malformed)?,
            None => Version::default(),
        };
        let params = Params::try_from(&phc).map_err(|_| PasswordError::Malformed)?;
        if params.m_cost() > MAX_STORED_M_COST || params.t_cost() > MAX_STORED_T_COST || params.p_cost() > MAX_STORED_P_COST {
            return Err(PasswordError::TooCostly);
        }
        let mut buf = [0u8; 64];
        let salt = phc.salt.ok_or(PasswordError::Malformed)?;
        let salt = salt.decode_b64(&mut buf).map_err(|_| PasswordError::Malformed)?.to_vec();
        if salt.len() < argon2::MIN_SALT_LEN {
            return Err(PasswordError::Malformed);
        }
        let hash = phc.hash.ok_or(PasswordError::Malformed)?.as_bytes().to_vec();
        Ok(Stored::Argon2 { alg, version, params, salt, hash })
    }

    /// Recomputes the hash on a worker thread and compares in constant time.
    fn matches(&self, ws: &mut Workspace, password: &str) -> Result<bool, PasswordError> {
        match self {
            Stored::Argon2 { alg, version, params, salt, hash } => {
                let ctx = Argon2::new(*alg, *version, params.clone());
                let mut out = vec![0u8; hash.len()];
                let pwd: String = password.nfkc().collect();
                ws.argon2(&ctx, pwd.as_bytes(), salt, &mut out).map_err(|_| PasswordError::Malformed)?;
                Ok(ct_eq(&out, hash))
            }
            Stored::Scrypt { salt, key } => {
                let params = scrypt::Params::new(SCRYPT_LOG_N, SCRYPT_R, 1, SCRYPT_KEY_LEN).map_err(|_| PasswordError::Internal)?;
                // Better Auth hashes `password.normalize("NFKC")`.
                let pwd: String = password.nfkc().collect();
                let mut out = [0u8; SCRYPT_KEY_LEN];
                scrypt::scrypt(pwd.as_bytes(), salt.as_bytes(), &params, &mut out).map_err(|_| PasswordError::Internal)?;
                Ok(ct_eq(&out, key))
            }
            Stored::Legacy(l) => l.matches(password),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BA_HASH: &str = "0123456789abcdef0123456789abcdef:e8b256b6f9f4b1641136a66d4a26ba41a47b6c8c9bad6aa4145559ffda45ece1f0f16dec8482a3e5545feada0ba62f2b05eeb943b750c9396874e1762c78d27d";
    const BA_NFKC_HASH: &str = "fedcba9876543210fedcba9876543210:75c0346d527b16e3afd6d4f06723c87d56ee32f0f05f6f4010d0530b7960c323015723057d4c40ae5664b8339cacf53a2c34fdff7e9523918c2c8e414ad575db";

    fn small() -> PasswordHasher {
        PasswordHasher::new(2, 1024, 1, 1)
    }

    #[tokio::test]
    async fn better_auth_scrypt_vectors() {
        let h = small();
        assert_eq!(h.verify(BA_HASH, "password123").await.unwrap(), Verified::Match { needs_rehash: true });
        assert_eq!(h.verify(BA_HASH, "password124").await.unwrap(), Verified::Mismatch);
        for pwd in ["Ａｂｃ１２３４５", "Abc12345"] {
            assert_eq!(h.verify(BA_NFKC_HASH, pwd).await.unwrap(), Verified::Match { needs_rehash: true });
        }
        assert_eq!(h.verify(BA_NFKC_HASH, "abc12345").await.unwrap(), Verified::Mismatch);
    }

    #[tokio::test]
    async fn argon2_round_trip() {
        let h = small();
        let phc = h.hash("correct horse").await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{phc}");
        assert_ne!(phc, h.hash("correct horse").await.unwrap(), "salts must differ");
        assert_eq!(h.verify(&phc, "correct horse").await.unwrap(), Verified::Match { needs_rehash: false });
        assert_eq!(h.verify(&phc, "correct horsf").await.unwrap(), Verified::Mismatch);
        // The reference implementation agrees with the pooled one.
        use argon2::PasswordVerifier;
        let parsed = PasswordHash::new(&phc).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse", &parsed).is_ok());
    }

    #[tokio::test]
    async fn other_params_verify_and_ask_for_rehash() {
        let stronger = PasswordHasher::new(1, 2048, 2, 1);
        let phc = stronger.hash("pw").await.unwrap();
        // Bigger than the small pool's buffer: verified with a one-off allocation.
        let h = small();
        assert_eq!(h.verify(&phc, "pw").await.unwrap(), Verified::Match { needs_rehash: true });
        assert_eq!(h.verify(&phc, "px").await.unwrap(), Verified::Mismatch);
        // Smaller than the buffer: reuses it.
        assert_eq!(stronger.verify(&h.hash("pw").await.unwrap(), "pw").await.unwrap(), Verified::Match { needs_rehash: true });
        // An argon2i hash from the reference implementation.
        use argon2::PasswordHasher as _;
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::new(1024, 1, 1, None).unwrap());
        let phc = argon2i.hash_password(b"pw", &salt).unwrap().to_string();
        assert_eq!(h.verify(&phc, "pw").await.unwrap(), Verified::Match { needs_rehash: true });
    }

    #[tokio::test]
    async fn default_params_round_trip() {
        let h = PasswordHasher::new(1, 19456, 2, 1);
        let phc = h.hash("password123").await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert_eq!(h.verify(&phc, "password123").await.unwrap(), Verified::Match { needs_rehash: false });
        assert_eq!(h.verify_padded(None, "password123").await.unwrap(), Verified::Mismatch);
        assert_eq!(h.verify_padded(Some(&phc), "password123").await.unwrap(), Verified::Match { needs_rehash: false });
    }

    #[tokio::test]
    async fn malformed_hashes_error() {
        let h = small();
        for bad in [
            "",
            "nope",
            "$argon2id$",
            "$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$",
            "$argon2id$v=19$m=1024,t=1,p=1$$aGFzaGhhc2hoYXNo",
            "$bcrypt$v=1$x$y",
            "$2b$10$abcdefghijklmnopqrstuu5Zb4c8Eo3xC7vx0kCYkq1PJq",
            "0123456789abcdef0123456789abcdef:",
            ":e8b256b6f9f4b1641136a66d4a26ba41a47b6c8c9bad6aa4145559ffda45ece1f0f16dec8482a3e5545feada0ba62f2b05eeb943b750c9396874e1762c78d27d",
            "0123456789abcdef0123456789abcdef:zz",
            "0123456789abcdef0123456789abcdef:e8b2",
        ] {
            assert!(matches!(h.verify(bad, "pw").await, Err(PasswordError::Malformed)), "{bad:?}");
        }
        let huge = "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA";
        assert!(matches!(h.verify(huge, "pw").await, Err(PasswordError::TooCostly)));
        assert!(matches!(h.verify(&"a".repeat(5000), "pw").await, Err(PasswordError::Malformed)));
    }

    #[tokio::test]
    async fn oversized_input_is_refused() {
        let h = small();
        let long = "x".repeat(MAX_INPUT_BYTES + 1);
        assert!(matches!(h.hash(&long).await, Err(PasswordError::TooLong)));
        assert!(matches!(h.verify(BA_HASH, &long).await, Err(PasswordError::TooLong)));
        assert!(matches!(h.verify_padded(None, &long).await, Err(PasswordError::TooLong)));
        assert!(h.hash(&"x".repeat(MAX_INPUT_BYTES)).await.is_ok());
    }

    /// Time of `f`'s future, the shortest of `n` runs (a busy machine only makes a run longer).
    async fn fastest<F: std::future::Future>(n: usize, mut f: impl FnMut() -> F) -> Duration {
        let mut best = Duration::MAX;
        for _ in 0..n {
            let t = Instant::now();
            f().await;
            best = best.min(t.elapsed());
        }
        best
    }

    #[tokio::test]
    async fn padded_checks_cost_what_the_costliest_kind_costs() {
        // Small argon2 parameters: an argon2id check is many times cheaper than Better Auth's scrypt.
        let h = small();
        // Before any scrypt hash was seen: the first check already waits for scrypt's cost.
        let unknown_first = fastest(1, || h.verify_padded(None, "password123")).await;
        let scrypt = fastest(3, || async { assert_eq!(h.verify_padded(Some(BA_HASH), "wrong").await.unwrap(), Verified::Mismatch) }).await;
        let unknown = fastest(3, || async { assert_eq!(h.verify_padded(None, "password123").await.unwrap(), Verified::Mismatch) }).await;
        let argon2 = h.hash("password123").await.unwrap();
        let wrong = fastest(3, || async { assert_eq!(h.verify_padded(Some(&argon2), "wrong").await.unwrap(), Verified::Mismatch) }).await;
        let unreadable =
            fastest(3, || async { assert!(matches!(h.verify_padded(Some("nope"), "pw").await, Err(PasswordError::Malformed))) }).await;
        // Each padded answer waits for one scrypt time the pool measured (a pick of its ring), so it
        // takes at least the shortest of them, however loaded the machine was when each ran: compared
        // with times measured here instead, a quiet moment for the calibration and a busy one for the
        // scrypt checks above would fail this on a loaded machine (CI) without any fault in the padding.
        let floor = h.inner.costs.shortest(Kind::Scrypt).expect("scrypt was timed");
        for (what, t) in [("first unknown", unknown_first), ("unknown", unknown), ("argon2 mismatch", wrong), ("unreadable", unreadable)] {
            assert!(t >= floor, "{what} took {t:?}, the fastest scrypt check {floor:?}");
        }
        // And that floor is scrypt's, not argon2's: with these parameters scrypt costs several times more.
        let own = h.inner.costs.shortest(h.dummy().kind()).expect("argon2 was timed");
        assert!(floor > 2 * own, "scrypt {floor:?}, argon2 {own:?}");
        assert!(scrypt >= floor, "a scrypt check took {scrypt:?}, under its own fastest time {floor:?}");
        // A match is answered as soon as it is known, and still asks for the upgrade.
        assert_eq!(h.verify_padded(Some(BA_HASH), "password123").await.unwrap(), Verified::Match { needs_rehash: true });
        assert_eq!(h.verify_padded(Some(&argon2), "password123").await.unwrap(), Verified::Match { needs_rehash: false });
        assert!(h.inner.costs.target(None) > Duration::ZERO);
    }

    #[tokio::test]
    async fn matches_never_wait_for_the_scrypt_timing() {
        let h = small();
        let phc = h.hash("pw").await.unwrap();
        assert_eq!(h.verify_padded(Some(&phc), "pw").await.unwrap(), Verified::Match { needs_rehash: false });
        assert!(!h.inner.calibrated.initialized(), "no scrypt (32 MiB) while every sign-in succeeds");
        assert_eq!(h.verify_padded(Some(&phc), "px").await.unwrap(), Verified::Mismatch);
        assert!(h.inner.calibrated.initialized(), "timed at the first check to be padded");
    }

    #[tokio::test]
    async fn burst_queues_on_two_workers() {
        let h = small();
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let h = h.clone();
                tokio::spawn(async move {
                    let pwd = format!("password-{i}");
                    let phc = h.hash(&pwd).await.unwrap();
                    h.verify(&phc, &pwd).await.unwrap()
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), Verified::Match { needs_rehash: false });
        }
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_recovers() {
        // One worker held by a job that waits for a signal, and room for two more.
        let h = PasswordHasher::new(1, 1024, 1, 1).with_max_queue(2);
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = oneshot::channel::<()>();
        let blocker = {
            let h = h.clone();
            tokio::spawn(async move {
                h.run(move |_| {
                    let _ = started_tx.send(());
                    hold.recv().ok()
                })
                .await
            })
        };
        started.await.unwrap();
        let queued: Vec<_> = (0..2)
            .map(|i| {
                let h = h.clone();
                tokio::spawn(async move { h.hash(&format!("queued-{i}")).await })
            })
            .collect();
        while h.waiting() < 2 {
            tokio::task::yield_now().await;
        }
        assert!(h.is_full());
        assert!(matches!(h.hash("one too many").await, Err(PasswordError::Busy)));
        assert!(matches!(h.verify(BA_HASH, "password123").await, Err(PasswordError::Busy)));
        assert!(matches!(h.verify_padded(None, "x").await, Err(PasswordError::Busy)));
        assert_eq!(h.waiting(), 2, "refused calls leave no trace");
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        for q in queued {
            assert!(q.await.unwrap().is_ok(), "the queued hashes still run");
        }
        assert_eq!(h.waiting(), 0);
        assert!(!h.is_full());
        assert!(h.hash("room again").await.is_ok());
    }

    #[tokio::test]
    async fn zero_and_tiny_params_are_clamped() {
        let h = PasswordHasher::new(0, 0, 0, 0);
        let phc = h.hash("pw").await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=8,t=1,p=1$"), "{phc}");
        assert!(matches!(h.verify(&phc, "pw").await, Ok(Verified::Match { needs_rehash: false })));
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_at_the_configured_priority() {
        let idle = PasswordHasher::with_priority(1, 1024, 1, 1, Priority::Idle);
        // SAFETY: reads the calling (worker) thread's own scheduling settings.
        assert_eq!(idle.run(|_| unsafe { libc::sched_getscheduler(0) }).await.unwrap(), libc::SCHED_IDLE);
        let low = PasswordHasher::with_priority(1, 1024, 1, 1, Priority::Low);
        let nice = low.run(|_| unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }).await.unwrap();
        assert_eq!(nice, 19);
        assert_eq!(small().run(|_| unsafe { libc::sched_getscheduler(0) }).await.unwrap(), libc::SCHED_OTHER);
        assert_eq!("idle".parse::<Priority>(), Ok(Priority::Idle));
        assert!("lowest".parse::<Priority>().is_err());
    }
}
