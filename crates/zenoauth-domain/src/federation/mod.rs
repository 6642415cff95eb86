//! Federation: upstream identity providers an organization trusts
//! ([`IdentityProvider`]: OpenID Connect, or plain OAuth 2.0 with a userinfo
//! endpoint), the links from an upstream identity (provider,
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

/// What protocol an upstream speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProviderKind {
    /// OpenID Connect: endpoints from the issuer's discovery document, the
    /// identity from a validated ID token (`nonce` included).
    #[default]
    Oidc,
    /// Plain OAuth 2.0 (GitHub-style): configured authorization, token and
    /// userinfo endpoints, no ID token; the identity is the userinfo
    /// response read with the upstream access token.
    OAuth2,
}

impl ProviderKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Oidc => "oidc",
            Self::OAuth2 => "oauth2",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "oidc" => Some(Self::Oidc),
            "oauth2" => Some(Self::OAuth2),
            _ => None,
        }
    }

    /// The claim that names the user when the administrator names none:
    /// `sub` for OpenID Connect, `id` for OAuth 2.0 (GitHub's numeric id).
    pub const fn default_subject_claim(self) -> &'static str {
        match self {
            Self::Oidc => "sub",
            Self::OAuth2 => "id",
        }
    }
}

/// The longest `icon_url` accepted (a `data:` URL carries the image itself).
pub const MAX_ICON_URL_CHARS: usize = 8192;

/// An upstream identity provider of one organization. The client secret is
/// stored only sealed under the key-encryption key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityProvider {
    pub id: Uuid,
    pub organization_id: OrganizationId,
    /// Shown on the login button; unique within the organization.
    pub name: String,
    pub kind: ProviderKind,
    /// OpenID Connect: the upstream issuer; its discovery document is at
    /// `{issuer}/.well-known/openid-configuration`. OAuth 2.0: an identifier
    /// of the upstream (shown to administrators, not fetched).
    pub issuer: String,
    /// OAuth 2.0 only (required there): where the browser is sent.
    pub authorization_endpoint: Option<String>,
    /// OAuth 2.0 only (required there): where the code is exchanged.
    pub token_endpoint: Option<String>,
    /// OAuth 2.0 only (required there): the identity, read with the upstream
    /// access token.
    pub userinfo_endpoint: Option<String>,
    /// The claim naming the upstream user (a string or a number): always
    /// `sub` for OpenID Connect; `id` by default for OAuth 2.0.
    pub subject_claim: String,
    /// The claim holding the user's email; `email` by default.
    pub email_claim: String,
    /// Shown on the login button: an https URL (http only on loopback) or a
    /// `data:image/png` / `data:image/svg+xml` base64 URL.
    pub icon_url: Option<String>,
    /// When the upstream ID token's `amr` shows a multi-factor login
    /// ([`amr_is_multi_factor`]), the organization's required second factor
    /// is considered passed.
    pub trust_upstream_amr: bool,
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

/// An absolute https URL without fragment, or http on a loopback host
/// (`localhost`, `127.0.0.0/8`, `[::1]`) for development and tests.
fn check_endpoint(field: &'static str, text: &str) -> Result<url::Url, ValidationError> {
    let url = url::Url::parse(text).map_err(|_| ValidationError::new(field, "must be an absolute URL"))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(address)) => address.is_loopback(),
        Some(url::Host::Ipv6(address)) => address.is_loopback(),
        None => false,
    };
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    if !scheme_ok || url.host().is_none() || url.fragment().is_some() || text.len() > 2048 {
        return Err(ValidationError::new(
            field,
            "must be an https URL without fragment (http only for a loopback host), at most 2048 characters",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ValidationError::new(field, "must not carry credentials"));
    }
    Ok(url)
}

/// A claim name: 1 to 100 characters, no whitespace or control characters.
fn check_claim_name(field: &'static str, name: &str) -> Result<(), ValidationError> {
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ValidationError::new(field, "must be 1 to 100 characters without spaces"));
    }
    Ok(())
}

