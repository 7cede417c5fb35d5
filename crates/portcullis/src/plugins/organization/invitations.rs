//! Invitations: invite-member, accept, reject, cancel, get-invitation, list-invitations,
//! list-user-invitations.

use super::errors::*;
use super::rows::{self, data, Invitation, Member};
use super::team_rows as tr;
use super::{audit, org_id, roles, set_active, settings, Ac, By, INVITATION_MAIL};
use crate::app::Auth;
use crate::error::{ApiError, ApiResult};
use crate::http::input::{Input, Obj, Shape, Valid, ValidQuery};
use crate::http::reply::Reply;
use crate::session::{Current, MaybeSession, RequestMeta, SessionAuth};
use crate::store::adapter::{Op, Where};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Extension;
use chrono::Duration;
use serde_json::{json, Value};

/// `role: string | string[]`, split on commas and trimmed.
pub(crate) fn role_list(o: &mut Obj<'_>, key: &str) -> Vec<String> {
    let raw = match o.raw(key) {
        Some(Value::Array(_)) => o.opt_strings(key).unwrap_or_default(),
        _ => vec![o.string(key)],
    };
    raw.iter().flat_map(|r| r.split(',')).map(|r| r.trim().to_string()).filter(|r| !r.is_empty()).collect()
}

pub struct InviteBody {
    email: String,
    roles: Vec<String>,
    organization_id: Option<String>,
    resend: bool,
    team_ids: Vec<String>,
}
impl Input for InviteBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        InviteBody {
            email: o.string("email"),
            roles: role_list(o, "role"),
            organization_id: o.opt_string("organizationId"),
            resend: o.opt_bool("resend").unwrap_or(false),
            team_ids: match o.raw("teamId") {
                Some(Value::Array(_)) => o.opt_strings("teamId").unwrap_or_default(),
                _ => o.opt_string("teamId").into_iter().filter(|t| !t.is_empty()).collect(),
            },
        }
    }
}

/// Pending, unexpired invitations of `org` (for `email` when given).
async fn pending(auth: &Auth, org: &str, email: Option<&str>) -> ApiResult<Vec<Invitation>> {
    let mut f =
        vec![Where::eq("organizationId", org), Where::eq("status", "pending"), Where::new("expiresAt", Op::Gt, rows::iso(auth.now()))];
    if let Some(e) = email {
        f.push(Where::eq("email", e));
    }
    Ok(rows::invitations(auth, f).await?)
}

