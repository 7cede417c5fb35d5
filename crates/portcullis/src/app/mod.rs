//! Assembly: turns a [`Config`] into a running engine ([`Auth`]) and an axum [`Router`].
//!
//! `Auth` is the shared state every handler receives: configuration, the store, the password
//! hasher, the mailer, trusted origins, cookie settings and the rate limiter. Capabilities (one
//! module per feature, like Better Auth's plugins) contribute routes, schema and rate-limit rules
//! through [`Capability`]; core knows nothing about any particular capability.

mod capability;
mod check;
pub mod events;
pub mod fn_hooks;
pub mod health;
pub mod metrics;
pub mod openapi;
pub mod request_id;
pub mod request_task;
pub(crate) mod router;
mod send_limit;
mod serve;

pub use serve::{serve, serve_on, serve_until};

pub use capability::Capability;
pub use check::Checked;
pub use events::Event;
pub use fn_hooks::SignInInfo;

use crate::config::{Config, ConfigError};
use crate::crypto::password::PasswordHasher;
use crate::fields::FieldSet;
use crate::http::cookies::CookieSettings;
use crate::http::ip::IpPolicy;
use crate::http::origin::TrustedOrigins;
use crate::mail::templates::Templates;
use crate::mail::{outbox::Outbox, Mailer, Outgoing};
use crate::rate_limit::outage::RateLimitHealth;
use crate::rate_limit::{MemoryStore, RateLimitStore, Rules};
use crate::secondary::{Health, Secondary};
use crate::session::hooks::Decision;
use crate::session::store::SessionStore;
use crate::store::model::{Session, User, UserPatch};
use crate::store::{schema::Names, Db, PoolOptions, SqlStore, Store, StoreError};
use axum::Router;
use chrono::{DateTime, Utc};
use std::future::Future;
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
    /// Every registered e-mail message, compiled with the operator's overrides; send one with
    /// [`Auth::send_mail`].
    pub mail_templates: Templates,
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
    /// The capabilities that implement each hook, in registration order.
    pub hooked: Hooked,
    adapter: Option<crate::store::adapter::Adapter>,
    /// Paths (relative to the base path) guarded by Better Auth's form-CSRF rules.
    pub form_csrf_paths: Vec<&'static str>,
    /// Body schemas by POST path ([`Capability::inputs`]), checked by the pipeline.
    pub inputs: std::collections::HashMap<&'static str, crate::http::input::Check>,
    /// GET paths (relative to the base path) that run inline ([`Capability::cancellable_paths`]).
    pub cancellable_paths: Vec<&'static str>,
    /// The user's additional fields: the capabilities', then `user.additional_fields`.
    pub user_fields: crate::fields::FieldSet,
    /// The session's additional fields: the capabilities', then `session.additional_fields`.
    pub session_fields: crate::fields::FieldSet,
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
    /// [`Background::dropped`](crate::background::Background::dropped) counts what the bound turned away.
    pub background: crate::background::Background,
    /// The limit on messages to one address (`rate_limit.per_address`), when on. E-mail passes it
    /// inside [`outgoing`](Self::outgoing); a capability that sends by another channel (SMS) asks
    /// it before each message, in the background.
    pub send_gate: Option<Arc<dyn crate::mail::SendGate>>,
    /// The Prometheus series (`[metrics] enabled = true`); `None` when off, and then nothing is
    /// counted anywhere.
    pub metrics: Option<Arc<metrics::Metrics>>,
}

/// A handle on the engine that does not keep it alive: background workers hold one and stop once
/// [`upgrade`](Self::upgrade) fails (every `Auth` clone, router and connection gone).
#[derive(Clone)]
pub struct WeakAuth(std::sync::Weak<AuthState>);

impl WeakAuth {
    pub fn upgrade(&self) -> Option<Auth> {
        self.0.upgrade().map(Auth)
    }
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

