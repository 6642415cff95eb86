//! Roles and permissions per organization, and who may administer what.
//!
//! A [`Role`] is a named set of permission strings within one organization;
//! roles are assigned to users and to applications (service accounts using
//! `client_credentials`). Access tokens carry the subject's roles of the
//! issuing organization as the `roles` claim (role names) and the union of
//! their permissions as the `permissions` claim, so resource servers can
//! authorize locally ([`claims_of`]).
//!
//! Two role names are reserved for the admin API: [`PLATFORM_ADMIN`] in the
//! `system` organization manages every organization; [`ORG_ADMIN`] manages
//! its own organization only. A token is for the admin API only when it was
//! issued for the reserved scope [`ADMIN_SCOPE`].

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde_json::{json, Value as Json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{Error, Result, ValidationError};
use crate::ids::{IdGenerator, OrganizationId, UserId};
use crate::model::Organization;
use crate::ports::Stores;

/// The role that, in the `system` organization, manages every organization.
pub const PLATFORM_ADMIN: &str = "platform-admin";
/// The role that manages its own organization through the admin API.
pub const ORG_ADMIN: &str = "org-admin";
/// The reserved scope a client requests to get a token for the admin API;
/// granted only when the application's `allowed_scopes` contain it.
pub const ADMIN_SCOPE: &str = "zenoauth:admin";
/// The access-token claim listing the subject's role names.
pub const ROLES_CLAIM: &str = "roles";
/// The access-token claim listing the union of the roles' permissions.
pub const PERMISSIONS_CLAIM: &str = "permissions";

/// A role's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleId(Uuid);

impl RoleId {
    pub const fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    pub const fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl From<Uuid> for RoleId {
    fn from(uuid: Uuid) -> Self {
        Self(uuid)
    }
}

impl fmt::Display for RoleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for RoleId {
    type Err = ValidationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(text).map(Self).map_err(|_| ValidationError::new("id", "is not a UUID"))
    }
}

/// A role's name, unique within its organization: 1–64 characters of
/// `a-z`, `0-9`, `-`, `_`, `.` and `:`, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleName(String);

impl RoleName {
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.:".contains(&b);
        let first_ok = text.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if text.is_empty() || text.len() > 64 || !first_ok || !text.bytes().all(allowed) {
            return Err(ValidationError::new(
                "name",
                "must be 1 to 64 characters of a-z, 0-9, '-', '_', '.', ':' starting with a letter or digit",
            ));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A permission string a resource server understands, e.g. `invoices:read`:
/// 1–128 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Permission(String);

impl Permission {
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        if text.is_empty() || text.len() > 128 || !text.bytes().all(|b| (0x21..=0x7E).contains(&b)) {
            return Err(ValidationError::new("permissions", "each must be 1 to 128 visible ASCII characters"));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// At most this many permissions per role.
pub const MAX_PERMISSIONS: usize = 100;

/// A role's permissions: distinct, sorted, at most [`MAX_PERMISSIONS`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionSet(BTreeSet<Permission>);

impl PermissionSet {
    pub fn parse<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Self, ValidationError> {
        let set: BTreeSet<Permission> = items.into_iter().map(Permission::parse).collect::<Result<_, _>>()?;
        if set.len() > MAX_PERMISSIONS {
            return Err(ValidationError::new("permissions", "at most 100 per role"));
        }
        Ok(Self(set))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Permission> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A description: at most 500 characters, no control characters but newlines.
pub fn parse_description(text: &str) -> Result<String, ValidationError> {
    if text.chars().count() > 500 || text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ValidationError::new("description", "must be at most 500 characters without control characters"));
    }
    Ok(text.to_owned())
}

/// A named set of permissions in one organization.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub id: RoleId,
    pub organization_id: OrganizationId,
    pub name: RoleName,
    pub description: String,
    pub permissions: PermissionSet,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// The `roles` and `permissions` claims for a subject holding `roles`:
/// role names in name order, and the sorted union of their permissions.
pub fn claims_of(roles: &[Role]) -> (Json, Json) {
    let names: BTreeSet<&str> = roles.iter().map(|role| role.name.as_str()).collect();
    let permissions: BTreeSet<&str> =
        roles.iter().flat_map(|role| role.permissions.iter().map(Permission::as_str)).collect();
    (json!(names), json!(permissions))
}

/// Makes sure `organization` has a role called `name` and that `user` holds
/// it; both steps are idempotent and safe when several instances race.
/// Returns whether the assignment was new.
pub async fn ensure_user_role(
    stores: &Stores,
    ids: &IdGenerator,
    now: OffsetDateTime,
    organization: &Organization,
    user: UserId,
    name: &str,
    description: &str,
) -> Result<bool> {
    let name = RoleName::parse(name)?;
    let role = match stores.roles.find_by_name(organization.id, &name).await? {
        Some(role) => role,
        None => {
            let role = Role {
                id: ids.next(),
                organization_id: organization.id,
                name: name.clone(),
                description: parse_description(description)?,
                permissions: PermissionSet::default(),
                created_at: now,
                updated_at: now,
            };
            match stores.roles.create(&role).await {
                Ok(()) => role,
                Err(Error::Conflict(_)) => {
                    stores.roles.find_by_name(organization.id, &name).await?.ok_or(Error::NotFound("role"))?
                }
                Err(other) => return Err(other),
            }
        }
    };
    let held = stores.roles.roles_of_user(organization.id, user).await?;
    if held.iter().any(|existing| existing.id == role.id) {
        return Ok(false);
    }
    stores.roles.assign_to_user(organization.id, user, role.id).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_are_lowercase_tokens() {
        for good in ["platform-admin", "org-admin", "billing.reader", "a", "ns:role_1"] {
            assert!(RoleName::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "Admin", "-x", "a b", "é", &"x".repeat(65)] {
            assert!(RoleName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn permissions_are_deduplicated_sorted_and_bounded() {
        let set = PermissionSet::parse(["b:write", "a:read", "b:write"]).unwrap();
        assert_eq!(set.iter().map(Permission::as_str).collect::<Vec<_>>(), ["a:read", "b:write"]);
        assert!(PermissionSet::parse(["has space"]).is_err());
        let many: Vec<String> = (0..101).map(|i| format!("p{i}")).collect();
        assert!(PermissionSet::parse(many.iter().map(String::as_str)).is_err());
    }

    #[test]
    fn claims_are_the_sorted_names_and_union_of_permissions() {
        let role = |name: &str, permissions: &[&str]| Role {
            id: RoleId::from_uuid(Uuid::nil()),
            organization_id: OrganizationId::from_uuid(Uuid::nil()),
            name: RoleName::parse(name).unwrap(),
            description: String::new(),
            permissions: PermissionSet::parse(permissions.iter().copied()).unwrap(),
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        };
        let (names, permissions) =
            claims_of(&[role("writer", &["doc:write", "doc:read"]), role("reader", &["doc:read"])]);
        assert_eq!(names, json!(["reader", "writer"]));
        assert_eq!(permissions, json!(["doc:read", "doc:write"]));
        assert_eq!(claims_of(&[]), (json!([]), json!([])));
    }
}
