//! [`FederationStore`] over `identity_providers`, `federated_identities` and
//! `federation_logins`: taking a login is one `DELETE … RETURNING`, so it is
//! single use.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::SqlitePool;
use time::OffsetDateTime;
use uuid::Uuid;
use zenoauth_domain::federation::{
    ClaimMapping, FederatedIdentity, FederationLogin, IdentityDeletion, IdentityProvider, ProviderKind,
};
use zenoauth_domain::ids::{OrganizationId, UserId};
use zenoauth_domain::ports::FederationStore;
use zenoauth_domain::values::SecretDigest;
use zenoauth_domain::{Error, Result};

use crate::convert::{classify, column, corrupt, digest, instant, micros, unavailable, uuid, write_error, Parent};

const PROVIDER_COLUMNS: &str = "id, organization_id, name, issuer, client_id, encrypted_client_secret, scopes, \
     enabled, jit_provisioning, link_by_verified_email, claim_mapping, created_at, updated_at, kind, \
     authorization_endpoint, token_endpoint, userinfo_endpoint, subject_claim, email_claim, icon_url, trust_upstream_amr";
const IDENTITY_COLUMNS: &str = "organization_id, provider_id, subject, user_id, created_at";
const LOGIN_COLUMNS: &str =
    "state_digest, organization_id, provider_id, nonce, code_verifier, continuation, created_at, expires_at";
const UNIQUES: &[(&str, &str)] = &[
    ("identity_providers.organization_id, identity_providers.name", "identity_provider_name"),
    ("identity_providers.id", "identity_provider_id"),
    (
        "federated_identities.organization_id, federated_identities.provider_id, federated_identities.subject",
        "federated_identity",
    ),
];

#[derive(Debug, Clone)]
pub(crate) struct SqliteFederationStore {
    pool: SqlitePool,
}

impl SqliteFederationStore {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

fn json_column<T: serde::de::DeserializeOwned>(row: &SqliteRow, name: &'static str) -> Result<T> {
    let text = column::<String>(row, name)?;
    serde_json::from_str(&text).map_err(|error| corrupt(name, error))
}

fn to_json_text<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(Error::unavailable)
}

fn read_provider(row: &SqliteRow) -> Result<IdentityProvider> {
    let kind: String = column(row, "kind")?;
    Ok(IdentityProvider {
        id: uuid(row, "id")?,
        organization_id: OrganizationId::from_uuid(uuid(row, "organization_id")?),
        name: column(row, "name")?,
        kind: ProviderKind::parse(&kind).ok_or_else(|| corrupt("kind", format!("unknown provider kind {kind:?}")))?,
        authorization_endpoint: column(row, "authorization_endpoint")?,
        token_endpoint: column(row, "token_endpoint")?,
        userinfo_endpoint: column(row, "userinfo_endpoint")?,
        subject_claim: column(row, "subject_claim")?,
        email_claim: column(row, "email_claim")?,
        icon_url: column(row, "icon_url")?,
        trust_upstream_amr: column(row, "trust_upstream_amr")?,
        issuer: column(row, "issuer")?,
        client_id: column(row, "client_id")?,
        encrypted_client_secret: column(row, "encrypted_client_secret")?,
        scopes: json_column(row, "scopes")?,
        enabled: column(row, "enabled")?,
        jit_provisioning: column(row, "jit_provisioning")?,
        link_by_verified_email: column(row, "link_by_verified_email")?,
        claim_mapping: json_column::<ClaimMapping>(row, "claim_mapping")?,
        created_at: instant(row, "created_at")?,
        updated_at: instant(row, "updated_at")?,
    })
}

fn read_identity(row: &SqliteRow) -> Result<FederatedIdentity> {
    Ok(FederatedIdentity {
        organization_id: OrganizationId::from_uuid(uuid(row, "organization_id")?),
        provider_id: uuid(row, "provider_id")?,
        subject: column(row, "subject")?,
        user_id: UserId::from_uuid(uuid(row, "user_id")?),
        created_at: instant(row, "created_at")?,
    })
}

const PENDING_LINK_COLUMNS: &str =
    "token_digest, organization_id, provider_id, subject, user_id, claims, continuation, created_at, expires_at";