/// An icon: an https URL (http only for loopback), or a base64 `data:` URL
/// of a PNG or SVG image, at most [`MAX_ICON_URL_CHARS`] characters.
fn check_icon(icon: &str) -> Result<(), ValidationError> {
    const REASON: &str = "must be an https URL or a data:image/png;base64 / data:image/svg+xml;base64 URL";
    if icon.len() > MAX_ICON_URL_CHARS {
        return Err(ValidationError::new("icon_url", "must be at most 8192 characters"));
    }
    if let Some(data) = icon.strip_prefix("data:") {
        let payload = data
            .strip_prefix("image/png;base64,")
            .or_else(|| data.strip_prefix("image/svg+xml;base64,"))
            .ok_or_else(|| ValidationError::new("icon_url", REASON))?;
        let base64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=');
        if payload.is_empty() || !payload.chars().all(base64) {
            return Err(ValidationError::new("icon_url", REASON));
        }
        return Ok(());
    }
    check_endpoint("icon_url", icon).map(|_| ()).map_err(|_| ValidationError::new("icon_url", REASON))
}

impl IdentityProvider {
    /// Checks the fields an administrator writes.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(ValidationError::new("name", "must be 1 to 100 characters"));
        }
        // Discovery and keys are fetched from the issuer: plain http only on
        // loopback (development, tests), where nobody can sit in between.
        let issuer = check_endpoint("issuer", &self.issuer)?;
        if issuer.query().is_some() {
            return Err(ValidationError::new("issuer", "must have no query"));
        }
        if self.client_id.is_empty() || self.client_id.len() > 255 {
            return Err(ValidationError::new("client_id", "must be 1 to 255 characters"));
        }
        if self.scopes.iter().any(|scope| scope.is_empty() || scope.contains(char::is_whitespace)) {
            return Err(ValidationError::new("scopes", "must be non-empty and without spaces"));
        }
        if self.scopes.len() > 50 {
            return Err(ValidationError::new("scopes", "must be at most 50"));
        }
        check_claim_name("subject_claim", &self.subject_claim)?;
        if MUTABLE_SUBJECT_CLAIMS.iter().any(|claim| claim.eq_ignore_ascii_case(&self.subject_claim)) {
            return Err(ValidationError::new(
                "subject_claim",
                "must be an immutable id the upstream never reassigns (e.g. GitHub's id), not a name or email",
            ));
        }
        check_claim_name("email_claim", &self.email_claim)?;
        match self.kind {
            ProviderKind::Oidc => {
                if !self.scopes.iter().any(|scope| scope == "openid") {
                    return Err(ValidationError::new("scopes", "must include openid"));
                }
                for (field, value) in [
                    ("authorization_endpoint", &self.authorization_endpoint),
                    ("token_endpoint", &self.token_endpoint),
                    ("userinfo_endpoint", &self.userinfo_endpoint),
                ] {
                    if value.is_some() {
                        return Err(ValidationError::new(
                            field,
                            "is only for kind oauth2 (OpenID Connect endpoints come from discovery)",
                        ));
                    }
                }
                if self.subject_claim != "sub" {
                    return Err(ValidationError::new("subject_claim", "must be sub for kind oidc"));
                }
            }
            ProviderKind::OAuth2 => {
                for (field, value) in [
                    ("authorization_endpoint", &self.authorization_endpoint),
                    ("token_endpoint", &self.token_endpoint),
                    ("userinfo_endpoint", &self.userinfo_endpoint),
                ] {
                    let value =
                        value.as_deref().ok_or_else(|| ValidationError::new(field, "is required for kind oauth2"))?;
                    check_endpoint(field, value)?;
                }
                if self.trust_upstream_amr {
                    return Err(ValidationError::new("trust_upstream_amr", "needs an ID token: only for kind oidc"));
                }
            }
        }
        if let Some(icon) = &self.icon_url {
            check_icon(icon)?;
        }
        Ok(())
    }

    /// Whether `self` (a changed version of `before`) names upstream users
    /// differently: another issuer, kind or subject claim. The existing links
    /// then point at whoever carries the same value under the new naming, so
    /// such a change is refused while the provider has links.
    pub fn renames_subjects(&self, before: &IdentityProvider) -> bool {
        self.issuer != before.issuer || self.kind != before.kind || self.subject_claim != before.subject_claim
    }

    /// The icon's kind for the login page's Content-Security-Policy.
    pub fn icon_is_data_url(&self) -> bool {
        self.icon_url.as_deref().is_some_and(|icon| icon.starts_with("data:"))
    }
}

