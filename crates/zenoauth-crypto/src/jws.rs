//! JWS signing keys: generation, encryption at rest, compact JWS signing and
//! verification for EdDSA (Ed25519), ES256 (P-256) and RS256 (RSA-2048).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair as _, ParsedPublicKey, RsaKeyPair, RsaPublicKeyComponents, ECDSA_P256_SHA256_FIXED,
    ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use ed25519_dalek::Signer as _;
use serde::Deserialize;
use serde_json::{json, Value as Json};
use time::OffsetDateTime;
use zenoauth_domain::ids::{OrganizationId, SigningKeyId};
use zenoauth_domain::model::{KeyState, SigningAlgorithm, SigningKey};
use zenoauth_domain::ports::{RandomSource, TokenSigner, TokenVerifier};
use zenoauth_domain::{Error, Result};
use zeroize::Zeroizing;

use crate::kek::{KeyEncryptionKey, KeyError};

/// Tokens longer than this are refused before any parsing (16 KiB).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Signs and verifies compact JWS; implements [`TokenSigner`] and
/// [`TokenVerifier`].
///
/// Private keys are stored as PKCS#8 DER sealed with the [`KeyEncryptionKey`]
/// (AES-256-GCM, bound to the key's organization and id). Each private key is
/// decrypted once and the parsed key cached by id, so signing does not
/// decrypt per call; parsed public keys are cached the same way (and re-parsed
/// if the JWK presented for an id ever differs).
///
/// Verification never trusts the token to choose the algorithm: the key is
/// found by `kid`, and the header's `alg` must equal that key's algorithm.
pub struct JwsSigner {
    kek: KeyEncryptionKey,
    random: Arc<dyn RandomSource>,
    signing_keys: RwLock<HashMap<SigningKeyId, Arc<CachedSigningKey>>>,
    verifying_keys: RwLock<HashMap<SigningKeyId, Arc<CachedVerifyingKey>>>,
}

impl JwsSigner {
    pub fn new(kek: KeyEncryptionKey, random: Arc<dyn RandomSource>) -> Self {
        Self { kek, random, signing_keys: RwLock::default(), verifying_keys: RwLock::default() }
    }

    /// Drops the cached private and public key of `id` (e.g. after the key
    /// was deleted). Purely a memory matter: a stale entry is never used for
    /// another key, as ids are unique.
    pub fn forget(&self, id: SigningKeyId) {
        self.signing_keys.write().unwrap_or_else(PoisonError::into_inner).remove(&id);
        self.verifying_keys.write().unwrap_or_else(PoisonError::into_inner).remove(&id);
    }

    fn signing_key(&self, key: &SigningKey) -> Result<Arc<CachedSigningKey>> {
        let cached = self.signing_keys.read().unwrap_or_else(PoisonError::into_inner).get(&key.id).cloned();
        if let Some(cached) = cached {
            if cached.organization_id == key.organization_id && cached.key.algorithm() == key.algorithm {
                return Ok(cached);
            }
        }
        let der = self
            .kek
            .decrypt_private_key(key.organization_id, key.id, &key.encrypted_private_key)
            .map_err(Error::unavailable)?;
        let private = PrivateKey::from_pkcs8(key.algorithm, &der).map_err(Error::unavailable)?;
        // The stored public JWK must be the public half of this private key.
        if public_jwk(&private, key.id)? != key.public_jwk {
            return Err(Error::unavailable(KeyError::Material("the private key does not match the public JWK")));
        }
        let cached = Arc::new(CachedSigningKey { organization_id: key.organization_id, key: private });
        self.signing_keys.write().unwrap_or_else(PoisonError::into_inner).insert(key.id, Arc::clone(&cached));
        Ok(cached)
    }

