//! `InvalidationBus` over PostgreSQL LISTEN/NOTIFY on one channel,
//! [`INVALIDATION_CHANNEL`]: `publish` is `pg_notify` on the pool (after the
//! write it announces has committed), `subscribe` holds one dedicated
//! listening connection outside the pool.

use async_trait::async_trait;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use zenoauth_domain::ports::{InvalidationBus, InvalidationSubscription};
use zenoauth_domain::{Error, Result};

use crate::error::db_error;

/// The NOTIFY channel every instance listens on.
pub const INVALIDATION_CHANNEL: &str = "zenoauth_invalidate";

/// PostgreSQL's NOTIFY payload limit is 8000 bytes; ours are far shorter.
const MAX_PAYLOAD: usize = 7900;

#[derive(Debug, Clone)]
pub struct PgInvalidationBus {
    pool: PgPool,
}

impl PgInvalidationBus {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl InvalidationBus for PgInvalidationBus {
    async fn publish(&self, message: &str) -> Result<()> {
        if message.len() > MAX_PAYLOAD {
            return Err(Error::unavailable("invalidation message longer than the NOTIFY payload limit"));
        }
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(INVALIDATION_CHANNEL)
            .bind(message)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn subscribe(&self) -> Result<Box<dyn InvalidationSubscription>> {
        let mut listener = PgListener::connect_with(&self.pool).await.map_err(db_error)?;
        listener.listen(INVALIDATION_CHANNEL).await.map_err(db_error)?;
        Ok(Box::new(PgInvalidationSubscription { listener }))
    }
}

struct PgInvalidationSubscription {
    listener: PgListener,
}

#[async_trait]
impl InvalidationSubscription for PgInvalidationSubscription {
    async fn next(&mut self) -> Result<String> {
        // `try_recv` reports a lost connection as `Ok(None)` instead of
        // silently reconnecting (which would hide the missed notifications).
        match self.listener.try_recv().await {
            Ok(Some(notification)) => Ok(notification.payload().to_owned()),
            Ok(None) => Err(Error::unavailable("the invalidation listener lost its connection")),
            Err(error) => Err(db_error(error)),
        }
    }
}
