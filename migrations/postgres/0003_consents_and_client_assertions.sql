-- Issue 3 (OpenID Provider): remembered consents, and the jti values of
-- client assertions (private_key_jwt) so that each is accepted once across
-- every instance.

CREATE TABLE consents (
    organization_id uuid        NOT NULL,
    user_id         uuid        NOT NULL,
    application_id  uuid        NOT NULL,
    scope           text        NOT NULL,
    granted_at      timestamptz NOT NULL,
    CONSTRAINT consents_pkey PRIMARY KEY (organization_id, user_id, application_id),
    CONSTRAINT consents_organization_fkey FOREIGN KEY (organization_id)
        REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT consents_user_fkey FOREIGN KEY (organization_id, user_id)
        REFERENCES users (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT consents_application_fkey FOREIGN KEY (organization_id, application_id)
        REFERENCES applications (organization_id, id) ON DELETE CASCADE
);

CREATE TABLE client_assertion_jtis (
    organization_id uuid        NOT NULL,
    client_id       text        NOT NULL,
    jti             text        NOT NULL,
    expires_at      timestamptz NOT NULL,
    CONSTRAINT client_assertion_jtis_pkey PRIMARY KEY (organization_id, client_id, jti),
    CONSTRAINT client_assertion_jtis_organization_fkey FOREIGN KEY (organization_id)
        REFERENCES organizations (id) ON DELETE CASCADE
);
CREATE INDEX client_assertion_jtis_expires_at_idx ON client_assertion_jtis (expires_at);
