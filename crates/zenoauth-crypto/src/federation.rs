//! Upstream client secrets sealed at rest under the [`KeyEncryptionKey`]
//! (AES-256-GCM, bound to the organization and provider). Implements the
//! domain's `FederationCrypto` port.

use std::fmt;
use std::sync::Arc;

use uuid::Uuid;
use zenoauth_domain::ids::OrganizationId;
use zenoauth_domain::ports::{FederationCrypto, RandomSource};
use zenoauth_domain::{Error, Result};

use crate::kek::KeyEncryptionKey;

/// Domain separation for sealed upstream client secrets, versioned.
const AAD_LABEL: &[u8] = b"zenoauth/federation-client-secret/v1";

/// [`FederationCrypto`] over the key-encryption key.
#[derive(Clone)]
pub struct CryptoFederation {
    kek: KeyEncryptionKey,
    random: Arc<dyn RandomSource>,
}

impl CryptoFederation {
    pub fn new(kek: KeyEncryptionKey, random: Arc<dyn RandomSource>) -> Self {
        Self { kek, random }
    }
}

impl fmt::Debug for CryptoFederation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CryptoFederation").field("kek", &self.kek).finish_non_exhaustive()
    }
}

/// `label ‖ organization uuid ‖ provider uuid`.
fn associated_data(organization: OrganizationId, provider: Uuid) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_LABEL.len() + 32);
    aad.extend_from_slice(AAD_LABEL);
    aad.extend_from_slice(organization.as_uuid().as_bytes());
    aad.extend_from_slice(provider.as_bytes());
    aad
}

impl FederationCrypto for CryptoFederation {
    fn seal_client_secret(&self, organization: OrganizationId, provider: Uuid, secret: &str) -> Result<Vec<u8>> {
        self.kek
            .seal(self.random.as_ref(), &associated_data(organization, provider), secret.as_bytes())
            .map_err(Error::unavailable)
    }

    fn open_client_secret(&self, organization: OrganizationId, provider: Uuid, sealed: &[u8]) -> Result<String> {
        let opened = self.kek.open(&associated_data(organization, provider), sealed).map_err(Error::unavailable)?;
        String::from_utf8(opened.to_vec()).map_err(Error::unavailable)
    }
}

#[cfg(test)]
mod tests {
    use zenoauth_domain::testing::SeededRandom;

    use super::*;

    #[test]
    fn sealed_secrets_open_only_for_their_provider() {
        let random: Arc<dyn RandomSource> = Arc::new(SeededRandom::new(4));
        let crypto = CryptoFederation::new(KeyEncryptionKey::generate(random.as_ref()), random);
        let organization = OrganizationId::from_uuid(Uuid::from_u128(1));
        let provider = Uuid::from_u128(2);
        let sealed = crypto.seal_client_secret(organization, provider, "s3cret-upstream").unwrap();
        assert!(!sealed.windows(6).any(|window| window == b"s3cret"));
        assert_eq!(crypto.open_client_secret(organization, provider, &sealed).unwrap(), "s3cret-upstream");
        assert!(crypto.open_client_secret(organization, Uuid::from_u128(3), &sealed).is_err());
        let other = OrganizationId::from_uuid(Uuid::from_u128(9));
        assert!(crypto.open_client_secret(other, provider, &sealed).is_err());
    }
}
