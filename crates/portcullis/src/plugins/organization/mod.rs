//! Organizations, wire- and database-compatible with Better Auth's `organization()` plugin
//! (spec plugins §4), teams ([`teams`]) and dynamic access control ([`dynamic`]) included.
//!
//! Owns: `/organization/*` ([`orgs`], [`invitations`], [`members`], [`teams`], [`dynamic`]); the
//! `organization`, `member` and `invitation` tables ([`rows`]), `team` and `teamMember`, and
//! `organizationRole` ([`roles`]); an `auditLog` row for every action that changes something; `session.activeOrganizationId`; the
//! `organization-invitation` e-mail; the `[organization]` section ([`config`]); the roles and
//! their permissions ([`roles`], over the shared [`crate::access`]).
//!
//! Accepting an invitation is a compare-and-set of its status (pending → accepted) before the
//! membership is written, so two racing accepts make one member; a failed write puts it back.
//!
//! Must never: let a member act beyond its roles' permissions, let a non-owner grant, change or
//! remove the creator role, or leave an organization without an owner.

mod api;
pub mod config;
mod dynamic;
mod invitations;
mod members;
mod orgs;
pub mod roles;
pub mod rows;
mod team_rows;
mod teams;

pub use members::add_member;

use crate::access::AccessControl;
use crate::app::{Auth, Capability, Event};
use crate::config::{ConfigError, SectionSpec};
use crate::error::ApiResult;
use crate::fields::{FieldDef, FieldSet, FieldType, Values};
use crate::http::input::{check, Check};
use crate::mail::templates::Message;
use crate::session::{Current, RequestMeta};
use crate::store::model::Session;
use crate::store::schema::{ColType, Column, Table};
use axum::Extension;
use serde_json::Value;
use std::sync::Arc;

/// The session field Better Auth's plugin adds.
pub const ACTIVE: &str = "activeOrganizationId";
/// The invitation e-mail's name (the outbox's `kind`).
pub const INVITATION_MAIL: &str = "organization-invitation";

