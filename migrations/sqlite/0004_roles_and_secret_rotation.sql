-- Issue 4 (admin API): roles and permissions per organization, their
-- assignment to users and applications, and the grace period of a rotated
-- client secret. Same semantics as migrations/postgres/0004.

CREATE TABLE roles (
    id              BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    organization_id BLOB    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT    NOT NULL,
    description     TEXT    NOT NULL DEFAULT '',
    -- A JSON array of permission strings, sorted and distinct.
    permissions     TEXT    NOT NULL DEFAULT '[]'
        CHECK (json_valid(permissions) AND json_type(permissions) = 'array'),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (organization_id, id),
    UNIQUE (organization_id, name)
) STRICT;

CREATE TABLE user_roles (
    organization_id BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         BLOB NOT NULL,
    role_id         BLOB NOT NULL,
    PRIMARY KEY (organization_id, user_id, role_id),
    FOREIGN KEY (organization_id, user_id) REFERENCES users (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, role_id) REFERENCES roles (organization_id, id) ON DELETE CASCADE
) STRICT;
CREATE INDEX user_roles_role_idx ON user_roles (organization_id, role_id);

CREATE TABLE application_roles (
    organization_id BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    application_id  BLOB NOT NULL,
    role_id         BLOB NOT NULL,
    PRIMARY KEY (organization_id, application_id, role_id),
    FOREIGN KEY (organization_id, application_id) REFERENCES applications (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, role_id) REFERENCES roles (organization_id, id) ON DELETE CASCADE
) STRICT;
CREATE INDEX application_roles_role_idx ON application_roles (organization_id, role_id);

-- The replaced secret of a rotation stays valid until previous_client_secret_expires_at (microseconds).
ALTER TABLE applications ADD COLUMN previous_client_secret_digest BLOB
    CHECK (previous_client_secret_digest IS NULL OR length(previous_client_secret_digest) = 32);
ALTER TABLE applications ADD COLUMN previous_client_secret_expires_at INTEGER;
