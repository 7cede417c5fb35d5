//! Teams (`[organization.teams] enabled = true`): create-team, remove-team, update-team,
//! list-teams, set-active-team, list-user-teams, list-team-members, add-team-member,
//! remove-team-member.

use super::errors::*;
use super::rows::{self, data, iso};
use super::team_rows::{self as tr, shown, shown_member, TEAM, TEAM_MEMBER};
use super::{audit, org_id, roles, settings, Ac, By};
use crate::app::Auth;
use crate::error::{ApiError, ApiResult};
use crate::fields::Values;
use crate::http::input::{Input, Obj, Shape, Valid, ValidQuery};
use crate::http::reply::Reply;
use crate::session::{self, Current, RequestMeta, SensitiveSession, SessionAuth};
use crate::store::adapter::{Query, Where};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Extension;
use serde_json::{json, Value};

/// The session field teams add.
pub const ACTIVE_TEAM: &str = "activeTeamId";

pub(crate) fn active_team(cur: &Current) -> Option<String> {
    let s = &cur.session;
    s.extra.get(ACTIVE_TEAM).or_else(|| s.hidden.get(ACTIVE_TEAM)).and_then(Value::as_str).map(str::to_string)
}

/// Sets (or clears) the session's active team in the store; the session after it.
pub(crate) async fn set_active_team(auth: &Auth, cur: &Current, id: Option<&str>) -> ApiResult<crate::store::model::Session> {
    let v = id.map_or(Value::Null, |s| Value::String(s.to_string()));
    let s = auth.sessions.update_fields(&cur.session, &cur.user, &Values(vec![(ACTIVE_TEAM.into(), v)]), auth.now()).await?;
    s.ok_or(crate::error::codes::FAILED_TO_GET_SESSION)
}

/// The caller's role in `org`, or `denied`.
async fn role_in(auth: &Auth, org: &str, cur: &Current, denied: ApiError) -> ApiResult<String> {
    Ok(rows::member_of(auth, org, &cur.user.id).await?.ok_or(denied)?.role)
}

fn id_of(row: &crate::store::adapter::Row) -> String {
    row.get("id").and_then(Value::as_str).unwrap_or_default().to_string()
}

pub struct CreateBody {
    name: String,
    organization_id: Option<String>,
}
impl Input for CreateBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        CreateBody { name: o.string("name"), organization_id: o.opt_string("organizationId") }
    }
}

pub async fn create(
    State(auth): State<Auth>,
    Extension(ac): Ac,
    Valid(b): Valid<CreateBody>,
    SessionAuth(cur): SessionAuth,
    meta: RequestMeta,
) -> ApiResult<Reply> {
    let org = org_id(b.organization_id, &cur.session).ok_or(NO_ACTIVE_ORGANIZATION)?;
    let role = role_in(&auth, &org, &cur, YOU_ARE_NOT_ALLOWED_TO_INVITE_USERS_TO_THIS_ORGANIZATION).await?;
    if !roles::can(&auth, &ac, &org, &role, &[("team", &["create"])]).await? {
        return Err(YOU_ARE_NOT_ALLOWED_TO_CREATE_TEAMS_IN_THIS_ORGANIZATION);
    }
    let existing = tr::teams_of_org(&auth, &org).await?.len() as u64;
    if settings(&auth).teams.maximum_teams.is_some_and(|max| existing >= max) {
        return Err(YOU_HAVE_REACHED_THE_MAXIMUM_NUMBER_OF_TEAMS);
    }
    rows::org_by_id(&auth, &org).await?.ok_or(ORGANIZATION_NOT_FOUND)?;
    let team = tr::create_team(&auth, &org, &b.name).await?;
    audit(&auth, By::of(&cur, &meta), "team.created", ("team", &id_of(&team)), &org, Some(json!({"name": b.name}))).await;
    Ok(Reply::json(&shown(team)))
}

pub struct RemoveBody {
    team_id: String,
    organization_id: Option<String>,
}
impl Input for RemoveBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        RemoveBody { team_id: o.string("teamId"), organization_id: o.opt_string("organizationId") }
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
    let member = rows::member_of(&auth, &org, &cur.user.id).await?;
    let Some(member) = member.filter(|_| active_team(&cur).as_deref() != Some(b.team_id.as_str())) else {
        return Err(YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_TEAM);
    };
    if !roles::can(&auth, &ac, &org, &member.role, &[("team", &["delete"])]).await? {
        return Err(YOU_ARE_NOT_ALLOWED_TO_DELETE_TEAMS_IN_THIS_ORGANIZATION);
    }
    tr::team_in(&auth, &b.team_id, &org).await?.ok_or(TEAM_NOT_FOUND)?;
    if !settings(&auth).teams.allow_removing_all_teams && tr::teams_of_org(&auth, &org).await?.len() <= 1 {
        return Err(UNABLE_TO_REMOVE_LAST_TEAM);
    }
    let a = auth.adapter()?;
    a.delete_many(TEAM_MEMBER, &[Where::eq("teamId", b.team_id.as_str())]).await?;
    a.delete(TEAM, &[Where::eq("id", b.team_id.as_str())]).await?;
    tr::forget_in_invitations(&auth, &org, &b.team_id).await?;
    audit(&auth, By::of(&cur, &meta), "team.deleted", ("team", &b.team_id), &org, None).await;
    Ok(Reply::json(&json!({"message": "Team removed successfully."})))
}

