//! Issued secrets (session cookies, codes, refresh tokens, client secrets, API
//! keys), their digests, constant-time comparison and PKCE S256 (RFC 7636).

use std::fmt;

use aws_lc_rs::digest::{digest, SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use zenoauth_domain::ports::RandomSource;
use zenoauth_domain::values::SecretDigest;
use zeroize::Zeroizing;

/// How many random bytes every issued secret carries: 256 bits.
pub const SECRET_RANDOM_BYTES: usize = 32;

/// The kind of an issued secret, written as a short prefix so that a leaked
/// secret is recognisable (by people and by secret scanners).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretPrefix {
    /// `zas_`: a login-session cookie.
    Session,
    /// `zac_`: an authorization code.
    AuthorizationCode,
    /// `zar_`: a refresh token.
    RefreshToken,
    /// `zcs_`: a confidential client's secret.
    ClientSecret,
    /// `zak_`: an API key.
    ApiKey,
}

impl SecretPrefix {
    pub const ALL: [SecretPrefix; 5] =
        [Self::Session, Self::AuthorizationCode, Self::RefreshToken, Self::ClientSecret, Self::ApiKey];

    /// The prefix including its trailing underscore, e.g. `zas_`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Session => "zas_",
            Self::AuthorizationCode => "zac_",
            Self::RefreshToken => "zar_",
            Self::ClientSecret => "zcs_",
            Self::ApiKey => "zak_",
        }
    }

    /// The kind a presented secret claims by its prefix, if any. Only a cheap
    /// pre-filter: the digest lookup is what authenticates.
    pub fn detect(presented: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|prefix| presented.starts_with(prefix.as_str()))
    }
}

impl fmt::Display for SecretPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A freshly issued secret: the plaintext, to show or send exactly once, and
/// the digest, which is all that is stored. `Debug` shows only the prefix;
/// the plaintext is wiped from memory on drop.
#[derive(Clone)]
pub struct IssuedSecret {
    prefix: SecretPrefix,
    plaintext: Zeroizing<String>,
    digest: SecretDigest,
}

impl IssuedSecret {
    /// The full secret, prefix included, e.g. `zar_3q2…`.
    pub fn expose(&self) -> &str {
        &self.plaintext
    }

    /// SHA-256 of [`Self::expose`], the value to store.
    pub fn digest(&self) -> SecretDigest {
        self.digest
    }

    pub fn prefix(&self) -> SecretPrefix {
        self.prefix
    }
}

impl fmt::Debug for IssuedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedSecret")
            .field("prefix", &self.prefix.as_str())
            .field("plaintext", &"<redacted>")
            .field("digest", &self.digest)
            .finish()
    }
}

/// Issues a new secret: the prefix followed by 256 random bits in base64url
/// without padding (43 characters).
pub fn issue_secret(random: &dyn RandomSource, prefix: SecretPrefix) -> IssuedSecret {
    let mut bytes = Zeroizing::new([0u8; SECRET_RANDOM_BYTES]);
    random.fill(bytes.as_mut());
    let mut plaintext = Zeroizing::new(String::with_capacity(prefix.as_str().len() + 43));
    plaintext.push_str(prefix.as_str());
    URL_SAFE_NO_PAD.encode_string(bytes.as_ref(), &mut plaintext);
    let digest = digest_secret(&plaintext);
    IssuedSecret { prefix, plaintext, digest }
}

/// SHA-256 of a presented secret (the whole string, prefix included), for
/// looking it up by digest.
pub fn digest_secret(presented: &str) -> SecretDigest {
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(digest(&SHA256, presented.as_bytes()).as_ref());
    SecretDigest::from_bytes(bytes)
}

/// Equality whose time does not depend on where `a` and `b` differ (it does
/// depend on their lengths, which are not secret here).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// RFC 7636 §4.1: a code verifier is 43–128 characters of
/// `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`.
pub fn is_valid_pkce_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len()) && verifier.bytes().all(is_unreserved)
}

/// Whether `challenge` has the shape of an S256 code challenge: base64url
/// without padding of 32 bytes, i.e. exactly 43 characters of the base64url
/// alphabet.
pub fn is_valid_pkce_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43 && challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// RFC 7636 §4.2: `BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))`.
pub fn pkce_s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()))
}

