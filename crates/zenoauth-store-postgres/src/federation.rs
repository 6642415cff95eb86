//! `FederationStore` over `identity_providers`, `federated_identities` and
//! `federation_logins`: taking a login is one `DELETE … RETURNING`, so it is
//! single use across instances.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::types::Json as SqlJson;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;
use zenoauth_domain::federation::{
    ClaimMapping, FederatedIdentity, FederationLogin, IdentityDeletion, IdentityProvider, ProviderKind,
};
use zenoauth_domain::ids::{OrganizationId, UserId};
use zenoauth_domain::ports::FederationStore;
use zenoauth_domain::values::SecretDigest;
use zenoauth_domain::{Error, Result};

use crate::error::db_error;
use crate::rows::RowReader;

const PROVIDER_COLUMNS: &str = "id, organization_id, name, issuer, client_id, encrypted_client_secret, scopes, \
     enabled, jit_provisioning, link_by_verified_email, claim_mapping, created_at, updated_at, kind, \
     authorization_endpoint, token_endpoint, userinfo_endpoint, subject_claim, email_claim, icon_url, trust_upstream_amr";
const IDENTITY_COLUMNS: &str = "organization_id, provider_id, subject, user_id, created_at";
const LOGIN_COLUMNS: &str =
    "state_digest, organization_id, provider_id, nonce, code_verifier, continuation, created_at, expires_at";

#[derive(Debug, Clone)]
pub(crate) struct PgFederationStore {
    pool: PgPool,
}

