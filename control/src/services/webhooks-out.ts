/**
 * Webhooks out: tenants register endpoints (url, events, a secret shown once); `session.ended` and
 * `report.ready` are written to an outbox (webhook_deliveries, one row per endpoint and announced fact)
 * and delivered by a job: POST with
 *   Switchboard-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
 * retried with exponential backoff and full jitter while `retry_until` (created + 24 h) has not
 * passed, then marked dead. A manual redeliver re-queues a delivery with a fresh window.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Logger } from '../../../shared/src/logger.ts';
import { newId, randomToken } from '../../../shared/src/ids.ts';
import { AppError } from '../../../shared/src/errors.ts';
import { withTenant, type Db } from '../db/client.ts';
import type { ControlConfig } from '../config.ts';
import { egressPost, EgressBlockedError } from './egress.ts';
import { decryptFor, encryptFor, keyringOf } from './envelope.ts';
import type { KeyConfig } from './transcripts.ts';

export const WEBHOOK_EVENTS = ['session.ended', 'report.ready'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

export type WebhookConfig = Pick<ControlConfig, 'WEBHOOK_BACKOFF_BASE_MS' | 'WEBHOOK_MAX_AGE_MS' | 'WEBHOOK_TIMEOUT_MS' | 'EGRESS_ALLOW_PRIVATE'> & KeyConfig;

/** the header value for a body at unix time `t` */
export function signatureHeader(secret: string, t: number, body: string): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

/** receiver side (documented in the README, used by tests): constant-time check, with a tolerance on t */
export function verifySignature(secret: string, header: string, body: string, nowS = Math.floor(Date.now() / 1000), toleranceS = 300): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  if (!m) return false;
  const t = Number(m[1]);
  if (Math.abs(nowS - t) > toleranceS) return false;
  const want = Buffer.from(signatureHeader(secret, t, body).slice(`t=${t},v1=`.length), 'hex');
  return timingSafeEqual(want, Buffer.from(m[2]!, 'hex'));
}

/** delay before attempt `attempts + 1`: base * 2^(attempts-1), capped at 6 h, full jitter in [0.5, 1.5) */
export function backoffMs(attempts: number, baseMs: number, rand = Math.random()): number {
  const exp = Math.min(baseMs * 2 ** Math.max(0, attempts - 1), 6 * 3600 * 1000);
  return Math.round(exp * (0.5 + rand));
}

interface EndpointRow { id: string; url: string; events: string[]; created_at: Date }
const endpointView = (r: EndpointRow) => ({ id: r.id, url: r.url, events: r.events, created_at: r.created_at.toISOString() });

function checkUrl(url: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new AppError('VALIDATION_FAILED', 'url must be an absolute http(s) URL');
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new AppError('VALIDATION_FAILED', 'url must be http(s)');
}

/** the secret is sealed to its endpoint: a ciphertext copied onto another row does not open */
const secretAad = (tenantId: string, endpointId: string) => `webhook-secret:${tenantId}:${endpointId}`;

export async function createEndpoint(db: Db, config: KeyConfig, tenantId: string, input: { url: string; events: WebhookEvent[] }) {
  checkUrl(input.url);
  const secret = `whsec_${randomToken(24)}`;
  const ring = await keyringOf(config);
  const id = newId();
  const r = await withTenant(db, tenantId, async (tx) => {
    const enc = await encryptFor(tx, ring, tenantId, Buffer.from(secret, 'utf8'), secretAad(tenantId, id));
    const [row] = await tx<EndpointRow[]>`insert into webhook_endpoints (id, tenant_id, url, events, secret_key_id, secret_nonce, secret_ciphertext)
      values (${id}, ${tenantId}, ${input.url}, ${[...new Set(input.events)]}, ${enc.keyId}, ${enc.nonce}, ${enc.ciphertext})
      returning id, url, events, created_at`;
    return row!;
  });
  return { ...endpointView(r), secret };
}

export async function listEndpoints(db: Db, tenantId: string) {
  const rows = await withTenant(db, tenantId, (tx) => tx<EndpointRow[]>`select id, url, events, created_at from webhook_endpoints
    where tenant_id = ${tenantId} and deleted_at is null order by id desc`);
  return rows.map(endpointView);
}

