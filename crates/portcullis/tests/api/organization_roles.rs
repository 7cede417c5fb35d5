//! Organizations' dynamic access control (`[organization.dynamic_access_control] enabled = true`):
//! the role endpoints with Better Auth's codes, database roles in every permission check (merged
//! with a static role of the same name), and the audit log of organization actions.

use super::organization::{create, invite, join};
use crate::harness::*;
use chrono::Utc;
use portcullis::plugins::organization::config::OrganizationConfig;
use portcullis::Config;
use serde_json::{json, Value};

fn dynamic(c: &mut Config) {
    let o = c.section_mut::<OrganizationConfig>().expect("[organization] parses");
    o.enabled = true;
    o.dynamic_access_control.enabled = true;
}

fn limited(c: &mut Config) {
    dynamic(c);
    c.section_mut::<OrganizationConfig>().unwrap().dynamic_access_control.maximum_roles_per_organization = Some(2);
}

/// `POST /organization/create-role` in `org` as `u`.
async fn create_role(u: &SignedUp, org: &Value, role: &str, permission: Value) -> Resp {
    u.client.post_json("/organization/create-role", json!({"role": role, "permission": permission, "organizationId": org["id"]})).await
}

async fn allowed(u: &SignedUp, org: &Value, permissions: Value) -> bool {
    let r = u.client.post_json("/organization/has-permission", json!({"permissions": permissions, "organizationId": org["id"]})).await;
    r.expect_status(200);
    r.json()["success"] == true
}

