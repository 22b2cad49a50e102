-- Webhook signing secrets are sealed under the tenant's data key (envelope encryption, as tool
-- secrets are): a copy of the database alone no longer lets anyone forge a tenant's webhooks.
-- Endpoints created before this keep their plaintext `secret` and are still delivered; new ones
-- store only the sealed form.
ALTER TABLE webhook_endpoints
  ALTER COLUMN secret DROP NOT NULL,
  ADD COLUMN secret_key_id uuid REFERENCES tenant_data_keys (id),
  ADD COLUMN secret_nonce bytea,
  ADD COLUMN secret_ciphertext bytea,
  ADD CONSTRAINT webhook_endpoints_secret_present CHECK (
    secret IS NOT NULL OR (secret_key_id IS NOT NULL AND secret_nonce IS NOT NULL AND secret_ciphertext IS NOT NULL)
  );