/// `ORGANIZATION_ERROR_CODES` (the routes change the status where Better Auth does).
pub mod errors {
    crate::error_codes! {
        YOU_ARE_NOT_ALLOWED_TO_CREATE_A_NEW_ORGANIZATION = FORBIDDEN, "You are not allowed to create a new organization";
        YOU_HAVE_REACHED_THE_MAXIMUM_NUMBER_OF_ORGANIZATIONS = FORBIDDEN, "You have reached the maximum number of organizations";
        ORGANIZATION_ALREADY_EXISTS = BAD_REQUEST, "Organization already exists";
        ORGANIZATION_SLUG_ALREADY_TAKEN = BAD_REQUEST, "Organization slug already taken";
        ORGANIZATION_NOT_FOUND = BAD_REQUEST, "Organization not found";
        USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION = BAD_REQUEST, "User is not a member of the organization";
        YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_ORGANIZATION = FORBIDDEN, "You are not allowed to update this organization";
        YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_ORGANIZATION = FORBIDDEN, "You are not allowed to delete this organization";
        ORGANIZATION_DELETION_DISABLED = NOT_FOUND, "Organization deletion is disabled";
        NO_ACTIVE_ORGANIZATION = BAD_REQUEST, "No active organization";
        USER_IS_ALREADY_A_MEMBER_OF_THIS_ORGANIZATION = BAD_REQUEST, "User is already a member of this organization";
        MEMBER_NOT_FOUND = BAD_REQUEST, "Member not found";
        ROLE_NOT_FOUND = BAD_REQUEST, "Role not found";
        YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER = BAD_REQUEST, "You cannot leave the organization as the only owner";
        YOU_CANNOT_LEAVE_THE_ORGANIZATION_WITHOUT_AN_OWNER = BAD_REQUEST, "You cannot leave the organization without an owner";
        YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER = UNAUTHORIZED, "You are not allowed to delete this member";
        YOU_ARE_NOT_ALLOWED_TO_INVITE_USERS_TO_THIS_ORGANIZATION = FORBIDDEN, "You are not allowed to invite users to this organization";
        USER_IS_ALREADY_INVITED_TO_THIS_ORGANIZATION = BAD_REQUEST, "User is already invited to this organization";
        INVITATION_NOT_FOUND = BAD_REQUEST, "Invitation not found";
        YOU_ARE_NOT_THE_RECIPIENT_OF_THE_INVITATION = FORBIDDEN, "You are not the recipient of the invitation";
        EMAIL_VERIFICATION_REQUIRED_BEFORE_ACCEPTING_OR_REJECTING_INVITATION = FORBIDDEN, "Email verification required before accepting or rejecting invitation";
        EMAIL_VERIFICATION_REQUIRED_FOR_INVITATION = FORBIDDEN, "Email verification required to view or list invitations for the session email";
        YOU_ARE_NOT_ALLOWED_TO_CANCEL_THIS_INVITATION = FORBIDDEN, "You are not allowed to cancel this invitation";
        INVITER_IS_NO_LONGER_A_MEMBER_OF_THE_ORGANIZATION = BAD_REQUEST, "Inviter is no longer a member of the organization";
        YOU_ARE_NOT_ALLOWED_TO_INVITE_USER_WITH_THIS_ROLE = FORBIDDEN, "You are not allowed to invite a user with this role";
        YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER = FORBIDDEN, "You are not allowed to update this member";
        ORGANIZATION_MEMBERSHIP_LIMIT_REACHED = FORBIDDEN, "Organization membership limit reached";
        INVITATION_LIMIT_REACHED = FORBIDDEN, "Invitation limit reached";
        YOU_ARE_NOT_A_MEMBER_OF_THIS_ORGANIZATION = FORBIDDEN, "You are not a member of this organization";
        INVALID_EMAIL = BAD_REQUEST, "Invalid email";
        TEAM_NOT_FOUND = BAD_REQUEST, "Team not found";
        INVALID_TEAM_ID = BAD_REQUEST, "Team id contains a reserved character";
        TEAM_MEMBER_LIMIT_REACHED = FORBIDDEN, "Team member limit reached";
        YOU_HAVE_REACHED_THE_MAXIMUM_NUMBER_OF_TEAMS = BAD_REQUEST, "You have reached the maximum number of teams";
        UNABLE_TO_REMOVE_LAST_TEAM = BAD_REQUEST, "Unable to remove last team";
        YOU_ARE_NOT_ALLOWED_TO_CREATE_TEAMS_IN_THIS_ORGANIZATION = FORBIDDEN, "You are not allowed to create teams in this organization";
        YOU_ARE_NOT_ALLOWED_TO_DELETE_TEAMS_IN_THIS_ORGANIZATION = FORBIDDEN, "You are not allowed to delete teams in this organization";
        YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_TEAM = FORBIDDEN, "You are not allowed to update this team";
        YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_TEAM = FORBIDDEN, "You are not allowed to delete this team";
        USER_IS_NOT_A_MEMBER_OF_THE_TEAM = BAD_REQUEST, "User is not a member of the team";
        YOU_DO_NOT_HAVE_AN_ACTIVE_TEAM = BAD_REQUEST, "You do not have an active team";
        YOU_ARE_NOT_ALLOWED_TO_CREATE_A_NEW_TEAM_MEMBER = FORBIDDEN, "You are not allowed to create a new member";
        YOU_ARE_NOT_ALLOWED_TO_REMOVE_A_TEAM_MEMBER = FORBIDDEN, "You are not allowed to remove a team member";
        YOU_ARE_NOT_ALLOWED_TO_ACCESS_THIS_ORGANIZATION = FORBIDDEN, "You are not allowed to access this organization as an owner";
        MISSING_AC_INSTANCE = NOT_IMPLEMENTED, "Dynamic Access Control requires a pre-defined ac instance on the server auth plugin. Read server logs for more information";
        YOU_MUST_BE_IN_AN_ORGANIZATION_TO_CREATE_A_ROLE = BAD_REQUEST, "You must be in an organization to create a role";
        YOU_ARE_NOT_ALLOWED_TO_CREATE_A_ROLE = FORBIDDEN, "You are not allowed to create a role";
        YOU_ARE_NOT_ALLOWED_TO_UPDATE_A_ROLE = FORBIDDEN, "You are not allowed to update a role";
        YOU_ARE_NOT_ALLOWED_TO_DELETE_A_ROLE = FORBIDDEN, "You are not allowed to delete a role";
        YOU_ARE_NOT_ALLOWED_TO_READ_A_ROLE = FORBIDDEN, "You are not allowed to read a role";
        YOU_ARE_NOT_ALLOWED_TO_LIST_A_ROLE = FORBIDDEN, "You are not allowed to list a role";
        YOU_ARE_NOT_ALLOWED_TO_GET_A_ROLE = FORBIDDEN, "You are not allowed to get a role";
        TOO_MANY_ROLES = BAD_REQUEST, "This organization has too many roles";
        INVALID_RESOURCE = BAD_REQUEST, "The provided permission includes an invalid resource";
        ROLE_NAME_IS_ALREADY_TAKEN = BAD_REQUEST, "That role name is already taken";
        CANNOT_DELETE_A_PRE_DEFINED_ROLE = BAD_REQUEST, "Cannot delete a pre-defined role";
        ROLE_IS_ASSIGNED_TO_MEMBERS = BAD_REQUEST, "Cannot delete a role that is assigned to members. Please reassign the members to a different role first";
    }
}

