//! The audit log: one `auditLog` row per security event (sign-ins and their failures, sign-outs
//! and revocations, password, e-mail, two-factor and passkey changes, linked accounts, admin and
//! organization actions), with who acted, from which address and User-Agent, on what, and when.
//!
//! The capabilities emit [`Event`]s ([`crate::app::events`]) where the action succeeded (or was
//! refused); this capability listens (`Hooks { events: true }`) and writes each event whose kind
//! `[audit] events` selects ([`config`]). Rows older than `retention_days` are pruned in the
//! background, from start-up and every `prune_interval` ([`retention`]); admins read them at `GET /admin/audit-log` ([`routes`]). A
//! Portcullis addition: Better Auth has no such table, and nothing on the wire changes.
//!
//! Must never: fail or delay the action it records beyond one insert (a failed write is logged,
//! with the action and ids, and the action stands), or store a secret: events carry ids, names and
//! non-secret values only (never a password, token or code; see [`crate::app::events`]).

pub mod config;
pub mod retention;
pub mod routes;

use crate::app::{Auth, Capability, Event};
use crate::config::SectionSpec;
use crate::session::hooks::Hooks;
use crate::store::schema::{ColType, Column, Table};
use serde_json::{Map, Value};

pub const TABLE: &str = "auditLog";

/// `auditLog`: `id`, `action` (the event kind: `session.revoked`, `admin.ban-user`, `member.added`,
/// ...), `actorId`, `actorIp`, `userAgent`, `targetType` (`user`, `session`, `account`,
/// `organization`, `member`, `invitation`, `team`, ...), `targetId`, `organizationId`, `data`
/// (JSON text), `createdAt`.
pub fn table() -> Table {
    use ColType::*;
    Table {
        name: TABLE,
        columns: vec![
            Column::new("id", Text).pk(),
            Column::new("action", Text),
            Column::new("actorId", Text).null(),
            Column::new("actorIp", Text).null(),
            Column::new("targetType", Text),
            Column::new("targetId", Text).null(),
            Column::new("organizationId", Text).null(),
            Column::new("data", Text).null(),
            Column::new("createdAt", Time),
            Column::new("userAgent", Text).null(),
        ],
        indexes: vec!["actorId", "targetId", "organizationId", "createdAt", "action"],
        search: vec![],
    }
}

/// The audit log's error codes.
pub mod errors {
    crate::error_codes! {
        YOU_ARE_NOT_ALLOWED_TO_LIST_AUDIT_LOG = FORBIDDEN, "You are not allowed to list the audit log";
        INVALID_AUDIT_TIME = BAD_REQUEST, "from and to must be ISO 8601 times";
        INVALID_AUDIT_CURSOR = BAD_REQUEST, "Invalid cursor";
        INVALID_AUDIT_LIMIT = BAD_REQUEST, "limit must be a positive integer";
    }
}

/// This capability's `[audit]` section.
pub fn settings(auth: &Auth) -> &config::AuditConfig {
    auth.config.section()
}

/// The audit capability; `admin` says whether `/admin/audit-log` is served (it needs the admin
/// capability's roles).
pub struct Audit {
    admin: bool,
    pruner: retention::Pruner,
}

impl Audit {
    pub fn new(admin: bool) -> Self {
        Audit { admin, pruner: retention::Pruner::default() }
    }
}

#[async_trait::async_trait]
impl Capability for Audit {
    fn id(&self) -> &'static str {
        "audit"
    }
    fn sections(&self) -> Vec<SectionSpec> {
        vec![SectionSpec::of::<config::AuditConfig>()]
    }
    fn schema(&self) -> Vec<Table> {
        vec![table()]
    }
    fn api(&self) -> crate::app::openapi::Api {
        use crate::app::openapi::wire::*;
        use crate::app::openapi::{Api, Op};
        if !self.admin {
            return Api::default();
        }
        Api::new("Audit log").get(
            "/admin/audit-log",
            routes::list,
            Op::new("Security events, newest first (filters, cursor pages)")
                .signed_in()
                .bare("401")
                .query::<routes::AuditQuery>()
                .json(object(&[("entries", array(any())), ("nextCursor", any())], &[])),
        )
    }
    fn hooks(&self) -> Hooks {
        Hooks { events: true, ..Hooks::default() }
    }
    fn on_start(&self, auth: &Auth) {
        retention::start(self.pruner.clone(), auth);
    }
    async fn on_event(&self, auth: &Auth, event: &Event) {
        if !settings(auth).records(event.kind) {
            return;
        }
        write(auth, event).await;
        self.pruner.maybe_spawn(auth);
    }
}

/// The row of `event`.
pub fn row(auth: &Auth, event: &Event) -> Map<String, Value> {
    let mut row = Map::new();
    row.insert("id".into(), auth.new_id().into());
    row.insert("action".into(), event.kind.into());
    row.insert("actorId".into(), event.actor_id.clone().into());
    row.insert("actorIp".into(), event.ip.clone().into());
    row.insert("userAgent".into(), event.user_agent.clone().into());
    row.insert("targetType".into(), event.target_type.into());
    row.insert("targetId".into(), event.target_id.clone().into());
    row.insert("organizationId".into(), event.organization_id.clone().into());
    let data = if event.data.is_null() { Value::Null } else { Value::String(event.data.to_string()) };
    row.insert("data".into(), data);
    row.insert("createdAt".into(), crate::store::model::iso_ms::format(&event.at).into());
    row
}

/// Writes `event`; a failure is logged, not returned.
async fn write(auth: &Auth, event: &Event) {
    let written = match auth.adapter() {
        Ok(a) => a.create(TABLE, row(auth, event)).await.map(drop),
        Err(e) => Err(e),
    };
    if let Err(e) = written {
        tracing::error!(action = event.kind, actor = ?event.actor_id, target = ?event.target_id, error = %e, "audit record not written");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::adapter::{Adapter, Query};
    use crate::store::driver::{Db, PoolOptions};
    use crate::store::schema::{migrate, Names};

    /// `migrate` adds `userAgent` to an `auditLog` created by an older version, keeping its rows.
    #[tokio::test]
    async fn migrate_adds_the_user_agent_column_to_an_old_table() {
        let path = std::env::temp_dir().join(format!("portcullis-audit-{}.db", crate::crypto::random_id(12)));
        let db = Db::connect(&format!("sqlite://{}?mode=rwc", path.display()), &PoolOptions::default()).await.unwrap();
        db.execute(
            r#"create table "auditLog" ("id" text primary key, "action" text not null, "actorId" text, "actorIp" text, "targetType" text not null, "targetId" text, "organizationId" text, "data" text, "createdAt" date not null)"#,
            &[],
        )
        .await
        .unwrap();
        db.execute(
            r#"insert into "auditLog" values ('old', 'admin.ban-user', 'a', null, 'user', 'u', null, null, '2026-01-01T00:00:00.000Z')"#,
            &[],
        )
        .await
        .unwrap();
        let applied = migrate(&db, &Names::default(), &[table()]).await.unwrap();
        assert!(applied.iter().any(|s| s.contains("add column") && s.contains("\"userAgent\"")), "{applied:?}");
        assert!(migrate(&db, &Names::default(), &[table()]).await.unwrap().is_empty(), "idempotent");
        let a = Adapter::new(db.clone(), Names::default(), vec![table()]);
        let rows = a.find_many(TABLE, &Query::default()).await.unwrap();
        assert_eq!((rows.len(), rows[0]["id"].as_str(), &rows[0]["userAgent"]), (1, Some("old"), &Value::Null));
        db.close().await;
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
        }
    }
}