fn read_pending_link(row: &SqliteRow) -> Result<zenoauth_domain::federation::PendingLink> {
    Ok(zenoauth_domain::federation::PendingLink {
        token_digest: digest(row, "token_digest")?,
        organization_id: OrganizationId::from_uuid(uuid(row, "organization_id")?),
        provider_id: uuid(row, "provider_id")?,
        subject: column(row, "subject")?,
        user_id: UserId::from_uuid(uuid(row, "user_id")?),
        claims: json_column(row, "claims")?,
        continuation: column(row, "continuation")?,
        created_at: instant(row, "created_at")?,
        expires_at: instant(row, "expires_at")?,
    })
}

fn read_login(row: &SqliteRow) -> Result<FederationLogin> {
    Ok(FederationLogin {
        state_digest: digest(row, "state_digest")?,
        organization_id: OrganizationId::from_uuid(uuid(row, "organization_id")?),
        provider_id: uuid(row, "provider_id")?,
        nonce: column(row, "nonce")?,
        code_verifier: column(row, "code_verifier")?,
        continuation: column(row, "continuation")?,
        created_at: instant(row, "created_at")?,
        expires_at: instant(row, "expires_at")?,
    })
}

impl SqliteFederationStore {
    async fn fail(&self, error: sqlx::Error, organization: Uuid, parents: &[Parent], fallback: &'static str) -> Error {
        write_error(classify(error, UNIQUES), &self.pool, organization, parents, fallback).await
    }
}

type SqliteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

/// Binds the provider's settings from `name` to `claim_mapping`, in the
/// order both `create_provider` and `update_provider` list them.
fn bind_profile<'q>(query: SqliteQuery<'q>, provider: &'q IdentityProvider) -> Result<SqliteQuery<'q>> {
    Ok(query
        .bind(&provider.name)
        .bind(&provider.issuer)
        .bind(&provider.client_id)
        .bind(&provider.encrypted_client_secret)
        .bind(to_json_text(&provider.scopes)?)
        .bind(provider.enabled)
        .bind(provider.jit_provisioning)
        .bind(provider.link_by_verified_email)
        .bind(to_json_text(&provider.claim_mapping)?))
}

/// Binds the provider's upstream settings from `kind` to
/// `trust_upstream_amr`, in the order both statements list them.
fn bind_upstream<'q>(query: SqliteQuery<'q>, provider: &'q IdentityProvider) -> SqliteQuery<'q> {
    query
        .bind(provider.kind.as_str())
        .bind(&provider.authorization_endpoint)
        .bind(&provider.token_endpoint)
        .bind(&provider.userinfo_endpoint)
        .bind(&provider.subject_claim)
        .bind(&provider.email_claim)
        .bind(&provider.icon_url)
        .bind(provider.trust_upstream_amr)
}

#[async_trait]
impl FederationStore for SqliteFederationStore {
    async fn create_provider(&self, provider: &IdentityProvider) -> Result<()> {
        let statement = format!(
            "INSERT INTO identity_providers ({PROVIDER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        );
        let query = sqlx::query(&statement).bind(provider.id).bind(provider.organization_id.as_uuid());
        let query = bind_profile(query, provider)?.bind(micros(provider.created_at)).bind(micros(provider.updated_at));
        let result = bind_upstream(query, provider).execute(&self.pool).await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => Err(self.fail(error, provider.organization_id.as_uuid(), &[], "organization").await),
        }
    }

    async fn update_provider(&self, provider: &IdentityProvider) -> Result<()> {
        let query = sqlx::query(
            "UPDATE identity_providers SET name = ?, issuer = ?, client_id = ?, encrypted_client_secret = ?,
                 scopes = ?, enabled = ?, jit_provisioning = ?, link_by_verified_email = ?,
                 claim_mapping = ?, updated_at = ?, kind = ?, authorization_endpoint = ?, token_endpoint = ?,
                 userinfo_endpoint = ?, subject_claim = ?, email_claim = ?, icon_url = ?, trust_upstream_amr = ?
             WHERE organization_id = ? AND id = ?",
        );
        let query = bind_profile(query, provider)?.bind(micros(provider.updated_at));
        let result = bind_upstream(query, provider)
            .bind(provider.organization_id.as_uuid())
            .bind(provider.id)
            .execute(&self.pool)
            .await;
        match result {
            Ok(done) if done.rows_affected() == 0 => Err(Error::NotFound("identity_provider")),
            Ok(_) => Ok(()),
            Err(error) => Err(self.fail(error, provider.organization_id.as_uuid(), &[], "identity_provider").await),
        }
    }

