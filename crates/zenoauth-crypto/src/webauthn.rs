//! [`WebauthnPasskeys`]: the domain's `PasskeyCeremonies` port over
//! `webauthn-rs` (0.6): registration and authentication ceremonies of
//! passkeys, user verification required, attestation `none`.
//!
//! The relying party (RP ID, origin, name) comes with every call, so one
//! adapter serves every organization; building `webauthn-rs`'s `Webauthn`
//! for it is cheap (no keys, no I/O). Ceremony state and credential records
//! cross the port as JSON (`webauthn-rs`'s own serialisation, tagged with
//! the ceremony kind), so the domain and the stores never see its types.
//! `webauthn-rs` draws challenges from the OS RNG itself (RustCrypto's
//! `rand`, through `crypto-glue`): the one reader of randomness besides
//! [`crate::OsRandom`].

use serde_json::{json, Value as Json};
use webauthn_rs::prelude::{
    CreationChallengeResponse, DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse, Url, Uuid, Webauthn, WebauthnBuilder,
};
use zenoauth_domain::mfa::passkeys::{
    CeremonyStart, PasskeyCeremonies, RegisteredPasskey, RelyingParty, VerifiedAssertion,
};
use zenoauth_domain::{Error, Result};

const REGISTRATION: &str = "registration";
const AUTHENTICATION: &str = "authentication";
const DISCOVERABLE: &str = "discoverable";

/// The `PasskeyCeremonies` adapter (stateless).
#[derive(Debug, Clone, Copy, Default)]
pub struct WebauthnPasskeys;

impl WebauthnPasskeys {
    pub const fn new() -> Self {
        Self
    }
}

/// Why the adapter itself failed (never a refused response).
#[derive(Debug, thiserror::Error)]
#[error("webauthn: {0}")]
struct WebauthnFailure(String);

fn failure(what: impl std::fmt::Display) -> Error {
    Error::unavailable(WebauthnFailure(what.to_string()))
}

fn relying_party(rp: &RelyingParty) -> Result<Webauthn> {
    let origin = Url::parse(&rp.origin).map_err(failure)?;
    WebauthnBuilder::new(&rp.id, &origin).map_err(failure)?.rp_name(&rp.name).build().map_err(failure)
}

fn to_json(value: &impl serde::Serialize) -> Result<Json> {
    serde_json::to_value(value).map_err(failure)
}

/// The tagged state: `{"kind": …, "state": …}`.
fn tagged(kind: &str, state: &impl serde::Serialize) -> Result<Json> {
    Ok(json!({"kind": kind, "state": to_json(state)?}))
}

fn untag<T: serde::de::DeserializeOwned>(kind: &str, state: &Json) -> Option<T> {
    if state.get("kind").and_then(Json::as_str) != Some(kind) {
        return None;
    }
    serde_json::from_value(state.get("state")?.clone()).ok()
}

/// Counter and backup flags of a stored passkey record.
fn flags(passkey: &Json) -> Option<(u32, bool, bool)> {
    let credential = passkey.get("cred")?;
    let counter = u32::try_from(credential.get("counter")?.as_u64()?).ok()?;
    Some((counter, credential.get("backup_eligible")?.as_bool()?, credential.get("backup_state")?.as_bool()?))
}

impl PasskeyCeremonies for WebauthnPasskeys {
    fn start_registration(
        &self,
        rp: &RelyingParty,
        user_handle: uuid::Uuid,
        user_name: &str,
        exclude: &[Vec<u8>],
    ) -> Result<CeremonyStart> {
        let webauthn = relying_party(rp)?;
        let exclude = (!exclude.is_empty()).then(|| exclude.to_vec());
        let handle = Uuid::from_bytes(user_handle.into_bytes());
        let (options, state): (CreationChallengeResponse, PasskeyRegistration) =
            webauthn.start_passkey_registration(handle, user_name, user_name, exclude).map_err(failure)?;
        let mut options = to_json(&options)?;
        // A passkey must be discoverable to sign in without a password:
        // ask for a resident key (webauthn-rs 0.6 leaves it "discouraged").
        if let Some(selection) = options.pointer_mut("/publicKey/authenticatorSelection").and_then(Json::as_object_mut)
        {
            selection.insert("residentKey".to_owned(), json!("required"));
            selection.insert("requireResidentKey".to_owned(), json!(true));
        }
        Ok(CeremonyStart { options, state: tagged(REGISTRATION, &state)? })
    }

    fn finish_registration(
        &self,
        rp: &RelyingParty,
        state: &Json,
        response: &Json,
    ) -> Result<Option<RegisteredPasskey>> {
        let webauthn = relying_party(rp)?;
        let Some(state) = untag::<PasskeyRegistration>(REGISTRATION, state) else {
            return Ok(None);
        };
        let Ok(response) = serde_json::from_value::<RegisterPublicKeyCredential>(response.clone()) else {
            return Ok(None);
        };
        let Ok(passkey) = webauthn.finish_passkey_registration(&response, &state) else {
            return Ok(None);
        };
        let record = to_json(&passkey)?;
        let (sign_count, backup_eligible, backup_state) =
            flags(&record).ok_or_else(|| failure("unexpected passkey record"))?;
        Ok(Some(RegisteredPasskey {
            credential_id: passkey.cred_id().to_vec(),
            passkey: record,
            backup_eligible,
            backup_state,
            sign_count,
        }))
    }

