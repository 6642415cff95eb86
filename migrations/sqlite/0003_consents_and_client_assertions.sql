-- Issue 3 (OpenID Provider): remembered consents, and the jti values of
-- client assertions (private_key_jwt) so that each is accepted once.

CREATE TABLE consents (
    organization_id BLOB    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         BLOB    NOT NULL,
    application_id  BLOB    NOT NULL,
    scope           TEXT    NOT NULL,
    granted_at      INTEGER NOT NULL,
    PRIMARY KEY (organization_id, user_id, application_id),
    FOREIGN KEY (organization_id, user_id) REFERENCES users (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, application_id) REFERENCES applications (organization_id, id) ON DELETE CASCADE
) STRICT;

CREATE TABLE client_assertion_jtis (
    organization_id BLOB    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    client_id       TEXT    NOT NULL,
    jti             TEXT    NOT NULL,
    expires_at      INTEGER NOT NULL,
    PRIMARY KEY (organization_id, client_id, jti)
) STRICT;
CREATE INDEX client_assertion_jtis_expires_at_idx ON client_assertion_jtis (expires_at);
