//! The mail outbox and account links (the
//! [`MailOutbox`](zenoauth_domain::ports::MailOutbox) and
//! [`AccountTokenStore`](zenoauth_domain::ports::AccountTokenStore) semantics).

use time::OffsetDateTime;
use uuid::Uuid;
use zenoauth_domain::email::{AccountToken, AccountTokenPurpose, OutboxMessage, OutboxState};
use zenoauth_domain::ids::OrganizationId;
use zenoauth_domain::values::SecretDigest;
use zenoauth_domain::{Error, Result};

use super::{count, State};

impl State {
    pub(crate) fn outbox_enqueue(&mut self, message: &OutboxMessage) -> Result<()> {
        self.require_organization(message.organization_id)?;
        if self.outbox.contains_key(&message.id) {
            return Err(Error::Conflict("outbox_message_id"));
        }
        self.outbox.insert(message.id, (message.clone(), None));
        Ok(())
    }

    pub(crate) fn outbox_find(&self, id: Uuid) -> Option<OutboxMessage> {
        self.outbox.get(&id).map(|(message, _)| message.clone())
    }

    pub(crate) fn outbox_claim_due(
        &mut self,
        now: OffsetDateTime,
        claim: Uuid,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Vec<OutboxMessage> {
        let mut due: Vec<(OffsetDateTime, Uuid)> = self
            .outbox
            .values()
            .filter(|(message, lease)| {
                message.state == OutboxState::Pending
                    && message.next_attempt_at <= now
                    && lease.is_none_or(|(_, until)| until <= now)
            })
            .map(|(message, _)| (message.next_attempt_at, message.id))
            .collect();
        due.sort();
        due.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let mut claimed = Vec::with_capacity(due.len());
        for (_, id) in due {
            if let Some((message, lease)) = self.outbox.get_mut(&id) {
                *lease = Some((claim, lease_until));
                claimed.push(message.clone());
            }
        }
        claimed
    }

    fn holds_lease(&self, id: Uuid, claim: Uuid) -> bool {
        self.outbox.get(&id).is_some_and(|(_, lease)| lease.is_some_and(|(holder, _)| holder == claim))
    }

    pub(crate) fn outbox_complete(&mut self, id: Uuid, claim: Uuid) -> bool {
        self.holds_lease(id, claim) && self.outbox.remove(&id).is_some()
    }

    pub(crate) fn outbox_fail(
        &mut self,
        id: Uuid,
        claim: Uuid,
        error: &str,
        next_attempt_at: Option<OffsetDateTime>,
    ) -> bool {
        if !self.holds_lease(id, claim) {
            return false;
        }
        let Some((message, lease)) = self.outbox.get_mut(&id) else { return false };
        *lease = None;
        message.attempts = message.attempts.saturating_add(1);
        message.last_error = Some(error.to_owned());
        match next_attempt_at {
            Some(at) => message.next_attempt_at = at,
            None => message.state = OutboxState::Failed,
        }
        true
    }

    pub(crate) fn account_token_create(&mut self, token: &AccountToken) -> Result<()> {
        self.require_user(token.organization_id, token.user_id)?;
        if self.account_tokens.contains_key(&token.token_digest) {
            return Err(Error::Conflict("account_token"));
        }
        self.account_tokens.insert(token.token_digest, token.clone());
        Ok(())
    }

    pub(crate) fn account_token_find(
        &self,
        organization: OrganizationId,
        digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Option<AccountToken> {
        self.account_tokens
            .get(digest)
            .filter(|token| token.organization_id == organization && token.expires_at > now)
            .cloned()
    }

    pub(crate) fn account_token_consume(
        &mut self,
        organization: OrganizationId,
        digest: &SecretDigest,
        purpose: AccountTokenPurpose,
        now: OffsetDateTime,
    ) -> Option<AccountToken> {
        self.account_token_find(organization, digest, now).filter(|token| token.purpose == purpose)?;
        self.account_tokens.remove(digest)
    }

    pub(crate) fn account_token_delete_expired(&mut self, now: OffsetDateTime) -> u64 {
        let before = self.account_tokens.len();
        self.account_tokens.retain(|_, token| token.expires_at > now);
        count(before - self.account_tokens.len())
    }
}
