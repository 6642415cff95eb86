//! Use case: the signing keys of an organization and their rotation.
//!
//! Every organization signs with its own keys, one signing key per algorithm,
//! made on first need. A key lives through three states:
//!
//! - `Pending`: published in JWKS, not signing. A rotated-in key waits here
//!   for [`KeyPolicy::publish_before_signing`], so every JWKS document a
//!   verifier cached before the key appeared has expired before the first
//!   token signed with it is seen.
//! - `Active`: signs. The newest active key of an algorithm is the one used.
//! - `Retired`: verifies only; published until `expires_at` =
//!   retirement + [`KeyPolicy::retired_key_publish`] (at least the longest
//!   lifetime of a token it signed), then deleted by housekeeping.
//!
//! Promotion (`Pending` → `Active`, previous keys → `Retired`) happens lazily,
//! on the first [`KeyRing::signing_key`] (or JWKS, or maintenance) call after
//! the key is due; there is no timer to miss. Several instances may race
//! through any step: every step is safe to repeat, and when two keys are made
//! at once both are published and the newest signs.

use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use crate::error::{Error, Result};
use crate::ids::{IdGenerator, OrganizationId, SigningKeyId};
use crate::model::{KeyState, SigningAlgorithm, SigningKey};
use crate::ports::{Clock, RandomSource, SigningKeyRepository, TokenSigner};

/// Every algorithm ZenoAuth signs with, in the order they are advertised for
/// ID tokens (RS256 first: OpenID Connect requires it).
pub const ALGORITHMS: [SigningAlgorithm; 3] =
    [SigningAlgorithm::Rs256, SigningAlgorithm::EdDsa, SigningAlgorithm::Es256];

/// When keys are replaced and how long they stay published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPolicy {
    /// A rotated-in key is published at least this long before it signs.
    /// Must be at least the JWKS cache lifetime.
    pub publish_before_signing: Duration,
    /// A replaced key stays published this long after it stops signing. Must
    /// be at least the longest lifetime of the tokens it signs (access and ID
    /// tokens; refresh tokens are opaque and not signed).
    pub retired_key_publish: Duration,
    /// Automatic rotation: a key is replaced once it is this old. `None`: only
    /// on demand (`zenoauth keys rotate`).
    pub rotation_period: Option<Duration>,
}

impl Default for KeyPolicy {
    /// One hour of pre-publication, one day of post-publication, rotation every 90 days.
    fn default() -> Self {
        Self {
            publish_before_signing: Duration::hours(1),
            retired_key_publish: Duration::days(1),
            rotation_period: Some(Duration::days(90)),
        }
    }
}

/// How a rotation hands over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The new key is published now and signs after
    /// [`KeyPolicy::publish_before_signing`]: no verifier ever sees an unknown `kid`.
    Staged,
    /// The new key signs now and the previous ones retire now (e.g. a
    /// suspected key leak). Verifiers holding a cached JWKS see an unknown
    /// `kid` until they refetch.
    Immediate,
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq)]
pub struct RotationOutcome {
    pub algorithm: SigningAlgorithm,
    /// The new key (`Pending` for a staged rotation, else `Active`).
    pub key: SigningKey,
    /// When the new key starts signing.
    pub signs_from: OffsetDateTime,
    /// The keys it replaces: they sign until `signs_from`, then stay
    /// published for [`KeyPolicy::retired_key_publish`].
    pub replaces: Vec<SigningKeyId>,
}

/// What one maintenance pass did for an organization.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Maintenance {
    /// Automatic rotations started (new pending keys).
    pub rotated: Vec<RotationOutcome>,
    /// Pending keys that became the signing key.
    pub activated: Vec<SigningKeyId>,
}

/// Finds (or makes) the key to sign with, lists the keys to publish, and rotates them.
#[derive(Clone)]
pub struct KeyRing {
    keys: Arc<dyn SigningKeyRepository>,
    signer: Arc<dyn TokenSigner>,
    clock: Arc<dyn Clock>,
    ids: IdGenerator,
    policy: KeyPolicy,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing").field("policy", &self.policy).finish_non_exhaustive()
    }
}

impl KeyRing {
    /// A key ring with the default [`KeyPolicy`].
    pub fn new(
        keys: Arc<dyn SigningKeyRepository>,
        signer: Arc<dyn TokenSigner>,
        clock: Arc<dyn Clock>,
        random: Arc<dyn RandomSource>,
    ) -> Self {
        let ids = IdGenerator::new(clock.clone(), random);
        Self { keys, signer, clock, ids, policy: KeyPolicy::default() }
    }

