-- Issue 5 (email): the durable mail outbox (leased by claim_token +
-- leased_until) and the single-use account links, stored as digests.
-- Instants are stored as in the other tables (see 0001).

CREATE TABLE mail_outbox (
    id              BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    organization_id BLOB    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    recipient       TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    claim_token     BLOB,
    leased_until    INTEGER,
    created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at, id) WHERE state = 'pending';

CREATE TABLE account_tokens (
    token_digest    BLOB    NOT NULL PRIMARY KEY CHECK (length(token_digest) = 32),
    organization_id BLOB    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         BLOB    NOT NULL,
    purpose         TEXT    NOT NULL CHECK (purpose IN ('verify_email', 'reset_password', 'invitation')),
    email           TEXT    NOT NULL,
    password_stamp  BLOB,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    FOREIGN KEY (organization_id, user_id) REFERENCES users (organization_id, id) ON DELETE CASCADE
) STRICT;
CREATE INDEX account_tokens_user_idx ON account_tokens (organization_id, user_id);
CREATE INDEX account_tokens_expires_at_idx ON account_tokens (expires_at);