export async function deleteEndpoint(db: Db, tenantId: string, id: string) {
  const [r] = await withTenant(db, tenantId, (tx) => tx<EndpointRow[]>`update webhook_endpoints set deleted_at = now()
    where tenant_id = ${tenantId} and id = ${id} and deleted_at is null returning id, url, events, created_at`);
  if (!r) throw new AppError('NOT_FOUND', 'no such webhook endpoint');
  return endpointView(r);
}

interface DeliveryRow {
  id: string; endpoint_id: string; event_type: string; status: string; attempts: number; next_attempt_at: Date; retry_until: Date;
  last_status: number | null; last_error: string | null; created_at: Date; delivered_at: Date | null; payload: unknown;
}
const deliveryView = (r: DeliveryRow) => ({
  id: r.id, endpoint_id: r.endpoint_id, event_type: r.event_type, status: r.status, attempts: r.attempts,
  next_attempt_at: r.status === 'pending' ? r.next_attempt_at.toISOString() : null, last_status: r.last_status, last_error: r.last_error,
  created_at: r.created_at.toISOString(), delivered_at: r.delivered_at?.toISOString() ?? null, payload: r.payload,
});
const DELIVERY_COLUMNS = 'id, endpoint_id, event_type, status, attempts, next_attempt_at, retry_until, last_status, last_error, created_at, delivered_at, payload';

export async function listDeliveries(db: Db, tenantId: string, endpointId: string, limit = 50) {
  return withTenant(db, tenantId, async (tx) => {
    const [e] = await tx`select id from webhook_endpoints where tenant_id = ${tenantId} and id = ${endpointId}`;
    if (!e) throw new AppError('NOT_FOUND', 'no such webhook endpoint');
    const rows = await tx<DeliveryRow[]>`select ${tx.unsafe(DELIVERY_COLUMNS)} from webhook_deliveries
      where tenant_id = ${tenantId} and endpoint_id = ${endpointId} order by id desc limit ${limit}`;
    return rows.map(deliveryView);
  });
}

/** manual redeliver: back to pending now, with a fresh retry window (also for delivered or dead ones) */
export async function redeliver(db: Db, config: WebhookConfig, tenantId: string, endpointId: string, deliveryId: string) {
  const [r] = await withTenant(db, tenantId, (tx) => tx<DeliveryRow[]>`update webhook_deliveries
    set status = 'pending', next_attempt_at = now(), retry_until = now() + ${config.WEBHOOK_MAX_AGE_MS} * interval '1 millisecond'
    where tenant_id = ${tenantId} and endpoint_id = ${endpointId} and id = ${deliveryId} returning ${tx.unsafe(DELIVERY_COLUMNS)}`);
  if (!r) throw new AppError('NOT_FOUND', 'no such delivery');
  return deliveryView(r);
}

/**
 * Queue `type` for every endpoint of the tenant subscribed to it, once per `key` (e.g.
 * `session.ended:<session id>`); returns how many deliveries were queued now.
 */
export async function enqueueWebhook(db: Db, config: WebhookConfig, tenantId: string, type: WebhookEvent, key: string, data: Record<string, unknown>): Promise<number> {
  return withTenant(db, tenantId, async (tx) => {
    const endpoints = await tx<{ id: string }[]>`select id from webhook_endpoints
      where tenant_id = ${tenantId} and deleted_at is null and ${type} = any(events)`;
    let n = 0;
    for (const e of endpoints) {
      const id = newId();
      const payload = { id, type, created_at: new Date().toISOString(), data };
      const ins = await tx`insert into webhook_deliveries (id, tenant_id, endpoint_id, event_key, event_type, payload, retry_until)
        values (${id}, ${tenantId}, ${e.id}, ${key}, ${type}, ${tx.json(payload as never)}, now() + ${config.WEBHOOK_MAX_AGE_MS} * interval '1 millisecond')
        on conflict (endpoint_id, event_key) do nothing returning id`;
      n += ins.length;
    }
    return n;
  });
}