pub async fn invite(
    State(auth): State<Auth>,
    Extension(ac): Ac,
    Valid(b): Valid<InviteBody>,
    SessionAuth(cur): SessionAuth,
    meta: RequestMeta,
) -> ApiResult<Reply> {
    let cfg = settings(&auth);
    let org_id = org_id(b.organization_id, &cur.session).ok_or(ORGANIZATION_NOT_FOUND)?;
    let email = b.email.to_lowercase();
    if !crate::http::body::is_email(&email) {
        return Err(INVALID_EMAIL);
    }
    let me = rows::member_of(&auth, &org_id, &cur.user.id).await?.ok_or(MEMBER_NOT_FOUND)?;
    let in_force = roles::of(&auth, &ac, &org_id).await?;
    if !in_force.can(&me.role, &[("invitation", &["create"])]) {
        return Err(YOU_ARE_NOT_ALLOWED_TO_INVITE_USERS_TO_THIS_ORGANIZATION);
    }
    let unknown = in_force.unknown(&b.roles);
    if !unknown.is_empty() {
        return Err(ApiError::uncoded(StatusCode::BAD_REQUEST, format!("ROLE_NOT_FOUND: {}", unknown.join(", "))));
    }
    if !roles::holds(&me.role, &cfg.creator_role, auth.now()) && b.roles.contains(&cfg.creator_role) {
        return Err(YOU_ARE_NOT_ALLOWED_TO_INVITE_USER_WITH_THIS_ROLE);
    }
    if let Some(u) = auth.store.find_user_by_email(&email).await? {
        if rows::member_of(&auth, &org_id, &u.id).await?.is_some() {
            return Err(USER_IS_ALREADY_A_MEMBER_OF_THIS_ORGANIZATION);
        }
    }
    let already = pending(&auth, &org_id, Some(&email)).await?;
    if !already.is_empty() && !b.resend && !cfg.cancel_pending_invitations_on_re_invite {
        return Err(USER_IS_ALREADY_INVITED_TO_THIS_ORGANIZATION);
    }
    let org = rows::org_by_id(&auth, &org_id).await?.ok_or(ORGANIZATION_NOT_FOUND)?;
    let expires_at = rows::iso(auth.now() + Duration::seconds(cfg.invitation_expires_in as i64));
    if let (Some(existing), true) = (already.first(), b.resend) {
        auth.adapter()?
            .update(rows::INVITATION, &[Where::eq("id", existing.id.as_str())], data(&[("expiresAt", expires_at.clone().into())]))
            .await?;
        let inv = Invitation { expires_at, ..existing.clone() };
        let detail = json!({"email": inv.email, "role": inv.role, "resend": true});
        audit(&auth, By::of(&cur, &meta), "invitation.created", ("invitation", &inv.id), &inv.organization_id, Some(detail)).await;
        mail(&auth, &cur, &org, &inv);
        return Ok(Reply::json(&inv));
    }
    if let Some(existing) = already.first() {
        rows::transition(&auth, &existing.id, "pending", "canceled").await?;
    }
    if pending(&auth, &org_id, None).await?.len() as u64 >= cfg.invitation_limit {
        return Err(INVITATION_LIMIT_REACHED);
    }
    let teams = cfg.teams.enabled && !b.team_ids.is_empty();
    if teams {
        if b.team_ids.iter().any(|t| t.contains(',')) {
            return Err(INVALID_TEAM_ID);
        }
        for t in &b.team_ids {
            tr::team_in(&auth, t, &org_id).await?.ok_or(TEAM_NOT_FOUND)?;
            let seats = auth.adapter()?.count(tr::TEAM_MEMBER, &[Where::eq("teamId", t.as_str())]).await?;
            if cfg.teams.maximum_members_per_team.is_some_and(|max| seats >= max) {
                return Err(TEAM_MEMBER_LIMIT_REACHED);
            }
        }
    }
    let inv = Invitation {
        id: auth.new_id(),
        organization_id: org_id,
        email,
        role: Some(b.roles.join(",")),
        status: "pending".into(),
        expires_at,
        created_at: rows::iso(auth.now()),
        inviter_id: cur.user.id.clone(),
        team_id: teams.then(|| b.team_ids.join(",")),
    };
    let inv: Invitation = auth.adapter()?.create_as(rows::INVITATION, &inv).await?;
    let detail = json!({"email": inv.email, "role": inv.role, "teamId": inv.team_id, "invitation": inv});
    audit(&auth, By::of(&cur, &meta), "invitation.created", ("invitation", &inv.id), &inv.organization_id, Some(detail)).await;
    mail(&auth, &cur, &org, &inv);
    Ok(Reply::json(&inv))
}

/// The `organization-invitation` e-mail: `token` is the invitation id.
fn mail(auth: &Auth, cur: &Current, org: &rows::Org, inv: &Invitation) {
    let url = settings(auth).invitation_url.as_ref().map(|u| u.replace("{id}", &inv.id));
    let context = json!({
        "token": inv.id, "id": inv.id, "email": inv.email, "role": inv.role,
        "organization_name": org.name, "organization_slug": org.slug,
        "inviter_name": cur.user.name, "inviter_email": cur.user.email, "url": url,
    });
    auth.send_mail(INVITATION_MAIL, &inv.email, context);
}

pub struct IdBody {
    invitation_id: String,
}
impl Input for IdBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        IdBody { invitation_id: o.string("invitationId") }
    }
}

/// The recipient and e-mail-verification checks of accept and reject.
fn recipient(auth: &Auth, cur: &Current, inv: &Invitation) -> ApiResult<()> {
    if !inv.email.eq_ignore_ascii_case(&cur.user.email) {
        return Err(YOU_ARE_NOT_THE_RECIPIENT_OF_THE_INVITATION);
    }
    if settings(auth).require_email_verification_on_invitation && !cur.user.email_verified {
        return Err(EMAIL_VERIFICATION_REQUIRED_BEFORE_ACCEPTING_OR_REJECTING_INVITATION);
    }
    Ok(())
}

