//! Builders for valid entities with fresh ids, fixed timestamps and the
//! assertions the contracts share.

use std::fmt::Debug;
use std::sync::atomic::{AtomicI64, Ordering};

use serde_json::json;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use zenoauth_domain::ids::uuid_v7_at;
use zenoauth_domain::model::{
    Application, AuditEvent, AuthorizationCode, ClientType, CodeChallenge, KeyState, Organization, RefreshToken,
    RefreshTokenFamily, Revocation, Session, SigningAlgorithm, SigningKey, User,
};
use zenoauth_domain::ports::{PageRequest, RandomSource, Stores};
use zenoauth_domain::testing::SeededRandom;
use zenoauth_domain::values::{ClientId, DisplayName, Email, PasswordHash, RedirectUri, ScopeSet, SecretDigest, Slug};
use zenoauth_domain::{Error, Result};

/// The instant every contract's timeline starts from (whole seconds, so every
/// store keeps it exactly).
pub const T0: OffsetDateTime = datetime!(2030-01-01 00:00:00 UTC);

/// `seconds` after [`T0`].
pub fn at(seconds: i64) -> OffsetDateTime {
    T0 + Duration::seconds(seconds)
}

/// Makes ids, digests and entities for one contract. Seeded by the contract's
/// name, so two contracts never make the same ids, and reruns are reproducible.
#[derive(Debug)]
pub struct Fixture {
    random: SeededRandom,
    tick: AtomicI64,
}