/// This capability's `[organization]` section.
pub(crate) fn settings(auth: &Auth) -> &config::OrganizationConfig {
    auth.config.section()
}

/// The roles, shared by the handlers.
pub(crate) type Ac = Extension<Arc<AccessControl>>;

/// `body.organizationId || session.activeOrganizationId`.
pub(crate) fn org_id(given: Option<String>, session: &Session) -> Option<String> {
    given.filter(|s| !s.is_empty()).or_else(|| active_of(session))
}

/// The session's active organization id.
pub(crate) fn active_of(session: &Session) -> Option<String> {
    session.extra.get(ACTIVE).or_else(|| session.hidden.get(ACTIVE)).and_then(Value::as_str).map(str::to_string)
}

/// Sets (or clears) the session's active organization in the store; the session after it.
pub(crate) async fn set_active(auth: &Auth, cur: &Current, id: Option<&str>) -> ApiResult<Session> {
    let v = id.map_or(Value::Null, |s| Value::String(s.to_string()));
    let values = Values(vec![(ACTIVE.to_string(), v)]);
    let s = auth.sessions.update_fields(&cur.session, &cur.user, &values, auth.now()).await?;
    s.ok_or(crate::error::codes::FAILED_TO_GET_SESSION)
}

/// The cookie cache re-issued after the active organization changed (nothing when the cache is
/// off, as Better Auth, which leaves it stale until it expires; set-active re-sets every cookie).
pub(crate) fn refreshed_cache(auth: &Auth, cur: &Current, s: &Session) -> Vec<axum::http::HeaderValue> {
    crate::session::cache_cookie(auth, s, &cur.user, cur.dont_remember).into_iter().collect()
}

/// Who acted: the signed-in user and the request (client IP, User-Agent), or nobody (a server call).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct By<'a> {
    user: Option<&'a str>,
    meta: Option<&'a RequestMeta>,
}

impl<'a> By<'a> {
    pub(crate) fn of(cur: &'a Current, meta: &'a RequestMeta) -> Self {
        By { user: Some(&cur.user.id), meta: Some(meta) }
    }
}

/// Emits `kind` (`organization.created`, `member.added`, `invitation.accepted`, `team.updated`,
/// ...) on `target` (type, id) of organization `org` (the audit log records it; details only,
/// never secrets).
pub(crate) async fn audit(auth: &Auth, by: By<'_>, kind: &'static str, target: (&'static str, &str), org: &str, data: Option<Value>) {
    if !auth.listens() {
        return;
    }
    let mut event =
        Event::new(auth, kind, target.0, Some(target.1)).actor(by.user).organization(Some(org)).data(data.unwrap_or(Value::Null));
    if let Some(meta) = by.meta {
        event = event.meta(meta);
    }
    auth.emit(event).await;
}

/// The organization capability.
pub struct Organization {
    ac: Arc<AccessControl>,
    teams: bool,
    dynamic: bool,
}

impl Organization {
    pub fn new(cfg: &config::OrganizationConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            ac: Arc::new(roles::access_control(cfg).map_err(ConfigError::Invalid)?),
            teams: cfg.teams.enabled,
            dynamic: cfg.dynamic_access_control.enabled,
        })
    }
}

