-- Issue 6 (federation): upstream OpenID Connect providers per organization
-- (the client secret sealed under the key-encryption key), the links from an
-- upstream identity (provider, sub) to exactly one local user, and logins in
-- flight at an upstream (state digest, nonce, PKCE verifier; single use).
-- Instants are stored as in the other tables (see 0001).

CREATE TABLE identity_providers (
    id                      BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    organization_id         BLOB    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name                    TEXT    NOT NULL,
    issuer                  TEXT    NOT NULL,
    client_id               TEXT    NOT NULL,
    encrypted_client_secret BLOB,
    scopes                  TEXT    NOT NULL,
    enabled                 INTEGER NOT NULL,
    jit_provisioning        INTEGER NOT NULL,
    link_by_verified_email  INTEGER NOT NULL,
    claim_mapping           TEXT    NOT NULL,
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL,
    UNIQUE (organization_id, id),
    UNIQUE (organization_id, name)
) STRICT;

CREATE TABLE federated_identities (
    organization_id BLOB    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    provider_id     BLOB    NOT NULL,
    subject         TEXT    NOT NULL,
    user_id         BLOB    NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (organization_id, provider_id, subject),
    FOREIGN KEY (organization_id, provider_id) REFERENCES identity_providers (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, user_id) REFERENCES users (organization_id, id) ON DELETE CASCADE
) STRICT;

CREATE INDEX federated_identities_user_idx ON federated_identities (organization_id, user_id);

CREATE TABLE federation_logins (
    state_digest    BLOB    NOT NULL PRIMARY KEY CHECK (length(state_digest) = 32),
    organization_id BLOB    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    provider_id     BLOB    NOT NULL,
    nonce           TEXT    NOT NULL,
    code_verifier   TEXT    NOT NULL,
    continuation    TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    FOREIGN KEY (organization_id, provider_id) REFERENCES identity_providers (organization_id, id) ON DELETE CASCADE
) STRICT;