impl Fixture {
    pub fn new(contract: &str) -> Self {
        // FNV-1a of the contract name.
        let seed = contract
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3));
        Self { random: SeededRandom::new(seed), tick: AtomicI64::new(0) }
    }

    /// A fresh UUIDv7, greater than every one this fixture made before.
    pub fn uuid(&self) -> Uuid {
        let tick = self.tick.fetch_add(1, Ordering::Relaxed);
        uuid_v7_at(T0 + Duration::milliseconds(tick), &self.random)
    }

    pub fn id<T: From<Uuid>>(&self) -> T {
        T::from(self.uuid())
    }

    pub fn digest(&self) -> SecretDigest {
        let mut bytes = [0u8; 32];
        self.random.fill(&mut bytes);
        SecretDigest::from_bytes(bytes)
    }

    /// A short random lower-case hex word, for globally unique slugs.
    pub fn word(&self) -> String {
        let mut bytes = [0u8; 6];
        self.random.fill(&mut bytes);
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn organization(&self) -> Organization {
        let slug = Slug::parse(&format!("org-{}", self.word())).unwrap();
        Organization {
            id: self.id(),
            name: DisplayName::parse(&format!("Organization {slug}")).unwrap(),
            slug,
            settings: json!({"branding": {"color": "#336699"}, "mfa_required": false, "max_sessions": 5}),
            created_at: at(0),
            updated_at: at(1),
        }
    }

    pub fn user(&self, organization: &Organization, email: &str) -> User {
        User {
            id: self.id(),
            organization_id: organization.id,
            email: Email::parse(email).unwrap(),
            email_verified: true,
            password_hash: Some(
                PasswordHash::parse("$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA").unwrap(),
            ),
            profile: json!({"given_name": "Ada", "locale": "en", "age": 36, "admin": false}),
            is_active: true,
            created_at: at(2),
            updated_at: at(3),
        }
    }

    pub fn application(&self, organization: &Organization, client_id: &str) -> Application {
        Application {
            id: self.id(),
            organization_id: organization.id,
            client_id: ClientId::parse(client_id).unwrap(),
            name: DisplayName::parse("Example app").unwrap(),
            client_type: ClientType::Confidential { secret_digest: self.digest() },
            redirect_uris: vec![
                RedirectUri::parse("https://app.example.com/callback").unwrap(),
                RedirectUri::parse("http://127.0.0.1:8080/cb").unwrap(),
            ],
            allowed_scopes: ScopeSet::parse("openid profile email offline_access").unwrap(),
            settings: json!({"grant_types": ["authorization_code", "refresh_token"], "access_token_ttl": 300}),
            created_at: at(4),
            updated_at: at(5),
        }
    }

    pub fn session(&self, user: &User, expires_at: OffsetDateTime) -> Session {
        Session {
            id: self.id(),
            organization_id: user.organization_id,
            user_id: user.id,
            token_digest: self.digest(),
            authenticated_at: at(6),
            created_at: at(7),
            expires_at,
            last_seen_at: at(8),
            metadata: json!({"ip": "192.0.2.1", "user_agent": "test", "amr": ["pwd"]}),
        }
    }

    pub fn code(
        &self,
        application: &Application,
        user: &User,
        session: Option<&Session>,
        expires_at: OffsetDateTime,
    ) -> AuthorizationCode {
        AuthorizationCode {
            id: self.id(),
            organization_id: application.organization_id,
            code_digest: self.digest(),
            application_id: application.id,
            user_id: user.id,
            session_id: session.map(|session| session.id),
            redirect_uri: application.redirect_uris[0].clone(),
            scope: ScopeSet::parse("openid profile").unwrap(),
            code_challenge: CodeChallenge::parse_s256("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM").unwrap(),
            nonce: Some("n-0S6_WzA2Mj".to_owned()),
            auth_time: at(6),
            created_at: at(8),
            expires_at,
            consumed_at: None,
        }
    }

    /// A family (of `application`, for `user`'s grant if any) with its first token.
    pub fn family(
        &self,
        application: &Application,
        user: Option<&User>,
        session: Option<&Session>,
        code: Option<&AuthorizationCode>,
        expires_at: OffsetDateTime,
    ) -> (RefreshTokenFamily, RefreshToken) {
        let family = RefreshTokenFamily {
            id: self.id(),
            organization_id: application.organization_id,
            application_id: application.id,
            user_id: user.map(|user| user.id),
            session_id: session.map(|session| session.id),
            authorization_code_id: code.map(|code| code.id),
            scope: ScopeSet::parse("openid offline_access").unwrap(),
            auth_time: user.map(|_| at(6)),
            created_at: at(9),
            expires_at,
            revoked_at: None,
        };
        let first = RefreshToken {
            token_digest: self.digest(),
            family_id: family.id,
            organization_id: family.organization_id,
            created_at: at(9),
            expires_at,
            rotated_at: None,
        };
        (family, first)
    }

    pub fn revocation(&self, organization: &Organization, jti: &str, expires_at: OffsetDateTime) -> Revocation {
        Revocation { organization_id: organization.id, jti: jti.to_owned(), revoked_at: at(10), expires_at }
    }

    pub fn signing_key(
        &self,
        organization: &Organization,
        algorithm: SigningAlgorithm,
        created_at: OffsetDateTime,
    ) -> SigningKey {
        let id: zenoauth_domain::ids::SigningKeyId = self.id();
        let mut private = [0u8; 48];
        self.random.fill(&mut private);
        SigningKey {
            id,
            organization_id: organization.id,
            algorithm,
            state: KeyState::Active,
            public_jwk: json!({"kty": "OKP", "crv": "Ed25519", "x": self.word(), "kid": id.to_string()}),
            encrypted_private_key: private.to_vec(),
            created_at,
            retired_at: None,
            expires_at: None,
        }
    }

    pub fn audit_event(
        &self,
        organization: &Organization,
        event_type: &str,
        occurred_at: OffsetDateTime,
    ) -> AuditEvent {
        AuditEvent {
            id: self.id(),
            organization_id: organization.id,
            occurred_at,
            event_type: event_type.to_owned(),
            actor: Some("system".to_owned()),
            subject: Some("user:1".to_owned()),
            correlation_id: Some(self.word()),
            ip: Some("2001:db8::1".to_owned()),
            user_agent: Some("Mozilla/5.0".to_owned()),
            data: json!({"before": {"is_active": true}, "after": {"is_active": false}}),
        }
    }

    // Creators: build and store, for contracts that only need the row to exist.

    pub async fn create_organization(&self, stores: &Stores) -> Organization {
        let organization = self.organization();
        stores.organizations.create(&organization).await.unwrap();
        organization
    }

    pub async fn create_user(&self, stores: &Stores, organization: &Organization, email: &str) -> User {
        let user = self.user(organization, email);
        stores.users.create(&user).await.unwrap();
        user
    }

    pub async fn create_application(
        &self,
        stores: &Stores,
        organization: &Organization,
        client_id: &str,
    ) -> Application {
        let application = self.application(organization, client_id);
        stores.applications.create(&application).await.unwrap();
        application
    }

    pub async fn create_session(&self, stores: &Stores, user: &User, expires_at: OffsetDateTime) -> Session {
        let session = self.session(user, expires_at);
        stores.sessions.create(&session).await.unwrap();
        session
    }

    pub async fn create_code(
        &self,
        stores: &Stores,
        application: &Application,
        user: &User,
        session: Option<&Session>,
        expires_at: OffsetDateTime,
    ) -> AuthorizationCode {
        let code = self.code(application, user, session, expires_at);
        stores.authorization_codes.create(&code).await.unwrap();
        code
    }

    pub async fn create_family(
        &self,
        stores: &Stores,
        application: &Application,
        user: Option<&User>,
        session: Option<&Session>,
        code: Option<&AuthorizationCode>,
        expires_at: OffsetDateTime,
    ) -> (RefreshTokenFamily, RefreshToken) {
        let (family, first) = self.family(application, user, session, code, expires_at);
        stores.refresh_tokens.create_family(&family, &first).await.unwrap();
        (family, first)
    }

    pub async fn create_signing_key(
        &self,
        stores: &Stores,
        organization: &Organization,
        algorithm: SigningAlgorithm,
        created_at: OffsetDateTime,
    ) -> SigningKey {
        let key = self.signing_key(organization, algorithm, created_at);
        stores.signing_keys.create(&key).await.unwrap();
        key
    }
}

/// A page of at most `limit` from the start.
pub fn first(limit: u32) -> PageRequest {
    PageRequest::new(None, limit).unwrap()
}

/// A page of at most `limit` after `after`.
pub fn after(after: impl Into<Uuid>, limit: u32) -> PageRequest {
    PageRequest::new(Some(after.into()), limit).unwrap()
}

#[track_caller]
pub fn assert_not_found<T: Debug>(result: Result<T>, what: &str) {
    match result {
        Err(Error::NotFound(found)) => assert_eq!(found, what, "NotFound names the wrong thing"),
        other => panic!("expected NotFound({what:?}), got {other:?}"),
    }
}

#[track_caller]
pub fn assert_conflict<T: Debug>(result: Result<T>, rule: &str) {
    match result {
        Err(Error::Conflict(found)) => assert_eq!(found, rule, "Conflict names the wrong rule"),
        other => panic!("expected Conflict({rule:?}), got {other:?}"),
    }
}

#[track_caller]
pub fn assert_invalid_grant<T: Debug>(result: Result<T>) {
    match result {
        Err(Error::InvalidGrant) => {}
        other => panic!("expected InvalidGrant, got {other:?}"),
    }
}
