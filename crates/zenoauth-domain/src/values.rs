//! Value objects: built only through `parse`, so holding one proves it is valid
//! ("parse, don't validate").

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

/// An organization's URL-safe handle: `/o/{slug}` is its issuer path.
/// 2–63 characters of `a-z`, `0-9` and single inner hyphens.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Slug(String);

impl Slug {
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let invalid = |reason| ValidationError::new("slug", reason);
        if !(2..=63).contains(&text.len()) {
            return Err(invalid("must be 2 to 63 characters"));
        }
        if !text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return Err(invalid("may contain only a-z, 0-9 and '-'"));
        }
        if text.starts_with('-') || text.ends_with('-') || text.contains("--") {
            return Err(invalid("hyphens must separate letters or digits"));
        }
        Ok(Self(text.to_owned()))
    }

    /// The slug of the platform's own organization, made by `bootstrap`.
    pub fn system() -> Self {
        Self("system".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A human-readable name (organization, application): 1–200 characters after
/// trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let trimmed = text.trim();
        if trimmed.is_empty() || trimmed.chars().count() > 200 {
            return Err(ValidationError::new("name", "must be 1 to 200 characters"));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(ValidationError::new("name", "must not contain control characters"));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address, normalised to lower case so that uniqueness within an
/// organization is case-insensitive (as Keycloak and Zitadel treat it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let invalid = |reason| ValidationError::new("email", reason);
        let normalised = text.trim().to_lowercase();
        if normalised.is_empty() || normalised.len() > 254 {
            return Err(invalid("must be 1 to 254 characters"));
        }
        if normalised.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("must not contain spaces or control characters"));
        }
        let Some((local, domain)) = normalised.rsplit_once('@') else {
            return Err(invalid("must contain '@'"));
        };
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return Err(invalid("has an invalid local part"));
        }
        let labels_ok = domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
        if domain.is_empty() || !labels_ok {
            return Err(invalid("has an invalid domain"));
        }
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A registered redirect URI: absolute, no fragment, no user-info; `https`,
/// or `http` only on a loopback host (RFC 8252 §7.3), or a private-use scheme
/// with a dot for native apps (RFC 8252 §7.1). Stored and compared in the
/// parsed, serialised form, so matching is exact string comparison of that form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RedirectUri(String);

impl RedirectUri {
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let invalid = |reason| ValidationError::new("redirect_uri", reason);
        if text.is_empty() || text.len() > 2000 {
            return Err(invalid("must be 1 to 2000 characters"));
        }
        let url = url::Url::parse(text).map_err(|_| invalid("must be an absolute URI"))?;
        if url.fragment().is_some() {
            return Err(invalid("must not contain a fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("must not contain user information"));
        }
        match url.scheme() {
            "https" => {
                if url.host().is_none() {
                    return Err(invalid("must name a host"));
                }
            }
            "http" => {
                if !is_loopback(&url) {
                    return Err(invalid("must use https unless the host is loopback"));
                }
            }
            scheme if scheme.contains('.') => {}
            _ => return Err(invalid("must use https, loopback http or a private-use scheme")),
        }
        Ok(Self(url.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(address)) => address.is_loopback(),
        Some(url::Host::Ipv6(address)) => address.is_loopback(),
        None => false,
    }
}

/// One OAuth scope token (RFC 6749 §3.3): printable ASCII without space, `"` or `\`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Scope(String);

impl Scope {
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let valid_char = |b: u8| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b);
        if text.is_empty() || text.len() > 128 || !text.bytes().all(valid_char) {
            return Err(ValidationError::new("scope", "must be 1 to 128 characters of %x21 / %x23-5B / %x5D-7E"));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A set of scopes, written space-delimited on the wire. Ordered, so that its
/// string form is canonical.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScopeSet(BTreeSet<Scope>);

impl ScopeSet {
    /// Parses a space-delimited list; repeated spaces and duplicates are tolerated.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        if text.len() > 4096 {
            return Err(ValidationError::new("scope", "must be at most 4096 characters"));
        }
        text.split(' ').filter(|part| !part.is_empty()).map(Scope::parse).collect::<Result<_, _>>().map(Self)
    }

    pub fn from_scopes(scopes: impl IntoIterator<Item = Scope>) -> Self {
        Self(scopes.into_iter().collect())
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|held| held.as_str() == scope)
    }

