//! The `team` and `teamMember` rows (teams on), and the team steps other routes take: the
//! default team of a new organization, joining invited teams, leaving an organization's teams.

use super::errors::*;
use super::rows::{self, data, iso};
use super::settings;
use crate::app::Auth;
use crate::error::ApiResult;
use crate::store::adapter::{Op, Query, Row, Where};
use base64::Engine;
use serde_json::{json, Value};
use sha2::Digest;

pub const TEAM: &str = "team";
pub const TEAM_MEMBER: &str = "teamMember";

/// A team as answered: the row without `memberCount` (`returned: false`).
pub fn shown(mut row: Row) -> Value {
    row.remove("memberCount");
    Value::Object(row)
}

/// A team-member row as answered: without `membershipKey`.
pub fn shown_member(mut row: Row) -> Value {
    row.remove("membershipKey");
    Value::Object(row)
}

pub async fn team(auth: &Auth, id: &str) -> ApiResult<Option<Row>> {
    Ok(auth.adapter()?.find_one(TEAM, &[Where::eq("id", id)]).await?)
}

/// Team `id` when it belongs to `org`.
pub async fn team_in(auth: &Auth, id: &str, org: &str) -> ApiResult<Option<Row>> {
    Ok(team(auth, id).await?.filter(|t| t.get("organizationId").and_then(Value::as_str) == Some(org)))
}

pub async fn teams_of_org(auth: &Auth, org: &str) -> ApiResult<Vec<Row>> {
    let q = Query { filter: vec![Where::eq("organizationId", org)], sort_by: Some(("createdAt".into(), false)), ..Default::default() };
    Ok(auth.adapter()?.find_many(TEAM, &q).await?)
}

pub async fn membership(auth: &Auth, team: &str, user: &str) -> ApiResult<Option<Row>> {
    Ok(auth.adapter()?.find_one(TEAM_MEMBER, &[Where::eq("teamId", team), Where::eq("userId", user)]).await?)
}

/// `base64url_nopad(SHA-256(JSON.stringify([teamId, userId])))`: one row per pair.
fn membership_key(team: &str, user: &str) -> String {
    let json = serde_json::to_string(&[team, user]).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(json.as_bytes()))
}

pub async fn create_team(auth: &Auth, org: &str, name: &str) -> ApiResult<Row> {
    let now = iso(auth.now());
    let row = data(&[
        ("id", auth.new_id().into()),
        ("name", name.into()),
        ("organizationId", org.into()),
        ("createdAt", now.clone().into()),
        ("updatedAt", now.into()),
        ("memberCount", 0.into()),
    ]);
    Ok(auth.adapter()?.create(TEAM, row).await?)
}

/// Adds `user` to `team` (idempotent: the existing row when already in it), within the seat
/// limit. The count is re-synced from the rows first (older databases lack it).
pub async fn join(auth: &Auth, team: &str, user: &str) -> ApiResult<Row> {
    if let Some(m) = membership(auth, team, user).await? {
        return Ok(m);
    }
    let a = auth.adapter()?;
    let n = a.count(TEAM_MEMBER, &[Where::eq("teamId", team)]).await?;
    if settings(auth).teams.maximum_members_per_team.is_some_and(|max| n >= max) {
        return Err(TEAM_MEMBER_LIMIT_REACHED);
    }
    let row = data(&[
        ("id", auth.new_id().into()),
        ("teamId", team.into()),
        ("userId", user.into()),
        ("membershipKey", membership_key(team, user).into()),
        ("createdAt", iso(auth.now()).into()),
    ]);
    let created = match a.create(TEAM_MEMBER, row).await {
        Ok(r) => r,
        // A racing add of the same pair: the key is unique, the other row stands.
        Err(crate::store::StoreError::Conflict(_)) => return membership(auth, team, user).await?.ok_or(TEAM_NOT_FOUND),
        Err(e) => return Err(e.into()),
    };
    resync(auth, team).await?;
    Ok(created)
}

/// Sets `memberCount` from the rows.
pub async fn resync(auth: &Auth, team: &str) -> ApiResult<()> {
    let a = auth.adapter()?;
    let n = a.count(TEAM_MEMBER, &[Where::eq("teamId", team)]).await?;
    a.update(TEAM, &[Where::eq("id", team)], data(&[("memberCount", json!(n))])).await?;
    Ok(())
}

pub async fn leave(auth: &Auth, team: &str, user: &str) -> ApiResult<bool> {
    let n = auth.adapter()?.delete_many(TEAM_MEMBER, &[Where::eq("teamId", team), Where::eq("userId", user)]).await?;
    resync(auth, team).await?;
    Ok(n > 0)
}

/// Removes `user` from every team of `org` (they left or were removed from it).
pub async fn leave_all(auth: &Auth, org: &str, user: &str) -> ApiResult<()> {
    for t in teams_of_org(auth, org).await? {
        if let Some(id) = t.get("id").and_then(Value::as_str) {
            leave(auth, id, user).await?;
        }
    }
    Ok(())
}

/// Deletes every team of `org` and their members (before the organization goes).
pub async fn delete_all(auth: &Auth, org: &str) -> ApiResult<()> {
    let ids: Vec<Value> = teams_of_org(auth, org).await?.into_iter().filter_map(|t| t.get("id").cloned()).collect();
    if !ids.is_empty() {
        auth.adapter()?.delete_many(TEAM_MEMBER, &[Where::new("teamId", Op::In, Value::Array(ids))]).await?;
    }
    auth.adapter()?.delete_many(TEAM, &[Where::eq("organizationId", org)]).await?;
    Ok(())
}

/// The teams `user` is in.
pub async fn teams_of_user(auth: &Auth, user: &str) -> ApiResult<Vec<Row>> {
    let ms = auth.adapter()?.find_many(TEAM_MEMBER, &Query { filter: vec![Where::eq("userId", user)], ..Default::default() }).await?;
    let ids: Vec<Value> = ms.into_iter().filter_map(|m| m.get("teamId").cloned()).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let q = Query { filter: vec![Where::new("id", Op::In, Value::Array(ids))], ..Default::default() };
    Ok(auth.adapter()?.find_many(TEAM, &q).await?)
}

/// Removes `team` from the pending invitations of `org` that name it.
pub async fn forget_in_invitations(auth: &Auth, org: &str, team: &str) -> ApiResult<()> {
    let a = auth.adapter()?;
    let q = Query { filter: vec![Where::eq("organizationId", org), Where::eq("status", "pending")], ..Default::default() };
    for inv in a.find_many(rows::INVITATION, &q).await? {
        let Some(ids) = inv.get("teamId").and_then(Value::as_str) else { continue };
        let list: Vec<&str> = ids.split(',').collect();
        if !list.contains(&team) {
            continue;
        }
        let rest: Vec<&str> = list.into_iter().filter(|t| *t != team).collect();
        let v = if rest.is_empty() { Value::Null } else { Value::String(rest.join(",")) };
        let id = inv.get("id").cloned().unwrap_or(Value::Null);
        a.update(rows::INVITATION, &[Where::new("id", Op::Eq, id)], data(&[("teamId", v)])).await?;
    }
    Ok(())
}
