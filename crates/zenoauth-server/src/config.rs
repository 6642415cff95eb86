//! The one typed configuration. Sources, lowest first: built-in defaults, an
//! optional TOML file (`--config PATH` or `ZENOAUTH_CONFIG`), environment
//! variables. Everything is validated here, once, at start-up: a bad setting
//! becomes one [`ConfigError`] line naming the setting and its variable.
//!
//! [`SETTINGS`] lists every key with its variable, default and meaning; it is
//! the source of `docs/configuration.md` and `deploy/zenoauth.toml`, and tests
//! keep the three in step with [`RawConfig`].

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};
use url::{Host, Url};
use zenoauth_crypto::KeyEncryptionKey;
use zenoauth_domain::keys::KeyPolicy;
use zenoauth_domain::values::{Email, Password};

use crate::http::oidc::jwks::JWKS_MAX_AGE_SECONDS;

/// The default database: an SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://zenoauth.db";
/// Where the key-encryption key is kept when none is configured and the
/// public URL is a loopback address.
pub const LOCAL_KEK_FILE: &str = "zenoauth.kek";
/// The administrator has every right: a configured password must not be trivially short.
pub const MIN_ADMIN_PASSWORD_CHARS: usize = 12;

/// One configuration key: where it lives in the file, which environment
/// variables set it (the first one set wins), its default and meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    pub key: &'static str,
    pub env: &'static [&'static str],
    pub default: &'static str,
    pub description: &'static str,
}

impl Setting {
    /// The variable to name in messages.
    pub fn primary_env(&self) -> &'static str {
        self.env.first().copied().unwrap_or("")
    }
}

macro_rules! settings {
    ($($ident:ident = $key:literal, [$($env:literal),+], $default:literal, $description:literal;)+) => {
        $(pub const $ident: Setting = Setting { key: $key, env: &[$($env),+], default: $default, description: $description };)+
        /// Every configuration key, in file order.
        pub const SETTINGS: &[Setting] = &[$($ident),+];
    };
}

settings! {
    SERVER_BIND = "server.bind", ["ZENOAUTH_BIND"], "127.0.0.1:8080",
        "Socket address to listen on. Port 0 picks a free port (the log says which).";
    SERVER_PUBLIC_URL = "server.public_url", ["ZENOAUTH_PUBLIC_URL"], "http://{bind}",
        "Externally visible base URL (absolute http or https, no query or fragment). Issuers are {public_url}/o/{slug}.";
    SERVER_SHUTDOWN_TIMEOUT = "server.shutdown_timeout_seconds", ["ZENOAUTH_SHUTDOWN_TIMEOUT_SECONDS"], "30",
        "On SIGTERM/SIGINT, how long to let in-flight requests finish before exiting anyway.";
    SERVER_REQUEST_TIMEOUT = "server.request_timeout_seconds", ["ZENOAUTH_REQUEST_TIMEOUT_SECONDS"], "30",
        "A request still running after this many seconds is answered 503.";
    SERVER_TLS_CERTIFICATE = "server.tls_certificate_file", ["ZENOAUTH_TLS_CERTIFICATE_FILE"], "",
        "PEM certificate chain: set with tls_private_key_file to serve HTTPS (TLS 1.3) directly; reloaded when it changes.";
    SERVER_TLS_PRIVATE_KEY = "server.tls_private_key_file", ["ZENOAUTH_TLS_PRIVATE_KEY_FILE"], "",
        "PEM private key of tls_certificate_file (PKCS#8, PKCS#1 or SEC1); reloaded when it changes.";
    SERVER_MAX_BODY_BYTES = "server.max_body_bytes", ["ZENOAUTH_MAX_BODY_BYTES"], "65536",
        "Largest accepted request body; larger ones are answered 413.";
    DATABASE_URL = "database.url", ["ZENOAUTH_DATABASE_URL", "DATABASE_URL"], "sqlite://zenoauth.db",
        "postgres:// or postgresql:// selects PostgreSQL, sqlite:// an SQLite file (created if missing).";
    DATABASE_MAX_CONNECTIONS = "database.max_connections", ["ZENOAUTH_DATABASE_MAX_CONNECTIONS"], "10",
        "Size of the connection pool.";
    DATABASE_MIGRATE_ON_START = "database.migrate_on_start", ["ZENOAUTH_MIGRATE_ON_START"], "true",
        "Apply pending migrations when `serve` starts (otherwise run `zenoauth migrate`).";
    KEYS_KEK = "keys.key_encryption_key", ["ZENOAUTH_KEY_ENCRYPTION_KEY"], "",
        "Base64 of 32 random bytes that encrypts signing keys at rest. Required unless public_url is loopback.";
    KEYS_KEK_FILE = "keys.key_encryption_key_file", ["ZENOAUTH_KEY_ENCRYPTION_KEY_FILE"], "",
        "A file holding the key-encryption key (base64), instead of key_encryption_key.";
    KEYS_ROTATION_PERIOD = "keys.rotation_period_days", ["ZENOAUTH_KEY_ROTATION_PERIOD_DAYS"], "90",
        "Signing keys this old are rotated automatically (staged: published first, signing later). 0 turns it off.";
    KEYS_PUBLISH_BEFORE_SIGNING = "keys.publish_before_signing_seconds",
        ["ZENOAUTH_KEY_PUBLISH_BEFORE_SIGNING_SECONDS"], "3600",
        "A rotated-in key is in JWKS this long before it signs; at least 300, the JWKS cache lifetime.";
    KEYS_RETIRED_KEY_PUBLISH = "keys.retired_key_publish_seconds", ["ZENOAUTH_RETIRED_KEY_PUBLISH_SECONDS"], "86400",
        "A replaced key stays in JWKS this long after it stops signing; must cover the longest access/ID token lifetime.";
    PASSWORDS_MEMORY = "passwords.argon2_memory_kib", ["ZENOAUTH_ARGON2_MEMORY_KIB"], "65536",
        "Argon2id memory cost per hash, in KiB.";
    PASSWORDS_ITERATIONS = "passwords.argon2_iterations", ["ZENOAUTH_ARGON2_ITERATIONS"], "3",
        "Argon2id time cost (passes).";
    PASSWORDS_PARALLELISM = "passwords.argon2_parallelism", ["ZENOAUTH_ARGON2_PARALLELISM"], "4",
        "Argon2id lanes.";
    PASSWORDS_MAX_CONCURRENT = "passwords.max_concurrent_hashes", ["ZENOAUTH_MAX_CONCURRENT_HASHES"], "",
        "How many password hashes may run at once (bounds memory under a login flood). Default: the number of CPUs.";
    BOOTSTRAP_ADMIN_EMAIL = "bootstrap.admin_email", ["ZENOAUTH_BOOTSTRAP_ADMIN_EMAIL"], "admin@localhost",
        "Email of the first administrator of the system organization.";
    BOOTSTRAP_ADMIN_PASSWORD = "bootstrap.admin_password", ["ZENOAUTH_BOOTSTRAP_ADMIN_PASSWORD"], "",
        "Password of the first administrator. Unset: one is generated and printed once.";
    SECURITY_RATE_IP = "security.rate_limit_ip_per_second", ["ZENOAUTH_RATE_LIMIT_IP_PER_SECOND"], "20",
        "Requests per second one source IP may make to public endpoints (token bucket; 0 turns it off).";
    SECURITY_RATE_IP_BURST = "security.rate_limit_ip_burst", ["ZENOAUTH_RATE_LIMIT_IP_BURST"], "100",
        "Requests one source IP may make in a burst before the per-second rate applies.";
    SECURITY_RATE_CLIENT = "security.rate_limit_client_per_second", ["ZENOAUTH_RATE_LIMIT_CLIENT_PER_SECOND"], "50",
        "Requests per second naming one OAuth client (organization + client_id; 0 turns it off).";
    SECURITY_RATE_CLIENT_BURST = "security.rate_limit_client_burst", ["ZENOAUTH_RATE_LIMIT_CLIENT_BURST"], "200",
        "Requests naming one OAuth client in a burst before the per-second rate applies.";
    SECURITY_MAX_FORM_FIELDS = "security.max_form_fields", ["ZENOAUTH_MAX_FORM_FIELDS"], "64",
        "Most fields in a form body; more are answered 400.";
    SECURITY_MAX_HEADER_BYTES = "security.max_header_bytes", ["ZENOAUTH_MAX_HEADER_BYTES"], "32768",
        "Largest request head (request line and headers), at least 8192; larger ones are answered 431.";
    SECURITY_HEADER_TIMEOUT = "security.header_read_timeout_seconds", ["ZENOAUTH_HEADER_READ_TIMEOUT_SECONDS"], "10",
        "A connection that has not sent a complete request head within this time (also: idle keep-alive) is closed.";
    SECURITY_MAX_QUEUED_HASHES = "security.max_queued_password_hashes", ["ZENOAUTH_MAX_QUEUED_PASSWORD_HASHES"], "32",
        "Logins that may wait for a password hash beyond those running; more are answered 503 with Retry-After.";
    SECURITY_AUDIT_BUFFER = "security.audit_buffer_events", ["ZENOAUTH_AUDIT_BUFFER_EVENTS"], "10000",
        "Audit events held in memory while the database is slow or down; beyond it events are dropped, counted and logged.";
    SECURITY_TRUSTED_PROXIES = "security.trusted_proxies", ["ZENOAUTH_TRUSTED_PROXIES"], "",
        "Reverse proxies (IPs or CIDR ranges; comma-separated in the variable; /0 is refused) whose forwarding header names the client. Empty: the TCP peer is the client.";
    SECURITY_FORWARDED_HEADER = "security.forwarded_header", ["ZENOAUTH_FORWARDED_HEADER"], "x-forwarded-for",
        "The header the trusted proxies append, and the only one read: x-forwarded-for or forwarded (RFC 7239). The proxy must overwrite or append to it; the other header is ignored.";
    CACHE_ENABLED = "cache.enabled", ["ZENOAUTH_CACHE_ENABLED"], "true",
        "Serve organizations, applications, signing keys, sessions, revocation checks and roles from memory caches.";
    CACHE_TTL = "cache.ttl_seconds", ["ZENOAUTH_CACHE_TTL_SECONDS"], "60",
        "Longest time a cached entry is served: the staleness bound for changes no instance announced.";
    CACHE_MAX_ENTRIES = "cache.max_entries", ["ZENOAUTH_CACHE_MAX_ENTRIES"], "10000",
        "Entries per cache (seven caches).";
    MAIL_SMTP_URL = "mail.smtp_url", ["ZENOAUTH_SMTP_URL"], "",
        "SMTP server: smtp://host:25 (plain), smtp://host:587?tls=required (STARTTLS) or smtps://host:465, with optional user:password@. Unset: mail stays queued in the outbox, unsent.";
    MAIL_FROM = "mail.from", ["ZENOAUTH_MAIL_FROM"], "ZenoAuth <noreply@localhost>",
        "The From: mailbox of every mail.";
    MAIL_POLL_INTERVAL = "mail.poll_interval_seconds", ["ZENOAUTH_MAIL_POLL_INTERVAL_SECONDS"], "5",
        "How often the sender looks for due messages in the outbox (mail queued by the same instance goes at once).";
    MAIL_LEASE = "mail.lease_seconds", ["ZENOAUTH_MAIL_LEASE_SECONDS"], "300",
        "How long a claimed message is reserved for one instance; after that another may send it (at-least-once).";
    MAIL_RETRY_INITIAL = "mail.retry_initial_seconds", ["ZENOAUTH_MAIL_RETRY_INITIAL_SECONDS"], "30",
        "Delay after the first failed attempt; it doubles with every failure up to mail.retry_max_seconds.";
    MAIL_RETRY_MAX = "mail.retry_max_seconds", ["ZENOAUTH_MAIL_RETRY_MAX_SECONDS"], "3600",
        "Longest delay between attempts.";
    MAIL_MAX_ATTEMPTS = "mail.max_attempts", ["ZENOAUTH_MAIL_MAX_ATTEMPTS"], "25",
        "Attempts before a message is given up (kept in the outbox as failed). A permanent SMTP refusal (5xx) gives up at once.";
    MAIL_VERIFICATION_LINK = "mail.verification_link_seconds", ["ZENOAUTH_VERIFICATION_LINK_SECONDS"], "86400",
        "Lifetime of email-verification links.";
    MAIL_RESET_LINK = "mail.reset_link_seconds", ["ZENOAUTH_RESET_LINK_SECONDS"], "1800",
        "Lifetime of password-reset links.";
    MAIL_INVITATION_LINK = "mail.invitation_link_seconds", ["ZENOAUTH_INVITATION_LINK_SECONDS"], "604800",
        "Lifetime of invitation (set-password) links.";
    FEDERATION_UPSTREAM_TIMEOUT = "federation.upstream_timeout_seconds",
        ["ZENOAUTH_FEDERATION_UPSTREAM_TIMEOUT_SECONDS"], "10",
        "Longest wait (1 to 120) for one request to an upstream identity provider; slower answers end the login with upstream_timeout.";
    LOG_FORMAT = "log.format", ["ZENOAUTH_LOG_FORMAT"], "auto",
        "auto (JSON when stdout is not a terminal), json or text.";
    LOG_FILTER = "log.filter", ["ZENOAUTH_LOG"], "info",
        "tracing filter directives, e.g. `info,zenoauth_server=debug`.";
}

