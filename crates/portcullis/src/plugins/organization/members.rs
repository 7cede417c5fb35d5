//! Members: remove-member, update-member-role, leave, list-members, get-active-member(-role),
//! and [`add_member`] for embedders (Better Auth's server-only `addMember`).

use super::errors::*;
use super::rows::{self, data, Member};
use super::{active_of, audit, org_id, roles, set_active, settings, Ac, By};
use crate::app::Auth;
use crate::error::{ApiError, ApiResult};
use crate::http::input::{Input, Obj, Shape, Valid, ValidQuery};
use crate::http::reply::Reply;
use crate::session::{Current, RequestMeta, SessionAuth};
use crate::store::adapter::{Op, Query, Where};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::Extension;
use serde_json::{json, Value};

/// How many members of `org` hold the creator role.
async fn owners(auth: &Auth, org: &str) -> ApiResult<usize> {
    let creator = &settings(auth).creator_role;
    let all = rows::members(auth, &Query { filter: vec![Where::eq("organizationId", org)], ..Default::default() }).await?;
    Ok(all.iter().filter(|m| roles::holds(&m.role, creator, auth.now())).count())
}

async fn member_json(auth: &Auth, m: &Member) -> ApiResult<Value> {
    Ok(rows::with_users(auth, std::slice::from_ref(m)).await?.pop().unwrap_or(Value::Null))
}

/// Clears the caller's active organization when it is `org`.
async fn leave_active(auth: &Auth, cur: &Current, org: &str) -> ApiResult<Vec<HeaderValue>> {
    if active_of(&cur.session).as_deref() != Some(org) {
        return Ok(Vec::new());
    }
    let s = set_active(auth, cur, None).await?;
    Ok(super::refreshed_cache(auth, cur, &s))
}

pub struct RemoveBody {
    target: String,
    organization_id: Option<String>,
}
impl Input for RemoveBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        RemoveBody { target: o.string("memberIdOrEmail"), organization_id: o.opt_string("organizationId") }
    }
}

pub async fn remove(
    State(auth): State<Auth>,
    Extension(ac): Ac,
    Valid(b): Valid<RemoveBody>,
    SessionAuth(cur): SessionAuth,
    meta: RequestMeta,
) -> ApiResult<Reply> {
    let org = org_id(b.organization_id, &cur.session).ok_or(NO_ACTIVE_ORGANIZATION)?;
    let me = rows::member_of(&auth, &org, &cur.user.id).await?.ok_or(MEMBER_NOT_FOUND)?;
    let target = if b.target.contains('@') {
        match auth.store.find_user_by_email(&b.target.to_lowercase()).await? {
            Some(u) => rows::member_of(&auth, &org, &u.id).await?,
            None => None,
        }
    } else {
        rows::member_by_id(&auth, &b.target).await?
    };
    let target = target.ok_or(MEMBER_NOT_FOUND)?;
    let creator = &settings(&auth).creator_role;
    if roles::holds(&target.role, creator, auth.now()) && (!roles::holds(&me.role, creator, auth.now()) || owners(&auth, &org).await? <= 1)
    {
        return Err(YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER);
    }
    if !roles::can(&auth, &ac, &org, &me.role, &[("member", &["delete"])]).await? {
        return Err(YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER);
    }
    if target.organization_id != org {
        return Err(MEMBER_NOT_FOUND);
    }
    auth.adapter()?.delete(rows::MEMBER, &[Where::eq("id", target.id.as_str())]).await?;
    if settings(&auth).teams.enabled {
        super::team_rows::leave_all(&auth, &org, &target.user_id).await?;
    }
    audit(&auth, By::of(&cur, &meta), "member.removed", ("member", &target.id), &org, Some(json!({"userId": target.user_id}))).await;
    let cookies = if target.user_id == cur.user.id { leave_active(&auth, &cur, &org).await? } else { Vec::new() };
    Ok(Reply::json(&json!({"member": member_json(&auth, &target).await?})).cookies(cookies))
}