pub async fn accept(
    State(auth): State<Auth>,
    Valid(b): Valid<IdBody>,
    SessionAuth(cur): SessionAuth,
    meta: RequestMeta,
) -> ApiResult<Reply> {
    let inv = rows::invitation_by_id(&auth, &b.invitation_id).await?;
    let inv = inv.filter(|i| i.status == "pending" && !i.expired(auth.now())).ok_or(INVITATION_NOT_FOUND)?;
    recipient(&auth, &cur, &inv)?;
    if rows::count_members(&auth, &inv.organization_id).await? >= settings(&auth).membership_limit {
        return Err(ORGANIZATION_MEMBERSHIP_LIMIT_REACHED);
    }
    if !rows::transition(&auth, &inv.id, "pending", "accepted").await? {
        return Err(INVITATION_NOT_FOUND);
    }
    let teams: Vec<&str> = match settings(&auth).teams.enabled {
        true => inv.team_id.as_deref().map(|t| t.split(',').filter(|t| !t.is_empty()).collect()).unwrap_or_default(),
        false => Vec::new(),
    };
    let member = match admit(&auth, &cur, &inv, &teams).await {
        Ok(m) => m,
        Err(e) => {
            let _ = rows::transition(&auth, &inv.id, "accepted", "pending").await;
            return Err(e);
        }
    };
    if let [only] = teams.as_slice() {
        super::teams::set_active_team(&auth, &cur, Some(only)).await?;
    }
    let s = set_active(&auth, &cur, Some(&inv.organization_id)).await?;
    let inv = Invitation { status: "accepted".into(), ..inv };
    let detail = json!({"memberId": member.id, "role": member.role, "invitation": inv});
    audit(&auth, By::of(&cur, &meta), "invitation.accepted", ("invitation", &inv.id), &inv.organization_id, Some(detail)).await;
    let detail = json!({"userId": member.user_id, "role": member.role, "member": member, "via": "invitation"});
    audit(&auth, By::of(&cur, &meta), "member.added", ("member", &member.id), &inv.organization_id, Some(detail)).await;
    Ok(Reply::json(&json!({"invitation": inv, "member": member})).cookies(super::refreshed_cache(&auth, &cur, &s)))
}

/// The invited teams (seat-limited), then the member with the invitation's role. On failure,
/// the team seats this attempt took are given back (not the ones the user already had).
async fn admit(auth: &Auth, cur: &Current, inv: &Invitation, teams: &[&str]) -> ApiResult<Member> {
    let mut taken = Vec::new();
    let result = async {
        for t in teams {
            if tr::membership(auth, t, &cur.user.id).await?.is_none() {
                tr::join(auth, t, &cur.user.id).await?;
                taken.push(*t);
            }
        }
        let member = Member {
            id: auth.new_id(),
            organization_id: inv.organization_id.clone(),
            user_id: cur.user.id.clone(),
            role: inv.role.clone().unwrap_or_else(|| "member".into()),
            created_at: rows::iso(auth.now()),
        };
        Ok(auth.adapter()?.create_as(rows::MEMBER, &member).await?)
    }
    .await;
    if result.is_err() {
        for t in &taken {
            let _ = tr::leave(auth, t, &cur.user.id).await;
        }
    }
    result
}

pub async fn reject(
    State(auth): State<Auth>,
    Valid(b): Valid<IdBody>,
    SessionAuth(cur): SessionAuth,
    meta: RequestMeta,
) -> ApiResult<Reply> {
    let not_found = INVITATION_NOT_FOUND.with_message("Invitation not found!");
    let inv = rows::invitation_by_id(&auth, &b.invitation_id).await?;
    let inv = inv.filter(|i| i.status == "pending").ok_or(not_found.clone())?;
    recipient(&auth, &cur, &inv)?;
    if !rows::transition(&auth, &inv.id, "pending", "rejected").await? {
        return Err(not_found);
    }
    let inv = Invitation { status: "rejected".into(), ..inv };
    audit(&auth, By::of(&cur, &meta), "invitation.rejected", ("invitation", &inv.id), &inv.organization_id, None).await;
    Ok(Reply::json(&json!({"invitation": inv, "member": null})))
}

pub async fn cancel(
    State(auth): State<Auth>,
    Extension(ac): Ac,
    Valid(b): Valid<IdBody>,
    SessionAuth(cur): SessionAuth,
    meta: RequestMeta,
) -> ApiResult<Reply> {
    let inv = rows::invitation_by_id(&auth, &b.invitation_id).await?.ok_or(INVITATION_NOT_FOUND)?;
    let me = rows::member_of(&auth, &inv.organization_id, &cur.user.id).await?.ok_or(MEMBER_NOT_FOUND)?;
    if !roles::can(&auth, &ac, &inv.organization_id, &me.role, &[("invitation", &["cancel"])]).await? {
        return Err(YOU_ARE_NOT_ALLOWED_TO_CANCEL_THIS_INVITATION);
    }
    auth.adapter()?.update(rows::INVITATION, &[Where::eq("id", inv.id.as_str())], data(&[("status", "canceled".into())])).await?;
    audit(&auth, By::of(&cur, &meta), "invitation.canceled", ("invitation", &inv.id), &inv.organization_id, None).await;
    Ok(Reply::json(&Invitation { status: "canceled".into(), ..inv }))
}