/// Why the configuration was refused. One line each; never echoes a secret.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid setting {key} ({env}): {reason}")]
    Invalid { key: &'static str, env: &'static str, reason: String },
    #[error("cannot read config file {path}: {reason}")]
    ReadFile { path: PathBuf, reason: String },
    #[error("invalid config file {path}{location}: {message}")]
    ParseFile { path: PathBuf, location: String, message: String },
    #[error(
        "key_encryption_key is required when public_url is not a loopback address (set ZENOAUTH_KEY_ENCRYPTION_KEY)"
    )]
    MissingKeyEncryptionKey,
    #[error("set only one of keys.key_encryption_key and keys.key_encryption_key_file")]
    ConflictingKeyEncryptionKey,
    #[error("cannot use the local key-encryption key: {reason} (or set ZENOAUTH_KEY_ENCRYPTION_KEY)")]
    LocalKeyFile { reason: String },
}

impl ConfigError {
    fn invalid(setting: &Setting, env: Option<&'static str>, reason: impl Into<String>) -> Self {
        Self::Invalid { key: setting.key, env: env.unwrap_or(setting.primary_env()), reason: reason.into() }
    }
}

fn serialize_redacted<S: Serializer>(value: &Option<SecretString>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => serializer.serialize_some("[redacted]"),
        None => serializer.serialize_none(),
    }
}

