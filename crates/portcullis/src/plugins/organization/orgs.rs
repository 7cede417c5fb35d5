//! Organizations: create, check-slug, update, delete, get(-full), set-active, list, has-permission.

use super::errors::*;
use super::rows::{self, Org};
use super::team_rows as tr;
use super::{active_of, audit, org_id, refreshed_cache, roles, set_active, settings, Ac, By};
use crate::access::Request;
use crate::app::Auth;
use crate::error::{ApiError, ApiResult};
use crate::http::input::{Input, Obj, Shape, Valid, ValidQuery};
use crate::http::reply::Reply;
use crate::session::{self, Current, MaybeSession, RequestMeta, SensitiveSession, SessionAuth};
use crate::store::adapter::{Query, Where};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Extension;
use serde_json::{json, Map, Value};

/// `logo?: string | null`: `Some(None)` for null.
fn nullable_string(o: &mut Obj<'_>, key: &str) -> Option<Option<String>> {
    match o.raw(key) {
        Some(Value::Null) => Some(None),
        Some(_) => o.opt_string(key).map(Some),
        None => None,
    }
}

pub struct CreateBody {
    name: String,
    slug: String,
    logo: Option<Option<String>>,
    metadata: Option<Map<String, Value>>,
    keep_active: bool,
}
impl Input for CreateBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        CreateBody {
            name: o.nonempty("name"),
            slug: o.nonempty("slug"),
            logo: nullable_string(o, "logo"),
            metadata: o.opt_record("metadata"),
            keep_active: o.opt_bool("keepCurrentActiveOrganization").unwrap_or(false),
        }
    }
}

pub async fn create(
    State(auth): State<Auth>,
    Valid(b): Valid<CreateBody>,
    SessionAuth(cur): SessionAuth,
    meta: RequestMeta,
) -> ApiResult<Reply> {
    let cfg = settings(&auth);
    if !cfg.allow_user_to_create_organization {
        return Err(YOU_ARE_NOT_ALLOWED_TO_CREATE_A_NEW_ORGANIZATION);
    }
    if let Some(limit) = cfg.organization_limit {
        let n = auth.adapter()?.count(rows::MEMBER, &[Where::eq("userId", cur.user.id.as_str())]).await?;
        if n >= limit {
            return Err(YOU_HAVE_REACHED_THE_MAXIMUM_NUMBER_OF_ORGANIZATIONS);
        }
    }
    if rows::org_by_slug(&auth, &b.slug).await?.is_some() {
        return Err(ORGANIZATION_ALREADY_EXISTS);
    }
    let now = rows::iso(auth.now());
    let org = Org {
        id: auth.new_id(),
        name: b.name,
        slug: b.slug,
        logo: b.logo.flatten(),
        created_at: now.clone(),
        metadata: b.metadata.map(|m| Value::Object(m).to_string()),
    };
    let org: Org = auth.adapter()?.create_as(rows::ORGANIZATION, &org).await.map_err(|e| match e {
        crate::store::StoreError::Conflict(_) => ORGANIZATION_ALREADY_EXISTS,
        e => e.into(),
    })?;
    let member = rows::Member {
        id: auth.new_id(),
        organization_id: org.id.clone(),
        user_id: cur.user.id.clone(),
        role: cfg.creator_role.clone(),
        created_at: now,
    };
    let member: rows::Member = auth.adapter()?.create_as(rows::MEMBER, &member).await?;
    let teams = &cfg.teams;
    let team = match teams.enabled && teams.default_team {
        true => {
            let t = tr::create_team(&auth, &org.id, &org.name).await?;
            let id = t.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
            tr::join(&auth, &id, &cur.user.id).await?;
            Some(id)
        }
        false => None,
    };
    let mut cookies = Vec::new();
    if !b.keep_active {
        if let Some(t) = &team {
            super::teams::set_active_team(&auth, &cur, Some(t)).await?;
        }
        let s = set_active(&auth, &cur, Some(&org.id)).await?;
        cookies = refreshed_cache(&auth, &cur, &s);
    }
    audit(
        &auth,
        By::of(&cur, &meta),
        "organization.created",
        ("organization", &org.id),
        &org.id,
        Some(json!({"name": org.name, "slug": org.slug, "organization": org.parsed()})),
    )
    .await;
    let detail = json!({"userId": member.user_id, "role": member.role, "member": member, "via": "creator"});
    audit(&auth, By::of(&cur, &meta), "member.added", ("member", &member.id), &org.id, Some(detail)).await;
    let mut out = org.parsed();
    out["members"] = json!([member]);
    Ok(Reply::json(&out).cookies(cookies))
}