pub struct IdQuery {
    id: String,
}
impl Input for IdQuery {
    fn parse(o: &mut Obj<'_>) -> Self {
        IdQuery { id: o.string("id") }
    }
}

pub async fn get_invitation(
    State(auth): State<Auth>,
    ValidQuery(q): ValidQuery<IdQuery>,
    MaybeSession(cur): MaybeSession,
) -> ApiResult<Reply> {
    let cur = cur.ok_or_else(|| ApiError::uncoded(StatusCode::UNAUTHORIZED, "Not authenticated"))?;
    let not_found = || ApiError::uncoded(StatusCode::BAD_REQUEST, "Invitation not found!");
    let inv = rows::invitation_by_id(&auth, &q.id).await?;
    let inv = inv.filter(|i| i.status == "pending" && !i.expired(auth.now())).ok_or_else(not_found)?;
    if !inv.email.eq_ignore_ascii_case(&cur.user.email) {
        return Err(YOU_ARE_NOT_THE_RECIPIENT_OF_THE_INVITATION);
    }
    if settings(&auth).require_email_verification_on_invitation && !cur.user.email_verified {
        return Err(EMAIL_VERIFICATION_REQUIRED_FOR_INVITATION);
    }
    let org = rows::org_by_id(&auth, &inv.organization_id).await?.ok_or(ORGANIZATION_NOT_FOUND)?;
    if rows::member_of(&auth, &org.id, &inv.inviter_id).await?.is_none() {
        return Err(INVITER_IS_NO_LONGER_A_MEMBER_OF_THE_ORGANIZATION);
    }
    let inviter = auth.store.find_user_by_id(&inv.inviter_id).await?;
    let mut out = serde_json::to_value(&inv).map_err(ApiError::internal)?;
    out["organizationName"] = org.name.into();
    out["organizationSlug"] = org.slug.into();
    out["inviterEmail"] = inviter.map_or(Value::Null, |u| u.email.into());
    Ok(Reply::json(&out))
}

pub struct ListQuery {
    organization_id: Option<String>,
    email: Option<String>,
}
impl Input for ListQuery {
    const SHAPE: Shape = Shape::OptionalObject;
    fn parse(o: &mut Obj<'_>) -> Self {
        ListQuery { organization_id: o.opt_string("organizationId"), email: o.opt_string("email") }
    }
}

pub async fn list(State(auth): State<Auth>, ValidQuery(q): ValidQuery<ListQuery>, SessionAuth(cur): SessionAuth) -> ApiResult<Reply> {
    let id =
        org_id(q.organization_id, &cur.session).ok_or_else(|| ApiError::uncoded(StatusCode::BAD_REQUEST, "Organization ID is required"))?;
    if rows::member_of(&auth, &id, &cur.user.id).await?.is_none() {
        return Err(ApiError::uncoded(StatusCode::FORBIDDEN, "You are not a member of this organization"));
    }
    Ok(Reply::json(&rows::invitations(&auth, vec![Where::eq("organizationId", id.as_str())]).await?))
}

pub async fn list_user(State(auth): State<Auth>, ValidQuery(q): ValidQuery<ListQuery>, SessionAuth(cur): SessionAuth) -> ApiResult<Reply> {
    if q.email.is_some() {
        return Err(ApiError::uncoded(StatusCode::BAD_REQUEST, "User email cannot be passed for client side API calls."));
    }
    if !cur.user.email_verified {
        return Err(EMAIL_VERIFICATION_REQUIRED_FOR_INVITATION);
    }
    let email = cur.user.email.to_lowercase();
    let list = rows::invitations(
        &auth,
        vec![Where::eq("email", email.as_str()), Where::eq("status", "pending"), Where::new("expiresAt", Op::Gt, rows::iso(auth.now()))],
    )
    .await?;
    let mut out = Vec::new();
    for inv in list {
        let name = rows::org_by_id(&auth, &inv.organization_id).await?.map(|o| o.name);
        let mut v = serde_json::to_value(&inv).map_err(ApiError::internal)?;
        v["organizationName"] = name.map_or(Value::Null, Value::from);
        out.push(v);
    }
    Ok(Reply::json(&out))
}
