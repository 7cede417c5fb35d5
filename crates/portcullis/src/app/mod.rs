//! Assembly: turns a [`Config`] into a running engine ([`Auth`]) and an axum [`Router`].
//!
//! `Auth` is the shared state every handler receives: configuration, the store, the password
//! hasher, the mailer, trusted origins, cookie settings and the rate limiter. Capabilities (one
//! module per feature, like Better Auth's plugins) contribute routes, schema and rate-limit rules
//! through [`Capability`]; core knows nothing about any particular capability.

pub mod background;
mod capability;
pub mod request_task;
pub(crate) mod router;
mod serve;

pub use serve::{serve, serve_on, serve_until};

pub use capability::Capability;

use crate::config::{Config, ConfigError};
use crate::crypto::password::PasswordHasher;
use crate::http::cookies::CookieSettings;
use crate::http::ip::IpPolicy;
use crate::http::origin::TrustedOrigins;
use crate::http::rate_limit::{MemoryStore, RateLimitStore, Rules};
use crate::http::rate_limit_outage::RateLimitHealth;
use crate::mail::{outbox::Outbox, Mailer, Outgoing};
use crate::secondary::{Health, Secondary};
use crate::session::store::SessionStore;
use crate::store::{schema::Names, Db, PoolOptions, SqlStore, Store, StoreError};
use axum::Router;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Where "now" comes from; a parameter so expiry logic is testable without sleeping.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}
pub struct SystemClock;
impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        crate::store::model::ms(Utc::now())
    }
}

/// Everything a request handler needs. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Auth(Arc<AuthState>);

pub struct AuthState {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub hasher: PasswordHasher,
    /// Delivers one message and waits for it; handlers send through [`outgoing`](Self::outgoing).
    pub mailer: Arc<dyn Mailer>,
    /// Sends through `mailer` in the background, bounded; [`Outgoing::dropped`] counts what the
    /// bound turned away.
    pub outgoing: Outgoing,
    pub outbox: Option<Arc<Outbox>>,
    pub origins: TrustedOrigins,
    /// Whom to believe about the client's address (`advanced.trusted_proxies`).
    pub ip_policy: IpPolicy,
    pub cookies: CookieSettings,
    /// Signing secrets, current first.
    pub secrets: Vec<String>,
    pub rate_rules: Rules,
    pub rate_store: Option<Arc<dyn RateLimitStore>>,
    pub clock: Arc<dyn Clock>,
    /// Base URL including the base path, e.g. `http://localhost:3000/api/auth`.
    pub auth_url: String,
    pub capabilities: Vec<Arc<dyn Capability>>,
    /// Paths (relative to the base path) guarded by Better Auth's form-CSRF rules.
    pub form_csrf_paths: Vec<&'static str>,
    /// GET paths (relative to the base path) that run inline ([`Capability::cancellable_paths`]).
    pub cancellable_paths: Vec<&'static str>,
    /// Every session read and write goes through here (database, secondary storage or both).
    pub sessions: Arc<SessionStore>,
    /// The guarded secondary storage (Redis), when configured.
    pub secondary: Option<Secondary>,
    /// Secondary-storage failures (`failures`) and state, also when none is configured (all zero).
    pub secondary_health: Arc<Health>,
    /// Requests still running after their client stopped waiting (see [`request_task`]).
    pub detached: request_task::Detached,
    /// Rate-limit counters that could not be read or written (`errors`), whatever the storage.
    pub rate_limit_health: Arc<RateLimitHealth>,
    /// Work done after answering (password-reset look-ups and token rows), bounded;
    /// [`Background::dropped`](background::Background::dropped) counts what the bound turned away.
    pub background: background::Background,
}

impl std::ops::Deref for Auth {
    type Target = AuthState;
    fn deref(&self) -> &AuthState {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("mail: {0}")]
    Mail(String),
    #[error("secondary storage: {0}")]
    Secondary(String),
}

impl Auth {
    /// Builds the engine with the standard capabilities.
    pub async fn from_config(config: Config) -> Result<Self, StartError> {
        Self::builder(config).build().await
    }

