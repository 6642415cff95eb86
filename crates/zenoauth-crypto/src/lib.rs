//! The crypto adapters of ZenoAuth: everything that touches key material or
//! randomness. It owns the OS random source ([`OsRandom`], the only place the
//! process reads randomness), the issued secrets (prefixed, 256-bit,
//! stored as SHA-256 digests) with constant-time comparison and PKCE S256,
//! Argon2id password hashing with bounded concurrency ([`Argon2Hasher`]), the
//! key-encryption key that seals private signing keys at rest
//! ([`KeyEncryptionKey`], AES-256-GCM), and JWS signing and verification with
//! EdDSA, ES256 and RS256 ([`JwsSigner`]), and the key material of second
//! factors ([`CryptoMfa`]: TOTP codes with totp-rs, TOTP secrets sealed under
//! the key-encryption key, recovery codes), and WebAuthn passkey ceremonies
//! ([`WebauthnPasskeys`], with webauthn-rs). Backends: ed25519-dalek for Ed25519,
//! aws-lc-rs for everything else, argon2 for passwords. It implements the
//! domain's `RandomSource`, `PasswordHasher`, `TokenSigner` and `TokenVerifier`
//! ports and knows nothing of HTTP or storage.

mod federation;
mod jws;
mod kek;
mod mfa;
mod oauth;
mod password;
mod random;
mod secrets;
mod webauthn;

pub use federation::CryptoFederation;
pub use jws::{JwsSigner, MAX_TOKEN_BYTES};
pub use kek::{KeyEncryptionKey, KeyError};
pub use mfa::CryptoMfa;
pub use oauth::CryptoOAuth;
pub use password::{Argon2Hasher, Argon2Params, Argon2ParamsError};
pub use random::OsRandom;
pub use secrets::{
    constant_time_eq, digest_secret, is_valid_pkce_s256_challenge, is_valid_pkce_verifier, issue_secret,
    pkce_s256_challenge, verify_pkce_s256, IssuedSecret, SecretPrefix, SECRET_RANDOM_BYTES,
};
pub use webauthn::WebauthnPasskeys;