/// The file layer: every key optional, unknown keys refused. Serializes with
/// secrets redacted.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub database: RawDatabase,
    #[serde(default)]
    pub keys: RawKeys,
    #[serde(default)]
    pub passwords: RawPasswords,
    #[serde(default)]
    pub bootstrap: RawBootstrap,
    #[serde(default)]
    pub security: RawSecurity,
    #[serde(default)]
    pub cache: RawCache,
    #[serde(default)]
    pub mail: RawMail,
    #[serde(default)]
    pub federation: RawFederation,
    #[serde(default)]
    pub log: RawLog,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawMail {
    #[serde(serialize_with = "serialize_redacted")]
    pub smtp_url: Option<SecretString>,
    pub from: Option<String>,
    pub poll_interval_seconds: Option<u64>,
    pub lease_seconds: Option<u64>,
    pub retry_initial_seconds: Option<u64>,
    pub retry_max_seconds: Option<u64>,
    pub max_attempts: Option<u64>,
    pub verification_link_seconds: Option<u64>,
    pub reset_link_seconds: Option<u64>,
    pub invitation_link_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawFederation {
    pub upstream_timeout_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawCache {
    pub enabled: Option<bool>,
    pub ttl_seconds: Option<u64>,
    pub max_entries: Option<u64>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawSecurity {
    pub rate_limit_ip_per_second: Option<u64>,
    pub rate_limit_ip_burst: Option<u64>,
    pub rate_limit_client_per_second: Option<u64>,
    pub rate_limit_client_burst: Option<u64>,
    pub max_form_fields: Option<u64>,
    pub max_header_bytes: Option<u64>,
    pub header_read_timeout_seconds: Option<u64>,
    pub max_queued_password_hashes: Option<u64>,
    pub audit_buffer_events: Option<u64>,
    pub trusted_proxies: Option<Vec<String>>,
    pub forwarded_header: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub bind: Option<String>,
    pub public_url: Option<String>,
    pub shutdown_timeout_seconds: Option<u64>,
    pub request_timeout_seconds: Option<u64>,
    pub max_body_bytes: Option<u64>,
    pub tls_certificate_file: Option<PathBuf>,
    pub tls_private_key_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawDatabase {
    #[serde(serialize_with = "serialize_redacted")]
    pub url: Option<SecretString>,
    pub max_connections: Option<u64>,
    pub migrate_on_start: Option<bool>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawKeys {
    #[serde(serialize_with = "serialize_redacted")]
    pub key_encryption_key: Option<SecretString>,
    pub key_encryption_key_file: Option<PathBuf>,
    pub rotation_period_days: Option<u64>,
    pub publish_before_signing_seconds: Option<u64>,
    pub retired_key_publish_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawPasswords {
    pub argon2_memory_kib: Option<u64>,
    pub argon2_iterations: Option<u64>,
    pub argon2_parallelism: Option<u64>,
    pub max_concurrent_hashes: Option<u64>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawBootstrap {
    pub admin_email: Option<String>,
    #[serde(serialize_with = "serialize_redacted")]
    pub admin_password: Option<SecretString>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub format: Option<String>,
    pub filter: Option<String>,
}

/// The validated configuration.
#[derive(Debug)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub keys: KeysConfig,
    pub passwords: PasswordsConfig,
    pub bootstrap: BootstrapConfig,
    pub security: crate::http::security::SecuritySettings,
    /// The store caches (issue 7).
    pub cache: zenoauth_store_cache::CacheSettings,
    /// Outgoing mail and account-link lifetimes (issue 5).
    pub mail: crate::mail::MailSettings,
    pub federation: FederationConfig,
    pub log: LogConfig,
}

/// Talking to upstream identity providers (issue 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FederationConfig {
    /// The bound on one whole upstream request.
    pub upstream_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub bind: SocketAddr,
    /// Set explicitly; otherwise derived from the bound address at start-up.
    pub public_url: Option<PublicUrl>,
    pub shutdown_timeout: Duration,
    pub request_timeout: Duration,
    pub max_body_bytes: usize,
    /// Serve HTTPS with these files (checked when `serve` starts).
    pub tls: Option<crate::http::security::tls::TlsFiles>,
}

impl ServerConfig {
    /// The public URL: the configured one, or `http://{bound}` (`https://`
    /// when serving TLS).
    pub fn public_url_for(&self, bound: SocketAddr) -> PublicUrl {
        self.public_url.clone().unwrap_or_else(|| {
            let plain = PublicUrl::from_socket_addr(bound);
            match &self.tls {
                Some(_) => PublicUrl::parse(&format!("https://{bound}")).unwrap_or(plain),
                None => plain,
            }
        })
    }
}

/// An absolute http(s) base URL without query, fragment or trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    text: String,
    is_loopback: bool,
}

impl PublicUrl {
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = Url::parse(text).map_err(|_| format!("{text:?} is not an absolute URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("{text:?} must use http or https"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("{text:?} must not have a query or fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("{text:?} must not contain credentials"));
        }
        let is_loopback = match url.host() {
            Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
            Some(Host::Ipv4(address)) => address.is_loopback(),
            Some(Host::Ipv6(address)) => address.is_loopback(),
            None => return Err(format!("{text:?} has no host")),
        };
        Ok(Self { text: url.as_str().trim_end_matches('/').to_owned(), is_loopback })
    }

    pub fn from_socket_addr(address: SocketAddr) -> Self {
        Self { text: format!("http://{address}"), is_loopback: address.ip().is_loopback() }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn is_loopback(&self) -> bool {
        self.is_loopback
    }

    /// The issuer of an organization: `{public_url}/o/{slug}`.
    pub fn issuer(&self, slug: &str) -> String {
        format!("{}/o/{slug}", self.text)
    }
}

impl std::fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Which adapter a database URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    Postgres,
    Sqlite,
}

#[derive(Debug)]
pub struct DatabaseConfig {
    pub kind: DatabaseKind,
    /// May carry a password, hence secret.
    pub url: SecretString,
    pub max_connections: u32,
    pub migrate_on_start: bool,
}

/// Where the key-encryption key comes from.
#[derive(Debug)]
pub enum KeySource {
    /// Given inline (base64), already decoded.
    Inline(KeyEncryptionKey),
    /// Read from a file the operator named.
    File(PathBuf),
    /// Nothing configured and the public URL is loopback: kept in
    /// `zenoauth.kek` in the working directory, created on first use.
    Local(PathBuf),
}

#[derive(Debug)]
pub struct KeysConfig {
    pub source: KeySource,
    /// Rotation and publication periods of signing keys.
    pub policy: KeyPolicy,
}

#[derive(Debug, Clone)]
pub struct PasswordsConfig {
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    pub max_concurrent_hashes: usize,
}

#[derive(Debug)]
pub struct BootstrapConfig {
    pub admin_email: Email,
    pub admin_password: Option<Password>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Auto,
    Json,
    Text,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub format: LogFormat,
    pub filter: String,
}

/// Looks up one environment variable.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, ignoring variables that are not valid Unicode.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The first variable of the setting that is set, with its name.
fn from_env(setting: &Setting, env: EnvLookup<'_>) -> Option<(&'static str, String)> {
    setting.env.iter().find_map(|name| env(name).map(|value| (*name, value)))
}

fn parse_number(setting: &Setting, env: EnvLookup<'_>, file: Option<u64>) -> Result<Option<u64>, ConfigError> {
    match from_env(setting, env) {
        Some((name, text)) => text
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| ConfigError::invalid(setting, Some(name), format!("{text:?} is not a whole number"))),
        None => Ok(file),
    }
}

fn parse_bool(setting: &Setting, env: EnvLookup<'_>, file: Option<bool>) -> Result<Option<bool>, ConfigError> {
    match from_env(setting, env) {
        Some((name, text)) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Some(true)),
            "false" | "0" | "no" | "off" => Ok(Some(false)),
            _ => Err(ConfigError::invalid(setting, Some(name), format!("{text:?} is not true or false"))),
        },
        None => Ok(file),
    }
}

/// A string setting: the environment's value (with the variable that set it) or the file's.
fn pick_string(setting: &Setting, env: EnvLookup<'_>, file: Option<String>) -> (Option<&'static str>, Option<String>) {
    match from_env(setting, env) {
        Some((name, value)) => (Some(name), Some(value)),
        None => (None, file),
    }
}

fn pick_secret(
    setting: &Setting,
    env: EnvLookup<'_>,
    file: Option<SecretString>,
) -> (Option<&'static str>, Option<SecretString>) {
    match from_env(setting, env) {
        Some((name, value)) => (Some(name), Some(SecretString::from(value))),
        None => (None, file),
    }
}

fn in_range(
    setting: &Setting,
    env: EnvLookup<'_>,
    value: Option<u64>,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let value = value.unwrap_or(default);
    if range.contains(&value) {
        Ok(value)
    } else {
        let name = from_env(setting, env).map(|(name, _)| name);
        Err(ConfigError::invalid(
            setting,
            name,
            format!("{value} is out of range ({} to {})", range.start(), range.end()),
        ))
    }
}

impl RawConfig {
    /// Reads and parses a TOML file; unknown keys are refused.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| ConfigError::ReadFile { path: path.to_owned(), reason: error.to_string() })?;
        Self::from_toml(&text, path)
    }

    /// Parses TOML text; `path` only names it in errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|error| {
            let location = error
                .span()
                .map(|span| {
                    let line = text.get(..span.start).map_or(1, |before| before.matches('\n').count() + 1);
                    format!(", line {line}")
                })
                .unwrap_or_default();
            ConfigError::ParseFile {
                path: path.to_owned(),
                location,
                message: error.message().replace('\n', " ").trim().to_owned(),
            }
        })
    }
}

