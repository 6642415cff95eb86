-- Issue 4 (admin API): roles and permissions per organization, their
-- assignment to users and applications, and the grace period of a rotated
-- client secret.

CREATE TABLE roles (
    id              uuid        NOT NULL,
    organization_id uuid        NOT NULL,
    name            text        NOT NULL,
    description     text        NOT NULL DEFAULT '',
    permissions     text[]      NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CONSTRAINT roles_pkey PRIMARY KEY (id),
    CONSTRAINT roles_organization_id_key UNIQUE (organization_id, id),
    CONSTRAINT roles_organization_name_key UNIQUE (organization_id, name),
    CONSTRAINT roles_organization_fkey FOREIGN KEY (organization_id)
        REFERENCES organizations (id) ON DELETE CASCADE
);

CREATE TABLE user_roles (
    organization_id uuid NOT NULL,
    user_id         uuid NOT NULL,
    role_id         uuid NOT NULL,
    CONSTRAINT user_roles_pkey PRIMARY KEY (organization_id, user_id, role_id),
    CONSTRAINT user_roles_organization_fkey FOREIGN KEY (organization_id)
        REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT user_roles_user_fkey FOREIGN KEY (organization_id, user_id)
        REFERENCES users (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT user_roles_role_fkey FOREIGN KEY (organization_id, role_id)
        REFERENCES roles (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX user_roles_role_idx ON user_roles (organization_id, role_id);

CREATE TABLE application_roles (
    organization_id uuid NOT NULL,
    application_id  uuid NOT NULL,
    role_id         uuid NOT NULL,
    CONSTRAINT application_roles_pkey PRIMARY KEY (organization_id, application_id, role_id),
    CONSTRAINT application_roles_organization_fkey FOREIGN KEY (organization_id)
        REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT application_roles_application_fkey FOREIGN KEY (organization_id, application_id)
        REFERENCES applications (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT application_roles_role_fkey FOREIGN KEY (organization_id, role_id)
        REFERENCES roles (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX application_roles_role_idx ON application_roles (organization_id, role_id);

-- The replaced secret of a rotation stays valid until previous_client_secret_expires_at.
ALTER TABLE applications ADD COLUMN previous_client_secret_digest bytea;
ALTER TABLE applications ADD COLUMN previous_client_secret_expires_at timestamptz;
ALTER TABLE applications ADD CONSTRAINT applications_previous_client_secret_digest_check
    CHECK (previous_client_secret_digest IS NULL OR octet_length(previous_client_secret_digest) = 32);
