-- Issue 5 (WebAuthn passkeys): credentials per user, unique by credential ID
-- within an organization, and ceremonies in flight (single use, short-lived).
-- See the PostgreSQL migration; instants are stored as in the other tables (see 0001).

CREATE TABLE passkey_credentials (
    id              BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    organization_id BLOB    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         BLOB    NOT NULL,
    credential_id   BLOB    NOT NULL CHECK (length(credential_id) BETWEEN 1 AND 1023),
    name            TEXT    NOT NULL,
    passkey         TEXT    NOT NULL,
    backup_eligible INTEGER NOT NULL,
    backup_state    INTEGER NOT NULL,
    sign_count      INTEGER NOT NULL CHECK (sign_count BETWEEN 0 AND 4294967295),
    created_at      INTEGER NOT NULL,
    last_used_at    INTEGER,
    UNIQUE (organization_id, credential_id),
    FOREIGN KEY (organization_id, user_id) REFERENCES users (organization_id, id) ON DELETE CASCADE
) STRICT;

CREATE INDEX passkey_credentials_user_idx ON passkey_credentials (organization_id, user_id);

CREATE TABLE passkey_ceremonies (
    handle_digest   BLOB    NOT NULL PRIMARY KEY CHECK (length(handle_digest) = 32),
    organization_id BLOB    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    purpose         TEXT    NOT NULL CHECK (purpose IN ('registration', 'second_factor', 'passwordless')),
    user_id         BLOB,
    session_id      BLOB,
    name            TEXT,
    state           TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    FOREIGN KEY (organization_id, user_id) REFERENCES users (organization_id, id) ON DELETE CASCADE
) STRICT;

CREATE INDEX passkey_ceremonies_expires_idx ON passkey_ceremonies (expires_at);
-- For the ON DELETE CASCADE from users (and organizations, by its prefix).
CREATE INDEX passkey_ceremonies_user_idx ON passkey_ceremonies (organization_id, user_id);
