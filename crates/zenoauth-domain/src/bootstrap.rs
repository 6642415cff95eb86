//! Use case: bring an empty installation to a usable state. Idempotent, and
//! safe when several instances start at once on one database.

use std::sync::Arc;

use serde_json::json;

use crate::error::{Error, Result};
use crate::ids::IdGenerator;
use crate::model::{Organization, SigningAlgorithm, User};
use crate::ports::{Clock, PasswordHasher, RandomSource, Stores, TokenSigner};
use crate::values::{DisplayName, Email, Password, Slug};

/// What `bootstrap` found or made.
#[derive(Debug)]
pub struct BootstrapOutcome {
    pub organization: Organization,
    pub organization_created: bool,
    pub admin: User,
    /// Set only when this run created the admin with a password it generated:
    /// the one chance to show it.
    pub generated_password: Option<Password>,
    pub admin_created: bool,
    pub signing_key_created: bool,
}

/// Creates the `system` organization, its first admin and its first signing key.
pub struct Bootstrap {
    stores: Stores,
    hasher: Arc<dyn PasswordHasher>,
    signer: Arc<dyn TokenSigner>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
    ids: IdGenerator,
}

impl std::fmt::Debug for Bootstrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bootstrap").finish_non_exhaustive()
    }
}

/// Characters of generated passwords: no look-alikes (0/O, 1/l/I).
const PASSWORD_ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const GENERATED_PASSWORD_LENGTH: usize = 24;

impl Bootstrap {
    pub fn new(
        stores: Stores,
        hasher: Arc<dyn PasswordHasher>,
        signer: Arc<dyn TokenSigner>,
        clock: Arc<dyn Clock>,
        random: Arc<dyn RandomSource>,
    ) -> Self {
        let ids = IdGenerator::new(clock.clone(), random.clone());
        Self { stores, hasher, signer, clock, random, ids }
    }

    /// Ensures the system organization, an admin with `admin_email` (with
    /// `admin_password`, or a generated one), and an active EdDSA key exist.
    /// Never changes an existing admin's password.
    pub async fn run(&self, admin_email: &Email, admin_password: Option<Password>) -> Result<BootstrapOutcome> {
        let (organization, organization_created) = self.ensure_system_organization().await?;
        let existing_admin = self.stores.users.find_by_email(organization.id, admin_email).await?;
        let (admin, admin_created, generated_password) = match existing_admin {
            Some(admin) => (admin, false, None),
            None => self.create_admin(&organization, admin_email, admin_password).await?,
        };
        let signing_key_created = self.ensure_signing_key(&organization).await?;
        Ok(BootstrapOutcome {
            organization,
            organization_created,
            admin,
            generated_password,
            admin_created,
            signing_key_created,
        })
    }

    async fn ensure_system_organization(&self) -> Result<(Organization, bool)> {
        let slug = Slug::system();
        if let Some(existing) = self.stores.organizations.find_by_slug(&slug).await? {
            return Ok((existing, false));
        }
        let now = self.clock.now();
        let organization = Organization {
            id: self.ids.next(),
            slug: slug.clone(),
            name: DisplayName::parse("System")?,
            settings: json!({}),
            created_at: now,
            updated_at: now,
        };
        match self.stores.organizations.create(&organization).await {
            Ok(()) => Ok((organization, true)),
            // Another instance won the race: use its organization.
            Err(Error::Conflict(_)) => {
                let existing = self.stores.organizations.find_by_slug(&slug).await?;
                existing.map(|organization| (organization, false)).ok_or(Error::NotFound("organization"))
            }
            Err(other) => Err(other),
        }
    }

    async fn create_admin(
        &self,
        organization: &Organization,
        email: &Email,
        password: Option<Password>,
    ) -> Result<(User, bool, Option<Password>)> {
        let (password, generated) = match password {
            Some(given) => {
                // The operator's password obeys the organization's policy like any other.
                crate::security::password_policy::PasswordPolicy::from_organization(organization)?
                    .check(&given, email)?;
                (given, false)
            }
            None => (self.generate_password()?, true),
        };
        let now = self.clock.now();
        let admin = User {
            id: self.ids.next(),
            organization_id: organization.id,
            email: email.clone(),
            email_verified: true,
            password_hash: Some(self.hasher.hash(&password).await?),
            profile: json!({}),
            is_active: true,
            created_at: now,
            updated_at: now,
        };
        match self.stores.users.create(&admin).await {
            Ok(()) => Ok((admin, true, generated.then_some(password))),
            Err(Error::Conflict(_)) => {
                let existing = self.stores.users.find_by_email(organization.id, email).await?;
                existing.map(|admin| (admin, false, None)).ok_or(Error::NotFound("user"))
            }
            Err(other) => Err(other),
        }
    }

    async fn ensure_signing_key(&self, organization: &Organization) -> Result<bool> {
        let algorithm = SigningAlgorithm::EdDsa;
        if self.stores.signing_keys.find_active(organization.id, algorithm).await?.is_some() {
            return Ok(false);
        }
        let key = self.signer.generate(self.ids.next(), organization.id, algorithm, self.clock.now())?;
        self.stores.signing_keys.create(&key).await?;
        Ok(true)
    }

    fn generate_password(&self) -> Result<Password> {
        // Rejection sampling keeps every character equally likely.
        let limit = u8::MAX - (u8::MAX % PASSWORD_ALPHABET.len() as u8);
        let mut password = String::with_capacity(GENERATED_PASSWORD_LENGTH);
        while password.len() < GENERATED_PASSWORD_LENGTH {
            let mut byte = [0u8; 1];
            self.random.fill(&mut byte);
            if byte[0] < limit {
                password.push(char::from(PASSWORD_ALPHABET[usize::from(byte[0]) % PASSWORD_ALPHABET.len()]));
            }
        }
        Ok(Password::parse(&password)?)
    }
}
