//! The key material of second factors: RFC 6238 TOTP codes (totp-rs,
//! HMAC-SHA1, 6 digits, 30-second steps — what every authenticator app
//! speaks), TOTP secrets sealed at rest under the [`KeyEncryptionKey`], and
//! recovery codes. Implements the domain's `MfaCrypto` port.

use std::fmt;
use std::sync::Arc;

use totp_rs::{Algorithm, Secret, TOTP};
use uuid::Uuid;
use zenoauth_domain::ids::OrganizationId;
use zenoauth_domain::ports::{MfaCrypto, RandomSource};
use zenoauth_domain::{Error, Result};

use crate::kek::KeyEncryptionKey;
use crate::secrets::constant_time_eq;

/// TOTP secret length: 160 bits (RFC 4226 §4).
const SECRET_BYTES: usize = 20;
/// Recovery code entropy: 80 bits, 16 base32 characters.
const RECOVERY_BYTES: usize = 10;
const STEP_SECONDS: u64 = 30;
const DIGITS: usize = 6;
/// Domain separation for sealed TOTP secrets, versioned with the format.
const AAD_LABEL: &[u8] = b"zenoauth/mfa-totp-secret/v1";

/// [`MfaCrypto`] over totp-rs and the key-encryption key.
#[derive(Clone)]
pub struct CryptoMfa {
    kek: KeyEncryptionKey,
    random: Arc<dyn RandomSource>,
}

impl CryptoMfa {
    pub fn new(kek: KeyEncryptionKey, random: Arc<dyn RandomSource>) -> Self {
        Self { kek, random }
    }

    fn totp(secret: &[u8], issuer: Option<String>, account: String) -> TOTP {
        // `new_unchecked`: the secret is ours (160 bits); the checked
        // constructor also refuses `:` in the issuer, which we replace.
        TOTP::new_unchecked(Algorithm::SHA1, DIGITS, 0, STEP_SECONDS, secret.to_vec(), issuer, account)
    }
}

impl fmt::Debug for CryptoMfa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CryptoMfa").field("kek", &self.kek).finish_non_exhaustive()
    }
}

/// `label ‖ organization uuid ‖ credential uuid`.
fn associated_data(organization: OrganizationId, credential: Uuid) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_LABEL.len() + 32);
    aad.extend_from_slice(AAD_LABEL);
    aad.extend_from_slice(organization.as_uuid().as_bytes());
    aad.extend_from_slice(credential.as_bytes());
    aad
}

impl MfaCrypto for CryptoMfa {
    fn new_totp_secret(&self) -> Vec<u8> {
        let mut secret = vec![0u8; SECRET_BYTES];
        self.random.fill(&mut secret);
        secret
    }

    fn totp_matches(&self, secret: &[u8], step: i64, code: &str) -> bool {
        let Some(time) = u64::try_from(step).ok().and_then(|step| step.checked_mul(STEP_SECONDS)) else {
            return false;
        };
        let expected = Self::totp(secret, None, String::new()).generate(time);
        constant_time_eq(expected.as_bytes(), code.as_bytes())
    }

    fn base32(&self, secret: &[u8]) -> String {
        match Secret::Raw(secret.to_vec()).to_encoded() {
            Secret::Encoded(text) => text,
            // `to_encoded` of a raw secret is always `Encoded`.
            Secret::Raw(_) => String::new(),
        }
    }

    fn provisioning_uri(&self, secret: &[u8], issuer: &str, account: &str) -> String {
        let issuer = issuer.replace(':', " ");
        let account = account.replace(':', " ");
        Self::totp(secret, Some(issuer), account).get_url()
    }

    fn seal_totp_secret(&self, organization: OrganizationId, credential: Uuid, secret: &[u8]) -> Result<Vec<u8>> {
        self.kek
            .seal(self.random.as_ref(), &associated_data(organization, credential), secret)
            .map_err(Error::unavailable)
    }

    fn open_totp_secret(&self, organization: OrganizationId, credential: Uuid, sealed: &[u8]) -> Result<Vec<u8>> {
        let opened = self.kek.open(&associated_data(organization, credential), sealed).map_err(Error::unavailable)?;
        Ok(opened.to_vec())
    }

    fn new_recovery_code(&self) -> String {
        let mut bytes = [0u8; RECOVERY_BYTES];
        self.random.fill(&mut bytes);
        let encoded = self.base32(&bytes);
        let groups: Vec<&str> = (0..encoded.len())
            .step_by(4)
            .filter_map(|start| encoded.get(start..(start + 4).min(encoded.len())))
            .collect();
        groups.join("-")
    }
}

#[cfg(test)]
mod tests {
    use zenoauth_domain::testing::SeededRandom;

    use super::*;

    fn crypto() -> CryptoMfa {
        let random: Arc<dyn RandomSource> = Arc::new(SeededRandom::new(9));
        CryptoMfa::new(KeyEncryptionKey::generate(random.as_ref()), random)
    }

    #[test]
    fn rfc_6238_test_vector_sha1() {
        // RFC 6238 Appendix B: secret "12345678901234567890", T = 59 s → 94287082 (8 digits);
        // the 6-digit code is its last six digits.
        let secret = b"12345678901234567890";
        assert!(crypto().totp_matches(secret, 1, "287082"));
        assert!(!crypto().totp_matches(secret, 2, "287082"));
        // T = 1111111109 → 07081804.
        assert!(crypto().totp_matches(secret, 1_111_111_109 / 30, "081804"));
    }

    #[test]
    fn sealed_secrets_open_only_for_their_credential() {
        let crypto = crypto();
        let organization = OrganizationId::from_uuid(Uuid::from_u128(1));
        let credential = Uuid::from_u128(2);
        let sealed = crypto.seal_totp_secret(organization, credential, b"0123456789abcdefghij").unwrap();
        assert!(!sealed.windows(10).any(|window| window == b"0123456789"));
        assert_eq!(crypto.open_totp_secret(organization, credential, &sealed).unwrap(), b"0123456789abcdefghij");
        assert!(crypto.open_totp_secret(organization, Uuid::from_u128(3), &sealed).is_err());
    }

    #[test]
    fn uri_and_recovery_code_shapes() {
        let crypto = crypto();
        let uri = crypto.provisioning_uri(b"12345678901234567890", "Acme: Inc", "ada@example.com");
        assert!(
            uri.starts_with("otpauth://totp/Acme%20%20Inc:ada%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
            "{uri}"
        );
        let code = crypto.new_recovery_code();
        assert_eq!(code.len(), 19, "{code}");
        assert_eq!(code.matches('-').count(), 3);
        assert_ne!(code, crypto.new_recovery_code());
    }
}