    fn start_authentication(&self, rp: &RelyingParty, passkeys: &[Json]) -> Result<CeremonyStart> {
        let webauthn = relying_party(rp)?;
        let passkeys: Vec<Passkey> = passkeys
            .iter()
            .map(|record| serde_json::from_value(record.clone()).map_err(failure))
            .collect::<Result<_>>()?;
        let (options, state): (RequestChallengeResponse, PasskeyAuthentication) =
            webauthn.start_passkey_authentication(&passkeys).map_err(failure)?;
        Ok(CeremonyStart { options: to_json(&options)?, state: tagged(AUTHENTICATION, &state)? })
    }

    fn start_discoverable(&self, rp: &RelyingParty) -> Result<CeremonyStart> {
        let webauthn = relying_party(rp)?;
        let (options, state): (RequestChallengeResponse, DiscoverableAuthentication) =
            webauthn.start_discoverable_authentication().map_err(failure)?;
        let mut options = to_json(&options)?;
        // webauthn-rs marks these options for conditional mediation
        // (autofill); the login page asks from a button instead.
        if let Some(object) = options.as_object_mut() {
            object.remove("mediation");
        }
        Ok(CeremonyStart { options, state: tagged(DISCOVERABLE, &state)? })
    }

    fn identify(&self, response: &Json) -> Option<(Vec<u8>, Option<uuid::Uuid>)> {
        let response = serde_json::from_value::<PublicKeyCredential>(response.clone()).ok()?;
        let user = match response.get_user_unique_id() {
            None => None,
            Some(bytes) => Some(uuid::Uuid::from_slice(bytes).ok()?),
        };
        Some((response.get_credential_id().to_vec(), user))
    }

    fn finish_authentication(
        &self,
        rp: &RelyingParty,
        state: &Json,
        response: &Json,
        passkey: &Json,
    ) -> Result<Option<VerifiedAssertion>> {
        let webauthn = relying_party(rp)?;
        let Ok(mut record) = serde_json::from_value::<Passkey>(passkey.clone()) else {
            return Err(failure("unreadable passkey record"));
        };
        let Ok(response) = serde_json::from_value::<PublicKeyCredential>(response.clone()) else {
            return Ok(None);
        };
        let result = if let Some(state) = untag::<PasskeyAuthentication>(AUTHENTICATION, state) {
            webauthn.finish_passkey_authentication(&response, &state)
        } else if let Some(state) = untag::<DiscoverableAuthentication>(DISCOVERABLE, state) {
            webauthn.finish_discoverable_authentication_v2(&response, state, &record)
        } else {
            return Ok(None);
        };
        let Ok(result) = result else {
            return Ok(None);
        };
        if result.cred_id().as_slice() != record.cred_id().as_slice() {
            return Ok(None);
        }
        // Counter (a regression is refused by webauthn-rs) and backup state.
        record.update_credential(&result);
        let updated = to_json(&record)?;
        let (sign_count, _, backup_state) = flags(&updated).ok_or_else(|| failure("unexpected passkey record"))?;
        Ok(Some(VerifiedAssertion {
            updated_passkey: updated,
            sign_count,
            backup_state,
            user_verified: result.user_verified(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rp() -> RelyingParty {
        RelyingParty {
            id: "login.example.com".to_owned(),
            origin: "https://login.example.com".to_owned(),
            name: "Acme".to_owned(),
        }
    }

    #[test]
    fn registration_asks_for_a_discoverable_credential_with_user_verification() {
        let start =
            WebauthnPasskeys::new().start_registration(&rp(), uuid::Uuid::nil(), "ada@example.com", &[]).unwrap();
        let selection = &start.options["publicKey"]["authenticatorSelection"];
        assert_eq!(selection["residentKey"], "required");
        assert_eq!(selection["userVerification"], "required");
        assert_eq!(start.options["publicKey"]["rp"]["id"], "login.example.com");
        assert_eq!(start.state["kind"], REGISTRATION);
    }

    #[test]
    fn an_ip_address_is_no_relying_party() {
        let rp = RelyingParty {
            id: "127.0.0.1".to_owned(),
            origin: "http://127.0.0.1:8080".to_owned(),
            name: "x".to_owned(),
        };
        assert!(WebauthnPasskeys::new().start_discoverable(&rp).is_err());
    }

    #[test]
    fn a_state_of_another_kind_is_refused() {
        let ceremonies = WebauthnPasskeys::new();
        let start = ceremonies.start_discoverable(&rp()).unwrap();
        assert!(start.options.get("mediation").is_none());
        let refused = ceremonies.finish_registration(&rp(), &start.state, &json!({})).unwrap();
        assert!(refused.is_none());
    }
}
