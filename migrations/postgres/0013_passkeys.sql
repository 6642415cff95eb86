-- Issue 5 (WebAuthn passkeys): credentials per user, unique by credential ID
-- within an organization (the record `passkey` is webauthn-rs's: public key,
-- counter, flags), and ceremonies in flight — the challenge state of a
-- registration or an authentication, found by the SHA-256 digest of a random
-- handle, single use (taken by DELETE … RETURNING) and short-lived, kept here
-- so that any instance can finish what another began.

CREATE TABLE passkey_credentials (
    id              uuid        NOT NULL,
    organization_id uuid        NOT NULL,
    user_id         uuid        NOT NULL,
    credential_id   bytea       NOT NULL,
    name            text        NOT NULL,
    passkey         jsonb       NOT NULL,
    backup_eligible boolean     NOT NULL,
    backup_state    boolean     NOT NULL,
    sign_count      bigint      NOT NULL,
    created_at      timestamptz NOT NULL,
    last_used_at    timestamptz,
    CONSTRAINT passkey_credentials_pkey PRIMARY KEY (id),
    CONSTRAINT passkey_credentials_credential_key UNIQUE (organization_id, credential_id),
    CONSTRAINT passkey_credentials_organization_fkey FOREIGN KEY (organization_id)
        REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT passkey_credentials_user_fkey FOREIGN KEY (organization_id, user_id)
        REFERENCES users (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT passkey_credentials_sign_count_range CHECK (sign_count BETWEEN 0 AND 4294967295),
    CONSTRAINT passkey_credentials_credential_id_length CHECK (length(credential_id) BETWEEN 1 AND 1023)
);

CREATE INDEX passkey_credentials_user_idx ON passkey_credentials (organization_id, user_id);

CREATE TABLE passkey_ceremonies (
    handle_digest   bytea       NOT NULL,
    organization_id uuid        NOT NULL,
    purpose         text        NOT NULL,
    user_id         uuid,
    session_id      uuid,
    name            text,
    state           jsonb       NOT NULL,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    CONSTRAINT passkey_ceremonies_pkey PRIMARY KEY (handle_digest),
    CONSTRAINT passkey_ceremonies_organization_fkey FOREIGN KEY (organization_id)
        REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT passkey_ceremonies_user_fkey FOREIGN KEY (organization_id, user_id)
        REFERENCES users (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT passkey_ceremonies_digest_length CHECK (length(handle_digest) = 32),
    CONSTRAINT passkey_ceremonies_purpose_check CHECK (purpose IN ('registration', 'second_factor', 'passwordless'))
);

CREATE INDEX passkey_ceremonies_expires_idx ON passkey_ceremonies (expires_at);
-- For the ON DELETE CASCADE from users (and organizations, by its prefix).
CREATE INDEX passkey_ceremonies_user_idx ON passkey_ceremonies (organization_id, user_id);
