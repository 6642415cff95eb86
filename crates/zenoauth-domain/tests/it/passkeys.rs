//! The passkey rules of `MultiFactor` over the memory store, with a fake
//! `PasskeyCeremonies` (the WebAuthn verification itself is webauthn-rs's,
//! tested end to end in the server's `mfa_passkeys` tests): a ceremony is
//! bound to its purpose, user and session and used once; a second-factor
//! answer only by the pending session's own passkeys; `amr`; removal of the
//! last factor; the per-user limit; inactive users.

use std::sync::Arc;

use serde_json::{json, Value as Json};
use time::Duration;
use uuid::Uuid;
use zenoauth_crypto::{CryptoMfa, CryptoOAuth, KeyEncryptionKey, OsRandom};
use zenoauth_domain::ids::{IdGenerator, OrganizationId};
use zenoauth_domain::mfa::passkeys::{
    CeremonyStart, PasskeyCeremonies, PasskeyCredential, PasskeyName, PasskeyOutcome, RegisteredPasskey, RelyingParty,
    VerifiedAssertion, MAX_PASSKEYS_PER_USER,
};
use zenoauth_domain::mfa::{MfaPorts, MultiFactor, PENDING_KEY};
use zenoauth_domain::model::{Organization, Session, User};
use zenoauth_domain::ports::{Clock, RandomSource, Stores};
use zenoauth_domain::security::audit::RecordingAuditSink;
use zenoauth_domain::testing::FixedClock;
use zenoauth_domain::values::{DisplayName, Email, SecretDigest, Slug};
use zenoauth_domain::{Error, Result};
use zenoauth_store_memory::MemoryDatabase;

/// Accepts what the test says is valid: `{"id", "user"?, "valid", "uv"?, "synced"?, "counter"?}`.
struct FakeCeremonies;

impl PasskeyCeremonies for FakeCeremonies {
    fn start_registration(&self, _: &RelyingParty, user: Uuid, _: &str, exclude: &[Vec<u8>]) -> Result<CeremonyStart> {
        Ok(CeremonyStart {
            options: json!({"exclude": exclude.len()}),
            state: json!({"kind": "registration", "user": user.to_string()}),
        })
    }

    fn finish_registration(
        &self,
        _: &RelyingParty,
        state: &Json,
        response: &Json,
    ) -> Result<Option<RegisteredPasskey>> {
        if state["kind"] != "registration" || response["valid"] != true {
            return Ok(None);
        }
        let id = response["id"].as_str().unwrap_or_default();
        Ok(Some(RegisteredPasskey {
            credential_id: id.as_bytes().to_vec(),
            passkey: json!({"id": id, "uses": 0}),
            backup_eligible: response["synced"] == true,
            backup_state: false,
            sign_count: 0,
        }))
    }

    fn start_authentication(&self, _: &RelyingParty, passkeys: &[Json]) -> Result<CeremonyStart> {
        Ok(CeremonyStart {
            options: json!({"allow": passkeys}),
            state: json!({"kind": "authentication", "allow": passkeys}),
        })
    }

    fn start_discoverable(&self, _: &RelyingParty) -> Result<CeremonyStart> {
        Ok(CeremonyStart { options: json!({}), state: json!({"kind": "discoverable"}) })
    }

    fn identify(&self, response: &Json) -> Option<(Vec<u8>, Option<Uuid>)> {
        let id = response["id"].as_str()?.as_bytes().to_vec();
        Some((id, response["user"].as_str().and_then(|user| Uuid::parse_str(user).ok())))
    }

    fn finish_authentication(
        &self,
        _: &RelyingParty,
        state: &Json,
        response: &Json,
        passkey: &Json,
    ) -> Result<Option<VerifiedAssertion>> {
        let allowed = match state["kind"].as_str() {
            Some("authentication") => state["allow"].as_array().is_some_and(|allow| allow.contains(passkey)),
            Some("discoverable") => true,
            _ => false,
        };
        if !allowed || response["valid"] != true {
            return Ok(None);
        }
        let counter = u32::try_from(response["counter"].as_u64().unwrap_or(1)).unwrap();
        Ok(Some(VerifiedAssertion {
            updated_passkey: json!({"id": passkey["id"], "uses": counter}),
            sign_count: counter,
            backup_state: false,
            user_verified: response["uv"] != false,
        }))
    }
}

