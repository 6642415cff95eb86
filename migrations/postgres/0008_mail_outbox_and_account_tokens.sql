-- Issue 5 (email): the durable mail outbox, drained by every instance under
-- leases (claim_token + leased_until), and the single-use account links
-- (verification, reset, invitation), stored as digests.

CREATE TABLE mail_outbox (
    id              uuid        NOT NULL,
    organization_id uuid        NOT NULL,
    recipient       text        NOT NULL,
    subject         text        NOT NULL,
    body            text        NOT NULL,
    state           text        NOT NULL DEFAULT 'pending',
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_error      text,
    claim_token     uuid,
    leased_until    timestamptz,
    created_at      timestamptz NOT NULL,
    CONSTRAINT mail_outbox_pkey PRIMARY KEY (id),
    CONSTRAINT mail_outbox_organization_fkey FOREIGN KEY (organization_id)
        REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT mail_outbox_state_check CHECK (state IN ('pending', 'failed')),
    CONSTRAINT mail_outbox_attempts_check CHECK (attempts >= 0)
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at, id) WHERE state = 'pending';

CREATE TABLE account_tokens (
    token_digest    bytea       NOT NULL,
    organization_id uuid        NOT NULL,
    user_id         uuid        NOT NULL,
    purpose         text        NOT NULL,
    email           text        NOT NULL,
    password_stamp  bytea,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    CONSTRAINT account_tokens_pkey PRIMARY KEY (token_digest),
    CONSTRAINT account_tokens_token_digest_check CHECK (octet_length(token_digest) = 32),
    CONSTRAINT account_tokens_purpose_check CHECK (purpose IN ('verify_email', 'reset_password', 'invitation')),
    CONSTRAINT account_tokens_organization_fkey FOREIGN KEY (organization_id)
        REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT account_tokens_user_fkey FOREIGN KEY (organization_id, user_id)
        REFERENCES users (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX account_tokens_user_idx ON account_tokens (organization_id, user_id);
CREATE INDEX account_tokens_expires_at_idx ON account_tokens (expires_at);