/// Claims that change or get reassigned to another person, refused as
/// `subject_claim`.
const MUTABLE_SUBJECT_CLAIMS: [&str; 5] = ["email", "login", "preferred_username", "name", "upn"];

/// Why changing the issuer, kind or subject claim of a linked provider is
/// refused.
pub const SUBJECT_RENAME_REFUSED: &str = "users are linked to this provider: changing issuer, kind or subject_claim \
would hand their links to whoever carries the same value under the new naming; remove the links (or the provider) \
first, or create a new provider";

/// Whether an upstream `amr` (RFC 8176) shows a multi-factor login: it says
/// `mfa`, or its methods span at least two of the three factor categories —
/// something known (`pwd`, `pin`, `kba`), something held (`otp`, `hwk`,
/// `swk`, `sms`, `tel`, `sc`), something one is (`fpt`, `face`, `iris`,
/// `retina`, `vbm`). Two methods of one category (`hwk` + `swk`), and values
/// that are no factor (`mca`, `geo`, `rba`, `user`, `wia`, unknown ones),
/// never count.
pub fn amr_is_multi_factor<S: AsRef<str>>(amr: &[S]) -> bool {
    let mut categories = [false; 3];
    for value in amr {
        let category = match value.as_ref() {
            "mfa" => return true,
            "pwd" | "pin" | "kba" => 0,
            "otp" | "hwk" | "swk" | "sms" | "tel" | "sc" => 1,
            "fpt" | "face" | "iris" | "retina" | "vbm" => 2,
            _ => continue,
        };
        categories[category] = true;
    }
    categories.iter().filter(|present| **present).count() >= 2
}

/// What [`crate::ports::FederationStore::delete_identity_unless_last`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityDeletion {
    Deleted,
    /// No such link of this user.
    NotFound,
    /// The user's only link: kept.
    Last,
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

/// An upstream identity waiting to be linked to an existing local user
/// once that user proves ownership of the account (its password), found by
/// the digest of a random token kept in the browser that came back from the
/// upstream. Single use and expiring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLink {
    pub token_digest: SecretDigest,
    pub organization_id: OrganizationId,
    pub provider_id: Uuid,
    /// The upstream `sub`.
    pub subject: String,
    /// The local user whose email the upstream asserted.
    pub user_id: UserId,
    /// The upstream claims, for the claim mapping once linked.
    pub claims: Json,
    /// Where to continue afterwards (the original authorization request's
    /// query, or empty).
    pub continuation: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// Session metadata key of a link proven by password whose session still
