//! The key-encryption key: seals private signing keys at rest with
//! AES-256-GCM.

use std::fmt;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use zenoauth_domain::ids::{OrganizationId, SigningKeyId};
use zenoauth_domain::ports::RandomSource;
use zeroize::Zeroizing;

/// Length of a key-encryption key: 256 bits.
const KEK_BYTES: usize = 32;
/// AES-GCM tag length.
const TAG_BYTES: usize = 16;
/// Domain separation for the associated data, versioned with the format.
const AAD_LABEL: &[u8] = b"zenoauth/signing-key/v1";

/// What went wrong with a key-encryption key or a sealed key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the key-encryption key is not valid base64 (standard or URL-safe alphabet)")]
    InvalidBase64,
    #[error("the key-encryption key must decode to 32 bytes, got {actual}")]
    WrongLength { actual: usize },
    /// The ciphertext was not made by this KEK for this (organization, key id),
    /// or was altered.
    #[error(
        "a private key could not be decrypted: wrong key-encryption key, altered ciphertext, or a ciphertext of another key"
    )]
    Decrypt,
    /// A private key failed to generate, encode or parse.
    #[error("key material error: {0}")]
    Material(&'static str),
}

/// The 256-bit key that encrypts private signing keys at rest (from
/// configuration). `Debug` never shows it; it is wiped from memory on drop.
#[derive(Clone)]
pub struct KeyEncryptionKey {
    bytes: Zeroizing<[u8; KEK_BYTES]>,
}

impl KeyEncryptionKey {
    /// Reads a KEK written in base64, standard or URL-safe alphabet, padded or
    /// not; surrounding whitespace is ignored.
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let decoded = Zeroizing::new(
            [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
                .into_iter()
                .find_map(|engine| engine.decode(text).ok())
                .ok_or(KeyError::InvalidBase64)?,
        );
        let mut bytes = Zeroizing::new([0u8; KEK_BYTES]);
        if decoded.len() != KEK_BYTES {
            return Err(KeyError::WrongLength { actual: decoded.len() });
        }
        bytes.copy_from_slice(&decoded);
        Ok(Self { bytes })
    }

    /// A fresh random KEK (e.g. for `zenoauth bootstrap` to print once).
    pub fn generate(random: &dyn RandomSource) -> Self {
        let mut bytes = Zeroizing::new([0u8; KEK_BYTES]);
        random.fill(bytes.as_mut());
        Self { bytes }
    }

    /// The key in standard base64 with padding, for writing into configuration.
    pub fn expose_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.bytes.as_ref()))
    }

    /// Encrypts a private key: `nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)`,
    /// with a random nonce and the (organization, key id) pair as associated
    /// data, so the result decrypts only for that key row.
    pub fn encrypt_private_key(
        &self,
        random: &dyn RandomSource,
        organization: OrganizationId,
        key_id: SigningKeyId,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        random.fill(&mut nonce);
        let mut sealed = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_BYTES);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(plaintext);
        let mut in_out = sealed.split_off(NONCE_LEN);
        self.aead_key()?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(associated_data(organization, key_id)),
                &mut in_out,
            )
            .map_err(|_| KeyError::Material("AES-GCM encryption failed"))?;
        sealed.extend_from_slice(&in_out);
        Ok(sealed)
    }

    /// Decrypts what [`Self::encrypt_private_key`] made for the same
    /// (organization, key id). Any mismatch is [`KeyError::Decrypt`].
    pub fn decrypt_private_key(
        &self,
        organization: OrganizationId,
        key_id: SigningKeyId,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        if sealed.len() < NONCE_LEN + TAG_BYTES {
            return Err(KeyError::Decrypt);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| KeyError::Decrypt)?;
        let mut in_out = Zeroizing::new(ciphertext.to_vec());
        let plaintext_len = self
            .aead_key()?
            .open_in_place(nonce, Aad::from(associated_data(organization, key_id)), in_out.as_mut_slice())
            .map_err(|_| KeyError::Decrypt)?
            .len();
        in_out.truncate(plaintext_len);
        Ok(in_out)
    }

    /// AES-256-GCM with a random nonce and caller-chosen associated data
    /// (which must start with a versioned label of its own, for domain
    /// separation): `nonce ‖ ciphertext ‖ tag`. For other secrets at rest
    /// than signing keys, e.g. TOTP secrets.
    pub(crate) fn seal(&self, random: &dyn RandomSource, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        random.fill(&mut nonce);
        let mut in_out = plaintext.to_vec();
        self.aead_key()?
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut in_out)
            .map_err(|_| KeyError::Material("AES-GCM encryption failed"))?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + in_out.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&in_out);
        Ok(sealed)
    }

    /// Opens what [`Self::seal`] made with the same associated data.
    pub(crate) fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        if sealed.len() < NONCE_LEN + TAG_BYTES {
            return Err(KeyError::Decrypt);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| KeyError::Decrypt)?;
        let mut in_out = Zeroizing::new(ciphertext.to_vec());
        let plaintext_len = self
            .aead_key()?
            .open_in_place(nonce, Aad::from(aad), in_out.as_mut_slice())
            .map_err(|_| KeyError::Decrypt)?
            .len();
        in_out.truncate(plaintext_len);
        Ok(in_out)
    }

    fn aead_key(&self) -> Result<LessSafeKey, KeyError> {
        UnboundKey::new(&AES_256_GCM, self.bytes.as_ref())
            .map(LessSafeKey::new)
            .map_err(|_| KeyError::Material("AES-256-GCM key setup failed"))
    }
}

