-- Issue 6 (federation, linking): an upstream identity waiting to be linked
-- to an existing local user until that user proves ownership of the account
-- with its password. Found by the SHA-256 of a random token kept in a cookie
-- of the browser that came back from the upstream; single use, expiring.

CREATE TABLE federation_pending_links (
    token_digest    bytea       NOT NULL,
    organization_id uuid        NOT NULL,
    provider_id     uuid        NOT NULL,
    subject         text        NOT NULL,
    user_id         uuid        NOT NULL,
    claims          jsonb       NOT NULL,
    continuation    text        NOT NULL,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    CONSTRAINT federation_pending_links_pkey PRIMARY KEY (token_digest),
    CONSTRAINT federation_pending_links_organization_fkey FOREIGN KEY (organization_id)
        REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT federation_pending_links_provider_fkey FOREIGN KEY (organization_id, provider_id)
        REFERENCES identity_providers (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT federation_pending_links_user_fkey FOREIGN KEY (organization_id, user_id)
        REFERENCES users (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT federation_pending_links_digest_length CHECK (length(token_digest) = 32)
);

-- Housekeeping deletes expired rows by expires_at (hourly, every
-- organization); the cascading foreign keys delete by user and by provider.
CREATE INDEX federation_pending_links_expires_idx ON federation_pending_links (expires_at);
CREATE INDEX federation_pending_links_user_idx ON federation_pending_links (organization_id, user_id);
CREATE INDEX federation_pending_links_provider_idx ON federation_pending_links (organization_id, provider_id);
-- The same housekeeping for the upstream logins of 0010.
CREATE INDEX federation_logins_expires_idx ON federation_logins (expires_at);
CREATE INDEX federation_logins_provider_idx ON federation_logins (organization_id, provider_id);
