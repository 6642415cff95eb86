use std::sync::Arc;

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{
    RsaPublicKeyComponents, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::pkcs8::DecodePrivateKey as _;
use ed25519_dalek::Signer as _;
use serde_json::{json, Value as Json};
use time::OffsetDateTime;
use zenoauth_crypto::{JwsSigner, KeyEncryptionKey, OsRandom, MAX_TOKEN_BYTES};
use zenoauth_domain::ids::{OrganizationId, SigningKeyId};
use zenoauth_domain::model::{KeyState, SigningAlgorithm, SigningKey};
use zenoauth_domain::ports::{TokenSigner as _, TokenVerifier as _};
use zenoauth_domain::testing::SeededRandom;
use zenoauth_domain::Error;

const ALL: [SigningAlgorithm; 3] = [SigningAlgorithm::EdDsa, SigningAlgorithm::Es256, SigningAlgorithm::Rs256];

struct Fixture {
    kek: KeyEncryptionKey,
    signer: JwsSigner,
    organization: OrganizationId,
    next_key: std::cell::Cell<u128>,
}

impl Fixture {
    fn new(seed: u64) -> Self {
        let random = Arc::new(SeededRandom::new(seed));
        let kek = KeyEncryptionKey::generate(random.as_ref());
        let signer = JwsSigner::new(kek.clone(), Arc::new(OsRandom::new()));
        Self {
            kek,
            signer,
            organization: OrganizationId::from_uuid(uuid::Uuid::from_u128(u128::from(seed))),
            next_key: std::cell::Cell::new(u128::from(seed) << 64),
        }
    }

    fn key(&self, algorithm: SigningAlgorithm) -> SigningKey {
        self.next_key.set(self.next_key.get() + 1);
        let id = SigningKeyId::from_uuid(uuid::Uuid::from_u128(self.next_key.get()));
        self.signer.generate(id, self.organization, algorithm, now()).unwrap()
    }

    /// A signer with the same KEK and empty caches (as after a restart).
    fn fresh_signer(&self) -> JwsSigner {
        JwsSigner::new(self.kek.clone(), Arc::new(OsRandom::new()))
    }

    /// Signs any header and payload bytes with an Ed25519 key's real private
    /// key, to build hostile but validly signed tokens.
    fn sign_raw_eddsa(&self, key: &SigningKey, header: &[u8], payload: &[u8]) -> String {
        assert_eq!(key.algorithm, SigningAlgorithm::EdDsa);
        let der = self.kek.decrypt_private_key(key.organization_id, key.id, &key.encrypted_private_key).unwrap();
        let private = ed25519_dalek::SigningKey::from_pkcs8_der(&der).unwrap();
        let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
        let signature = private.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }
}

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
}

fn claims() -> Json {
    json!({ "iss": "https://id.example.com/o/acme", "sub": "user-1", "exp": 1_700_000_300, "scope": "openid" })
}

fn parts(token: &str) -> (Json, Json, Vec<u8>) {
    let mut parts = token.split('.');
    let header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap();
    let payload = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap();
    let signature = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
    assert!(parts.next().is_none());
    (header, payload, signature)
}

fn jwk_bytes(jwk: &Json, name: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap()
}

fn signing_input(token: &str) -> &str {
    &token[..token.rfind('.').unwrap()]
}

fn is_unauthorized(result: Result<Json, Error>) -> bool {
    matches!(result, Err(Error::Unauthorized))
}

#[test]
fn sign_then_verify_round_trips_for_every_algorithm() {
    let fixture = Fixture::new(1);
    for algorithm in ALL {
        let key = fixture.key(algorithm);
        assert_eq!(key.state, KeyState::Active);
        assert_eq!(key.created_at, now());
        assert_eq!(key.organization_id, fixture.organization);
        let token = fixture.signer.sign(&key, "at+jwt", &claims()).unwrap();
        let (header, payload, signature) = parts(&token);
        assert_eq!(header, json!({ "alg": algorithm.as_str(), "kid": key.id.to_string(), "typ": "at+jwt" }));
        assert_eq!(payload, claims());
        let expected_len = if algorithm == SigningAlgorithm::Rs256 { 256 } else { 64 };
        assert_eq!(signature.len(), expected_len, "{algorithm:?}");
        assert_eq!(fixture.signer.verify(std::slice::from_ref(&key), &token, "at+jwt").unwrap(), claims());
        // Verification needs only the public JWK: a signer with another KEK verifies too.
        assert_eq!(Fixture::new(99).signer.verify(std::slice::from_ref(&key), &token, "at+jwt").unwrap(), claims());
        assert_eq!(fixture.signer.verify(std::slice::from_ref(&key), &token, "at+jwt").unwrap(), claims());
        assert!(matches!(fixture.signer.verify(std::slice::from_ref(&key), &token, "JWT"), Err(Error::Unauthorized)));
    }
}

