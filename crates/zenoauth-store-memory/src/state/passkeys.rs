//! Passkeys and ceremonies in flight (the [`PasskeyStore`](zenoauth_domain::ports::PasskeyStore) semantics).

use serde_json::Value as Json;
use time::OffsetDateTime;
use uuid::Uuid;
use zenoauth_domain::ids::{OrganizationId, UserId};
use zenoauth_domain::mfa::passkeys::{PasskeyCeremony, PasskeyCredential, PasskeyName};
use zenoauth_domain::values::SecretDigest;
use zenoauth_domain::{Error, Result};

use super::{count, State};

impl State {
    pub(crate) fn passkey_create(&mut self, credential: &PasskeyCredential) -> Result<()> {
        self.require_user(credential.organization_id, credential.user_id)?;
        if self.passkeys.values().any(|existing| {
            existing.organization_id == credential.organization_id && existing.credential_id == credential.credential_id
        }) || self.passkeys.contains_key(&credential.id)
        {
            return Err(Error::Conflict("passkey_credential"));
        }
        self.passkeys.insert(credential.id, credential.clone());
        Ok(())
    }

    pub(crate) fn passkey_list(&self, organization: OrganizationId, user: UserId) -> Vec<PasskeyCredential> {
        let mut found: Vec<PasskeyCredential> = self
            .passkeys
            .values()
            .filter(|passkey| passkey.organization_id == organization && passkey.user_id == user)
            .cloned()
            .collect();
        found.sort_by_key(|passkey| (passkey.created_at, passkey.id));
        found
    }

    pub(crate) fn passkey_find(&self, organization: OrganizationId, credential_id: &[u8]) -> Option<PasskeyCredential> {
        self.passkeys
            .values()
            .find(|passkey| passkey.organization_id == organization && passkey.credential_id == credential_id)
            .cloned()
    }

    pub(crate) fn passkey_record_use(
        &mut self,
        organization: OrganizationId,
        id: Uuid,
        record: &Json,
        sign_count: u32,
        backup_state: bool,
        now: OffsetDateTime,
    ) -> bool {
        match self.passkeys.get_mut(&id) {
            Some(passkey)
                if passkey.organization_id == organization && (passkey.sign_count < sign_count || sign_count == 0) =>
            {
                passkey.passkey = record.clone();
                passkey.sign_count = sign_count;
                passkey.backup_state = backup_state;
                passkey.last_used_at = Some(now);
                true
            }
            _ => false,
        }
    }

    pub(crate) fn passkey_rename(
        &mut self,
        organization: OrganizationId,
        user: UserId,
        id: Uuid,
        name: &PasskeyName,
    ) -> bool {
        match self.passkeys.get_mut(&id) {
            Some(passkey) if passkey.organization_id == organization && passkey.user_id == user => {
                passkey.name = name.clone();
                true
            }
            _ => false,
        }
    }

    pub(crate) fn passkey_delete(&mut self, organization: OrganizationId, user: UserId, id: Uuid) -> bool {
        match self.passkeys.get(&id) {
            Some(passkey) if passkey.organization_id == organization && passkey.user_id == user => {
                self.passkeys.remove(&id);
                true
            }
            _ => false,
        }
    }

    pub(crate) fn passkey_put_ceremony(&mut self, ceremony: &PasskeyCeremony) -> Result<()> {
        self.require_organization(ceremony.organization_id)?;
        if let Some(user) = ceremony.user_id {
            self.require_user(ceremony.organization_id, user)?;
        }
        if self.passkey_ceremonies.contains_key(&ceremony.handle_digest) {
            return Err(Error::Conflict("passkey_ceremony"));
        }
        self.passkey_ceremonies.insert(ceremony.handle_digest, ceremony.clone());
        Ok(())
    }

    pub(crate) fn passkey_take_ceremony(
        &mut self,
        organization: OrganizationId,
        digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Option<PasskeyCeremony> {
        match self.passkey_ceremonies.get(digest) {
            Some(ceremony) if ceremony.organization_id == organization => {
                let ceremony = self.passkey_ceremonies.remove(digest)?;
                (ceremony.expires_at > now).then_some(ceremony)
            }
            _ => None,
        }
    }

    pub(crate) fn passkey_delete_expired_ceremonies(&mut self, now: OffsetDateTime) -> u64 {
        let before = self.passkey_ceremonies.len();
        self.passkey_ceremonies.retain(|_, ceremony| ceremony.expires_at > now);
        count(before - self.passkey_ceremonies.len())
    }
}