struct World {
    stores: Stores,
    clock: Arc<FixedClock>,
    ids: IdGenerator,
    audit: Arc<RecordingAuditSink>,
    mfa: MultiFactor,
    organization: Organization,
    rp: RelyingParty,
}

async fn world() -> World {
    let stores = MemoryDatabase::new().stores();
    let random: Arc<dyn RandomSource> = Arc::new(OsRandom::new());
    let clock = Arc::new(FixedClock::at_unix(1_800_000_000));
    let ids = IdGenerator::new(clock.clone(), random.clone());
    let audit = Arc::new(RecordingAuditSink::new());
    let mfa = MultiFactor::new(
        stores.clone(),
        MfaPorts {
            crypto: Arc::new(CryptoMfa::new(KeyEncryptionKey::generate(random.as_ref()), random.clone())),
            ceremonies: Arc::new(FakeCeremonies),
            oauth_crypto: Arc::new(CryptoOAuth::new(random.clone())),
            clock: clock.clone(),
            random: random.clone(),
            audit: audit.clone(),
        },
    );
    let now = clock.now();
    let organization = Organization {
        id: ids.next(),
        slug: Slug::parse("acme").unwrap(),
        name: DisplayName::parse("Acme").unwrap(),
        settings: json!({}),
        created_at: now,
        updated_at: now,
    };
    stores.organizations.create(&organization).await.unwrap();
    let rp = RelyingParty {
        id: "id.example.com".to_owned(),
        origin: "https://id.example.com".to_owned(),
        name: "Acme".to_owned(),
    };
    World { stores, clock, ids, audit, mfa, organization, rp }
}

impl World {
    async fn user(&self, email: &str) -> User {
        let now = self.clock.now();
        let user = User {
            id: self.ids.next(),
            organization_id: self.organization.id,
            email: Email::parse(email).unwrap(),
            email_verified: true,
            password_hash: None,
            profile: json!({}),
            is_active: true,
            created_at: now,
            updated_at: now,
        };
        self.stores.users.create(&user).await.unwrap();
        user
    }

    /// A session of `user`; pending its challenge when `pending`.
    async fn session(&self, user: &User, pending: bool) -> Session {
        let now = self.clock.now();
        let mut metadata = json!({"amr": ["pwd"]});
        if pending {
            metadata[PENDING_KEY] = json!("challenge");
        }
        let mut digest = [0u8; 32];
        OsRandom::new().fill(&mut digest);
        let session = Session {
            id: self.ids.next(),
            organization_id: self.organization.id,
            user_id: user.id,
            token_digest: SecretDigest::from_bytes(digest),
            authenticated_at: now,
            created_at: now,
            expires_at: now + Duration::minutes(10),
            last_seen_at: now,
            metadata,
        };
        self.stores.sessions.create(&session).await.unwrap();
        session
    }

    async fn register(&self, user: &User, session: &Session, id: &str, synced: bool) -> PasskeyCredential {
        let started = self.mfa.begin_passkey_registration(&self.rp, user, session, "Key").await.unwrap();
        let response = json!({"id": id, "valid": true, "synced": synced});
        let (passkey, _) = self
            .mfa
            .finish_passkey_registration(&self.rp, session, &started.handle.plaintext, &response)
            .await
            .unwrap()
            .expect("registered");
        passkey
    }

    fn organization_id(&self) -> OrganizationId {
        self.organization.id
    }
}

