-- Bus wiring (issue 8): which gateway pod holds a session (set by session.started), so the control
-- plane can fail a dead pod's sessions with `gateway_lost` once its heartbeat expires.
ALTER TABLE sessions ADD COLUMN gateway_pod text;
CREATE INDEX sessions_live_pod_idx ON sessions (gateway_pod) WHERE status IN ('created', 'active');

-- The watcher runs outside any tenant (it learns of a dead pod, not of a tenant): this returns the live
-- sessions on a pod across tenants; each is then ended inside its own tenant transaction.
CREATE FUNCTION live_sessions_on_pod(p_pod text) RETURNS TABLE (id uuid, tenant_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT s.id, s.tenant_id FROM sessions s WHERE s.gateway_pod = p_pod AND s.status IN ('created', 'active') ORDER BY s.id $$;
GRANT EXECUTE ON FUNCTION live_sessions_on_pod(text) TO switchboard_app;
