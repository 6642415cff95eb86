//! Second-factor credentials (the [`MfaStore`](zenoauth_domain::ports::MfaStore) semantics).

use time::OffsetDateTime;
use uuid::Uuid;
use zenoauth_domain::ids::{OrganizationId, UserId};
use zenoauth_domain::mfa::TotpCredential;
use zenoauth_domain::values::SecretDigest;
use zenoauth_domain::{Error, Result};

use super::State;

/// A user's recovery codes: digest, and when it was used.
pub(super) type RecoveryCodes = Vec<(SecretDigest, Option<OffsetDateTime>)>;

impl State {
    pub(crate) fn mfa_put_totp(&mut self, credential: &TotpCredential) -> Result<()> {
        self.require_user(credential.organization_id, credential.user_id)?;
        let key = (credential.organization_id, credential.user_id);
        if self.totp_credentials.get(&key).is_some_and(|existing| existing.confirmed_at.is_some()) {
            return Err(Error::Conflict("mfa_totp"));
        }
        if self.totp_credentials.values().any(|existing| existing.id == credential.id) {
            return Err(Error::Conflict("mfa_credential_id"));
        }
        self.totp_credentials.insert(key, credential.clone());
        Ok(())
    }

    pub(crate) fn mfa_find_totp(&self, organization: OrganizationId, user: UserId) -> Option<TotpCredential> {
        self.totp_credentials.get(&(organization, user)).cloned()
    }

    fn mfa_totp_mut(&mut self, organization: OrganizationId, id: Uuid) -> Option<&mut TotpCredential> {
        self.totp_credentials
            .iter_mut()
            .find(|((owner, _), credential)| *owner == organization && credential.id == id)
            .map(|(_, credential)| credential)
    }

    pub(crate) fn mfa_confirm_totp(
        &mut self,
        organization: OrganizationId,
        id: Uuid,
        step: i64,
        now: OffsetDateTime,
    ) -> bool {
        match self.mfa_totp_mut(organization, id) {
            Some(credential) if credential.confirmed_at.is_none() => {
                credential.confirmed_at = Some(now);
                credential.last_used_step = Some(step);
                true
            }
            _ => false,
        }
    }

    pub(crate) fn mfa_use_totp_step(&mut self, organization: OrganizationId, id: Uuid, step: i64) -> bool {
        match self.mfa_totp_mut(organization, id) {
            Some(credential)
                if credential.confirmed_at.is_some() && credential.last_used_step.is_none_or(|last| step > last) =>
            {
                credential.last_used_step = Some(step);
                true
            }
            _ => false,
        }
    }

    pub(crate) fn mfa_replace_recovery_codes(
        &mut self,
        organization: OrganizationId,
        user: UserId,
        digests: &[SecretDigest],
    ) -> Result<()> {
        self.require_user(organization, user)?;
        self.recovery_codes.insert((organization, user), digests.iter().map(|digest| (*digest, None)).collect());
        Ok(())
    }

    pub(crate) fn mfa_use_recovery_code(
        &mut self,
        organization: OrganizationId,
        user: UserId,
        digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> bool {
        let Some(codes) = self.recovery_codes.get_mut(&(organization, user)) else {
            return false;
        };
        match codes.iter_mut().find(|(stored, used)| stored == digest && used.is_none()) {
            Some((_, used)) => {
                *used = Some(now);
                true
            }
            None => false,
        }
    }

    pub(crate) fn mfa_count_recovery_codes(&self, organization: OrganizationId, user: UserId) -> u32 {
        let unused = self
            .recovery_codes
            .get(&(organization, user))
            .map_or(0, |codes| codes.iter().filter(|(_, used)| used.is_none()).count());
        u32::try_from(unused).unwrap_or(u32::MAX)
    }

    pub(crate) fn mfa_delete_for_user(&mut self, organization: OrganizationId, user: UserId) -> bool {
        let totp = self.totp_credentials.remove(&(organization, user)).is_some();
        let codes = self.recovery_codes.remove(&(organization, user)).is_some_and(|codes| !codes.is_empty());
        totp || codes
    }
}