export type Outcome = 'delivered' | 'retry' | 'dead' | 'skipped';

/** one attempt of one delivery (leased first, so concurrent job runs never send it twice at once) */
export async function attemptDelivery(db: Db, config: WebhookConfig, log: Logger, tenantId: string, deliveryId: string): Promise<Outcome> {
  const leaseMs = config.WEBHOOK_TIMEOUT_MS * 2;
  const ring = await keyringOf(config);
  const claimed = await withTenant(db, tenantId, async (tx) => {
    const [d] = await tx<{
      id: string; payload: unknown; attempts: number; url: string; retry_until: Date; endpoint_id: string;
      secret: string | null; secret_key_id: string | null; secret_nonce: Buffer | null; secret_ciphertext: Buffer | null;
    }[]>`
      select d.id, d.payload, d.attempts, e.url, d.retry_until, e.id as endpoint_id, e.secret, e.secret_key_id, e.secret_nonce, e.secret_ciphertext
      from webhook_deliveries d join webhook_endpoints e on e.id = d.endpoint_id
      where d.tenant_id = ${tenantId} and d.id = ${deliveryId} and d.status = 'pending' and d.next_attempt_at <= now()
      for update of d skip locked`;
    if (!d) return null;
    await tx`update webhook_deliveries set attempts = attempts + 1, next_attempt_at = now() + ${leaseMs} * interval '1 millisecond' where id = ${d.id}`;
    // endpoints made before secrets were sealed (migration 202) still carry the plaintext
    const secret = d.secret_ciphertext !== null
      ? (await decryptFor(tx, ring, tenantId, d.secret_key_id!, d.secret_nonce!, d.secret_ciphertext, secretAad(tenantId, d.endpoint_id))).toString('utf8')
      : d.secret!;
    return { ...d, secret };
  });
  if (!claimed) return 'skipped';
  const body = JSON.stringify(claimed.payload);
  const t = Math.floor(Date.now() / 1000);
  let status: number | null = null;
  let error: string | null = null;
  try {
    // a 3xx is not followed (egress never follows redirects): it is a failed attempt like any non-2xx
    const res = await egressPost(claimed.url, {
      headers: { 'content-type': 'application/json', 'user-agent': 'Switchboard-Webhooks/1', 'switchboard-signature': signatureHeader(claimed.secret, t, body) },
      body, timeoutMs: config.WEBHOOK_TIMEOUT_MS, maxResponseBytes: 64 * 1024,
    }, { allowPrivate: config.EGRESS_ALLOW_PRIVATE });
    status = res.status;
    if (status < 200 || status > 299) error = `HTTP ${res.status}`;
  } catch (e) {
    error = (e instanceof EgressBlockedError ? `blocked: ${e.message}` : (e as Error).message).slice(0, 500);
  }
  const attempts = claimed.attempts + 1;
  const delay = backoffMs(attempts, config.WEBHOOK_BACKOFF_BASE_MS);
  const outcome: Outcome = error === null ? 'delivered' : Date.now() + delay > claimed.retry_until.getTime() ? 'dead' : 'retry';
  await withTenant(db, tenantId, (tx) => tx`update webhook_deliveries set
      status = ${outcome === 'retry' ? 'pending' : outcome}, last_status = ${status}, last_error = ${error},
      delivered_at = ${outcome === 'delivered' ? new Date() : null},
      next_attempt_at = now() + ${outcome === 'retry' ? delay : 0} * interval '1 millisecond'
    where id = ${claimed.id}`);
  if (outcome !== 'delivered') log.warn({ delivery_id: claimed.id, attempts, status, error, outcome }, 'webhook delivery failed');
  return outcome;
}

/** deliver what is due now (all tenants); returns the outcomes */
export async function deliverDue(db: Db, config: WebhookConfig, log: Logger, limit = 50): Promise<Outcome[]> {
  const due = await db.sql<{ id: string; tenant_id: string }[]>`select id, tenant_id from webhook_deliveries_due(${limit})`;
  return Promise.all(due.map((d) => attemptDelivery(db, config, log, d.tenant_id, d.id)));
}
