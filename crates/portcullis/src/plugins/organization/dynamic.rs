//! Dynamic access control (`[organization.dynamic_access_control] enabled = true`, spec §4.4):
//! create-role, delete-role, list-roles, get-role, update-role over the `organizationRole` table.
//!
//! Better Auth answers 501 MISSING_AC_INSTANCE when its plugin has no `ac` instance; Portcullis
//! always has one (Better Auth's statements plus `[organization] statements`), so never does.
//!
//! Must never: let a member create or widen a role beyond what its own roles grant, shadow or
//! delete a static role, or delete a role a member still holds.

use super::errors::*;
use super::roles::{self, parse_permission, OrgRoles, ORGANIZATION_ROLE};
use super::rows::{self, data, iso, Member};
use super::{audit, org_id, settings, Ac, By};
use crate::access::{AccessControl, Statements};
use crate::app::Auth;
use crate::error::{ApiError, ApiResult};
use crate::http::input::{Input, Obj, Shape, Valid, ValidQuery};
use crate::http::reply::Reply;
use crate::session::{Current, RequestMeta, SessionAuth};
use crate::store::adapter::{Op, Query, Row, Where};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Extension;
use serde_json::{json, Map, Value};

/// `z.record(z.string(), z.array(z.string()))`, read from the object `d`.
fn statements(d: &mut Obj<'_>) -> Statements {
    let keys: Vec<String> = d.map().keys().cloned().collect();
    keys.into_iter().filter_map(|k| d.opt_strings(&k).map(|v| (k, v))).collect()
}

/// `{roleName} | {roleId}` (both non-empty strings); the name wins when both are given.
#[derive(Debug, Clone, Default)]
pub struct Target {
    name: Option<String>,
    id: Option<String>,
}
impl Target {
    fn parse(o: &mut Obj<'_>) -> Self {
        let id = o.opt_string("roleId").filter(|s| !s.is_empty());
        let name = match &id {
            Some(_) => o.opt_string("roleName").filter(|s| !s.is_empty()),
            None => Some(o.nonempty("roleName")),
        };
        Target { name, id }
    }
    fn filter(&self, org: &str) -> ApiResult<Vec<Where>> {
        let by = match (&self.name, &self.id) {
            (Some(n), _) => Where::eq("role", n.as_str()),
            (None, Some(i)) => Where::eq("id", i.as_str()),
            (None, None) => return Err(ROLE_NOT_FOUND),
        };
        Ok(vec![Where::eq("organizationId", org), by])
    }
}

/// The row with `permission` parsed (how Better Auth answers it).
fn shown(mut row: Row) -> ApiResult<Value> {
    let name = row.get("role").and_then(Value::as_str).unwrap_or_default().to_string();
    if let Some(Value::String(p)) = row.get("permission") {
        let parsed = parse_permission(&name, p)?;
        row.insert("permission".into(), json!(parsed));
    }
    Ok(Value::Object(row))
}

/// The caller's membership in `org` (403 when there is none) and the roles in force there.
async fn member<'a>(auth: &Auth, ac: &'a AccessControl, cur: &Current, org: &str) -> ApiResult<(Member, OrgRoles<'a>)> {
    let me = rows::member_of(auth, org, &cur.user.id).await?.ok_or(YOU_ARE_NOT_A_MEMBER_OF_THIS_ORGANIZATION)?;
    Ok((me, roles::of(auth, ac, org).await?))
}

/// INVALID_RESOURCE when `wanted` names a resource the statements do not have.
fn known_resources(ac: &AccessControl, wanted: &Statements) -> ApiResult<()> {
    match wanted.keys().all(|r| ac.statements().contains_key(r)) {
        true => Ok(()),
        false => Err(INVALID_RESOURCE),
    }
}

/// A 403 with `error`'s code and message and the `resource:action`s the caller lacks, when it
/// lacks any of `wanted`.
fn holds_all(roles: &OrgRoles<'_>, me: &Member, wanted: &Statements, error: ApiError) -> Result<(), Reply> {
    let missing = roles.missing(&me.role, wanted);
    if missing.is_empty() {
        return Ok(());
    }
    let body = json!({"message": error.message, "code": error.code, "missingPermissions": missing});
    Err(Reply::json(&body).status(StatusCode::FORBIDDEN))
}

/// ROLE_NAME_IS_ALREADY_TAKEN when `name` is a static role or a role of `org` already.
async fn name_free(auth: &Auth, ac: &AccessControl, org: &str, name: &str) -> ApiResult<()> {
    if ac.has_role(name) {
        return Err(ROLE_NAME_IS_ALREADY_TAKEN);
    }
    let taken = auth.adapter()?.find_one(ORGANIZATION_ROLE, &[Where::eq("organizationId", org), Where::eq("role", name)]).await?;
    match taken {
        Some(_) => Err(ROLE_NAME_IS_ALREADY_TAKEN),
        None => Ok(()),
    }
}

