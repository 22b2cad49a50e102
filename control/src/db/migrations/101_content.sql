-- Session content at rest (issue 4): per-tenant data keys wrapped by a master key (envelope
-- encryption), encrypted transcript segments, recordings metadata, the gateway's features summary and
-- provider post-call data.

CREATE TABLE tenant_data_keys (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  version integer NOT NULL,
  -- which master key wraps it (first 16 hex of sha256(master key)); rotation re-wraps, never re-encrypts
  master_key_id text NOT NULL,
  -- AES-256-GCM(master, data key): iv (12) | tag (16) | ciphertext (32)
  wrapped bytea NOT NULL,
  active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  rewrapped_at timestamptz,
  UNIQUE (tenant_id, version)
);
CREATE UNIQUE INDEX tenant_data_keys_active_idx ON tenant_data_keys (tenant_id) WHERE active;

CREATE TABLE transcript_segments (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  session_id uuid NOT NULL REFERENCES sessions (id),
  event_id text,
  role text NOT NULL CHECK (role IN ('user', 'agent')),
  start_ms integer NOT NULL,
  end_ms integer NOT NULL,
  key_id uuid NOT NULL REFERENCES tenant_data_keys (id),
  nonce bytea NOT NULL,
  -- AES-256-GCM ciphertext | tag of {"text","participant"}; AAD = tenant|session|segment id
  ciphertext bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, event_id)
);
CREATE INDEX transcript_segments_session_idx ON transcript_segments (tenant_id, session_id, start_ms, id);

CREATE TABLE recordings (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  session_id uuid NOT NULL REFERENCES sessions (id),
  storage_key text NOT NULL,
  content_type text NOT NULL,
  bytes bigint NOT NULL,
  sha256 text NOT NULL,
  key_id uuid NOT NULL REFERENCES tenant_data_keys (id),
  nonce bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX recordings_session_idx ON recordings (tenant_id, session_id);

CREATE TABLE session_features (
  session_id uuid PRIMARY KEY REFERENCES sessions (id),
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  summary jsonb NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE session_postcall (
  session_id uuid PRIMARY KEY REFERENCES sessions (id),
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  provider text NOT NULL,
  conversation_id text,
  key_id uuid NOT NULL REFERENCES tenant_data_keys (id),
  nonce bytea NOT NULL,
  ciphertext bytea NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now()
);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['tenant_data_keys', 'transcript_segments', 'recordings', 'session_features', 'session_postcall'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id())', t);
  END LOOP;
END $$;

-- Master-key rotation walks every tenant's keys: wrapped keys only (useless without the master key).
CREATE FUNCTION data_keys_wrapped_by_other(p_master_key_id text)
RETURNS TABLE (key_id uuid, key_tenant_id uuid, key_version integer, key_master_key_id text, key_wrapped bytea)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT k.id, k.tenant_id, k.version, k.master_key_id, k.wrapped FROM tenant_data_keys k WHERE k.master_key_id <> p_master_key_id ORDER BY k.id $$;

CREATE FUNCTION data_key_rewrap(p_key uuid, p_old_master_key_id text, p_master_key_id text, p_wrapped bytea) RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ UPDATE tenant_data_keys SET master_key_id = p_master_key_id, wrapped = p_wrapped, rewrapped_at = now()
      WHERE id = p_key AND master_key_id = p_old_master_key_id RETURNING true $$;

GRANT SELECT, INSERT, UPDATE ON tenant_data_keys TO switchboard_app;
GRANT SELECT, INSERT, DELETE ON transcript_segments, recordings TO switchboard_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON session_features, session_postcall TO switchboard_app;
GRANT EXECUTE ON FUNCTION data_keys_wrapped_by_other(text), data_key_rewrap(uuid, text, text, bytea) TO switchboard_app;

-- Post-call webhooks name the provider's conversation id; the gateway stores it in session metadata.
CREATE FUNCTION elevenlabs_session_by_conversation(p_conversation_id text) RETURNS TABLE (id uuid, tenant_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT s.id, s.tenant_id FROM sessions s WHERE s.metadata ->> 'elevenlabs_conversation_id' = p_conversation_id ORDER BY s.id DESC LIMIT 1 $$;
GRANT EXECUTE ON FUNCTION elevenlabs_session_by_conversation(text) TO switchboard_app;
