//! Typed per-application and per-organization settings, read from the free
//! JSON `settings` objects of [`Application`] and [`Organization`]. Unknown
//! keys are ignored (other features keep their own keys there); a known key
//! with a wrong value is refused, so a misconfiguration is seen, not guessed.

use serde_json::Value as Json;
use time::Duration;

use crate::error::ValidationError;
use crate::model::{Application, ClientType, Organization, SigningAlgorithm};
use crate::values::RedirectUri;

/// OAuth grant types an application may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl GrantType {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "authorization_code" => Some(Self::AuthorizationCode),
            "refresh_token" => Some(Self::RefreshToken),
            "client_credentials" => Some(Self::ClientCredentials),
            _ => None,
        }
    }
}

/// How a client authenticates at the token endpoint (OIDC Core §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
    None,
}

impl ClientAuthMethod {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "client_secret_basic" => Some(Self::ClientSecretBasic),
            "client_secret_post" => Some(Self::ClientSecretPost),
            "private_key_jwt" => Some(Self::PrivateKeyJwt),
            "none" => Some(Self::None),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::None => "none",
        }
    }
}

/// Default lifetimes (OP contract): code 60 s, access and ID token 900 s,
/// refresh family 30 days.
pub const CODE_LIFETIME: Duration = Duration::seconds(60);
const DEFAULT_ACCESS_TOKEN_LIFETIME: Duration = Duration::seconds(900);
const DEFAULT_ID_TOKEN_LIFETIME: Duration = Duration::seconds(900);
const DEFAULT_REFRESH_TOKEN_LIFETIME: Duration = Duration::days(30);

/// The settings of one application, with defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplicationSettings {
    pub grant_types: Vec<GrantType>,
    pub token_endpoint_auth_method: ClientAuthMethod,
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    pub access_token_lifetime: Duration,
    pub id_token_lifetime: Duration,
    pub refresh_token_lifetime: Duration,
    pub signing_algorithm: SigningAlgorithm,
    /// First-party applications skip the consent page.
    pub is_first_party: bool,
    /// The client's public keys (a JWK set) for `private_key_jwt`.
    pub jwks: Option<Json>,
}

