-- Data-subject rights and retention (issue 4).
--
-- Audit rows are hashed, so personal identifiers must never enter the hashed columns: audit_append
-- (redefined here) replaces an external subject's id (e.g. a caller's phone number) with a random
-- pseudonym before hashing, and keeps the pseudonym -> id link in subject_pseudonyms. Erasure deletes
-- the link: the audit chain still verifies and its rows stay, but nothing ties them to the person.
--
-- Retention prunes audit rows from the head of a tenant's chain; the last pruned row's seq and hash
-- are kept in audit_anchors, from which verification and the next append continue.

CREATE TABLE subject_pseudonyms (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  subject_ref text NOT NULL,
  pseudonym text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, subject_ref)
);
ALTER TABLE subject_pseudonyms ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON subject_pseudonyms USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

CREATE TABLE audit_anchors (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id),
  seq bigint NOT NULL,
  hash text NOT NULL,
  pruned_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE audit_anchors ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_anchors USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

-- The pseudonym of an external subject (created on first use). Definer: audit_append runs in any role.
CREATE FUNCTION subject_pseudonym(p_tenant uuid, p_ref text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
DECLARE v text;
BEGIN
  SELECT p.pseudonym INTO v FROM subject_pseudonyms p WHERE p.tenant_id = p_tenant AND p.subject_ref = p_ref;
  IF FOUND THEN RETURN v; END IF;
  INSERT INTO subject_pseudonyms (tenant_id, subject_ref, pseudonym)
  VALUES (p_tenant, p_ref, 'ps_' || replace(gen_random_uuid()::text, '-', ''))
  ON CONFLICT (tenant_id, subject_ref) DO NOTHING;
  SELECT p.pseudonym INTO v FROM subject_pseudonyms p WHERE p.tenant_id = p_tenant AND p.subject_ref = p_ref;
  RETURN v;
END $$;

-- Participant ids are user ids (UUIDs, already pseudonymous) or external ids (personal): the latter
-- are pseudonymised inside audit data under the keys that carry them.
CREATE FUNCTION audit_pseudonymise_data(p_tenant uuid, p_data jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  uuid_re constant text := '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
  v jsonb := p_data;
  arr jsonb;
  e text;
BEGIN
  IF jsonb_typeof(v) <> 'object' THEN RETURN v; END IF;
  IF jsonb_typeof(v -> 'participants') = 'array' THEN
    arr := '[]'::jsonb;
    FOR e IN SELECT jsonb_array_elements_text(v -> 'participants') LOOP
      arr := arr || to_jsonb(CASE WHEN e ~ uuid_re OR e LIKE 'ps\_%' THEN e ELSE subject_pseudonym(p_tenant, e) END);
    END LOOP;
    v := jsonb_set(v, '{participants}', arr);
  END IF;
  IF jsonb_typeof(v -> 'participant') = 'string' AND NOT ((v ->> 'participant') ~ uuid_re OR (v ->> 'participant') LIKE 'ps\_%') THEN
    v := jsonb_set(v, '{participant}', to_jsonb(subject_pseudonym(p_tenant, v ->> 'participant')));
  END IF;
  RETURN v;
END $$;

CREATE OR REPLACE FUNCTION audit_append(
  p_id uuid, p_tenant uuid, p_actor_type text, p_actor_id text, p_action text,
  p_target_type text, p_target_id text, p_request_id text, p_data jsonb
) RETURNS bigint LANGUAGE plpgsql
AS $$
DECLARE
  v_prev text;
  v_seq bigint;
  v_at timestamptz := date_trunc('milliseconds', clock_timestamp());
  v_target text := p_target_id;
  v_data jsonb := audit_pseudonymise_data(p_tenant, p_data);
BEGIN
  IF p_target_type = 'subject:external' AND v_target IS NOT NULL AND v_target NOT LIKE 'ps\_%' THEN
    v_target := subject_pseudonym(p_tenant, v_target);
  END IF;
  -- one writer per tenant chain at a time, held until commit
  PERFORM pg_advisory_xact_lock(hashtextextended('audit:' || p_tenant::text, 0));
  SELECT a.hash, a.seq INTO v_prev, v_seq FROM audit_log a WHERE a.tenant_id = p_tenant ORDER BY a.seq DESC LIMIT 1;
  IF NOT FOUND THEN
    SELECT an.hash, an.seq INTO v_prev, v_seq FROM audit_anchors an WHERE an.tenant_id = p_tenant;
    IF NOT FOUND THEN
      v_prev := repeat('0', 64);
      v_seq := 0;
    END IF;
  END IF;
  INSERT INTO audit_log (id, tenant_id, seq, created_at, actor_type, actor_id, action, target_type, target_id, request_id, data, prev_hash, hash)
  VALUES (p_id, p_tenant, v_seq + 1, v_at, p_actor_type, p_actor_id, p_action, p_target_type, v_target, p_request_id, v_data, v_prev,
          audit_content_hash(p_tenant, v_seq + 1, v_at, p_actor_type, p_actor_id, p_action, p_target_type, v_target, p_request_id, v_data, v_prev));
  RETURN v_seq + 1;
END $$;

-- As in 001, continuing from the tenant's anchor when the head of the chain was pruned.
CREATE OR REPLACE FUNCTION audit_first_broken(p_tenant uuid)
RETURNS TABLE (broken_seq bigint, broken_id uuid, reason text) LANGUAGE sql STABLE
AS $$
  WITH anchor AS (
    SELECT (SELECT an.seq FROM audit_anchors an WHERE an.tenant_id = p_tenant) AS seq,
           (SELECT an.hash FROM audit_anchors an WHERE an.tenant_id = p_tenant) AS hash
  ), r AS (
    SELECT a.seq, a.id, a.hash, a.prev_hash,
           lag(a.hash) OVER (ORDER BY a.seq) AS expected_prev,
           lag(a.seq) OVER (ORDER BY a.seq) AS prev_seq,
           audit_content_hash(a.tenant_id, a.seq, a.created_at, a.actor_type, a.actor_id, a.action, a.target_type,
                              a.target_id, a.request_id, a.data, a.prev_hash) AS recomputed
    FROM audit_log a WHERE a.tenant_id = p_tenant
  ), bad AS (
    SELECT r.seq, r.id, CASE
      WHEN r.seq <> coalesce(r.prev_seq, anchor.seq, 0) + 1 THEN 'seq_gap'
      WHEN r.recomputed <> r.hash THEN 'hash_mismatch'
      WHEN r.prev_hash <> coalesce(r.expected_prev, anchor.hash, repeat('0', 64)) THEN 'chain_broken'
    END AS reason
    FROM r, anchor
  )
  SELECT seq, id, reason FROM bad WHERE reason IS NOT NULL ORDER BY seq LIMIT 1
$$;

-- Still append-only for everyone, except the retention prune below (head of the chain only).
CREATE OR REPLACE FUNCTION audit_log_immutable() RETURNS trigger LANGUAGE plpgsql
AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('app.audit_prune', true) = 'on' THEN RETURN OLD; END IF;
  RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;

-- Retention: drop every tenant's audit rows created before p_before, anchoring each chain.
CREATE FUNCTION audit_prune(p_before timestamptz) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
DECLARE
  t record;
  n bigint := 0;
  c bigint;
BEGIN
  -- callable by the app role: a floor keeps a compromised app from wiping recent history
  IF p_before > now() - interval '30 days' THEN RAISE EXCEPTION 'audit rows younger than 30 days are never pruned'; END IF;
  PERFORM set_config('app.audit_prune', 'on', true);
  FOR t IN
    SELECT DISTINCT ON (a.tenant_id) a.tenant_id, a.seq, a.hash FROM audit_log a
    WHERE a.created_at < p_before ORDER BY a.tenant_id, a.seq DESC
  LOOP
    PERFORM pg_advisory_xact_lock(hashtextextended('audit:' || t.tenant_id::text, 0));
    INSERT INTO audit_anchors (tenant_id, seq, hash) VALUES (t.tenant_id, t.seq, t.hash)
    ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, pruned_at = now();
    DELETE FROM audit_log a WHERE a.tenant_id = t.tenant_id AND a.seq <= t.seq;
    GET DIAGNOSTICS c = ROW_COUNT;
    n := n + c;
  END LOOP;
  PERFORM set_config('app.audit_prune', 'off', true);
  RETURN n;
END $$;

-- Retention: session content of sessions that ended (or, never started, were created) before p_before.
CREATE FUNCTION retention_expired_recordings(p_before timestamptz)
RETURNS TABLE (rec_id uuid, rec_storage_key text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT r.id, r.storage_key FROM recordings r JOIN sessions s ON s.id = r.session_id
      WHERE coalesce(s.ended_at, s.created_at) < p_before $$;

CREATE FUNCTION retention_purge_content(p_before timestamptz)
RETURNS TABLE (transcripts bigint, recordings bigint, postcall bigint, features bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
BEGIN
  IF p_before > now() - interval '1 day' THEN RAISE EXCEPTION 'content younger than a day is never purged by retention'; END IF;
  CREATE TEMP TABLE IF NOT EXISTS _expired (id uuid PRIMARY KEY) ON COMMIT DROP;
  INSERT INTO _expired SELECT s.id FROM sessions s WHERE coalesce(s.ended_at, s.created_at) < p_before ON CONFLICT DO NOTHING;
  DELETE FROM transcript_segments x USING _expired e WHERE x.session_id = e.id;
  GET DIAGNOSTICS transcripts = ROW_COUNT;
  DELETE FROM recordings x USING _expired e WHERE x.session_id = e.id;
  GET DIAGNOSTICS recordings = ROW_COUNT;
  DELETE FROM session_postcall x USING _expired e WHERE x.session_id = e.id;
  GET DIAGNOSTICS postcall = ROW_COUNT;
  DELETE FROM session_features x USING _expired e WHERE x.session_id = e.id;
  GET DIAGNOSTICS features = ROW_COUNT;
  DROP TABLE _expired;
  RETURN NEXT;
END $$;

-- Erasure: consent history is append-only for the app; the subject's rows keep their facts under the pseudonym.
CREATE FUNCTION consent_records_pseudonymise(p_tenant uuid, p_kind text, p_ref text, p_pseudonym text) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
DECLARE n bigint;
BEGIN
  IF p_tenant IS DISTINCT FROM app_tenant_id() THEN RAISE EXCEPTION 'tenant mismatch' USING ERRCODE = 'insufficient_privilege'; END IF;
  UPDATE consent_records SET subject_ref = p_pseudonym, request_id = NULL
  WHERE tenant_id = p_tenant AND subject_kind = p_kind AND subject_ref = p_ref;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;

GRANT SELECT, INSERT, DELETE ON subject_pseudonyms TO switchboard_app;
GRANT SELECT ON audit_anchors TO switchboard_app;
GRANT EXECUTE ON FUNCTION subject_pseudonym(uuid, text), audit_prune(timestamptz), retention_expired_recordings(timestamptz),
  retention_purge_content(timestamptz), consent_records_pseudonymise(uuid, text, text, text) TO switchboard_app;
