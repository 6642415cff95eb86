//! Invalidation messages on the bus: `<kind>:<organization>:<key>`, e.g.
//! `app:0190…:my-client` or `revocation:0190…:0190…`. `*` as the organization
//! means every organization; an empty key means every entry of that kind in
//! the organization (keys themselves are never empty, and may contain `:`).

use zenoauth_domain::ids::OrganizationId;

/// What kind of cached entry changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// By slug; `All` = the organization was deleted with everything it owned.
    Organization,
    /// By client_id.
    Application,
    /// The organization's key list and active keys.
    SigningKeys,
    /// By session id.
    Session,
    /// By jti.
    Revocation,
    /// Role assignments and permissions of users and applications.
    Roles,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Organization => "org",
            Self::Application => "app",
            Self::SigningKeys => "keys",
            Self::Session => "session",
            Self::Revocation => "revocation",
            Self::Roles => "roles",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "org" => Self::Organization,
            "app" => Self::Application,
            "keys" => Self::SigningKeys,
            "session" => Self::Session,
            "revocation" => Self::Revocation,
            "roles" => Self::Roles,
            _ => return None,
        })
    }
}

/// Which entries of the kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Key(String),
}

/// One invalidation, local or from the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalidation {
    pub kind: Kind,
    /// `None`: every organization.
    pub organization: Option<OrganizationId>,
    pub scope: Scope,
}

impl Invalidation {
    pub fn key(kind: Kind, organization: OrganizationId, key: impl Into<String>) -> Self {
        let key = key.into();
        let scope = if key.is_empty() { Scope::All } else { Scope::Key(key) };
        Self { kind, organization: Some(organization), scope }
    }

    pub fn all_in(kind: Kind, organization: OrganizationId) -> Self {
        Self { kind, organization: Some(organization), scope: Scope::All }
    }

    pub fn everywhere(kind: Kind) -> Self {
        Self { kind, organization: None, scope: Scope::All }
    }

    pub fn to_message(&self) -> String {
        let organization = self.organization.map_or_else(|| "*".to_owned(), |id| id.to_string());
        let key = match &self.scope {
            Scope::All => "",
            Scope::Key(key) => key,
        };
        format!("{}:{organization}:{key}", self.kind.as_str())
    }

    /// `None` for a message this version does not understand (the caller
    /// then forgets everything: it cannot tell what changed).
    pub fn parse(message: &str) -> Option<Self> {
        let mut parts = message.splitn(3, ':');
        let kind = Kind::parse(parts.next()?)?;
        let organization = match parts.next()? {
            "*" => None,
            id => Some(id.parse().ok()?),
        };
        let key = parts.next()?;
        let scope = if key.is_empty() { Scope::All } else { Scope::Key(key.to_owned()) };
        if organization.is_none() && scope != Scope::All {
            return None;
        }
        Some(Self { kind, organization, scope })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let organization: OrganizationId = "0190a000-0000-7000-8000-000000000001".parse().unwrap();
        for invalidation in [
            Invalidation::key(Kind::Application, organization, "client:with:colons"),
            Invalidation::key(Kind::Revocation, organization, "*"),
            Invalidation::all_in(Kind::Session, organization),
            Invalidation::everywhere(Kind::SigningKeys),
        ] {
            assert_eq!(Invalidation::parse(&invalidation.to_message()), Some(invalidation));
        }
        assert_eq!(
            Invalidation::key(Kind::Application, organization, "web").to_message(),
            "app:0190a000-0000-7000-8000-000000000001:web"
        );
    }

    #[test]
    fn malformed_messages_are_refused() {
        for bad in ["", "app", "app:x:web", "nope:*:", "app:*:web", "app:0190a000-0000-7000-8000-000000000001"] {
            assert_eq!(Invalidation::parse(bad), None, "{bad}");
        }
    }
}
