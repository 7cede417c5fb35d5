//! The `twoFactor` table (Better Auth's schema, spec plugins §1.1) through the generic adapter, and
//! the account lockout kept on it (`failedVerificationCount`, `lockedUntil`).
//!
//! Writes that race are compare-and-set on the row: a spent backup code (the old ciphertext must
//! still be there), a failure count (the old count must still be there), so two concurrent
//! requests can neither both spend one code nor lose a failure.

use super::errors;
use crate::app::Auth;
use crate::error::{ApiError, ApiResult};
use crate::store::adapter::{Op, Row, Where};
use crate::store::schema::{ColType, Column, Table};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

pub const TABLE: &str = "twoFactor";

/// The table, as Better Auth 1.7.24 creates it.
pub fn table() -> Table {
    use ColType::*;
    Table {
        name: TABLE,
        columns: vec![
            Column::new("id", Text).pk(),
            Column::new("secret", Text),
            Column::new("backupCodes", Text),
            Column::new("userId", Text).refs("user"),
            Column::new("verified", Bool).null(),
            Column::new("failedVerificationCount", Int).null(),
            Column::new("lockedUntil", Time).null(),
        ],
        indexes: vec!["secret", "userId"],
        search: vec![],
    }
}

/// One user's row. `verified` NULL (rows from before Better Auth 1.6.2) counts as verified where
/// Better Auth says `verified !== false`, and as not verified where it says `verified !== true`.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TwoFactorRow {
    pub id: String,
    pub secret: String,
    pub backup_codes: String,
    pub user_id: String,
    pub verified: Option<bool>,
    pub failed_verification_count: Option<i64>,
    pub locked_until: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for TwoFactorRow {
    // The secret and the codes stay out of logs, even encrypted.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwoFactorRow")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("verified", &self.verified)
            .finish_non_exhaustive()
    }
}

fn iso(t: DateTime<Utc>) -> Value {
    Value::String(crate::store::model::iso_ms::format(&t))
}

fn map(v: Value) -> Row {
    match v {
        Value::Object(m) => m,
        _ => Row::new(),
    }
}

pub async fn find(auth: &Auth, user_id: &str) -> ApiResult<Option<TwoFactorRow>> {
    let row = auth.adapter()?.find_one(TABLE, &[Where::eq("userId", user_id)]).await?;
    Ok(row.map(crate::store::adapter::from_row).transpose()?)
}

/// Creates or replaces the user's row with a new secret and codes (`enable`).
pub async fn upsert(
    auth: &Auth,
    user_id: &str,
    existing: Option<&TwoFactorRow>,
    secret: &str,
    codes: &str,
    verified: bool,
) -> ApiResult<()> {
    let a = auth.adapter()?;
    let data = map(json!({ "secret": secret, "backupCodes": codes, "verified": verified }));
    match existing {
        Some(r) => {
            a.update(TABLE, &[Where::eq("id", r.id.as_str())], data).await?;
        }
        None => {
            let mut data = data;
            data.insert("id".into(), Value::String(auth.new_id()));
            data.insert("userId".into(), Value::String(user_id.into()));
            a.create(TABLE, data).await?;
        }
    }
    Ok(())
}

pub async fn set(auth: &Auth, id: &str, data: Value) -> ApiResult<()> {
    auth.adapter()?.update(TABLE, &[Where::eq("id", id)], map(data)).await?;
    Ok(())
}

pub async fn delete_for_user(auth: &Auth, user_id: &str) -> ApiResult<()> {
    auth.adapter()?.delete(TABLE, &[Where::eq("userId", user_id)]).await?;
    Ok(())
}

/// Replaces the backup codes only if they are still `old`; false when another request changed
/// them first.
pub async fn swap_codes(auth: &Auth, id: &str, old: &str, new: &str) -> ApiResult<bool> {
    let filter = [Where::eq("id", id), Where::eq("backupCodes", old)];
    Ok(auth.adapter()?.update(TABLE, &filter, map(json!({ "backupCodes": new }))).await?.is_some())
}

// ---- account lockout (Better Auth's assertTwoFactorNotLocked / record / reset)

/// 429 `ACCOUNT_TEMPORARILY_LOCKED` while the lock holds; an expired lock is cleared.
pub async fn assert_not_locked(auth: &Auth, row: &TwoFactorRow) -> ApiResult<()> {
    let cfg = &super::settings(auth).account_lockout;
    let Some(until) = row.locked_until.filter(|_| cfg.enabled) else { return Ok(()) };
    let now = auth.now();
    if until > now {
        return Err(errors::ACCOUNT_TEMPORARILY_LOCKED);
    }
    let filter = [Where::eq("id", row.id.as_str()), Where::new("lockedUntil", Op::Lte, iso(now))];
    auth.adapter()?.update(TABLE, &filter, map(json!({ "failedVerificationCount": 0, "lockedUntil": null }))).await?;
    Ok(())
}

/// Counts one failure; locks the account when the count reaches the maximum. The increment is a
/// compare-and-set on the count, retried, so concurrent failures are all counted.
pub async fn record_failure(auth: &Auth, row: &TwoFactorRow) -> ApiResult<()> {
    let cfg = &super::settings(auth).account_lockout;
    if !cfg.enabled {
        return Ok(());
    }
    let a = auth.adapter()?;
    let mut seen = row.failed_verification_count;
    let mut count = None;
    for _ in 0..8 {
        let next = seen.unwrap_or(0) + 1;
        let was = match seen {
            Some(n) => Where::eq("failedVerificationCount", n),
            None => Where::eq("failedVerificationCount", Value::Null),
        };
        let updated = a.update(TABLE, &[Where::eq("id", row.id.as_str()), was], map(json!({ "failedVerificationCount": next }))).await?;
        if updated.is_some() {
            count = Some(next);
            break;
        }
        match find_by_id(auth, &row.id).await? {
            Some(r) => seen = r.failed_verification_count,
            None => return Ok(()),
        }
    }
    let Some(count) = count else { return Err(ApiError::internal("two-factor failure count kept changing")) };
    if count >= cfg.max_failed_attempts {
        let until = auth.now() + Duration::seconds(i64::try_from(cfg.duration_seconds.min(1 << 32)).unwrap_or(900));
        let filter = [Where::eq("id", row.id.as_str()), Where::new("failedVerificationCount", Op::Gte, cfg.max_failed_attempts)];
        a.update(TABLE, &filter, map(json!({ "lockedUntil": iso(until) }))).await?;
    }
    Ok(())
}

/// Clears the failure count after a success.
pub async fn reset_failures(auth: &Auth, row: &TwoFactorRow) -> ApiResult<()> {
    if !super::settings(auth).account_lockout.enabled {
        return Ok(());
    }
    set(auth, &row.id, json!({ "failedVerificationCount": 0, "lockedUntil": null })).await
}

async fn find_by_id(auth: &Auth, id: &str) -> ApiResult<Option<TwoFactorRow>> {
    let row = auth.adapter()?.find_one(TABLE, &[Where::eq("id", id)]).await?;
    Ok(row.map(crate::store::adapter::from_row).transpose()?)
}