#[test]
fn jwks_have_the_rfc_shapes() {
    let fixture = Fixture::new(2);
    let eddsa = fixture.key(SigningAlgorithm::EdDsa);
    let keys: Vec<_> = eddsa.public_jwk.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["alg", "crv", "kid", "kty", "use", "x"]);
    assert_eq!(eddsa.public_jwk["kty"], "OKP");
    assert_eq!(eddsa.public_jwk["crv"], "Ed25519");
    assert_eq!(eddsa.public_jwk["alg"], "EdDSA");
    assert_eq!(eddsa.public_jwk["use"], "sig");
    assert_eq!(eddsa.public_jwk["kid"], eddsa.id.to_string());
    assert_eq!(jwk_bytes(&eddsa.public_jwk, "x").len(), 32);

    let es256 = fixture.key(SigningAlgorithm::Es256);
    let keys: Vec<_> = es256.public_jwk.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["alg", "crv", "kid", "kty", "use", "x", "y"]);
    assert_eq!(es256.public_jwk["kty"], "EC");
    assert_eq!(es256.public_jwk["crv"], "P-256");
    assert_eq!(es256.public_jwk["alg"], "ES256");
    assert_eq!(jwk_bytes(&es256.public_jwk, "x").len(), 32);
    assert_eq!(jwk_bytes(&es256.public_jwk, "y").len(), 32);

    let rs256 = fixture.key(SigningAlgorithm::Rs256);
    let keys: Vec<_> = rs256.public_jwk.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["alg", "e", "kid", "kty", "n", "use"]);
    assert_eq!(rs256.public_jwk["kty"], "RSA");
    assert_eq!(rs256.public_jwk["alg"], "RS256");
    assert_eq!(rs256.public_jwk["e"], "AQAB");
    assert_eq!(jwk_bytes(&rs256.public_jwk, "n").len(), 256, "RSA-2048 modulus");

    for key in [&eddsa, &es256, &rs256] {
        let private_text = String::from_utf8_lossy(&key.encrypted_private_key).to_string();
        assert!(!private_text.contains("PRIVATE"));
        assert!(!format!("{key:?}").contains("encrypted_private_key"));
    }
}

#[test]
fn eddsa_signature_verifies_independently_with_ed25519_dalek() {
    let fixture = Fixture::new(3);
    let key = fixture.key(SigningAlgorithm::EdDsa);
    let token = fixture.signer.sign(&key, "at+jwt", &claims()).unwrap();
    let x: [u8; 32] = jwk_bytes(&key.public_jwk, "x").try_into().unwrap();
    let verifying_key = ed25519_dalek::VerifyingKey::from_bytes(&x).unwrap();
    let signature = ed25519_dalek::Signature::from_slice(&parts(&token).2).unwrap();
    verifying_key.verify_strict(signing_input(&token).as_bytes(), &signature).unwrap();
    assert!(verifying_key.verify_strict(b"something else", &signature).is_err());
}

#[test]
fn es256_signature_verifies_independently_with_aws_lc_rs() {
    let fixture = Fixture::new(4);
    let key = fixture.key(SigningAlgorithm::Es256);
    let token = fixture.signer.sign(&key, "at+jwt", &claims()).unwrap();
    let point = [&[0x04u8][..], &jwk_bytes(&key.public_jwk, "x"), &jwk_bytes(&key.public_jwk, "y")].concat();
    let public_key = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point);
    let signature = parts(&token).2;
    public_key.verify(signing_input(&token).as_bytes(), &signature).unwrap();
    assert!(public_key.verify(b"something else", &signature).is_err());
}