    #[must_use]
    pub fn with_policy(mut self, policy: KeyPolicy) -> Self {
        self.policy = policy;
        self
    }

    pub fn policy(&self) -> &KeyPolicy {
        &self.policy
    }

    /// The organization's signing key for `algorithm`, made now if it has
    /// none. A pending key that is due is promoted first. Two instances racing
    /// here may both make one; the newest then signs and both are published,
    /// which verifiers handle by `kid`.
    pub async fn signing_key(&self, organization: OrganizationId, algorithm: SigningAlgorithm) -> Result<SigningKey> {
        let now = self.clock.now();
        let mut keys = self.keys.list(organization).await?;
        self.settle(organization, algorithm, &mut keys, now).await?;
        match newest(&keys, algorithm, KeyState::Active) {
            Some(key) => Ok(key.clone()),
            None => self.create(organization, algorithm, KeyState::Active, now).await,
        }
    }

    /// Every key verifiers should know: active, pending and
    /// retired-but-unexpired — active keys first, then pending, then retired,
    /// newest first within each (the JWKS document; verifiers pick by `kid`,
    /// careless ones take the first).
    pub async fn published_keys(&self, organization: OrganizationId) -> Result<Vec<SigningKey>> {
        let keys = self.keys.list(organization).await?;
        Ok(published(keys, self.clock.now()))
    }

    /// As [`KeyRing::published_keys`], after making sure each of
    /// `algorithms` has a signing key (and promoting due pending keys), so the
    /// published set covers every algorithm that may sign.
    pub async fn published_keys_for(
        &self,
        organization: OrganizationId,
        algorithms: &[SigningAlgorithm],
    ) -> Result<Vec<SigningKey>> {
        let now = self.clock.now();
        let mut keys = self.keys.list(organization).await?;
        for &algorithm in algorithms {
            self.settle(organization, algorithm, &mut keys, now).await?;
            if newest(&keys, algorithm, KeyState::Active).is_none() {
                let key = self.create(organization, algorithm, KeyState::Active, now).await?;
                keys.push(key);
            }
        }
        Ok(published(keys, now))
    }

    /// Replaces the signing key of `algorithm`. An organization without a key
    /// of that algorithm simply gets its first one, active at once.
    pub async fn rotate(
        &self,
        organization: OrganizationId,
        algorithm: SigningAlgorithm,
        rotation: Rotation,
    ) -> Result<RotationOutcome> {
        let now = self.clock.now();
        let mut keys = self.keys.list(organization).await?;
        self.settle(organization, algorithm, &mut keys, now).await?;
        let replaces: Vec<SigningKeyId> = keys
            .iter()
            .filter(|key| key.algorithm == algorithm && matches!(key.state, KeyState::Active | KeyState::Pending))
            .map(|key| key.id)
            .collect();
        let has_active = keys.iter().any(|key| key.algorithm == algorithm && key.state == KeyState::Active);
        if rotation == Rotation::Staged && has_active {
            let key = self.create(organization, algorithm, KeyState::Pending, now).await?;
            let signs_from = now + self.policy.publish_before_signing;
            return Ok(RotationOutcome { algorithm, key, signs_from, replaces });
        }
        let key = self.create(organization, algorithm, KeyState::Active, now).await?;
        for &id in &replaces {
            self.retire(organization, id, now).await?;
        }
        Ok(RotationOutcome { algorithm, key, signs_from: now, replaces })
    }

    /// One maintenance pass over an organization: promotes due pending keys
    /// and, when automatic rotation is on, starts a staged rotation for every
    /// algorithm whose newest key (active or pending) is older than the
    /// period. Algorithms the organization never used are left alone.
    /// Repeating a pass, or running it on several instances, rotates at most
    /// once per period (a race may make two pending keys; the newest wins).
    pub async fn maintain(&self, organization: OrganizationId) -> Result<Maintenance> {
        let now = self.clock.now();
        let mut keys = self.keys.list(organization).await?;
        let mut maintenance = Maintenance::default();
        for algorithm in ALGORITHMS {
            maintenance.activated.extend(self.settle(organization, algorithm, &mut keys, now).await?);
            let Some(period) = self.policy.rotation_period else { continue };
            let newest_created = keys
                .iter()
                .filter(|key| key.algorithm == algorithm && matches!(key.state, KeyState::Active | KeyState::Pending))
                .map(|key| key.created_at)
                .max();
            if newest_created.is_some_and(|created_at| created_at + period <= now) {
                maintenance.rotated.push(self.rotate(organization, algorithm, Rotation::Staged).await?);
            }
        }
        Ok(maintenance)
    }

