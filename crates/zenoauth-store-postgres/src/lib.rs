//! The PostgreSQL adapter: every store port of `zenoauth-domain` implemented
//! over a sqlx connection pool, plus the embedded schema migrations
//! (`migrations/postgres`). It owns all SQL that ZenoAuth runs against
//! PostgreSQL, maps rows to domain types by hand through the domain's parsing
//! constructors (a stored value that no longer parses is a corrupt row, reported
//! as `Error::Unavailable`), and translates named constraints into the domain's
//! `Conflict`/`NotFound` errors. Expiry is always judged against the `now` the
//! caller passes in, never against the database clock.

mod applications;
mod audit;
mod codes;
mod consents;
mod email;
mod error;
mod federation;
mod invalidation;
mod login_attempts;
mod mfa;
mod organizations;
mod passkeys;
mod refresh_tokens;
mod revocations;
mod roles;
mod rows;
mod sessions;
mod signing_keys;
mod users;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use zenoauth_domain::ports::Stores;

pub use invalidation::{PgInvalidationBus, INVALIDATION_CHANNEL};

/// The schema migrations, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// How long connecting (and acquiring a pooled connection) may take before the
/// database counts as unreachable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the database could not be opened or prepared. Messages are one line and
/// never contain the URL's password.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("DATABASE_URL is not a valid PostgreSQL URL")]
    InvalidUrl,
    #[error("cannot reach the PostgreSQL database: {0}")]
    Unreachable(String),
    #[error("the database was migrated by a newer ZenoAuth (migration {0} is unknown to this version)")]
    NewerSchema(i64),
    #[error("migration failed: {0}")]
    Migration(String),
}

/// A pool of connections to one PostgreSQL database, and the stores over it.
#[derive(Clone, Debug)]
pub struct PgDatabase {
    pool: PgPool,
}

impl PgDatabase {
    /// Connects to `url` (`postgres://` or `postgresql://`), checking with one
    /// connection that the database answers within a few seconds.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, DatabaseError> {
        let options = parse_url(url)?.application_name("zenoauth");
        let location = describe_location(&options);
        // Probe with a single connection first: the pool retries a refused
        // connection until its timeout and then reports only "timed out".
        match tokio::time::timeout(ACQUIRE_TIMEOUT, PgConnection::connect_with(&options)).await {
            Err(_elapsed) => {
                return Err(DatabaseError::Unreachable(format!(
                    "{location}: no connection within {} s",
                    ACQUIRE_TIMEOUT.as_secs()
                )))
            }
            Ok(Err(error)) => return Err(DatabaseError::Unreachable(format!("{location}: {}", one_line(&error)))),
            Ok(Ok(connection)) => {
                // The probe proved the database answers; how it is closed does not matter.
                let _ = connection.close().await;
            }
        }
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        Ok(Self { pool })
    }

    /// Wraps an existing pool (tests, or a pool configured by the caller).
    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Applies the embedded migrations that are not applied yet. Refuses a
    /// database that a newer ZenoAuth has migrated further.
    pub async fn migrate(&self) -> Result<(), DatabaseError> {
        MIGRATOR.run(&self.pool).await.map_err(|error| match error {
            sqlx::migrate::MigrateError::VersionMissing(version) => DatabaseError::NewerSchema(version),
            sqlx::migrate::MigrateError::Execute(sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut) => {
                DatabaseError::Unreachable(one_line(&error))
            }
            other => DatabaseError::Migration(one_line(&other)),
        })
    }

    /// Checks that the database answers (`SELECT 1`), for readiness probes.
    pub async fn ping(&self) -> Result<(), DatabaseError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|error| DatabaseError::Unreachable(one_line(&error)))
    }

    /// Every store port over this database.
    pub fn stores(&self) -> Stores {
        let pool = &self.pool;
        Stores {
            organizations: Arc::new(organizations::PgOrganizationRepository::new(pool.clone())),
            users: Arc::new(users::PgUserRepository::new(pool.clone())),
            applications: Arc::new(applications::PgApplicationRepository::new(pool.clone())),
            sessions: Arc::new(sessions::PgSessionStore::new(pool.clone())),
            authorization_codes: Arc::new(codes::PgAuthorizationCodeStore::new(pool.clone())),
            refresh_tokens: Arc::new(refresh_tokens::PgRefreshTokenStore::new(pool.clone())),
            revocations: Arc::new(revocations::PgRevocationStore::new(pool.clone())),
            consents: Arc::new(consents::PgConsentStore::new(pool.clone())),
            client_assertions: Arc::new(consents::PgClientAssertionStore::new(pool.clone())),
            signing_keys: Arc::new(signing_keys::PgSigningKeyRepository::new(pool.clone())),
            audit: Arc::new(audit::PgAuditLog::new(pool.clone())),
            roles: Arc::new(roles::PgRoleRepository::new(pool.clone())),
            client_secrets: Arc::new(roles::PgClientSecretStore::new(pool.clone())),
            login_attempts: Arc::new(login_attempts::PgLoginAttemptStore::new(pool.clone())),
            mail_outbox: Arc::new(email::PgMailOutbox::new(pool.clone())),
            account_tokens: Arc::new(email::PgAccountTokenStore::new(pool.clone())),
            mfa: Arc::new(mfa::PgMfaStore::new(pool.clone())),
            passkeys: Arc::new(passkeys::PgPasskeyStore::new(pool.clone())),
            federation: Arc::new(federation::PgFederationStore::new(pool.clone())),
        }
    }

    /// Cache invalidation between the instances sharing this database (LISTEN/NOTIFY).
    pub fn invalidation_bus(&self) -> PgInvalidationBus {
        PgInvalidationBus::new(self.pool.clone())
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

fn parse_url(url: &str) -> Result<PgConnectOptions, DatabaseError> {
    let scheme_ok = ["postgres://", "postgresql://"]
        .iter()
        .any(|scheme| url.get(..scheme.len()).is_some_and(|prefix| prefix.eq_ignore_ascii_case(scheme)));
    if !scheme_ok {
        return Err(DatabaseError::InvalidUrl);
    }
    // sqlx's own parse error may quote the URL, password included: drop it.
    PgConnectOptions::from_str(url).map_err(|_| DatabaseError::InvalidUrl)
}

/// `host:port/database`, never credentials.
fn describe_location(options: &PgConnectOptions) -> String {
    let database = options.get_database().unwrap_or_default();
    format!("{}:{}/{}", options.get_host(), options.get_port(), database)
}

fn one_line(error: &dyn std::fmt::Display) -> String {
    error.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_of_other_schemes_or_malformed_are_invalid() {
        for bad in ["", "sqlite://zenoauth.db", "mysql://u:p@h/db", "postgres://u:p@[::1/db", "http://x"] {
            assert!(matches!(parse_url(bad), Err(DatabaseError::InvalidUrl)), "{bad}");
        }
        assert!(parse_url("postgres://postgres@127.0.0.1:5432/postgres").is_ok());
        assert!(parse_url("postgresql://u:secret@db.example.com/zenoauth").is_ok());
    }

    #[test]
    fn location_never_shows_the_password() {
        let options = parse_url("postgres://admin:hunter2@db.example.com:6543/zeno").unwrap();
        let location = describe_location(&options);
        assert_eq!(location, "db.example.com:6543/zeno");
        assert!(!location.contains("hunter2"));
    }
}