pub struct CreateBody {
    role: String,
    permission: Statements,
    organization_id: Option<String>,
}
impl Input for CreateBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        CreateBody {
            organization_id: o.opt_string("organizationId"),
            role: o.string("role"),
            permission: o.object("permission", statements),
        }
    }
}

pub async fn create(
    State(auth): State<Auth>,
    Extension(ac): Ac,
    Valid(b): Valid<CreateBody>,
    SessionAuth(cur): SessionAuth,
    meta: RequestMeta,
) -> ApiResult<Reply> {
    let org = org_id(b.organization_id, &cur.session).ok_or(YOU_MUST_BE_IN_AN_ORGANIZATION_TO_CREATE_A_ROLE)?;
    let name = b.role.to_lowercase();
    if ac.has_role(&name) {
        return Err(ROLE_NAME_IS_ALREADY_TAKEN);
    }
    let (me, roles) = member(&auth, &ac, &cur, &org).await?;
    if !roles.can(&me.role, &[("ac", &["create"])]) {
        return Err(YOU_ARE_NOT_ALLOWED_TO_CREATE_A_ROLE);
    }
    if let Some(max) = settings(&auth).dynamic_access_control.maximum_roles_per_organization {
        if auth.adapter()?.count(ORGANIZATION_ROLE, &[Where::eq("organizationId", org.as_str())]).await? >= max {
            return Err(TOO_MANY_ROLES);
        }
    }
    known_resources(&ac, &b.permission)?;
    if let Err(denied) = holds_all(&roles, &me, &b.permission, YOU_ARE_NOT_ALLOWED_TO_CREATE_A_ROLE) {
        return Ok(denied);
    }
    name_free(&auth, &ac, &org, &name).await?;
    let stored = serde_json::to_string(&b.permission).map_err(ApiError::internal)?;
    let row = data(&[
        ("id", auth.new_id().into()),
        ("organizationId", org.clone().into()),
        ("role", name.clone().into()),
        ("permission", stored.into()),
        ("createdAt", iso(auth.now()).into()),
        ("updatedAt", Value::Null),
    ]);
    let row = auth.adapter()?.create(ORGANIZATION_ROLE, row).await?;
    let id = row.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
    let detail = json!({"role": name, "permission": b.permission});
    audit(&auth, By::of(&cur, &meta), "role.created", ("role", &id), &org, Some(detail)).await;
    Ok(Reply::json(&json!({"success": true, "roleData": shown(row)?, "statements": b.permission})))
}

pub struct TargetBody {
    target: Target,
    organization_id: Option<String>,
}
impl Input for TargetBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        TargetBody { organization_id: o.opt_string("organizationId"), target: Target::parse(o) }
    }
}

pub async fn delete(
    State(auth): State<Auth>,
    Extension(ac): Ac,
    Valid(b): Valid<TargetBody>,
    SessionAuth(cur): SessionAuth,
    meta: RequestMeta,
) -> ApiResult<Reply> {
    let org = org_id(b.organization_id, &cur.session).ok_or(NO_ACTIVE_ORGANIZATION)?;
    let (me, roles) = member(&auth, &ac, &cur, &org).await?;
    if !roles.can(&me.role, &[("ac", &["delete"])]) {
        return Err(YOU_ARE_NOT_ALLOWED_TO_DELETE_A_ROLE);
    }
    if b.target.name.as_deref().is_some_and(|n| ac.has_role(n)) {
        return Err(CANNOT_DELETE_A_PRE_DEFINED_ROLE);
    }
    let filter = b.target.filter(&org)?;
    let row = auth.adapter()?.find_one(ORGANIZATION_ROLE, &filter).await?.ok_or(ROLE_NOT_FOUND)?;
    let name = row.get("role").and_then(Value::as_str).unwrap_or_default().to_string();
    let q = Query {
        filter: vec![Where::eq("organizationId", org.as_str()), Where::new("role", Op::Contains, name.as_str())],
        ..Default::default()
    };
    if rows::members(&auth, &q).await?.iter().any(|m| roles::holds(&m.role, &name, auth.now())) {
        return Err(ROLE_IS_ASSIGNED_TO_MEMBERS);
    }
    auth.adapter()?.delete(ORGANIZATION_ROLE, &filter).await?;
    let id = row.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
    audit(&auth, By::of(&cur, &meta), "role.deleted", ("role", &id), &org, Some(json!({"role": name}))).await;
    Ok(Reply::json(&json!({"success": true})))
}

