/**
 * Inbound provider webhooks. ElevenLabs post-call: `ElevenLabs-Signature: t=<unix s>,v0=<hex>` where
 * v0 = HMAC-SHA256(secret, "<t>.<raw body>") (PROTOCOLS.md 3.4). Verified over the exact bytes
 * received, within 30 minutes, in constant time. The transcript and analysis are stored on the session,
 * encrypted like transcripts, and only when the session holds `transcript_storage`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { AppError } from '../../../shared/src/errors.ts';
import { withTenant, type Db } from '../db/client.ts';
import { appendAudit } from './audit.ts';
import { sessionTenant } from './billing.ts';
import { encryptFor, keyringOf } from './envelope.ts';
import type { KeyConfig } from './transcripts.ts';

export const ELEVENLABS_TOLERANCE_S = 30 * 60;

export type SignatureCheck = { ok: true; t: number } | { ok: false; reason: 'missing' | 'malformed' | 'stale' | 'mismatch' };

export function verifyElevenLabsSignature(secret: string, header: string | undefined, rawBody: Buffer | string, nowS = Math.floor(Date.now() / 1000)): SignatureCheck {
  if (!header) return { ok: false, reason: 'missing' };
  let t: number | null = null;
  const sigs: string[] = [];
  for (const part of header.split(',')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    const k = part.slice(0, i).trim();
    const v = part.slice(i + 1).trim();
    if (k === 't' && /^\d{1,12}$/.test(v)) t = Number(v);
    else if (k === 'v0' && /^[0-9a-f]{64}$/i.test(v)) sigs.push(v.toLowerCase());
  }
  if (t === null || sigs.length === 0) return { ok: false, reason: 'malformed' };
  if (nowS - t > ELEVENLABS_TOLERANCE_S || t - nowS > ELEVENLABS_TOLERANCE_S) return { ok: false, reason: 'stale' };
  const mac = createHmac('sha256', secret).update(`${t}.`).update(typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : rawBody).digest();
  for (const s of sigs) if (timingSafeEqual(mac, Buffer.from(s, 'hex'))) return { ok: true, t };
  return { ok: false, reason: 'mismatch' };
}

export const ElevenLabsPostCall = z.object({
  type: z.string(),
  event_timestamp: z.number().optional(),
  data: z.record(z.string(), z.unknown()),
}).passthrough();
export type ElevenLabsPostCall = z.infer<typeof ElevenLabsPostCall>;

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/** The session a post-call payload speaks of: the dynamic variable the gateway passes, else the conversation id it recorded. */
function sessionRefOf(data: Record<string, unknown>): { sessionId?: string; conversationId?: string } {
  const init = data.conversation_initiation_client_data as { dynamic_variables?: Record<string, unknown> } | undefined;
  const dyn = init?.dynamic_variables ?? {};
  return { sessionId: str(dyn.switchboard_session_id) ?? str(dyn.session_id), conversationId: str(data.conversation_id) };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function storeElevenLabsPostCall(deps: { db: Db; config: KeyConfig }, payload: ElevenLabsPostCall): Promise<{ matched: boolean; stored: boolean; reason?: string }> {
  if (payload.type !== 'post_call_transcription') return { matched: false, stored: false, reason: `type ${payload.type} is not stored` };
  const ref = sessionRefOf(payload.data);
  let sessionId = ref.sessionId && UUID.test(ref.sessionId) ? ref.sessionId : undefined;
  let tenantId = sessionId ? await sessionTenant(deps.db, sessionId) : null;
  if (!tenantId && ref.conversationId) {
    // the gateway records the provider's conversation id in the session metadata
    const [r] = await deps.db.sql<{ id: string; tenant_id: string }[]>`select id, tenant_id from elevenlabs_session_by_conversation(${ref.conversationId})`;
    if (r) { sessionId = r.id; tenantId = r.tenant_id; }
  }
  if (!tenantId || !sessionId) return { matched: false, stored: false, reason: 'no session matches' };
  const ring = await keyringOf(deps.config);
  const sid = sessionId;
  const tid = tenantId;
  return withTenant(deps.db, tid, async (tx) => {
    const [s] = await tx<{ purposes: string[] }[]>`select purposes from sessions where tenant_id = ${tid} and id = ${sid}`;
    if (!s!.purposes.includes('transcript_storage')) {
      await appendAudit(tx, tid, { type: 'system', id: 'elevenlabs', requestId: null }, { action: 'postcall.discarded', targetType: 'session', targetId: sid, data: { reason: 'no transcript_storage consent' } });
      return { matched: true, stored: false, reason: 'no transcript_storage consent' };
    }
    const content = { transcript: payload.data.transcript ?? null, analysis: payload.data.analysis ?? null, metadata: payload.data.metadata ?? null, event_timestamp: payload.event_timestamp ?? null };
    const enc = await encryptFor(tx, ring, tid, Buffer.from(JSON.stringify(content), 'utf8'), `pc:${tid}:${sid}`);
    await tx`insert into session_postcall (session_id, tenant_id, provider, conversation_id, key_id, nonce, ciphertext)
      values (${sid}, ${tid}, 'elevenlabs', ${ref.conversationId ?? null}, ${enc.keyId}, ${enc.nonce}, ${enc.ciphertext})
      on conflict (session_id) do update set conversation_id = excluded.conversation_id, key_id = excluded.key_id, nonce = excluded.nonce,
        ciphertext = excluded.ciphertext, received_at = now()`;
    await appendAudit(tx, tid, { type: 'system', id: 'elevenlabs', requestId: null }, { action: 'postcall.stored', targetType: 'session', targetId: sid, data: { provider: 'elevenlabs' } });
    return { matched: true, stored: true };
  });
}

export function requireElevenLabsSignature(secret: string | undefined, header: string | undefined, raw: Buffer | string): void {
  if (!secret) throw new AppError('SIGNATURE_INVALID', 'ElevenLabs webhooks are not configured (ELEVENLABS_WEBHOOK_SECRET)');
  const r = verifyElevenLabsSignature(secret, header, raw);
  if (!r.ok) throw new AppError('SIGNATURE_INVALID', `ElevenLabs-Signature ${r.reason}`);
}
