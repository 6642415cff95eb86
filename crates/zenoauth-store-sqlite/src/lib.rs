//! The SQLite store adapter: every store port of `zenoauth-domain` over one
//! embedded SQLite file (sqlx, bundled libsqlite3), for installations that
//! name no database. It owns the connection settings (WAL, foreign keys,
//! busy timeout), the schema in `migrations/sqlite/`, and the translation
//! between rows and domain types; no SQL lives outside this crate. Writes that
//! must be atomic run in `BEGIN IMMEDIATE` transactions, so concurrent callers
//! queue for SQLite's single writer instead of failing on a lock upgrade.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::MigrateError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use zenoauth_domain::ports::Stores;

mod applications;
mod audit;
mod authorization_codes;
mod consents;
mod convert;
mod email;
mod federation;
mod login_attempts;
mod mfa;
mod organizations;
mod passkeys;
mod refresh_tokens;
mod revocations;
mod roles;
mod sessions;
mod signing_keys;
mod users;

/// The schema, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

/// How long a connection waits for SQLite's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A pool of connections to one SQLite database.
#[derive(Clone, Debug)]
pub struct SqliteDatabase {
    pool: SqlitePool,
}

/// Why the database could not be opened or migrated. Each message is one line,
/// fit for the operator at start-up.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("DATABASE_URL is not a valid SQLite URL")]
    InvalidUrl,
    #[error("cannot open the SQLite database: {0}")]
    Unreachable(String),
    #[error("the database was migrated by a newer ZenoAuth (migration {0} is unknown to this version)")]
    NewerSchema(i64),
    #[error("migration failed: {0}")]
    Migration(String),
}

impl SqliteDatabase {
    /// Opens (creating if missing) the database at `url`: `sqlite://zenoauth.db`
    /// (relative to the working directory), `sqlite:///abs/path.db`, or
    /// `sqlite::memory:` (one connection, so every user sees the same database).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, DatabaseError> {
        let location = Location::parse(url)?;
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|_| DatabaseError::InvalidUrl)?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .synchronous(SqliteSynchronous::Normal);
        let pool_options = SqlitePoolOptions::new();
        let (options, pool_options) = match location {
            // An in-memory database lives as long as its connection: keep exactly one, forever.
            Location::Memory => (
                options.journal_mode(SqliteJournalMode::Memory),
                pool_options.max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None),
            ),
            Location::File => {
                (options.journal_mode(SqliteJournalMode::Wal), pool_options.max_connections(max_connections.max(1)))
            }
        };
        let filename = options.get_filename().display().to_string();
        let pool = pool_options
            .connect_with(options)
            .await
            .map_err(|error| DatabaseError::Unreachable(one_line(&format!("{filename}: {error}"))))?;
        Ok(Self { pool })
    }

    /// Wraps a pool configured elsewhere (foreign keys must be on).
    pub fn from_pool(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// Applies the migrations this version knows; refuses a database migrated
    /// by a newer version.
    pub async fn migrate(&self) -> Result<(), DatabaseError> {
        MIGRATOR.run(&self.pool).await.map_err(|error| match error {
            MigrateError::VersionMissing(version) => DatabaseError::NewerSchema(version),
            other => DatabaseError::Migration(one_line(&other.to_string())),
        })
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), DatabaseError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(|error| DatabaseError::Unreachable(one_line(&error.to_string())))
    }

    /// Every store port over this database.
    pub fn stores(&self) -> Stores {
        let pool = &self.pool;
        Stores {
            organizations: Arc::new(organizations::SqliteOrganizationRepository::new(pool.clone())),
            users: Arc::new(users::SqliteUserRepository::new(pool.clone())),
            applications: Arc::new(applications::SqliteApplicationRepository::new(pool.clone())),
            sessions: Arc::new(sessions::SqliteSessionStore::new(pool.clone())),
            authorization_codes: Arc::new(authorization_codes::SqliteAuthorizationCodeStore::new(pool.clone())),
            refresh_tokens: Arc::new(refresh_tokens::SqliteRefreshTokenStore::new(pool.clone())),
            revocations: Arc::new(revocations::SqliteRevocationStore::new(pool.clone())),
            consents: Arc::new(consents::SqliteConsentStore::new(pool.clone())),
            client_assertions: Arc::new(consents::SqliteClientAssertionStore::new(pool.clone())),
            signing_keys: Arc::new(signing_keys::SqliteSigningKeyRepository::new(pool.clone())),
            audit: Arc::new(audit::SqliteAuditLog::new(pool.clone())),
            roles: Arc::new(roles::SqliteRoleRepository::new(pool.clone())),
            client_secrets: Arc::new(roles::SqliteClientSecretStore::new(pool.clone())),
            login_attempts: Arc::new(login_attempts::SqliteLoginAttemptStore::new(pool.clone())),
            mail_outbox: Arc::new(email::SqliteMailOutbox::new(pool.clone())),
            account_tokens: Arc::new(email::SqliteAccountTokenStore::new(pool.clone())),
            mfa: Arc::new(mfa::SqliteMfaStore::new(pool.clone())),
            passkeys: Arc::new(passkeys::SqlitePasskeyStore::new(pool.clone())),
            federation: Arc::new(federation::SqliteFederationStore::new(pool.clone())),
        }
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// Where a URL points, decided before sqlx parses it (sqlx accepts any string
/// as a file name, and hides whether it chose memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Location {
    Memory,
    File,
}

impl Location {
    fn parse(url: &str) -> Result<Self, DatabaseError> {
        let rest =
            url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).ok_or(DatabaseError::InvalidUrl)?;
        let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
        let memory_mode = params.split('&').any(|param| param == "mode=memory");
        if database == ":memory:" || memory_mode {
            Ok(Self::Memory)
        } else if database.is_empty() || database.chars().any(char::is_control) {
            Err(DatabaseError::InvalidUrl)
        } else {
            Ok(Self::File)
        }
    }
}

/// Operators read these at start-up: keep each on one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_classified_before_sqlx_sees_them() {
        assert_eq!(Location::parse("sqlite::memory:").unwrap(), Location::Memory);
        assert_eq!(Location::parse("sqlite://:memory:").unwrap(), Location::Memory);
        assert_eq!(Location::parse("sqlite://?mode=memory").unwrap(), Location::Memory);
        assert_eq!(Location::parse("sqlite://zenoauth.db").unwrap(), Location::File);
        assert_eq!(Location::parse("sqlite:///var/lib/zenoauth/db.sqlite").unwrap(), Location::File);
        for bad in ["", "zenoauth.db", "postgres://postgres@localhost/db", "sqlite://", "sqlite:", "sqlite://a\nb"] {
            assert!(matches!(Location::parse(bad), Err(DatabaseError::InvalidUrl)), "{bad:?}");
        }
    }

    #[test]
    fn messages_are_folded_onto_one_line() {
        assert_eq!(one_line("a\n  b\tc "), "a b c");
    }
}
