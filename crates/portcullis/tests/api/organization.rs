//! Organizations (Better Auth's `organization()` plugin, `[organization] enabled = true`):
//! organizations, invitations and members over HTTP, each permission denial with Better Auth's
//! status and code, the invitation lifecycle (expired, cancelled, wrong e-mail, racing accepts),
//! and rows written as Better Auth writes them read back identically.

use crate::harness::*;
use chrono::{Duration, Utc};
use portcullis::plugins::organization::config::OrganizationConfig;
use portcullis::Config;
use serde_json::{json, Value};

fn on(c: &mut Config) {
    c.section_mut::<OrganizationConfig>().expect("[organization] parses").enabled = true;
}

/// Creates an organization as `u`; returns its JSON.
pub(crate) async fn create(u: &SignedUp, slug: &str) -> Value {
    let r = u.client.post_json("/organization/create", json!({"name": format!("Org {slug}"), "slug": slug})).await;
    r.expect_status(200);
    r.json().clone()
}

/// Invites `email` into `org` as `role` from `by`; returns the invitation.
pub(crate) async fn invite(by: &SignedUp, org: &str, email: &str, role: &str) -> Value {
    let r = by.client.post_json("/organization/invite-member", json!({"email": email, "role": role, "organizationId": org})).await;
    r.expect_status(200);
    r.json().clone()
}

/// A fresh user who joined `org` as `role` through an invitation.
pub(crate) async fn join(srv: &TestServer, owner: &SignedUp, org: &str, role: &str, name: &str) -> (SignedUp, Value) {
    let u = srv.user(name).await;
    let inv = invite(owner, org, &u.email, role).await;
    let r = u.client.post_json("/organization/accept-invitation", json!({"invitationId": inv["id"]})).await;
    r.expect_status(200);
    let member = r.json()["member"].clone();
    (u, member)
}