    fn verifying_key(&self, key: &SigningKey) -> Option<Arc<CachedVerifyingKey>> {
        let cached = self.verifying_keys.read().unwrap_or_else(PoisonError::into_inner).get(&key.id).cloned();
        if let Some(cached) = cached {
            if cached.algorithm == key.algorithm && cached.jwk == key.public_jwk {
                return Some(cached);
            }
        }
        let parsed = Arc::new(CachedVerifyingKey {
            algorithm: key.algorithm,
            jwk: key.public_jwk.clone(),
            key: PublicKey::from_jwk(key.algorithm, &key.public_jwk)?,
        });
        self.verifying_keys.write().unwrap_or_else(PoisonError::into_inner).insert(key.id, Arc::clone(&parsed));
        Some(parsed)
    }

    /// Every failure is `None`: callers turn it into `Unauthorized` without
    /// saying why.
    fn verify_token(&self, keys: &[SigningKey], token: &str) -> Option<(JwsHeader, Json)> {
        if token.len() > MAX_TOKEN_BYTES {
            return None;
        }
        let mut parts = token.split('.');
        let (header_b64, payload_b64, signature_b64) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header: JwsHeader = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header_b64).ok()?).ok()?;
        if header.crit.is_some() {
            // RFC 7515 §4.1.11: we understand no extension, so we must refuse.
            return None;
        }
        let kid = header.kid.as_deref()?;
        let key = keys.iter().find(|key| key.id.to_string() == kid)?;
        if header.alg != key.algorithm.as_str() {
            return None;
        }
        let signature = URL_SAFE_NO_PAD.decode(signature_b64).ok()?;
        let signing_input_len = header_b64.len() + 1 + payload_b64.len();
        let signing_input = token.get(..signing_input_len)?.as_bytes();
        self.verifying_key(key)?.key.verify(signing_input, &signature)?;
        let claims: Json = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload_b64).ok()?).ok()?;
        if !claims.is_object() {
            return None;
        }
        Some((header, claims))
    }
}

impl fmt::Debug for JwsSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cached = self.signing_keys.read().unwrap_or_else(PoisonError::into_inner).len();
        f.debug_struct("JwsSigner")
            .field("kek", &self.kek)
            .field("cached_signing_keys", &cached)
            .finish_non_exhaustive()
    }
}

impl TokenSigner for JwsSigner {
    fn generate(
        &self,
        id: SigningKeyId,
        organization: OrganizationId,
        algorithm: SigningAlgorithm,
        now: OffsetDateTime,
    ) -> Result<SigningKey> {
        let private = PrivateKey::generate(algorithm, self.random.as_ref()).map_err(Error::unavailable)?;
        let der = private.to_pkcs8().map_err(Error::unavailable)?;
        let encrypted_private_key =
            self.kek.encrypt_private_key(self.random.as_ref(), organization, id, &der).map_err(Error::unavailable)?;
        let public_jwk = public_jwk(&private, id)?;
        self.signing_keys
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, Arc::new(CachedSigningKey { organization_id: organization, key: private }));
        Ok(SigningKey {
            id,
            organization_id: organization,
            algorithm,
            state: KeyState::Active,
            public_jwk,
            encrypted_private_key,
            created_at: now,
            retired_at: None,
            expires_at: None,
        })
    }

    fn sign(&self, key: &SigningKey, typ: &str, claims: &Json) -> Result<String> {
        let signing_key = self.signing_key(key)?;
        let header = json!({ "alg": key.algorithm.as_str(), "kid": key.id.to_string(), "typ": typ });
        let header = serde_json::to_vec(&header).map_err(Error::unavailable)?;
        let claims = serde_json::to_vec(claims).map_err(Error::unavailable)?;
        let mut token = String::with_capacity((header.len() + claims.len()) * 4 / 3 + 400);
        URL_SAFE_NO_PAD.encode_string(&header, &mut token);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&claims, &mut token);
        let signature = signing_key.key.sign(token.as_bytes()).map_err(Error::unavailable)?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut token);
        Ok(token)
    }
}

impl TokenVerifier for JwsSigner {
    fn verify(&self, keys: &[SigningKey], token: &str, expected_typ: &str) -> Result<Json> {
        let (header, claims) = self.verify_token(keys, token).ok_or(Error::Unauthorized)?;
        if header.typ.as_deref() != Some(expected_typ) {
            return Err(Error::Unauthorized);
        }
        Ok(claims)
    }
}

