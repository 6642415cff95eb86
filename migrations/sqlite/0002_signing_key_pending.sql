-- Key rotation publishes a new signing key before it signs: a key may now be
-- 'pending' (in JWKS, not yet signing) besides 'active' and 'retired'.
-- SQLite cannot alter a CHECK constraint, so the table is rebuilt (nothing
-- references it, so foreign keys stay satisfied throughout).
CREATE TABLE signing_keys_new (
    id                    BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    organization_id       BLOB    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    algorithm             TEXT    NOT NULL CHECK (algorithm IN ('EdDSA', 'ES256', 'RS256')),
    state                 TEXT    NOT NULL CHECK (state IN ('pending', 'active', 'retired')),
    public_jwk            TEXT    NOT NULL CHECK (json_valid(public_jwk)),
    encrypted_private_key BLOB    NOT NULL,
    created_at            INTEGER NOT NULL,
    retired_at            INTEGER,
    expires_at            INTEGER
) STRICT;
INSERT INTO signing_keys_new (id, organization_id, algorithm, state, public_jwk, encrypted_private_key,
                              created_at, retired_at, expires_at)
    SELECT id, organization_id, algorithm, state, public_jwk, encrypted_private_key,
           created_at, retired_at, expires_at
    FROM signing_keys;
DROP TABLE signing_keys;
ALTER TABLE signing_keys_new RENAME TO signing_keys;
CREATE INDEX signing_keys_organization_created_idx ON signing_keys (organization_id, created_at DESC);
CREATE INDEX signing_keys_retired_expires_at_idx ON signing_keys (expires_at) WHERE state = 'retired';
