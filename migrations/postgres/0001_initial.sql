-- ZenoAuth's PostgreSQL schema (PostgreSQL 15 or newer: ON DELETE SET NULL (column)).
--
-- Every tenant table carries organization_id with ON DELETE CASCADE, and every
-- reference between tenant rows is a composite foreign key that includes
-- organization_id, so a row can never point into another organization.
-- Ids are UUIDv7 made by the application. Secrets are stored only as SHA-256
-- digests (bytea, 32 bytes). Expiry is always judged against the application's
-- clock, passed in as a parameter, never against SQL now().

CREATE TABLE organizations (
    id          uuid        NOT NULL,
    slug        text        NOT NULL,
    name        text        NOT NULL,
    settings    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CONSTRAINT organizations_pkey PRIMARY KEY (id),
    CONSTRAINT organizations_slug_key UNIQUE (slug)
);

CREATE TABLE users (
    id              uuid        NOT NULL,
    organization_id uuid        NOT NULL,
    email           text        NOT NULL,
    email_verified  boolean     NOT NULL DEFAULT false,
    password_hash   text,
    profile         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    is_active       boolean     NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CONSTRAINT users_pkey PRIMARY KEY (id),
    -- Target of the composite foreign keys; also serves tenant-scoped keyset pagination.
    CONSTRAINT users_organization_id_key UNIQUE (organization_id, id),
    -- Emails are normalised to lower case by the domain, so this is case-insensitive.
    CONSTRAINT users_organization_email_key UNIQUE (organization_id, email),
    CONSTRAINT users_organization_fkey FOREIGN KEY (organization_id)
        REFERENCES organizations (id) ON DELETE CASCADE
);
-- Email prefix search (LIKE 'prefix%') whatever the database collation.
CREATE INDEX users_organization_email_pattern_idx ON users (organization_id, email text_pattern_ops);
-- Profile attribute equality search: profile @> '{"key": value}'.
CREATE INDEX users_profile_idx ON users USING gin (profile jsonb_path_ops);

CREATE TABLE applications (
    id                   uuid        NOT NULL,
    organization_id      uuid        NOT NULL,
    client_id            text        NOT NULL,
    name                 text        NOT NULL,
    -- NULL for public clients; the SHA-256 digest of the secret for confidential ones.
    client_secret_digest bytea,
    redirect_uris        text[]      NOT NULL DEFAULT '{}',
    allowed_scopes       text[]      NOT NULL DEFAULT '{}',
    settings             jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    CONSTRAINT applications_pkey PRIMARY KEY (id),
    CONSTRAINT applications_organization_id_key UNIQUE (organization_id, id),
    CONSTRAINT applications_organization_client_id_key UNIQUE (organization_id, client_id),
    CONSTRAINT applications_client_secret_digest_check
        CHECK (client_secret_digest IS NULL OR octet_length(client_secret_digest) = 32),
    CONSTRAINT applications_organization_fkey FOREIGN KEY (organization_id)
        REFERENCES organizations (id) ON DELETE CASCADE
);