pub struct SlugBody {
    slug: String,
}
impl Input for SlugBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        SlugBody { slug: o.nonempty("slug") }
    }
}

pub async fn check_slug(State(auth): State<Auth>, Valid(b): Valid<SlugBody>, SessionAuth(_): SessionAuth) -> ApiResult<Reply> {
    match rows::org_by_slug(&auth, &b.slug).await? {
        Some(_) => Err(ORGANIZATION_SLUG_ALREADY_TAKEN),
        None => Ok(Reply::json(&json!({"status": true}))),
    }
}

pub struct UpdateBody {
    organization_id: Option<String>,
    name: Option<String>,
    slug: Option<String>,
    logo: Option<Option<String>>,
    metadata: Option<Map<String, Value>>,
}
impl Input for UpdateBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        let organization_id = o.opt_string("organizationId");
        let (name, slug, logo, metadata) =
            o.object("data", |d| (d.opt_string("name"), d.opt_string("slug"), nullable_string(d, "logo"), d.opt_record("metadata")));
        UpdateBody { organization_id, name, slug, logo, metadata }
    }
}

pub async fn update(
    State(auth): State<Auth>,
    Extension(ac): Ac,
    Valid(b): Valid<UpdateBody>,
    MaybeSession(cur): MaybeSession,
    meta: RequestMeta,
) -> ApiResult<Reply> {
    let cur = cur.ok_or_else(|| ApiError::uncoded(StatusCode::UNAUTHORIZED, "User not found"))?;
    let id = org_id(b.organization_id, &cur.session).ok_or(ORGANIZATION_NOT_FOUND)?;
    let m = rows::member_of(&auth, &id, &cur.user.id).await?.ok_or(USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION)?;
    if !roles::can(&auth, &ac, &id, &m.role, &[("organization", &["update"])]).await? {
        return Err(YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_ORGANIZATION);
    }
    if let Some(slug) = &b.slug {
        if rows::org_by_slug(&auth, slug).await?.is_some_and(|o| o.id != id) {
            return Err(ORGANIZATION_SLUG_ALREADY_TAKEN);
        }
    }
    let mut patch = Map::new();
    if let Some(n) = b.name {
        patch.insert("name".into(), n.into());
    }
    if let Some(s) = b.slug {
        patch.insert("slug".into(), s.into());
    }
    if let Some(l) = b.logo {
        patch.insert("logo".into(), l.map_or(Value::Null, Value::String));
    }
    if let Some(m) = b.metadata {
        patch.insert("metadata".into(), Value::Object(m).to_string().into());
    }
    let changed: Vec<String> = patch.keys().cloned().collect();
    if !patch.is_empty() {
        auth.adapter()?.update(rows::ORGANIZATION, &[Where::eq("id", id.as_str())], patch).await.map_err(|e| match e {
            crate::store::StoreError::Conflict(_) => ORGANIZATION_SLUG_ALREADY_TAKEN,
            e => e.into(),
        })?;
    }
    let org = rows::org_by_id(&auth, &id).await?.ok_or(ORGANIZATION_NOT_FOUND)?;
    audit(&auth, By::of(&cur, &meta), "organization.updated", ("organization", &id), &id, Some(json!({"changed": changed}))).await;
    Ok(Reply::json(&org.parsed()))
}

pub struct DeleteBody {
    organization_id: String,
}
impl Input for DeleteBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        DeleteBody { organization_id: o.string("organizationId") }
    }
}