/// `{role, memberId, organizationId?, expiresIn?}`; `expiresIn` (seconds) is Portcullis's
/// time-bound grant: the roles are added until then, the member's others kept.
pub struct RoleBody {
    roles: Vec<String>,
    member_id: String,
    organization_id: Option<String>,
    expires_in: Option<f64>,
}
impl Input for RoleBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        RoleBody {
            roles: super::invitations::role_list(o, "role"),
            member_id: o.string("memberId"),
            organization_id: o.opt_string("organizationId"),
            expires_in: o.opt_number("expiresIn"),
        }
    }
}

/// The longest time-bound grant: ten years.
const MAX_GRANT_SECS: f64 = 10.0 * 366.0 * 86_400.0;

pub async fn update_role(
    State(auth): State<Auth>,
    Extension(ac): Ac,
    Valid(b): Valid<RoleBody>,
    SessionAuth(cur): SessionAuth,
    meta: RequestMeta,
) -> ApiResult<Reply> {
    if b.roles.is_empty() {
        return Err(ApiError::bare(StatusCode::BAD_REQUEST));
    }
    if b.expires_in.is_some_and(|s| !(1.0..=MAX_GRANT_SECS).contains(&s)) {
        return Err(ApiError::validation("[body.expiresIn] expected a number of seconds from 1 to 10 years"));
    }
    let org = org_id(b.organization_id, &cur.session).ok_or(NO_ACTIVE_ORGANIZATION)?;
    let me = rows::member_of(&auth, &org, &cur.user.id).await?.ok_or(MEMBER_NOT_FOUND)?;
    let target = rows::member_by_id(&auth, &b.member_id).await?.ok_or(MEMBER_NOT_FOUND)?;
    let creator = &settings(&auth).creator_role;
    let i_am_creator = roles::holds(&me.role, creator, auth.now());
    let touches_creator = roles::holds(&target.role, creator, auth.now()) || b.roles.contains(creator);
    // allowCreatorAllPermissions: the creator role always passes the permission check here.
    let in_force = roles::of(&auth, &ac, &org).await?;
    let allowed = i_am_creator || in_force.can(&me.role, &[("member", &["update"])]);
    if target.organization_id != org || (!i_am_creator && touches_creator) || !allowed {
        return Err(YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER);
    }
    if roles::holds(&target.role, creator, auth.now()) && !b.roles.contains(creator) && owners(&auth, &org).await? <= 1 {
        return Err(YOU_CANNOT_LEAVE_THE_ORGANIZATION_WITHOUT_AN_OWNER);
    }
    let unknown = in_force.unknown(&b.roles);
    if !unknown.is_empty() {
        return Err(ROLE_NOT_FOUND.with_message(format!("ROLE_NOT_FOUND: {}", unknown.join(", "))));
    }
    let (role, until) = match b.expires_in {
        None => (b.roles.join(","), None),
        Some(secs) => {
            let now = auth.now();
            let until = now + chrono::Duration::milliseconds((secs * 1000.0) as i64);
            let names: Vec<&str> = b.roles.iter().map(String::as_str).collect();
            (crate::access::with_grants(&target.role, &names, until, now), Some(crate::store::model::iso_ms::format(&until)))
        }
    };
    auth.adapter()?.update(rows::MEMBER, &[Where::eq("id", target.id.as_str())], data(&[("role", role.clone().into())])).await?;
    let detail = json!({"userId": target.user_id, "from": target.role, "role": role, "until": until});
    audit(&auth, By::of(&cur, &meta), "member.updated", ("member", &target.id), &org, Some(detail)).await;
    Ok(Reply::json(&Member { role, ..target }))
}

pub struct LeaveBody {
    organization_id: String,
}
impl Input for LeaveBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        LeaveBody { organization_id: o.string("organizationId") }
    }
}

