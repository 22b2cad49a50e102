/**
 * Apply one gateway event (bus, at-least-once delivery) to the database, exactly once in effect:
 * every branch is idempotent by the event id or by the state it moves from, so a redelivered event
 * (consumer crash before XACK, reclaimed pending entry) changes nothing the second time.
 *
 *   session.started   -> created -> active, records the gateway pod holding the session
 *   usage.tick        -> recordUsage(event id): one ledger debit per tick id (credit cut-off included)
 *   transcript.final  -> encrypted transcript store, only with `transcript_storage` consent (by event id)
 *   features.summary  -> the session report (upsert)
 *   session.ended     -> ended | failed | terminated by reason (a terminal session keeps its state)
 *   tool.call         -> nothing here (the gateway's tool dispatcher already audited the call)
 *
 * Events of an unknown session (deleted, or another deployment's) are acknowledged and logged, never
 * retried forever; any other error rejects so the event stays pending and is redelivered.
 */
import type { Logger } from '../../../shared/src/logger.ts';
import type { CommandBus, GatewayEvent } from '../../../shared/src/bus/index.ts';
import { AppError } from '../../../shared/src/errors.ts';
import { withTenant, type Db } from '../db/client.ts';
import type { ControlConfig } from '../config.ts';
import { recordUsage, sessionTenant } from './billing.ts';
import { markSessionEnded } from './sessions.ts';
import { appendTranscript } from './transcripts.ts';
import { storeFeaturesSummary } from './reports.ts';
import { enqueueWebhook, type WebhookConfig } from './webhooks-out.ts';

export interface GatewayEventDeps {
  db: Db;
  /** commands out (credit exhaustion publishes terminate) */
  bus: CommandBus;
  config: Readonly<ControlConfig>;
  log: Logger;
  /** queue `session.ended` / `report.ready` webhooks (outbox; once per session) */
  webhooks?: WebhookConfig;
}

export type ApplyOutcome = 'applied' | 'duplicate' | 'skipped' | 'unknown_session';

export async function applyGatewayEvent(deps: GatewayEventDeps, ev: GatewayEvent): Promise<ApplyOutcome> {
  try {
    return await applyOne(deps, ev);
  } catch (e) {
    if (e instanceof AppError && e.code === 'NOT_FOUND') {
      deps.log.warn({ event_id: ev.id, type: ev.type, session_id: ev.session_id }, 'gateway event for an unknown session dropped');
      return 'unknown_session';
    }
    throw e;
  }
}

async function applyOne(deps: GatewayEventDeps, ev: GatewayEvent): Promise<ApplyOutcome> {
  switch (ev.type) {
    case 'session.started': {
      const tenantId = await tenantOf(deps.db, ev.session_id);
      const at = new Date(ev.ts);
      const changed = await withTenant(deps.db, tenantId, (tx) => tx`update sessions
          set status = 'active', started_at = coalesce(started_at, ${at}), gateway_pod = ${ev.pod_id}
        where tenant_id = ${tenantId} and id = ${ev.session_id} and status in ('created', 'active')
          and (status = 'created' or gateway_pod is distinct from ${ev.pod_id})
        returning id`);
      return changed.length ? 'applied' : 'duplicate';
    }
    case 'usage.tick': {
      const r = await recordUsage({ db: deps.db, bus: deps.bus, config: deps.config }, ev.session_id, ev.delta, ev.id);
      return r.applied ? 'applied' : 'duplicate';
    }
    case 'transcript.final': {
      const r = await appendTranscript({ db: deps.db, config: deps.config }, ev.session_id,
        { role: ev.role, text: ev.text, participant: ev.participant, start_ms: ev.start_ms, end_ms: ev.end_ms }, ev.id);
      return r.stored ? 'applied' : r.reason === 'duplicate' ? 'duplicate' : 'skipped';
    }
    case 'features.summary': {
      const r = await storeFeaturesSummary(deps.db, ev.session_id, ev.summary);
      if (!r.stored) deps.log.warn({ event_id: ev.id, issues: r.issues }, 'features summary does not match the schema; not stored');
      if (r.stored && deps.webhooks) {
        const tenantId = await tenantOf(deps.db, ev.session_id);
        await enqueueWebhook(deps.db, deps.webhooks, tenantId, 'report.ready', `report.ready:${ev.session_id}`, { session_id: ev.session_id });
      }
      return r.stored ? 'applied' : 'skipped';
    }
    case 'session.ended': {
      const tenantId = await tenantOf(deps.db, ev.session_id);
      const changed = await markSessionEnded(deps.db, { tenantId, sessionId: ev.session_id, reason: ev.reason, at: new Date(ev.ts) });
      if (deps.webhooks) await announceEnded(deps.db, deps.webhooks, tenantId, ev.session_id);
      return changed ? 'applied' : 'duplicate';
    }
    case 'tool.call':
      return 'skipped';
  }
}

async function tenantOf(db: Db, sessionId: string): Promise<string> {
  const t = await sessionTenant(db, sessionId);
  if (!t) throw new AppError('NOT_FOUND', 'no such session');
  return t;
}

/** the `session.ended` webhook, once per session whoever ended it (gateway, watch, operator), with its final state */
export async function announceEnded(db: Db, webhooks: WebhookConfig, tenantId: string, sessionId: string): Promise<void> {
  const [s] = await withTenant(db, tenantId, (tx) => tx<{ status: string; end_reason: string | null; ended_at: Date | null }[]>`
    select status, end_reason, ended_at from sessions where tenant_id = ${tenantId} and id = ${sessionId}`);
  if (!s) return;
  await enqueueWebhook(db, webhooks, tenantId, 'session.ended', `session.ended:${sessionId}`,
    { session_id: sessionId, status: s.status, reason: s.end_reason, ended_at: s.ended_at?.toISOString() ?? null });
}

/** Sessions live on a pod whose heartbeat expired: fail them with `gateway_lost` (billed up to their last tick). */
export async function failSessionsOfPod(db: Db, podId: string, webhooks?: WebhookConfig): Promise<string[]> {
  const rows = await db.sql<{ id: string; tenant_id: string }[]>`select id, tenant_id from live_sessions_on_pod(${podId})`;
  const failed: string[] = [];
  for (const r of rows) {
    if (await markSessionEnded(db, { tenantId: r.tenant_id, sessionId: r.id, reason: 'gateway_lost' })) {
      failed.push(r.id);
      if (webhooks) await announceEnded(db, webhooks, r.tenant_id, r.id);
    }
  }
  return failed;
}
