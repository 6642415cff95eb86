-- Issue 3 (finishing the OpenID Provider):
-- * sessions.last_seen_at: the last recorded use of a session; the idle
--   timeout (organization setting session_idle_lifetime_seconds) counts from
--   it. Existing sessions start from their creation.
-- * authorization_codes.access_token_*: the jti of the access token minted
--   from the code and its expiry, so a replayed code revokes it (RFC 6749
--   §4.1.2). Kept only as long as the code row itself.

ALTER TABLE sessions ADD COLUMN last_seen_at timestamptz;
UPDATE sessions SET last_seen_at = created_at;
ALTER TABLE sessions ALTER COLUMN last_seen_at SET NOT NULL;

ALTER TABLE authorization_codes
    ADD COLUMN access_token_jti text CHECK (char_length(access_token_jti) BETWEEN 1 AND 256),
    ADD COLUMN access_token_expires_at timestamptz,
    ADD CONSTRAINT authorization_codes_access_token_pair
        CHECK ((access_token_jti IS NULL) = (access_token_expires_at IS NULL));
