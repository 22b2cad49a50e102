/**
 * Transcripts at rest: segments are stored only when the session was admitted with
 * `transcript_storage`, encrypted under the tenant's data key (envelope.ts); text and participant
 * are inside the ciphertext, role and timing stay plain for reports. Reads decrypt and are audited.
 */
import { newId } from '../../../shared/src/ids.ts';
import { AppError } from '../../../shared/src/errors.ts';
import { withTenant, type Db, type Tx } from '../db/client.ts';
import type { ControlConfig } from '../config.ts';
import type { Actor, Principal } from '../types.ts';
import { appendAudit } from './audit.ts';
import { asDb, sessionTenant, type DbLike } from './billing.ts';
import { dataKeyById, encryptFor, keyringOf, open, type Keyring } from './envelope.ts';
import { actsOnlyForSelf } from './roles.ts';

export type KeyConfig = Pick<ControlConfig, 'MASTER_KEY' | 'MASTER_KEYS_PREVIOUS' | 'DATA_DIR'>;

export interface TranscriptSegmentInput {
  role: 'user' | 'agent';
  text: string;
  start_ms: number;
  end_ms: number;
  /** the participant id the segment belongs to (user turns) */
  participant?: string | null;
}

export interface TranscriptSegment extends TranscriptSegmentInput { id: string; created_at: string }

export function segmentAad(tenantId: string, sessionId: string, segmentId: string): string {
  return `ts:${tenantId}:${sessionId}:${segmentId}`;
}

export interface AppendTranscriptResult { stored: boolean; reason?: 'no_consent' | 'duplicate'; id?: string }

/**
 * Gateway event transcript.final -> one encrypted segment. Idempotent per `eventId` (the bus event
 * id); skipped (stored: false, reason no_consent) when the session lacks `transcript_storage`.
 */
export async function appendTranscript(deps: { db: DbLike; config: KeyConfig }, sessionId: string, segment: TranscriptSegmentInput,
  eventId?: string): Promise<AppendTranscriptResult> {
  const db = asDb(deps.db);
  const tenantId = await sessionTenant(db, sessionId);
  if (!tenantId) throw new AppError('NOT_FOUND', 'no such session');
  const ring = await keyringOf(deps.config);
  return withTenant(db, tenantId, async (tx) => {
    const [s] = await tx<{ purposes: string[] }[]>`select purposes from sessions where tenant_id = ${tenantId} and id = ${sessionId}`;
    if (!s!.purposes.includes('transcript_storage')) return { stored: false, reason: 'no_consent' as const };
    if (eventId) {
      const [dup] = await tx`select id from transcript_segments where tenant_id = ${tenantId} and event_id = ${eventId}`;
      if (dup) return { stored: false, reason: 'duplicate' as const };
    }
    const id = newId();
    const plain = Buffer.from(JSON.stringify({ text: segment.text, participant: segment.participant ?? null }), 'utf8');
    const enc = await encryptFor(tx, ring, tenantId, plain, segmentAad(tenantId, sessionId, id));
    const ins = await tx`insert into transcript_segments (id, tenant_id, session_id, event_id, role, start_ms, end_ms, key_id, nonce, ciphertext)
      values (${id}, ${tenantId}, ${sessionId}, ${eventId ?? null}, ${segment.role}, ${Math.round(segment.start_ms)}, ${Math.round(segment.end_ms)},
              ${enc.keyId}, ${enc.nonce}, ${enc.ciphertext})
      on conflict (tenant_id, event_id) do nothing returning id`;
    return ins.length ? { stored: true, id } : { stored: false, reason: 'duplicate' as const };
  });
}

interface SegRow { id: string; session_id: string; role: 'user' | 'agent'; start_ms: number; end_ms: number; key_id: string; nonce: Buffer; ciphertext: Buffer; created_at: Date }

/** Decrypt segments of the given sessions (in the caller's tenant transaction). */
export async function decryptSegments(tx: Tx, ring: Keyring, tenantId: string, sessionIds: string[]): Promise<Map<string, TranscriptSegment[]>> {
  const rows = await tx<SegRow[]>`select id, session_id, role, start_ms, end_ms, key_id, nonce, ciphertext, created_at from transcript_segments
    where tenant_id = ${tenantId} and session_id = any(${sessionIds}::uuid[]) order by session_id, start_ms, id`;
  const out = new Map<string, TranscriptSegment[]>(sessionIds.map((id) => [id, []]));
  const keys = new Map<string, Buffer>(); // one key lookup per data-key version, not per segment
  for (const r of rows) {
    let key = keys.get(r.key_id);
    if (!key) keys.set(r.key_id, (key = await dataKeyById(tx, ring, tenantId, r.key_id)));
    const plain = open(key, r.nonce, r.ciphertext, segmentAad(tenantId, r.session_id, r.id));
    const { text, participant } = JSON.parse(plain.toString('utf8')) as { text: string; participant: string | null };
    out.get(r.session_id)!.push({ id: r.id, role: r.role, text, participant, start_ms: r.start_ms, end_ms: r.end_ms, created_at: r.created_at.toISOString() });
  }
  return out;
}

/** GET /v1/sessions/:id/transcript: decrypted, audited. */
export async function readTranscript(db: Db, config: KeyConfig, p: Principal, actor: Actor, sessionId: string) {
  const ring = await keyringOf(config);
  return withTenant(db, p.tenantId, async (tx) => {
    const [s] = await tx<{ id: string; purposes: string[] }[]>`select id, purposes from sessions where tenant_id = ${p.tenantId} and id = ${sessionId}
      ${actsOnlyForSelf(p) && p.kind === 'user' ? tx`and created_by = ${p.userId}` : tx``}`;
    if (!s) throw new AppError('NOT_FOUND', 'no such session');
    const segs = (await decryptSegments(tx, ring, p.tenantId, [sessionId])).get(sessionId)!;
    await appendAudit(tx, p.tenantId, actor, { action: 'transcript.read', targetType: 'session', targetId: sessionId, data: { segments: segs.length } });
    return { session_id: sessionId, stored: s.purposes.includes('transcript_storage'), segments: segs };
  });
}
