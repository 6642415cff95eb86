//! Upstream providers, linked identities and logins in flight (the
//! [`FederationStore`](zenoauth_domain::ports::FederationStore) semantics).

use time::OffsetDateTime;
use uuid::Uuid;
use zenoauth_domain::federation::{
    FederatedIdentity, FederationLogin, IdentityDeletion, IdentityProvider, PendingLink,
};
use zenoauth_domain::ids::{OrganizationId, UserId};
use zenoauth_domain::values::SecretDigest;
use zenoauth_domain::{Error, Result};

use super::State;

impl State {
    fn federation_name_taken(&self, provider: &IdentityProvider) -> bool {
        self.identity_providers.values().any(|other| {
            other.organization_id == provider.organization_id && other.id != provider.id && other.name == provider.name
        })
    }

    fn federation_require_provider(&self, organization: OrganizationId, id: Uuid) -> Result<()> {
        match self.identity_providers.get(&id) {
            Some(provider) if provider.organization_id == organization => Ok(()),
            _ => Err(Error::NotFound("identity_provider")),
        }
    }

    pub(crate) fn federation_create_provider(&mut self, provider: &IdentityProvider) -> Result<()> {
        self.require_organization(provider.organization_id)?;
        if self.identity_providers.contains_key(&provider.id) {
            return Err(Error::Conflict("identity_provider_id"));
        }
        if self.federation_name_taken(provider) {
            return Err(Error::Conflict("identity_provider_name"));
        }
        self.identity_providers.insert(provider.id, provider.clone());
        Ok(())
    }

    pub(crate) fn federation_update_provider(&mut self, provider: &IdentityProvider) -> Result<()> {
        self.federation_require_provider(provider.organization_id, provider.id)?;
        if self.federation_name_taken(provider) {
            return Err(Error::Conflict("identity_provider_name"));
        }
        if let Some(stored) = self.identity_providers.get_mut(&provider.id) {
            *stored = IdentityProvider { created_at: stored.created_at, ..provider.clone() };
        }
        Ok(())
    }

    pub(crate) fn federation_find_provider(&self, organization: OrganizationId, id: Uuid) -> Option<IdentityProvider> {
        self.identity_providers.get(&id).filter(|provider| provider.organization_id == organization).cloned()
    }

    pub(crate) fn federation_list_providers(&self, organization: OrganizationId) -> Vec<IdentityProvider> {
        self.identity_providers.values().filter(|provider| provider.organization_id == organization).cloned().collect()
    }

    pub(crate) fn federation_delete_provider(&mut self, organization: OrganizationId, id: Uuid) -> bool {
        if self.federation_require_provider(organization, id).is_err() {
            return false;
        }
        self.identity_providers.remove(&id);
        self.federated_identities.retain(|(_, provider, _), _| *provider != id);
        self.federation_logins.retain(|_, login| login.provider_id != id);
        self.federation_pending_links.retain(|_, link| link.provider_id != id);
        true
    }

    pub(crate) fn federation_link(&mut self, identity: &FederatedIdentity) -> Result<()> {
        self.federation_require_provider(identity.organization_id, identity.provider_id)?;
        self.require_user(identity.organization_id, identity.user_id)?;
        let key = (identity.organization_id, identity.provider_id, identity.subject.clone());
        if self.federated_identities.contains_key(&key) {
            return Err(Error::Conflict("federated_identity"));
        }
        self.federated_identities.insert(key, identity.clone());
        Ok(())
    }

    pub(crate) fn federation_find_identity(
        &self,
        organization: OrganizationId,
        provider: Uuid,
        subject: &str,
    ) -> Option<FederatedIdentity> {
        self.federated_identities.get(&(organization, provider, subject.to_owned())).cloned()
    }

    pub(crate) fn federation_identities_of_user(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> Vec<FederatedIdentity> {
        let mut identities: Vec<FederatedIdentity> = self
            .federated_identities
            .values()
            .filter(|identity| identity.organization_id == organization && identity.user_id == user)
            .cloned()
            .collect();
        identities
            .sort_by(|a, b| (a.created_at, a.provider_id, &a.subject).cmp(&(b.created_at, b.provider_id, &b.subject)));
        identities
    }

    pub(crate) fn federation_delete_identity(
        &mut self,
        organization: OrganizationId,
        user: UserId,
        provider: Uuid,
        subject: &str,
    ) -> bool {
        let key = (organization, provider, subject.to_owned());
        if self.federated_identities.get(&key).is_none_or(|identity| identity.user_id != user) {
            return false;
        }
        self.federated_identities.remove(&key).is_some()
    }

    pub(crate) fn federation_delete_identity_unless_last(
        &mut self,
        organization: OrganizationId,
        user: UserId,
        provider: Uuid,
        subject: &str,
    ) -> IdentityDeletion {
        let key = (organization, provider, subject.to_owned());
        if self.federated_identities.get(&key).is_none_or(|identity| identity.user_id != user) {
            return IdentityDeletion::NotFound;
        }
        let links = self
            .federated_identities
            .values()
            .filter(|identity| identity.organization_id == organization && identity.user_id == user)
            .count();
        if links <= 1 {
            return IdentityDeletion::Last;
        }
        self.federated_identities.remove(&key);
        IdentityDeletion::Deleted
    }

    pub(crate) fn federation_put_pending_link(&mut self, link: &PendingLink) -> Result<()> {
        self.federation_require_provider(link.organization_id, link.provider_id)?;
        self.require_user(link.organization_id, link.user_id)?;
        self.federation_pending_links.insert(link.token_digest, link.clone());
        Ok(())
    }

    pub(crate) fn federation_take_pending_link(
        &mut self,
        organization: OrganizationId,
        token_digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Option<PendingLink> {
        if self.federation_pending_links.get(token_digest)?.organization_id != organization {
            return None;
        }
        self.federation_pending_links.remove(token_digest).filter(|link| link.expires_at > now)
    }

    pub(crate) fn federation_put_login(&mut self, login: &FederationLogin) -> Result<()> {
        self.federation_require_provider(login.organization_id, login.provider_id)?;
        self.federation_logins.insert(login.state_digest, login.clone());
        Ok(())
    }

    pub(crate) fn federation_take_login(
        &mut self,
        organization: OrganizationId,
        state_digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Option<FederationLogin> {
        if self.federation_logins.get(state_digest)?.organization_id != organization {
            return None;
        }
        self.federation_logins.remove(state_digest).filter(|login| login.expires_at > now)
    }

    pub(crate) fn federation_provider_has_identities(&self, organization: OrganizationId, provider: Uuid) -> bool {
        self.federated_identities
            .values()
            .any(|identity| identity.organization_id == organization && identity.provider_id == provider)
    }

    pub(crate) fn federation_delete_expired_pending_links(&mut self, now: OffsetDateTime) -> u64 {
        let before = self.federation_pending_links.len();
        self.federation_pending_links.retain(|_, link| link.expires_at > now);
        super::count(before - self.federation_pending_links.len())
    }

    pub(crate) fn federation_delete_expired_logins(&mut self, now: OffsetDateTime) -> u64 {
        let before = self.federation_logins.len();
        self.federation_logins.retain(|_, login| login.expires_at > now);
        super::count(before - self.federation_logins.len())
    }
}
