//! The `organization`, `member` and `invitation` rows through the generic adapter, in Better
//! Auth's columns (dates as ISO-8601 strings, `metadata` as a JSON string).

use crate::app::Auth;
use crate::store::adapter::{Op, Query, Row, Where};
use crate::store::StoreResult;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const ORGANIZATION: &str = "organization";
pub const MEMBER: &str = "member";
pub const INVITATION: &str = "invitation";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Org {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub logo: Option<String>,
    pub created_at: String,
    pub metadata: Option<String>,
}

impl Org {
    /// The row as Better Auth answers it after parsing `metadata` (create, update, full).
    pub fn parsed(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(m) = &self.metadata {
            v["metadata"] = serde_json::from_str(m).unwrap_or_else(|_| Value::String(m.clone()));
        }
        v
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub id: String,
    pub organization_id: String,
    pub user_id: String,
    pub role: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invitation {
    pub id: String,
    pub organization_id: String,
    pub email: String,
    pub role: Option<String>,
    pub status: String,
    pub expires_at: String,
    pub created_at: String,
    pub inviter_id: String,
    /// Teams only: the invited team ids, comma-joined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
}

impl Invitation {
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        crate::fields::parse_date(&self.expires_at).is_none_or(|t| t <= now)
    }
}

/// A date as the adapter writes it.
pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn data(pairs: &[(&str, Value)]) -> Row {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<Map<_, _>>()
}

pub async fn first<T: serde::de::DeserializeOwned>(auth: &Auth, model: &str, filter: Vec<Where>) -> StoreResult<Option<T>> {
    let q = Query { filter, limit: Some(1), ..Default::default() };
    Ok(auth.adapter()?.find_many_as(model, &q).await?.into_iter().next())
}

pub async fn org_by_id(auth: &Auth, id: &str) -> StoreResult<Option<Org>> {
    first(auth, ORGANIZATION, vec![Where::eq("id", id)]).await
}

pub async fn org_by_slug(auth: &Auth, slug: &str) -> StoreResult<Option<Org>> {
    first(auth, ORGANIZATION, vec![Where::eq("slug", slug)]).await
}

pub async fn member_of(auth: &Auth, org_id: &str, user_id: &str) -> StoreResult<Option<Member>> {
    first(auth, MEMBER, vec![Where::eq("organizationId", org_id), Where::eq("userId", user_id)]).await
}

pub async fn member_by_id(auth: &Auth, id: &str) -> StoreResult<Option<Member>> {
    first(auth, MEMBER, vec![Where::eq("id", id)]).await
}

pub async fn members(auth: &Auth, q: &Query) -> StoreResult<Vec<Member>> {
    auth.adapter()?.find_many_as(MEMBER, q).await
}

pub async fn count_members(auth: &Auth, org_id: &str) -> StoreResult<u64> {
    auth.adapter()?.count(MEMBER, &[Where::eq("organizationId", org_id)]).await
}

/// The organizations `user_id` belongs to.
pub async fn orgs_of(auth: &Auth, user_id: &str) -> StoreResult<Vec<Org>> {
    let ms = members(auth, &Query { filter: vec![Where::eq("userId", user_id)], ..Default::default() }).await?;
    if ms.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Value> = ms.into_iter().map(|m| Value::String(m.organization_id)).collect();
    let q = Query { filter: vec![Where::new("id", Op::In, Value::Array(ids))], ..Default::default() };
    auth.adapter()?.find_many_as(ORGANIZATION, &q).await
}

pub async fn invitation_by_id(auth: &Auth, id: &str) -> StoreResult<Option<Invitation>> {
    first(auth, INVITATION, vec![Where::eq("id", id)]).await
}

pub async fn invitations(auth: &Auth, filter: Vec<Where>) -> StoreResult<Vec<Invitation>> {
    auth.adapter()?.find_many_as(INVITATION, &Query { filter, sort_by: Some(("createdAt".into(), false)), ..Default::default() }).await
}

/// Moves invitation `id` from `from` to `to` only if it still holds `from`: of two racing
/// accepts, one wins.
pub async fn transition(auth: &Auth, id: &str, from: &str, to: &str) -> StoreResult<bool> {
    let n =
        auth.adapter()?.update_many(INVITATION, &[Where::eq("id", id), Where::eq("status", from)], data(&[("status", to.into())])).await?;
    Ok(n == 1)
}

/// `{id, name, email, image}` of each user id (Better Auth's joined member user), a query per
/// 500 ids (well under SQLite's bound-parameter limit).
pub async fn users(auth: &Auth, ids: &[&str]) -> StoreResult<Map<String, Value>> {
    let mut out = Map::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let mut unique: Vec<&str> = ids.to_vec();
    unique.sort_unstable();
    unique.dedup();
    let adapter = auth.adapter()?;
    for chunk in unique.chunks(500) {
        let ids = Value::Array(chunk.iter().map(|id| Value::String(id.to_string())).collect());
        let q = Query { filter: vec![Where::new("id", Op::In, ids)], ..Default::default() };
        for row in adapter.find_many("user", &q).await? {
            let field = |k: &str| row.get(k).cloned().unwrap_or(Value::Null);
            if let Some(id) = row.get("id").and_then(Value::as_str) {
                let user = serde_json::json!({"id": id, "name": field("name"), "email": field("email"), "image": field("image")});
                out.insert(id.to_string(), user);
            }
        }
    }
    Ok(out)
}

/// Member objects: each row plus `user`.
pub async fn with_users(auth: &Auth, ms: &[Member]) -> StoreResult<Vec<Value>> {
    let ids: Vec<&str> = ms.iter().map(|m| m.user_id.as_str()).collect();
    let us = users(auth, &ids).await?;
    Ok(ms
        .iter()
        .map(|m| {
            let mut v = serde_json::to_value(m).unwrap_or_default();
            v["user"] = us.get(&m.user_id).cloned().unwrap_or(Value::Null);
            v
        })
        .collect())
}
