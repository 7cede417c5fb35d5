//! `[organization]`: Better Auth's `organization()` options, in snake_case and seconds.

use crate::access::{RoleDef, Statements};
use crate::config::{parse_bool, ConfigError, Section};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrganizationConfig {
    /// Serve `/organization/*`, create the `organization`, `member` and `invitation` tables and
    /// `session.activeOrganizationId`. Off by default (Better Auth's plugin is opt-in).
    pub enabled: bool,
    /// `allowUserToCreateOrganization`.
    pub allow_user_to_create_organization: bool,
    /// `organizationLimit`: how many organizations one user may belong to when creating another.
    pub organization_limit: Option<u64>,
    /// `membershipLimit`: members per organization.
    pub membership_limit: u64,
    /// `invitationLimit`: pending, unexpired invitations per organization.
    pub invitation_limit: u64,
    /// `invitationExpiresIn`, seconds.
    pub invitation_expires_in: u64,
    /// `cancelPendingInvitationsOnReInvite`.
    pub cancel_pending_invitations_on_re_invite: bool,
    /// `requireEmailVerificationOnInvitation`.
    pub require_email_verification_on_invitation: bool,
    /// `disableOrganizationDeletion`.
    pub disable_organization_deletion: bool,
    /// `creatorRole`.
    pub creator_role: String,
    /// The invitation e-mail's link, with `{id}` replaced by the invitation id (Better Auth builds
    /// none; the application's accept page). Without it the e-mail carries the id only.
    pub invitation_url: Option<String>,
    /// Statements beyond the built-in ones (custom resources).
    pub statements: Statements,
    /// `teams`: teams inside organizations (the `team` and `teamMember` tables,
    /// `session.activeTeamId`, `invitation.teamId`).
    pub teams: TeamsConfig,
    /// Roles by name, over the defaults (`owner`, `admin`, `member`): a configured role of the
    /// same name replaces a default.
    pub roles: BTreeMap<String, RoleDef>,
    /// `dynamicAccessControl`: roles created per organization at run time (the
    /// `organizationRole` table and `/organization/*-role`).
    pub dynamic_access_control: DynamicAccessControlConfig,
}

/// `[organization.dynamic_access_control]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DynamicAccessControlConfig {
    pub enabled: bool,
    /// `maximumRolesPerOrganization` (unset: unlimited).
    pub maximum_roles_per_organization: Option<u64>,
}

impl Default for OrganizationConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            allow_user_to_create_organization: true,
            organization_limit: None,
            membership_limit: 100,
            invitation_limit: 100,
            invitation_expires_in: 172_800,
            cancel_pending_invitations_on_re_invite: false,
            require_email_verification_on_invitation: false,
            disable_organization_deletion: false,
            creator_role: "owner".into(),
            invitation_url: None,
            statements: Statements::new(),
            roles: BTreeMap::new(),
            teams: TeamsConfig::default(),
            dynamic_access_control: DynamicAccessControlConfig::default(),
        }
    }
}

/// `[organization.teams]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TeamsConfig {
    pub enabled: bool,
    /// `defaultTeam.enabled`: a new organization gets a team of its name, with its creator in it.
    pub default_team: bool,
    /// `maximumTeams` per organization.
    pub maximum_teams: Option<u64>,
    /// `maximumMembersPerTeam`.
    pub maximum_members_per_team: Option<u64>,
    /// `allowRemovingAllTeams`.
    pub allow_removing_all_teams: bool,
}

impl Default for TeamsConfig {
    fn default() -> Self {
        Self { enabled: false, default_team: true, maximum_teams: None, maximum_members_per_team: None, allow_removing_all_teams: false }
    }
}

impl Section for OrganizationConfig {
    const NAME: &'static str = "organization";
    fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("PORTCULLIS_ORGANIZATION") {
            self.enabled = parse_bool("PORTCULLIS_ORGANIZATION", &v)?;
        }
        Ok(())
    }
    fn check(&self) -> Result<Vec<String>, ConfigError> {
        let ac = super::roles::access_control(self).map_err(ConfigError::Invalid)?;
        if !ac.has_role(&self.creator_role) {
            return Err(ConfigError::Invalid(format!("organization.creator_role: unknown role `{}`", self.creator_role)));
        }
        Ok(Vec::new())
    }
}
