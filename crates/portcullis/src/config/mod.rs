//! One typed configuration, loaded from a TOML file and then from environment variables.
//!
//! Environment variables use Better Auth's names where Better Auth has one (`BETTER_AUTH_SECRET`,
//! `AUTH_SECRET`, `BETTER_AUTH_SECRETS`, `BETTER_AUTH_URL`, `BETTER_AUTH_TRUSTED_ORIGINS`,
//! `DATABASE_URL`) and `PORTCULLIS_*` otherwise. Defaults are Better Auth's, so an app moving from
//! Better Auth sees the same behaviour unless it asks for a difference.
//!
//! This module owns parsing and validation only; it never reads the clock or touches the network.

mod introspect;
pub mod metrics;
pub mod sections;

pub use metrics::MetricsConfig;
pub use sections::{Section, SectionSpec, Sections};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Better Auth's built-in development secret. Refused in production mode.
pub const DEV_SECRET: &str = "better-auth-secret-12345678901234567890";
/// Minimum secret length accepted in production mode.
pub const MIN_SECRET_LEN: usize = 32;

fn background_default() -> bool {
    true
}

/// The core configuration. Unknown keys are refused: a top-level table that is not a core key
/// goes to [`Sections`], where a capability must claim it when the engine is built.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Public URL of the server (e.g. `https://auth.example.com`); the base path is appended when it
    /// has no path of its own. Without it, the base URL is derived from `listen`.
    pub base_url: Option<String>,
    pub base_path: String,
    pub app_name: String,
    /// Production mode: rate limiting on, secure cookies, a real secret required.
    pub production: bool,
    pub listen: SocketAddr,
    /// The current signing secret (`BETTER_AUTH_SECRET` / `AUTH_SECRET`).
    pub secret: Option<String>,
    /// Secret rotation, `BETTER_AUTH_SECRETS` format `"<version>:<secret>,..."`; the first is current.
    pub secrets: Option<String>,
    pub database_url: String,
    /// The connection pool on `database_url` (`[database]`).
    pub database: DatabaseConfig,
    /// Run `migrate` before serving.
    pub migrate_on_start: bool,
    /// Start the capabilities' background work ([`Capability::on_start`](crate::app::Capability::on_start):
    /// audit-log pruning, webhook delivery) once the engine is built. Not a configuration key: the
    /// one-shot commands (`migrate`, `import`, `admin`) turn it off, so that they neither touch
    /// tables they have not created yet nor lease webhook deliveries they would not finish.
    #[serde(skip, default = "background_default")]
    pub background: bool,
    pub trusted_origins: Vec<String>,
    pub session: SessionConfig,
    pub email_and_password: EmailPasswordConfig,
    pub email_verification: EmailVerificationConfig,
    pub user: UserConfig,
    pub rate_limit: RateLimitConfig,
    pub advanced: AdvancedConfig,
    pub mail: MailConfig,
    pub schema: SchemaConfig,
    pub password_hashing: PasswordHashingConfig,
    /// Connection limits and timeouts of the standalone server (`[server]`).
    pub server: ServerConfig,
    /// Better Auth's `secondaryStorage` (Redis): sessions, active-session lists and rate-limit
    /// counters shared by every instance. `REDIS_URL` sets it from the environment.
    pub secondary_storage: Option<SecondaryStorageConfig>,
    /// The Prometheus endpoint (`[metrics]`, off by default).
    pub metrics: MetricsConfig,
    /// The capabilities' own sections (`[social]`, `[jwt]`, `[bearer]`, ...), parsed by them:
    /// [`Config::section`] reads one, [`Config::section_mut`] changes one in code.
    #[serde(skip)]
    pub sections: Sections,
}

/// `secondary_storage = { url = "redis://127.0.0.1:6379", prefix = "better-auth:" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecondaryStorageConfig {
    /// `redis://[user:pass@]host:port[/db]`, `rediss://…`, or `memory://` (in-process).
    pub url: String,
    /// Prepended to every key; `@better-auth/redis-storage`'s default, so both can share a Redis.
    pub prefix: String,
    /// Upper bound on one storage call, in milliseconds; a slower Redis counts as down.
    pub timeout_ms: u64,
}
impl Default for SecondaryStorageConfig {
    fn default() -> Self {
        Self { url: "redis://127.0.0.1:6379".into(), prefix: "better-auth:".into(), timeout_ms: 250 }
    }
}