/// RFC 7636 §4.6 for S256: the verifier is well-formed and hashes to the
/// stored challenge (compared in constant time).
pub fn verify_pkce_s256(verifier: &str, challenge: &str) -> bool {
    is_valid_pkce_verifier(verifier) && constant_time_eq(pkce_s256_challenge(verifier).as_bytes(), challenge.as_bytes())
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

#[cfg(test)]
mod tests {
    use super::*;
    use zenoauth_domain::testing::SeededRandom;

    #[test]
    fn secret_is_prefix_and_43_base64url_characters_of_32_bytes() {
        let random = SeededRandom::new(1);
        for prefix in SecretPrefix::ALL {
            let secret = issue_secret(&random, prefix);
            let body = secret.expose().strip_prefix(prefix.as_str()).unwrap();
            assert_eq!(body.len(), 43);
            assert_eq!(URL_SAFE_NO_PAD.decode(body).unwrap().len(), SECRET_RANDOM_BYTES);
            assert_eq!(SecretPrefix::detect(secret.expose()), Some(prefix));
            assert_eq!(secret.prefix(), prefix);
        }
    }

    #[test]
    fn digest_is_sha256_of_the_whole_string() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        let expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(hex(digest_secret("abc").as_bytes()), expected);
        let secret = issue_secret(&SeededRandom::new(2), SecretPrefix::RefreshToken);
        assert_eq!(secret.digest(), digest_secret(secret.expose()));
        let body_only = secret.expose().trim_start_matches("zar_");
        assert_ne!(secret.digest(), digest_secret(body_only), "the prefix is part of the digest");
    }

    #[test]
    fn debug_never_shows_the_plaintext() {
        let secret = issue_secret(&SeededRandom::new(3), SecretPrefix::Session);
        let debug = format!("{secret:?}");
        let body = secret.expose().trim_start_matches("zas_");
        assert!(!debug.contains(body), "{debug}");
        assert!(debug.contains("<redacted>"));
    }

    #[test]
    fn prefixes_are_distinct_and_unknown_ones_are_not_detected() {
        let seen: std::collections::HashSet<_> = SecretPrefix::ALL.iter().map(|p| p.as_str()).collect();
        assert_eq!(seen.len(), 5);
        assert_eq!(SecretPrefix::detect("zzz_abc"), None);
        assert_eq!(SecretPrefix::detect(""), None);
    }

    #[test]
    fn constant_time_eq_compares_contents_and_lengths() {
        assert!(constant_time_eq(b"same", b"same"));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"same", b"sama"));
        assert!(!constant_time_eq(b"same", b"same-but-longer"));
    }

    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(pkce_s256_challenge(verifier), challenge);
        assert!(is_valid_pkce_s256_challenge(challenge));
        assert!(verify_pkce_s256(verifier, challenge));
        assert!(!verify_pkce_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK", challenge));
        assert!(!verify_pkce_s256(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"));
    }

    #[test]
    fn pkce_verifier_is_43_to_128_unreserved_characters() {
        assert!(is_valid_pkce_verifier(&"a".repeat(43)));
        assert!(is_valid_pkce_verifier(&"Az09-._~".repeat(16)));
        assert!(!is_valid_pkce_verifier(&"a".repeat(42)));
        assert!(!is_valid_pkce_verifier(&"a".repeat(129)));
        for bad in [' ', '+', '/', '=', '%', 'é'] {
            let verifier = format!("{}{bad}", "a".repeat(50));
            assert!(!is_valid_pkce_verifier(&verifier), "{verifier}");
        }
        // A malformed verifier fails even if its hash matches what was stored.
        let short = "a".repeat(42);
        assert!(!verify_pkce_s256(&short, &pkce_s256_challenge(&short)));
    }

    #[test]
    fn pkce_challenge_shape() {
        assert!(!is_valid_pkce_s256_challenge(&"a".repeat(42)));
        assert!(!is_valid_pkce_s256_challenge(&"a".repeat(44)));
        assert!(!is_valid_pkce_s256_challenge(&format!("{}=", "a".repeat(42))));
        assert!(!is_valid_pkce_s256_challenge(&format!("{}.", "a".repeat(42))));
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