CREATE TABLE sessions (
    id               uuid        NOT NULL,
    organization_id  uuid        NOT NULL,
    user_id          uuid        NOT NULL,
    token_digest     bytea       NOT NULL,
    authenticated_at timestamptz NOT NULL,
    created_at       timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL,
    metadata         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT sessions_pkey PRIMARY KEY (id),
    CONSTRAINT sessions_organization_id_key UNIQUE (organization_id, id),
    CONSTRAINT sessions_token_digest_key UNIQUE (token_digest),
    CONSTRAINT sessions_token_digest_check CHECK (octet_length(token_digest) = 32),
    CONSTRAINT sessions_organization_fkey FOREIGN KEY (organization_id)
        REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT sessions_user_fkey FOREIGN KEY (organization_id, user_id)
        REFERENCES users (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX sessions_organization_user_idx ON sessions (organization_id, user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE authorization_codes (
    id              uuid        NOT NULL,
    organization_id uuid        NOT NULL,
    code_digest     bytea       NOT NULL,
    application_id  uuid        NOT NULL,
    user_id         uuid        NOT NULL,
    session_id      uuid,
    redirect_uri    text        NOT NULL,
    scope           text[]      NOT NULL DEFAULT '{}',
    code_challenge  text        NOT NULL,
    nonce           text,
    auth_time       timestamptz NOT NULL,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    consumed_at     timestamptz,
    CONSTRAINT authorization_codes_pkey PRIMARY KEY (id),
    CONSTRAINT authorization_codes_organization_id_key UNIQUE (organization_id, id),
    CONSTRAINT authorization_codes_code_digest_key UNIQUE (code_digest),
    CONSTRAINT authorization_codes_code_digest_check CHECK (octet_length(code_digest) = 32),
    CONSTRAINT authorization_codes_organization_fkey FOREIGN KEY (organization_id)
        REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT authorization_codes_application_fkey FOREIGN KEY (organization_id, application_id)
        REFERENCES applications (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT authorization_codes_user_fkey FOREIGN KEY (organization_id, user_id)
        REFERENCES users (organization_id, id) ON DELETE CASCADE,
    -- A code outlives the session it was issued in (logout) so that a replay is still recognised.
    CONSTRAINT authorization_codes_session_fkey FOREIGN KEY (organization_id, session_id)
        REFERENCES sessions (organization_id, id) ON DELETE SET NULL (session_id)
);
CREATE INDEX authorization_codes_organization_application_idx ON authorization_codes (organization_id, application_id);
CREATE INDEX authorization_codes_organization_user_idx ON authorization_codes (organization_id, user_id);
CREATE INDEX authorization_codes_organization_session_idx ON authorization_codes (organization_id, session_id);
CREATE INDEX authorization_codes_expires_at_idx ON authorization_codes (expires_at);

CREATE TABLE refresh_token_families (
    id                    uuid        NOT NULL,
    organization_id       uuid        NOT NULL,
    application_id        uuid        NOT NULL,
    user_id               uuid,
    session_id            uuid,
    authorization_code_id uuid,
    scope                 text[]      NOT NULL DEFAULT '{}',
    auth_time             timestamptz,
    created_at            timestamptz NOT NULL,
    expires_at            timestamptz NOT NULL,
    revoked_at            timestamptz,
    CONSTRAINT refresh_token_families_pkey PRIMARY KEY (id),
    CONSTRAINT refresh_token_families_organization_id_key UNIQUE (organization_id, id),
    CONSTRAINT refresh_token_families_organization_fkey FOREIGN KEY (organization_id)
        REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT refresh_token_families_application_fkey FOREIGN KEY (organization_id, application_id)
        REFERENCES applications (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT refresh_token_families_user_fkey FOREIGN KEY (organization_id, user_id)
        REFERENCES users (organization_id, id) ON DELETE CASCADE,
    -- Families outlive their session and code (revocation is explicit: revoke_for_session, revoke_for_code).
    CONSTRAINT refresh_token_families_session_fkey FOREIGN KEY (organization_id, session_id)
        REFERENCES sessions (organization_id, id) ON DELETE SET NULL (session_id),
    CONSTRAINT refresh_token_families_authorization_code_fkey FOREIGN KEY (organization_id, authorization_code_id)
        REFERENCES authorization_codes (organization_id, id) ON DELETE SET NULL (authorization_code_id)
);
CREATE INDEX refresh_token_families_organization_application_idx ON refresh_token_families (organization_id, application_id);
CREATE INDEX refresh_token_families_organization_user_idx ON refresh_token_families (organization_id, user_id);
CREATE INDEX refresh_token_families_organization_session_idx ON refresh_token_families (organization_id, session_id);
CREATE INDEX refresh_token_families_organization_code_idx
    ON refresh_token_families (organization_id, authorization_code_id);
CREATE INDEX refresh_token_families_expires_at_idx ON refresh_token_families (expires_at);

CREATE TABLE refresh_tokens (
    token_digest    bytea       NOT NULL,
    family_id       uuid        NOT NULL,
    organization_id uuid        NOT NULL,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    rotated_at      timestamptz,
    CONSTRAINT refresh_tokens_pkey PRIMARY KEY (token_digest),
    CONSTRAINT refresh_tokens_token_digest_check CHECK (octet_length(token_digest) = 32),
    CONSTRAINT refresh_tokens_organization_fkey FOREIGN KEY (organization_id)
        REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT refresh_tokens_family_fkey FOREIGN KEY (organization_id, family_id)
        REFERENCES refresh_token_families (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_organization_family_idx ON refresh_tokens (organization_id, family_id);

CREATE TABLE revocations (
    organization_id uuid        NOT NULL,
    jti             text        NOT NULL,
    revoked_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    CONSTRAINT revocations_pkey PRIMARY KEY (organization_id, jti),
    CONSTRAINT revocations_organization_fkey FOREIGN KEY (organization_id)
        REFERENCES organizations (id) ON DELETE CASCADE
);
CREATE INDEX revocations_expires_at_idx ON revocations (expires_at);

CREATE TABLE signing_keys (
    id                    uuid        NOT NULL,
    organization_id       uuid        NOT NULL,
    algorithm             text        NOT NULL,
    state                 text        NOT NULL,
    public_jwk            jsonb       NOT NULL,
    encrypted_private_key bytea       NOT NULL,
    created_at            timestamptz NOT NULL,
    retired_at            timestamptz,
    expires_at            timestamptz,
    CONSTRAINT signing_keys_pkey PRIMARY KEY (id),
    CONSTRAINT signing_keys_algorithm_check CHECK (algorithm IN ('EdDSA', 'ES256', 'RS256')),
    CONSTRAINT signing_keys_state_check CHECK (state IN ('active', 'retired')),
    CONSTRAINT signing_keys_organization_fkey FOREIGN KEY (organization_id)
        REFERENCES organizations (id) ON DELETE CASCADE
);
CREATE INDEX signing_keys_organization_created_idx ON signing_keys (organization_id, created_at DESC);
CREATE INDEX signing_keys_retired_expires_at_idx ON signing_keys (expires_at) WHERE state = 'retired';

CREATE TABLE audit_events (
    id              uuid        NOT NULL,
    organization_id uuid        NOT NULL,
    occurred_at     timestamptz NOT NULL,
    event_type      text        NOT NULL,
    actor           text,
    subject         text,
    correlation_id  text,
    ip              text,
    user_agent      text,
    data            jsonb       NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT audit_events_pkey PRIMARY KEY (id),
    CONSTRAINT audit_events_organization_fkey FOREIGN KEY (organization_id)
        REFERENCES organizations (id) ON DELETE CASCADE
);
CREATE INDEX audit_events_organization_occurred_idx ON audit_events (organization_id, occurred_at);
CREATE INDEX audit_events_organization_id_idx ON audit_events (organization_id, id);