/// `[database]`: the connection pool on `database_url`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// How long a request waits for a database connection (PostgreSQL) before it is answered
    /// 503 `DATABASE_UNAVAILABLE` with `Retry-After`: while the database is down or restarting,
    /// requests fail within this bound instead of hanging.
    pub acquire_timeout_ms: u64,
    /// Connections in the pool (SQLite uses at most 8).
    pub max_connections: u32,
}
impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { acquire_timeout_ms: 1000, max_connections: 10 }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            base_url: None,
            base_path: "/api/auth".into(),
            app_name: "Portcullis".into(),
            production: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            secret: None,
            secrets: None,
            database_url: "sqlite://portcullis.db?mode=rwc".into(),
            database: DatabaseConfig::default(),
            migrate_on_start: true,
            background: true,
            trusted_origins: Vec::new(),
            session: SessionConfig::default(),
            email_and_password: EmailPasswordConfig::default(),
            email_verification: EmailVerificationConfig::default(),
            user: UserConfig::default(),
            rate_limit: RateLimitConfig::default(),
            advanced: AdvancedConfig::default(),
            mail: MailConfig::default(),
            schema: SchemaConfig::default(),
            password_hashing: PasswordHashingConfig::default(),
            server: ServerConfig::default(),
            secondary_storage: None,
            metrics: MetricsConfig::default(),
            sections: Sections::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionConfig {
    /// Seconds a session lives (Better Auth: 7 days).
    pub expires_in: u64,
    /// Seconds between sliding refreshes (1 day); 0 refreshes on every request.
    pub update_age: u64,
    /// Seconds a session counts as fresh for sensitive actions (1 day); 0 disables the check.
    pub fresh_age: u64,
    pub disable_session_refresh: bool,
    pub cookie_cache: CookieCacheConfig,
    /// With secondary storage: also write sessions to the database, and fall back to it when a
    /// session is not in secondary storage (or secondary storage is down). Better Auth's default,
    /// false, keeps sessions only in secondary storage. Without secondary storage sessions are
    /// always in the database.
    pub store_session_in_database: bool,
    /// With `store_session_in_database`: a revoked session's row is kept (its `expiresAt` set to
    /// now) instead of deleted, and a session missing from secondary storage is not looked up in
    /// the database.
    pub preserve_session_in_database: bool,
    /// Better Auth's `session.additionalFields`: extra session columns, in wire order.
    pub additional_fields: crate::fields::FieldSet,
}
impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            expires_in: 604_800,
            update_age: 86_400,
            fresh_age: 86_400,
            disable_session_refresh: false,
            cookie_cache: CookieCacheConfig::default(),
            store_session_in_database: false,
            preserve_session_in_database: false,
            additional_fields: Default::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CookieCacheStrategy {
    Compact,
    Jwt,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CookieCacheConfig {
    pub enabled: bool,
    /// Seconds a cached session is trusted without a database read (Better Auth: 300).
    /// This is the documented bound on how long a revoked session can still be served from a cookie.
    pub max_age: u64,
    pub strategy: CookieCacheStrategy,
    pub version: String,
    /// With secondary storage: a cookie-cache hit is still checked against secondary storage (one
    /// MGET of the session key and the user's revoked-before marker, no database access), so a
    /// revoked session is refused at once instead of for up to `max_age` seconds. Costs one Redis
    /// round trip per cached read. Without secondary storage it has no effect (a startup warning).
    pub revocation_check: bool,
}
impl Default for CookieCacheConfig {
    fn default() -> Self {
        Self { enabled: false, max_age: 300, strategy: CookieCacheStrategy::Compact, version: "1".into(), revocation_check: false }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailPasswordConfig {
    pub enabled: bool,
    pub disable_sign_up: bool,
    pub min_password_length: usize,
    pub max_password_length: usize,
    pub auto_sign_in: bool,
    pub require_email_verification: bool,
    /// Whether password reset e-mails are sent (Better Auth: enabled when `sendResetPassword` is set).
    pub reset_password_enabled: bool,
    pub reset_password_token_expires_in: u64,
    pub revoke_sessions_on_password_reset: bool,
}
impl Default for EmailPasswordConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            disable_sign_up: false,
            min_password_length: 8,
            max_password_length: 128,
            auto_sign_in: true,
            require_email_verification: false,
            reset_password_enabled: true,
            reset_password_token_expires_in: 3600,
            revoke_sessions_on_password_reset: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailVerificationConfig {
    /// Whether verification e-mails can be sent at all (Better Auth: `sendVerificationEmail` set).
    pub enabled: bool,
    /// Defaults to `require_email_verification`.
    pub send_on_sign_up: Option<bool>,
    pub send_on_sign_in: bool,
    pub auto_sign_in_after_verification: bool,
    pub expires_in: u64,
}
impl Default for EmailVerificationConfig {
    fn default() -> Self {
        Self { enabled: true, send_on_sign_up: None, send_on_sign_in: false, auto_sign_in_after_verification: false, expires_in: 3600 }
    }
}

/// Every switch is off by default, as in Better Auth (change-email included).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserConfig {
    pub change_email_enabled: bool,
    pub update_email_without_verification: bool,
    /// Ask the current (verified) address to confirm a change before mailing the new one
    /// (Better Auth's `sendChangeEmailConfirmation`). Off by default, as in Better Auth.
    pub change_email_confirmation: bool,
    pub delete_user_enabled: bool,
    /// Confirm `delete-user` by e-mail (Better Auth's `sendDeleteAccountVerification`): the
    /// `delete-account` message carries a link to `GET /delete-user/callback`.
    pub delete_user_verification: bool,
    /// Seconds a deletion link stays valid (Better Auth's `deleteTokenExpiresIn`; 1 day).
    pub delete_token_expires_in: Option<u64>,
    /// Better Auth's `user.additionalFields`: extra user columns, in wire order
    /// (`[user.additional_fields.theme]` with `type = "string"`, ...; see `fields::FieldDef`).
    pub additional_fields: crate::fields::FieldSet,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitRule {
    /// A path relative to the base path; `*` matches any characters.
    pub path: String,
    pub window: u64,
    pub max: u64,
    /// `false` turns limiting off for that path.
    #[serde(default = "yes")]
    pub enabled: bool,
}
fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Defaults to `production`.
    pub enabled: Option<bool>,
    pub window: u64,
    pub max: u64,
    pub custom_rules: Vec<RateLimitRule>,
    /// Where counters live. Defaults to `secondary-storage` when secondary storage is configured,
    /// else `memory` (Better Auth's rule); `database` uses the `rateLimit` table.
    pub storage: Option<RateLimitStorage>,
    /// What a request gets when its counter cannot be read or written (Redis or the database
    /// failing, or a database counter too contended): `allow` lets it through uncounted, `deny`
    /// answers `503 RATE_LIMIT_UNAVAILABLE`. Unset: deny on the sign-in, sign-up, password and
    /// verification paths (where the limit is what stops guessing and mail bombing), allow
    /// elsewhere. Better Auth always allows.
    pub on_storage_error: Option<OnStorageError>,
    /// The limit on messages to one address (e-mail or phone), whatever the client's IP.
    pub per_address: PerAddressLimit,
}
impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: None,
            window: 10,
            max: 100,
            custom_rules: Vec::new(),
            storage: None,
            on_storage_error: None,
            per_address: PerAddressLimit::default(),
        }
    }
}

/// `[rate_limit.per_address]`: at most `max` e-mails or text messages to one address per `window`
/// seconds (debounced, like every rule), counted on every instance that shares the rate-limit
/// storage. Beyond it a message is not sent and the answer does not change, so the limit reveals
/// nothing about which addresses have accounts. A Portcullis addition; Better Auth limits per IP
/// only, which a sender with many addresses gets around.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PerAddressLimit {
    /// Defaults to `rate_limit.enabled` (on in production).
    pub enabled: Option<bool>,
    pub window: u64,
    pub max: u64,
}
impl Default for PerAddressLimit {
    fn default() -> Self {
        Self { enabled: None, window: 3600, max: 10 }
    }
}