#[test]
fn rs256_signature_verifies_independently_with_aws_lc_rs() {
    let fixture = Fixture::new(5);
    let key = fixture.key(SigningAlgorithm::Rs256);
    let token = fixture.signer.sign(&key, "at+jwt", &claims()).unwrap();
    let public_key = RsaPublicKeyComponents { n: jwk_bytes(&key.public_jwk, "n"), e: jwk_bytes(&key.public_jwk, "e") };
    let signature = parts(&token).2;
    public_key.verify(&RSA_PKCS1_2048_8192_SHA256, signing_input(&token).as_bytes(), &signature).unwrap();
    assert!(public_key.verify(&RSA_PKCS1_2048_8192_SHA256, b"something else", &signature).is_err());
}

#[test]
fn tampered_header_payload_or_signature_is_rejected() {
    let fixture = Fixture::new(6);
    for algorithm in ALL {
        let key = fixture.key(algorithm);
        let keys = std::slice::from_ref(&key);
        let token = fixture.signer.sign(&key, "at+jwt", &claims()).unwrap();
        let segments: Vec<&str> = token.split('.').collect();

        let mut evil_claims = claims();
        evil_claims["sub"] = json!("admin");
        let evil_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&evil_claims).unwrap());
        let tampered_payload = format!("{}.{}.{}", segments[0], evil_payload, segments[2]);
        assert!(is_unauthorized(fixture.signer.verify(keys, &tampered_payload, "at+jwt")), "{algorithm:?} payload");

        let evil_header = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&json!({ "alg": algorithm.as_str(), "kid": key.id.to_string(), "typ": "JWT" })).unwrap(),
        );
        let tampered_header = format!("{}.{}.{}", evil_header, segments[1], segments[2]);
        assert!(is_unauthorized(fixture.signer.verify(keys, &tampered_header, "at+jwt")), "{algorithm:?} header");

        let mut signature = URL_SAFE_NO_PAD.decode(segments[2]).unwrap();
        for index in [0, signature.len() / 2, signature.len() - 1] {
            signature[index] ^= 0x01;
            let tampered = format!("{}.{}.{}", segments[0], segments[1], URL_SAFE_NO_PAD.encode(&signature));
            assert!(
                is_unauthorized(fixture.signer.verify(keys, &tampered, "at+jwt")),
                "{algorithm:?} signature {index}"
            );
            signature[index] ^= 0x01;
        }
        let truncated = format!("{}.{}.{}", segments[0], segments[1], URL_SAFE_NO_PAD.encode(&signature[1..]));
        assert!(is_unauthorized(fixture.signer.verify(keys, &truncated, "at+jwt")), "{algorithm:?} short signature");
        let empty = format!("{}.{}.", segments[0], segments[1]);
        assert!(is_unauthorized(fixture.signer.verify(keys, &empty, "at+jwt")), "{algorithm:?} no signature");
    }
}

#[test]
fn alg_none_is_rejected() {
    let fixture = Fixture::new(7);
    for algorithm in ALL {
        let key = fixture.key(algorithm);
        let token = fixture.signer.sign(&key, "at+jwt", &claims()).unwrap();
        let segments: Vec<&str> = token.split('.').collect();
        for alg in ["none", "None", "NONE", ""] {
            let header = URL_SAFE_NO_PAD.encode(
                serde_json::to_vec(&json!({ "alg": alg, "kid": key.id.to_string(), "typ": "at+jwt" })).unwrap(),
            );
            for signature in ["", segments[2]] {
                let forged = format!("{header}.{}.{signature}", segments[1]);
                assert!(is_unauthorized(fixture.signer.verify(std::slice::from_ref(&key), &forged, "at+jwt")), "{alg}");
            }
        }
    }
}