impl fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyEncryptionKey(<redacted>)")
    }
}

/// `label ‖ organization uuid ‖ key uuid`: fixed-length fields, so the
/// encoding is unambiguous.
fn associated_data(organization: OrganizationId, key_id: SigningKeyId) -> [u8; AAD_LABEL.len() + 32] {
    let mut aad = [0u8; AAD_LABEL.len() + 32];
    aad[..AAD_LABEL.len()].copy_from_slice(AAD_LABEL);
    aad[AAD_LABEL.len()..AAD_LABEL.len() + 16].copy_from_slice(organization.as_uuid().as_bytes());
    aad[AAD_LABEL.len() + 16..].copy_from_slice(key_id.as_uuid().as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;
    use zenoauth_domain::testing::SeededRandom;

    fn ids(n: u128) -> (OrganizationId, SigningKeyId) {
        (OrganizationId::from_uuid(uuid_of(n)), SigningKeyId::from_uuid(uuid_of(n + 1000)))
    }

    fn uuid_of(n: u128) -> uuid::Uuid {
        uuid::Uuid::from_u128(n)
    }

    #[test]
    fn accepts_standard_and_url_safe_base64_with_or_without_padding() {
        let bytes: Vec<u8> = (0..32u8).map(|b| b.wrapping_mul(37).wrapping_add(250)).collect();
        let reference = KeyEncryptionKey::from_base64(&STANDARD.encode(&bytes)).unwrap();
        for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
            let text = format!("  {}\n", engine.encode(&bytes));
            let kek = KeyEncryptionKey::from_base64(&text).unwrap();
            assert_eq!(kek.bytes.as_ref(), reference.bytes.as_ref(), "{text}");
        }
        assert_eq!(reference.expose_base64().as_str(), STANDARD.encode(&bytes));
    }

    #[test]
    fn wrong_length_and_bad_base64_are_clear_errors() {
        let short = KeyEncryptionKey::from_base64(&STANDARD.encode([7u8; 16])).unwrap_err();
        assert!(matches!(short, KeyError::WrongLength { actual: 16 }));
        assert!(short.to_string().contains("32 bytes, got 16"), "{short}");
        let long = KeyEncryptionKey::from_base64(&STANDARD.encode([7u8; 33])).unwrap_err();
        assert!(matches!(long, KeyError::WrongLength { actual: 33 }));
        assert!(matches!(KeyEncryptionKey::from_base64("not base64!").unwrap_err(), KeyError::InvalidBase64));
        assert!(matches!(KeyEncryptionKey::from_base64("").unwrap_err(), KeyError::WrongLength { actual: 0 }));
    }

    #[test]
    fn debug_is_redacted() {
        let kek = KeyEncryptionKey::generate(&SeededRandom::new(1));
        let debug = format!("{kek:?}");
        assert_eq!(debug, "KeyEncryptionKey(<redacted>)");
        assert!(!debug.contains(kek.expose_base64().as_str()));
    }

    #[test]
    fn round_trips_and_layout_is_nonce_ciphertext_tag() {
        let random = SeededRandom::new(2);
        let kek = KeyEncryptionKey::generate(&random);
        let (org, key) = ids(1);
        let sealed = kek.encrypt_private_key(&random, org, key, b"private key bytes").unwrap();
        assert_eq!(sealed.len(), NONCE_LEN + 17 + TAG_BYTES);
        assert!(!sealed.windows(7).any(|w| w == b"private"));
        assert_eq!(kek.decrypt_private_key(org, key, &sealed).unwrap().as_slice(), b"private key bytes");
        let again = kek.encrypt_private_key(&random, org, key, b"private key bytes").unwrap();
        assert_ne!(sealed[..NONCE_LEN], again[..NONCE_LEN], "fresh nonce per encryption");
    }

    #[test]
    fn ciphertext_is_bound_to_kek_organization_and_key_id() {
        let random = SeededRandom::new(3);
        let kek = KeyEncryptionKey::generate(&random);
        let other_kek = KeyEncryptionKey::generate(&random);
        let (org, key) = ids(1);
        let (other_org, other_key) = ids(2);
        let sealed = kek.encrypt_private_key(&random, org, key, b"secret").unwrap();
        assert!(matches!(other_kek.decrypt_private_key(org, key, &sealed), Err(KeyError::Decrypt)));
        assert!(matches!(kek.decrypt_private_key(other_org, key, &sealed), Err(KeyError::Decrypt)));
        assert!(matches!(kek.decrypt_private_key(org, other_key, &sealed), Err(KeyError::Decrypt)));
        for index in [0, NONCE_LEN, sealed.len() - 1] {
            let mut tampered = sealed.clone();
            tampered[index] ^= 1;
            assert!(matches!(kek.decrypt_private_key(org, key, &tampered), Err(KeyError::Decrypt)), "{index}");
        }
        assert!(matches!(
            kek.decrypt_private_key(org, key, &sealed[..NONCE_LEN + TAG_BYTES - 1]),
            Err(KeyError::Decrypt)
        ));
        assert!(matches!(kek.decrypt_private_key(org, key, &[]), Err(KeyError::Decrypt)));
    }
}