/// `rate_limit.on_storage_error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnStorageError {
    Allow,
    Deny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RateLimitStorage {
    Memory,
    SecondaryStorage,
    Database,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdvancedConfig {
    pub cookie_prefix: String,
    /// Defaults to: base URL is https, else production mode.
    pub use_secure_cookies: Option<bool>,
    pub disable_csrf_check: bool,
    pub disable_origin_check: bool,
    pub ip_address_headers: Vec<String>,
    pub disable_ip_tracking: bool,
    /// IPs or CIDRs of the proxies in front of the server. Proxy headers are read only from a TCP
    /// peer in this list, and these hops are skipped when walking the chain. `None` (unset) means
    /// loopback only; an empty list trusts no proxy (headers are never read).
    pub trusted_proxies: Option<Vec<String>>,
    /// Mask applied to IPv6 addresses stored on sessions and used for rate limiting.
    pub ipv6_subnet: u8,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Better Auth's `crossSubDomainCookies`: every auth cookie gets `Domain=<domain>`.
    pub cross_sub_domain_cookies: CrossSubDomainCookies,
    /// Better Auth's `defaultCookieAttributes`: applied to every auth cookie.
    pub default_cookie_attributes: CookieAttributes,
    /// Better Auth's `cookies`: per-cookie name and attributes, keyed by the cookie's short name
    /// (`session_token`, `session_data`, `dont_remember`, `state`).
    pub cookies: BTreeMap<String, CookieOverride>,
    /// Better Auth's `advanced.database`.
    pub database: DatabaseOptions,
}

/// `[advanced.cross_sub_domain_cookies]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrossSubDomainCookies {
    pub enabled: bool,
    /// Defaults to the host of the base URL.
    pub domain: Option<String>,
    /// Accepted for compatibility; Better Auth 1.7 declares it but never reads it.
    pub additional_cookies: Vec<String>,
}

/// Better Auth's (better-call's) `CookieOptions`, every attribute optional: unset ones keep what
/// an earlier layer decided.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CookieAttributes {
    pub same_site: Option<SameSite>,
    pub secure: Option<bool>,
    pub http_only: Option<bool>,
    pub path: Option<String>,
    pub domain: Option<String>,
    /// Seconds; at most 400 days.
    pub max_age: Option<u64>,
    pub partitioned: Option<bool>,
}

/// `advanced.cookies.<name>`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CookieOverride {
    /// Replaces `<cookie_prefix>.<name>` (the `__Secure-` prefix is still added).
    pub name: Option<String>,
    pub attributes: CookieAttributes,
}

/// The `SameSite` attribute; Better Auth accepts either case and writes it capitalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    Strict,
    Lax,
    None,
}
impl SameSite {
    pub fn as_str(self) -> &'static str {
        match self {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
        }
    }
}
impl<'de> Deserialize<'de> for SameSite {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.to_ascii_lowercase().as_str() {
            "strict" => Ok(SameSite::Strict),
            "lax" => Ok(SameSite::Lax),
            "none" => Ok(SameSite::None),
            _ => Err(serde::de::Error::custom(format!("same_site {s:?}: expected \"strict\", \"lax\" or \"none\""))),
        }
    }
}

/// `[advanced.database]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseOptions {
    pub generate_id: GenerateId,
}

/// Better Auth's `advanced.database.generateId`: how row ids are made. Session tokens are not ids
/// and are always random.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GenerateId {
    /// 32 random `[A-Za-z0-9]` characters (Better Auth's default).
    #[default]
    Random,
    /// `"uuid"`: a random UUID (v4); on PostgreSQL the id columns are `uuid`.
    Uuid,
    /// `"serial"`: integer ids made by the database (refused by `validate` for now).
    Serial,
    /// `false`: ids made by the database (refused by `validate` for now).
    Database,
}
impl<'de> Deserialize<'de> for GenerateId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Flag(bool),
            Name(String),
        }
        match Raw::deserialize(d)? {
            Raw::Flag(false) => Ok(GenerateId::Database),
            Raw::Name(n) if n == "uuid" => Ok(GenerateId::Uuid),
            Raw::Name(n) if n == "serial" => Ok(GenerateId::Serial),
            _ => Err(serde::de::Error::custom(
                "generate_id: expected \"uuid\", \"serial\" or false (leave it out for Better Auth's random ids)",
            )),
        }
    }
}