impl Config {
    /// Loads the configuration the way `zenoauth` does: the file (if any),
    /// then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with(file, &process_env)
    }

    /// As [`Config::load`], with an explicit environment (for tests).
    pub fn load_with(file: Option<&Path>, env: EnvLookup<'_>) -> Result<Self, ConfigError> {
        let raw = match file {
            Some(path) => RawConfig::from_file(path)?,
            None => RawConfig::default(),
        };
        Self::from_raw(raw, env)
    }

    /// Applies the environment over `raw` and validates the result.
    pub fn from_raw(raw: RawConfig, env: EnvLookup<'_>) -> Result<Self, ConfigError> {
        let server = server_config(raw.server, env)?;
        let database = database_config(raw.database, env)?;
        let public_url_is_loopback =
            server.public_url.as_ref().map_or(server.bind.ip().is_loopback(), PublicUrl::is_loopback);
        let keys = keys_config(raw.keys, env, public_url_is_loopback)?;
        let passwords = passwords_config(raw.passwords, env)?;
        let bootstrap = bootstrap_config(raw.bootstrap, env)?;
        let security = security_config(raw.security, env)?;
        let cache = cache_config(raw.cache, env)?;
        let mail = mail_config(raw.mail, env)?;
        let federation = federation_config(raw.federation, env)?;
        let log = log_config(raw.log, env)?;
        Ok(Self { server, database, keys, passwords, bootstrap, security, cache, mail, federation, log })
    }
}

fn federation_config(raw: RawFederation, env: EnvLookup<'_>) -> Result<FederationConfig, ConfigError> {
    let timeout = parse_number(&FEDERATION_UPSTREAM_TIMEOUT, env, raw.upstream_timeout_seconds)?;
    let timeout = in_range(&FEDERATION_UPSTREAM_TIMEOUT, env, timeout, 10, 1..=120)?;
    Ok(FederationConfig { upstream_timeout: Duration::from_secs(timeout) })
}

fn server_config(raw: RawServer, env: EnvLookup<'_>) -> Result<ServerConfig, ConfigError> {
    let (bind_env, bind) = pick_string(&SERVER_BIND, env, raw.bind);
    let bind = match bind {
        Some(text) => text
            .trim()
            .parse::<SocketAddr>()
            .map_err(|_| ConfigError::invalid(&SERVER_BIND, bind_env, format!("{text:?} is not a socket address")))?,
        None => SocketAddr::from((IpAddr::from([127, 0, 0, 1]), 8080)),
    };
    let (url_env, public_url) = pick_string(&SERVER_PUBLIC_URL, env, raw.public_url);
    let public_url = public_url
        .map(|text| {
            PublicUrl::parse(text.trim()).map_err(|reason| ConfigError::invalid(&SERVER_PUBLIC_URL, url_env, reason))
        })
        .transpose()?;
    let shutdown = parse_number(&SERVER_SHUTDOWN_TIMEOUT, env, raw.shutdown_timeout_seconds)?;
    let shutdown = in_range(&SERVER_SHUTDOWN_TIMEOUT, env, shutdown, 30, 0..=3600)?;
    let request = parse_number(&SERVER_REQUEST_TIMEOUT, env, raw.request_timeout_seconds)?;
    let request = in_range(&SERVER_REQUEST_TIMEOUT, env, request, 30, 1..=3600)?;
    let body = parse_number(&SERVER_MAX_BODY_BYTES, env, raw.max_body_bytes)?;
    let body = in_range(&SERVER_MAX_BODY_BYTES, env, body, 65536, 1024..=(64 << 20))?;
    let path = |setting: &Setting, file: Option<PathBuf>| {
        pick_string(setting, env, file.map(|path| path.display().to_string())).1.filter(|text| !text.trim().is_empty())
    };
    let certificate = path(&SERVER_TLS_CERTIFICATE, raw.tls_certificate_file);
    let private_key = path(&SERVER_TLS_PRIVATE_KEY, raw.tls_private_key_file);
    let tls = match (certificate, private_key) {
        (None, None) => None,
        (Some(certificate), Some(private_key)) => Some(crate::http::security::tls::TlsFiles {
            certificate: PathBuf::from(certificate.trim()),
            private_key: PathBuf::from(private_key.trim()),
        }),
        (Some(_), None) => {
            return Err(ConfigError::invalid(&SERVER_TLS_PRIVATE_KEY, None, "is required with tls_certificate_file"))
        }
        (None, Some(_)) => {
            return Err(ConfigError::invalid(&SERVER_TLS_CERTIFICATE, None, "is required with tls_private_key_file"))
        }
    };
    Ok(ServerConfig {
        bind,
        public_url,
        shutdown_timeout: Duration::from_secs(shutdown),
        request_timeout: Duration::from_secs(request),
        max_body_bytes: usize::try_from(body).unwrap_or(usize::MAX),
        tls,
    })
}

/// Picks the adapter by scheme. Never echoes the URL: it may hold a password.
pub fn database_kind(url: &str) -> Result<DatabaseKind, String> {
    let scheme = url.split_once(':').map(|(scheme, _)| scheme.to_ascii_lowercase());
    let kind = match scheme.as_deref() {
        Some("postgres" | "postgresql") => DatabaseKind::Postgres,
        Some("sqlite") => return Ok(DatabaseKind::Sqlite),
        Some(other) if !other.is_empty() && other.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) => {
            return Err(format!("unsupported scheme {other:?} (use postgres:// or sqlite://)"));
        }
        _ => return Err("is not a URL (use postgres://… or sqlite://…)".to_owned()),
    };
    let parsed = Url::parse(url).map_err(|error| format!("is not a valid PostgreSQL URL ({error})"))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("is not a valid PostgreSQL URL (no host)".to_owned());
    }
    Ok(kind)
}

fn database_config(raw: RawDatabase, env: EnvLookup<'_>) -> Result<DatabaseConfig, ConfigError> {
    let (url_env, url) = pick_secret(&DATABASE_URL, env, raw.url);
    let url = url.unwrap_or_else(|| SecretString::from(DEFAULT_DATABASE_URL));
    let kind = database_kind(url.expose_secret().trim())
        .map_err(|reason| ConfigError::invalid(&DATABASE_URL, url_env.or(Some("DATABASE_URL")), reason))?;
    let max_connections = parse_number(&DATABASE_MAX_CONNECTIONS, env, raw.max_connections)?;
    let max_connections = in_range(&DATABASE_MAX_CONNECTIONS, env, max_connections, 10, 1..=1000)?;
    let migrate_on_start = parse_bool(&DATABASE_MIGRATE_ON_START, env, raw.migrate_on_start)?.unwrap_or(true);
    Ok(DatabaseConfig {
        kind,
        url: SecretString::from(url.expose_secret().trim()),
        max_connections: u32::try_from(max_connections).unwrap_or(u32::MAX),
        migrate_on_start,
    })
}

fn keys_config(raw: RawKeys, env: EnvLookup<'_>, public_url_is_loopback: bool) -> Result<KeysConfig, ConfigError> {
    let (kek_env, inline) = pick_secret(&KEYS_KEK, env, raw.key_encryption_key);
    let (_, file) =
        pick_string(&KEYS_KEK_FILE, env, raw.key_encryption_key_file.map(|path| path.display().to_string()));
    let inline = inline.filter(|secret| !secret.expose_secret().trim().is_empty());
    let file = file.filter(|path| !path.trim().is_empty());
    let source = match (inline, file) {
        (Some(_), Some(_)) => return Err(ConfigError::ConflictingKeyEncryptionKey),
        (Some(secret), None) => {
            let key = KeyEncryptionKey::from_base64(secret.expose_secret())
                .map_err(|error| ConfigError::invalid(&KEYS_KEK, kek_env, error.to_string()))?;
            KeySource::Inline(key)
        }
        (None, Some(path)) => KeySource::File(PathBuf::from(path.trim())),
        (None, None) if public_url_is_loopback => KeySource::Local(PathBuf::from(LOCAL_KEK_FILE)),
        (None, None) => return Err(ConfigError::MissingKeyEncryptionKey),
    };
    let rotation = parse_number(&KEYS_ROTATION_PERIOD, env, raw.rotation_period_days)?;
    let rotation = in_range(&KEYS_ROTATION_PERIOD, env, rotation, 90, 0..=3650)?;
    let before = parse_number(&KEYS_PUBLISH_BEFORE_SIGNING, env, raw.publish_before_signing_seconds)?;
    let before = in_range(&KEYS_PUBLISH_BEFORE_SIGNING, env, before, 3600, JWKS_MAX_AGE_SECONDS..=7 * 86400)?;
    let retired = parse_number(&KEYS_RETIRED_KEY_PUBLISH, env, raw.retired_key_publish_seconds)?;
    let retired = in_range(&KEYS_RETIRED_KEY_PUBLISH, env, retired, 86400, 3600..=366 * 86400)?;
    let seconds = |value: u64| time::Duration::seconds(i64::try_from(value).unwrap_or(i64::MAX));
    let policy = KeyPolicy {
        publish_before_signing: seconds(before),
        retired_key_publish: seconds(retired),
        rotation_period: (rotation > 0).then(|| time::Duration::days(i64::try_from(rotation).unwrap_or(i64::MAX))),
    };
    Ok(KeysConfig { source, policy })
}