/// The protected header fields we read. Unknown fields are ignored (never
/// used to find keys: no `jwk`, `jku` or `x5u`); duplicate fields are refused.
#[derive(Deserialize)]
pub(crate) struct JwsHeader {
    pub(crate) alg: String,
    pub(crate) kid: Option<String>,
    pub(crate) typ: Option<String>,
    pub(crate) crit: Option<serde::de::IgnoredAny>,
}

struct CachedSigningKey {
    organization_id: OrganizationId,
    key: PrivateKey,
}

struct CachedVerifyingKey {
    algorithm: SigningAlgorithm,
    jwk: Json,
    key: PublicKey,
}

enum PrivateKey {
    EdDsa(ed25519_dalek::SigningKey),
    Es256(EcdsaKeyPair),
    Rs256(RsaKeyPair),
}

impl PrivateKey {
    fn generate(algorithm: SigningAlgorithm, random: &dyn RandomSource) -> Result<Self, KeyError> {
        match algorithm {
            SigningAlgorithm::EdDsa => {
                let mut seed = Zeroizing::new([0u8; ed25519_dalek::SECRET_KEY_LENGTH]);
                random.fill(seed.as_mut());
                Ok(Self::EdDsa(ed25519_dalek::SigningKey::from_bytes(&seed)))
            }
            // aws-lc draws from its own OS-seeded DRBG here; it takes no
            // caller-supplied randomness for key generation.
            SigningAlgorithm::Es256 => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                .map(Self::Es256)
                .map_err(|_| KeyError::Material("P-256 key generation failed")),
            SigningAlgorithm::Rs256 => RsaKeyPair::generate(KeySize::Rsa2048)
                .map(Self::Rs256)
                .map_err(|_| KeyError::Material("RSA-2048 key generation failed")),
        }
    }

    fn algorithm(&self) -> SigningAlgorithm {
        match self {
            Self::EdDsa(_) => SigningAlgorithm::EdDsa,
            Self::Es256(_) => SigningAlgorithm::Es256,
            Self::Rs256(_) => SigningAlgorithm::Rs256,
        }
    }

    /// PKCS#8 DER, the plaintext that is sealed at rest.
    fn to_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let der = match self {
            Self::EdDsa(key) => key
                .to_pkcs8_der()
                .map(|document| document.as_bytes().to_vec())
                .map_err(|_| KeyError::Material("Ed25519 PKCS#8 encoding failed"))?,
            Self::Es256(key) => key
                .to_pkcs8v1()
                .map(|document| document.as_ref().to_vec())
                .map_err(|_| KeyError::Material("P-256 PKCS#8 encoding failed"))?,
            Self::Rs256(key) => key
                .as_der()
                .map(|document| document.as_ref().to_vec())
                .map_err(|_| KeyError::Material("RSA PKCS#8 encoding failed"))?,
        };
        Ok(Zeroizing::new(der))
    }

    fn from_pkcs8(algorithm: SigningAlgorithm, der: &[u8]) -> Result<Self, KeyError> {
        match algorithm {
            SigningAlgorithm::EdDsa => ed25519_dalek::SigningKey::from_pkcs8_der(der)
                .map(Self::EdDsa)
                .map_err(|_| KeyError::Material("not an Ed25519 PKCS#8 key")),
            SigningAlgorithm::Es256 => EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                .map(Self::Es256)
                .map_err(|_| KeyError::Material("not a P-256 PKCS#8 key")),
            SigningAlgorithm::Rs256 => {
                RsaKeyPair::from_pkcs8(der).map(Self::Rs256).map_err(|_| KeyError::Material("not an RSA PKCS#8 key"))
            }
        }
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match self {
            Self::EdDsa(key) => Ok(key.sign(message).to_bytes().to_vec()),
            Self::Es256(key) => key
                .sign(&SystemRandom::new(), message)
                .map(|signature| signature.as_ref().to_vec())
                .map_err(|_| KeyError::Material("ES256 signing failed")),
            Self::Rs256(key) => {
                let mut signature = vec![0u8; key.public_modulus_len()];
                key.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut signature)
                    .map_err(|_| KeyError::Material("RS256 signing failed"))?;
                Ok(signature)
            }
        }
    }
}