    /// Housekeeping across organizations: deletes retired keys whose tokens have all expired.
    pub async fn delete_expired(&self) -> Result<u64> {
        self.keys.delete_expired(self.clock.now()).await
    }

    /// Promotes the newest due pending key of `algorithm` (if any) and
    /// retires the keys it replaces: every other active key and the older
    /// pending ones. Without a promotion, tidies up after races: active keys
    /// other than the newest, and pending keys made before it (superseded by
    /// an immediate rotation), are retired. Updates `keys` in place; returns
    /// the id of the promoted key. Writes nothing when there is nothing to
    /// do, which is the common case.
    async fn settle(
        &self,
        organization: OrganizationId,
        algorithm: SigningAlgorithm,
        keys: &mut [SigningKey],
        now: OffsetDateTime,
    ) -> Result<Option<SigningKeyId>> {
        let order = |key: &SigningKey| (key.created_at, key.id);
        let signing = newest(keys, algorithm, KeyState::Active).map(order);
        let due = keys
            .iter()
            .filter(|key| key.algorithm == algorithm && key.state == KeyState::Pending)
            .filter(|key| key.created_at + self.policy.publish_before_signing <= now)
            // A pending key made before the signing key was superseded (an immediate rotation won).
            .filter(|key| signing.is_none_or(|(signing_created_at, _)| key.created_at >= signing_created_at))
            .max_by_key(|key| order(key))
            .map(order);
        if let Some((_, promoted)) = due {
            match self.keys.activate(organization, promoted).await {
                // Another instance promoted a newer key and retired this one meanwhile.
                Ok(()) | Err(Error::NotFound(_)) => {}
                Err(error) => return Err(error),
            }
        }
        let Some(keeper) = due.or(signing) else { return Ok(None) };
        for key in keys.iter_mut().filter(|key| key.algorithm == algorithm) {
            let replaced = match key.state {
                _ if order(key) == keeper => {
                    key.state = KeyState::Active;
                    false
                }
                KeyState::Active => true,
                KeyState::Pending if due.is_some() => order(key) < keeper,
                KeyState::Pending => key.created_at < keeper.0,
                KeyState::Retired => false,
            };
            if replaced {
                self.retire(organization, key.id, now).await?;
                key.state = KeyState::Retired;
                key.retired_at = Some(now);
                key.expires_at = Some(now + self.policy.retired_key_publish);
            }
        }
        Ok(due.map(|(_, id)| id))
    }

    /// Retires a key, tolerating one that another instance already removed.
    async fn retire(&self, organization: OrganizationId, id: SigningKeyId, now: OffsetDateTime) -> Result<()> {
        match self.keys.retire(organization, id, now, now + self.policy.retired_key_publish).await {
            Ok(()) | Err(Error::NotFound(_)) => Ok(()),
            Err(error) => Err(error),
        }
    }

    async fn create(
        &self,
        organization: OrganizationId,
        algorithm: SigningAlgorithm,
        state: KeyState,
        now: OffsetDateTime,
    ) -> Result<SigningKey> {
        let mut key = self.signer.generate(self.ids.next(), organization, algorithm, now)?;
        key.state = state;
        self.keys.create(&key).await?;
        Ok(key)
    }
}

/// The newest key of `algorithm` in `state`.
fn newest(keys: &[SigningKey], algorithm: SigningAlgorithm, state: KeyState) -> Option<&SigningKey> {
    keys.iter()
        .filter(|key| key.algorithm == algorithm && key.state == state)
        .max_by_key(|key| (key.created_at, key.id))
}

/// The unexpired keys, active first, then pending, then retired; newest first within each.
fn published(mut keys: Vec<SigningKey>, now: OffsetDateTime) -> Vec<SigningKey> {
    keys.retain(|key| key.expires_at.is_none_or(|expires_at| expires_at > now));
    let rank = |state: KeyState| match state {
        KeyState::Active => 0,
        KeyState::Pending => 1,
        KeyState::Retired => 2,
    };
    keys.sort_by(|a, b| {
        rank(a.state).cmp(&rank(b.state)).then_with(|| (b.created_at, b.id).cmp(&(a.created_at, a.id)))
    });
    keys
}
