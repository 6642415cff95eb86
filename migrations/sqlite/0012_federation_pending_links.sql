-- Issue 6 (federation, linking): an upstream identity waiting to be linked
-- to an existing local user until that user proves ownership of the account
-- with its password. Found by the SHA-256 of a random token kept in a cookie
-- of the browser that came back from the upstream; single use, expiring.
-- Instants are stored as in the other tables (see 0001).

CREATE TABLE federation_pending_links (
    token_digest    BLOB    NOT NULL PRIMARY KEY CHECK (length(token_digest) = 32),
    organization_id BLOB    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    provider_id     BLOB    NOT NULL,
    subject         TEXT    NOT NULL,
    user_id         BLOB    NOT NULL,
    claims          TEXT    NOT NULL,
    continuation    TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    FOREIGN KEY (organization_id, provider_id) REFERENCES identity_providers (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, user_id) REFERENCES users (organization_id, id) ON DELETE CASCADE
) STRICT;

-- Housekeeping deletes expired rows by expires_at (hourly, every
-- organization); the cascading foreign keys delete by user and by provider.
CREATE INDEX federation_pending_links_expires_idx ON federation_pending_links (expires_at);
CREATE INDEX federation_pending_links_user_idx ON federation_pending_links (organization_id, user_id);
CREATE INDEX federation_pending_links_provider_idx ON federation_pending_links (organization_id, provider_id);
-- The same housekeeping for the upstream logins of 0010.
CREATE INDEX federation_logins_expires_idx ON federation_logins (expires_at);
CREATE INDEX federation_logins_provider_idx ON federation_logins (organization_id, provider_id);