/// The public JWK (RFC 7517) of a private key, with `kid`, `alg` and `use`.
fn public_jwk(private: &PrivateKey, id: SigningKeyId) -> Result<Json> {
    let kid = id.to_string();
    let alg = private.algorithm().as_str();
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    Ok(match private {
        // RFC 8037 §2.
        PrivateKey::EdDsa(key) => json!({
            "kty": "OKP", "crv": "Ed25519", "x": b64(key.verifying_key().as_bytes()),
            "kid": kid, "alg": alg, "use": "sig",
        }),
        // RFC 7518 §6.2.1: x and y are the 32-byte coordinates of the
        // uncompressed point 0x04 ‖ x ‖ y.
        PrivateKey::Es256(key) => {
            let point = key.public_key().as_ref();
            if point.len() != 65 || point[0] != 0x04 {
                return Err(Error::unavailable(KeyError::Material("unexpected P-256 public key encoding")));
            }
            json!({
                "kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..]),
                "kid": kid, "alg": alg, "use": "sig",
            })
        }
        // RFC 7518 §6.3.1: unsigned big-endian without leading zeros.
        PrivateKey::Rs256(key) => {
            let public = key.public_key();
            json!({
                "kty": "RSA",
                "n": b64(public.modulus().big_endian_without_leading_zero()),
                "e": b64(public.exponent().big_endian_without_leading_zero()),
                "kid": kid, "alg": alg, "use": "sig",
            })
        }
    })
}

pub(crate) enum PublicKey {
    EdDsa(ed25519_dalek::VerifyingKey),
    /// ES256 (fixed r ‖ s signatures) or RS256 (PKCS#1 v1.5, 2048–8192 bits).
    AwsLc(ParsedPublicKey),
}

impl PublicKey {
    /// Parses the JWK strictly for `algorithm`: the key type and curve must
    /// match, so a key cannot be used with another algorithm.
    pub(crate) fn from_jwk(algorithm: SigningAlgorithm, jwk: &Json) -> Option<Self> {
        let field = |name: &str| jwk.get(name).and_then(Json::as_str);
        let bytes = |name: &str| field(name).and_then(|text| URL_SAFE_NO_PAD.decode(text).ok());
        if field("alg").is_some_and(|alg| alg != algorithm.as_str()) {
            return None;
        }
        match algorithm {
            SigningAlgorithm::EdDsa => {
                if field("kty") != Some("OKP") || field("crv") != Some("Ed25519") {
                    return None;
                }
                let x: [u8; 32] = bytes("x")?.try_into().ok()?;
                ed25519_dalek::VerifyingKey::from_bytes(&x).ok().map(Self::EdDsa)
            }
            SigningAlgorithm::Es256 => {
                if field("kty") != Some("EC") || field("crv") != Some("P-256") {
                    return None;
                }
                let (x, y) = (bytes("x")?, bytes("y")?);
                if x.len() != 32 || y.len() != 32 {
                    return None;
                }
                let point = [&[0x04][..], &x, &y].concat();
                ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).ok().map(Self::AwsLc)
            }
            SigningAlgorithm::Rs256 => {
                if field("kty") != Some("RSA") {
                    return None;
                }
                let components = RsaPublicKeyComponents { n: bytes("n")?, e: bytes("e")? };
                components.to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256).ok().map(Self::AwsLc)
            }
        }
    }

    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> Option<()> {
        match self {
            Self::EdDsa(key) => {
                let signature = ed25519_dalek::Signature::from_slice(signature).ok()?;
                key.verify_strict(message, &signature).ok()
            }
            Self::AwsLc(key) => key.verify_sig(message, signature).ok(),
        }
    }
}