pub struct UpdateBody {
    team_id: String,
    name: Option<String>,
    organization_id: Option<String>,
}
impl Input for UpdateBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        let team_id = o.string("teamId");
        let (name, organization_id) = o.object("data", |d| (d.opt_string("name"), d.opt_string("organizationId")));
        UpdateBody { team_id, name, organization_id }
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
    let role = role_in(&auth, &org, &cur, YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_TEAM).await?;
    if !roles::can(&auth, &ac, &org, &role, &[("team", &["update"])]).await? {
        return Err(YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_TEAM);
    }
    tr::team_in(&auth, &b.team_id, &org).await?.ok_or(TEAM_NOT_FOUND)?;
    let mut patch = data(&[("updatedAt", iso(auth.now()).into())]);
    if let Some(n) = b.name {
        patch.insert("name".into(), n.into());
    }
    let changed: Vec<&str> = patch.keys().map(String::as_str).filter(|k| *k != "updatedAt").collect();
    let detail = json!({"changed": changed});
    let row = auth.adapter()?.update(TEAM, &[Where::eq("id", b.team_id.as_str())], patch).await?.ok_or(TEAM_NOT_FOUND)?;
    audit(&auth, By::of(&cur, &meta), "team.updated", ("team", &b.team_id), &org, Some(detail)).await;
    Ok(Reply::json(&shown(row)))
}

pub struct OrgQuery {
    organization_id: Option<String>,
    user_id: Option<String>,
    team_id: Option<String>,
}
impl Input for OrgQuery {
    const SHAPE: Shape = Shape::OptionalObject;
    fn parse(o: &mut Obj<'_>) -> Self {
        OrgQuery { organization_id: o.opt_string("organizationId"), user_id: o.opt_string("userId"), team_id: o.opt_string("teamId") }
    }
}

pub async fn list(State(auth): State<Auth>, ValidQuery(q): ValidQuery<OrgQuery>, SessionAuth(cur): SessionAuth) -> ApiResult<Reply> {
    let org = org_id(q.organization_id, &cur.session).ok_or(NO_ACTIVE_ORGANIZATION)?;
    role_in(&auth, &org, &cur, YOU_ARE_NOT_ALLOWED_TO_ACCESS_THIS_ORGANIZATION).await?;
    let teams: Vec<Value> = tr::teams_of_org(&auth, &org).await?.into_iter().map(shown).collect();
    Ok(Reply::json(&teams))
}

/// `{teamId?: string | null}`: `Some(None)` is an explicit null.
pub struct SetActiveBody {
    team_id: Option<Option<String>>,
}
impl Input for SetActiveBody {
    const SHAPE: Shape = Shape::OptionalObject;
    fn parse(o: &mut Obj<'_>) -> Self {
        let team_id = match o.raw("teamId") {
            Some(Value::Null) => Some(None),
            Some(_) => o.opt_string("teamId").map(Some),
            None => None,
        };
        SetActiveBody { team_id }
    }
}

pub async fn set_active(
    State(auth): State<Auth>,
    Valid(b): Valid<SetActiveBody>,
    SensitiveSession(cur): SensitiveSession,
) -> ApiResult<Reply> {
    let id = match b.team_id {
        Some(None) => {
            let s = set_active_team(&auth, &cur, None).await?;
            return Ok(Reply::json(&Value::Null).cookies(session::issue_cookies(&auth, &s, &cur.user, cur.dont_remember)));
        }
        Some(Some(id)) => id,
        None => {
            let Some(id) = active_team(&cur) else { return Ok(Reply::json(&Value::Null)) };
            return Ok(Reply::json(&tr::team(&auth, &id).await?.map(shown)));
        }
    };
    let org = super::active_of(&cur.session).ok_or(NO_ACTIVE_ORGANIZATION)?;
    let team = tr::team_in(&auth, &id, &org).await?.ok_or(TEAM_NOT_FOUND)?;
    if tr::membership(&auth, &id, &cur.user.id).await?.is_none() {
        return Err(USER_IS_NOT_A_MEMBER_OF_THE_TEAM);
    }
    let s = set_active_team(&auth, &cur, Some(&id)).await?;
    Ok(Reply::json(&shown(team)).cookies(session::issue_cookies(&auth, &s, &cur.user, cur.dont_remember)))
}

