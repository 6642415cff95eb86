//! The background task `serve` runs for signing keys: every
//! [`CHECK_INTERVAL`] (and once at start-up) it runs
//! [`KeyRing::maintain`] for every organization — promoting due pending keys
//! and starting automatic rotations — and deletes retired keys whose tokens
//! have all expired. Each instance runs it; the steps are safe to repeat and
//! to race (see `zenoauth_domain::keys`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use zenoauth_domain::ids::{OrganizationId, SigningKeyId};
use zenoauth_domain::keys::KeyRing;
use zenoauth_domain::model::{SigningAlgorithm, SigningKey};
use zenoauth_domain::ports::{OrganizationRepository, PageRequest, SigningKeyRepository};
use zenoauth_domain::Result;

/// The signing-key store of the maintenance pass: reads go straight to the
/// database, writes through the cached store. A pass visits every
/// organization; reading through the cache would load every tenant's key
/// list into it (≈ 2 KiB each: ~20 MiB more idle RSS with 10,000
/// organizations, docs/benchmarks.md) and crowd out the entries requests
/// use. Writes still go through the cache, which evicts what they change
/// and announces it to the other instances.
pub struct SweepKeys {
    reads: Arc<dyn SigningKeyRepository>,
    writes: Arc<dyn SigningKeyRepository>,
}

impl std::fmt::Debug for SweepKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SweepKeys").finish_non_exhaustive()
    }
}

impl SweepKeys {
    /// `reads`: the uncached store; `writes`: the cached one over it.
    pub fn new(reads: Arc<dyn SigningKeyRepository>, writes: Arc<dyn SigningKeyRepository>) -> Self {
        Self { reads, writes }
    }
}

#[async_trait]
impl SigningKeyRepository for SweepKeys {
    async fn create(&self, key: &SigningKey) -> Result<()> {
        self.writes.create(key).await
    }

    async fn list(&self, organization: OrganizationId) -> Result<Vec<SigningKey>> {
        self.reads.list(organization).await
    }

    async fn find_active(
        &self,
        organization: OrganizationId,
        algorithm: SigningAlgorithm,
    ) -> Result<Option<SigningKey>> {
        self.reads.find_active(organization, algorithm).await
    }

    async fn activate(&self, organization: OrganizationId, id: SigningKeyId) -> Result<()> {
        self.writes.activate(organization, id).await
    }

    async fn retire(
        &self,
        organization: OrganizationId,
        id: SigningKeyId,
        retired_at: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        self.writes.retire(organization, id, retired_at, expires_at).await
    }

    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64> {
        self.writes.delete_expired(now).await
    }
}

/// How often the task runs. Rotation periods are days, so an hour of latency
/// only lengthens a pending key's pre-publication a little.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(3600);

/// What one pass did, summed over organizations.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassSummary {
    pub organizations: usize,
    pub rotated: usize,
    pub activated: usize,
    pub deleted: u64,
}

/// One pass over every organization. An organization whose maintenance fails
/// is logged and skipped; the others still get theirs.
pub async fn run_pass(key_ring: &KeyRing, organizations: &dyn OrganizationRepository) -> PassSummary {
    let mut summary = PassSummary::default();
    let mut after: Option<OrganizationId> = None;
    while let Ok(page) = PageRequest::new(after.map(|id| id.as_uuid()), PageRequest::MAX_LIMIT) {
        let batch = match organizations.list(&page).await {
            Ok(batch) => batch,
            Err(error) => {
                tracing::warn!(error = %error, "key maintenance: cannot list organizations");
                break;
            }
        };
        for organization in &batch {
            summary.organizations += 1;
            match key_ring.maintain(organization.id).await {
                Ok(done) => {
                    for rotation in &done.rotated {
                        tracing::info!(
                            organization = %organization.slug.as_str(),
                            algorithm = rotation.algorithm.as_str(),
                            kid = %rotation.key.id,
                            "signing key rotation started: the new key is published and signs from {}",
                            rotation.signs_from
                        );
                    }
                    for kid in &done.activated {
                        tracing::info!(organization = %organization.slug.as_str(), kid = %kid, "signing key activated");
                    }
                    summary.rotated += done.rotated.len();
                    summary.activated += done.activated.len();
                }
                Err(error) => {
                    tracing::warn!(organization = %organization.slug.as_str(), error = %error, "key maintenance failed");
                }
            }
        }
        match batch.last() {
            Some(last) if batch.len() == usize::try_from(PageRequest::MAX_LIMIT).unwrap_or(usize::MAX) => {
                after = Some(last.id);
            }
            _ => break,
        }
    }
    match key_ring.delete_expired().await {
        Ok(deleted) => summary.deleted = deleted,
        Err(error) => tracing::warn!(error = %error, "key maintenance: cannot delete expired keys"),
    }
    summary
}

/// Runs [`run_pass`] now and then every `interval`, forever (the caller
/// drops the task at shutdown).
pub async fn run_forever(
    key_ring: KeyRing,
    organizations: std::sync::Arc<dyn OrganizationRepository>,
    interval: Duration,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let summary = run_pass(&key_ring, organizations.as_ref()).await;
        tracing::debug!(?summary, "key maintenance pass done");
    }
}
