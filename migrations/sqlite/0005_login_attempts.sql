-- Issue 5 (brute-force defence): failed-login counters per account and per
-- source address. `attempt_key` is `account:{email}` or `ip:{address}`.
-- Instants are stored as in the other tables (see 0001).

CREATE TABLE login_attempts (
    organization_id   BLOB    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    attempt_key       TEXT    NOT NULL CHECK (length(attempt_key) <= 300),
    failures          INTEGER NOT NULL CHECK (failures > 0),
    window_started_at INTEGER NOT NULL,
    last_failed_at    INTEGER NOT NULL,
    locked_until      INTEGER,
    PRIMARY KEY (organization_id, attempt_key)
) STRICT;
CREATE INDEX login_attempts_last_failed_at_idx ON login_attempts (last_failed_at);
