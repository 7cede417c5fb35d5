//! The audit log, shared by the capabilities that change other people's accounts (admin,
//! organizations): one `auditLog` row per action, with who did it, from where, to what, and when.
//! Each such capability declares [`table`] in its schema (the engine keeps one copy) and calls
//! [`record`] after the action succeeded. A Portcullis addition: Better Auth has no such table, and
//! nothing on the wire changes.
//!
//! Must never: fail or delay the action it records beyond one insert (a failed write is logged,
//! with the action and ids, and the action stands), or store a secret: callers pass ids, field
//! names and non-secret values only (never a password, token or code).

use crate::app::Auth;
use crate::store::schema::{ColType, Column, Table};
use serde_json::{Map, Value};

pub const TABLE: &str = "auditLog";

/// `auditLog`: `id`, `action` (`admin.ban-user`, `organization.invite-member`, ...), `actorId`,
/// `actorIp`, `targetType` (`user`, `session`, `organization`, `member`, `invitation`, `team`),
/// `targetId`, `organizationId`, `data` (JSON text), `createdAt`.
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
        ],
        indexes: vec!["actorId", "targetId", "organizationId", "createdAt"],
    }
}

/// One action to record.
#[derive(Debug, Clone, Default)]
pub struct Entry<'a> {
    pub action: &'a str,
    /// The user who acted (`None` for the operator's command line or a server call).
    pub actor_id: Option<&'a str>,
    pub actor_ip: Option<&'a str>,
    pub target_type: &'a str,
    pub target_id: Option<&'a str>,
    pub organization_id: Option<&'a str>,
    /// Details (changed field names, the new role, a ban's expiry...), never secrets.
    pub data: Option<Value>,
}

/// Writes `entry`; a failure is logged, not returned.
pub async fn record(auth: &Auth, entry: Entry<'_>) {
    let mut row = Map::new();
    row.insert("id".into(), auth.new_id().into());
    row.insert("action".into(), entry.action.into());
    row.insert("actorId".into(), entry.actor_id.into());
    row.insert("actorIp".into(), entry.actor_ip.into());
    row.insert("targetType".into(), entry.target_type.into());
    row.insert("targetId".into(), entry.target_id.into());
    row.insert("organizationId".into(), entry.organization_id.into());
    row.insert("data".into(), entry.data.map(|d| Value::String(d.to_string())).unwrap_or(Value::Null));
    row.insert("createdAt".into(), crate::store::model::iso_ms::format(&auth.now()).into());
    let written = match auth.adapter() {
        Ok(a) => a.create(TABLE, row).await.map(drop),
        Err(e) => Err(e),
    };
    if let Err(e) = written {
        tracing::error!(action = entry.action, actor = ?entry.actor_id, target = ?entry.target_id, error = %e, "audit record not written");
    }
}