fn passwords_config(raw: RawPasswords, env: EnvLookup<'_>) -> Result<PasswordsConfig, ConfigError> {
    let memory = parse_number(&PASSWORDS_MEMORY, env, raw.argon2_memory_kib)?;
    let memory = in_range(&PASSWORDS_MEMORY, env, memory, 65536, 8..=(4 << 20))?;
    let iterations = parse_number(&PASSWORDS_ITERATIONS, env, raw.argon2_iterations)?;
    let iterations = in_range(&PASSWORDS_ITERATIONS, env, iterations, 3, 1..=100)?;
    let parallelism = parse_number(&PASSWORDS_PARALLELISM, env, raw.argon2_parallelism)?;
    let parallelism = in_range(&PASSWORDS_PARALLELISM, env, parallelism, 4, 1..=64)?;
    if memory < 8 * parallelism {
        let name = from_env(&PASSWORDS_MEMORY, env).map(|(name, _)| name);
        return Err(ConfigError::invalid(
            &PASSWORDS_MEMORY,
            name,
            format!("{memory} is below 8 KiB per lane ({} for {parallelism} lanes)", 8 * parallelism),
        ));
    }
    let cpus = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    let concurrent = parse_number(&PASSWORDS_MAX_CONCURRENT, env, raw.max_concurrent_hashes)?;
    let concurrent = in_range(&PASSWORDS_MAX_CONCURRENT, env, concurrent, cpus as u64, 1..=1024)?;
    Ok(PasswordsConfig {
        argon2_memory_kib: u32::try_from(memory).unwrap_or(u32::MAX),
        argon2_iterations: u32::try_from(iterations).unwrap_or(u32::MAX),
        argon2_parallelism: u32::try_from(parallelism).unwrap_or(u32::MAX),
        max_concurrent_hashes: usize::try_from(concurrent).unwrap_or(usize::MAX),
    })
}

fn bootstrap_config(raw: RawBootstrap, env: EnvLookup<'_>) -> Result<BootstrapConfig, ConfigError> {
    let (email_env, email) = pick_string(&BOOTSTRAP_ADMIN_EMAIL, env, raw.admin_email);
    let email = email.unwrap_or_else(|| BOOTSTRAP_ADMIN_EMAIL.default.to_owned());
    let admin_email = Email::parse(email.trim()).map_err(|error| {
        ConfigError::invalid(
            &BOOTSTRAP_ADMIN_EMAIL,
            email_env,
            format!("{:?} is not an email address ({})", email, error.reason),
        )
    })?;
    let (password_env, password) = pick_secret(&BOOTSTRAP_ADMIN_PASSWORD, env, raw.admin_password);
    let admin_password = password
        .filter(|secret| !secret.expose_secret().is_empty())
        .map(|secret| {
            if secret.expose_secret().chars().count() < MIN_ADMIN_PASSWORD_CHARS {
                let reason = format!("must be at least {MIN_ADMIN_PASSWORD_CHARS} characters");
                return Err(ConfigError::invalid(&BOOTSTRAP_ADMIN_PASSWORD, password_env, reason));
            }
            Password::parse(secret.expose_secret())
                .map_err(|error| ConfigError::invalid(&BOOTSTRAP_ADMIN_PASSWORD, password_env, error.reason))
        })
        .transpose()?;
    Ok(BootstrapConfig { admin_email, admin_password })
}

fn cache_config(raw: RawCache, env: EnvLookup<'_>) -> Result<zenoauth_store_cache::CacheSettings, ConfigError> {
    let enabled = parse_bool(&CACHE_ENABLED, env, raw.enabled)?.unwrap_or(true);
    let ttl = parse_number(&CACHE_TTL, env, raw.ttl_seconds)?;
    let ttl = in_range(&CACHE_TTL, env, ttl, 60, 1..=86400)?;
    let max_entries = parse_number(&CACHE_MAX_ENTRIES, env, raw.max_entries)?;
    let max_entries = in_range(&CACHE_MAX_ENTRIES, env, max_entries, 10_000, 1..=10_000_000)?;
    Ok(zenoauth_store_cache::CacheSettings { enabled, ttl: Duration::from_secs(ttl), max_entries })
}

fn mail_config(raw: RawMail, env: EnvLookup<'_>) -> Result<crate::mail::MailSettings, ConfigError> {
    let number = |setting: &Setting, file: Option<u64>, range: std::ops::RangeInclusive<u64>| {
        let default = setting.default.parse::<u64>().unwrap_or_default();
        let value = parse_number(setting, env, file)?;
        in_range(setting, env, value, default, range)
    };
    let seconds = |value: u64| time::Duration::seconds(i64::try_from(value).unwrap_or(i64::MAX));
    let (_, smtp_url) = pick_secret(&MAIL_SMTP_URL, env, raw.smtp_url);
    let smtp_url = smtp_url.filter(|url| !url.expose_secret().trim().is_empty());
    let (from_env_name, from) = pick_string(&MAIL_FROM, env, raw.from);
    let from = from.unwrap_or_else(|| MAIL_FROM.default.to_owned());
    if from.parse::<lettre::message::Mailbox>().is_err() {
        return Err(ConfigError::Invalid {
            key: MAIL_FROM.key,
            env: from_env_name.unwrap_or(MAIL_FROM.primary_env()),
            reason: "must be a mailbox, e.g. `ZenoAuth <noreply@example.com>`".to_owned(),
        });
    }
    if let Some(url) = &smtp_url {
        if lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url.expose_secret().trim()).is_err() {
            return Err(ConfigError::Invalid {
                key: MAIL_SMTP_URL.key,
                env: MAIL_SMTP_URL.primary_env(),
                reason: "must be smtp://host[:port][?tls=required|opportunistic] or smtps://host[:port]".to_owned(),
            });
        }
    }
    let initial = number(&MAIL_RETRY_INITIAL, raw.retry_initial_seconds, 1..=86400)?;
    let max = number(&MAIL_RETRY_MAX, raw.retry_max_seconds, 1..=7 * 86400)?.max(initial);
    Ok(crate::mail::MailSettings {
        smtp_url,
        from,
        poll_interval: Duration::from_secs(number(&MAIL_POLL_INTERVAL, raw.poll_interval_seconds, 1..=3600)?),
        lease: seconds(number(&MAIL_LEASE, raw.lease_seconds, 60..=86400)?),
        backoff: zenoauth_domain::email::Backoff {
            initial: seconds(initial),
            max: seconds(max),
            max_attempts: u32::try_from(number(&MAIL_MAX_ATTEMPTS, raw.max_attempts, 1..=1000)?).unwrap_or(25),
        },
        batch_size: crate::mail::MailSettings::default().batch_size,
        verification_link_lifetime: seconds(number(
            &MAIL_VERIFICATION_LINK,
            raw.verification_link_seconds,
            300..=30 * 86400,
        )?),
        reset_link_lifetime: seconds(number(&MAIL_RESET_LINK, raw.reset_link_seconds, 300..=86400)?),
        invitation_link_lifetime: seconds(number(
            &MAIL_INVITATION_LINK,
            raw.invitation_link_seconds,
            3600..=30 * 86400,
        )?),
    })
}