/// owes a second factor: the link is made only when that factor is passed
/// ([`crate::mfa`]), never on the password alone.
pub const LINK_AFTER_SECOND_FACTOR: &str = "federation_link";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn oauth2(authorization: &str) -> IdentityProvider {
        let now = OffsetDateTime::UNIX_EPOCH;
        IdentityProvider {
            id: Uuid::nil(),
            organization_id: OrganizationId::from_uuid(Uuid::nil()),
            name: "GitHub".into(),
            kind: ProviderKind::OAuth2,
            issuer: "https://github.com".into(),
            authorization_endpoint: Some(authorization.into()),
            token_endpoint: Some("https://github.com/login/oauth/access_token".into()),
            userinfo_endpoint: Some("https://api.github.com/user".into()),
            subject_claim: "id".into(),
            email_claim: "email".into(),
            icon_url: None,
            trust_upstream_amr: false,
            client_id: "Iv1.abc".into(),
            encrypted_client_secret: None,
            scopes: vec!["read:user".into(), "user:email".into()],
            enabled: true,
            jit_provisioning: true,
            link_by_verified_email: false,
            claim_mapping: ClaimMapping::default(),
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn oauth2_providers_need_their_endpoints_over_https() {
        let github = oauth2("https://github.com/login/oauth/authorize");
        assert_eq!(github.validate(), Ok(()));
        assert!(oauth2("http://127.0.0.1:8080/authorize").validate().is_ok(), "loopback http is allowed");
        assert!(oauth2("http://localhost/authorize").validate().is_ok());
        let field = |provider: IdentityProvider| provider.validate().unwrap_err().field;
        assert_eq!(field(oauth2("http://github.com/login")), "authorization_endpoint");
        assert_eq!(field(oauth2("https://user:pw@github.com/login")), "authorization_endpoint");
        assert_eq!(field(oauth2("https://github.com/login#x")), "authorization_endpoint");
        assert_eq!(field(oauth2("javascript:alert(1)")), "authorization_endpoint");
        assert_eq!(field(IdentityProvider { token_endpoint: None, ..github.clone() }), "token_endpoint");
        assert_eq!(field(IdentityProvider { userinfo_endpoint: None, ..github.clone() }), "userinfo_endpoint");
        assert_eq!(field(IdentityProvider { subject_claim: "a b".into(), ..github.clone() }), "subject_claim");
        for mutable in ["email", "login", "preferred_username", "name", "upn", "Login"] {
            assert_eq!(field(IdentityProvider { subject_claim: mutable.into(), ..github.clone() }), "subject_claim");
        }
        assert_eq!(field(IdentityProvider { trust_upstream_amr: true, ..github.clone() }), "trust_upstream_amr");
        let oidc = IdentityProvider {
            kind: ProviderKind::Oidc,
            authorization_endpoint: None,
            token_endpoint: None,
            userinfo_endpoint: None,
            subject_claim: "sub".into(),
            scopes: vec!["openid".into()],
            ..github.clone()
        };
        assert_eq!(oidc.validate(), Ok(()));
        assert_eq!(field(IdentityProvider { scopes: vec!["email".into()], ..oidc.clone() }), "scopes");
        let stray = IdentityProvider { token_endpoint: Some("https://x.example/t".into()), ..oidc.clone() };
        assert_eq!(field(stray), "token_endpoint");
        assert_eq!(field(IdentityProvider { subject_claim: "id".into(), ..oidc.clone() }), "subject_claim");
        for issuer in
            ["http://login.corp.example", "https://login.corp.example/?realm=x", "not a url", "ftp://x.example"]
        {
            assert_eq!(field(IdentityProvider { issuer: issuer.into(), ..oidc.clone() }), "issuer", "{issuer}");
        }
        assert!(IdentityProvider { issuer: "http://127.0.0.1:8080/o/corp".into(), ..oidc }.validate().is_ok());
    }

    #[test]
    fn icons_are_https_or_small_image_data_urls() {
        let with_icon = |icon: &str| IdentityProvider { icon_url: Some(icon.into()), ..oauth2("https://a.example/x") };
        assert!(with_icon("https://cdn.example.com/github.svg").validate().is_ok());
        assert!(with_icon("data:image/png;base64,iVBORw0KGgo=").validate().is_ok());
        assert!(with_icon("data:image/svg+xml;base64,PHN2Zy8+").validate().is_ok());
        for bad in [
            "http://cdn.example.com/a.png",
            "data:text/html;base64,PGI+",
            "data:image/svg+xml,<svg onload=alert(1)>",
            "data:image/png;base64,<script>",
            "javascript:alert(1)",
        ] {
            assert_eq!(with_icon(bad).validate().unwrap_err().field, "icon_url", "{bad}");
        }
        let huge = format!("data:image/png;base64,{}", "A".repeat(MAX_ICON_URL_CHARS));
        assert_eq!(with_icon(&huge).validate().unwrap_err().field, "icon_url");
    }

    #[test]
    fn multi_factor_amr_is_mfa_or_two_factor_categories() {
        assert!(amr_is_multi_factor(&["mfa"]));
        assert!(amr_is_multi_factor(&["pwd", "otp"]));
        assert!(amr_is_multi_factor(&["hwk", "pin"]));
        assert!(amr_is_multi_factor(&["swk", "fpt"]));
        assert!(amr_is_multi_factor(&["face", "kba"]));
        assert!(!amr_is_multi_factor(&["pwd"]));
        assert!(!amr_is_multi_factor(&["hwk", "swk"]), "two possession methods are one factor");
        assert!(!amr_is_multi_factor(&["pwd", "pin", "kba"]));
        assert!(!amr_is_multi_factor(&["pwd", "mca", "geo", "rba", "user", "wia"]));
        assert!(!amr_is_multi_factor::<&str>(&[]));
        assert!(!amr_is_multi_factor(&["MFA", "Pwd", "OTP"]), "values are case-sensitive");
    }

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