pub async fn list_user_teams(
    State(auth): State<Auth>,
    Extension(ac): Ac,
    ValidQuery(q): ValidQuery<OrgQuery>,
    SessionAuth(cur): SessionAuth,
) -> ApiResult<Reply> {
    let user = q.user_id.clone().unwrap_or_else(|| cur.user.id.clone());
    if user != cur.user.id {
        let org = org_id(q.organization_id.clone(), &cur.session).ok_or(NO_ACTIVE_ORGANIZATION)?;
        let role = role_in(&auth, &org, &cur, YOU_ARE_NOT_A_MEMBER_OF_THIS_ORGANIZATION).await?;
        if !roles::can(&auth, &ac, &org, &role, &[("member", &["update"])]).await? {
            return Err(ApiError::uncoded(StatusCode::FORBIDDEN, "You are not allowed to list this user's teams"));
        }
    }
    let mine: Vec<String> = rows::orgs_of(&auth, &cur.user.id).await?.into_iter().map(|o| o.id).collect();
    let teams: Vec<Value> = tr::teams_of_user(&auth, &user)
        .await?
        .into_iter()
        .filter(|t| t.get("organizationId").and_then(Value::as_str).is_some_and(|o| mine.iter().any(|m| m == o)))
        .filter(|t| q.organization_id.as_deref().is_none_or(|o| t.get("organizationId").and_then(Value::as_str) == Some(o)))
        .map(shown)
        .collect();
    Ok(Reply::json(&teams))
}

pub async fn list_members(
    State(auth): State<Auth>,
    ValidQuery(q): ValidQuery<OrgQuery>,
    SessionAuth(cur): SessionAuth,
) -> ApiResult<Reply> {
    let id = q.team_id.or_else(|| active_team(&cur)).ok_or(YOU_DO_NOT_HAVE_AN_ACTIVE_TEAM)?;
    tr::team(&auth, &id).await?.ok_or(TEAM_NOT_FOUND)?;
    if tr::membership(&auth, &id, &cur.user.id).await?.is_none() {
        return Err(USER_IS_NOT_A_MEMBER_OF_THE_TEAM);
    }
    let q = Query { filter: vec![Where::eq("teamId", id.as_str())], sort_by: Some(("createdAt".into(), false)), ..Default::default() };
    let ms: Vec<Value> = auth.adapter()?.find_many(TEAM_MEMBER, &q).await?.into_iter().map(shown_member).collect();
    Ok(Reply::json(&ms))
}

pub struct MemberBody {
    team_id: String,
    user_id: String,
    organization_id: Option<String>,
}
impl Input for MemberBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        MemberBody { team_id: o.string("teamId"), user_id: o.string("userId"), organization_id: o.opt_string("organizationId") }
    }
}

pub async fn add_member(
    State(auth): State<Auth>,
    Extension(ac): Ac,
    Valid(b): Valid<MemberBody>,
    SessionAuth(cur): SessionAuth,
    meta: RequestMeta,
) -> ApiResult<Reply> {
    let org = org_id(b.organization_id, &cur.session).ok_or(NO_ACTIVE_ORGANIZATION)?;
    let role = role_in(&auth, &org, &cur, USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION).await?;
    if !roles::can(&auth, &ac, &org, &role, &[("member", &["update"])]).await? {
        return Err(YOU_ARE_NOT_ALLOWED_TO_CREATE_A_NEW_TEAM_MEMBER);
    }
    if rows::member_of(&auth, &org, &b.user_id).await?.is_none() {
        return Err(USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION);
    }
    let team = tr::team_in(&auth, &b.team_id, &org).await?.ok_or(TEAM_NOT_FOUND)?;
    let row = tr::join(&auth, &id_of(&team), &b.user_id).await?;
    audit(&auth, By::of(&cur, &meta), "team.member-added", ("team", &id_of(&team)), &org, Some(json!({"userId": b.user_id}))).await;
    Ok(Reply::json(&shown_member(row)))
}

pub async fn remove_member(
    State(auth): State<Auth>,
    Extension(ac): Ac,
    Valid(b): Valid<MemberBody>,
    SessionAuth(cur): SessionAuth,
    meta: RequestMeta,
) -> ApiResult<Reply> {
    let org = org_id(b.organization_id, &cur.session).ok_or(NO_ACTIVE_ORGANIZATION)?;
    let role = role_in(&auth, &org, &cur, USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION).await?;
    if !roles::can(&auth, &ac, &org, &role, &[("member", &["delete"])]).await? {
        return Err(YOU_ARE_NOT_ALLOWED_TO_REMOVE_A_TEAM_MEMBER);
    }
    tr::team_in(&auth, &b.team_id, &org).await?.ok_or(TEAM_NOT_FOUND)?;
    if !tr::leave(&auth, &b.team_id, &b.user_id).await? {
        return Err(USER_IS_NOT_A_MEMBER_OF_THE_TEAM);
    }
    audit(&auth, By::of(&cur, &meta), "team.member-removed", ("team", &b.team_id), &org, Some(json!({"userId": b.user_id}))).await;
    Ok(Reply::json(&json!({"message": "Team member removed successfully."})))
}
