-- Issue 3 (finishing the OpenID Provider):
-- * sessions.last_seen_at: the last recorded use of a session; the idle
--   timeout (organization setting session_idle_lifetime_seconds) counts from
--   it. Existing sessions start from their creation. Instants are stored as
--   in the other tables (see 0001).
-- * authorization_codes.access_token_*: the jti of the access token minted
--   from the code and its expiry, so a replayed code revokes it (RFC 6749
--   §4.1.2). Kept only as long as the code row itself.

ALTER TABLE sessions ADD COLUMN last_seen_at INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET last_seen_at = created_at;

ALTER TABLE authorization_codes
    ADD COLUMN access_token_jti TEXT CHECK (length(access_token_jti) BETWEEN 1 AND 256);
ALTER TABLE authorization_codes ADD COLUMN access_token_expires_at INTEGER;
