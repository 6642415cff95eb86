-- Issue 6 (federation, second increment): plain OAuth 2.0 upstreams (kind
-- 'oauth2' with configured endpoints and the claims naming the user), an
-- optional icon for the login button, and whether the upstream's `amr` may
-- satisfy the organization's second factor. The defaults keep every existing
-- provider an OpenID Connect one, as before.

ALTER TABLE identity_providers
    ADD COLUMN kind                   text    NOT NULL DEFAULT 'oidc',
    ADD COLUMN authorization_endpoint text,
    ADD COLUMN token_endpoint         text,
    ADD COLUMN userinfo_endpoint      text,
    ADD COLUMN subject_claim          text    NOT NULL DEFAULT 'sub',
    ADD COLUMN email_claim            text    NOT NULL DEFAULT 'email',
    ADD COLUMN icon_url               text,
    ADD COLUMN trust_upstream_amr     boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT identity_providers_kind_check CHECK (kind IN ('oidc', 'oauth2')),
    ADD CONSTRAINT identity_providers_oauth2_endpoints_check CHECK (
        kind <> 'oauth2'
        OR (authorization_endpoint IS NOT NULL AND token_endpoint IS NOT NULL AND userinfo_endpoint IS NOT NULL)
    );
