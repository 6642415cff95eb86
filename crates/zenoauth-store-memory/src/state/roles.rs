//! Roles, their assignments and client-secret grace periods.

use time::OffsetDateTime;
use zenoauth_domain::ids::{ApplicationId, OrganizationId, UserId};
use zenoauth_domain::ports::PageRequest;
use zenoauth_domain::roles::{Role, RoleId, RoleName};
use zenoauth_domain::values::SecretDigest;
use zenoauth_domain::{Error, Result};

use super::{limit, page_range, State};

impl State {
    pub(super) fn remove_roles_of_organization(&mut self, id: OrganizationId) {
        self.roles.retain(|_, role| role.organization_id != id);
        self.user_roles.retain(|(organization, _, _)| *organization != id);
        self.application_roles.retain(|(organization, _, _)| *organization != id);
        let applications = &self.applications;
        self.previous_secrets.retain(|application, _| applications.contains_key(application));
    }

    fn require_role(&self, organization: OrganizationId, id: RoleId) -> Result<()> {
        match self.roles.get(&id) {
            Some(role) if role.organization_id == organization => Ok(()),
            _ => Err(Error::NotFound("role")),
        }
    }

    fn name_taken(&self, role: &Role) -> bool {
        self.roles.values().any(|existing| {
            existing.organization_id == role.organization_id && existing.name == role.name && existing.id != role.id
        })
    }

    pub(crate) fn role_create(&mut self, role: &Role) -> Result<()> {
        self.require_organization(role.organization_id)?;
        if self.roles.contains_key(&role.id) {
            return Err(Error::Conflict("role_id"));
        }
        if self.name_taken(role) {
            return Err(Error::Conflict("role_name"));
        }
        self.roles.insert(role.id, role.clone());
        Ok(())
    }

    pub(crate) fn role_get(&self, organization: OrganizationId, id: RoleId) -> Result<Role> {
        self.require_role(organization, id)?;
        self.roles.get(&id).cloned().ok_or(Error::NotFound("role"))
    }

    pub(crate) fn role_find_by_name(&self, organization: OrganizationId, name: &RoleName) -> Option<Role> {
        self.roles.values().find(|role| role.organization_id == organization && &role.name == name).cloned()
    }

    pub(crate) fn role_update(&mut self, changed: &Role) -> Result<()> {
        self.require_role(changed.organization_id, changed.id)?;
        if self.name_taken(changed) {
            return Err(Error::Conflict("role_name"));
        }
        let stored = self.roles.get_mut(&changed.id).ok_or(Error::NotFound("role"))?;
        stored.name = changed.name.clone();
        stored.description = changed.description.clone();
        stored.permissions = changed.permissions.clone();
        stored.updated_at = changed.updated_at;
        Ok(())
    }

    pub(crate) fn role_delete(&mut self, organization: OrganizationId, id: RoleId) -> Result<()> {
        self.require_role(organization, id)?;
        self.roles.remove(&id);
        self.user_roles.retain(|(_, _, role)| *role != id);
        self.application_roles.retain(|(_, _, role)| *role != id);
        Ok(())
    }

    pub(crate) fn role_list(&self, organization: OrganizationId, page: &PageRequest) -> Vec<Role> {
        page_range(&self.roles, page)
            .filter(|role| role.organization_id == organization)
            .take(limit(page))
            .cloned()
            .collect()
    }

    fn roles_sorted(&self, ids: impl Iterator<Item = RoleId>) -> Vec<Role> {
        let mut roles: Vec<Role> = ids.filter_map(|id| self.roles.get(&id).cloned()).collect();
        roles.sort_by(|a, b| a.name.cmp(&b.name));
        roles
    }

    pub(crate) fn role_assign_to_user(
        &mut self,
        organization: OrganizationId,
        user: UserId,
        role: RoleId,
    ) -> Result<()> {
        self.require_user(organization, user)?;
        self.require_role(organization, role)?;
        self.user_roles.insert((organization, user, role));
        Ok(())
    }

    pub(crate) fn role_unassign_from_user(&mut self, organization: OrganizationId, user: UserId, role: RoleId) -> bool {
        self.user_roles.remove(&(organization, user, role))
    }

    pub(crate) fn roles_of_user(&self, organization: OrganizationId, user: UserId) -> Vec<Role> {
        self.roles_sorted(
            self.user_roles.iter().filter(|(o, u, _)| *o == organization && *u == user).map(|(_, _, role)| *role),
        )
    }

    pub(crate) fn role_assign_to_application(
        &mut self,
        organization: OrganizationId,
        application: ApplicationId,
        role: RoleId,
    ) -> Result<()> {
        self.require_application(organization, application)?;
        self.require_role(organization, role)?;
        self.application_roles.insert((organization, application, role));
        Ok(())
    }

    pub(crate) fn role_unassign_from_application(
        &mut self,
        organization: OrganizationId,
        application: ApplicationId,
        role: RoleId,
    ) -> bool {
        self.application_roles.remove(&(organization, application, role))
    }

    pub(crate) fn roles_of_application(&self, organization: OrganizationId, application: ApplicationId) -> Vec<Role> {
        self.roles_sorted(
            self.application_roles
                .iter()
                .filter(|(o, a, _)| *o == organization && *a == application)
                .map(|(_, _, role)| *role),
        )
    }

    pub(crate) fn client_secret_rotate(
        &mut self,
        organization: OrganizationId,
        application: ApplicationId,
        new_digest: &SecretDigest,
        previous_valid_until: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<()> {
        self.require_application(organization, application)?;
        let stored = self.applications.get_mut(&application).ok_or(Error::NotFound("application"))?;
        let zenoauth_domain::model::ClientType::Confidential { secret_digest } = &mut stored.client_type else {
            return Err(Error::NotFound("application"));
        };
        let previous = *secret_digest;
        *secret_digest = *new_digest;
        stored.updated_at = now;
        match previous_valid_until {
            Some(until) => {
                self.previous_secrets.insert(application, (previous, until));
            }
            None => {
                self.previous_secrets.remove(&application);
            }
        }
        Ok(())
    }

    pub(crate) fn client_secret_find_previous(
        &self,
        organization: OrganizationId,
        application: ApplicationId,
        now: OffsetDateTime,
    ) -> Option<SecretDigest> {
        self.require_application(organization, application).ok()?;
        self.previous_secrets.get(&application).filter(|(_, until)| *until > now).map(|(digest, _)| *digest)
    }
}
