-- ZenoAuth's SQLite schema (SQLite 3.37 or newer: STRICT tables; bundled with sqlx).
--
-- The same semantics as migrations/postgres, in SQLite's types:
--   ids        16-byte BLOB (the UUID's bytes, so BLOB order is UUID order)
--   instants   INTEGER microseconds since the Unix epoch (UTC), so they sort,
--              compare and round-trip at the precision PostgreSQL keeps
--   JSON       TEXT, checked with json_valid
--   digests    32-byte BLOB (SHA-256 of the issued secret)
--   booleans   INTEGER 0 or 1
-- Every tenant table carries organization_id with ON DELETE CASCADE, and every
-- reference between tenant rows is a composite foreign key that includes
-- organization_id, so a row can never point into another organization.
-- Expiry is always judged against the application's clock, passed in as a
-- parameter, never against SQL time functions.

CREATE TABLE organizations (
    id         BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    slug       TEXT    NOT NULL UNIQUE,
    name       TEXT    NOT NULL,
    settings   TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(settings)),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE users (
    id              BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    organization_id BLOB    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email           TEXT    NOT NULL,
    email_verified  INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
    password_hash   TEXT,
    profile         TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(profile)),
    is_active       INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    -- Target of the composite foreign keys; also serves tenant-scoped keyset pagination.
    UNIQUE (organization_id, id),
    -- Emails are normalised to lower case by the domain, so this is case-insensitive.
    -- Also serves lookup by email and email prefix search.
    UNIQUE (organization_id, email)
) STRICT;

CREATE TABLE applications (
    id                   BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    organization_id      BLOB    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    client_id            TEXT    NOT NULL,
    name                 TEXT    NOT NULL,
    -- NULL for public clients; the SHA-256 digest of the secret for confidential ones.
    client_secret_digest BLOB    CHECK (client_secret_digest IS NULL OR length(client_secret_digest) = 32),
    -- A JSON array of redirect URIs in their parsed, serialised form.
    redirect_uris        TEXT    NOT NULL DEFAULT '[]'
        CHECK (json_valid(redirect_uris) AND json_type(redirect_uris) = 'array'),
    -- Space-delimited, canonical (sorted) scope list.
    allowed_scopes       TEXT    NOT NULL DEFAULT '',
    settings             TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(settings)),
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    UNIQUE (organization_id, id),
    UNIQUE (organization_id, client_id)
) STRICT;

CREATE TABLE sessions (
    id               BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    organization_id  BLOB    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id          BLOB    NOT NULL,
    token_digest     BLOB    NOT NULL CHECK (length(token_digest) = 32),
    authenticated_at INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    metadata         TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    UNIQUE (organization_id, id),
    UNIQUE (organization_id, token_digest),
    FOREIGN KEY (organization_id, user_id) REFERENCES users (organization_id, id) ON DELETE CASCADE
) STRICT;
CREATE INDEX sessions_organization_user_idx ON sessions (organization_id, user_id, created_at);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE authorization_codes (
    id              BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    organization_id BLOB    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    code_digest     BLOB    NOT NULL CHECK (length(code_digest) = 32),
    application_id  BLOB    NOT NULL,
    user_id         BLOB    NOT NULL,
    -- A code outlives the session it was issued in (logout) so that a replay is
    -- still recognised: see the trigger sessions_detach_on_delete.
    session_id      BLOB,
    redirect_uri    TEXT    NOT NULL,
    scope           TEXT    NOT NULL DEFAULT '',
    code_challenge  TEXT    NOT NULL,
    nonce           TEXT,
    auth_time       INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    consumed_at     INTEGER,
    UNIQUE (organization_id, id),
    UNIQUE (organization_id, code_digest),
    FOREIGN KEY (organization_id, application_id)
        REFERENCES applications (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, user_id) REFERENCES users (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, session_id) REFERENCES sessions (organization_id, id)
) STRICT;
CREATE INDEX authorization_codes_organization_application_idx ON authorization_codes (organization_id, application_id);
CREATE INDEX authorization_codes_organization_user_idx ON authorization_codes (organization_id, user_id);
CREATE INDEX authorization_codes_organization_session_idx ON authorization_codes (organization_id, session_id);
CREATE INDEX authorization_codes_expires_at_idx ON authorization_codes (expires_at);

