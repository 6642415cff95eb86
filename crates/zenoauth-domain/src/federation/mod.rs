//! Federation: upstream OpenID Connect providers an organization trusts
//! ([`IdentityProvider`]), the links from an upstream identity (provider,
//! `sub`) to exactly one local user ([`FederatedIdentity`]), and the
//! server-side state of a login in flight at an upstream ([`FederationLogin`]:
//! state, nonce and PKCE verifier, single use and expiring).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::ValidationError;
use crate::ids::{OrganizationId, UserId};
use crate::values::SecretDigest;

/// How upstream claims become local data, applied at each login.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimMapping {
    /// Upstream claim name → top-level profile attribute name.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// The upstream claim that holds the user's groups (a string or an array
    /// of strings); `groups` when absent.
    #[serde(default)]
    pub groups_claim: Option<String>,
    /// Upstream group value → local role name.
    #[serde(default)]
    pub roles: BTreeMap<String, String>,
}

impl ClaimMapping {
    /// The profile attributes the mapping draws from `claims`: only mapped
    /// claims that are present.
    pub fn attributes_of(&self, claims: &Json) -> BTreeMap<String, Json> {
        self.attributes
            .iter()
            .filter_map(|(claim, attribute)| claims.get(claim).map(|value| (attribute.clone(), value.clone())))
            .collect()
    }

    /// The local role names the upstream groups in `claims` map to, sorted
    /// and without duplicates.
    pub fn roles_of(&self, claims: &Json) -> Vec<String> {
        let claim = self.groups_claim.as_deref().unwrap_or("groups");
        let groups: Vec<&str> = match claims.get(claim) {
            Some(Json::String(group)) => vec![group.as_str()],
            Some(Json::Array(groups)) => groups.iter().filter_map(Json::as_str).collect(),
            _ => Vec::new(),
        };
        let mut roles: Vec<String> = groups.iter().filter_map(|group| self.roles.get(*group).cloned()).collect();
        roles.sort();
        roles.dedup();
        roles
    }
}

/// An upstream OpenID Connect provider of one organization. The client
/// secret is stored only sealed under the key-encryption key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityProvider {
    pub id: Uuid,
    pub organization_id: OrganizationId,
    /// Shown on the login button; unique within the organization.
    pub name: String,
    /// The upstream issuer; its discovery document is at
    /// `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    /// `None` for a public client (PKCE only).
    pub encrypted_client_secret: Option<Vec<u8>>,
    pub scopes: Vec<String>,
    pub enabled: bool,
    /// First login of an unknown upstream identity creates a local user.
    pub jit_provisioning: bool,
    /// First login may link to the local user with the same email, only when
    /// the upstream says `email_verified: true`.
    pub link_by_verified_email: bool,
    pub claim_mapping: ClaimMapping,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl IdentityProvider {
    /// Checks the fields an administrator writes.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(ValidationError::new("name", "must be 1 to 100 characters"));
        }
        let issuer = url::Url::parse(&self.issuer).map_err(|_| ValidationError::new("issuer", "must be a URL"))?;
        if !matches!(issuer.scheme(), "https" | "http") || issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(ValidationError::new("issuer", "must be an http(s) URL without query or fragment"));
        }
        if self.client_id.is_empty() || self.client_id.len() > 255 {
            return Err(ValidationError::new("client_id", "must be 1 to 255 characters"));
        }
        if !self.scopes.iter().any(|scope| scope == "openid") {
            return Err(ValidationError::new("scopes", "must include openid"));
        }
        if self.scopes.iter().any(|scope| scope.is_empty() || scope.contains(char::is_whitespace)) {
            return Err(ValidationError::new("scopes", "must be non-empty and without spaces"));
        }
        Ok(())
    }
}

/// An upstream identity linked to exactly one local user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederatedIdentity {
    pub organization_id: OrganizationId,
    pub provider_id: Uuid,
    /// The upstream `sub`.
    pub subject: String,
    pub user_id: UserId,
    pub created_at: OffsetDateTime,
}

/// A login in flight at an upstream, found by the digest of its `state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederationLogin {
    pub state_digest: SecretDigest,
    pub organization_id: OrganizationId,
    pub provider_id: Uuid,
    pub nonce: String,
    pub code_verifier: String,
    /// Where to continue after the upstream login (the original
    /// authorization request's query, or empty).
    pub continuation: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mapping_draws_attributes_and_roles() {
        let mapping = ClaimMapping {
            attributes: BTreeMap::from([("department".into(), "dept".into()), ("missing".into(), "x".into())]),
            groups_claim: None,
            roles: BTreeMap::from([("eng".into(), "developer".into()), ("ops".into(), "operator".into())]),
        };
        let claims = json!({"department": "R&D", "groups": ["eng", "sales", "eng"]});
        assert_eq!(mapping.attributes_of(&claims), BTreeMap::from([("dept".into(), json!("R&D"))]));
        assert_eq!(mapping.roles_of(&claims), vec!["developer".to_owned()]);
        assert_eq!(mapping.roles_of(&json!({"groups": "ops"})), vec!["operator".to_owned()]);
        assert!(mapping.roles_of(&json!({})).is_empty());
    }
}