pub async fn leave(
    State(auth): State<Auth>,
    Valid(b): Valid<LeaveBody>,
    SessionAuth(cur): SessionAuth,
    meta: RequestMeta,
) -> ApiResult<Reply> {
    let org = b.organization_id;
    let me = rows::member_of(&auth, &org, &cur.user.id).await?.ok_or(MEMBER_NOT_FOUND)?;
    if roles::holds(&me.role, &settings(&auth).creator_role, auth.now()) && owners(&auth, &org).await? <= 1 {
        return Err(YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER);
    }
    auth.adapter()?.delete(rows::MEMBER, &[Where::eq("id", me.id.as_str())]).await?;
    if settings(&auth).teams.enabled {
        super::team_rows::leave_all(&auth, &org, &me.user_id).await?;
    }
    audit(&auth, By::of(&cur, &meta), "member.removed", ("member", &me.id), &org, Some(json!({"userId": me.user_id, "reason": "leave"})))
        .await;
    let cookies = leave_active(&auth, &cur, &org).await?;
    Ok(Reply::json(&member_json(&auth, &me).await?).cookies(cookies))
}

/// The member columns list-members may sort and filter on.
const FIELDS: &[&str] = &["id", "organizationId", "userId", "role", "createdAt"];

pub struct ListQuery {
    limit: Option<u64>,
    offset: Option<u64>,
    sort_by: Option<String>,
    desc: bool,
    filter: Option<(String, Op, Value)>,
    organization_id: Option<String>,
    organization_slug: Option<String>,
    user_id: Option<String>,
    bad: Option<String>,
}
impl Input for ListQuery {
    const SHAPE: Shape = Shape::OptionalObject;
    fn parse(o: &mut Obj<'_>) -> Self {
        let mut bad = None;
        let mut num = |o: &mut Obj<'_>, k: &str| match o.raw(k) {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.parse().map_err(|_| bad = Some(format!("{k} must be a non-negative integer"))).ok(),
            _ => o.opt_string(k).and(None),
        };
        let limit = num(o, "limit");
        let offset = num(o, "offset");
        let sort_by = o.opt_string("sortBy");
        let desc = o.opt_enum("sortDirection", &["asc", "desc"]).as_deref() == Some("desc");
        let field = o.opt_string("filterField");
        let value = o.raw("filterValue").cloned();
        let op = Op::named(o.opt_enum("filterOperator", &Op::NAMES).as_deref().unwrap_or("eq"));
        let filter = match (field, value) {
            (Some(f), Some(v)) => {
                let v = match (op, v) {
                    (Op::In | Op::NotIn, Value::String(s)) => Value::Array(s.split(',').map(|x| Value::String(x.to_string())).collect()),
                    (_, v) => v,
                };
                Some((f, op, v))
            }
            _ => None,
        };
        ListQuery {
            limit,
            offset,
            sort_by,
            desc,
            filter,
            organization_id: o.opt_string("organizationId"),
            organization_slug: o.opt_string("organizationSlug"),
            user_id: o.opt_string("userId"),
            bad,
        }
    }
}

/// The organization a member read names (slug, id, active), and the caller's membership in it.
async fn my_org(auth: &Auth, cur: &Current, q: &ListQuery) -> ApiResult<(String, Member)> {
    let org = match &q.organization_slug {
        Some(slug) => rows::org_by_slug(auth, slug).await?.ok_or(ORGANIZATION_NOT_FOUND)?.id,
        None => org_id(q.organization_id.clone(), &cur.session).ok_or(NO_ACTIVE_ORGANIZATION)?,
    };
    let me = rows::member_of(auth, &org, &cur.user.id).await?.ok_or(YOU_ARE_NOT_A_MEMBER_OF_THIS_ORGANIZATION)?;
    Ok((org, me))
}

