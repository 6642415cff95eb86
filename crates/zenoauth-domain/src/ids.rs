//! Typed identifiers. Every id is a UUIDv7 made by the application from the
//! injected clock and random source, so ids sort by creation time (good index
//! locality) and tests can make them deterministically.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::ports::{Clock, RandomSource};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps a stored id. Adapters use this when reading rows.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = crate::error::ValidationError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(text)
                    .map(Self)
                    .map_err(|_| crate::error::ValidationError::new("id", "is not a UUID"))
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }
    };
}

id_type!(
    /// An organization (tenant).
    OrganizationId
);
id_type!(
    /// A user, always within one organization.
    UserId
);
id_type!(
    /// An application (OAuth client) record. Distinct from its public `client_id`.
    ApplicationId
);
id_type!(
    /// A login session.
    SessionId
);
id_type!(
    /// An issued authorization code record.
    AuthorizationCodeId
);
id_type!(
    /// A refresh-token family: every token rotated from one grant.
    RefreshTokenFamilyId
);
id_type!(
    /// A signing key; its string form is the JWS `kid`.
    SigningKeyId
);
id_type!(
    /// An audit event.
    AuditEventId
);

/// Makes UUIDv7 ids from the injected clock and random source.
#[derive(Clone)]
pub struct IdGenerator {
    clock: std::sync::Arc<dyn Clock>,
    random: std::sync::Arc<dyn RandomSource>,
}

impl fmt::Debug for IdGenerator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdGenerator").finish_non_exhaustive()
    }
}

impl IdGenerator {
    pub fn new(clock: std::sync::Arc<dyn Clock>, random: std::sync::Arc<dyn RandomSource>) -> Self {
        Self { clock, random }
    }

    /// A fresh UUIDv7 for the current instant.
    pub fn uuid(&self) -> Uuid {
        uuid_v7_at(self.clock.now(), self.random.as_ref())
    }

    /// A fresh id of any typed kind: `let id: UserId = ids.next();`
    pub fn next<T: From<Uuid>>(&self) -> T {
        T::from(self.uuid())
    }
}

macro_rules! from_uuid {
    ($($name:ident),*) => { $(impl From<Uuid> for $name { fn from(uuid: Uuid) -> Self { Self(uuid) } })* };
}
from_uuid!(
    OrganizationId,
    UserId,
    ApplicationId,
    SessionId,
    AuthorizationCodeId,
    RefreshTokenFamilyId,
    SigningKeyId,
    AuditEventId
);

/// Builds a UUIDv7 (RFC 9562 §5.7) for `at`, with 74 random bits.
pub fn uuid_v7_at(at: OffsetDateTime, random: &dyn RandomSource) -> Uuid {
    let millis = u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let mut bytes = [0u8; 10];
    random.fill(&mut bytes);
    uuid::Builder::from_unix_timestamp_millis(millis, &bytes).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FixedClock, SeededRandom};
    use std::sync::Arc;

    #[test]
    fn ids_are_version_7_and_sort_by_time() {
        let clock = Arc::new(FixedClock::at_unix(1_700_000_000));
        let ids = IdGenerator::new(clock.clone(), Arc::new(SeededRandom::new(7)));
        let first: UserId = ids.next();
        clock.advance(time::Duration::milliseconds(1));
        let second: UserId = ids.next();
        assert_eq!(first.as_uuid().get_version_num(), 7);
        assert!(first < second);
    }
}
