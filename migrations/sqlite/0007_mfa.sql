-- Issue 5 (multi-factor authentication): one TOTP credential per user (the
-- shared secret sealed under the key-encryption key; `last_used_step`
-- refuses replays), and the user's recovery codes as SHA-256 digests, each
-- usable once. Instants are stored as in the other tables (see 0001).

CREATE TABLE mfa_totp_credentials (
    id               BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    organization_id  BLOB    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id          BLOB    NOT NULL,
    encrypted_secret BLOB    NOT NULL,
    confirmed_at     INTEGER,
    last_used_step   INTEGER,
    created_at       INTEGER NOT NULL,
    UNIQUE (organization_id, user_id),
    FOREIGN KEY (organization_id, user_id) REFERENCES users (organization_id, id) ON DELETE CASCADE
) STRICT;

CREATE TABLE mfa_recovery_codes (
    organization_id BLOB    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         BLOB    NOT NULL,
    code_digest     BLOB    NOT NULL CHECK (length(code_digest) = 32),
    created_at      INTEGER NOT NULL,
    used_at         INTEGER,
    PRIMARY KEY (organization_id, user_id, code_digest),
    FOREIGN KEY (organization_id, user_id) REFERENCES users (organization_id, id) ON DELETE CASCADE
) STRICT;