impl ApplicationSettings {
    /// Reads `application.settings`:
    /// `grant_types` (array; default `["authorization_code","refresh_token"]`),
    /// `token_endpoint_auth_method` (default `client_secret_basic` for
    /// confidential clients, `none` for public ones),
    /// `post_logout_redirect_uris` (array), `access_token_lifetime_seconds`,
    /// `id_token_lifetime_seconds`, `refresh_token_lifetime_seconds`,
    /// `signing_algorithm` (`EdDSA` default, `ES256`, `RS256`),
    /// `is_first_party` (bool, default false), `jwks` (object with `keys`).
    pub fn from_application(application: &Application) -> Result<Self, ValidationError> {
        let settings = &application.settings;
        let grant_types = match settings.get("grant_types") {
            None | Some(Json::Null) => vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            Some(value) => strings(value, "grant_types")?
                .iter()
                .map(|text| GrantType::parse(text).ok_or(invalid("grant_types", "unknown grant type")))
                .collect::<Result<_, _>>()?,
        };
        let default_method = if application.client_type.is_confidential() {
            ClientAuthMethod::ClientSecretBasic
        } else {
            ClientAuthMethod::None
        };
        let token_endpoint_auth_method = match settings.get("token_endpoint_auth_method") {
            None | Some(Json::Null) => default_method,
            Some(value) => value
                .as_str()
                .and_then(ClientAuthMethod::parse)
                .ok_or(invalid("token_endpoint_auth_method", "unknown method"))?,
        };
        let method_fits = match (&application.client_type, token_endpoint_auth_method) {
            (ClientType::Public, ClientAuthMethod::None) => true,
            (ClientType::Public, _) | (_, ClientAuthMethod::None) => false,
            (ClientType::Confidential { .. }, _) => true,
        };
        if !method_fits {
            return Err(invalid("token_endpoint_auth_method", "must be none exactly for public clients"));
        }
        let jwks = match settings.get("jwks") {
            None | Some(Json::Null) => None,
            Some(value) if value.get("keys").is_some_and(Json::is_array) => Some(value.clone()),
            Some(_) => return Err(invalid("jwks", "must be a JWK set with a keys array")),
        };
        if token_endpoint_auth_method == ClientAuthMethod::PrivateKeyJwt && jwks.is_none() {
            return Err(invalid("jwks", "is required for private_key_jwt"));
        }
        let post_logout_redirect_uris = match settings.get("post_logout_redirect_uris") {
            None | Some(Json::Null) => Vec::new(),
            Some(value) => strings(value, "post_logout_redirect_uris")?
                .iter()
                .map(|text| RedirectUri::parse(text))
                .collect::<Result<_, _>>()?,
        };
        let signing_algorithm = match settings.get("signing_algorithm") {
            None | Some(Json::Null) => SigningAlgorithm::EdDsa,
            Some(value) => SigningAlgorithm::parse(value.as_str().unwrap_or_default())?,
        };
        let is_first_party = match settings.get("is_first_party") {
            None | Some(Json::Null) => false,
            Some(value) => value.as_bool().ok_or(invalid("is_first_party", "must be true or false"))?,
        };
        Ok(Self {
            grant_types,
            token_endpoint_auth_method,
            post_logout_redirect_uris,
            access_token_lifetime: lifetime(settings, "access_token_lifetime_seconds", DEFAULT_ACCESS_TOKEN_LIFETIME)?,
            id_token_lifetime: lifetime(settings, "id_token_lifetime_seconds", DEFAULT_ID_TOKEN_LIFETIME)?,
            refresh_token_lifetime: lifetime(
                settings,
                "refresh_token_lifetime_seconds",
                DEFAULT_REFRESH_TOKEN_LIFETIME,
            )?,
            signing_algorithm,
            is_first_party,
            jwks,
        })
    }

    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }
}

/// The OAuth-relevant settings of an organization.
#[derive(Debug, Clone, PartialEq)]
pub struct OrganizationSettings {
    /// A session ends this long after login, whatever its use.
    pub session_absolute_lifetime: Duration,
    /// Documented for operators; see docs/conformance.md for how it applies.
    pub session_idle_lifetime: Duration,
    /// Shown on the hosted pages when set (https only).
    pub logo_url: Option<String>,
}

impl OrganizationSettings {
    /// Reads `session_absolute_lifetime_seconds` (default 10 h),
    /// `session_idle_lifetime_seconds` (default 30 min) and `logo_url`.
    pub fn from_organization(organization: &Organization) -> Result<Self, ValidationError> {
        let settings = &organization.settings;
        let logo_url = match settings.get("logo_url") {
            None | Some(Json::Null) => None,
            Some(value) => {
                let text = value.as_str().ok_or(invalid("logo_url", "must be a string"))?;
                let url = url::Url::parse(text).map_err(|_| invalid("logo_url", "must be an absolute URL"))?;
                if url.scheme() != "https" || text.len() > 2000 {
                    return Err(invalid("logo_url", "must be an https URL of at most 2000 characters"));
                }
                Some(url.to_string())
            }
        };
        Ok(Self {
            session_absolute_lifetime: lifetime(settings, "session_absolute_lifetime_seconds", Duration::hours(10))?,
            session_idle_lifetime: lifetime(settings, "session_idle_lifetime_seconds", Duration::minutes(30))?,
            logo_url,
        })
    }
}

