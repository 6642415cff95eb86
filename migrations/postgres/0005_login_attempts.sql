-- Issue 5 (brute-force defence): failed-login counters per account and per
-- source address, shared by every instance. `attempt_key` is
-- `account:{email}` or `ip:{address}`.

CREATE TABLE login_attempts (
    organization_id   uuid        NOT NULL,
    attempt_key       text        NOT NULL,
    failures          integer     NOT NULL,
    window_started_at timestamptz NOT NULL,
    last_failed_at    timestamptz NOT NULL,
    locked_until      timestamptz,
    CONSTRAINT login_attempts_pkey PRIMARY KEY (organization_id, attempt_key),
    CONSTRAINT login_attempts_organization_fkey FOREIGN KEY (organization_id)
        REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT login_attempts_key_length CHECK (length(attempt_key) <= 300),
    CONSTRAINT login_attempts_failures_positive CHECK (failures > 0)
);
CREATE INDEX login_attempts_last_failed_at_idx ON login_attempts (last_failed_at);