#[tokio::test]
async fn a_registration_is_bound_to_its_session_and_used_once() {
    let world = world().await;
    let alice = world.user("alice@example.com").await;
    let first_tab = world.session(&alice, false).await;
    let second_tab = world.session(&alice, false).await;
    let response = json!({"id": "cred-1", "valid": true});

    // Begun in one session, it cannot be finished in another (and is used up by the attempt).
    let started = world.mfa.begin_passkey_registration(&world.rp, &alice, &first_tab, "Laptop").await.unwrap();
    let handle = started.handle.plaintext.clone();
    assert!(handle.starts_with("zpc_") && handle.len() == 68, "{handle}");
    let other = world.mfa.finish_passkey_registration(&world.rp, &second_tab, &handle, &response).await.unwrap();
    assert!(other.is_none());
    let again = world.mfa.finish_passkey_registration(&world.rp, &first_tab, &handle, &response).await.unwrap();
    assert!(again.is_none(), "single use");

    // A registration handle is not a sign-in handle.
    let started = world.mfa.begin_passkey_registration(&world.rp, &alice, &first_tab, "Laptop").await.unwrap();
    let handle = started.handle.plaintext;
    let signed_in =
        world.mfa.finish_passwordless(&world.rp, world.organization_id(), &handle, &response).await.unwrap();
    assert!(signed_in.is_none());

    // Finished where it began: stored with its name; the first factor brings recovery codes.
    let started = world.mfa.begin_passkey_registration(&world.rp, &alice, &first_tab, "  Laptop ").await.unwrap();
    let finished = world
        .mfa
        .finish_passkey_registration(&world.rp, &first_tab, &started.handle.plaintext, &response)
        .await
        .unwrap()
        .expect("registered");
    assert_eq!(finished.0.name.as_str(), "Laptop");
    assert_eq!(finished.1.map(|codes| codes.0.len()), Some(10));
    assert!(world.mfa.has_factor(world.organization_id(), alice.id).await.unwrap());
    // The next one excludes it and brings no new codes.
    let started = world.mfa.begin_passkey_registration(&world.rp, &alice, &first_tab, "Phone").await.unwrap();
    assert_eq!(started.options["exclude"], 1);
    let response = json!({"id": "cred-2", "valid": true});
    let second = world.mfa.finish_passkey_registration(&world.rp, &first_tab, &started.handle.plaintext, &response);
    assert!(second.await.unwrap().expect("registered").1.is_none());
    // The same credential twice: refused.
    let started = world.mfa.begin_passkey_registration(&world.rp, &alice, &first_tab, "Phone").await.unwrap();
    let duplicate = world.mfa.finish_passkey_registration(&world.rp, &first_tab, &started.handle.plaintext, &response);
    assert!(duplicate.await.unwrap().is_none());
    // An expired ceremony: refused.
    let started = world.mfa.begin_passkey_registration(&world.rp, &alice, &first_tab, "Tablet").await.unwrap();
    world.clock.advance(Duration::minutes(5));
    let late = json!({"id": "cred-3", "valid": true});
    let expired = world.mfa.finish_passkey_registration(&world.rp, &first_tab, &started.handle.plaintext, &late);
    assert!(expired.await.unwrap().is_none());
}