/// Reads the organization setting `password_login` (default `true`). When
/// `false` the hosted login page shows only the upstream identity providers'
/// buttons and a posted password is refused. The `system` organization may
/// not turn it off (its administrators must always be able to sign in).
pub fn password_login_setting(organization: &Organization) -> Result<bool, ValidationError> {
    match organization.settings.get("password_login") {
        None | Some(Json::Null) => Ok(true),
        Some(Json::Bool(false)) if organization.slug == crate::values::Slug::system() => {
            Err(invalid("password_login", "cannot be turned off for the system organization"))
        }
        Some(Json::Bool(enabled)) => Ok(*enabled),
        Some(_) => Err(invalid("password_login", "must be true or false")),
    }
}

/// Whether the organization's users may sign in with a password (see
/// [`password_login_setting`]); an unreadable setting, or the `system`
/// organization, keeps password login on.
pub fn password_login_enabled(organization: &Organization) -> bool {
    password_login_setting(organization).unwrap_or(true)
}

fn invalid(field: &'static str, reason: &'static str) -> ValidationError {
    ValidationError::new(field, reason)
}

fn strings(value: &Json, field: &'static str) -> Result<Vec<String>, ValidationError> {
    value
        .as_array()
        .ok_or(invalid(field, "must be an array of strings"))?
        .iter()
        .map(|item| item.as_str().map(str::to_owned).ok_or(invalid(field, "must be an array of strings")))
        .collect()
}