pub struct ListQuery {
    organization_id: Option<String>,
}
impl Input for ListQuery {
    const SHAPE: Shape = Shape::OptionalObject;
    fn parse(o: &mut Obj<'_>) -> Self {
        ListQuery { organization_id: o.opt_string("organizationId") }
    }
}

pub async fn list(
    State(auth): State<Auth>,
    Extension(ac): Ac,
    ValidQuery(q): ValidQuery<ListQuery>,
    SessionAuth(cur): SessionAuth,
) -> ApiResult<Reply> {
    let org = org_id(q.organization_id, &cur.session).ok_or(NO_ACTIVE_ORGANIZATION)?;
    let (me, roles) = member(&auth, &ac, &cur, &org).await?;
    if !roles.can(&me.role, &[("ac", &["read"])]) {
        return Err(YOU_ARE_NOT_ALLOWED_TO_LIST_A_ROLE);
    }
    let out = roles::rows_of(&auth, &org).await?.into_iter().map(shown).collect::<ApiResult<Vec<_>>>()?;
    Ok(Reply::json(&out))
}

pub async fn get(
    State(auth): State<Auth>,
    Extension(ac): Ac,
    ValidQuery(q): ValidQuery<TargetBody>,
    SessionAuth(cur): SessionAuth,
) -> ApiResult<Reply> {
    let org = org_id(q.organization_id, &cur.session).ok_or(NO_ACTIVE_ORGANIZATION)?;
    let (me, roles) = member(&auth, &ac, &cur, &org).await?;
    if !roles.can(&me.role, &[("ac", &["read"])]) {
        return Err(YOU_ARE_NOT_ALLOWED_TO_READ_A_ROLE);
    }
    let row = auth.adapter()?.find_one(ORGANIZATION_ROLE, &q.target.filter(&org)?).await?.ok_or(ROLE_NOT_FOUND)?;
    Ok(Reply::json(&shown(row)?))
}

pub struct UpdateBody {
    target: Target,
    organization_id: Option<String>,
    permission: Option<Statements>,
    role_name: Option<String>,
}
impl Input for UpdateBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        let organization_id = o.opt_string("organizationId");
        let target = Target::parse(o);
        let (permission, role_name) = o.object("data", |d| (d.opt_object("permission", statements), d.opt_string("roleName")));
        UpdateBody { target, organization_id, permission, role_name }
    }
}

pub async fn update(
    State(auth): State<Auth>,
    Extension(ac): Ac,
    Valid(b): Valid<UpdateBody>,
    SessionAuth(cur): SessionAuth,
    meta: RequestMeta,
) -> ApiResult<Reply> {
    let org = org_id(b.organization_id, &cur.session).ok_or(NO_ACTIVE_ORGANIZATION)?;
    let (me, roles) = member(&auth, &ac, &cur, &org).await?;
    if !roles.can(&me.role, &[("ac", &["update"])]) {
        return Err(YOU_ARE_NOT_ALLOWED_TO_UPDATE_A_ROLE);
    }
    let filter = b.target.filter(&org)?;
    let row = auth.adapter()?.find_one(ORGANIZATION_ROLE, &filter).await?.ok_or(ROLE_NOT_FOUND)?;
    let mut patch = Map::new();
    if let Some(p) = &b.permission {
        known_resources(&ac, p)?;
        if let Err(denied) = holds_all(&roles, &me, p, YOU_ARE_NOT_ALLOWED_TO_UPDATE_A_ROLE) {
            return Ok(denied);
        }
        patch.insert("permission".into(), serde_json::to_string(p).map_err(ApiError::internal)?.into());
    }
    if let Some(n) = &b.role_name {
        let n = n.to_lowercase();
        name_free(&auth, &ac, &org, &n).await?;
        patch.insert("role".into(), n.into());
    }
    let mut changed: Vec<String> = patch.keys().cloned().collect();
    patch.insert("updatedAt".into(), iso(auth.now()).into());
    auth.adapter()?.update_many(ORGANIZATION_ROLE, &filter, patch.clone()).await?;
    let mut out = shown(row)?;
    let id = out.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
    if let Some(o) = out.as_object_mut() {
        for (k, v) in patch {
            o.insert(k, v);
        }
        if let Some(p) = &b.permission {
            o.insert("permission".into(), json!(p));
        }
    }
    changed.sort();
    let detail = json!({"role": out["role"], "changed": changed, "permission": b.permission});
    audit(&auth, By::of(&cur, &meta), "role.updated", ("role", &id), &org, Some(detail)).await;
    Ok(Reply::json(&json!({"success": true, "roleData": out})))
}