    pub fn is_subset_of(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for scope in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(scope.as_str())?;
            first = false;
        }
        Ok(())
    }
}

/// An application's public OAuth `client_id`: 1–128 visible ASCII characters
/// (RFC 6749 Appendix A.1, without space). Unique within an organization.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        if text.is_empty() || text.len() > 128 || !text.bytes().all(|b| (0x21..=0x7E).contains(&b)) {
            return Err(ValidationError::new("client_id", "must be 1 to 128 visible ASCII characters"));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The SHA-256 digest of an issued secret (session cookie, code, refresh token,
/// client secret). Only digests are stored; the secret itself is shown once.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretDigest([u8; 32]);

impl SecretDigest {
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Reads a stored digest; anything but 32 bytes is refused.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, ValidationError> {
        <[u8; 32]>::try_from(bytes).map(Self).map_err(|_| ValidationError::new("digest", "must be 32 bytes"))
    }

    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SecretDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretDigest({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

/// A password hash in PHC string format (`$argon2id$v=19$m=…`). Opaque to the
/// domain; only the `PasswordHasher` port reads it.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn parse(phc: &str) -> Result<Self, ValidationError> {
        if !phc.starts_with('$') || phc.len() > 512 {
            return Err(ValidationError::new("password_hash", "must be a PHC string"));
        }
        Ok(Self(phc.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// A human password as typed. Never stored, never logged.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Accepts 1–1024 bytes; strength policy is the organization's business.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        if text.is_empty() || text.len() > 1024 {
            return Err(ValidationError::new("password", "must be 1 to 1024 bytes"));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_accepts_lowercase_words_and_refuses_the_rest() {
        for good in ["acme", "corp-idp", "a1", "system"] {
            assert!(Slug::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "a", "Acme", "-acme", "acme-", "ac--me", "ac me", "acmé", "a/b", &"x".repeat(64)] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn email_is_normalised_to_lower_case_and_checked() {
        assert_eq!(Email::parse("  Alice@Example.COM ").unwrap().as_str(), "alice@example.com");
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "a b@example.com",
            "alice@exa mple.com",
            "alice@-x.com",
            "alice@x..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(65))).is_err());
    }

    #[test]
    fn redirect_uri_rules_follow_rfc_8252_and_9700() {
        for good in [
            "https://app.example.com/callback",
            "http://127.0.0.1:8080/cb",
            "http://localhost/cb",
            "http://[::1]:1234/cb",
            "com.example.app:/oauth2redirect",
        ] {
            assert!(RedirectUri::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/relative",
            "http://app.example.com/cb",
            "https://app.example.com/cb#frag",
            "https://user:pw@app.example.com/cb",
            "javascript:alert(1)",
            "data:text/html,hi",
        ] {
            assert!(RedirectUri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn redirect_uri_compares_in_parsed_form() {
        assert_eq!(
            RedirectUri::parse("HTTPS://App.Example.com/cb").unwrap(),
            RedirectUri::parse("https://app.example.com/cb").unwrap()
        );
        assert_ne!(
            RedirectUri::parse("https://app.example.com/cb").unwrap(),
            RedirectUri::parse("https://app.example.com/cb/").unwrap()
        );
    }

    #[test]
    fn scope_set_parses_and_prints_canonically() {
        let scopes = ScopeSet::parse("profile  openid email openid").unwrap();
        assert_eq!(scopes.to_string(), "email openid profile");
        assert!(scopes.contains("openid"));
        assert!(ScopeSet::parse("open\"id").is_err());
        assert!(ScopeSet::parse("a\\b").is_err());
        assert!(ScopeSet::parse("").unwrap().is_empty());
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        assert_eq!(format!("{:?}", Password::parse("hunter2").unwrap()), "Password(<redacted>)");
        assert!(!format!("{:?}", PasswordHash::parse("$argon2id$abc").unwrap()).contains("abc"));
    }

    #[test]
    fn client_id_refuses_spaces_and_control_characters() {
        assert!(ClientId::parse("my-app_1").is_ok());
        assert!(ClientId::parse("my app").is_err());
        assert!(ClientId::parse("a\u{7f}").is_err());
        assert!(ClientId::parse("").is_err());
    }
}