#[test]
fn a_header_alg_other_than_the_keys_is_rejected_even_when_validly_signed() {
    let fixture = Fixture::new(8);
    let eddsa = fixture.key(SigningAlgorithm::EdDsa);
    let es256 = fixture.key(SigningAlgorithm::Es256);
    let rs256 = fixture.key(SigningAlgorithm::Rs256);
    let keys = [eddsa.clone(), es256.clone(), rs256.clone()];
    let payload = serde_json::to_vec(&claims()).unwrap();

    // The EdDSA key signs a header that claims another algorithm: the
    // signature is genuine, the alg is not the key's.
    for alg in ["ES256", "RS256", "HS256", "Ed25519", "eddsa"] {
        let header = json!({ "alg": alg, "kid": eddsa.id.to_string(), "typ": "at+jwt" });
        let token = fixture.sign_raw_eddsa(&eddsa, &serde_json::to_vec(&header).unwrap(), &payload);
        assert!(is_unauthorized(fixture.signer.verify(&keys, &token, "at+jwt")), "{alg}");
    }
    // Sanity: the same construction with the right alg verifies.
    let header = json!({ "alg": "EdDSA", "kid": eddsa.id.to_string(), "typ": "at+jwt" });
    let token = fixture.sign_raw_eddsa(&eddsa, &serde_json::to_vec(&header).unwrap(), &payload);
    assert_eq!(fixture.signer.verify(&keys, &token, "at+jwt").unwrap(), claims());

    // An Ed25519 signature presented under the ES256 or RS256 key's kid.
    for other in [&es256, &rs256] {
        let header = json!({ "alg": "EdDSA", "kid": other.id.to_string(), "typ": "at+jwt" });
        let token = fixture.sign_raw_eddsa(&eddsa, &serde_json::to_vec(&header).unwrap(), &payload);
        assert!(is_unauthorized(fixture.signer.verify(&keys, &token, "at+jwt")));
    }

    // Classic confusion: HS256 keyed with the public key's bytes or JWK text.
    for key in &keys {
        let header = json!({ "alg": "HS256", "kid": key.id.to_string(), "typ": "at+jwt" });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap()),
            URL_SAFE_NO_PAD.encode(&payload)
        );
        let raw_public = match key.algorithm {
            SigningAlgorithm::Rs256 => jwk_bytes(&key.public_jwk, "n"),
            _ => jwk_bytes(&key.public_jwk, "x"),
        };
        let secrets = [key.public_jwk.to_string().into_bytes(), raw_public];
        for secret in secrets {
            let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &secret), input.as_bytes());
            let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
            assert!(is_unauthorized(fixture.signer.verify(&keys, &token, "at+jwt")));
        }
    }
}

#[test]
fn the_key_is_chosen_by_kid_among_many_and_unknown_kids_are_rejected() {
    let fixture = Fixture::new(9);
    let keys: Vec<SigningKey> = ALL.iter().chain(ALL.iter()).map(|algorithm| fixture.key(*algorithm)).collect();
    for key in &keys {
        let token = fixture.signer.sign(key, "at+jwt", &claims()).unwrap();
        assert_eq!(fixture.signer.verify(&keys, &token, "at+jwt").unwrap(), claims());
        let others: Vec<SigningKey> = keys.iter().filter(|other| other.id != key.id).cloned().collect();
        assert!(is_unauthorized(fixture.signer.verify(&others, &token, "at+jwt")), "kid not among the keys");
        assert!(is_unauthorized(fixture.signer.verify(&[], &token, "at+jwt")));
    }
    // A token whose kid names another key of the same algorithm.
    let (first, second) = (&keys[0], &keys[3]);
    assert_eq!(first.algorithm, second.algorithm);
    let header = json!({ "alg": "EdDSA", "kid": second.id.to_string(), "typ": "at+jwt" });
    let token = fixture.sign_raw_eddsa(first, &serde_json::to_vec(&header).unwrap(), b"{}");
    assert!(is_unauthorized(fixture.signer.verify(&keys, &token, "at+jwt")));
}

