-- Key rotation publishes a new signing key before it signs: a key may now be
-- 'pending' (in JWKS, not yet signing) besides 'active' and 'retired'.
ALTER TABLE signing_keys DROP CONSTRAINT signing_keys_state_check;
ALTER TABLE signing_keys
    ADD CONSTRAINT signing_keys_state_check CHECK (state IN ('pending', 'active', 'retired'));