    async fn find_provider(&self, organization: OrganizationId, id: Uuid) -> Result<Option<IdentityProvider>> {
        let row = sqlx::query(&format!(
            "SELECT {PROVIDER_COLUMNS} FROM identity_providers WHERE organization_id = ? AND id = ?"
        ))
        .bind(organization.as_uuid())
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        row.as_ref().map(read_provider).transpose()
    }

    async fn list_providers(&self, organization: OrganizationId) -> Result<Vec<IdentityProvider>> {
        let rows = sqlx::query(&format!(
            "SELECT {PROVIDER_COLUMNS} FROM identity_providers WHERE organization_id = ? ORDER BY id"
        ))
        .bind(organization.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(read_provider).collect()
    }

    async fn delete_provider(&self, organization: OrganizationId, id: Uuid) -> Result<bool> {
        let result = sqlx::query("DELETE FROM identity_providers WHERE organization_id = ? AND id = ?")
            .bind(organization.as_uuid())
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }

    async fn link_identity(&self, identity: &FederatedIdentity) -> Result<()> {
        let result =
            sqlx::query(&format!("INSERT INTO federated_identities ({IDENTITY_COLUMNS}) VALUES (?, ?, ?, ?, ?)"))
                .bind(identity.organization_id.as_uuid())
                .bind(identity.provider_id)
                .bind(&identity.subject)
                .bind(identity.user_id.as_uuid())
                .bind(micros(identity.created_at))
                .execute(&self.pool)
                .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => {
                let parents = [
                    Parent { name: "identity_provider", table: "identity_providers", id: Some(identity.provider_id) },
                    Parent { name: "user", table: "users", id: Some(identity.user_id.as_uuid()) },
                ];
                Err(self.fail(error, identity.organization_id.as_uuid(), &parents, "identity_provider").await)
            }
        }
    }

    async fn find_identity(
        &self,
        organization: OrganizationId,
        provider: Uuid,
        subject: &str,
    ) -> Result<Option<FederatedIdentity>> {
        let row = sqlx::query(&format!(
            "SELECT {IDENTITY_COLUMNS} FROM federated_identities
             WHERE organization_id = ? AND provider_id = ? AND subject = ?"
        ))
        .bind(organization.as_uuid())
        .bind(provider)
        .bind(subject)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        row.as_ref().map(read_identity).transpose()
    }