impl Default for AdvancedConfig {
    fn default() -> Self {
        Self {
            cookie_prefix: "better-auth".into(),
            use_secure_cookies: None,
            disable_csrf_check: false,
            disable_origin_check: false,
            ip_address_headers: vec!["x-forwarded-for".into()],
            disable_ip_tracking: false,
            trusted_proxies: None,
            ipv6_subnet: 64,
            max_body_bytes: 64 * 1024,
            cross_sub_domain_cookies: CrossSubDomainCookies::default(),
            default_cookie_attributes: CookieAttributes::default(),
            cookies: BTreeMap::new(),
            database: DatabaseOptions::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    pub from: String,
    /// `smtp://user:pass@host:587` (STARTTLS), `smtps://...:465` (TLS) or `smtp+plain://` (no TLS,
    /// local relays only). Without it, development mode writes mail to the outbox.
    pub smtp_url: Option<String>,
    /// JSON-lines file the development outbox appends to.
    pub outbox_file: Option<PathBuf>,
    /// Serve the outbox at `/__outbox?to=EMAIL`. Defaults to on outside production, when no SMTP is set.
    pub dev_outbox: Option<bool>,
    /// Allow `dev_outbox` on a listen address other than loopback (a private development network).
    pub dev_outbox_allow_remote: bool,
    /// `[mail.templates.<message>]` and `[mail.templates.layout]`: template files replacing the
    /// built-in ones (see [`crate::mail::templates`]). Message names are checked when the engine
    /// is built, since capabilities register them.
    pub templates: std::collections::BTreeMap<String, TemplateFiles>,
}

/// Files, each a template (Jinja syntax), replacing parts of one message or of the layout. A
/// relative path is relative to the directory of the configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TemplateFiles {
    /// The subject (messages only).
    pub subject: Option<PathBuf>,
    /// The plain-text body.
    pub text: Option<PathBuf>,
    /// The HTML body; every value in it is HTML-escaped.
    pub html: Option<PathBuf>,
}

impl MailConfig {
    /// Makes the relative template paths relative to `dir` (the configuration file's directory).
    fn resolve_paths(&mut self, dir: &Path) {
        for files in self.templates.values_mut() {
            for path in [&mut files.subject, &mut files.text, &mut files.html].into_iter().flatten() {
                if path.is_relative() {
                    *path = dir.join(&*path);
                }
            }
        }
    }
}
impl Default for MailConfig {
    fn default() -> Self {
        Self {
            from: "Portcullis <no-reply@localhost>".into(),
            smtp_url: None,
            outbox_file: None,
            dev_outbox: None,
            dev_outbox_allow_remote: false,
            templates: Default::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NamingStyle {
    /// Better Auth's Kysely/Prisma layout: `"emailVerified"`.
    #[default]
    CamelCase,
    /// Drizzle's default: `email_verified`.
    SnakeCase,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct SchemaConfig {
    pub naming: NamingStyle,
    /// Plural table names (`users`, `sessions`, ...), as Prisma/Drizzle `usePlural`.
    pub plural: bool,
    /// Explicit renames, `"user" = "app_users"`, `"user.emailVerified" = "verified"`.
    pub rename: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordHashingConfig {
    /// Concurrent argon2 hashes (each holds `memory_kib` of memory). Defaults to the core count.
    pub workers: Option<usize>,
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    /// CPU priority of the hashing threads against request handling (Linux; elsewhere `normal`).
    /// The default, `idle`, lets any request preempt a hash, so session checks stay fast while
    /// sign-ins run; hashing still gets every cycle nothing else wants. See BENCHMARKS.md.
    pub priority: crate::crypto::password::Priority,
    /// Hashes that may wait for a worker (default 128 per worker). Beyond it a sign-in, sign-up or
    /// password check answers 503 `SERVER_BUSY` with `Retry-After` at once instead of queueing.
    pub max_queue: Option<usize>,
}
impl Default for PasswordHashingConfig {
    fn default() -> Self {
        // OWASP's argon2id recommendation: m=19 MiB, t=2, p=1.
        Self { workers: None, memory_kib: 19 * 1024, iterations: 2, parallelism: 1, priority: Default::default(), max_queue: None }
    }
}

/// `[server]`: what a slow or greedy client may hold. Durations in seconds; `0` turns a timeout
/// off (don't, on a public server).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// A request's headers must be complete this long after the connection opened or after the
    /// previous response (a slowloris client is cut off here).
    pub header_read_timeout: u64,
    /// A request's body must be complete this long after its headers (408 otherwise).
    pub body_read_timeout: u64,
    /// Longest a request may take from its headers to the answer (503 otherwise); body included.
    pub request_timeout: u64,
    /// An idle keep-alive connection is closed after this long without a request (at most
    /// `header_read_timeout`, which also bounds the wait for the next request's headers).
    pub keep_alive_timeout: u64,
    /// Open connections at most; further clients wait in the listen backlog until one closes.
    pub max_connections: usize,
    /// Open connections from one client address (IPv6 per `advanced.ipv6_subnet`) at most; more
    /// are closed at once. Trusted proxies are not counted.
    pub max_connections_per_ip: usize,
    /// Largest request head (request line and headers), in bytes; larger gets a 431.
    pub max_header_bytes: usize,
    /// On SIGTERM/SIGINT, how long open requests may take to finish before the server exits.
    pub shutdown_grace: u64,
    /// Give every request an id (its `x-request-id` when sane, else a new one) that each of its
    /// log lines carries and its answer echoes in `x-request-id`. Off by default (it costs every
    /// request a span); `portcullis serve` turns it on with `PORTCULLIS_LOG_FORMAT=json`.
    pub request_ids: bool,
}
impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: 10,
            body_read_timeout: 10,
            request_timeout: 30,
            keep_alive_timeout: 5,
            max_connections: 4096,
            max_connections_per_ip: 256,
            max_header_bytes: 16 * 1024,
            shutdown_grace: 10,
            request_ids: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("invalid config file {0}: {1}")]
    Parse(PathBuf, String),
    #[error("invalid environment variable {0}: {1}")]
    Env(&'static str, String),
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Loads `path` (if given), then applies the environment.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut cfg = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| ConfigError::Read(p.into(), e))?;
                let mut cfg = Config::from_toml(&text).map_err(|e| ConfigError::Parse(p.into(), e))?;
                cfg.mail.resolve_paths(p.parent().unwrap_or(Path::new("")));
                cfg
            }
            None => Config::default(),
        };
        cfg.apply_env(|k| std::env::var(k).ok())?;
        Ok(cfg)
    }