    pub fn builder(config: Config) -> AuthBuilder {
        let capabilities = crate::plugins::standard(&config);
        AuthBuilder { config, capabilities, store: None, clock: Arc::new(SystemClock), secondary: None }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
    /// A new row id (`advanced.database.generate_id`); never use it for a secret.
    pub fn new_id(&self) -> String {
        crate::crypto::row_id(self.config.advanced.database.generate_id)
    }
    pub fn secret(&self) -> &str {
        &self.secrets[0]
    }
    /// Every configured secret: the first signs, all verify (rotation).
    pub fn secrets(&self) -> &[String] {
        &self.secrets
    }

    /// Creates or updates the schema of every capability.
    pub async fn migrate(&self) -> Result<Vec<String>, StoreError> {
        let mut extra: Vec<_> = self.capabilities.iter().flat_map(|c| c.schema()).collect();
        if self.rate_limit_in_database() {
            extra.push(crate::http::rate_limit_shared::rate_limit_table());
        }
        if self.sessions.queues_revocations() {
            extra.push(crate::session::revocations::table());
        }
        self.store.migrate(&extra).await
    }

    fn rate_limit_in_database(&self) -> bool {
        // As Better Auth: the table is part of the schema whenever database storage is chosen.
        self.config.rate_limit.storage == Some(crate::config::RateLimitStorage::Database)
    }

    /// The whole application: auth routes under the base path, plus the development outbox when enabled.
    pub fn router(&self) -> Router {
        router::build(self.clone())
    }
}

pub struct AuthBuilder {
    config: Config,
    capabilities: Vec<Arc<dyn Capability>>,
    store: Option<Arc<dyn Store>>,
    clock: Arc<dyn Clock>,
    secondary: Option<Arc<dyn crate::secondary::SecondaryStorage>>,
}

impl AuthBuilder {
    /// Uses this secondary storage instead of the one named by `config.secondary_storage`.
    pub fn secondary_storage(mut self, s: Arc<dyn crate::secondary::SecondaryStorage>) -> Self {
        self.secondary = Some(s);
        self
    }
    pub fn capability(mut self, c: Arc<dyn Capability>) -> Self {
        self.capabilities.push(c);
        self
    }
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub async fn build(self) -> Result<Auth, StartError> {
        let config = self.config;
        for w in config.validate()? {
            tracing::warn!("{w}");
        }
        let secrets: Vec<String> = config.secret_list()?.into_iter().map(|(_, s)| s).collect();
        let store: Arc<dyn Store> = match self.store {
            Some(s) => s,
            None => {
                let db = Db::connect(&config.database_url, &PoolOptions::default()).await?;
                Arc::new(
                    SqlStore::new(db, Names::new(config.schema.clone()).with_generate_id(config.advanced.database.generate_id))
                        .with_fields(config.user.additional_fields.clone(), config.session.additional_fields.clone()),
                )
            }
        };
        let workers = config.password_hashing.workers.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2));
        let ph = &config.password_hashing;
        let mut hasher = PasswordHasher::with_priority(workers, ph.memory_kib, ph.iterations, ph.parallelism, ph.priority);
        if let Some(n) = ph.max_queue {
            hasher = hasher.with_max_queue(n);
        }
        let (mailer, outbox) =
            crate::mail::from_config(&config.mail, config.dev_outbox_enabled()).map_err(|e| StartError::Mail(e.to_string()))?;
        if config.dev_outbox_enabled() {
            tracing::warn!(
                listen = %config.listen,
                "development outbox ON: every e-mail (reset links, verification tokens) is readable at GET /__outbox; never expose this server"
            );
        } else {
            tracing::info!("development outbox off");
        }
        let ip_policy = IpPolicy::new(&config.advanced).map_err(ConfigError::Invalid)?;
        let origins = TrustedOrigins::new(&config.origin(), config.trusted_origins.iter().cloned());
        let cookies = CookieSettings::new(&config);
        let mut plugin_rules = Vec::new();
        let (mut form_csrf_paths, mut cancellable_paths) = (Vec::new(), Vec::new());
        for c in &self.capabilities {
            plugin_rules.extend(c.rate_limit_rules());
            form_csrf_paths.extend_from_slice(c.form_csrf_paths());
            cancellable_paths.extend_from_slice(c.cancellable_paths());
        }
        let rate_rules = Rules::new(&config.rate_limit, plugin_rules);
        let secondary_health = Arc::new(Health::default());
        let secondary = match (self.secondary, &config.secondary_storage) {
            (Some(s), c) => {
                let timeout = c.as_ref().map_or(crate::secondary::DEFAULT_TIMEOUT, |c| std::time::Duration::from_millis(c.timeout_ms));
                Some(Secondary::new(s, timeout, secondary_health.clone()))
            }
            (None, Some(c)) => {
                let s = crate::secondary::open(&c.url, &c.prefix).map_err(StartError::Secondary)?;
                Some(Secondary::new(s, std::time::Duration::from_millis(c.timeout_ms), secondary_health.clone()))
            }
            (None, None) => None,
        };
        let sessions = Arc::new(SessionStore::new(store.clone(), secondary.clone(), &config));
        let clock = self.clock.clone();
        SessionStore::spawn_replayer(&sessions, move || clock.now());
        let rate_store: Option<Arc<dyn RateLimitStore>> = if config.rate_limit_enabled() {
            Some(
                crate::http::rate_limit_shared::for_config(&config, secondary.as_ref(), &store)
                    .unwrap_or_else(|| Arc::new(MemoryStore::new())),
            )
        } else {
            None
        };
        let auth_url = config.auth_url();
        let auth = Auth(Arc::new(AuthState {
            config,
            store,
            hasher,
            outgoing: Outgoing::new(mailer.clone(), crate::mail::MAX_SENDING),
            mailer,
            outbox,
            origins,
            ip_policy,
            cookies,
            secrets,
            rate_rules,
            rate_store,
            clock: self.clock,
            auth_url,
            capabilities: self.capabilities,
            form_csrf_paths,
            cancellable_paths,
            sessions,
            secondary,
            secondary_health,
            detached: request_task::Detached::default(),
            rate_limit_health: Arc::default(),
            background: background::Background::default(),
        }));
        if auth.config.migrate_on_start {
            let applied = auth.migrate().await?;
            if !applied.is_empty() {
                tracing::info!(statements = applied.len(), "schema migrated");
            }
        }
        // Before the first request: a revocation queued before a restart must already count.
        auth.sessions.load_revocations(auth.now()).await;
        Ok(auth)
    }
}