    async fn identities_of_user(&self, organization: OrganizationId, user: UserId) -> Result<Vec<FederatedIdentity>> {
        let rows = sqlx::query(&format!(
            "SELECT {IDENTITY_COLUMNS} FROM federated_identities WHERE organization_id = ? AND user_id = ?
             ORDER BY created_at, provider_id, subject"
        ))
        .bind(organization.as_uuid())
        .bind(user.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(read_identity).collect()
    }

    async fn delete_identity(
        &self,
        organization: OrganizationId,
        user: UserId,
        provider: Uuid,
        subject: &str,
    ) -> Result<bool> {
        let result = sqlx::query(
            "DELETE FROM federated_identities
             WHERE organization_id = ? AND user_id = ? AND provider_id = ? AND subject = ?",
        )
        .bind(organization.as_uuid())
        .bind(user.as_uuid())
        .bind(provider)
        .bind(subject)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }

    async fn put_pending_link(&self, link: &zenoauth_domain::federation::PendingLink) -> Result<()> {
        let result = sqlx::query(&format!(
            "INSERT INTO federation_pending_links ({PENDING_LINK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(&link.token_digest.as_bytes()[..])
        .bind(link.organization_id.as_uuid())
        .bind(link.provider_id)
        .bind(&link.subject)
        .bind(link.user_id.as_uuid())
        .bind(to_json_text(&link.claims)?)
        .bind(&link.continuation)
        .bind(micros(link.created_at))
        .bind(micros(link.expires_at))
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => {
                let parents = [
                    Parent { name: "identity_provider", table: "identity_providers", id: Some(link.provider_id) },
                    Parent { name: "user", table: "users", id: Some(link.user_id.as_uuid()) },
                ];
                Err(self.fail(error, link.organization_id.as_uuid(), &parents, "identity_provider").await)
            }
        }
    }

    async fn take_pending_link(
        &self,
        organization: OrganizationId,
        token_digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Result<Option<zenoauth_domain::federation::PendingLink>> {
        let row = sqlx::query(&format!(
            "DELETE FROM federation_pending_links WHERE organization_id = ? AND token_digest = ?
             RETURNING {PENDING_LINK_COLUMNS}"
        ))
        .bind(organization.as_uuid())
        .bind(&token_digest.as_bytes()[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        let link = row.as_ref().map(read_pending_link).transpose()?;
        Ok(link.filter(|link| link.expires_at > now))
    }

    async fn put_login(&self, login: &FederationLogin) -> Result<()> {
        let result =
            sqlx::query(&format!("INSERT INTO federation_logins ({LOGIN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"))
                .bind(&login.state_digest.as_bytes()[..])
                .bind(login.organization_id.as_uuid())
                .bind(login.provider_id)
                .bind(&login.nonce)
                .bind(&login.code_verifier)
                .bind(&login.continuation)
                .bind(micros(login.created_at))
                .bind(micros(login.expires_at))
                .execute(&self.pool)
                .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => Err(self.fail(error, login.organization_id.as_uuid(), &[], "identity_provider").await),
        }
    }

    async fn take_login(
        &self,
        organization: OrganizationId,
        state_digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Result<Option<FederationLogin>> {
        let row = sqlx::query(&format!(
            "DELETE FROM federation_logins WHERE organization_id = ? AND state_digest = ? RETURNING {LOGIN_COLUMNS}"
        ))
        .bind(organization.as_uuid())
        .bind(&state_digest.as_bytes()[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        let login = row.as_ref().map(read_login).transpose()?;
        Ok(login.filter(|login| login.expires_at > now))
    }

    async fn delete_identity_unless_last(
        &self,
        organization: OrganizationId,
        user: UserId,
        provider: Uuid,
        subject: &str,
    ) -> Result<IdentityDeletion> {
        // One statement: SQLite runs it under the database's write lock, so
        // the other links it counts cannot vanish meanwhile.
        let result = sqlx::query(
            "DELETE FROM federated_identities
             WHERE organization_id = ?1 AND user_id = ?2 AND provider_id = ?3 AND subject = ?4
               AND EXISTS (SELECT 1 FROM federated_identities AS other
                           WHERE other.organization_id = ?1 AND other.user_id = ?2
                             AND NOT (other.provider_id = ?3 AND other.subject = ?4))",
        )
        .bind(organization.as_uuid())
        .bind(user.as_uuid())
        .bind(provider)
        .bind(subject)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        if result.rows_affected() == 1 {
            return Ok(IdentityDeletion::Deleted);
        }
        let kept = self.find_identity(organization, provider, subject).await?;
        Ok(if kept.is_some_and(|link| link.user_id == user) {
            IdentityDeletion::Last
        } else {
            IdentityDeletion::NotFound
        })
    }

    async fn provider_has_identities(&self, organization: OrganizationId, provider: Uuid) -> Result<bool> {
        let row =
            sqlx::query("SELECT 1 FROM federated_identities WHERE organization_id = ? AND provider_id = ? LIMIT 1")
                .bind(organization.as_uuid())
                .bind(provider)
                .fetch_optional(&self.pool)
                .await
                .map_err(unavailable)?;
        Ok(row.is_some())
    }

    async fn delete_expired_pending_links(&self, now: OffsetDateTime) -> Result<u64> {
        let result = sqlx::query("DELETE FROM federation_pending_links WHERE expires_at <= ?")
            .bind(micros(now))
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected())
    }

    async fn delete_expired_logins(&self, now: OffsetDateTime) -> Result<u64> {
        let result = sqlx::query("DELETE FROM federation_logins WHERE expires_at <= ?")
            .bind(micros(now))
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected())
    }
}