pub async fn list(State(auth): State<Auth>, ValidQuery(q): ValidQuery<ListQuery>, SessionAuth(cur): SessionAuth) -> ApiResult<Reply> {
    if let Some(m) = &q.bad {
        return Err(ApiError::uncoded(StatusCode::BAD_REQUEST, m.clone()));
    }
    let (org, _) = my_org(&auth, &cur, &q).await?;
    let unknown = |f: &str| ApiError::uncoded(StatusCode::BAD_REQUEST, format!("Unknown member field: {f}"));
    let mut filter = vec![Where::eq("organizationId", org.as_str())];
    if let Some((f, op, v)) = &q.filter {
        if !FIELDS.contains(&f.as_str()) {
            return Err(unknown(f));
        }
        if matches!(op, Op::In | Op::NotIn) != v.is_array() || v.is_object() || v.is_null() {
            return Err(ApiError::uncoded(StatusCode::BAD_REQUEST, "Invalid filter value"));
        }
        filter.push(Where::new(f, *op, v.clone()));
    }
    let sort = match &q.sort_by {
        Some(f) if !FIELDS.contains(&f.as_str()) => return Err(unknown(f)),
        Some(f) => (f.clone(), q.desc),
        None => ("createdAt".into(), false),
    };
    let limit = q.limit.unwrap_or(settings(&auth).membership_limit);
    let total = auth.adapter()?.count(rows::MEMBER, &filter).await?;
    let ms = rows::members(&auth, &Query { filter, sort_by: Some(sort), limit: Some(limit), offset: q.offset }).await?;
    Ok(Reply::json(&json!({"members": rows::with_users(&auth, &ms).await?, "total": total})))
}

pub async fn active_member(State(auth): State<Auth>, SessionAuth(cur): SessionAuth) -> ApiResult<Reply> {
    let org = active_of(&cur.session).ok_or(NO_ACTIVE_ORGANIZATION)?;
    let me = rows::member_of(&auth, &org, &cur.user.id).await?.ok_or(MEMBER_NOT_FOUND)?;
    Ok(Reply::json(&member_json(&auth, &me).await?))
}

pub async fn active_member_role(
    State(auth): State<Auth>,
    ValidQuery(q): ValidQuery<ListQuery>,
    SessionAuth(cur): SessionAuth,
) -> ApiResult<Reply> {
    let (org, me) = my_org(&auth, &cur, &q).await?;
    let m = match &q.user_id {
        Some(u) if *u != cur.user.id => rows::member_of(&auth, &org, u).await?.ok_or(YOU_ARE_NOT_A_MEMBER_OF_THIS_ORGANIZATION)?,
        _ => me,
    };
    Ok(Reply::json(&json!({"role": m.role})))
}

/// Adds `user_id` to `organization_id` with `role` (Better Auth's server-only `addMember`), the
/// membership limit enforced. The member row.
pub async fn add_member(auth: &Auth, user_id: &str, role: &[&str], organization_id: &str) -> ApiResult<Member> {
    rows::org_by_id(auth, organization_id).await?.ok_or(ORGANIZATION_NOT_FOUND)?;
    auth.store.find_user_by_id(user_id).await?.ok_or(crate::error::codes::USER_NOT_FOUND)?;
    if rows::member_of(auth, organization_id, user_id).await?.is_some() {
        return Err(USER_IS_ALREADY_A_MEMBER_OF_THIS_ORGANIZATION);
    }
    if rows::count_members(auth, organization_id).await? >= settings(auth).membership_limit {
        return Err(ORGANIZATION_MEMBERSHIP_LIMIT_REACHED);
    }
    let m = Member {
        id: auth.new_id(),
        organization_id: organization_id.into(),
        user_id: user_id.into(),
        role: role.iter().map(|r| r.trim()).collect::<Vec<_>>().join(","),
        created_at: rows::iso(auth.now()),
    };
    let m: Member = auth.adapter()?.create_as(rows::MEMBER, &m).await?;
    let detail = json!({"userId": m.user_id, "role": m.role, "member": m, "via": "add-member"});
    audit(auth, By::default(), "member.added", ("member", &m.id), organization_id, Some(detail)).await;
    Ok(m)
}