#[tokio::test]
async fn the_second_factor_takes_only_the_pending_users_own_passkey() {
    let world = world().await;
    let alice = world.user("alice@example.com").await;
    let bob = world.user("bob@example.com").await;
    let alice_session = world.session(&alice, false).await;
    let bob_session = world.session(&bob, false).await;
    world.register(&alice, &alice_session, "alice-key", false).await;
    world.register(&bob, &bob_session, "bob-key", true).await;

    let pending = world.session(&alice, true).await;
    let elsewhere = world.session(&alice, true).await;
    let answer = |id: &str, user: &User| json!({"id": id, "user": user.id.to_string(), "valid": true, "counter": 3});
    // Bob's passkey (valid for Bob) does not answer Alice's challenge.
    let started = world.mfa.begin_passkey_challenge(&world.rp, &pending).await.unwrap().unwrap();
    let response = answer("bob-key", &bob);
    let outcome = world.mfa.answer_passkey_challenge(&world.rp, &pending, &started.handle.plaintext, &response);
    assert!(matches!(outcome.await.unwrap(), PasskeyOutcome::Refused));
    // A ceremony of one pending session does not serve another.
    let started = world.mfa.begin_passkey_challenge(&world.rp, &pending).await.unwrap().unwrap();
    let response = answer("alice-key", &alice);
    let outcome = world.mfa.answer_passkey_challenge(&world.rp, &elsewhere, &started.handle.plaintext, &response);
    assert!(matches!(outcome.await.unwrap(), PasskeyOutcome::Refused));
    // Without user verification: refused.
    let started = world.mfa.begin_passkey_challenge(&world.rp, &pending).await.unwrap().unwrap();
    let mut unverified = answer("alice-key", &alice);
    unverified["uv"] = json!(false);
    let outcome = world.mfa.answer_passkey_challenge(&world.rp, &pending, &started.handle.plaintext, &unverified);
    assert!(matches!(outcome.await.unwrap(), PasskeyOutcome::Refused));
    // Her own: a new full session with the passkey's amr; counter and record updated.
    let started = world.mfa.begin_passkey_challenge(&world.rp, &pending).await.unwrap().unwrap();
    let response = answer("alice-key", &alice);
    let outcome = world.mfa.answer_passkey_challenge(&world.rp, &pending, &started.handle.plaintext, &response);
    let PasskeyOutcome::Passed { session, .. } = outcome.await.unwrap() else { panic!("refused") };
    assert_ne!(session.id, pending.id);
    assert_eq!(session.metadata["amr"], json!(["pwd", "hwk", "user", "mfa"]));
    assert!(session.metadata.get(PENDING_KEY).is_none());
    let stored = world.stores.passkeys.find_credential(world.organization_id(), b"alice-key").await.unwrap().unwrap();
    assert_eq!(
        (stored.sign_count, stored.passkey["uses"].as_u64(), stored.last_used_at),
        (3, Some(3), Some(world.clock.now()))
    );
    let failed = world.audit.event_types().iter().filter(|kind| kind.as_str() == "mfa.failed").count();
    assert_eq!(failed, 3);

    // A user without passkeys is offered none.
    let carol = world.user("carol@example.com").await;
    let carols = world.session(&carol, true).await;
    assert!(world.mfa.begin_passkey_challenge(&world.rp, &carols).await.unwrap().is_none());
    assert!(!world.mfa.offers_passkey(&carols).await.unwrap());
}

