-- Issue 6 (federation): upstream OpenID Connect providers per organization
-- (the client secret sealed under the key-encryption key), the links from an
-- upstream identity (provider, sub) to exactly one local user, and logins in
-- flight at an upstream (state digest, nonce, PKCE verifier; single use).

CREATE TABLE identity_providers (
    id                      uuid        NOT NULL,
    organization_id         uuid        NOT NULL,
    name                    text        NOT NULL,
    issuer                  text        NOT NULL,
    client_id               text        NOT NULL,
    encrypted_client_secret bytea,
    scopes                  jsonb       NOT NULL,
    enabled                 boolean     NOT NULL,
    jit_provisioning        boolean     NOT NULL,
    link_by_verified_email  boolean     NOT NULL,
    claim_mapping           jsonb       NOT NULL,
    created_at              timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL,
    CONSTRAINT identity_providers_pkey PRIMARY KEY (id),
    CONSTRAINT identity_providers_organization_id_key UNIQUE (organization_id, id),
    CONSTRAINT identity_providers_name_key UNIQUE (organization_id, name),
    CONSTRAINT identity_providers_organization_fkey FOREIGN KEY (organization_id)
        REFERENCES organizations (id) ON DELETE CASCADE
);

CREATE TABLE federated_identities (
    organization_id uuid        NOT NULL,
    provider_id     uuid        NOT NULL,
    subject         text        NOT NULL,
    user_id         uuid        NOT NULL,
    created_at      timestamptz NOT NULL,
    CONSTRAINT federated_identities_pkey PRIMARY KEY (organization_id, provider_id, subject),
    CONSTRAINT federated_identities_organization_fkey FOREIGN KEY (organization_id)
        REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT federated_identities_provider_fkey FOREIGN KEY (organization_id, provider_id)
        REFERENCES identity_providers (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT federated_identities_user_fkey FOREIGN KEY (organization_id, user_id)
        REFERENCES users (organization_id, id) ON DELETE CASCADE
);

CREATE INDEX federated_identities_user_idx ON federated_identities (organization_id, user_id);

CREATE TABLE federation_logins (
    state_digest    bytea       NOT NULL,
    organization_id uuid        NOT NULL,
    provider_id     uuid        NOT NULL,
    nonce           text        NOT NULL,
    code_verifier   text        NOT NULL,
    continuation    text        NOT NULL,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    CONSTRAINT federation_logins_pkey PRIMARY KEY (state_digest),
    CONSTRAINT federation_logins_organization_fkey FOREIGN KEY (organization_id)
        REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT federation_logins_provider_fkey FOREIGN KEY (organization_id, provider_id)
        REFERENCES identity_providers (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT federation_logins_digest_length CHECK (length(state_digest) = 32)
);
