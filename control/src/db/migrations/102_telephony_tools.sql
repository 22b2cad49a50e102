-- Telephony and agent tools (issue 4): tenant phone numbers (the inbound webhook finds the tenant by
-- the called number), Twilio call legs, and tenant-defined HTTP tools.

CREATE TABLE phone_numbers (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  number text NOT NULL UNIQUE CHECK (number ~ '^\+[1-9][0-9]{6,14}$'),
  provider text NOT NULL,
  agent jsonb NOT NULL DEFAULT '{}',
  -- a caller without prior consent: hear a notice and continue (consents recorded as notice-based), or be rejected
  consent_policy text NOT NULL CHECK (consent_policy IN ('notice_and_allow', 'reject')),
  notice_text text NOT NULL,
  reject_text text NOT NULL,
  notice_version text NOT NULL DEFAULT 'v1',
  max_duration_s integer,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX phone_numbers_tenant_idx ON phone_numbers (tenant_id, id DESC);

CREATE TABLE twilio_calls (
  call_sid text PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  session_id uuid REFERENCES sessions (id),
  direction text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
  from_number text,
  to_number text,
  status text NOT NULL,
  stream_status text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX twilio_calls_session_idx ON twilio_calls (tenant_id, session_id);

CREATE TABLE tools (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  name text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_.-]{0,63}$'),
  description text NOT NULL DEFAULT '',
  url text NOT NULL,
  args_schema jsonb NOT NULL,
  timeout_ms integer NOT NULL,
  -- the HMAC secret, encrypted under the tenant data key
  secret_key_id uuid NOT NULL REFERENCES tenant_data_keys (id),
  secret_nonce bytea NOT NULL,
  secret_ciphertext bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name)
);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['phone_numbers', 'twilio_calls', 'tools'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id())', t);
  END LOOP;
END $$;

-- Webhooks arrive before the tenant is known: the called number / call sid names it.
CREATE FUNCTION phone_number_tenant(p_number text) RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT p.tenant_id FROM phone_numbers p WHERE p.number = p_number $$;

CREATE FUNCTION twilio_call_tenant(p_call_sid text) RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT c.tenant_id FROM twilio_calls c WHERE c.call_sid = p_call_sid $$;

GRANT SELECT, INSERT, UPDATE, DELETE ON phone_numbers, tools TO switchboard_app;
GRANT SELECT, INSERT, UPDATE ON twilio_calls TO switchboard_app;
GRANT EXECUTE ON FUNCTION phone_number_tenant(text), twilio_call_tenant(text) TO switchboard_app;