    /// Parses a configuration file's text: core keys into the typed fields (errors keep their
    /// line), every other top-level key into [`Sections`] for the capabilities.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        let core = introspect::fields::<Config>();
        let raw = table.into_iter().filter(|(k, _)| !core.contains(&k.as_str())).collect();
        let mut cfg: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        cfg.sections = Sections::from_raw(raw);
        Ok(cfg)
    }

    /// A capability's section, as parsed when the engine was built (see [`Sections::get`]).
    pub fn section<T: Section>(&self) -> &T {
        self.sections.get()
    }
    /// A capability's section to change in code before the engine is built.
    pub fn section_mut<T: Section>(&mut self) -> Result<&mut T, ConfigError> {
        self.sections.get_mut()
    }

    /// Applies environment variables read through `get` (a parameter so tests need no global state).
    /// The capabilities' sections read theirs through the same `get` when they are parsed.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Result<(), ConfigError> {
        let get: sections::EnvSource = std::sync::Arc::new(move |k: &str| get(k).filter(|v| !v.is_empty()));
        self.sections.set_env(get.clone());
        if let Some(s) = get("BETTER_AUTH_SECRET").or_else(|| get("AUTH_SECRET")) {
            self.secret = Some(s);
        }
        if let Some(s) = get("BETTER_AUTH_SECRETS") {
            self.secrets = Some(s);
        }
        for k in ["BETTER_AUTH_URL", "NEXT_PUBLIC_BETTER_AUTH_URL", "PUBLIC_BETTER_AUTH_URL", "NUXT_PUBLIC_BETTER_AUTH_URL"] {
            if let Some(u) = get(k) {
                self.base_url = Some(u);
                break;
            }
        }
        if let Some(u) = get("DATABASE_URL") {
            self.database_url = u;
        }
        if let Some(v) = get("PORTCULLIS_DATABASE_ACQUIRE_TIMEOUT_MS") {
            self.database.acquire_timeout_ms =
                v.parse().map_err(|e| ConfigError::Env("PORTCULLIS_DATABASE_ACQUIRE_TIMEOUT_MS", format!("{e}")))?;
        }
        if let Some(o) = get("BETTER_AUTH_TRUSTED_ORIGINS") {
            // Better Auth splits on "," without trimming; we trim, since a space can never be part of an origin.
            self.trusted_origins.extend(o.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()));
        }
        if let Some(v) = get("NODE_ENV") {
            if v == "production" {
                self.production = true;
            }
        }
        if let Some(v) = get("PORTCULLIS_PRODUCTION") {
            self.production = parse_bool("PORTCULLIS_PRODUCTION", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_LISTEN") {
            self.listen = v.parse().map_err(|e| ConfigError::Env("PORTCULLIS_LISTEN", format!("{e}")))?;
        }
        if let Some(v) = get("PORT") {
            let port: u16 = v.parse().map_err(|e| ConfigError::Env("PORT", format!("{e}")))?;
            self.listen.set_port(port);
        }
        if let Some(v) = get("PORTCULLIS_RATE_LIMIT") {
            self.rate_limit.enabled = Some(parse_bool("PORTCULLIS_RATE_LIMIT", &v)?);
        }
        if let Some(v) = get("PORTCULLIS_COOKIE_CACHE") {
            self.session.cookie_cache.enabled = parse_bool("PORTCULLIS_COOKIE_CACHE", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_MIGRATE") {
            self.migrate_on_start = parse_bool("PORTCULLIS_MIGRATE", &v)?;
        }
        if let Some(v) = get("SMTP_URL") {
            self.mail.smtp_url = Some(v);
        }
        if let Some(v) = get("MAIL_FROM") {
            self.mail.from = v;
        }
        if let Some(v) = get("PORTCULLIS_OUTBOX") {
            self.mail.outbox_file = Some(v.into());
        }
        if let Some(v) = get("PORTCULLIS_DEV_OUTBOX") {
            self.mail.dev_outbox = Some(parse_bool("PORTCULLIS_DEV_OUTBOX", &v)?);
        }
        if let Some(v) = get("PORTCULLIS_TRUSTED_PROXIES") {
            self.advanced.trusted_proxies = Some(v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect());
        }
        if let Some(v) = get("PORTCULLIS_DEV_OUTBOX_ALLOW_REMOTE") {
            self.mail.dev_outbox_allow_remote = parse_bool("PORTCULLIS_DEV_OUTBOX_ALLOW_REMOTE", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_APP_NAME") {
            self.app_name = v;
        }
        if let Some(url) = get("REDIS_URL") {
            self.secondary_storage.get_or_insert_with(SecondaryStorageConfig::default).url = url;
        }
        if let Some(v) = get("PORTCULLIS_STORE_SESSION_IN_DATABASE") {
            self.session.store_session_in_database = parse_bool("PORTCULLIS_STORE_SESSION_IN_DATABASE", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_HASHING_PRIORITY") {
            self.password_hashing.priority = v.parse().map_err(|e| ConfigError::Env("PORTCULLIS_HASHING_PRIORITY", e))?;
        }
        if let Some(v) = get("PORTCULLIS_METRICS") {
            self.metrics.enabled = parse_bool("PORTCULLIS_METRICS", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_METRICS_LISTEN") {
            self.metrics.listen = Some(v.parse().map_err(|e| ConfigError::Env("PORTCULLIS_METRICS_LISTEN", format!("{e}")))?);
        }
        if let Some(v) = get("PORTCULLIS_METRICS_TOKEN") {
            self.metrics.token = Some(v);
        }
        Ok(())
    }

    /// The effective rate-limit storage (Better Auth's default rule).
    pub fn rate_limit_storage(&self) -> RateLimitStorage {
        self.rate_limit.storage.unwrap_or(if self.secondary_storage.is_some() {
            RateLimitStorage::SecondaryStorage
        } else {
            RateLimitStorage::Memory
        })
    }
    /// Whether sessions are written to the database (always, without secondary storage).
    pub fn sessions_in_database(&self) -> bool {
        self.secondary_storage.is_none() || self.session.store_session_in_database
    }

    pub fn rate_limit_enabled(&self) -> bool {
        self.rate_limit.enabled.unwrap_or(self.production)
    }
    /// Whether messages to one address are limited (`rate_limit.per_address`).
    pub fn per_address_limit_enabled(&self) -> bool {
        self.rate_limit.per_address.enabled.unwrap_or_else(|| self.rate_limit_enabled())
    }
    /// The outbox is on by default only in development without SMTP, and only on a loopback
    /// listen address: it hands out every e-mailed credential, so it must not be reachable from
    /// elsewhere unless asked for explicitly (see `validate`).
    pub fn dev_outbox_enabled(&self) -> bool {
        self.mail.dev_outbox.unwrap_or(!self.production && self.mail.smtp_url.is_none() && self.listen.ip().is_loopback())
    }
    pub fn send_on_sign_up(&self) -> bool {
        self.email_verification.send_on_sign_up.unwrap_or(self.email_and_password.require_email_verification)
    }

    /// The base URL including the base path, e.g. `http://127.0.0.1:3000/api/auth`.
    pub fn auth_url(&self) -> String {
        let raw = self.base_url.clone().unwrap_or_else(|| format!("http://{}", self.listen));
        let trimmed = raw.trim_end_matches('/');
        match url::Url::parse(trimmed) {
            Ok(u) if u.path() != "/" && !u.path().is_empty() => trimmed.to_string(),
            _ => format!("{trimmed}{}", self.base_path),
        }
    }
    /// The origin of the base URL, e.g. `http://127.0.0.1:3000`.
    pub fn origin(&self) -> String {
        url::Url::parse(&self.auth_url()).map(|u| u.origin().ascii_serialization()).unwrap_or_else(|_| format!("http://{}", self.listen))
    }
    /// The path auth routes are mounted at (the base URL's path).
    pub fn mount_path(&self) -> String {
        url::Url::parse(&self.auth_url()).map(|u| u.path().trim_end_matches('/').to_string()).unwrap_or_else(|_| self.base_path.clone())
    }

    /// Secrets as `(version, value)`, current first. Falls back to the development secret.
    pub fn secret_list(&self) -> Result<Vec<(u32, String)>, ConfigError> {
        if let Some(list) = &self.secrets {
            let mut out = Vec::new();
            for part in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let (v, s) = part
                    .split_once(':')
                    .ok_or_else(|| ConfigError::Invalid("BETTER_AUTH_SECRETS entries must be <version>:<secret>".into()))?;
                let v: u32 =
                    v.trim().parse().map_err(|_| ConfigError::Invalid(format!("secret version {v:?} is not a non-negative integer")))?;
                if out.iter().any(|(o, _)| *o == v) {
                    return Err(ConfigError::Invalid(format!("secret version {v} appears twice")));
                }
                out.push((v, s.to_string()));
            }
            if out.is_empty() {
                return Err(ConfigError::Invalid("BETTER_AUTH_SECRETS is empty".into()));
            }
            return Ok(out);
        }
        Ok(vec![(0, self.secret.clone().unwrap_or_else(|| DEV_SECRET.to_string()))])
    }

    /// Checks what must hold before serving. Returns warnings to print loudly.
    pub fn validate(&self) -> Result<Vec<String>, ConfigError> {
        self.user
            .additional_fields
            .validate(crate::fields::USER_CORE)
            .map_err(|e| ConfigError::Invalid(format!("user.additional_fields: {e}")))?;
        self.session
            .additional_fields
            .validate(crate::fields::SESSION_CORE)
            .map_err(|e| ConfigError::Invalid(format!("session.additional_fields: {e}")))?;
        self.metrics.validate().map_err(ConfigError::Invalid)?;
        let mut warnings = Vec::new();
        let secrets = self.secret_list()?;
        let is_dev = self.secret.is_none() && self.secrets.is_none();
        // Every secret verifies cookies and tokens, not only the current one: an old weak secret
        // in a rotation list forges as well as a weak current one.
        let weak = |s: &str| s == DEV_SECRET || s.len() < MIN_SECRET_LEN;
        let named = |v: u32| if self.secrets.is_some() { format!("secret version {v}") } else { "the secret".to_string() };
        if self.production {
            if is_dev {
                return Err(ConfigError::Invalid(
                    "production mode needs a secret: set BETTER_AUTH_SECRET (generate one with `portcullis secret`)".into(),
                ));
            }
            for (v, s) in &secrets {
                if s == DEV_SECRET {
                    return Err(ConfigError::Invalid(format!(
                        "{} is Better Auth's development secret, refused in production (generate one with `portcullis secret`)",
                        named(*v)
                    )));
                }
                if s.len() < MIN_SECRET_LEN {
                    return Err(ConfigError::Invalid(format!(
                        "{} is {} characters; production mode needs at least {MIN_SECRET_LEN} (generate one with `portcullis secret`)",
                        named(*v),
                        s.len()
                    )));
                }
            }
        } else if is_dev {
            warnings.push("USING THE BUILT-IN DEVELOPMENT SECRET: sessions can be forged by anyone who knows it. Set BETTER_AUTH_SECRET before exposing this server.".into());
        } else {
            for (v, _) in secrets.iter().filter(|(_, s)| weak(s)) {
                warnings.push(format!(
                    "{} is the development secret or shorter than {MIN_SECRET_LEN} characters; production mode refuses it",
                    named(*v)
                ));
            }
        }
        if self.production && self.base_url.as_deref().is_some_and(|u| u.starts_with("http://")) {
            warnings.push(format!(
                "PRODUCTION MODE WITH AN http:// BASE URL ({}): cookies are sent without the Secure flag and can leak over plain HTTP. Use an https:// BETTER_AUTH_URL.",
                self.base_url.as_deref().unwrap_or_default()
            ));
        }
        let sv = &self.server;
        for (key, v) in [
            ("header_read_timeout", sv.header_read_timeout),
            ("body_read_timeout", sv.body_read_timeout),
            ("request_timeout", sv.request_timeout),
            ("keep_alive_timeout", sv.keep_alive_timeout),
            ("shutdown_grace", sv.shutdown_grace),
        ] {
            if v > 86_400 {
                return Err(ConfigError::Invalid(format!("server.{key} is {v} s; at most 86400 (one day)")));
            }
        }
        if !(1..=600_000).contains(&self.database.acquire_timeout_ms) {
            return Err(ConfigError::Invalid(format!(
                "database.acquire_timeout_ms is {}; between 1 and 600000 (ten minutes)",
                self.database.acquire_timeout_ms
            )));
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError::Invalid("database.max_connections must be at least 1".into()));
        }
        if sv.max_connections == 0 || sv.max_connections_per_ip == 0 {
            return Err(ConfigError::Invalid("server.max_connections and server.max_connections_per_ip must be at least 1".into()));
        }
        if self.mail.dev_outbox == Some(true) {
            if self.production {
                return Err(ConfigError::Invalid(
                    "mail.dev_outbox is on in production mode: the development outbox serves every e-mailed credential to anyone who asks; turn it off".into(),
                ));
            }
            if !self.listen.ip().is_loopback() && !self.mail.dev_outbox_allow_remote {
                return Err(ConfigError::Invalid(format!(
                    "mail.dev_outbox is on and the server listens on {}, beyond this machine: anyone who reaches it could read every e-mailed credential. Listen on 127.0.0.1, or set mail.dev_outbox_allow_remote = true if this network is yours alone",
                    self.listen
                )));
            }
        }
        if let Some(u) = &self.base_url {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(ConfigError::Invalid(format!("base URL {u:?} must start with http:// or https://")));
            }
        }
        if self.session.expires_in > 34_560_000 {
            return Err(ConfigError::Invalid("session.expires_in must be at most 400 days".into()));
        }
        if self.rate_limit.storage == Some(RateLimitStorage::SecondaryStorage) && self.secondary_storage.is_none() {
            return Err(ConfigError::Invalid("rate_limit.storage = \"secondary-storage\" needs secondary_storage".into()));
        }
        if self.secondary_storage.is_some() && self.session.preserve_session_in_database && !self.session.store_session_in_database {
            warnings.push("session.preserve_session_in_database has no effect without session.store_session_in_database".into());
        }
        if self.session.cookie_cache.revocation_check && self.secondary_storage.is_none() {
            warnings.push(
                "session.cookie_cache.revocation_check has no effect without secondary_storage: a revoked session is still answered from its cache cookie for up to cookie_cache.max_age".into(),
            );
        }
        warnings.extend(self.check_cookies()?);
        match self.advanced.database.generate_id {
            GenerateId::Random | GenerateId::Uuid => {}
            GenerateId::Serial => return Err(ConfigError::Invalid(
                "advanced.database.generate_id = \"serial\" is not supported yet (integer ids made by the database change the type of every id and foreign-key column); leave it out for random ids, or use \"uuid\"".into(),
            )),
            GenerateId::Database => return Err(ConfigError::Invalid(
                "advanced.database.generate_id = false (ids made by the database) is not supported yet; leave it out for random ids, or use \"uuid\"".into(),
            )),
        }
        if self.email_and_password.min_password_length > self.email_and_password.max_password_length {
            return Err(ConfigError::Invalid("min_password_length is larger than max_password_length".into()));
        }
        Ok(warnings)
    }

    /// The `Domain` of every auth cookie with cross-subdomain cookies on: the configured domain,
    /// else the host of the base URL (`None` when off).
    pub fn cookie_domain(&self) -> Option<String> {
        let c = &self.advanced.cross_sub_domain_cookies;
        if !c.enabled {
            return None;
        }
        c.domain.clone().filter(|d| !d.is_empty()).or_else(|| {
            let base = self.base_url.as_deref()?;
            url::Url::parse(base).ok()?.host_str().map(str::to_string)
        })
    }

    /// Checks the cookie options; returns warnings.
    fn check_cookies(&self) -> Result<Vec<String>, ConfigError> {
        let a = &self.advanced;
        let mut warnings = Vec::new();
        if a.cross_sub_domain_cookies.enabled && self.cookie_domain().is_none() {
            // Better Auth refuses to start too: a domain derived from the listen address would
            // share cookies with nothing.
            return Err(ConfigError::Invalid(
                "advanced.cross_sub_domain_cookies needs a domain: set its domain, or base_url (BETTER_AUTH_URL)".into(),
            ));
        }
        if !a.cross_sub_domain_cookies.additional_cookies.is_empty() {
            warnings.push("advanced.cross_sub_domain_cookies.additional_cookies has no effect (nor has it in Better Auth): the domain applies to every auth cookie".into());
        }
        let layers = std::iter::once(("advanced.default_cookie_attributes".to_string(), &a.default_cookie_attributes))
            .chain(a.cookies.iter().map(|(k, o)| (format!("advanced.cookies.{k}.attributes"), &o.attributes)));
        for (key, attrs) in layers {
            if attrs.max_age.is_some_and(|m| m > 34_560_000) {
                return Err(ConfigError::Invalid(format!("{key}.max_age must be at most 400 days (34560000 s)")));
            }
            if attrs.path.as_deref().is_some_and(|p| !p.starts_with('/') || !attribute_value_ok(p)) {
                return Err(ConfigError::Invalid(format!("{key}.path must start with / and hold no ';', space or control character")));
            }
            if attrs.domain.as_deref().is_some_and(|d| !d.is_empty() && !attribute_value_ok(d)) {
                return Err(ConfigError::Invalid(format!("{key}.domain must hold no ';', space or control character")));
            }
        }
        if a.cross_sub_domain_cookies.domain.as_deref().is_some_and(|d| !d.is_empty() && !attribute_value_ok(d)) {
            return Err(ConfigError::Invalid(
                "advanced.cross_sub_domain_cookies.domain must hold no ';', space or control character".into(),
            ));
        }
        for (key, o) in &a.cookies {
            if o.name.as_deref().is_some_and(|n| {
                n.is_empty() || n.contains(|c: char| c == ';' || c == '=' || c == ',' || c.is_whitespace() || c.is_control())
            }) {
                return Err(ConfigError::Invalid(format!("advanced.cookies.{key}.name is not a valid cookie name")));
            }
        }
        Ok(warnings)
    }

    pub fn secure_cookies(&self) -> bool {
        self.advanced
            .use_secure_cookies
            .unwrap_or_else(|| self.auth_url().starts_with("https://") || (self.base_url.is_none() && self.production))
    }
}

