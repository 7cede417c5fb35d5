//! The organization routes and their document entries (teams and dynamic roles only when on).
//! Answers are described as any JSON where their shape follows the configuration (additional
//! fields, teams): the bodies are exact, taken from the types the handlers read.

use super::{dynamic, invitations, members, orgs, teams, Organization};
use crate::app::openapi::wire::*;
use crate::app::openapi::{Api, Op};
use axum::Extension;

pub(super) fn api(org: &Organization) -> Api {
    let op = |s: &'static str| Op::new(s).signed_in();
    let mut api = Api::new("Organization")
        .post("/organization/create", orgs::create, op("Creates an organization").body::<orgs::CreateBody>().json(any()))
        .post("/organization/check-slug", orgs::check_slug, op("Whether a slug is free").body::<orgs::SlugBody>().json(status()))
        .post("/organization/update", orgs::update, op("Updates an organization").body::<orgs::UpdateBody>().json(any()))
        .post("/organization/delete", orgs::delete, op("Deletes an organization").body::<orgs::DeleteBody>().json(any()))
        .get("/organization/get-organization", orgs::get_organization, op("One organization").query::<orgs::OrgQuery>().json(any()))
        .get(
            "/organization/get-full-organization",
            orgs::get_full,
            op("An organization with members and invitations").query::<orgs::OrgQuery>().json(any()),
        )
        .post(
            "/organization/set-active",
            orgs::set_active_org,
            op("Sets the session's active organization").body::<orgs::SetActiveBody>().json(any()),
        )
        .get("/organization/list", orgs::list, op("The user's organizations").json(array(any())))
        .post(
            "/organization/has-permission",
            orgs::has_permission,
            op("Checks the member's permissions").body::<orgs::PermissionBody>().json(any()),
        )
        .post(
            "/organization/invite-member",
            invitations::invite,
            op("Invites someone by e-mail").body::<invitations::InviteBody>().json(any()),
        )
        .post("/organization/accept-invitation", invitations::accept, op("Accepts an invitation").body::<invitations::IdBody>().json(any()))
        .post("/organization/reject-invitation", invitations::reject, op("Rejects an invitation").body::<invitations::IdBody>().json(any()))
        .post("/organization/cancel-invitation", invitations::cancel, op("Cancels an invitation").body::<invitations::IdBody>().json(any()))
        .get("/organization/get-invitation", invitations::get_invitation, op("One invitation").query::<invitations::IdQuery>().json(any()))
        .get(
            "/organization/list-invitations",
            invitations::list,
            op("An organization's invitations").query::<invitations::ListQuery>().json(array(any())),
        )
        .get(
            "/organization/list-user-invitations",
            invitations::list_user,
            op("The user's invitations").query::<invitations::ListQuery>().json(array(any())),
        )
        .post("/organization/remove-member", members::remove, op("Removes a member").body::<members::RemoveBody>().json(any()))
        .post(
            "/organization/update-member-role",
            members::update_role,
            op("Changes a member's role").bare("400").body::<members::RoleBody>().json(any()),
        )
        .post("/organization/leave", members::leave, op("Leaves an organization").body::<members::LeaveBody>().json(any()))
        .get("/organization/list-members", members::list, op("An organization's members").query::<members::ListQuery>().json(any()))
        .get("/organization/get-active-member", members::active_member, op("The user's membership in the active organization").json(any()))
        .get(
            "/organization/get-active-member-role",
            members::active_member_role,
            op("The user's role in an organization").query::<members::ListQuery>().json(any()),
        );
    if org.teams {
        api = api
            .post("/organization/create-team", teams::create, op("Creates a team").body::<teams::CreateBody>().json(any()))
            .post("/organization/remove-team", teams::remove, op("Removes a team").body::<teams::RemoveBody>().json(any()))
            .post("/organization/update-team", teams::update, op("Updates a team").body::<teams::UpdateBody>().json(any()))
            .get("/organization/list-teams", teams::list, op("An organization's teams").query::<teams::OrgQuery>().json(array(any())))
            .post(
                "/organization/set-active-team",
                teams::set_active,
                op("Sets the session's active team").body::<teams::SetActiveBody>().json(any()),
            )
            .get("/organization/list-user-teams", teams::list_user_teams, op("The user's teams").json(array(any())))
            .get(
                "/organization/list-team-members",
                teams::list_members,
                op("A team's members").query::<teams::OrgQuery>().json(array(any())),
            )
            .post("/organization/add-team-member", teams::add_member, op("Adds a member to a team").body::<teams::MemberBody>().json(any()))
            .post(
                "/organization/remove-team-member",
                teams::remove_member,
                op("Removes a member from a team").body::<teams::MemberBody>().json(any()),
            );
    }
    if org.dynamic {
        api = api
            .post("/organization/create-role", dynamic::create, op("Creates a role").body::<dynamic::CreateBody>().json(any()))
            .post("/organization/delete-role", dynamic::delete, op("Deletes a role").body::<dynamic::TargetBody>().json(any()))
            .get("/organization/list-roles", dynamic::list, op("An organization's roles").query::<dynamic::ListQuery>().json(array(any())))
            .get("/organization/get-role", dynamic::get, op("One role").query::<dynamic::TargetBody>().json(any()))
            .post("/organization/update-role", dynamic::update, op("Updates a role").body::<dynamic::UpdateBody>().json(any()));
    }
    let ac = org.ac.clone();
    api.map_router(|r| r.layer(Extension(ac)))
}