#[tokio::test]
async fn passwordless_names_an_active_user_by_their_own_passkey() {
    let world = world().await;
    let alice = world.user("alice@example.com").await;
    let bob = world.user("bob@example.com").await;
    let session = world.session(&alice, false).await;
    world.register(&alice, &session, "alice-key", true).await;
    let organization = world.organization_id();
    let sign_in = |response: Json| {
        let world = &world;
        async move {
            let started = world.mfa.begin_passwordless(&world.rp, organization).await.unwrap();
            world.mfa.finish_passwordless(&world.rp, organization, &started.handle.plaintext, &response).await.unwrap()
        }
    };
    let (user, amr) = sign_in(json!({"id": "alice-key", "user": alice.id.to_string(), "valid": true})).await.unwrap();
    assert_eq!((user.id, amr), (alice.id, vec!["swk", "user", "mfa"]));
    // No user handle, or another user's: refused.
    assert!(sign_in(json!({"id": "alice-key", "valid": true})).await.is_none());
    assert!(sign_in(json!({"id": "alice-key", "user": bob.id.to_string(), "valid": true})).await.is_none());
    assert!(sign_in(json!({"id": "unknown", "user": alice.id.to_string(), "valid": true})).await.is_none());
    // An inactive user: refused.
    let mut inactive = alice.clone();
    inactive.is_active = false;
    world.stores.users.update(&inactive).await.unwrap();
    assert!(sign_in(json!({"id": "alice-key", "user": alice.id.to_string(), "valid": true})).await.is_none());
    // Another organization does not know the credential.
    let started = world.mfa.begin_passwordless(&world.rp, organization).await.unwrap();
    let other: OrganizationId = world.ids.next();
    let response = json!({"id": "alice-key", "user": alice.id.to_string(), "valid": true});
    assert!(world
        .mfa
        .finish_passwordless(&world.rp, other, &started.handle.plaintext, &response)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn removing_the_last_factor_takes_the_recovery_codes_and_the_limit_holds() {
    let world = world().await;
    let alice = world.user("alice@example.com").await;
    let session = world.session(&alice, false).await;
    let first = world.register(&alice, &session, "one", false).await;
    let second = world.register(&alice, &session, "two", false).await;
    let organization = world.organization_id();
    assert!(world.mfa.rename_passkey(organization, alice.id, first.id, "Work laptop").await.unwrap());
    assert!(matches!(
        world.mfa.rename_passkey(organization, alice.id, first.id, "").await,
        Err(Error::InvalidInput(_))
    ));
    assert!(world.mfa.remove_passkey(organization, alice.id, first.id).await.unwrap());
    assert_eq!(world.mfa.remaining_recovery_codes(organization, alice.id).await.unwrap(), 10, "another factor is left");
    assert!(world.mfa.remove_passkey(organization, alice.id, second.id).await.unwrap());
    assert_eq!(world.mfa.remaining_recovery_codes(organization, alice.id).await.unwrap(), 0);
    assert!(!world.mfa.has_factor(organization, alice.id).await.unwrap());
    assert!(!world.mfa.remove_passkey(organization, alice.id, second.id).await.unwrap());
    let removed: Vec<_> = world.audit.events().into_iter().filter(|event| event.event_type == "mfa.removed").collect();
    assert_eq!(removed.len(), 2);
    assert!(removed.iter().all(|event| event.data["method"] == "webauthn"));

    // At most MAX_PASSKEYS_PER_USER.
    for index in 0..MAX_PASSKEYS_PER_USER {
        let credential = PasskeyCredential {
            id: world.ids.uuid(),
            organization_id: organization,
            user_id: alice.id,
            credential_id: format!("bulk-{index}").into_bytes(),
            name: PasskeyName::parse("Key").unwrap(),
            passkey: json!({}),
            backup_eligible: false,
            backup_state: false,
            sign_count: 0,
            created_at: world.clock.now(),
            last_used_at: None,
        };
        world.stores.passkeys.create_credential(&credential).await.unwrap();
    }
    let refused = world.mfa.begin_passkey_registration(&world.rp, &alice, &session, "One more").await;
    assert!(matches!(refused, Err(Error::Conflict("passkey_limit"))), "{refused:?}");
    // Turning two-step verification off removes every passkey.
    assert!(world.mfa.remove(organization, alice.id).await.unwrap());
    assert!(world.mfa.passkeys(organization, alice.id).await.unwrap().is_empty());
}

/// A new pending login of `user` whose passkey challenge is answered with `response`.
async fn answer_in_a_new_login(world: &World, user: &User, response: Json) -> PasskeyOutcome {
    let pending = world.session(user, true).await;
    let started = world.mfa.begin_passkey_challenge(&world.rp, &pending).await.unwrap().unwrap();
    world.mfa.answer_passkey_challenge(&world.rp, &pending, &started.handle.plaintext, &response).await.unwrap()
}

#[tokio::test]
async fn a_counter_that_did_not_advance_is_refused_as_a_possible_clone() {
    let world = world().await;
    let alice = world.user("alice@example.com").await;
    let session = world.session(&alice, false).await;
    world.register(&alice, &session, "alice-key", false).await;
    let organization = world.organization_id();
    let answer =
        |counter: u32| json!({"id": "alice-key", "user": alice.id.to_string(), "valid": true, "counter": counter});
    let challenge = |counter: u32| answer_in_a_new_login(&world, &alice, answer(counter));
    assert!(matches!(challenge(5).await, PasskeyOutcome::Passed { .. }));
    // A second assertion with the same (or a lower) counter — a concurrent use that read the same stored
    // count, or a clone — verifies but does not advance the counter: refused and counted like a wrong code.
    assert!(matches!(challenge(5).await, PasskeyOutcome::Refused));
    assert!(matches!(challenge(4).await, PasskeyOutcome::Refused));
    let stored = world.stores.passkeys.find_credential(organization, b"alice-key").await.unwrap().unwrap();
    assert_eq!((stored.sign_count, stored.passkey["uses"].as_u64()), (5, Some(5)), "the record is unchanged");
    let failed: Vec<_> = world.audit.events().into_iter().filter(|event| event.event_type == "mfa.failed").collect();
    assert_eq!(failed.len(), 2);
    assert!(failed.iter().all(|event| event.data["reason"] == "counter" && event.data["factor"] == "webauthn"));
    assert_eq!(failed[1].data["failures"], 2, "counted towards the challenge's lock");
    // Passwordless: refused alike, audited against the credential's user.
    let started = world.mfa.begin_passwordless(&world.rp, organization).await.unwrap();
    let stale = answer(5);
    let signed_in = world.mfa.finish_passwordless(&world.rp, organization, &started.handle.plaintext, &stale);
    assert!(signed_in.await.unwrap().is_none());
    let last = world.audit.events().pop().unwrap();
    assert_eq!((last.event_type.as_str(), &last.data["reason"]), ("mfa.failed", &json!("counter")));
    assert_eq!(last.data["passwordless"], true);
    // An authenticator without a counter (always 0) is accepted; a pass clears the failure count.
    assert!(matches!(challenge(0).await, PasskeyOutcome::Passed { .. }));
    assert!(matches!(challenge(0).await, PasskeyOutcome::Passed { .. }));
    let key = format!("mfa:{}", alice.id);
    assert_eq!(world.stores.login_attempts.find(organization, &key).await.unwrap(), None);
}

#[tokio::test]
async fn a_locked_challenge_refuses_even_a_valid_passkey() {
    let world = world().await;
    let alice = world.user("alice@example.com").await;
    let session = world.session(&alice, false).await;
    world.register(&alice, &session, "alice-key", false).await;
    let pending = world.session(&alice, true).await;
    // Five wrong codes lock the challenge (and end this pending session).
    for _ in 0..5 {
        world.mfa.answer_challenge(&pending, "000000").await.unwrap();
    }
    let pending = world.session(&alice, true).await;
    let started = world.mfa.begin_passkey_challenge(&world.rp, &pending).await.unwrap().unwrap();
    let response = json!({"id": "alice-key", "user": alice.id.to_string(), "valid": true, "counter": 1});
    let outcome = world.mfa.answer_passkey_challenge(&world.rp, &pending, &started.handle.plaintext, &response);
    assert!(matches!(outcome.await.unwrap(), PasskeyOutcome::Locked));
    let digest = pending.token_digest;
    let found = world.stores.sessions.find_by_token_digest(pending.organization_id, &digest, world.clock.now());
    assert!(found.await.unwrap().is_none(), "the pending session ended");
    let stored = world.stores.passkeys.find_credential(world.organization_id(), b"alice-key").await.unwrap().unwrap();
    assert_eq!(stored.last_used_at, None, "not even verified");
}

#[tokio::test]
async fn adding_a_passkey_needs_a_sign_in_at_most_five_minutes_old() {
    let world = world().await;
    let alice = world.user("alice@example.com").await;
    let session = world.session(&alice, false).await;
    world.clock.advance(Duration::minutes(5) + Duration::seconds(1));
    let refused = world.mfa.begin_passkey_registration(&world.rp, &alice, &session, "Late").await;
    assert!(matches!(refused, Err(Error::Unauthorized)), "{refused:?}");

    // Begun within the window, finished after it: the ceremony's own lifetime bounds the finish.
    let session = world.session(&alice, false).await;
    world.clock.advance(Duration::minutes(5));
    let started = world.mfa.begin_passkey_registration(&world.rp, &alice, &session, "Edge").await.unwrap();
    world.clock.advance(Duration::minutes(2));
    let response = json!({"id": "edge-key", "valid": true});
    let finished = world.mfa.finish_passkey_registration(&world.rp, &session, &started.handle.plaintext, &response);
    assert!(finished.await.unwrap().is_some());
}