    /// A builder with the standard capabilities ([`crate::plugins::standard`], added when it
    /// builds, before those of [`AuthBuilder::capability`]).
    pub fn builder(config: Config) -> AuthBuilder {
        AuthBuilder {
            config,
            capabilities: Vec::new(),
            store: None,
            database: None,
            clock: Arc::new(SystemClock),
            secondary: None,
            fn_hooks: Default::default(),
            on_link_account: Vec::new(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
    /// A weak handle ([`WeakAuth`]) for background work that must stop with the engine.
    pub fn downgrade(&self) -> WeakAuth {
        WeakAuth(Arc::downgrade(&self.0))
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
        self.store.migrate(&self.extra_tables()).await
    }

    fn extra_tables(&self) -> Vec<crate::store::schema::Table> {
        extra_tables(&self.capabilities, &self.config, &self.sessions)
    }

    /// The generic adapter over the capabilities' tables (Better Auth's adapter API). Only with
    /// a SQL store; an embedder's own `Store` may offer none.
    pub fn adapter(&self) -> Result<&crate::store::adapter::Adapter, StoreError> {
        self.adapter.as_ref().ok_or_else(|| StoreError::Query("this store has no generic adapter".into()))
    }

    /// Renders message `name` (registered by a capability) to `to` with `context`, and sends it in
    /// the background ([`Outgoing::send`]). False when it was not sent: dropped, or the template
    /// failed with this context (logged with the template and line, never a value).
    pub fn send_mail(&self, name: &str, to: &str, context: impl serde::Serialize) -> bool {
        match self.mail_templates.render(name, to, context) {
            Ok(email) => self.outgoing.send(email),
            Err(e) => {
                tracing::error!(%to, kind = name, error = %e, "e-mail not sent: its template failed");
                false
            }
        }
    }

    /// The whole application: auth routes under the base path, plus the development outbox when enabled.
    pub fn router(&self) -> Router {
        router::build(self.clone())
    }
}

/// The tables beyond the core four: the capabilities', and the core's optional ones.
fn extra_tables(capabilities: &[Arc<dyn Capability>], config: &Config, sessions: &SessionStore) -> Vec<crate::store::schema::Table> {
    let mut extra: Vec<_> = capabilities.iter().flat_map(|c| c.schema()).collect();
    // As Better Auth: the table is part of the schema whenever database storage is chosen.
    if config.rate_limit.storage == Some(crate::config::RateLimitStorage::Database) {
        extra.push(crate::rate_limit::shared::rate_limit_table());
    }
    if sessions.queues_revocations() {
        extra.push(crate::session::revocations::table());
    }
    // A table two capabilities share (the audit log) is declared by both: keep the first.
    let mut seen = std::collections::HashSet::new();
    extra.retain(|t| seen.insert(t.name));
    extra
}

/// The capabilities that declared each hook ([`Capability::hooks`]).
#[derive(Default)]
pub struct Hooked {
    pub before_session: Vec<Arc<dyn Capability>>,
    pub after_session: Vec<Arc<dyn Capability>>,
    pub user: Vec<Arc<dyn Capability>>,
    pub session_answer: Vec<Arc<dyn Capability>>,
    pub events: Vec<Arc<dyn Capability>>,
    pub session_use: Vec<Arc<dyn Capability>>,
}

impl Hooked {
    fn of(capabilities: &[Arc<dyn Capability>]) -> Self {
        let mut h = Hooked::default();
        for c in capabilities {
            let d = c.hooks();
            for (wants, list) in [
                (d.before_session, &mut h.before_session),
                (d.after_session, &mut h.after_session),
                (d.user, &mut h.user),
                (d.session_answer, &mut h.session_answer),
                (d.events, &mut h.events),
                (d.session_use, &mut h.session_use),
            ] {
                if wants {
                    list.push(c.clone());
                }
            }
        }
        h
    }
}

/// The additional fields of user and session: every capability's, in registration order, then the
/// configuration's (Better Auth's order on the wire); a configured field replaces a capability's
/// field of the same name, as Better Auth merges them.
fn fields_of(capabilities: &[Arc<dyn Capability>], config: &Config) -> Result<(FieldSet, FieldSet), ConfigError> {
    let (mut user, mut session) = (FieldSet::new(), FieldSet::new());
    for c in capabilities {
        user.extend(&c.user_fields());
        session.extend(&c.session_fields());
    }
    user.extend(&config.user.additional_fields);
    session.extend(&config.session.additional_fields);
    user.validate(crate::fields::USER_CORE).map_err(|e| ConfigError::Invalid(format!("user fields: {e}")))?;
    session.validate(crate::fields::SESSION_CORE).map_err(|e| ConfigError::Invalid(format!("session fields: {e}")))?;
    Ok((user, session))
}

/// Refuses an embedder's store that declares its fields without one of `user`'s or `session`'s.
fn missing_fields(store: &dyn Store, user: &FieldSet, session: &FieldSet) -> Result<(), ConfigError> {
    let Some((has_user, has_session)) = store.additional_fields() else { return Ok(()) };
    for (table, want, has) in [("user", user, has_user), ("session", session, has_session)] {
        if let Some(f) = want.iter().find(|f| has.get(&f.name).is_none()) {
            return Err(ConfigError::Invalid(format!(
                "the store given to AuthBuilder::store has no {table} field `{}` (declared by a capability or the configuration): \
                 declare it with SqlStore::with_fields, or pass the pool to AuthBuilder::database",
                f.name
            )));
        }
    }
    Ok(())
}

/// Parses every capability's sections; refuses a section that none of them claims.
fn sections_of(capabilities: &[Arc<dyn Capability>], config: &mut Config) -> Result<Vec<String>, ConfigError> {
    let mut warnings = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for spec in capabilities.iter().flat_map(|c| c.sections()) {
        if seen.insert(spec.name) {
            warnings.extend(spec.materialize(&mut config.sections)?);
        }
    }
    if let Some(name) = config.sections.unclaimed().next() {
        return Err(ConfigError::Invalid(format!(
            "unknown configuration key or section `{name}`: not a core key, and no capability of this server has a section of that name (sections: {})",
            config.sections.names().collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(warnings)
}

/// What [`AuthBuilder::prepare`] found: the checked configuration and what the build needs of it.
struct Prepared {
    config: Config,
    warnings: Vec<String>,
    mail_templates: Templates,
    secrets: Vec<String>,
    user_fields: FieldSet,
    session_fields: FieldSet,
    /// The series, when `[metrics]` is on (its event listener is among the capabilities).
    metrics: Option<Arc<metrics::Metrics>>,
}

pub struct AuthBuilder {
    config: Config,
    capabilities: Vec<Arc<dyn Capability>>,
    store: Option<Arc<dyn Store>>,
    database: Option<Db>,
    clock: Arc<dyn Clock>,
    secondary: Option<Arc<dyn crate::secondary::SecondaryStorage>>,
    fn_hooks: fn_hooks::FnHooks,
    on_link_account: Vec<crate::plugins::anonymous::OnLink>,
}

/// Hooks as closures ([`fn_hooks`]); they run after every capability's hooks, in the order added.
impl AuthBuilder {
    /// Before any sign-in creates a session: continue, refuse, or answer instead.
    pub fn before_session<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(SignInInfo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Decision> + Send + 'static,
    {
        self.fn_hooks.before_session.push(fn_hooks::boxed(f));
        self
    }
    /// After a sign-in created a session.
    pub fn after_session<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn((SignInInfo, Session)) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.fn_hooks.after_session.push(fn_hooks::boxed(f));
        self
    }
    /// Before a user is stored: return it (changed or not), or refuse.
    pub fn before_user_create<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(User) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<User, crate::ApiError>> + Send + 'static,
    {
        self.fn_hooks.before_user_create.push(fn_hooks::boxed(f));
        self
    }
    pub fn after_user_create<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(User) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.fn_hooks.after_user_create.push(fn_hooks::boxed(f));
        self
    }
    /// Before user `id` changes: return the patch (changed or not), or refuse.
    pub fn before_user_update<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn((String, UserPatch)) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<UserPatch, crate::ApiError>> + Send + 'static,
    {
        self.fn_hooks.before_user_update.push(fn_hooks::boxed(f));
        self
    }
    pub fn after_user_update<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(User) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.fn_hooks.after_user_update.push(fn_hooks::boxed(f));
        self
    }
    /// Before a user is deleted (Better Auth's `user.deleteUser.beforeDelete`): refuse or allow.
    pub fn before_user_delete<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(User) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), crate::ApiError>> + Send + 'static,
    {
        self.fn_hooks.before_user_delete.push(fn_hooks::boxed(f));
        self
    }
    /// When an anonymous visitor signs in or up by another method (`[anonymous] enabled = true`),
    /// before the anonymous user is deleted: move its data to the new user (Better Auth's
    /// anonymous `onLinkAccount`). An error keeps the anonymous user (the sign-in still succeeds).
    pub fn on_link_account<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(crate::plugins::anonymous::Link) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), crate::ApiError>> + Send + 'static,
    {
        self.on_link_account.push(crate::plugins::anonymous::link::on_link(f));
        self
    }
    /// After a user was deleted (`afterDelete`).
    pub fn after_user_delete<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(User) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.fn_hooks.after_user_delete.push(fn_hooks::boxed(f));
        self
    }
    /// Every event a capability emits ([`events`]): sign-ins, user changes, revocations, ...
    /// Awaited in the request that caused it: hand slow work off.
    pub fn on_event<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.fn_hooks.on_event.push(fn_hooks::boxed(f));
        self
    }
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
    /// A store of your own instead of the SQL store on `database_url`. A [`SqlStore`] given here
    /// must declare every additional field ([`SqlStore::with_fields`]) of the configuration and of
    /// the capabilities, or the build fails naming the missing one; to share a connection pool
    /// with your app, pass it to [`database`](Self::database) instead, which declares them for you.
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }
    /// The SQL store on this pool (shared with your app) instead of one on `database_url`, with
    /// every capability's and the configuration's fields.
    pub fn database(mut self, db: Db) -> Self {
        self.database = Some(db);
        self
    }
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Everything the build checks before it connects anything: the capabilities and their
    /// sections, [`Config::validate`], the e-mail templates, the secrets and the additional fields.
    /// Shared by [`build`](Self::build) and [`check`](Self::check); it logs nothing.
    fn prepare(&mut self) -> Result<Prepared, StartError> {
        let mut config = std::mem::take(&mut self.config);
        let embedder = crate::plugins::Embedder { on_link_account: std::mem::take(&mut self.on_link_account) };
        let (mut capabilities, mut warnings) = crate::plugins::standard_with(&mut config, embedder)?;
        capabilities.append(&mut self.capabilities);
        let fns = std::mem::take(&mut self.fn_hooks);
        if !fns.is_empty() {
            capabilities.push(Arc::new(fns));
        }
        self.capabilities = capabilities;
        warnings.extend(sections_of(&self.capabilities, &mut config)?);
        warnings.extend(config.validate()?);
        let metrics = config.metrics.enabled.then(|| Arc::new(metrics::Metrics::new(&config)));
        if let Some(m) = &metrics {
            self.capabilities.push(Arc::new(metrics::Listener(m.clone())));
        }
        // Before any connection: a broken template stops the start at once, with its file and line.
        let messages = self.capabilities.iter().flat_map(|c| c.mail_messages());
        let mail_templates = Templates::builder(&config.app_name)
            .messages(messages)
            .overrides(&config.mail.templates)
            .build()
            .map_err(|e| StartError::Mail(e.to_string()))?;
        let secrets: Vec<String> = config.secret_list()?.into_iter().map(|(_, s)| s).collect();
        let (user_fields, session_fields) = fields_of(&self.capabilities, &config)?;
        let cookie_names: Vec<&str> = self.capabilities.iter().flat_map(|c| c.cookies().iter().copied()).collect();
        for key in config.advanced.cookies.keys().filter(|k| !cookie_names.contains(&k.as_str())) {
            warnings.push(format!(
                "advanced.cookies.{key} names no cookie this server sets (it sets {}); it has no effect",
                cookie_names.join(", ")
            ));
        }
        Ok(Prepared { config, warnings, mail_templates, secrets, user_fields, session_fields, metrics })
    }