pub async fn delete(
    State(auth): State<Auth>,
    Extension(ac): Ac,
    Valid(b): Valid<DeleteBody>,
    SessionAuth(cur): SessionAuth,
    meta: RequestMeta,
) -> ApiResult<Reply> {
    if settings(&auth).disable_organization_deletion {
        return Err(ORGANIZATION_DELETION_DISABLED);
    }
    let id = b.organization_id;
    let m = rows::member_of(&auth, &id, &cur.user.id).await?.ok_or(USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION)?;
    if !roles::can(&auth, &ac, &id, &m.role, &[("organization", &["delete"])]).await? {
        return Err(YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_ORGANIZATION);
    }
    let org = rows::org_by_id(&auth, &id).await?.ok_or(ORGANIZATION_NOT_FOUND)?;
    let mut cookies = Vec::new();
    if active_of(&cur.session).as_deref() == Some(id.as_str()) {
        let s = set_active(&auth, &cur, None).await?;
        cookies = refreshed_cache(&auth, &cur, &s);
    }
    if settings(&auth).teams.enabled {
        tr::delete_all(&auth, &id).await?;
    }
    let a = auth.adapter()?;
    if settings(&auth).dynamic_access_control.enabled {
        a.delete_many(roles::ORGANIZATION_ROLE, &[Where::eq("organizationId", id.as_str())]).await?;
    }
    a.delete_many(rows::INVITATION, &[Where::eq("organizationId", id.as_str())]).await?;
    a.delete_many(rows::MEMBER, &[Where::eq("organizationId", id.as_str())]).await?;
    a.delete(rows::ORGANIZATION, &[Where::eq("id", id.as_str())]).await?;
    audit(
        &auth,
        By::of(&cur, &meta),
        "organization.deleted",
        ("organization", &id),
        &id,
        Some(json!({"name": org.name, "slug": org.slug})),
    )
    .await;
    Ok(Reply::json(&org).cookies(cookies))
}

/// `{organizationId?, organizationSlug?, membersLimit?}`
pub struct OrgQuery {
    organization_id: Option<String>,
    organization_slug: Option<String>,
    members_limit: Option<String>,
}
impl Input for OrgQuery {
    const SHAPE: Shape = Shape::OptionalObject;
    fn parse(o: &mut Obj<'_>) -> Self {
        let members_limit = match o.raw("membersLimit") {
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => o.opt_string("membersLimit"),
        };
        OrgQuery { organization_id: o.opt_string("organizationId"), organization_slug: o.opt_string("organizationSlug"), members_limit }
    }
}

/// The organization a read names (slug first, then id, then the active one), with the caller's
/// membership checked. `None`: nothing named and nothing active.
async fn readable(auth: &Auth, cur: &Current, q: &OrgQuery) -> ApiResult<Option<Org>> {
    let org = match (&q.organization_slug, org_id(q.organization_id.clone(), &cur.session)) {
        (Some(slug), _) => rows::org_by_slug(auth, slug).await?,
        (None, Some(id)) => rows::org_by_id(auth, &id).await?,
        (None, None) => return Ok(None),
    };
    let org = org.ok_or(ORGANIZATION_NOT_FOUND)?;
    if rows::member_of(auth, &org.id, &cur.user.id).await?.is_none() {
        if active_of(&cur.session).as_deref() == Some(org.id.as_str()) {
            set_active(auth, cur, None).await?;
        }
        return Err(USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION.with_status(StatusCode::FORBIDDEN));
    }
    Ok(Some(org))
}

pub async fn get_organization(
    State(auth): State<Auth>,
    ValidQuery(q): ValidQuery<OrgQuery>,
    SessionAuth(cur): SessionAuth,
) -> ApiResult<Reply> {
    Ok(Reply::json(&readable(&auth, &cur, &q).await?))
}

