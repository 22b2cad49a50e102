-- Core control-plane schema: tenants, users, refresh tokens, API keys, consents, sessions, audit log,
-- idempotency keys. Every tenant-owned table is guarded by row-level security on the per-transaction
-- setting app.tenant_id (set with set_config(..., true), i.e. SET LOCAL). The app connects as
-- switchboard_app, which owns nothing and is no superuser, so RLS applies to every query it runs.

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'switchboard_app') THEN
    CREATE ROLE switchboard_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
  END IF;
EXCEPTION
  -- roles are cluster-wide: parallel migrations of sibling databases may race to create it
  WHEN duplicate_object OR unique_violation THEN NULL;
END $$;

CREATE FUNCTION app_tenant_id() RETURNS uuid LANGUAGE sql STABLE
AS $$ SELECT nullif(current_setting('app.tenant_id', true), '')::uuid $$;

CREATE TABLE tenants (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  email text NOT NULL,
  password_hash text NOT NULL,
  role text NOT NULL CHECK (role IN ('owner', 'admin', 'agent', 'monitor', 'member')),
  created_at timestamptz NOT NULL DEFAULT now(),
  disabled_at timestamptz
);
-- one identity per email across tenants: login needs no tenant hint
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_tenant_idx ON users (tenant_id, id);

CREATE TABLE refresh_tokens (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  user_id uuid NOT NULL REFERENCES users (id),
  family_id uuid NOT NULL,
  token_hash text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  revoked_at timestamptz
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);

CREATE TABLE api_keys (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  name text NOT NULL,
  prefix text NOT NULL,
  key_hash text NOT NULL UNIQUE,
  scopes text[] NOT NULL,
  created_by uuid REFERENCES users (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at timestamptz
);
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id, id);

-- Consent history: one row per grant or withdrawal, never updated; the current state is the latest
-- row per (subject, purpose).
CREATE TABLE consent_records (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  subject_kind text NOT NULL CHECK (subject_kind IN ('user', 'external')),
  subject_ref text NOT NULL,
  purpose text NOT NULL,
  granted boolean NOT NULL,
  version text,
  text_sha256 text,
  actor_type text NOT NULL,
  actor_id text,
  request_id text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX consent_records_subject_idx ON consent_records (tenant_id, subject_kind, subject_ref, purpose, id DESC);

CREATE TABLE sessions (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  status text NOT NULL DEFAULT 'created' CHECK (status IN ('created', 'active', 'ended', 'failed', 'terminated')),
  provider text NOT NULL,
  transport text NOT NULL,
  -- participant ids as they appear in tokens, and the data subjects they stand for ([{kind, ref}])
  participants text[] NOT NULL,
  subjects jsonb NOT NULL,
  agent jsonb NOT NULL,
  purposes text[] NOT NULL,
  metadata jsonb NOT NULL DEFAULT '{}',
  max_duration_s integer NOT NULL,
  created_by_type text NOT NULL,
  created_by text,
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  ended_at timestamptz,
  end_reason text
);
CREATE INDEX sessions_tenant_idx ON sessions (tenant_id, id DESC);
CREATE INDEX sessions_tenant_status_idx ON sessions (tenant_id, status, id DESC);

-- Tamper-evident audit log: each row hashes its content and the previous row's hash (per tenant).
CREATE TABLE audit_log (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  seq bigint NOT NULL,
  created_at timestamptz NOT NULL,
  actor_type text NOT NULL CHECK (actor_type IN ('user', 'api_key', 'system')),
  actor_id text,
  action text NOT NULL,
  target_type text,
  target_id text,
  request_id text,
  data jsonb NOT NULL DEFAULT '{}',
  prev_hash text NOT NULL,
  hash text NOT NULL,
  UNIQUE (tenant_id, seq)
);

-- The hashed content: unit-separated fields; jsonb's text form is canonical (sorted keys), and the
-- timestamp is hashed as epoch microseconds so the session TimeZone cannot change it.
CREATE FUNCTION audit_content_hash(
  p_tenant uuid, p_seq bigint, p_at timestamptz, p_actor_type text, p_actor_id text, p_action text,
  p_target_type text, p_target_id text, p_request_id text, p_data jsonb, p_prev text
) RETURNS text LANGUAGE sql STABLE
AS $$
  SELECT encode(sha256(convert_to(concat_ws(chr(31),
    p_tenant::text, p_seq::text, (extract(epoch FROM p_at) * 1000000)::bigint::text, p_actor_type,
    coalesce(p_actor_id, ''), p_action, coalesce(p_target_type, ''), coalesce(p_target_id, ''),
    coalesce(p_request_id, ''), p_data::text, p_prev), 'UTF8')), 'hex')
$$;

CREATE FUNCTION audit_append(
  p_id uuid, p_tenant uuid, p_actor_type text, p_actor_id text, p_action text,
  p_target_type text, p_target_id text, p_request_id text, p_data jsonb
) RETURNS bigint LANGUAGE plpgsql
AS $$
DECLARE
  v_prev text;
  v_seq bigint;
  v_at timestamptz := date_trunc('milliseconds', clock_timestamp());
BEGIN
  -- one writer per tenant chain at a time, held until commit
  PERFORM pg_advisory_xact_lock(hashtextextended('audit:' || p_tenant::text, 0));
  SELECT a.hash, a.seq INTO v_prev, v_seq FROM audit_log a WHERE a.tenant_id = p_tenant ORDER BY a.seq DESC LIMIT 1;
  IF NOT FOUND THEN
    v_prev := repeat('0', 64);
    v_seq := 0;
  END IF;
  INSERT INTO audit_log (id, tenant_id, seq, created_at, actor_type, actor_id, action, target_type, target_id, request_id, data, prev_hash, hash)
  VALUES (p_id, p_tenant, v_seq + 1, v_at, p_actor_type, p_actor_id, p_action, p_target_type, p_target_id, p_request_id, p_data, v_prev,
          audit_content_hash(p_tenant, v_seq + 1, v_at, p_actor_type, p_actor_id, p_action, p_target_type, p_target_id, p_request_id, p_data, v_prev));
  RETURN v_seq + 1;
END $$;

-- First broken link of a tenant's chain (no row when intact).
CREATE FUNCTION audit_first_broken(p_tenant uuid)
RETURNS TABLE (broken_seq bigint, broken_id uuid, reason text) LANGUAGE sql STABLE
AS $$
  WITH r AS (
    SELECT a.seq, a.id, a.hash, a.prev_hash,
           lag(a.hash) OVER (ORDER BY a.seq) AS expected_prev,
           lag(a.seq) OVER (ORDER BY a.seq) AS prev_seq,
           audit_content_hash(a.tenant_id, a.seq, a.created_at, a.actor_type, a.actor_id, a.action, a.target_type,
                              a.target_id, a.request_id, a.data, a.prev_hash) AS recomputed
    FROM audit_log a WHERE a.tenant_id = p_tenant
  ), bad AS (
    SELECT seq, id, CASE
      WHEN seq <> coalesce(prev_seq, 0) + 1 THEN 'seq_gap'
      WHEN recomputed <> hash THEN 'hash_mismatch'
      WHEN prev_hash <> coalesce(expected_prev, repeat('0', 64)) THEN 'chain_broken'
    END AS reason
    FROM r
  )
  SELECT seq, id, reason FROM bad WHERE reason IS NOT NULL ORDER BY seq LIMIT 1
$$;

-- Enforced in the database, for every role: the app never updates or deletes audit rows.
CREATE FUNCTION audit_log_immutable() RETURNS trigger LANGUAGE plpgsql
AS $$ BEGIN RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege'; END $$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_immutable();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_immutable();

CREATE TABLE idempotency_keys (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  principal text NOT NULL,
  key text NOT NULL,
  method text NOT NULL,
  path text NOT NULL,
  request_hash text NOT NULL,
  status integer,
  response jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, principal, key)
);