/// A cookie attribute value that cannot end its attribute early or break the header.
fn attribute_value_ok(v: &str) -> bool {
    !v.is_empty() && !v.contains(|c: char| c == ';' || c.is_whitespace() || c.is_control() || !c.is_ascii())
}

pub fn parse_bool(name: &'static str, v: &str) -> Result<bool, ConfigError> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Ok(true),
        "0" | "false" | "off" | "no" => Ok(false),
        _ => Err(ConfigError::Env(name, format!("expected true/false, got {v:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn additional_fields_are_read_in_declaration_order_and_typos_refused() {
        let c: Config = toml::from_str(
            r#"
            [user.additional_fields]
            theme = { type = "string", required = false, default_value = "auto" }
            blocklist = { type = "string[]", required = false }
            [user.additional_fields.plan]
            type = "string"
            default_value = "free"
            input = false
            [session.additional_fields]
            deviceName = { type = "string", required = false }
            "#,
        )
        .unwrap();
        let names: Vec<_> = c.user.additional_fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["theme", "blocklist", "plan"]);
        assert!(!c.user.additional_fields.get("plan").unwrap().def.input);
        assert_eq!(c.session.additional_fields.len(), 1);
        assert!(c.validate().is_ok());
        let clash = toml::from_str::<Config>("[user.additional_fields.email]\ntype = \"string\"\n").unwrap();
        assert!(clash.validate().unwrap_err().to_string().contains("user.additional_fields: email is a core field"));
        let bad_default = toml::from_str::<Config>("[session.additional_fields.n]\ntype = \"number\"\ndefault_value = \"x\"\n").unwrap();
        assert!(bad_default.validate().unwrap_err().to_string().contains("n: default_value"), "{:?}", bad_default.validate());
        let typo = toml::from_str::<Config>("[user.additional_fields.theme]\ntype = \"string\"\nreturnd = false\n");
        assert!(typo.unwrap_err().to_string().contains("returnd"));
    }

    #[test]
    fn mail_template_paths_are_relative_to_the_config_file_and_typos_refused() {
        let dir = std::env::temp_dir().join(format!("portcullis-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("portcullis.toml");
        let toml = "[mail.templates.reset-password]\nsubject = \"mail/reset.subject\"\nhtml = \"/etc/reset.html\"\n\
                    [mail.templates.layout]\ntext = \"mail/layout.txt\"\n";
        std::fs::write(&file, toml).unwrap();
        let c = Config::load(Some(&file)).unwrap();
        let reset = &c.mail.templates["reset-password"];
        assert_eq!(reset.subject.as_deref(), Some(dir.join("mail/reset.subject").as_path()));
        assert_eq!(reset.html.as_deref(), Some(Path::new("/etc/reset.html")), "absolute paths stay");
        assert_eq!(reset.text, None);
        assert_eq!(c.mail.templates["layout"].text.as_deref(), Some(dir.join("mail/layout.txt").as_path()));
        let typo = toml::from_str::<Config>("[mail.templates.reset-password]\nbody = \"x\"\n");
        assert!(typo.unwrap_err().to_string().contains("body"));
    }

    #[test]
    fn generate_id_takes_better_auths_values_and_refuses_what_is_not_supported() {
        let parse = |v: &str| toml::from_str::<Config>(&format!("[advanced.database]\ngenerate_id = {v}\n")).map_err(|e| e.to_string());
        assert_eq!(Config::default().advanced.database.generate_id, GenerateId::Random);
        assert_eq!(parse("\"uuid\"").unwrap().advanced.database.generate_id, GenerateId::Uuid);
        assert!(parse("\"uuid\"").unwrap().validate().is_ok());
        for (v, kind) in [("\"serial\"", GenerateId::Serial), ("false", GenerateId::Database)] {
            let c = parse(v).unwrap();
            assert_eq!(c.advanced.database.generate_id, kind);
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains("advanced.database.generate_id") && e.contains("not supported"), "{e}");
        }
        for bad in ["true", "\"UUID\"", "\"cuid\"", "1"] {
            assert!(parse(bad).unwrap_err().contains("generate_id"), "{bad}");
        }
    }

    #[test]
    fn base_url_gets_base_path_unless_it_has_one() {
        let mut c = Config { base_url: Some("https://auth.example.com".into()), ..Default::default() };
        assert_eq!(c.auth_url(), "https://auth.example.com/api/auth");
        assert_eq!(c.origin(), "https://auth.example.com");
        c.base_url = Some("https://x.com/auth/".into());
        assert_eq!(c.auth_url(), "https://x.com/auth");
        assert_eq!(c.mount_path(), "/auth");
    }

    #[test]
    fn production_refuses_missing_or_short_secret() {
        let mut c = Config { production: true, ..Default::default() };
        assert!(c.validate().is_err());
        c.secret = Some("short".into());
        assert!(c.validate().unwrap_err().to_string().contains("at least 32"));
        c.secret = Some("x".repeat(40));
        assert!(c.validate().is_ok());
        let dev = Config::default();
        assert!(dev.validate().unwrap()[0].contains("DEVELOPMENT SECRET"));
    }

    #[test]
    fn every_secret_in_a_rotation_list_is_checked() {
        let strong = "s".repeat(40);
        let prod = |secrets: String| Config { production: true, secrets: Some(secrets), ..Default::default() };
        assert!(prod(format!("2:{strong},1:{}", "t".repeat(32))).validate().is_ok());
        let short_old = prod(format!("2:{strong},1:short")).validate().unwrap_err().to_string();
        assert!(short_old.contains("secret version 1") && short_old.contains("at least 32"), "{short_old}");
        let dev_old = prod(format!("2:{strong},1:{DEV_SECRET}")).validate().unwrap_err().to_string();
        assert!(dev_old.contains("secret version 1") && dev_old.contains("development secret"), "{dev_old}");
        let dev_current = prod(format!("3:{DEV_SECRET},2:{strong}")).validate().unwrap_err().to_string();
        assert!(dev_current.contains("secret version 3"), "{dev_current}");
        let single_dev = Config { production: true, secret: Some(DEV_SECRET.into()), ..Default::default() };
        assert!(single_dev.validate().is_err());
        // Outside production the same secrets start, with a warning naming each weak one.
        let dev = Config { secrets: Some(format!("2:{strong},1:short,0:{DEV_SECRET}")), ..Default::default() };
        let w = dev.validate().unwrap();
        assert!(w.iter().any(|w| w.contains("secret version 1")) && w.iter().any(|w| w.contains("secret version 0")), "{w:?}");
    }

    #[test]
    fn production_over_plain_http_warns() {
        let c = Config {
            production: true,
            secret: Some("x".repeat(40)),
            base_url: Some("http://auth.example.com".into()),
            ..Default::default()
        };
        assert!(c.validate().unwrap().iter().any(|w| w.contains("http://") && w.contains("Secure")));
        let https = Config { base_url: Some("https://auth.example.com".into()), ..c.clone() };
        assert!(https.validate().unwrap().is_empty());
        let dev = Config { production: false, ..c };
        assert!(!dev.validate().unwrap().iter().any(|w| w.contains("Secure")));
    }

    #[test]
    fn revocation_check_without_secondary_storage_warns() {
        let mut c = Config { secret: Some("x".repeat(40)), ..Default::default() };
        c.session.cookie_cache.revocation_check = true;
        assert!(c.validate().unwrap().iter().any(|w| w.contains("revocation_check") && w.contains("secondary_storage")));
        c.secondary_storage = Some(SecondaryStorageConfig::default());
        assert!(!c.validate().unwrap().iter().any(|w| w.contains("revocation_check")));
    }

    #[test]
    fn the_dev_outbox_stays_on_this_machine() {
        let on = |production: bool, listen: &str, allow_remote: bool| {
            let mut c = Config { production, secret: Some("x".repeat(40)), listen: listen.parse().unwrap(), ..Default::default() };
            c.mail.dev_outbox = Some(true);
            c.mail.dev_outbox_allow_remote = allow_remote;
            c.validate().map(|_| ()).map_err(|e| e.to_string())
        };
        assert!(on(false, "127.0.0.1:3000", false).is_ok());
        assert!(on(false, "[::1]:3000", false).is_ok());
        assert!(on(true, "127.0.0.1:3000", false).unwrap_err().contains("production"));
        assert!(on(true, "127.0.0.1:3000", true).unwrap_err().contains("production"), "nothing allows it in production");
        assert!(on(false, "0.0.0.0:3000", false).unwrap_err().contains("dev_outbox_allow_remote"));
        assert!(on(false, "0.0.0.0:3000", true).is_ok());
        // Unset, it is on only in development, without SMTP, on loopback.
        let default = |listen: &str| Config { listen: listen.parse().unwrap(), ..Default::default() }.dev_outbox_enabled();
        assert!(default("127.0.0.1:3000"));
        assert!(!default("0.0.0.0:3000"));
        assert!(!Config { production: true, ..Default::default() }.dev_outbox_enabled());
    }

    #[test]
    fn the_database_section_sets_the_pool_and_refuses_nonsense() {
        let c = Config::from_toml("[database]\nacquire_timeout_ms = 250\nmax_connections = 4\n").unwrap();
        assert_eq!((c.database.acquire_timeout_ms, c.database.max_connections), (250, 4));
        assert_eq!(Config::default().database.acquire_timeout_ms, 1000);
        assert!(Config::from_toml("[database]\nacquire_timeout = 250\n").is_err(), "typos are refused");
        let mut c = Config::default();
        c.apply_env(|k| (k == "PORTCULLIS_DATABASE_ACQUIRE_TIMEOUT_MS").then(|| "1500".to_string())).unwrap();
        assert_eq!(c.database.acquire_timeout_ms, 1500);
        c.database.acquire_timeout_ms = 0;
        assert!(c.validate().unwrap_err().to_string().contains("database.acquire_timeout_ms"));
    }

    #[test]
    fn env_uses_better_auth_names() {
        let mut c = Config::default();
        c.apply_env(|k| match k {
            "AUTH_SECRET" => Some("s".repeat(33)),
            "BETTER_AUTH_TRUSTED_ORIGINS" => Some("http://a.com, http://b.com".into()),
            "DATABASE_URL" => Some("postgres://x/y".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.secret.as_deref(), Some("s".repeat(33).as_str()));
        assert_eq!(c.trusted_origins, vec!["http://a.com", "http://b.com"]);
        assert_eq!(c.database_url, "postgres://x/y");
    }

    #[test]
    fn secret_rotation_list() {
        let c = Config { secrets: Some("2:new-secret,1:old-secret".into()), ..Default::default() };
        assert_eq!(c.secret_list().unwrap(), vec![(2, "new-secret".into()), (1, "old-secret".into())]);
        let bad = Config { secrets: Some("1:a,1:b".into()), ..Default::default() };
        assert!(bad.secret_list().is_err());
    }
}