fn security_config(
    raw: RawSecurity,
    env: EnvLookup<'_>,
) -> Result<crate::http::security::SecuritySettings, ConfigError> {
    use crate::http::security::connections::ConnectionLimits;
    use crate::http::security::rate_limit::RateLimits;
    let number = |setting: &Setting, file: Option<u64>, range: std::ops::RangeInclusive<u64>| {
        let default = setting.default.parse::<u64>().unwrap_or_default();
        let value = parse_number(setting, env, file)?;
        in_range(setting, env, value, default, range)
    };
    let rate = |value: u64| u32::try_from(value).unwrap_or(u32::MAX);
    let size = |value: u64| usize::try_from(value).unwrap_or(usize::MAX);
    let defaults = crate::http::security::SecuritySettings::default();
    let trusted_proxies = match from_env(&SECURITY_TRUSTED_PROXIES, env) {
        Some((name, text)) => crate::http::security::client_ip::TrustedProxies::parse_list(&text)
            .map_err(|reason| ConfigError::invalid(&SECURITY_TRUSTED_PROXIES, Some(name), reason))?,
        None => crate::http::security::client_ip::TrustedProxies::parse_entries(
            raw.trusted_proxies.iter().flatten().map(String::as_str),
        )
        .map_err(|reason| ConfigError::invalid(&SECURITY_TRUSTED_PROXIES, None, reason))?,
    };
    let (header_env, header) = pick_string(&SECURITY_FORWARDED_HEADER, env, raw.forwarded_header);
    let forwarded_header = match header {
        Some(text) => crate::http::security::client_ip::ForwardedHeader::parse(&text)
            .map_err(|reason| ConfigError::invalid(&SECURITY_FORWARDED_HEADER, header_env, reason))?,
        None => defaults.forwarded_header,
    };
    Ok(crate::http::security::SecuritySettings {
        trusted_proxies,
        forwarded_header,
        rate_limits: RateLimits {
            ip_per_second: rate(number(&SECURITY_RATE_IP, raw.rate_limit_ip_per_second, 0..=1_000_000)?),
            ip_burst: rate(number(&SECURITY_RATE_IP_BURST, raw.rate_limit_ip_burst, 1..=1_000_000)?),
            client_per_second: rate(number(&SECURITY_RATE_CLIENT, raw.rate_limit_client_per_second, 0..=1_000_000)?),
            client_burst: rate(number(&SECURITY_RATE_CLIENT_BURST, raw.rate_limit_client_burst, 1..=1_000_000)?),
        },
        max_form_fields: size(number(&SECURITY_MAX_FORM_FIELDS, raw.max_form_fields, 4..=10_000)?),
        max_queued_hashes: size(number(&SECURITY_MAX_QUEUED_HASHES, raw.max_queued_password_hashes, 0..=100_000)?),
        connections: ConnectionLimits {
            header_read_timeout: Duration::from_secs(number(
                &SECURITY_HEADER_TIMEOUT,
                raw.header_read_timeout_seconds,
                1..=600,
            )?),
            max_header_bytes: size(number(&SECURITY_MAX_HEADER_BYTES, raw.max_header_bytes, 8192..=1 << 20)?),
            max_headers: defaults.connections.max_headers,
        },
        audit: crate::audit_pipeline::AuditSettings {
            buffer: size(number(&SECURITY_AUDIT_BUFFER, raw.audit_buffer_events, 100..=10_000_000)?),
            ..defaults.audit
        },
    })
}

