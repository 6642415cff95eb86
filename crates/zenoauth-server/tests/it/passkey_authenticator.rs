//! A software WebAuthn authenticator for the tests, written from the
//! specification (WebAuthn Level 2 §6, CTAP2 attestation `none`), not from
//! the server's code: ES256 (P-256) keys from aws-lc-rs, CBOR from ciborium.
//! It creates discoverable credentials with user verification, keeps a
//! signature counter, and answers `navigator.credentials.create/get`
//! options with the JSON a browser's `PublicKeyCredential` serialises to
//! (base64url fields), as the hosted pages' script posts it.
//!
//! (`webauthn-authenticator-rs`'s `SoftPasskey` cannot be used: it creates
//! no resident keys and returns no user handle, so it cannot sign in
//! without a password.)

use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ciborium::value::Value as Cbor;
use serde_json::{json, Value};

const USER_PRESENT: u8 = 0x01;
const USER_VERIFIED: u8 = 0x04;
const BACKUP_ELIGIBLE: u8 = 0x08;
const BACKUP_STATE: u8 = 0x10;
const ATTESTED_DATA: u8 = 0x40;

/// One credential the authenticator holds.
pub struct Credential {
    pub id: Vec<u8>,
    pub rp_id: String,
    pub user_handle: Vec<u8>,
    key: EcdsaKeyPair,
    counter: u32,
}

/// The authenticator: its credentials, and how it behaves.
pub struct Authenticator {
    pub credentials: Vec<Credential>,
    /// A synced passkey (backup eligible and backed up) rather than a device-bound one.
    pub synced: bool,
    /// Whether it claims user verification (a PIN or biometric was checked).
    pub verifies_user: bool,
    random: SystemRandom,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).expect("base64url")
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    digest(&SHA256, bytes).as_ref().to_vec()
}

impl Authenticator {
    pub fn new() -> Self {
        Self { credentials: Vec::new(), synced: false, verifies_user: true, random: SystemRandom::new() }
    }

    fn flags(&self) -> u8 {
        let mut flags = USER_PRESENT;
        if self.verifies_user {
            flags |= USER_VERIFIED;
        }
        if self.synced {
            flags |= BACKUP_ELIGIBLE | BACKUP_STATE;
        }
        flags
    }

    /// `navigator.credentials.create({publicKey})` from `origin`; `options`
    /// is the page's data block (`{"publicKey": …}`).
    pub fn create(&mut self, origin: &str, options: &Value) -> Value {
        let public_key = &options["publicKey"];
        let rp_id = public_key["rp"]["id"].as_str().expect("rp.id").to_owned();
        let user_handle = unb64(public_key["user"]["id"].as_str().expect("user.id"));
        let excluded: Vec<Vec<u8>> = public_key["excludeCredentials"]
            .as_array()
            .map(|list| list.iter().map(|item| unb64(item["id"].as_str().unwrap())).collect())
            .unwrap_or_default();
        assert!(
            !self.credentials.iter().any(|credential| excluded.contains(&credential.id)),
            "this authenticator already holds an excluded credential"
        );
        let client_data = json!({
            "type": "webauthn.create",
            "challenge": public_key["challenge"].as_str().expect("challenge"),
            "origin": origin,
            "crossOrigin": false,
        })
        .to_string();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &self.random).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        let point = key.public_key().as_ref().to_vec();
        assert_eq!((point.len(), point[0]), (65, 4), "uncompressed P-256 point");
        let cose_key = Cbor::Map(vec![
            (Cbor::Integer(1.into()), Cbor::Integer(2.into())),    // kty: EC2
            (Cbor::Integer(3.into()), Cbor::Integer((-7).into())), // alg: ES256
            (Cbor::Integer((-1).into()), Cbor::Integer(1.into())), // crv: P-256
            (Cbor::Integer((-2).into()), Cbor::Bytes(point[1..33].to_vec())),
            (Cbor::Integer((-3).into()), Cbor::Bytes(point[33..].to_vec())),
        ]);
        let mut id = vec![0u8; 32];
        aws_lc_rs::rand::SecureRandom::fill(&self.random, &mut id).unwrap();
        let mut auth_data = sha256(rp_id.as_bytes());
        auth_data.push(self.flags() | ATTESTED_DATA);
        auth_data.extend_from_slice(&0u32.to_be_bytes());
        auth_data.extend_from_slice(&[0u8; 16]); // AAGUID: none
        auth_data.extend_from_slice(&u16::try_from(id.len()).unwrap().to_be_bytes());
        auth_data.extend_from_slice(&id);
        ciborium::into_writer(&cose_key, &mut auth_data).unwrap();
        let attestation = Cbor::Map(vec![
            (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
            (Cbor::Text("attStmt".into()), Cbor::Map(vec![])),
            (Cbor::Text("authData".into()), Cbor::Bytes(auth_data)),
        ]);
        let mut attestation_object = Vec::new();
        ciborium::into_writer(&attestation, &mut attestation_object).unwrap();
        self.credentials.push(Credential { id: id.clone(), rp_id, user_handle, key, counter: 0 });
        json!({
            "id": b64(&id),
            "rawId": b64(&id),
            "type": "public-key",
            "response": {"attestationObject": b64(&attestation_object), "clientDataJSON": b64(client_data.as_bytes())},
            "extensions": {},
        })
    }

    /// `navigator.credentials.get({publicKey})` from `origin`: the first
    /// allowed credential, or (empty allow list) the first one for the RP.
    pub fn get(&mut self, origin: &str, options: &Value) -> Value {
        let public_key = &options["publicKey"];
        let rp_id = public_key["rpId"].as_str().expect("rpId").to_owned();
        let allowed: Vec<Vec<u8>> = public_key["allowCredentials"]
            .as_array()
            .map(|list| list.iter().map(|item| unb64(item["id"].as_str().unwrap())).collect())
            .unwrap_or_default();
        let index = self
            .credentials
            .iter()
            .position(|credential| {
                credential.rp_id == rp_id && (allowed.is_empty() || allowed.contains(&credential.id))
            })
            .expect("a credential for this request");
        self.sign(index, origin, public_key["challenge"].as_str().expect("challenge"), &rp_id)
    }

    /// An assertion by credential `index` over `challenge` (base64url), as
    /// a browser at `origin` would send it.
    pub fn sign(&mut self, index: usize, origin: &str, challenge: &str, rp_id: &str) -> Value {
        let flags = self.flags();
        let credential = &mut self.credentials[index];
        credential.counter += 1;
        let client_data = json!({
            "type": "webauthn.get",
            "challenge": challenge,
            "origin": origin,
            "crossOrigin": false,
        })
        .to_string();
        let mut auth_data = sha256(rp_id.as_bytes());
        auth_data.push(flags);
        auth_data.extend_from_slice(&credential.counter.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&sha256(client_data.as_bytes()));
        let signature = credential.key.sign(&self.random, &signed).unwrap();
        json!({
            "id": b64(&credential.id),
            "rawId": b64(&credential.id),
            "type": "public-key",
            "response": {
                "authenticatorData": b64(&auth_data),
                "clientDataJSON": b64(client_data.as_bytes()),
                "signature": b64(signature.as_ref()),
                "userHandle": b64(&credential.user_handle),
            },
            "extensions": {},
        })
    }
}