pub async fn get_full(State(auth): State<Auth>, ValidQuery(q): ValidQuery<OrgQuery>, SessionAuth(cur): SessionAuth) -> ApiResult<Reply> {
    let Some(org) = readable(&auth, &cur, &q).await? else { return Ok(Reply::json(&Value::Null)) };
    let limit = q.members_limit.and_then(|l| l.parse::<u64>().ok()).unwrap_or(settings(&auth).membership_limit);
    let mq = Query {
        filter: vec![Where::eq("organizationId", org.id.as_str())],
        sort_by: Some(("createdAt".into(), false)),
        limit: Some(limit),
        offset: None,
    };
    let members = rows::with_users(&auth, &rows::members(&auth, &mq).await?).await?;
    let invitations = rows::invitations(&auth, vec![Where::eq("organizationId", org.id.as_str())]).await?;
    let mut out = org.parsed();
    out["members"] = Value::Array(members);
    out["invitations"] = json!(invitations);
    if settings(&auth).teams.enabled {
        out["teams"] = Value::Array(tr::teams_of_org(&auth, &org.id).await?.into_iter().map(tr::shown).collect());
    }
    Ok(Reply::json(&out))
}

/// `{organizationId?: string | null, organizationSlug?}`: `Some(None)` is an explicit null.
pub struct SetActiveBody {
    organization_id: Option<Option<String>>,
    organization_slug: Option<String>,
}
impl Input for SetActiveBody {
    const SHAPE: Shape = Shape::OptionalObject;
    fn parse(o: &mut Obj<'_>) -> Self {
        SetActiveBody { organization_id: nullable_string(o, "organizationId"), organization_slug: o.opt_string("organizationSlug") }
    }
}

pub async fn set_active_org(
    State(auth): State<Auth>,
    Valid(b): Valid<SetActiveBody>,
    SensitiveSession(cur): SensitiveSession,
) -> ApiResult<Reply> {
    let org = match (b.organization_slug, b.organization_id) {
        (Some(slug), _) => Some(rows::org_by_slug(&auth, &slug).await?.ok_or(ORGANIZATION_NOT_FOUND)?),
        (None, Some(Some(id))) => Some(rows::org_by_id(&auth, &id).await?.ok_or(ORGANIZATION_NOT_FOUND)?),
        (None, Some(None)) => None,
        (None, None) => {
            // Nothing named: the current active organization, unchanged.
            let Some(id) = active_of(&cur.session) else { return Ok(Reply::json(&Value::Null)) };
            return Ok(Reply::json(&rows::org_by_id(&auth, &id).await?));
        }
    };
    if let Some(o) = &org {
        if rows::member_of(&auth, &o.id, &cur.user.id).await?.is_none() {
            if active_of(&cur.session).as_deref() == Some(o.id.as_str()) {
                set_active(&auth, &cur, None).await?;
            }
            return Err(USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION.with_status(StatusCode::FORBIDDEN));
        }
    }
    let s = set_active(&auth, &cur, org.as_ref().map(|o| o.id.as_str())).await?;
    let cookies = session::issue_cookies(&auth, &s, &cur.user, cur.dont_remember);
    Ok(Reply::json(&org).cookies(cookies))
}

pub async fn list(State(auth): State<Auth>, SessionAuth(cur): SessionAuth) -> ApiResult<Reply> {
    Ok(Reply::json(&rows::orgs_of(&auth, &cur.user.id).await?))
}

pub struct PermissionBody {
    organization_id: Option<String>,
    permissions: Option<Value>,
}
impl Input for PermissionBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        let organization_id = o.opt_string("organizationId");
        let permissions = o.opt_record("permissions").map(Value::Object);
        let _ = o.opt_record("permission");
        PermissionBody { organization_id, permissions }
    }
}

pub async fn has_permission(
    State(auth): State<Auth>,
    Extension(ac): Ac,
    Valid(b): Valid<PermissionBody>,
    SessionAuth(cur): SessionAuth,
) -> ApiResult<Reply> {
    let Some(req) = b.permissions.as_ref().and_then(Request::from_json) else {
        return Err(ApiError::uncoded(StatusCode::BAD_REQUEST, "invalid permission check. no permission(s) were passed."));
    };
    let id = org_id(b.organization_id, &cur.session).ok_or(NO_ACTIVE_ORGANIZATION)?;
    let m = rows::member_of(&auth, &id, &cur.user.id)
        .await?
        .ok_or(USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION.with_status(StatusCode::UNAUTHORIZED))?;
    let ok = roles::of(&auth, &ac, &id).await?.authorize(&m.role, &req);
    Ok(Reply::json(&json!({"error": null, "success": ok})))
}