-- Row-level security on every tenant-owned table.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants USING (id = app_tenant_id()) WITH CHECK (id = app_tenant_id());
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['users', 'refresh_tokens', 'api_keys', 'consent_records', 'sessions', 'audit_log', 'idempotency_keys'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id())', t);
  END LOOP;
END $$;

-- Lookups that must cross tenants before the tenant is known (login, refresh, API key). They run as
-- the table owner (SECURITY DEFINER) and return only what authentication needs.
CREATE FUNCTION auth_find_user(p_email text)
RETURNS TABLE (user_id uuid, user_tenant_id uuid, user_password_hash text, user_role text, user_disabled boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT u.id, u.tenant_id, u.password_hash, u.role, u.disabled_at IS NOT NULL FROM users u WHERE lower(u.email) = lower(p_email) $$;

CREATE FUNCTION auth_find_refresh_token(p_hash text)
RETURNS TABLE (rt_id uuid, rt_tenant_id uuid, rt_user_id uuid, rt_family_id uuid, rt_expires_at timestamptz, rt_used_at timestamptz, rt_revoked_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT r.id, r.tenant_id, r.user_id, r.family_id, r.expires_at, r.used_at, r.revoked_at FROM refresh_tokens r WHERE r.token_hash = p_hash $$;

-- Also stamps last_used_at, at most every 30 s per key so a busy key does not write on every request.
CREATE FUNCTION auth_use_api_key(p_hash text)
RETURNS TABLE (key_id uuid, key_tenant_id uuid, key_name text, key_scopes text[])
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
DECLARE r record;
BEGIN
  SELECT k.id, k.tenant_id, k.name, k.scopes, k.last_used_at INTO r FROM api_keys k WHERE k.key_hash = p_hash AND k.revoked_at IS NULL;
  IF NOT FOUND THEN RETURN; END IF;
  IF r.last_used_at IS NULL OR r.last_used_at < now() - interval '30 seconds' THEN
    UPDATE api_keys SET last_used_at = now() WHERE id = r.id;
  END IF;
  key_id := r.id; key_tenant_id := r.tenant_id; key_name := r.name; key_scopes := r.scopes;
  RETURN NEXT;
END $$;

GRANT USAGE ON SCHEMA public TO switchboard_app;
GRANT SELECT, INSERT, UPDATE ON tenants, users, refresh_tokens, api_keys, sessions TO switchboard_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys TO switchboard_app;
-- history tables: append-only for the app
GRANT SELECT, INSERT ON consent_records, audit_log TO switchboard_app;
