-- Issue 5 (multi-factor authentication): one TOTP credential per user (the
-- shared secret sealed under the key-encryption key; `last_used_step`
-- refuses replays), and the user's recovery codes as SHA-256 digests, each
-- usable once.

CREATE TABLE mfa_totp_credentials (
    id               uuid        NOT NULL,
    organization_id  uuid        NOT NULL,
    user_id          uuid        NOT NULL,
    encrypted_secret bytea       NOT NULL,
    confirmed_at     timestamptz,
    last_used_step   bigint,
    created_at       timestamptz NOT NULL,
    CONSTRAINT mfa_totp_credentials_pkey PRIMARY KEY (id),
    CONSTRAINT mfa_totp_credentials_user_key UNIQUE (organization_id, user_id),
    CONSTRAINT mfa_totp_credentials_organization_fkey FOREIGN KEY (organization_id)
        REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT mfa_totp_credentials_user_fkey FOREIGN KEY (organization_id, user_id)
        REFERENCES users (organization_id, id) ON DELETE CASCADE
);

CREATE TABLE mfa_recovery_codes (
    organization_id uuid        NOT NULL,
    user_id         uuid        NOT NULL,
    code_digest     bytea       NOT NULL,
    created_at      timestamptz NOT NULL,
    used_at         timestamptz,
    CONSTRAINT mfa_recovery_codes_pkey PRIMARY KEY (organization_id, user_id, code_digest),
    CONSTRAINT mfa_recovery_codes_organization_fkey FOREIGN KEY (organization_id)
        REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT mfa_recovery_codes_user_fkey FOREIGN KEY (organization_id, user_id)
        REFERENCES users (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT mfa_recovery_codes_digest_length CHECK (length(code_digest) = 32)
);