/// A lifetime in whole seconds, 1 s to 400 days.
fn lifetime(settings: &Json, field: &'static str, default: Duration) -> Result<Duration, ValidationError> {
    match settings.get(field) {
        None | Some(Json::Null) => Ok(default),
        Some(value) => value
            .as_i64()
            .filter(|seconds| (1..=400 * 86_400).contains(seconds))
            .map(Duration::seconds)
            .ok_or(invalid(field, "must be a number of seconds from 1 to 34560000")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ApplicationId, OrganizationId};
    use crate::values::{ClientId, DisplayName, ScopeSet, SecretDigest};
    use serde_json::json;
    use uuid::Uuid;

    fn application(client_type: ClientType, settings: Json) -> Application {
        Application {
            id: ApplicationId::from_uuid(Uuid::nil()),
            organization_id: OrganizationId::from_uuid(Uuid::nil()),
            client_id: ClientId::parse("app").unwrap(),
            name: DisplayName::parse("App").unwrap(),
            client_type,
            redirect_uris: vec![],
            allowed_scopes: ScopeSet::parse("openid").unwrap(),
            settings,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            updated_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn confidential() -> ClientType {
        ClientType::Confidential { secret_digest: SecretDigest::from_bytes([1; 32]) }
    }

    #[test]
    fn defaults_depend_on_the_client_type() {
        let settings = ApplicationSettings::from_application(&application(confidential(), json!({}))).unwrap();
        assert_eq!(settings.token_endpoint_auth_method, ClientAuthMethod::ClientSecretBasic);
        assert_eq!(settings.signing_algorithm, SigningAlgorithm::EdDsa);
        assert_eq!(settings.access_token_lifetime, Duration::seconds(900));
        assert_eq!(settings.refresh_token_lifetime, Duration::days(30));
        assert!(settings.allows(GrantType::AuthorizationCode) && !settings.allows(GrantType::ClientCredentials));
        assert!(!settings.is_first_party);
        let public = ApplicationSettings::from_application(&application(ClientType::Public, json!({}))).unwrap();
        assert_eq!(public.token_endpoint_auth_method, ClientAuthMethod::None);
    }

    #[test]
    fn every_known_key_is_read() {
        let settings = ApplicationSettings::from_application(&application(
            confidential(),
            json!({
                "grant_types": ["client_credentials"],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": []},
                "post_logout_redirect_uris": ["https://app.example.com/bye"],
                "access_token_lifetime_seconds": 60,
                "id_token_lifetime_seconds": 120,
                "refresh_token_lifetime_seconds": 3600,
                "signing_algorithm": "RS256",
                "is_first_party": true,
                "someone_elses_key": 1,
            }),
        ))
        .unwrap();
        assert_eq!(settings.grant_types, vec![GrantType::ClientCredentials]);
        assert_eq!(settings.token_endpoint_auth_method, ClientAuthMethod::PrivateKeyJwt);
        assert_eq!(settings.post_logout_redirect_uris[0].as_str(), "https://app.example.com/bye");
        assert_eq!(settings.access_token_lifetime, Duration::seconds(60));
        assert_eq!(settings.id_token_lifetime, Duration::seconds(120));
        assert_eq!(settings.refresh_token_lifetime, Duration::hours(1));
        assert_eq!(settings.signing_algorithm, SigningAlgorithm::Rs256);
        assert!(settings.is_first_party && settings.jwks.is_some());
    }

    #[test]
    fn wrong_values_are_refused() {
        for bad in [
            json!({"grant_types": ["password"]}),
            json!({"grant_types": "authorization_code"}),
            json!({"token_endpoint_auth_method": "none"}),
            json!({"token_endpoint_auth_method": "private_key_jwt"}),
            json!({"signing_algorithm": "HS256"}),
            json!({"access_token_lifetime_seconds": 0}),
            json!({"access_token_lifetime_seconds": "900"}),
            json!({"post_logout_redirect_uris": ["http://evil.example.com/"]}),
            json!({"is_first_party": "yes"}),
            json!({"jwks": {"kty": "OKP"}}),
        ] {
            assert!(ApplicationSettings::from_application(&application(confidential(), bad.clone())).is_err(), "{bad}");
        }
        let public = application(ClientType::Public, json!({"token_endpoint_auth_method": "client_secret_basic"}));
        assert!(ApplicationSettings::from_application(&public).is_err());
    }

    #[test]
    fn organization_settings_have_defaults_and_check_the_logo() {
        let mut organization = Organization {
            id: OrganizationId::from_uuid(Uuid::nil()),
            slug: crate::values::Slug::parse("acme").unwrap(),
            name: DisplayName::parse("Acme").unwrap(),
            settings: json!({}),
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            updated_at: time::OffsetDateTime::UNIX_EPOCH,
        };
        let defaults = OrganizationSettings::from_organization(&organization).unwrap();
        assert_eq!(defaults.session_absolute_lifetime, Duration::hours(10));
        assert_eq!(defaults.session_idle_lifetime, Duration::minutes(30));
        assert_eq!(defaults.logo_url, None);
        organization.settings =
            json!({"logo_url": "https://cdn.example.com/logo.png", "session_absolute_lifetime_seconds": 60});
        let set = OrganizationSettings::from_organization(&organization).unwrap();
        assert_eq!(set.logo_url.as_deref(), Some("https://cdn.example.com/logo.png"));
        assert_eq!(set.session_absolute_lifetime, Duration::minutes(1));
        organization.settings = json!({"logo_url": "javascript:alert(1)"});
        assert!(OrganizationSettings::from_organization(&organization).is_err());
    }

    #[test]
    fn password_login_is_on_by_default_and_stays_on_for_system() {
        let mut organization = Organization {
            id: OrganizationId::from_uuid(Uuid::nil()),
            slug: crate::values::Slug::parse("acme").unwrap(),
            name: DisplayName::parse("Acme").unwrap(),
            settings: json!({}),
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            updated_at: time::OffsetDateTime::UNIX_EPOCH,
        };
        assert_eq!(password_login_setting(&organization), Ok(true));
        organization.settings = json!({"password_login": false});
        assert_eq!(password_login_setting(&organization), Ok(false));
        assert!(!password_login_enabled(&organization));
        organization.settings = json!({"password_login": "no"});
        assert!(password_login_setting(&organization).is_err());
        assert!(password_login_enabled(&organization), "an unreadable value keeps password login on");
        organization.slug = crate::values::Slug::system();
        organization.settings = json!({"password_login": false});
        assert!(password_login_setting(&organization).is_err());
        assert!(password_login_enabled(&organization), "never off for the system organization");
    }
}