both!(role_endpoints_create_list_get_update_delete, config = dynamic, |srv| async move {
    let owner = srv.user("rolesowner").await;
    let org = create(&owner, "roles").await;
    let r = create_role(&owner, &org, "Editor", json!({"member": ["create"], "invitation": ["create"]})).await;
    r.expect_status(200);
    let created = r.json().clone();
    assert_eq!(created["success"], true);
    assert_eq!(created["roleData"]["role"], "editor", "lower-cased");
    assert_eq!(created["roleData"]["organizationId"], org["id"]);
    assert_eq!(created["roleData"]["permission"], json!({"member": ["create"], "invitation": ["create"]}), "answered parsed");
    assert_eq!(created["statements"], json!({"member": ["create"], "invitation": ["create"]}));
    let id = created["roleData"]["id"].as_str().unwrap().to_string();
    let stored = srv.sql_scalar(r#"select "permission" from "organizationRole""#).await.unwrap();
    assert_eq!(serde_json::from_str::<Value>(&stored).unwrap(), json!({"member": ["create"], "invitation": ["create"]}), "a JSON string");

    let list = owner.client.get("/organization/list-roles").await;
    list.expect_status(200);
    assert_eq!(list.json().as_array().unwrap().len(), 1);
    assert_eq!(list.json()[0]["permission"]["member"], json!(["create"]));
    let by_name = owner.client.get("/organization/get-role?roleName=editor").await;
    by_name.expect_status(200);
    assert_eq!(by_name.json()["id"], id.as_str());
    let by_id = owner.client.get(&format!("/organization/get-role?roleId={id}")).await;
    assert_eq!(by_id.json()["role"], "editor");
    assert_eq!(by_id.json()["permission"]["invitation"], json!(["create"]));

    let up = owner
        .client
        .post_json("/organization/update-role", json!({"roleId": id, "data": {"roleName": "Writer", "permission": {"team": ["create"]}}}))
        .await;
    up.expect_status(200);
    assert_eq!(up.json()["success"], true);
    assert_eq!(up.json()["roleData"]["role"], "writer");
    assert_eq!(up.json()["roleData"]["permission"], json!({"team": ["create"]}));
    assert!(up.json()["roleData"]["updatedAt"].is_string());
    let got = owner.client.get("/organization/get-role?roleName=writer").await;
    assert_eq!(got.json()["permission"], json!({"team": ["create"]}));

    // Errors.
    create_role(&owner, &org, "Admin", json!({"ac": ["read"]})).await.expect_error(
        400,
        "ROLE_NAME_IS_ALREADY_TAKEN",
        "That role name is already taken",
    );
    create_role(&owner, &org, "writer", json!({"ac": ["read"]})).await.expect_code(400, "ROLE_NAME_IS_ALREADY_TAKEN");
    owner
        .client
        .post_json("/organization/update-role", json!({"roleName": "writer", "data": {"roleName": "owner"}}))
        .await
        .expect_code(400, "ROLE_NAME_IS_ALREADY_TAKEN");
    create_role(&owner, &org, "rocketeer", json!({"rocket": ["launch"]})).await.expect_error(
        400,
        "INVALID_RESOURCE",
        "The provided permission includes an invalid resource",
    );
    owner
        .client
        .post_json("/organization/update-role", json!({"roleName": "writer", "data": {"permission": {"rocket": ["launch"]}}}))
        .await
        .expect_code(400, "INVALID_RESOURCE");
    create_role(&owner, &org, "bad", json!({"ac": "read"})).await.expect_code(400, "VALIDATION_ERROR");
    let lonely = srv.user("noorg").await;
    lonely.client.post_json("/organization/create-role", json!({"role": "x", "permission": {"ac": ["read"]}})).await.expect_error(
        400,
        "YOU_MUST_BE_IN_AN_ORGANIZATION_TO_CREATE_A_ROLE",
        "You must be in an organization to create a role",
    );
    lonely.client.get("/organization/list-roles").await.expect_code(400, "NO_ACTIVE_ORGANIZATION");
    create_role(&lonely, &org, "x", json!({"ac": ["read"]})).await.expect_error(
        403,
        "YOU_ARE_NOT_A_MEMBER_OF_THIS_ORGANIZATION",
        "You are not a member of this organization",
    );
    let (member, _) = join(&srv, &owner, org["id"].as_str().unwrap(), "member", "plainmember").await;
    create_role(&member, &org, "x", json!({"ac": ["read"]})).await.expect_error(
        403,
        "YOU_ARE_NOT_ALLOWED_TO_CREATE_A_ROLE",
        "You are not allowed to create a role",
    );
    member.client.get("/organization/list-roles").await.expect_status(200);
    member.client.get("/organization/get-role?roleName=writer").await.expect_status(200);
    member.client.post_json("/organization/update-role", json!({"roleName": "writer", "data": {"roleName": "w2"}})).await.expect_error(
        403,
        "YOU_ARE_NOT_ALLOWED_TO_UPDATE_A_ROLE",
        "You are not allowed to update a role",
    );
    member.client.post_json("/organization/delete-role", json!({"roleName": "writer"})).await.expect_error(
        403,
        "YOU_ARE_NOT_ALLOWED_TO_DELETE_A_ROLE",
        "You are not allowed to delete a role",
    );
    owner.client.post_json("/organization/delete-role", json!({"roleName": "admin"})).await.expect_error(
        400,
        "CANNOT_DELETE_A_PRE_DEFINED_ROLE",
        "Cannot delete a pre-defined role",
    );
    owner.client.post_json("/organization/delete-role", json!({"roleName": "ghost"})).await.expect_error(
        400,
        "ROLE_NOT_FOUND",
        "Role not found",
    );
    owner.client.get("/organization/get-role?roleName=ghost").await.expect_code(400, "ROLE_NOT_FOUND");
    owner
        .client
        .post_json("/organization/update-role", json!({"roleId": "nope", "data": {"roleName": "x"}}))
        .await
        .expect_code(400, "ROLE_NOT_FOUND");
    owner.client.post_json("/organization/delete-role", json!({})).await.expect_code(400, "VALIDATION_ERROR");

    // A role nobody holds is deleted; another organization's roles are not seen.
    let other = create(&lonely, "elsewhere").await;
    lonely.client.get(&format!("/organization/get-role?roleId={id}")).await.expect_code(400, "ROLE_NOT_FOUND");
    assert_eq!(
        lonely.client.get(&format!("/organization/list-roles?organizationId={}", other["id"].as_str().unwrap())).await.json(),
        &json!([])
    );
    let del = owner.client.post_json("/organization/delete-role", json!({"roleId": id})).await;
    del.expect_status(200);
    assert_eq!(del.json(), &json!({"success": true}));
    assert_eq!(owner.client.get("/organization/list-roles").await.json(), &json!([]));
});

both!(the_number_of_roles_is_limited, config = limited, |srv| async move {
    let owner = srv.user("limitowner").await;
    let org = create(&owner, "limited").await;
    for n in ["one", "two"] {
        create_role(&owner, &org, n, json!({"ac": ["read"]})).await.expect_status(200);
    }
    create_role(&owner, &org, "three", json!({"ac": ["read"]})).await.expect_error(
        400,
        "TOO_MANY_ROLES",
        "This organization has too many roles",
    );
    owner.client.post_json("/organization/delete-role", json!({"roleName": "two"})).await.expect_status(200);
    create_role(&owner, &org, "three", json!({"ac": ["read"]})).await.expect_status(200);
});

both!(a_member_holding_a_db_role_gets_its_permissions, config = dynamic, |srv| async move {
    let owner = srv.user("dbowner").await;
    let org = create(&owner, "dbroles").await;
    let org_id = org["id"].as_str().unwrap();
    create_role(&owner, &org, "recruiter", json!({"invitation": ["create"], "member": ["update"]})).await.expect_status(200);
    create_role(&owner, &org, "viewer", json!({"team": ["update"]})).await.expect_status(200);
    // Invited with a database role, which the invitation accepts.
    let (rec, member) = join(&srv, &owner, org_id, "recruiter", "recruits").await;
    assert_eq!(member["role"], "recruiter");
    assert!(allowed(&rec, &org, json!({"invitation": ["create"]})).await);
    assert!(!allowed(&rec, &org, json!({"organization": ["update"]})).await);
    assert!(!allowed(&rec, &org, json!({"ac": ["read"]})).await, "a DB role is not the member role");
    invite(&rec, org_id, "newbie@example.com", "member").await;
    let inv = invite(&rec, org_id, "newbie2@example.com", "viewer").await;
    rec.client
        .post_json("/organization/cancel-invitation", json!({"invitationId": inv["id"]}))
        .await
        .expect_code(403, "YOU_ARE_NOT_ALLOWED_TO_CANCEL_THIS_INVITATION");
    // A role list holds static and database roles alike; an unknown one is refused.
    let r = owner.client.post_json("/organization/invite-member", json!({"email": "x@example.com", "role": "ghost, viewer"})).await;
    r.expect_status(400);
    assert_eq!(r.json()["message"], "ROLE_NOT_FOUND: ghost");
    // member:update from the DB role: update-member-role, to a DB role.
    let (plain, pm) = join(&srv, &owner, org_id, "member", "plainone").await;
    let up = rec.client.post_json("/organization/update-member-role", json!({"memberId": pm["id"], "role": ["member", "viewer"]})).await;
    up.expect_status(200);
    assert_eq!(up.json()["role"], "member,viewer");
    assert!(!allowed(&plain, &org, json!({"team": ["update"], "ac": ["read"]})).await, "AND within one role's grants");
    assert!(allowed(&plain, &org, json!({"team": ["update"]})).await);
    rec.client.post_json("/organization/update-member-role", json!({"memberId": pm["id"], "role": "czar"})).await.expect_error(
        400,
        "ROLE_NOT_FOUND",
        "ROLE_NOT_FOUND: czar",
    );
    // The DB role without ac:read may neither list nor read roles.
    rec.client.get("/organization/list-roles").await.expect_error(
        403,
        "YOU_ARE_NOT_ALLOWED_TO_LIST_A_ROLE",
        "You are not allowed to list a role",
    );
    rec.client.get("/organization/get-role?roleName=viewer").await.expect_error(
        403,
        "YOU_ARE_NOT_ALLOWED_TO_READ_A_ROLE",
        "You are not allowed to read a role",
    );
    // Deleting a role a member holds is refused, until nobody holds it.
    owner.client.post_json("/organization/delete-role", json!({"roleName": "viewer"})).await.expect_error(
        400,
        "ROLE_IS_ASSIGNED_TO_MEMBERS",
        "Cannot delete a role that is assigned to members. Please reassign the members to a different role first",
    );
    owner.client.post_json("/organization/update-member-role", json!({"memberId": pm["id"], "role": "member"})).await.expect_status(200);
    owner.client.post_json("/organization/delete-role", json!({"roleName": "viewer"})).await.expect_status(200);
    // Updating a role's permissions changes what its holders may do at once.
    owner
        .client
        .post_json("/organization/update-role", json!({"roleName": "recruiter", "data": {"permission": {"organization": ["update"]}}}))
        .await
        .expect_status(200);
    assert!(allowed(&rec, &org, json!({"organization": ["update"]})).await);
    assert!(!allowed(&rec, &org, json!({"invitation": ["create"]})).await);
});

both!(a_db_role_named_like_a_static_one_merges, config = dynamic, |srv| async move {
    let owner = srv.user("mergeowner").await;
    let org = create(&owner, "merge").await;
    let (m, _) = join(&srv, &owner, org["id"].as_str().unwrap(), "member", "mergee").await;
    assert!(!allowed(&m, &org, json!({"invitation": ["create"]})).await);
    // Better Auth refuses the name through the API; a row written directly (or before the static
    // role existed) adds its actions to the static role.
    create_role(&owner, &org, "member", json!({"invitation": ["create"]})).await.expect_code(400, "ROLE_NAME_IS_ALREADY_TAKEN");
    srv.sql(&format!(
        r#"insert into "organizationRole" (id, "organizationId", role, permission, "createdAt") values ('role_m', '{}', 'member', '{{"invitation":["create"]}}', {})"#,
        org["id"].as_str().unwrap(),
        ts(Utc::now())
    ))
    .await;
    assert!(allowed(&m, &org, json!({"invitation": ["create"], "ac": ["read"]})).await, "union of both");
    invite(&m, org["id"].as_str().unwrap(), "friend@example.com", "member").await;
    assert!(!allowed(&m, &org, json!({"invitation": ["cancel"]})).await);
});

both!(granting_more_than_you_hold_is_refused, config = dynamic, |srv| async move {
    let owner = srv.user("grantowner").await;
    let org = create(&owner, "grants").await;
    let (admin, _) = join(&srv, &owner, org["id"].as_str().unwrap(), "admin", "anadmin").await;
    // admin lacks organization:delete, so may not hand it out.
    let r = create_role(&admin, &org, "deleter", json!({"organization": ["update", "delete"], "member": ["create"]})).await;
    r.expect_code(403, "YOU_ARE_NOT_ALLOWED_TO_CREATE_A_ROLE");
    assert_eq!(r.json()["message"], "You are not allowed to create a role");
    assert_eq!(r.json()["missingPermissions"], json!(["organization:delete"]));
    create_role(&admin, &org, "updater", json!({"organization": ["update"]})).await.expect_status(200);
    let r = admin
        .client
        .post_json(
            "/organization/update-role",
            json!({"roleName": "updater", "organizationId": org["id"], "data": {"permission": {"organization": ["update", "delete"]}}}),
        )
        .await;
    r.expect_code(403, "YOU_ARE_NOT_ALLOWED_TO_UPDATE_A_ROLE");
    assert_eq!(r.json()["message"], "You are not allowed to update a role");
    assert_eq!(r.json()["missingPermissions"], json!(["organization:delete"]));
    // The owner holds everything, so may.
    owner
        .client
        .post_json(
            "/organization/update-role",
            json!({"roleName": "updater", "data": {"permission": {"organization": ["update", "delete"]}}}),
        )
        .await
        .expect_status(200);
    // A DB role granting ac:create may hand out only what it holds itself.
    create_role(&owner, &org, "rolemaker", json!({"ac": ["create"], "invitation": ["create"]})).await.expect_status(200);
    let (maker, _) = join(&srv, &owner, org["id"].as_str().unwrap(), "rolemaker", "maker").await;
    create_role(&maker, &org, "inviter", json!({"invitation": ["create"]})).await.expect_status(200);
    let r = create_role(&maker, &org, "remover", json!({"member": ["delete"], "invitation": ["create", "cancel"]})).await;
    r.expect_code(403, "YOU_ARE_NOT_ALLOWED_TO_CREATE_A_ROLE");
    assert_eq!(r.json()["missingPermissions"], json!(["invitation:cancel", "member:delete"]));
});

both!(organization_actions_are_audited, config = dynamic, |srv| async move {
    let owner = srv.user("auditowner").await;
    let ip = "198.51.100.7";
    let post = |path: &'static str, body: Value| {
        let c = owner.client.fork();
        async move { c.req(reqwest::Method::POST, path).header("x-forwarded-for", ip).json(&body).send().await }
    };
    let r = post("/organization/create", json!({"name": "Audited", "slug": "audited"})).await;
    r.expect_status(200);
    let org = r.json()["id"].as_str().unwrap().to_string();
    let r = post("/organization/update", json!({"data": {"name": "Audited 2"}})).await;
    r.expect_status(200);
    let r = post("/organization/invite-member", json!({"email": "guest@example.com", "role": "member"})).await;
    r.expect_status(200);
    let inv = r.json()["id"].as_str().unwrap().to_string();
    post("/organization/cancel-invitation", json!({"invitationId": inv})).await.expect_status(200);
    let r = post("/organization/create-role", json!({"role": "auditor", "permission": {"ac": ["read"]}})).await;
    r.expect_status(200);
    let role = r.json()["roleData"]["id"].as_str().unwrap().to_string();
    let (u, m) = join(&srv, &owner, &org, "member", "auditmember").await;
    post("/organization/update-member-role", json!({"memberId": m["id"], "role": "auditor"})).await.expect_status(200);
    post("/organization/remove-member", json!({"memberIdOrEmail": m["id"]})).await.expect_status(200);
    // A refused action writes nothing.
    u.client.post_json("/organization/delete", json!({"organizationId": org})).await.expect_status(400);

    let mid = m["id"].as_str().unwrap();
    for (act, ty, target) in [
        ("organization.created", "organization", org.as_str()),
        ("organization.updated", "organization", org.as_str()),
        ("invitation.created", "invitation", inv.as_str()),
        ("invitation.canceled", "invitation", inv.as_str()),
        ("role.created", "role", role.as_str()),
        ("member.updated", "member", mid),
        ("member.removed", "member", mid),
    ] {
        let q = format!(
            r#"select count(*) from "auditLog" where "action" = '{act}' and "actorId" = '{}' and "actorIp" = '{ip}' and "targetType" = '{ty}' and "targetId" = '{target}' and "organizationId" = '{org}'"#,
            owner.id
        );
        assert_eq!(srv.count(&q).await, 1, "{act}");
    }
    // The invitee's accept is recorded as theirs (the test client's own loopback address).
    let q = format!(r#"select count(*) from "auditLog" where "action" = 'invitation.accepted' and "actorId" = '{}'"#, u.id);
    assert_eq!(srv.count(&q).await, 1);
    let data = srv.sql_scalar(r#"select "data" from "auditLog" where "action" = 'member.updated'"#).await.unwrap();
    assert_eq!(serde_json::from_str::<Value>(&data).unwrap()["role"], "auditor");
    assert_eq!(srv.count(r#"select count(*) from "auditLog" where "action" = 'organization.deleted'"#).await, 0);
    // Deleting the organization takes its roles with it, and is recorded.
    post("/organization/delete", json!({"organizationId": org})).await.expect_status(200);
    assert_eq!(srv.count(r#"select count(*) from "organizationRole""#).await, 0);
    let q = format!(
        r#"select count(*) from "auditLog" where "action" = 'organization.deleted' and "targetId" = '{org}' and "actorIp" = '{ip}'"#
    );
    assert_eq!(srv.count(&q).await, 1);
});

fn dynamic_teams(c: &mut Config) {
    dynamic(c);
    c.section_mut::<OrganizationConfig>().unwrap().teams.enabled = true;
}

both!(team_checks_see_db_roles_and_team_actions_are_audited, config = dynamic_teams, |srv| async move {
    let owner = srv.user("squadowner").await;
    let org = create(&owner, "squads").await;
    let oid = org["id"].as_str().unwrap().to_string();
    create_role(&owner, &org, "teamlead", json!({"team": ["create", "update", "delete"], "member": ["update", "delete"]}))
        .await
        .expect_status(200);
    let (plain, _) = join(&srv, &owner, &oid, "member", "plainsquad").await;
    plain
        .client
        .post_json("/organization/create-team", json!({"name": "Nope"}))
        .await
        .expect_code(403, "YOU_ARE_NOT_ALLOWED_TO_CREATE_TEAMS_IN_THIS_ORGANIZATION");
    let (lead, _) = join(&srv, &owner, &oid, "teamlead", "squadlead").await;
    let post = |path: &'static str, body: Value| {
        let c = lead.client.fork();
        async move { c.req(reqwest::Method::POST, path).header("x-forwarded-for", "192.0.2.44").json(&body).send().await }
    };
    let t = post("/organization/create-team", json!({"name": "Backend"})).await;
    t.expect_status(200);
    let team = t.json()["id"].as_str().unwrap().to_string();
    post("/organization/update-team", json!({"teamId": team, "data": {"name": "Platform"}})).await.expect_status(200);
    post("/organization/add-team-member", json!({"teamId": team, "userId": plain.id})).await.expect_status(200);
    post("/organization/remove-team-member", json!({"teamId": team, "userId": plain.id})).await.expect_status(200);
    post("/organization/remove-team", json!({"teamId": team})).await.expect_status(200);
    for act in ["team.created", "team.updated", "team.member-added", "team.member-removed", "team.deleted"] {
        let q = format!(
            r#"select count(*) from "auditLog" where "action" = '{act}' and "actorId" = '{}' and "actorIp" = '192.0.2.44' and "targetType" = 'team' and "targetId" = '{team}' and "organizationId" = '{oid}'"#,
            lead.id
        );
        assert_eq!(srv.count(&q).await, 1, "{act}");
    }
    let data = srv.sql_scalar(r#"select "data" from "auditLog" where "action" = 'team.member-added'"#).await.unwrap();
    assert_eq!(serde_json::from_str::<Value>(&data).unwrap()["userId"], plain.id.as_str());
});