#[test]
fn malformed_tokens_are_unauthorized() {
    let fixture = Fixture::new(10);
    let key = fixture.key(SigningAlgorithm::EdDsa);
    let keys = std::slice::from_ref(&key);
    let token = fixture.signer.sign(&key, "at+jwt", &claims()).unwrap();
    let segments: Vec<&str> = token.split('.').collect();
    let kid = key.id.to_string();
    let header_of = |value: Json| serde_json::to_vec(&value).unwrap();

    let hostile = [
        String::new(),
        ".".into(),
        "..".into(),
        "a.b".into(),
        format!("{token}."),
        format!("{token}.{}", segments[2]),
        format!("{}=.{}.{}", segments[0], segments[1], segments[2]),
        format!("{}.{}.{}=", segments[0], segments[1], segments[2]),
        format!("{}.{}+.{}", segments[0], segments[1], segments[2]),
        format!(" {token}"),
        format!("{token}\n"),
        token.replace('.', ".."),
        "!!!.###.$$$".into(),
    ];
    for text in &hostile {
        assert!(is_unauthorized(fixture.signer.verify(keys, text, "at+jwt")), "{text:?}");
    }

    let validly_signed_but_bad = [
        (b"not json".to_vec(), serde_json::to_vec(&claims()).unwrap(), "header not JSON"),
        (b"[\"EdDSA\"]".to_vec(), serde_json::to_vec(&claims()).unwrap(), "header not an object"),
        (header_of(json!({ "alg": "EdDSA", "typ": "at+jwt" })), serde_json::to_vec(&claims()).unwrap(), "no kid"),
        (header_of(json!({ "kid": kid, "typ": "at+jwt" })), serde_json::to_vec(&claims()).unwrap(), "no alg"),
        (
            format!(r#"{{"alg":"EdDSA","kid":"{kid}","alg":"EdDSA"}}"#).into_bytes(),
            serde_json::to_vec(&claims()).unwrap(),
            "duplicate alg",
        ),
        (
            header_of(json!({ "alg": "EdDSA", "kid": kid, "crit": ["exp"], "exp": 1 })),
            serde_json::to_vec(&claims()).unwrap(),
            "crit",
        ),
        (header_of(json!({ "alg": "EdDSA", "kid": kid })), b"not json".to_vec(), "payload not JSON"),
        (header_of(json!({ "alg": "EdDSA", "kid": kid })), b"[1,2]".to_vec(), "payload not an object"),
        (header_of(json!({ "alg": "EdDSA", "kid": kid })), b"\"claims\"".to_vec(), "payload a string"),
    ];
    for (header, payload, why) in validly_signed_but_bad {
        let token = fixture.sign_raw_eddsa(&key, &header, &payload);
        assert!(is_unauthorized(fixture.signer.verify(keys, &token, "at+jwt")), "{why}");
    }
    // A header without the expected typ is refused (RFC 9068 §4: no token kind passes for another).
    let untyped = fixture.sign_raw_eddsa(&key, &header_of(json!({ "alg": "EdDSA", "kid": kid })), b"{}");
    assert!(is_unauthorized(fixture.signer.verify(keys, &untyped, "at+jwt")), "no typ");
    // Control: an unusual but valid header (extra fields) verifies.
    let token =
        fixture.sign_raw_eddsa(&key, &header_of(json!({ "alg": "EdDSA", "kid": kid, "typ": "at+jwt", "x": 1 })), b"{}");
    assert_eq!(fixture.signer.verify(keys, &token, "at+jwt").unwrap(), json!({}));
}

#[test]
fn tokens_over_16_kib_are_rejected_before_parsing() {
    let fixture = Fixture::new(11);
    let key = fixture.key(SigningAlgorithm::EdDsa);
    let keys = std::slice::from_ref(&key);
    let padding_for = |len: usize| json!({ "pad": "a".repeat(len) });
    // Find the largest padding that still fits, then go one byte over.
    let base = fixture.signer.sign(&key, "at+jwt", &padding_for(0)).unwrap().len();
    let mut fitting = (MAX_TOKEN_BYTES - base) * 3 / 4;
    while fixture.signer.sign(&key, "at+jwt", &padding_for(fitting + 1)).unwrap().len() <= MAX_TOKEN_BYTES {
        fitting += 1;
    }
    let fits = fixture.signer.sign(&key, "at+jwt", &padding_for(fitting)).unwrap();
    assert!(fits.len() <= MAX_TOKEN_BYTES);
    assert!(fixture.signer.verify(keys, &fits, "at+jwt").is_ok());
    let too_big = fixture.signer.sign(&key, "at+jwt", &padding_for(fitting + 1)).unwrap();
    assert!(too_big.len() > MAX_TOKEN_BYTES);
    assert!(is_unauthorized(fixture.signer.verify(keys, &too_big, "at+jwt")));
    assert!(is_unauthorized(fixture.signer.verify(keys, &"a".repeat(10 * 1024 * 1024), "at+jwt")));
}

#[test]
fn a_wrong_kek_cannot_decrypt_and_a_ciphertext_moved_to_another_key_fails() {
    let fixture = Fixture::new(12);
    let other = Fixture::new(13);
    for algorithm in ALL {
        let key = fixture.key(algorithm);
        let result = other.signer.sign(&key, "at+jwt", &claims());
        assert!(matches!(result, Err(Error::Unavailable(_))), "{algorithm:?}: {result:?}");
        assert!(other.kek.decrypt_private_key(key.organization_id, key.id, &key.encrypted_private_key).is_err());

        // The same KEK, but the ciphertext copied onto another key's row.
        let target = fixture.key(algorithm);
        let moved = SigningKey { encrypted_private_key: key.encrypted_private_key.clone(), ..target.clone() };
        let result = fixture.fresh_signer().sign(&moved, "at+jwt", &claims());
        assert!(matches!(result, Err(Error::Unavailable(_))), "{algorithm:?}: {result:?}");

        // Same key id under another organization.
        let other_org = SigningKey { organization_id: OrganizationId::from_uuid(uuid::Uuid::from_u128(7)), ..key };
        let result = fixture.fresh_signer().sign(&other_org, "at+jwt", &claims());
        assert!(matches!(result, Err(Error::Unavailable(_))), "{algorithm:?}: {result:?}");
    }
}

#[test]
fn a_public_jwk_that_does_not_match_the_private_key_refuses_to_sign() {
    let fixture = Fixture::new(14);
    let first = fixture.key(SigningAlgorithm::Es256);
    let second = fixture.key(SigningAlgorithm::Es256);
    let mut mismatched = first.clone();
    mismatched.public_jwk = second.public_jwk.clone();
    mismatched.public_jwk["kid"] = json!(first.id.to_string());
    let result = fixture.fresh_signer().sign(&mismatched, "at+jwt", &claims());
    assert!(matches!(result, Err(Error::Unavailable(_))), "{result:?}");
}

#[test]
fn a_private_key_is_decrypted_once_then_served_from_the_cache() {
    let fixture = Fixture::new(15);
    for algorithm in ALL {
        let key = fixture.key(algorithm);
        let signer = fixture.fresh_signer();
        signer.sign(&key, "at+jwt", &claims()).unwrap();
        // Destroy the ciphertext: the cached key still signs, so signing did
        // not decrypt again.
        let destroyed = SigningKey { encrypted_private_key: vec![0; 8], ..key.clone() };
        let token = signer.sign(&destroyed, "at+jwt", &claims()).unwrap();
        assert_eq!(signer.verify(std::slice::from_ref(&key), &token, "at+jwt").unwrap(), claims());
        // A signer without the cache entry must decrypt, and fails.
        assert!(matches!(fixture.fresh_signer().sign(&destroyed, "at+jwt", &claims()), Err(Error::Unavailable(_))));
        // After `forget`, the cache entry is gone.
        signer.forget(key.id);
        assert!(matches!(signer.sign(&destroyed, "at+jwt", &claims()), Err(Error::Unavailable(_))));
    }
}

#[test]
fn a_changed_public_jwk_under_a_cached_kid_is_not_trusted() {
    let fixture = Fixture::new(16);
    let key = fixture.key(SigningAlgorithm::EdDsa);
    let impostor = fixture.key(SigningAlgorithm::EdDsa);
    let token = fixture.signer.sign(&key, "at+jwt", &claims()).unwrap();
    assert!(fixture.signer.verify(std::slice::from_ref(&key), &token, "at+jwt").is_ok());
    // Same id, another public key: the verifier must use the key it is given.
    let swapped = SigningKey { public_jwk: impostor.public_jwk.clone(), ..key.clone() };
    assert!(is_unauthorized(fixture.signer.verify(std::slice::from_ref(&swapped), &token, "at+jwt")));
}

#[test]
fn a_jwk_of_the_wrong_type_for_the_algorithm_is_rejected() {
    let fixture = Fixture::new(17);
    let key = fixture.key(SigningAlgorithm::Es256);
    let token = fixture.signer.sign(&key, "at+jwt", &claims()).unwrap();
    for (field, value) in [("kty", json!("RSA")), ("crv", json!("P-384")), ("alg", json!("RS256"))] {
        let mut bent = key.clone();
        bent.public_jwk[field] = value;
        assert!(
            is_unauthorized(fixture.fresh_signer().verify(std::slice::from_ref(&bent), &token, "at+jwt")),
            "{field}"
        );
    }
}

#[test]
fn debug_output_reveals_no_key_material() {
    let fixture = Fixture::new(18);
    let key = fixture.key(SigningAlgorithm::EdDsa);
    fixture.signer.sign(&key, "at+jwt", &claims()).unwrap();
    let debug = format!("{:?}", fixture.signer);
    assert!(debug.contains("<redacted>"), "{debug}");
    assert!(!debug.contains(fixture.kek.expose_base64().as_str()));
}
