//! The domain's `OAuthCrypto` port: issued secrets, PKCE, `at_hash`, and
//! verification of client assertions against a client's registered JWK set.

use std::sync::Arc;

use aws_lc_rs::digest::{digest, SHA256, SHA512};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value as Json;
use zenoauth_domain::model::{CodeChallenge, SigningAlgorithm};
use zenoauth_domain::ports::{NewSecret, OAuthCrypto, RandomSource, SecretKind};
use zenoauth_domain::values::SecretDigest;
use zenoauth_domain::{Error, Result};

use crate::jws::{JwsHeader, PublicKey, MAX_TOKEN_BYTES};
use crate::secrets::{digest_secret, issue_secret, verify_pkce_s256, SecretPrefix};

/// [`OAuthCrypto`] over the OS random source (or any [`RandomSource`]).
#[derive(Clone)]
pub struct CryptoOAuth {
    random: Arc<dyn RandomSource>,
}

impl std::fmt::Debug for CryptoOAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CryptoOAuth").finish_non_exhaustive()
    }
}

impl CryptoOAuth {
    pub fn new(random: Arc<dyn RandomSource>) -> Self {
        Self { random }
    }
}

impl OAuthCrypto for CryptoOAuth {
    fn issue_secret(&self, kind: SecretKind) -> NewSecret {
        let prefix = match kind {
            SecretKind::Session => SecretPrefix::Session,
            SecretKind::AuthorizationCode => SecretPrefix::AuthorizationCode,
            SecretKind::RefreshToken => SecretPrefix::RefreshToken,
        };
        let issued = issue_secret(self.random.as_ref(), prefix);
        NewSecret { plaintext: issued.expose().to_owned(), digest: issued.digest() }
    }

    fn digest_secret(&self, presented: &str) -> SecretDigest {
        digest_secret(presented)
    }

    fn verify_pkce_s256(&self, verifier: &str, challenge: &CodeChallenge) -> bool {
        verify_pkce_s256(verifier, challenge.as_str())
    }

    /// SHA-256 for ES256 and RS256; SHA-512 for EdDSA with Ed25519 (the hash
    /// Ed25519 uses internally, as the OpenID Foundation settled for at_hash).
    fn left_half_hash(&self, algorithm: SigningAlgorithm, token: &str) -> String {
        let hash = match algorithm {
            SigningAlgorithm::EdDsa => digest(&SHA512, token.as_bytes()),
            SigningAlgorithm::Es256 | SigningAlgorithm::Rs256 => digest(&SHA256, token.as_bytes()),
        };
        let bytes = hash.as_ref();
        URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() / 2])
    }

    fn verify_with_jwks(&self, jwks: &Json, token: &str) -> Result<Json> {
        verify_with_jwks(jwks, token).ok_or(Error::Unauthorized)
    }
}

fn verify_with_jwks(jwks: &Json, token: &str) -> Option<Json> {
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
        return None;
    }
    let algorithm = SigningAlgorithm::parse(&header.alg).ok()?;
    let keys = jwks.get("keys")?.as_array()?;
    let jwk = match header.kid.as_deref() {
        Some(kid) => keys.iter().find(|key| key.get("kid").and_then(Json::as_str) == Some(kid))?,
        None if keys.len() == 1 => keys.first()?,
        None => return None,
    };
    if jwk.get("use").and_then(Json::as_str).is_some_and(|usage| usage != "sig") {
        return None;
    }
    let key = PublicKey::from_jwk(algorithm, jwk)?;
    let signature = URL_SAFE_NO_PAD.decode(signature_b64).ok()?;
    let signing_input = token.get(..header_b64.len() + 1 + payload_b64.len())?.as_bytes();
    key.verify(signing_input, &signature)?;
    let claims: Json = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload_b64).ok()?).ok()?;
    claims.is_object().then_some(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::OffsetDateTime;
    use zenoauth_domain::ports::{TokenSigner, TokenVerifier};
    use zenoauth_domain::testing::SeededRandom;

    use crate::{JwsSigner, KeyEncryptionKey};

    fn crypto() -> CryptoOAuth {
        CryptoOAuth::new(Arc::new(SeededRandom::new(9)))
    }

    #[test]
    fn secrets_carry_their_prefix_and_digest() {
        let secret = crypto().issue_secret(SecretKind::AuthorizationCode);
        assert!(secret.plaintext.starts_with("zac_"));
        assert_eq!(secret.digest, crypto().digest_secret(&secret.plaintext));
        assert!(crypto().issue_secret(SecretKind::Session).plaintext.starts_with("zas_"));
        assert!(crypto().issue_secret(SecretKind::RefreshToken).plaintext.starts_with("zar_"));
        assert!(!format!("{secret:?}").contains(&secret.plaintext));
    }

    #[test]
    fn at_hash_matches_the_oidc_core_example_for_sha256() {
        // OpenID Connect Core, Appendix A.3 (RS256).
        let token = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";
        assert_eq!(crypto().left_half_hash(SigningAlgorithm::Rs256, token), "77QmUPtjPfzWtF2AnpK9RQ");
        assert_eq!(crypto().left_half_hash(SigningAlgorithm::EdDsa, token).len(), 43);
    }

    #[test]
    fn client_assertions_verify_against_the_registered_jwks_only() {
        let random: Arc<dyn RandomSource> = Arc::new(SeededRandom::new(4));
        let signer = JwsSigner::new(KeyEncryptionKey::generate(random.as_ref()), random.clone());
        let now = OffsetDateTime::UNIX_EPOCH;
        let organization = zenoauth_domain::ids::OrganizationId::from_uuid(uuid_of(1));
        let key = signer
            .generate(
                zenoauth_domain::ids::SigningKeyId::from_uuid(uuid_of(2)),
                organization,
                SigningAlgorithm::EdDsa,
                now,
            )
            .unwrap();
        let other = signer
            .generate(
                zenoauth_domain::ids::SigningKeyId::from_uuid(uuid_of(3)),
                organization,
                SigningAlgorithm::EdDsa,
                now,
            )
            .unwrap();
        let token = signer.sign(&key, "JWT", &json!({"iss": "client"})).unwrap();
        let registered = json!({"keys": [key.public_jwk.clone()]});
        assert_eq!(crypto().verify_with_jwks(&registered, &token).unwrap()["iss"], "client");
        assert!(crypto().verify_with_jwks(&json!({"keys": [other.public_jwk.clone()]}), &token).is_err());
        assert!(crypto().verify_with_jwks(&json!({}), &token).is_err());
        let mut tampered = token.clone();
        tampered.push('A');
        assert!(crypto().verify_with_jwks(&registered, &tampered).is_err());
        // The verifier of the signer agrees, as a cross-check.
        assert!(signer.verify(std::slice::from_ref(&key), &token, "JWT").is_ok());
    }

    fn uuid_of(n: u8) -> uuid::Uuid {
        uuid::Uuid::from_bytes([n; 16])
    }
}