fn log_config(raw: RawLog, env: EnvLookup<'_>) -> Result<LogConfig, ConfigError> {
    let (format_env, format) = pick_string(&LOG_FORMAT, env, raw.format);
    let format = match format.as_deref().map(|text| text.trim().to_ascii_lowercase()).as_deref() {
        None | Some("auto") => LogFormat::Auto,
        Some("json") => LogFormat::Json,
        Some("text") => LogFormat::Text,
        Some(_) => {
            let text = format.unwrap_or_default();
            return Err(ConfigError::invalid(&LOG_FORMAT, format_env, format!("{text:?} is not auto, json or text")));
        }
    };
    let (filter_env, filter) = pick_string(&LOG_FILTER, env, raw.filter);
    let filter = filter.unwrap_or_else(|| LOG_FILTER.default.to_owned());
    if let Err(error) = tracing_subscriber::EnvFilter::builder().parse(&filter) {
        return Err(ConfigError::invalid(
            &LOG_FILTER,
            filter_env,
            format!("{filter:?} is not a valid filter ({error})"),
        ));
    }
    Ok(LogConfig { format, filter })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Base64 of 32 bytes.
    const KEK: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Config::from_raw(RawConfig::default(), &move |name| map.get(name).cloned())
    }

    fn error(vars: &[(&str, &str)]) -> String {
        match load(vars) {
            Ok(config) => panic!("expected an error, got {config:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn defaults_are_loopback_sqlite_with_a_local_key() {
        let config = load(&[]).unwrap();
        assert_eq!(config.server.bind, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.server.public_url, None);
        assert_eq!(config.server.public_url_for(config.server.bind).as_str(), "http://127.0.0.1:8080");
        assert_eq!(config.server.shutdown_timeout, Duration::from_secs(30));
        assert_eq!(config.server.request_timeout, Duration::from_secs(30));
        assert_eq!(config.server.max_body_bytes, 65536);
        assert_eq!(config.database.kind, DatabaseKind::Sqlite);
        assert_eq!(config.database.url.expose_secret(), "sqlite://zenoauth.db");
        assert_eq!(config.database.max_connections, 10);
        assert!(config.database.migrate_on_start);
        assert!(matches!(&config.keys.source, KeySource::Local(path) if path == Path::new("zenoauth.kek")));
        assert_eq!(config.passwords.argon2_memory_kib, 65536);
        assert_eq!(config.passwords.argon2_iterations, 3);
        assert_eq!(config.passwords.argon2_parallelism, 4);
        assert!(config.passwords.max_concurrent_hashes >= 1);
        assert_eq!(config.bootstrap.admin_email.as_str(), "admin@localhost");
        assert!(config.bootstrap.admin_password.is_none());
        assert_eq!(config.log.format, LogFormat::Auto);
        assert_eq!(config.log.filter, "info");
    }

    #[test]
    fn upstream_timeout_defaults_to_ten_seconds_within_one_to_a_hundred_and_twenty() {
        assert_eq!(load(&[]).unwrap().federation.upstream_timeout, Duration::from_secs(10));
        let variable = "ZENOAUTH_FEDERATION_UPSTREAM_TIMEOUT_SECONDS";
        assert_eq!(load(&[(variable, "1")]).unwrap().federation.upstream_timeout, Duration::from_secs(1));
        assert_eq!(load(&[(variable, "120")]).unwrap().federation.upstream_timeout, Duration::from_secs(120));
        assert_eq!(
            error(&[(variable, "0")]),
            "invalid setting federation.upstream_timeout_seconds (ZENOAUTH_FEDERATION_UPSTREAM_TIMEOUT_SECONDS): \
             0 is out of range (1 to 120)"
        );
        assert!(error(&[(variable, "121")]).contains("out of range"));
        assert!(error(&[(variable, "soon")]).contains("is not a whole number"));
        let raw = RawConfig::from_toml("[federation]\nupstream_timeout_seconds = 3\n", Path::new("z.toml")).unwrap();
        let config = Config::from_raw(raw, &|_| None).unwrap();
        assert_eq!(config.federation.upstream_timeout, Duration::from_secs(3));
        let unknown = RawConfig::from_toml("[federation]\ntimeout = 3\n", Path::new("z.toml"));
        assert!(unknown.is_err(), "unknown keys are refused");
    }

    #[test]
    fn bad_bind_names_the_setting() {
        assert_eq!(
            error(&[("ZENOAUTH_BIND", "x")]),
            r#"invalid setting server.bind (ZENOAUTH_BIND): "x" is not a socket address"#
        );
    }

    #[test]
    fn public_url_must_be_absolute_http_without_query_or_fragment() {
        for bad in ["auth.example.com", "ftp://auth.example.com", "https://a.example/?x=1", "https://a.example/#f"] {
            let message = error(&[("ZENOAUTH_PUBLIC_URL", bad), ("ZENOAUTH_KEY_ENCRYPTION_KEY", KEK)]);
            assert!(message.starts_with("invalid setting server.public_url (ZENOAUTH_PUBLIC_URL): "), "{message}");
        }
    }

    #[test]
    fn public_url_trailing_slash_is_trimmed() {
        let config = load(&[("ZENOAUTH_PUBLIC_URL", "http://localhost:9000/auth/")]).unwrap();
        let url = config.server.public_url.unwrap();
        assert_eq!(url.as_str(), "http://localhost:9000/auth");
        assert_eq!(url.issuer("system"), "http://localhost:9000/auth/o/system");
        assert!(url.is_loopback());
    }

    #[test]
    fn non_loopback_public_url_requires_a_key_encryption_key() {
        assert_eq!(
            error(&[("ZENOAUTH_PUBLIC_URL", "https://auth.example.com")]),
            "key_encryption_key is required when public_url is not a loopback address (set ZENOAUTH_KEY_ENCRYPTION_KEY)"
        );
        let config =
            load(&[("ZENOAUTH_PUBLIC_URL", "https://auth.example.com"), ("ZENOAUTH_KEY_ENCRYPTION_KEY", KEK)]).unwrap();
        assert!(matches!(config.keys.source, KeySource::Inline(_)));
        let config =
            load(&[("ZENOAUTH_BIND", "0.0.0.0:8080"), ("ZENOAUTH_KEY_ENCRYPTION_KEY_FILE", "/run/kek")]).unwrap();
        assert!(matches!(&config.keys.source, KeySource::File(path) if path == Path::new("/run/kek")));
        // The default public URL follows the bind address.
        assert!(matches!(load(&[("ZENOAUTH_BIND", "0.0.0.0:8080")]), Err(ConfigError::MissingKeyEncryptionKey)));
    }

    #[test]
    fn a_malformed_key_encryption_key_is_refused_without_echoing_it() {
        let message = error(&[("ZENOAUTH_KEY_ENCRYPTION_KEY", "not-base64!!")]);
        assert!(message.starts_with("invalid setting keys.key_encryption_key (ZENOAUTH_KEY_ENCRYPTION_KEY): "));
        assert!(!message.contains("not-base64!!"), "{message}");
        assert!(error(&[("ZENOAUTH_KEY_ENCRYPTION_KEY", "AAEC")]).contains("32 bytes"));
    }

    #[test]
    fn both_key_sources_are_refused() {
        assert!(error(&[("ZENOAUTH_KEY_ENCRYPTION_KEY", KEK), ("ZENOAUTH_KEY_ENCRYPTION_KEY_FILE", "b")])
            .contains("only one of"));
    }

    #[test]
    fn numbers_are_checked() {
        assert_eq!(
            error(&[("ZENOAUTH_SHUTDOWN_TIMEOUT_SECONDS", "soon")]),
            r#"invalid setting server.shutdown_timeout_seconds (ZENOAUTH_SHUTDOWN_TIMEOUT_SECONDS): "soon" is not a whole number"#
        );
        assert!(error(&[("ZENOAUTH_REQUEST_TIMEOUT_SECONDS", "0")]).starts_with(
            "invalid setting server.request_timeout_seconds (ZENOAUTH_REQUEST_TIMEOUT_SECONDS): 0 is out of range"
        ));
        assert!(error(&[("ZENOAUTH_MAX_BODY_BYTES", "-1")]).starts_with("invalid setting server.max_body_bytes"));
        assert!(error(&[("ZENOAUTH_DATABASE_MAX_CONNECTIONS", "0")])
            .starts_with("invalid setting database.max_connections"));
        assert!(
            error(&[("ZENOAUTH_ARGON2_ITERATIONS", "0")]).starts_with("invalid setting passwords.argon2_iterations")
        );
        assert!(
            error(&[("ZENOAUTH_ARGON2_PARALLELISM", "0")]).starts_with("invalid setting passwords.argon2_parallelism")
        );
        assert!(error(&[("ZENOAUTH_MAX_CONCURRENT_HASHES", "0")])
            .starts_with("invalid setting passwords.max_concurrent_hashes"));
        assert!(error(&[("ZENOAUTH_ARGON2_MEMORY_KIB", "16")])
            .starts_with("invalid setting passwords.argon2_memory_kib (ZENOAUTH_ARGON2_MEMORY_KIB): 16 is below"));
    }

    #[test]
    fn key_rotation_settings_are_checked() {
        let policy = load(&[]).unwrap().keys.policy;
        assert_eq!(policy, KeyPolicy::default());
        let policy = load(&[
            ("ZENOAUTH_KEY_ROTATION_PERIOD_DAYS", "0"),
            ("ZENOAUTH_KEY_PUBLISH_BEFORE_SIGNING_SECONDS", "300"),
            ("ZENOAUTH_RETIRED_KEY_PUBLISH_SECONDS", "7200"),
        ])
        .unwrap()
        .keys
        .policy;
        assert_eq!(policy.rotation_period, None);
        assert_eq!(policy.publish_before_signing, time::Duration::seconds(300));
        assert_eq!(policy.retired_key_publish, time::Duration::seconds(7200));
        assert!(error(&[("ZENOAUTH_KEY_PUBLISH_BEFORE_SIGNING_SECONDS", "299")]).starts_with(
            "invalid setting keys.publish_before_signing_seconds (ZENOAUTH_KEY_PUBLISH_BEFORE_SIGNING_SECONDS): 299 is out of range (300 to"
        ));
        assert!(error(&[("ZENOAUTH_RETIRED_KEY_PUBLISH_SECONDS", "60")])
            .starts_with("invalid setting keys.retired_key_publish_seconds"));
        assert!(error(&[("ZENOAUTH_KEY_ROTATION_PERIOD_DAYS", "-1")])
            .starts_with("invalid setting keys.rotation_period_days"));
    }

    #[test]
    fn booleans_are_checked() {
        assert!(!load(&[("ZENOAUTH_MIGRATE_ON_START", "false")]).unwrap().database.migrate_on_start);
        assert_eq!(
            error(&[("ZENOAUTH_MIGRATE_ON_START", "maybe")]),
            r#"invalid setting database.migrate_on_start (ZENOAUTH_MIGRATE_ON_START): "maybe" is not true or false"#
        );
    }

    #[test]
    fn database_scheme_picks_the_adapter() {
        let kind = |url: &str| load(&[("DATABASE_URL", url)]).map(|config| config.database.kind);
        assert_eq!(kind("postgres://u@db/zenoauth").unwrap(), DatabaseKind::Postgres);
        assert_eq!(kind("postgresql://u@db/zenoauth").unwrap(), DatabaseKind::Postgres);
        assert_eq!(kind("sqlite://data/zenoauth.db").unwrap(), DatabaseKind::Sqlite);
        assert_eq!(kind("sqlite::memory:").unwrap(), DatabaseKind::Sqlite);
        assert_eq!(
            error(&[("DATABASE_URL", "mysql://root:hunter2@db/x")]),
            r#"invalid setting database.url (DATABASE_URL): unsupported scheme "mysql" (use postgres:// or sqlite://)"#
        );
        let malformed = error(&[("DATABASE_URL", "postgres://:::")]);
        assert!(malformed.starts_with("invalid setting database.url (DATABASE_URL): is not a valid PostgreSQL URL"));
        assert!(error(&[("DATABASE_URL", "zenoauth.db")]).contains("is not a URL"));
    }

    #[test]
    fn zenoauth_database_url_wins_and_is_named() {
        let config = load(&[("DATABASE_URL", "postgres://a@b/c"), ("ZENOAUTH_DATABASE_URL", "sqlite://x.db")]).unwrap();
        assert_eq!(config.database.kind, DatabaseKind::Sqlite);
        assert!(error(&[("ZENOAUTH_DATABASE_URL", "redis://x")]).contains("(ZENOAUTH_DATABASE_URL)"));
    }

    #[test]
    fn database_url_errors_never_echo_the_url() {
        let message = error(&[("DATABASE_URL", "postgres://user:s3cret@:::")]);
        assert!(!message.contains("s3cret"), "{message}");
    }

    #[test]
    fn bootstrap_values_are_checked() {
        assert!(error(&[("ZENOAUTH_BOOTSTRAP_ADMIN_EMAIL", "nobody")])
            .starts_with(r#"invalid setting bootstrap.admin_email (ZENOAUTH_BOOTSTRAP_ADMIN_EMAIL): "nobody""#));
        let message = error(&[("ZENOAUTH_BOOTSTRAP_ADMIN_PASSWORD", "short")]);
        assert!(message.starts_with("invalid setting bootstrap.admin_password"), "{message}");
        assert!(!message.contains("short\""), "{message}");
        let config = load(&[("ZENOAUTH_BOOTSTRAP_ADMIN_PASSWORD", "correct horse battery staple")]).unwrap();
        assert_eq!(config.bootstrap.admin_password.unwrap().expose(), "correct horse battery staple");
    }

    #[test]
    fn log_settings_are_checked() {
        assert_eq!(load(&[("ZENOAUTH_LOG_FORMAT", "JSON")]).unwrap().log.format, LogFormat::Json);
        assert_eq!(load(&[("ZENOAUTH_LOG_FORMAT", "text")]).unwrap().log.format, LogFormat::Text);
        assert_eq!(
            error(&[("ZENOAUTH_LOG_FORMAT", "xml")]),
            r#"invalid setting log.format (ZENOAUTH_LOG_FORMAT): "xml" is not auto, json or text"#
        );
        assert!(error(&[("ZENOAUTH_LOG", "info,[")]).starts_with("invalid setting log.filter (ZENOAUTH_LOG)"));
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let raw =
            RawConfig::from_toml("[server]\nbind = \"127.0.0.1:9000\"\nmax_body_bytes = 2048\n", Path::new("t.toml"))
                .unwrap();
        let config =
            Config::from_raw(raw, &|name| (name == "ZENOAUTH_BIND").then(|| "127.0.0.1:9001".to_owned())).unwrap();
        assert_eq!(config.server.bind.port(), 9001);
        assert_eq!(config.server.max_body_bytes, 2048);
    }

    #[test]
    fn trusted_proxies_come_from_the_file_as_a_list_or_the_environment_comma_separated() {
        assert!(load(&[]).unwrap().security.trusted_proxies.is_empty());
        let config = load(&[("ZENOAUTH_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7,::1")]).unwrap();
        assert_eq!(config.security.trusted_proxies.ranges().len(), 3);
        assert!(config.security.trusted_proxies.is_trusted("10.1.2.3".parse().unwrap()));
        let raw = RawConfig::from_toml("[security]\ntrusted_proxies = [\"fd00::/8\"]\n", Path::new("t.toml")).unwrap();
        let config = Config::from_raw(raw, &|_| None).unwrap();
        assert!(config.security.trusted_proxies.is_trusted("fd00::1".parse().unwrap()));
        assert_eq!(
            error(&[("ZENOAUTH_TRUSTED_PROXIES", "10.0.0.0/8,proxy.internal")]),
            r#"invalid setting security.trusted_proxies (ZENOAUTH_TRUSTED_PROXIES): "proxy.internal" is not an IP address or CIDR range"#
        );
        let raw =
            RawConfig::from_toml("[security]\ntrusted_proxies = [\"10.0.0.0/40\"]\n", Path::new("t.toml")).unwrap();
        let message = Config::from_raw(raw, &|_| None).unwrap_err().to_string();
        assert!(
            message.starts_with("invalid setting security.trusted_proxies (ZENOAUTH_TRUSTED_PROXIES)"),
            "{message}"
        );
        // Trusting every address is refused, with one line naming the entry.
        for everything in ["0.0.0.0/0", "10.0.0.0/8,::/0"] {
            let message = error(&[("ZENOAUTH_TRUSTED_PROXIES", everything)]);
            assert!(message.starts_with("invalid setting security.trusted_proxies (ZENOAUTH_TRUSTED_PROXIES): "));
            assert!(message.contains("/0\" would trust every address") && !message.contains('\n'), "{message}");
        }
    }

    #[test]
    fn the_forwarded_header_is_one_of_two_and_defaults_to_x_forwarded_for() {
        use crate::http::security::client_ip::ForwardedHeader;
        assert_eq!(load(&[]).unwrap().security.forwarded_header, ForwardedHeader::XForwardedFor);
        let config = load(&[("ZENOAUTH_FORWARDED_HEADER", "Forwarded")]).unwrap();
        assert_eq!(config.security.forwarded_header, ForwardedHeader::Forwarded);
        let raw = RawConfig::from_toml("[security]\nforwarded_header = \"forwarded\"\n", Path::new("t.toml")).unwrap();
        assert_eq!(Config::from_raw(raw, &|_| None).unwrap().security.forwarded_header, ForwardedHeader::Forwarded);
        assert_eq!(
            error(&[("ZENOAUTH_FORWARDED_HEADER", "both")]),
            r#"invalid setting security.forwarded_header (ZENOAUTH_FORWARDED_HEADER): "both" is not x-forwarded-for or forwarded"#
        );
    }

    #[test]
    fn bad_file_values_name_the_setting() {
        let raw = RawConfig::from_toml("[server]\nbind = \"x\"\n", Path::new("t.toml")).unwrap();
        let message = Config::from_raw(raw, &|_| None).unwrap_err().to_string();
        assert_eq!(message, r#"invalid setting server.bind (ZENOAUTH_BIND): "x" is not a socket address"#);
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_one_line_with_the_line_number() {
        let message = RawConfig::from_toml("[server]\nbind = \"127.0.0.1:1\"\nbindd = 1\n", Path::new("z.toml"))
            .unwrap_err()
            .to_string();
        assert!(message.starts_with("invalid config file z.toml, line 3: unknown field `bindd`"), "{message}");
        assert!(!message.contains('\n'));
        let message = RawConfig::from_toml("[nope]\n", Path::new("z.toml")).unwrap_err().to_string();
        assert!(message.contains("unknown field `nope`"), "{message}");
        let message =
            RawConfig::from_toml("[server]\nmax_body_bytes = \"big\"\n", Path::new("z.toml")).unwrap_err().to_string();
        assert!(message.starts_with("invalid config file z.toml, line 2: invalid type"), "{message}");
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let config = load(&[
            ("ZENOAUTH_KEY_ENCRYPTION_KEY", KEK),
            ("ZENOAUTH_BOOTSTRAP_ADMIN_PASSWORD", "password-secret-value"),
            ("DATABASE_URL", "postgres://u:db-secret-value@h/d"),
        ])
        .unwrap();
        let debug = format!("{config:?}");
        for secret in [KEK, "password-secret-value", "db-secret-value"] {
            assert!(!debug.contains(secret), "{debug}");
        }
    }

    #[test]
    fn cache_settings_default_parse_and_are_bounded() {
        let defaults = load(&[]).unwrap().cache;
        assert_eq!(defaults, zenoauth_store_cache::CacheSettings::default());
        let set = load(&[
            ("ZENOAUTH_CACHE_ENABLED", "false"),
            ("ZENOAUTH_CACHE_TTL_SECONDS", "5"),
            ("ZENOAUTH_CACHE_MAX_ENTRIES", "100"),
        ])
        .unwrap()
        .cache;
        assert_eq!(
            set,
            zenoauth_store_cache::CacheSettings { enabled: false, ttl: Duration::from_secs(5), max_entries: 100 }
        );
        let message = load(&[("ZENOAUTH_CACHE_TTL_SECONDS", "0")]).unwrap_err().to_string();
        assert!(message.starts_with("invalid setting cache.ttl_seconds (ZENOAUTH_CACHE_TTL_SECONDS)"), "{message}");
    }

    #[test]
    fn every_raw_key_is_a_documented_setting() {
        let value = serde_json::to_value(RawConfig::default()).unwrap();
        let mut keys = Vec::new();
        for (section, table) in value.as_object().unwrap() {
            for key in table.as_object().unwrap().keys() {
                keys.push(format!("{section}.{key}"));
            }
        }
        keys.sort();
        let mut documented: Vec<String> = SETTINGS.iter().map(|setting| setting.key.to_owned()).collect();
        documented.sort();
        assert_eq!(keys, documented);
    }
}