both!(create_makes_the_caller_owner_and_active, config = on, |srv| async move {
    let u = srv.user("founder").await;
    let r = u.client.post_json("/organization/check-slug", json!({"slug": "acme"})).await;
    r.expect_status(200);
    assert_eq!(r.json(), &json!({"status": true}));
    let r = u.client.post_json("/organization/create", json!({"name": "Acme", "slug": "acme", "metadata": {"plan": "pro"}})).await;
    r.expect_status(200);
    let org = r.json().clone();
    assert_eq!(org["name"], "Acme");
    assert_eq!(org["metadata"], json!({"plan": "pro"}), "metadata answered parsed");
    assert_eq!(org["members"][0]["role"], "owner");
    assert_eq!(org["members"][0]["userId"], u.id.as_str());
    let stored = srv.sql_scalar("select metadata from organization").await;
    assert_eq!(stored.as_deref(), Some(r#"{"plan":"pro"}"#), "stored as a JSON string");
    assert_eq!(u.client.session_from_db().await["session"]["activeOrganizationId"], org["id"]);

    u.client.post_json("/organization/check-slug", json!({"slug": "acme"})).await.expect_error(
        400,
        "ORGANIZATION_SLUG_ALREADY_TAKEN",
        "Organization slug already taken",
    );
    let other = srv.user("copycat").await;
    other.client.post_json("/organization/create", json!({"name": "A2", "slug": "acme"})).await.expect_error(
        400,
        "ORGANIZATION_ALREADY_EXISTS",
        "Organization already exists",
    );
    let list = u.client.get("/organization/list").await;
    assert_eq!(list.json().as_array().unwrap().len(), 1);
    assert_eq!(other.client.get("/organization/list").await.json(), &json!([]));

    let keep = u.client.post_json("/organization/create", json!({"name": "B", "slug": "b", "keepCurrentActiveOrganization": true})).await;
    keep.expect_status(200);
    assert_eq!(u.client.session_from_db().await["session"]["activeOrganizationId"], org["id"], "kept");
    srv.client().post_json("/organization/create", json!({"name": "C", "slug": "c"})).await.expect_status(401);
    u.client.post_json("/organization/create", json!({"name": "", "slug": "x"})).await.expect_code(400, "VALIDATION_ERROR");
});

both!(set_active_full_update_and_delete_with_denials, config = on, |srv| async move {
    let owner = srv.user("manager").await;
    let a = create(&owner, "first").await;
    let b = create(&owner, "second").await;
    let r = owner.client.post_json("/organization/set-active", json!({"organizationId": a["id"]})).await;
    r.expect_status(200);
    assert_eq!(r.json()["id"], a["id"]);
    assert!(r.cookie_value("better-auth.session_token").is_some(), "re-sets the session cookie");
    assert_eq!(owner.client.session_from_db().await["session"]["activeOrganizationId"], a["id"]);

    let full = owner.client.get("/organization/get-full-organization").await;
    full.expect_status(200);
    assert_eq!(full.json()["id"], a["id"]);
    assert_eq!(full.json()["invitations"], json!([]));
    assert_eq!(full.json()["members"][0]["user"]["email"], owner.email.as_str());
    let by_id = owner.client.get(&format!("/organization/get-full-organization?organizationId={}", b["id"].as_str().unwrap())).await;
    assert_eq!(by_id.json()["id"], b["id"]);

    let (member, _) = join(&srv, &owner, a["id"].as_str().unwrap(), "member", "worker").await;
    member.client.post_json("/organization/update", json!({"organizationId": a["id"], "data": {"name": "x"}})).await.expect_error(
        403,
        "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_ORGANIZATION",
        "You are not allowed to update this organization",
    );
    let up = owner.client.post_json("/organization/update", json!({"organizationId": a["id"], "data": {"name": "Renamed"}})).await;
    up.expect_status(200);
    assert_eq!(up.json()["name"], "Renamed");
    owner
        .client
        .post_json("/organization/update", json!({"organizationId": a["id"], "data": {"slug": "second"}}))
        .await
        .expect_code(400, "ORGANIZATION_SLUG_ALREADY_TAKEN");
    owner.client.post_json("/organization/update", json!({"organizationId": a["id"]})).await.expect_code(400, "VALIDATION_ERROR");

    let outsider = srv.user("outsider").await;
    outsider.client.get(&format!("/organization/get-full-organization?organizationId={}", a["id"].as_str().unwrap())).await.expect_error(
        403,
        "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION",
        "User is not a member of the organization",
    );
    outsider
        .client
        .post_json("/organization/set-active", json!({"organizationId": a["id"]}))
        .await
        .expect_code(403, "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION");
    let (adm, _) = join(&srv, &owner, a["id"].as_str().unwrap(), "admin", "deputy").await;
    adm.client.post_json("/organization/delete", json!({"organizationId": a["id"]})).await.expect_error(
        403,
        "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_ORGANIZATION",
        "You are not allowed to delete this organization",
    );
    let del = owner.client.post_json("/organization/delete", json!({"organizationId": a["id"]})).await;
    del.expect_status(200);
    assert_eq!(del.json()["id"], a["id"]);
    assert_eq!(adm.client.get("/organization/list").await.json(), &json!([]));
    owner
        .client
        .get(&format!("/organization/get-full-organization?organizationId={}", a["id"].as_str().unwrap()))
        .await
        .expect_code(400, "ORGANIZATION_NOT_FOUND");
    assert_eq!(srv.count("select count(*) from member").await, 1, "only the second organization's owner is left");
    let cleared = owner.client.post_json("/organization/set-active", json!({"organizationId": null})).await;
    cleared.expect_status(200);
    assert_eq!(cleared.json(), &Value::Null);
});

both!(has_permission_follows_the_roles, config = on, |srv| async move {
    let owner = srv.user("holder").await;
    let org = create(&owner, "perm").await;
    let (m, _) = join(&srv, &owner, org["id"].as_str().unwrap(), "member", "guest").await;
    let ask = |c: &Client, p: Value| {
        let c = c.fork();
        async move { c.post_json("/organization/has-permission", json!({"permissions": p})).await }
    };
    assert_eq!(ask(&owner.client, json!({"organization": ["delete"]})).await.json(), &json!({"error": null, "success": true}));
    assert_eq!(ask(&m.client, json!({"organization": ["delete"]})).await.json(), &json!({"error": null, "success": false}));
    assert_eq!(ask(&m.client, json!({"ac": ["read"]})).await.json()["success"], true);
    let outsider = srv.user("nobody").await;
    outsider
        .client
        .post_json("/organization/has-permission", json!({"permissions": {"ac": ["read"]}, "organizationId": org["id"]}))
        .await
        .expect_code(401, "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION");
    outsider
        .client
        .post_json("/organization/has-permission", json!({"permissions": {"ac": ["read"]}}))
        .await
        .expect_code(400, "NO_ACTIVE_ORGANIZATION");
});

both!(invitation_lifecycle, config = on, |srv| async move {
    let owner = srv.user("inviter").await;
    let org = create(&owner, "team").await;
    let oid = org["id"].as_str().unwrap();
    let invitee = srv.user("invitee").await;
    let inv = invite(&owner, oid, &invitee.email.to_uppercase(), "admin").await;
    assert_eq!(inv["email"], invitee.email.as_str(), "lower-cased");
    assert_eq!(inv["status"], "pending");
    assert_eq!(inv["inviterId"], owner.id.as_str());
    let mail = srv.mail_of_kind(&invitee.email, "organization-invitation").await;
    assert_eq!(mail["token"], inv["id"], "the mailed token is the invitation id");
    assert!(mail["text"].as_str().unwrap().contains("Org team"), "{}", mail["text"]);

    owner.client.post_json("/organization/invite-member", json!({"email": invitee.email, "role": "admin"})).await.expect_error(
        400,
        "USER_IS_ALREADY_INVITED_TO_THIS_ORGANIZATION",
        "User is already invited to this organization",
    );
    let r = owner.client.post_json("/organization/invite-member", json!({"email": "x@example.com", "role": "boss"})).await;
    r.expect_status(400);
    assert_eq!(r.json(), &json!({"message": "ROLE_NOT_FOUND: boss"}));
    owner
        .client
        .post_json("/organization/invite-member", json!({"email": "not-an-email", "role": "member"}))
        .await
        .expect_code(400, "INVALID_EMAIL");

    let stranger = srv.user("stranger").await;
    let q = format!("/organization/get-invitation?id={}", inv["id"].as_str().unwrap());
    stranger.client.get(&q).await.expect_code(403, "YOU_ARE_NOT_THE_RECIPIENT_OF_THE_INVITATION");
    stranger.client.post_json("/organization/accept-invitation", json!({"invitationId": inv["id"]})).await.expect_error(
        403,
        "YOU_ARE_NOT_THE_RECIPIENT_OF_THE_INVITATION",
        "You are not the recipient of the invitation",
    );
    let seen = invitee.client.get(&q).await;
    seen.expect_status(200);
    assert_eq!(seen.json()["organizationName"], "Org team");
    assert_eq!(seen.json()["inviterEmail"], owner.email.as_str());

    let acc = invitee.client.post_json("/organization/accept-invitation", json!({"invitationId": inv["id"]})).await;
    acc.expect_status(200);
    assert_eq!(acc.json()["invitation"]["status"], "accepted");
    assert_eq!(acc.json()["member"]["role"], "admin");
    assert_eq!(invitee.client.session_from_db().await["session"]["activeOrganizationId"], oid);
    invitee
        .client
        .post_json("/organization/accept-invitation", json!({"invitationId": inv["id"]}))
        .await
        .expect_code(400, "INVITATION_NOT_FOUND");
    let members = owner.client.get("/organization/list-members").await;
    assert_eq!(members.json()["total"], 2);

    // A plain member may not invite; an admin may not invite an owner.
    let (plain, _) = join(&srv, &owner, oid, "member", "plain").await;
    plain
        .client
        .post_json("/organization/invite-member", json!({"email": "y@example.com", "role": "member"}))
        .await
        .expect_code(403, "YOU_ARE_NOT_ALLOWED_TO_INVITE_USERS_TO_THIS_ORGANIZATION");
    invitee
        .client
        .post_json("/organization/invite-member", json!({"email": "y@example.com", "role": "owner"}))
        .await
        .expect_code(403, "YOU_ARE_NOT_ALLOWED_TO_INVITE_USER_WITH_THIS_ROLE");
    owner
        .client
        .post_json("/organization/invite-member", json!({"email": plain.email, "role": "member"}))
        .await
        .expect_code(400, "USER_IS_ALREADY_A_MEMBER_OF_THIS_ORGANIZATION");

    // Cancelled: no longer acceptable; a member may not cancel.
    let late = srv.user("late").await;
    let inv2 = invite(&owner, oid, &late.email, "member").await;
    plain
        .client
        .post_json("/organization/cancel-invitation", json!({"invitationId": inv2["id"]}))
        .await
        .expect_code(403, "YOU_ARE_NOT_ALLOWED_TO_CANCEL_THIS_INVITATION");
    let c = owner.client.post_json("/organization/cancel-invitation", json!({"invitationId": inv2["id"]})).await;
    c.expect_status(200);
    assert_eq!(c.json()["status"], "canceled");
    late.client
        .post_json("/organization/accept-invitation", json!({"invitationId": inv2["id"]}))
        .await
        .expect_code(400, "INVITATION_NOT_FOUND");

    // Expired: the row's expiry is moved into the past.
    let inv3 = invite(&owner, oid, &late.email, "member").await;
    srv.sql(&format!(
        r#"update invitation set "expiresAt" = {} where id = '{}'"#,
        ts(Utc::now() - Duration::seconds(5)),
        inv3["id"].as_str().unwrap()
    ))
    .await;
    late.client
        .post_json("/organization/accept-invitation", json!({"invitationId": inv3["id"]}))
        .await
        .expect_code(400, "INVITATION_NOT_FOUND");
    late.client.get(&format!("/organization/get-invitation?id={}", inv3["id"].as_str().unwrap())).await.expect_status(400);

    // Rejected, and listed with every status.
    let inv4 = invite(&owner, oid, &late.email, "member").await;
    let rj = late.client.post_json("/organization/reject-invitation", json!({"invitationId": inv4["id"]})).await;
    rj.expect_status(200);
    assert_eq!(rj.json()["invitation"]["status"], "rejected");
    assert_eq!(rj.json()["member"], Value::Null);
    let all = owner.client.get(&format!("/organization/list-invitations?organizationId={oid}")).await;
    let statuses: Vec<&str> = all.json().as_array().unwrap().iter().map(|i| i["status"].as_str().unwrap()).collect();
    assert_eq!(statuses.len(), 5);
    assert!(statuses.contains(&"rejected") && statuses.contains(&"canceled") && statuses.contains(&"accepted"));
    stranger.client.get(&format!("/organization/list-invitations?organizationId={oid}")).await.expect_status(403);
    // list-user-invitations needs a verified address.
    late.client.get("/organization/list-user-invitations").await.expect_code(403, "EMAIL_VERIFICATION_REQUIRED_FOR_INVITATION");
});

both!(two_parallel_accepts_make_one_membership, config = on, |srv| async move {
    let owner = srv.user("racer").await;
    let org = create(&owner, "race").await;
    let u = srv.user("twice").await;
    let inv = invite(&owner, org["id"].as_str().unwrap(), &u.email, "member").await;
    let second = u.client.fork();
    let body = json!({"invitationId": inv["id"]});
    let (a, b) = tokio::join!(
        u.client.post_json("/organization/accept-invitation", body.clone()),
        second.post_json("/organization/accept-invitation", body.clone())
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [200, 400], "one wins, the other finds no pending invitation");
    let n = srv.count(&format!("select count(*) from member where \"userId\" = '{}'", u.id)).await;
    assert_eq!(n, 1);
});

both!(member_roles_leave_and_remove, config = on, |srv| async move {
    let owner = srv.user("boss").await;
    let org = create(&owner, "roles").await;
    let oid = org["id"].as_str().unwrap();
    let (m1, _) = join(&srv, &owner, oid, "member", "worker").await;
    let (m2, mem2) = join(&srv, &owner, oid, "member", "colleague").await;
    let body = json!({"memberId": mem2["id"], "role": "admin", "organizationId": oid});
    m1.client.post_json("/organization/update-member-role", body.clone()).await.expect_error(
        403,
        "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER",
        "You are not allowed to update this member",
    );
    let up = owner.client.post_json("/organization/update-member-role", body).await;
    up.expect_status(200);
    assert_eq!(up.json()["role"], "admin");
    assert_eq!(m2.client.get("/organization/get-active-member").await.json()["role"], "admin");
    assert_eq!(m2.client.get("/organization/get-active-member-role").await.json(), &json!({"role": "admin"}));
    let unknown = owner.client.post_json("/organization/update-member-role", json!({"memberId": mem2["id"], "role": "czar"})).await;
    unknown.expect_error(400, "ROLE_NOT_FOUND", "ROLE_NOT_FOUND: czar");
    let me = owner.client.get("/organization/get-active-member").await.json().clone();
    owner
        .client
        .post_json("/organization/update-member-role", json!({"memberId": me["id"], "role": "member"}))
        .await
        .expect_code(400, "YOU_CANNOT_LEAVE_THE_ORGANIZATION_WITHOUT_AN_OWNER");

    // list-members: paging, sort and filter.
    let page = owner.client.get("/organization/list-members?limit=2&offset=1").await;
    assert_eq!(page.json()["total"], 3);
    assert_eq!(page.json()["members"].as_array().unwrap().len(), 2);
    let admins = owner.client.get("/organization/list-members?filterField=role&filterValue=admin").await;
    assert_eq!(admins.json()["total"], 1);
    owner.client.get("/organization/list-members?filterField=nope&filterValue=1").await.expect_status(400);
    srv.user("alien")
        .await
        .client
        .get(&format!("/organization/list-members?organizationId={oid}"))
        .await
        .expect_code(403, "YOU_ARE_NOT_A_MEMBER_OF_THIS_ORGANIZATION");

    // remove-member: a plain member may not; the owner may, by e-mail.
    m1.client
        .post_json("/organization/remove-member", json!({"memberIdOrEmail": m2.email}))
        .await
        .expect_code(401, "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER");
    m2.client
        .post_json("/organization/remove-member", json!({"memberIdOrEmail": owner.email}))
        .await
        .expect_code(400, "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER");
    let rm = owner.client.post_json("/organization/remove-member", json!({"memberIdOrEmail": m2.email})).await;
    rm.expect_status(200);
    assert_eq!(rm.json()["member"]["userId"], m2.id.as_str());

    // leave: a member can; the only owner cannot.
    let left = m1.client.post_json("/organization/leave", json!({"organizationId": oid})).await;
    left.expect_status(200);
    assert_eq!(left.json()["userId"], m1.id.as_str());
    assert_eq!(m1.client.session_from_db().await["session"]["activeOrganizationId"], Value::Null);
    owner.client.post_json("/organization/leave", json!({"organizationId": oid})).await.expect_error(
        400,
        "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER",
        "You cannot leave the organization as the only owner",
    );
    assert_eq!(owner.client.get("/organization/list-members").await.json()["total"], 1);
});

both!(rows_written_by_better_auth_read_back, config = on, |srv| async move {
    let owner = srv.user("legacy").await;
    let guest = srv.user("guestba").await;
    let now = Utc::now();
    for s in [
        format!(
            r#"insert into organization (id, name, slug, logo, "createdAt", metadata) values ('org_ba', 'Legacy', 'legacy', null, {}, '{{"tier":"gold"}}')"#,
            ts(now)
        ),
        format!(
            r#"insert into member (id, "organizationId", "userId", role, "createdAt") values ('mem_ba', 'org_ba', '{}', 'owner', {})"#,
            owner.id,
            ts(now)
        ),
        format!(
            r#"insert into invitation (id, "organizationId", email, role, status, "expiresAt", "createdAt", "inviterId") values ('inv_ba', 'org_ba', '{}', 'member', 'pending', {}, {}, '{}')"#,
            guest.email,
            ts(now + Duration::hours(48)),
            ts(now),
            owner.id
        ),
    ] {
        srv.sql(&s).await;
    }
    let full = owner.client.get("/organization/get-full-organization?organizationId=org_ba").await;
    full.expect_status(200);
    let f = full.json();
    assert_eq!(f["name"], "Legacy");
    assert_eq!(f["metadata"], json!({"tier": "gold"}));
    assert_eq!(f["members"][0]["id"], "mem_ba");
    assert_eq!(f["members"][0]["user"]["email"], owner.email.as_str());
    assert_eq!(f["invitations"][0]["id"], "inv_ba");
    assert_eq!(f["invitations"][0]["expiresAt"], json!((now + Duration::hours(48)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)));
    let acc = guest.client.post_json("/organization/accept-invitation", json!({"invitationId": "inv_ba"})).await;
    acc.expect_status(200);
    assert_eq!(srv.sql_scalar("select status from invitation where id = 'inv_ba'").await.as_deref(), Some("accepted"));
});

both!(
    the_cookie_cache_follows_the_active_organization,
    config = |c| {
        on(c);
        c.session.cookie_cache.enabled = true;
    },
    |srv| async move {
        let owner = srv.user("cached").await;
        let org = create(&owner, "cached").await;
        assert_eq!(owner.client.session().await["session"]["activeOrganizationId"], org["id"], "create re-issues the cache");
        let other = create(&owner, "other").await;
        let r = owner.client.post_json("/organization/set-active", json!({"organizationId": org["id"]})).await;
        r.expect_status(200);
        assert_eq!(owner.client.session().await["session"]["activeOrganizationId"], org["id"]);
        owner.client.post_json("/organization/delete", json!({"organizationId": org["id"]})).await.expect_status(200);
        assert_eq!(owner.client.session().await["session"]["activeOrganizationId"], Value::Null, "delete clears it");
        assert_ne!(other["id"], org["id"]);
    }
);

both!(
    add_member_on_the_server_enforces_the_limit,
    config = |c| {
        on(c);
        c.section_mut::<OrganizationConfig>().unwrap().membership_limit = 2;
    },
    |srv| async move {
        let owner = srv.user("embedder").await;
        let org = create(&owner, "embedded").await;
        let oid = org["id"].as_str().unwrap();
        let a = srv.user("added").await;
        let b = srv.user("refused").await;
        // The embedding application's own handle on the same database.
        let auth = portcullis::Auth::builder(srv.config.clone()).build().await.expect("build");
        let add = portcullis::plugins::organization::add_member;
        let m = add(&auth, &a.id, &["admin"], oid).await.expect("added");
        assert_eq!(m.role, "admin");
        assert_eq!(add(&auth, &a.id, &["member"], oid).await.unwrap_err().code(), Some("USER_IS_ALREADY_A_MEMBER_OF_THIS_ORGANIZATION"));
        assert_eq!(add(&auth, &b.id, &["member"], oid).await.unwrap_err().code(), Some("ORGANIZATION_MEMBERSHIP_LIMIT_REACHED"));
        assert_eq!(add(&auth, &b.id, &["member"], "nope").await.unwrap_err().code(), Some("ORGANIZATION_NOT_FOUND"));
        let role = a.client.get(&format!("/organization/get-active-member-role?organizationId={oid}")).await;
        assert_eq!(role.json(), &json!({"role": "admin"}));
        owner
            .client
            .get(&format!("/organization/get-active-member-role?organizationId={oid}&userId={}", b.id))
            .await
            .expect_code(403, "YOU_ARE_NOT_A_MEMBER_OF_THIS_ORGANIZATION");
    }
);

fn teams_on(c: &mut Config) {
    on(c);
    let o = c.section_mut::<OrganizationConfig>().unwrap();
    o.teams.enabled = true;
    o.teams.maximum_members_per_team = Some(2);
}

both!(teams_default_team_invitations_and_membership, config = teams_on, |srv| async move {
    let owner = srv.user("teamlead").await;
    let org = create(&owner, "squad").await;
    let oid = org["id"].as_str().unwrap();
    let session = owner.client.session_from_db().await;
    let default_team = session["session"]["activeTeamId"].as_str().expect("the default team is active").to_string();
    let teams = owner.client.get("/organization/list-teams").await;
    teams.expect_status(200);
    assert_eq!(teams.json().as_array().unwrap().len(), 1);
    assert_eq!(teams.json()[0]["name"], org["name"]);
    assert!(teams.json()[0].get("memberCount").is_none(), "memberCount is not returned");

    let t = owner.client.post_json("/organization/create-team", json!({"name": "Backend"})).await;
    t.expect_status(200);
    let backend = t.json()["id"].as_str().unwrap().to_string();
    let up = owner.client.post_json("/organization/update-team", json!({"teamId": backend, "data": {"name": "Back end"}})).await;
    assert_eq!(up.json()["name"], "Back end");

    // An invitation into a team: accepting joins it and makes it active.
    let dev = srv.user("dev").await;
    let inv = owner.client.post_json("/organization/invite-member", json!({"email": dev.email, "role": "member", "teamId": backend})).await;
    inv.expect_status(200);
    assert_eq!(inv.json()["teamId"], backend.as_str());
    owner
        .client
        .post_json("/organization/invite-member", json!({"email": "z@example.com", "role": "member", "teamId": "a,b"}))
        .await
        .expect_code(400, "INVALID_TEAM_ID");
    owner
        .client
        .post_json("/organization/invite-member", json!({"email": "z@example.com", "role": "member", "teamId": "nope"}))
        .await
        .expect_code(400, "TEAM_NOT_FOUND");
    dev.client.post_json("/organization/accept-invitation", json!({"invitationId": inv.json()["id"]})).await.expect_status(200);
    assert_eq!(dev.client.session_from_db().await["session"]["activeTeamId"], backend.as_str());
    let tm = dev.client.get("/organization/list-team-members").await;
    tm.expect_status(200);
    assert_eq!(tm.json().as_array().unwrap().len(), 1);
    assert!(tm.json()[0].get("membershipKey").is_none());
    let mine = dev.client.get("/organization/list-user-teams").await;
    assert_eq!(mine.json().as_array().unwrap().len(), 1);

    // A plain member may not manage teams.
    dev.client
        .post_json("/organization/create-team", json!({"name": "Mine"}))
        .await
        .expect_code(403, "YOU_ARE_NOT_ALLOWED_TO_CREATE_TEAMS_IN_THIS_ORGANIZATION");
    dev.client
        .post_json("/organization/add-team-member", json!({"teamId": default_team, "userId": dev.id}))
        .await
        .expect_code(403, "YOU_ARE_NOT_ALLOWED_TO_CREATE_A_NEW_TEAM_MEMBER");
    // add-team-member is idempotent and seat-limited (2 per team here).
    let add = owner.client.post_json("/organization/add-team-member", json!({"teamId": backend, "userId": owner.id})).await;
    add.expect_status(200);
    let again = owner.client.post_json("/organization/add-team-member", json!({"teamId": backend, "userId": owner.id})).await;
    assert_eq!(again.json()["id"], add.json()["id"]);
    let (third, _) = join(&srv, &owner, oid, "member", "third").await;
    owner
        .client
        .post_json("/organization/add-team-member", json!({"teamId": backend, "userId": third.id}))
        .await
        .expect_code(403, "TEAM_MEMBER_LIMIT_REACHED");
    let stranger = srv.user("stranger2").await;
    owner
        .client
        .post_json("/organization/add-team-member", json!({"teamId": backend, "userId": stranger.id}))
        .await
        .expect_code(400, "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION");
    let rm = owner.client.post_json("/organization/remove-team-member", json!({"teamId": backend, "userId": owner.id})).await;
    assert_eq!(rm.json(), &json!({"message": "Team member removed successfully."}));
    owner
        .client
        .post_json("/organization/remove-team-member", json!({"teamId": backend, "userId": owner.id}))
        .await
        .expect_code(400, "USER_IS_NOT_A_MEMBER_OF_THE_TEAM");

    // set-active-team; the active team cannot be removed by its holder; the last one stays.
    owner
        .client
        .post_json("/organization/set-active-team", json!({"teamId": backend}))
        .await
        .expect_code(400, "USER_IS_NOT_A_MEMBER_OF_THE_TEAM");
    owner
        .client
        .post_json("/organization/remove-team", json!({"teamId": default_team}))
        .await
        .expect_code(403, "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_TEAM");
    let removed = owner.client.post_json("/organization/remove-team", json!({"teamId": backend})).await;
    assert_eq!(removed.json(), &json!({"message": "Team removed successfully."}));
    let cleared = owner.client.post_json("/organization/set-active-team", json!({"teamId": null})).await;
    cleared.expect_status(200);
    owner
        .client
        .post_json("/organization/remove-team", json!({"teamId": default_team}))
        .await
        .expect_code(400, "UNABLE_TO_REMOVE_LAST_TEAM");
    let full = owner.client.get("/organization/get-full-organization").await;
    assert_eq!(full.json()["teams"].as_array().unwrap().len(), 1);
    assert_eq!(srv.count("select count(*) from \"teamMember\"").await, 1, "the owner in the default team");
});

// A time-bound member role (Portcullis's `expiresIn` on update-member-role): the member may invite
// while the grant lasts, and not a moment after (the clock is injected).
async fn member_grant(backend: Backend) {
    use std::sync::atomic::{AtomicI64, Ordering};
    let offset = std::sync::Arc::new(AtomicI64::new(0));
    let srv = TestServer::start_with(backend, on, |b| b.clock(std::sync::Arc::new(crate::admin::Shifted(offset.clone())))).await;
    let owner = srv.user("grant-owner").await;
    let org = create(&owner, "granted").await["id"].as_str().unwrap().to_string();
    let (m, member) = join(&srv, &owner, &org, "member", "grant-member").await;
    let body = json!({"memberId": member["id"], "role": "admin", "organizationId": org, "expiresIn": 600});
    let r = owner.client.post_json("/organization/update-member-role", body).await;
    r.expect_status(200);
    let role = r.json()["role"].as_str().unwrap().to_string();
    assert!(role.starts_with("member,admin@"), "{role}");
    let can_invite = json!({"permissions": {"invitation": ["create"]}, "organizationId": org});
    assert_eq!(m.client.post_json("/organization/has-permission", can_invite.clone()).await.json()["success"], true);
    invite(&m, &org, "guest@example.com", "member").await;

    offset.store(601, Ordering::SeqCst);
    assert_eq!(m.client.post_json("/organization/has-permission", can_invite).await.json()["success"], false);
    let r = m
        .client
        .post_json("/organization/invite-member", json!({"email": "late@example.com", "role": "member", "organizationId": org}))
        .await;
    r.expect_code(403, "YOU_ARE_NOT_ALLOWED_TO_INVITE_USERS_TO_THIS_ORGANIZATION");
    let bad = json!({"memberId": member["id"], "role": "admin", "organizationId": org, "expiresIn": 0});
    assert_eq!(owner.client.post_json("/organization/update-member-role", bad).await.status, 400);
}
crate::on_both_backends!(a_time_bound_member_role_stops_counting_when_it_expires, member_grant,);
