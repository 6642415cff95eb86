//! The database the configuration names: PostgreSQL or SQLite, picked by the
//! URL's scheme, behind one type the rest of the server uses.

use async_trait::async_trait;
use secrecy::ExposeSecret;
use std::sync::Arc;

use zenoauth_domain::ports::{InvalidationBus, Stores};
use zenoauth_store_cache::{CacheSettings, CachedStores};
use zenoauth_store_postgres::PgDatabase;
use zenoauth_store_sqlite::SqliteDatabase;

use crate::config::{DatabaseConfig, DatabaseKind};
use crate::http::{ReadinessCheck, ReadinessError};

/// One open database (a connection pool) of either kind.
#[derive(Debug, Clone)]
pub enum Database {
    Postgres(PgDatabase),
    Sqlite(SqliteDatabase),
}

/// Why the database could not be opened, migrated or reached. One line,
/// never the URL's password.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error(transparent)]
    Postgres(#[from] zenoauth_store_postgres::DatabaseError),
    #[error(transparent)]
    Sqlite(#[from] zenoauth_store_sqlite::DatabaseError),
}

impl Database {
    /// Connects (for SQLite: opens, creating the file) and checks that the database answers.
    pub async fn connect(config: &DatabaseConfig) -> Result<Self, DatabaseError> {
        let url = config.url.expose_secret();
        Ok(match config.kind {
            DatabaseKind::Postgres => Self::Postgres(PgDatabase::connect(url, config.max_connections).await?),
            DatabaseKind::Sqlite => Self::Sqlite(SqliteDatabase::connect(url, config.max_connections).await?),
        })
    }

    /// Applies pending migrations; refuses a database migrated by a newer version.
    pub async fn migrate(&self) -> Result<(), DatabaseError> {
        match self {
            Self::Postgres(database) => Ok(database.migrate().await?),
            Self::Sqlite(database) => Ok(database.migrate().await?),
        }
    }

    pub async fn ping(&self) -> Result<(), DatabaseError> {
        match self {
            Self::Postgres(database) => Ok(database.ping().await?),
            Self::Sqlite(database) => Ok(database.ping().await?),
        }
    }

    /// The ports without caches, for commands (the CLI): with PostgreSQL
    /// their writes are still announced, so running servers evict what changed.
    pub fn stores(&self) -> Stores {
        match self.invalidation_bus() {
            Some(bus) => CachedStores::new(self.raw_stores(), CacheSettings::disabled(), Some(bus)).stores(),
            None => self.raw_stores(),
        }
    }

    /// The ports behind the caches `serve` uses. Spawn
    /// [`CachedStores::listen`]: with PostgreSQL nothing is served from the
    /// caches until the invalidation listener is connected.
    pub fn cached_stores(&self, settings: CacheSettings) -> CachedStores {
        CachedStores::new(self.raw_stores(), settings, self.invalidation_bus())
    }

    /// Cache invalidation between instances: PostgreSQL LISTEN/NOTIFY. An
    /// SQLite file is served by one process: none.
    pub fn invalidation_bus(&self) -> Option<Arc<dyn InvalidationBus>> {
        match self {
            Self::Postgres(database) => Some(Arc::new(database.invalidation_bus())),
            Self::Sqlite(_) => None,
        }
    }

    fn raw_stores(&self) -> Stores {
        match self {
            Self::Postgres(database) => database.stores(),
            Self::Sqlite(database) => database.stores(),
        }
    }
}

#[async_trait]
impl ReadinessCheck for Database {
    async fn check(&self) -> Result<(), ReadinessError> {
        Ok(self.ping().await?)
    }
}