CREATE TABLE refresh_token_families (
    id                    BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    organization_id       BLOB    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    application_id        BLOB    NOT NULL,
    user_id               BLOB,
    -- Families outlive their session and code (revocation is explicit:
    -- revoke_for_session, revoke_for_code); see the detach triggers.
    session_id            BLOB,
    authorization_code_id BLOB,
    scope                 TEXT    NOT NULL DEFAULT '',
    auth_time             INTEGER,
    created_at            INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL,
    revoked_at            INTEGER,
    UNIQUE (organization_id, id),
    FOREIGN KEY (organization_id, application_id)
        REFERENCES applications (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, user_id) REFERENCES users (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, session_id) REFERENCES sessions (organization_id, id),
    FOREIGN KEY (organization_id, authorization_code_id) REFERENCES authorization_codes (organization_id, id)
) STRICT;
CREATE INDEX refresh_token_families_organization_application_idx
    ON refresh_token_families (organization_id, application_id);
CREATE INDEX refresh_token_families_organization_user_idx ON refresh_token_families (organization_id, user_id);
CREATE INDEX refresh_token_families_organization_session_idx ON refresh_token_families (organization_id, session_id);
CREATE INDEX refresh_token_families_organization_code_idx
    ON refresh_token_families (organization_id, authorization_code_id);
CREATE INDEX refresh_token_families_expires_at_idx ON refresh_token_families (expires_at);

CREATE TABLE refresh_tokens (
    token_digest    BLOB    NOT NULL CHECK (length(token_digest) = 32),
    family_id       BLOB    NOT NULL,
    organization_id BLOB    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    rotated_at      INTEGER,
    PRIMARY KEY (organization_id, token_digest),
    FOREIGN KEY (organization_id, family_id)
        REFERENCES refresh_token_families (organization_id, id) ON DELETE CASCADE
) STRICT;
CREATE INDEX refresh_tokens_organization_family_idx ON refresh_tokens (organization_id, family_id);

CREATE TABLE revocations (
    organization_id BLOB    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    jti             TEXT    NOT NULL,
    revoked_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    PRIMARY KEY (organization_id, jti)
) STRICT;
CREATE INDEX revocations_expires_at_idx ON revocations (expires_at);

CREATE TABLE signing_keys (
    id                    BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    organization_id       BLOB    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    algorithm             TEXT    NOT NULL CHECK (algorithm IN ('EdDSA', 'ES256', 'RS256')),
    state                 TEXT    NOT NULL CHECK (state IN ('active', 'retired')),
    public_jwk            TEXT    NOT NULL CHECK (json_valid(public_jwk)),
    encrypted_private_key BLOB    NOT NULL,
    created_at            INTEGER NOT NULL,
    retired_at            INTEGER,
    expires_at            INTEGER
) STRICT;
CREATE INDEX signing_keys_organization_created_idx ON signing_keys (organization_id, created_at DESC);
CREATE INDEX signing_keys_retired_expires_at_idx ON signing_keys (expires_at) WHERE state = 'retired';

CREATE TABLE audit_events (
    id              BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    organization_id BLOB    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    occurred_at     INTEGER NOT NULL,
    event_type      TEXT    NOT NULL,
    actor           TEXT,
    subject         TEXT,
    correlation_id  TEXT,
    ip              TEXT,
    user_agent      TEXT,
    data            TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(data))
) STRICT;
CREATE INDEX audit_events_organization_id_idx ON audit_events (organization_id, id);
CREATE INDEX audit_events_organization_occurred_idx ON audit_events (organization_id, occurred_at);

-- SQLite cannot SET NULL one column of a composite foreign key (PostgreSQL 15's
-- ON DELETE SET NULL (column)), so these triggers detach the referencing rows
-- before the referenced row goes; the foreign keys themselves stay NO ACTION.
CREATE TRIGGER sessions_detach_on_delete
BEFORE DELETE ON sessions
BEGIN
    UPDATE authorization_codes SET session_id = NULL
    WHERE organization_id = OLD.organization_id AND session_id = OLD.id;
    UPDATE refresh_token_families SET session_id = NULL
    WHERE organization_id = OLD.organization_id AND session_id = OLD.id;
END;

CREATE TRIGGER authorization_codes_detach_on_delete
BEFORE DELETE ON authorization_codes
BEGIN
    UPDATE refresh_token_families SET authorization_code_id = NULL
    WHERE organization_id = OLD.organization_id AND authorization_code_id = OLD.id;
END;
