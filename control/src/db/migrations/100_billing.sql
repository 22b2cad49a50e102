-- Billing (issue 4): an append-only credit ledger in integer micro-credits (1 credit = 1,000,000),
-- a per-tenant balance row kept in step with it inside the same transaction, and per-second prices.

CREATE TABLE credit_ledger (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  kind text NOT NULL CHECK (kind IN ('grant', 'purchase', 'usage', 'refund', 'adjustment')),
  -- signed: credits are positive, usage debits zero or negative
  amount_micro bigint NOT NULL,
  balance_after_micro bigint NOT NULL,
  session_id uuid REFERENCES sessions (id),
  -- the idempotency key of a usage debit (the gateway's usage.tick event id)
  event_id text,
  provider text,
  billed_ms bigint,
  price_micro_per_s bigint,
  actor_type text NOT NULL,
  actor_id text,
  note text,
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK (kind NOT IN ('grant', 'purchase', 'refund') OR amount_micro > 0),
  CHECK (kind <> 'usage' OR (amount_micro <= 0 AND session_id IS NOT NULL AND event_id IS NOT NULL)),
  UNIQUE (tenant_id, event_id)
);
CREATE INDEX credit_ledger_tenant_idx ON credit_ledger (tenant_id, id DESC);
CREATE INDEX credit_ledger_session_idx ON credit_ledger (tenant_id, session_id);

CREATE FUNCTION credit_ledger_immutable() RETURNS trigger LANGUAGE plpgsql
AS $$ BEGIN RAISE EXCEPTION 'credit_ledger is append-only' USING ERRCODE = 'insufficient_privilege'; END $$;
CREATE TRIGGER credit_ledger_no_change BEFORE UPDATE OR DELETE ON credit_ledger FOR EACH ROW EXECUTE FUNCTION credit_ledger_immutable();
CREATE TRIGGER credit_ledger_no_truncate BEFORE TRUNCATE ON credit_ledger FOR EACH STATEMENT EXECUTE FUNCTION credit_ledger_immutable();

-- The balance cache: updated with each ledger insert in the same transaction (the row lock
-- serialises a tenant's writers), so it always equals SUM(amount_micro) over the ledger.
CREATE TABLE credit_balances (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id),
  balance_micro bigint NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Default price per provider second for every tenant; a tenant's admins override in billing_prices.
CREATE TABLE billing_default_prices (
  provider text PRIMARY KEY,
  micro_per_second bigint NOT NULL CHECK (micro_per_second >= 0)
);
INSERT INTO billing_default_prices (provider, micro_per_second) VALUES
  ('echo', 100), ('openai', 2000), ('elevenlabs', 1500), ('ultravox', 1000);

CREATE TABLE billing_prices (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  provider text NOT NULL,
  micro_per_second bigint NOT NULL CHECK (micro_per_second >= 0),
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by text,
  PRIMARY KEY (tenant_id, provider)
);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['credit_ledger', 'credit_balances', 'billing_prices'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id())', t);
  END LOOP;
END $$;

-- Bus events name a session, not a tenant context: find the tenant (and nothing else) before RLS applies.
CREATE FUNCTION session_tenant(p_session uuid) RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT s.tenant_id FROM sessions s WHERE s.id = p_session $$;

GRANT SELECT, INSERT ON credit_ledger TO switchboard_app;
GRANT SELECT, INSERT, UPDATE ON credit_balances TO switchboard_app;
GRANT SELECT ON billing_default_prices TO switchboard_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON billing_prices TO switchboard_app;
GRANT EXECUTE ON FUNCTION session_tenant(uuid) TO switchboard_app;