impl PgFederationStore {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn read_provider(row: &PgRow) -> Result<IdentityProvider> {
    let row = RowReader::new(row, "identity_providers");
    let SqlJson(scopes): SqlJson<Vec<String>> = row.get("scopes")?;
    let SqlJson(claim_mapping): SqlJson<ClaimMapping> = row.get("claim_mapping")?;
    let kind: String = row.get("kind")?;
    Ok(IdentityProvider {
        id: row.get("id")?,
        organization_id: OrganizationId::from_uuid(row.get("organization_id")?),
        name: row.get("name")?,
        kind: ProviderKind::parse(&kind)
            .ok_or_else(|| crate::error::corrupt("identity_providers", "kind", "unknown provider kind"))?,
        authorization_endpoint: row.get("authorization_endpoint")?,
        token_endpoint: row.get("token_endpoint")?,
        userinfo_endpoint: row.get("userinfo_endpoint")?,
        subject_claim: row.get("subject_claim")?,
        email_claim: row.get("email_claim")?,
        icon_url: row.get("icon_url")?,
        trust_upstream_amr: row.get("trust_upstream_amr")?,
        issuer: row.get("issuer")?,
        client_id: row.get("client_id")?,
        encrypted_client_secret: row.get("encrypted_client_secret")?,
        scopes,
        enabled: row.get("enabled")?,
        jit_provisioning: row.get("jit_provisioning")?,
        link_by_verified_email: row.get("link_by_verified_email")?,
        claim_mapping,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
}

fn read_identity(row: &PgRow) -> Result<FederatedIdentity> {
    let row = RowReader::new(row, "federated_identities");
    Ok(FederatedIdentity {
        organization_id: OrganizationId::from_uuid(row.get("organization_id")?),
        provider_id: row.get("provider_id")?,
        subject: row.get("subject")?,
        user_id: UserId::from_uuid(row.get("user_id")?),
        created_at: row.get("created_at")?,
    })
}

const PENDING_LINK_COLUMNS: &str =
    "token_digest, organization_id, provider_id, subject, user_id, claims, continuation, created_at, expires_at";

fn read_pending_link(row: &PgRow) -> Result<zenoauth_domain::federation::PendingLink> {
    let row = RowReader::new(row, "federation_pending_links");
    let SqlJson(claims): SqlJson<serde_json::Value> = row.get("claims")?;
    Ok(zenoauth_domain::federation::PendingLink {
        token_digest: row.digest("token_digest")?,
        organization_id: OrganizationId::from_uuid(row.get("organization_id")?),
        provider_id: row.get("provider_id")?,
        subject: row.get("subject")?,
        user_id: UserId::from_uuid(row.get("user_id")?),
        claims,
        continuation: row.get("continuation")?,
        created_at: row.get("created_at")?,
        expires_at: row.get("expires_at")?,
    })
}

fn read_login(row: &PgRow) -> Result<FederationLogin> {
    let row = RowReader::new(row, "federation_logins");
    Ok(FederationLogin {
        state_digest: row.digest("state_digest")?,
        organization_id: OrganizationId::from_uuid(row.get("organization_id")?),
        provider_id: row.get("provider_id")?,
        nonce: row.get("nonce")?,
        code_verifier: row.get("code_verifier")?,
        continuation: row.get("continuation")?,
        created_at: row.get("created_at")?,
        expires_at: row.get("expires_at")?,
    })
}

/// This module's constraints, then the shared mapping.
fn federation_error(error: sqlx::Error) -> Error {
    if let sqlx::Error::Database(database_error) = &error {
        match database_error.constraint() {
            Some("identity_providers_name_key") => return Error::Conflict("identity_provider_name"),
            Some("identity_providers_pkey") => return Error::Conflict("identity_provider_id"),
            Some(
                "identity_providers_organization_fkey"
                | "federated_identities_organization_fkey"
                | "federation_logins_organization_fkey",
            ) => return Error::NotFound("organization"),
            Some("federated_identities_pkey") => return Error::Conflict("federated_identity"),
            Some("federated_identities_provider_fkey" | "federation_logins_provider_fkey") => {
                return Error::NotFound("identity_provider")
            }
            Some("federated_identities_user_fkey" | "federation_pending_links_user_fkey") => {
                return Error::NotFound("user")
            }
            Some("federation_pending_links_provider_fkey") => return Error::NotFound("identity_provider"),
            Some("federation_pending_links_organization_fkey") => return Error::NotFound("organization"),
            _ => {}
        }
    }
    db_error(error)
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Binds the provider's settings from `name` to `claim_mapping`, in the
/// order both `create_provider` and `update_provider` list them.
fn bind_profile<'q>(query: PgQuery<'q>, provider: &'q IdentityProvider) -> PgQuery<'q> {
    query
        .bind(&provider.name)
        .bind(&provider.issuer)
        .bind(&provider.client_id)
        .bind(&provider.encrypted_client_secret)
        .bind(SqlJson(&provider.scopes))
        .bind(provider.enabled)
        .bind(provider.jit_provisioning)
        .bind(provider.link_by_verified_email)
        .bind(SqlJson(&provider.claim_mapping))
}

/// Binds the provider's upstream settings from `kind` to
/// `trust_upstream_amr`, in the order both statements list them.
fn bind_upstream<'q>(query: PgQuery<'q>, provider: &'q IdentityProvider) -> PgQuery<'q> {
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
impl FederationStore for PgFederationStore {
    async fn create_provider(&self, provider: &IdentityProvider) -> Result<()> {
        let statement = format!(
            "INSERT INTO identity_providers ({PROVIDER_COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)"
        );
        let query = sqlx::query(&statement).bind(provider.id).bind(provider.organization_id.as_uuid());
        let query = bind_profile(query, provider).bind(provider.created_at).bind(provider.updated_at);
        bind_upstream(query, provider).execute(&self.pool).await.map_err(federation_error)?;
        Ok(())
    }

    async fn update_provider(&self, provider: &IdentityProvider) -> Result<()> {
        let query = sqlx::query(
            "UPDATE identity_providers SET name = $3, issuer = $4, client_id = $5, encrypted_client_secret = $6,
                 scopes = $7, enabled = $8, jit_provisioning = $9, link_by_verified_email = $10,
                 claim_mapping = $11, updated_at = $12, kind = $13, authorization_endpoint = $14,
                 token_endpoint = $15, userinfo_endpoint = $16, subject_claim = $17, email_claim = $18,
                 icon_url = $19, trust_upstream_amr = $20
             WHERE organization_id = $1 AND id = $2",
        )
        .bind(provider.organization_id.as_uuid())
        .bind(provider.id);
        let result = bind_upstream(bind_profile(query, provider).bind(provider.updated_at), provider)
            .execute(&self.pool)
            .await
            .map_err(federation_error)?;
        if result.rows_affected() == 0 {
            return Err(Error::NotFound("identity_provider"));
        }
        Ok(())
    }

    async fn find_provider(&self, organization: OrganizationId, id: Uuid) -> Result<Option<IdentityProvider>> {
        let row = sqlx::query(&format!(
            "SELECT {PROVIDER_COLUMNS} FROM identity_providers WHERE organization_id = $1 AND id = $2"
        ))
        .bind(organization.as_uuid())
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(read_provider).transpose()
    }

    async fn list_providers(&self, organization: OrganizationId) -> Result<Vec<IdentityProvider>> {
        let rows = sqlx::query(&format!(
            "SELECT {PROVIDER_COLUMNS} FROM identity_providers WHERE organization_id = $1 ORDER BY id"
        ))
        .bind(organization.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter().map(read_provider).collect()
    }

    async fn delete_provider(&self, organization: OrganizationId, id: Uuid) -> Result<bool> {
        let result = sqlx::query("DELETE FROM identity_providers WHERE organization_id = $1 AND id = $2")
            .bind(organization.as_uuid())
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(result.rows_affected() == 1)
    }

    async fn link_identity(&self, identity: &FederatedIdentity) -> Result<()> {
        sqlx::query(&format!("INSERT INTO federated_identities ({IDENTITY_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"))
            .bind(identity.organization_id.as_uuid())
            .bind(identity.provider_id)
            .bind(&identity.subject)
            .bind(identity.user_id.as_uuid())
            .bind(identity.created_at)
            .execute(&self.pool)
            .await
            .map_err(federation_error)?;
        Ok(())
    }

    async fn find_identity(
        &self,
        organization: OrganizationId,
        provider: Uuid,
        subject: &str,
    ) -> Result<Option<FederatedIdentity>> {
        let row = sqlx::query(&format!(
            "SELECT {IDENTITY_COLUMNS} FROM federated_identities
             WHERE organization_id = $1 AND provider_id = $2 AND subject = $3"
        ))
        .bind(organization.as_uuid())
        .bind(provider)
        .bind(subject)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(read_identity).transpose()
    }

    async fn identities_of_user(&self, organization: OrganizationId, user: UserId) -> Result<Vec<FederatedIdentity>> {
        let rows = sqlx::query(&format!(
            "SELECT {IDENTITY_COLUMNS} FROM federated_identities WHERE organization_id = $1 AND user_id = $2
             ORDER BY created_at, provider_id, subject"
        ))
        .bind(organization.as_uuid())
        .bind(user.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
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
             WHERE organization_id = $1 AND user_id = $2 AND provider_id = $3 AND subject = $4",
        )
        .bind(organization.as_uuid())
        .bind(user.as_uuid())
        .bind(provider)
        .bind(subject)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(result.rows_affected() == 1)
    }

    async fn put_pending_link(&self, link: &zenoauth_domain::federation::PendingLink) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO federation_pending_links ({PENDING_LINK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(&link.token_digest.as_bytes()[..])
        .bind(link.organization_id.as_uuid())
        .bind(link.provider_id)
        .bind(&link.subject)
        .bind(link.user_id.as_uuid())
        .bind(SqlJson(&link.claims))
        .bind(&link.continuation)
        .bind(link.created_at)
        .bind(link.expires_at)
        .execute(&self.pool)
        .await
        .map_err(federation_error)?;
        Ok(())
    }

    async fn take_pending_link(
        &self,
        organization: OrganizationId,
        token_digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Result<Option<zenoauth_domain::federation::PendingLink>> {
        let row = sqlx::query(&format!(
            "DELETE FROM federation_pending_links WHERE organization_id = $1 AND token_digest = $2
             RETURNING {PENDING_LINK_COLUMNS}"
        ))
        .bind(organization.as_uuid())
        .bind(&token_digest.as_bytes()[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        let link = row.as_ref().map(read_pending_link).transpose()?;
        Ok(link.filter(|link| link.expires_at > now))
    }

    async fn put_login(&self, login: &FederationLogin) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO federation_logins ({LOGIN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(&login.state_digest.as_bytes()[..])
        .bind(login.organization_id.as_uuid())
        .bind(login.provider_id)
        .bind(&login.nonce)
        .bind(&login.code_verifier)
        .bind(&login.continuation)
        .bind(login.created_at)
        .bind(login.expires_at)
        .execute(&self.pool)
        .await
        .map_err(federation_error)?;
        Ok(())
    }

    async fn take_login(
        &self,
        organization: OrganizationId,
        state_digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Result<Option<FederationLogin>> {
        let row = sqlx::query(&format!(
            "DELETE FROM federation_logins WHERE organization_id = $1 AND state_digest = $2 RETURNING {LOGIN_COLUMNS}"
        ))
        .bind(organization.as_uuid())
        .bind(&state_digest.as_bytes()[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
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
        // The user's row, locked, serializes the removals of their links; the
        // DELETE then sees every removal committed before it.
        let mut transaction = self.pool.begin().await.map_err(db_error)?;
        let locked = sqlx::query("SELECT 1 FROM users WHERE organization_id = $1 AND id = $2 FOR NO KEY UPDATE")
            .bind(organization.as_uuid())
            .bind(user.as_uuid())
            .fetch_optional(&mut *transaction)
            .await
            .map_err(db_error)?;
        if locked.is_none() {
            return Ok(IdentityDeletion::NotFound);
        }
        let result = sqlx::query(
            "DELETE FROM federated_identities
             WHERE organization_id = $1 AND user_id = $2 AND provider_id = $3 AND subject = $4
               AND EXISTS (SELECT 1 FROM federated_identities AS other
                           WHERE other.organization_id = $1 AND other.user_id = $2
                             AND NOT (other.provider_id = $3 AND other.subject = $4))",
        )
        .bind(organization.as_uuid())
        .bind(user.as_uuid())
        .bind(provider)
        .bind(subject)
        .execute(&mut *transaction)
        .await
        .map_err(db_error)?;
        let outcome = if result.rows_affected() == 1 {
            IdentityDeletion::Deleted
        } else {
            let kept = sqlx::query(
                "SELECT 1 FROM federated_identities
                 WHERE organization_id = $1 AND user_id = $2 AND provider_id = $3 AND subject = $4",
            )
            .bind(organization.as_uuid())
            .bind(user.as_uuid())
            .bind(provider)
            .bind(subject)
            .fetch_optional(&mut *transaction)
            .await
            .map_err(db_error)?;
            if kept.is_some() {
                IdentityDeletion::Last
            } else {
                IdentityDeletion::NotFound
            }
        };
        transaction.commit().await.map_err(db_error)?;
        Ok(outcome)
    }

    async fn provider_has_identities(&self, organization: OrganizationId, provider: Uuid) -> Result<bool> {
        let row =
            sqlx::query("SELECT 1 FROM federated_identities WHERE organization_id = $1 AND provider_id = $2 LIMIT 1")
                .bind(organization.as_uuid())
                .bind(provider)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
        Ok(row.is_some())
    }

    async fn delete_expired_pending_links(&self, now: OffsetDateTime) -> Result<u64> {
        let result = sqlx::query("DELETE FROM federation_pending_links WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(result.rows_affected())
    }

    async fn delete_expired_logins(&self, now: OffsetDateTime) -> Result<u64> {
        let result = sqlx::query("DELETE FROM federation_logins WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(result.rows_affected())
    }
}