#[async_trait::async_trait]
impl Capability for Organization {
    fn id(&self) -> &'static str {
        "organization"
    }
    fn sections(&self) -> Vec<SectionSpec> {
        vec![SectionSpec::of::<config::OrganizationConfig>()]
    }
    fn api(&self) -> crate::app::openapi::Api {
        api::api(self)
    }
    fn inputs(&self) -> Vec<(&'static str, Check)> {
        let mut v = vec![
            ("/organization/create", check::<orgs::CreateBody>()),
            ("/organization/check-slug", check::<orgs::SlugBody>()),
            ("/organization/update", check::<orgs::UpdateBody>()),
            ("/organization/delete", check::<orgs::DeleteBody>()),
            ("/organization/set-active", check::<orgs::SetActiveBody>()),
            ("/organization/has-permission", check::<orgs::PermissionBody>()),
            ("/organization/invite-member", check::<invitations::InviteBody>()),
            ("/organization/accept-invitation", check::<invitations::IdBody>()),
            ("/organization/reject-invitation", check::<invitations::IdBody>()),
            ("/organization/cancel-invitation", check::<invitations::IdBody>()),
            ("/organization/remove-member", check::<members::RemoveBody>()),
            ("/organization/update-member-role", check::<members::RoleBody>()),
            ("/organization/leave", check::<members::LeaveBody>()),
        ];
        if self.teams {
            v.extend([
                ("/organization/create-team", check::<teams::CreateBody>()),
                ("/organization/remove-team", check::<teams::RemoveBody>()),
                ("/organization/update-team", check::<teams::UpdateBody>()),
                ("/organization/set-active-team", check::<teams::SetActiveBody>()),
                ("/organization/add-team-member", check::<teams::MemberBody>()),
                ("/organization/remove-team-member", check::<teams::MemberBody>()),
            ]);
        }
        if self.dynamic {
            v.extend([
                ("/organization/create-role", check::<dynamic::CreateBody>()),
                ("/organization/delete-role", check::<dynamic::TargetBody>()),
                ("/organization/update-role", check::<dynamic::UpdateBody>()),
            ]);
        }
        v
    }
    fn session_fields(&self) -> FieldSet {
        let mut f = FieldSet::new();
        f.add(ACTIVE, FieldDef::new(FieldType::String).no_input());
        if self.teams {
            f.add(teams::ACTIVE_TEAM, FieldDef::new(FieldType::String).no_input());
        }
        f
    }
    fn mail_messages(&self) -> Vec<Message> {
        vec![Message {
            name: INVITATION_MAIL,
            subject: include_str!("mail/organization-invitation.subject"),
            text: include_str!("mail/organization-invitation.txt"),
            html: include_str!("mail/organization-invitation.html"),
            example: serde_json::json!({
                "token": "inv_123",
                "id": "inv_123",
                "email": "ada@example.com",
                "role": "member",
                "organization_name": "Acme",
                "organization_slug": "acme",
                "inviter_name": "Grace",
                "inviter_email": "grace@example.com",
                "url": "https://app.example.com/accept-invitation/inv_123",
            }),
        }]
    }
    fn schema(&self) -> Vec<Table> {
        use ColType::*;
        let mut invitation_team = vec![];
        if self.teams {
            invitation_team.push(Column::new("teamId", Text).null());
        }
        let mut tables = vec![
            Table {
                name: rows::ORGANIZATION,
                columns: vec![
                    Column::new("id", Text).pk(),
                    Column::new("name", Text),
                    Column::new("slug", Text).unique(),
                    Column::new("logo", Text).null(),
                    Column::new("createdAt", Time),
                    Column::new("metadata", Text).null(),
                ],
                indexes: vec![],
                search: vec![],
            },
            Table {
                name: rows::MEMBER,
                columns: vec![
                    Column::new("id", Text).pk(),
                    Column::new("organizationId", Text).refs(rows::ORGANIZATION),
                    Column::new("userId", Text).refs("user"),
                    Column::new("role", Text),
                    Column::new("createdAt", Time),
                ],
                indexes: vec!["organizationId", "userId"],
                search: vec![],
            },
            Table {
                name: rows::INVITATION,
                columns: vec![
                    Column::new("id", Text).pk(),
                    Column::new("organizationId", Text).refs(rows::ORGANIZATION),
                    Column::new("email", Text),
                    Column::new("role", Text).null(),
                    Column::new("status", Text),
                    Column::new("expiresAt", Time),
                    Column::new("createdAt", Time).now(),
                    Column::new("inviterId", Text).refs("user"),
                ]
                .into_iter()
                .chain(invitation_team)
                .collect(),
                indexes: vec!["organizationId", "email"],
                search: vec![],
            },
        ];
        if self.dynamic {
            tables.push(Table {
                name: roles::ORGANIZATION_ROLE,
                columns: vec![
                    Column::new("id", Text).pk(),
                    Column::new("organizationId", Text).refs(rows::ORGANIZATION),
                    Column::new("role", Text),
                    Column::new("permission", Text),
                    Column::new("createdAt", Time),
                    Column::new("updatedAt", Time).null(),
                ],
                indexes: vec!["organizationId", "role"],
                search: vec![],
            });
        }
        if self.teams {
            tables.push(Table {
                name: team_rows::TEAM,
                columns: vec![
                    Column::new("id", Text).pk(),
                    Column::new("name", Text),
                    Column::new("memberCount", Int),
                    Column::new("organizationId", Text).refs(rows::ORGANIZATION),
                    Column::new("createdAt", Time),
                    Column::new("updatedAt", Time).null(),
                ],
                indexes: vec!["organizationId"],
                search: vec![],
            });
            tables.push(Table {
                name: team_rows::TEAM_MEMBER,
                columns: vec![
                    Column::new("id", Text).pk(),
                    Column::new("teamId", Text).refs(team_rows::TEAM),
                    Column::new("userId", Text).refs("user"),
                    Column::new("membershipKey", Text).null().unique(),
                    Column::new("createdAt", Time).null(),
                ],
                indexes: vec!["teamId", "userId"],
                search: vec![],
            });
        }
        tables
    }
}