    pub async fn build(mut self) -> Result<Auth, StartError> {
        let Prepared { config, warnings, mail_templates, secrets, user_fields, session_fields, metrics } = self.prepare()?;
        for w in warnings {
            tracing::warn!("{w}");
        }
        let store: Arc<dyn Store> = match (self.store, self.database) {
            (Some(s), _) => {
                missing_fields(s.as_ref(), &user_fields, &session_fields)?;
                s
            }
            (None, db) => {
                let db = match db {
                    Some(db) => db,
                    None => Db::connect(&config.database_url, &PoolOptions::from(&config.database)).await?,
                };
                Arc::new(
                    SqlStore::new(db, Names::new(config.schema.clone()).with_generate_id(config.advanced.database.generate_id))
                        .with_fields(user_fields.clone(), session_fields.clone()),
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
        let mut inputs = std::collections::HashMap::new();
        for c in &self.capabilities {
            inputs.extend(c.inputs());
            plugin_rules.extend(c.rate_limit_rules());
            form_csrf_paths.extend_from_slice(c.form_csrf_paths());
            cancellable_paths.extend_from_slice(c.cancellable_paths());
        }
        // Without its schema the pipeline cannot validate before form CSRF (Better Auth's order).
        for p in form_csrf_paths.iter().filter(|p| !inputs.contains_key(*p)) {
            tracing::warn!(path = %p, "form-CSRF route without a body schema in Capability::inputs: CSRF answers before validation");
        }
        let rate_rules = Rules::new(&config.rate_limit, plugin_rules);
        let secondary_health = Arc::new(Health::default());
        let secondary = match (self.secondary, &config.secondary_storage) {
            (Some(s), c) => {
                let timeout = c.as_ref().map_or(crate::secondary::DEFAULT_TIMEOUT, |c| std::time::Duration::from_millis(c.timeout_ms));
                Some(Secondary::new(s, timeout, secondary_health.clone()))
            }
            (None, Some(c)) => {
                let timeout = std::time::Duration::from_millis(c.timeout_ms);
                let s = crate::secondary::open(&c.url, &c.prefix, timeout).map_err(StartError::Secondary)?;
                Some(Secondary::new(s, timeout, secondary_health.clone()))
            }
            (None, None) => None,
        };
        let sessions = Arc::new(SessionStore::new(store.clone(), secondary.clone(), &config));
        let clock = self.clock.clone();
        SessionStore::spawn_replayer(&sessions, move || clock.now());
        let adapter = store.adapter(extra_tables(&self.capabilities, &config, &sessions));
        let counters: Option<Arc<dyn RateLimitStore>> = (config.rate_limit_enabled() || config.per_address_limit_enabled()).then(|| {
            crate::rate_limit::shared::for_config(&config, secondary.as_ref(), adapter.as_ref())
                .unwrap_or_else(|| Arc::new(MemoryStore::new()))
        });
        let rate_store = counters.clone().filter(|_| config.rate_limit_enabled());
        let rate_limit_health = Arc::<RateLimitHealth>::default();
        let send_gate = counters.filter(|_| config.per_address_limit_enabled()).map(|store| {
            let limit = &config.rate_limit.per_address;
            Arc::new(send_limit::SendLimit {
                store,
                rule: crate::rate_limit::Rule { window_s: limit.window, max: limit.max },
                on_error: config.rate_limit.on_storage_error,
                health: rate_limit_health.clone(),
                clock: self.clock.clone(),
            }) as Arc<dyn crate::mail::SendGate>
        });
        let auth_url = config.auth_url();
        let auth = Auth(Arc::new(AuthState {
            config,
            store,
            hasher,
            outgoing: Outgoing::new(mailer.clone(), crate::mail::MAX_SENDING).with_gate(send_gate.clone()),
            mailer,
            outbox,
            mail_templates,
            origins,
            ip_policy,
            cookies,
            secrets,
            rate_rules,
            rate_store,
            clock: self.clock,
            auth_url,
            hooked: Hooked::of(&self.capabilities),
            adapter,
            capabilities: self.capabilities,
            form_csrf_paths,
            inputs,
            cancellable_paths,
            user_fields,
            session_fields,
            sessions,
            secondary,
            secondary_health,
            detached: request_task::Detached::default(),
            rate_limit_health,
            background: crate::background::Background::default(),
            send_gate,
            metrics,
        }));
        if auth.config.migrate_on_start {
            let applied = auth.migrate().await?;
            if !applied.is_empty() {
                tracing::info!(statements = applied.len(), "schema migrated");
            }
        }
        // Before the first request: a revocation queued before a restart must already count.
        auth.sessions.load_revocations(auth.now()).await;
        if auth.config.background {
            for c in &auth.capabilities {
                c.on_start(&auth);
            }
        }
        Ok(auth)
    }
}
