-- Issue 6 (federation, second increment): plain OAuth 2.0 upstreams (kind
-- 'oauth2' with configured endpoints and the claims naming the user), an
-- optional icon for the login button, and whether the upstream's `amr` may
-- satisfy the organization's second factor. The defaults keep every existing
-- provider an OpenID Connect one, as before. (SQLite cannot add a CHECK
-- constraint to an existing table; the domain validates kind and endpoints.)

ALTER TABLE identity_providers ADD COLUMN kind TEXT NOT NULL DEFAULT 'oidc';
ALTER TABLE identity_providers ADD COLUMN authorization_endpoint TEXT;
ALTER TABLE identity_providers ADD COLUMN token_endpoint TEXT;
ALTER TABLE identity_providers ADD COLUMN userinfo_endpoint TEXT;
ALTER TABLE identity_providers ADD COLUMN subject_claim TEXT NOT NULL DEFAULT 'sub';
ALTER TABLE identity_providers ADD COLUMN email_claim TEXT NOT NULL DEFAULT 'email';
ALTER TABLE identity_providers ADD COLUMN icon_url TEXT;
ALTER TABLE identity_providers ADD COLUMN trust_upstream_amr INTEGER NOT NULL DEFAULT 0;
