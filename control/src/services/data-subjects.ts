/**
 * Data-subject rights (GDPR art. 15 and 17). Export gathers every piece of personal data held about a
 * subject (a user, or an external id such as a caller's number): profile, consents and history,
 * sessions and call legs, decrypted transcripts and post-call data, recordings metadata, features,
 * ledger rows of their sessions, and the audit rows about them. Erasure deletes content (transcripts,
 * recordings, post-call data, features) and profile data, and pseudonymises what must stay: ledger
 * rows carry no personal data, audit rows only ever held the pseudonym (see migration 103), consent
 * history and sessions are rewritten to the pseudonym, and the pseudonym's link is deleted last.
 */
import { AppError } from '../../../shared/src/errors.ts';
import { withTenant, type Db, type Tx } from '../db/client.ts';
import type { Actor, Principal } from '../types.ts';
import { appendAudit } from './audit.ts';
import { decryptFor, keyringOf } from './envelope.ts';
import { decryptSegments } from './transcripts.ts';
import { recordingStorageOf, type RecordingConfig, type RecordingStorage } from './recordings.ts';
import type { Subject } from './consents.ts';

export type { Subject };

function likeEscape(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

async function pseudonymOf(tx: Tx, tenantId: string, s: Subject): Promise<string | null> {
  if (s.kind !== 'external') return null;
  const [r] = await tx<{ pseudonym: string }[]>`select pseudonym from subject_pseudonyms where tenant_id = ${tenantId} and subject_ref = ${s.ref}`;
  return r?.pseudonym ?? null;
}

async function subjectSessions(tx: Tx, tenantId: string, s: Subject): Promise<string[]> {
  const rows = await tx<{ id: string }[]>`select id from sessions where tenant_id = ${tenantId} and subjects @> ${tx.json([{ kind: s.kind, ref: s.ref }] as never)} order by id`;
  return rows.map((r) => r.id);
}

async function requireKnown(tx: Tx, tenantId: string, s: Subject): Promise<void> {
  if (s.kind === 'user') {
    const [u] = await tx`select id from users where tenant_id = ${tenantId} and id = ${s.ref}`;
    if (!u) throw new AppError('NOT_FOUND', 'no such user');
  }
}

export async function exportSubject(deps: { db: Db; config: RecordingConfig }, p: Principal, actor: Actor, s: Subject) {
  const ring = await keyringOf(deps.config);
  return withTenant(deps.db, p.tenantId, async (tx) => {
    await requireKnown(tx, p.tenantId, s);
    const pseudonym = await pseudonymOf(tx, p.tenantId, s);
    const sessionIds = await subjectSessions(tx, p.tenantId, s);
    const profile = s.kind === 'user'
      ? (await tx`select id, email, role, created_at, disabled_at from users where tenant_id = ${p.tenantId} and id = ${s.ref}`)[0] ?? null
      : { external_id: s.ref };
    const consents = await tx`select id, purpose, granted, version, text_sha256, actor_type, actor_id, created_at from consent_records
      where tenant_id = ${p.tenantId} and subject_kind = ${s.kind} and subject_ref = ${s.ref} order by id`;
    const sessions = await tx`select id, status, provider, transport, participants, agent, purposes, metadata, max_duration_s, created_at, started_at, ended_at, end_reason
      from sessions where tenant_id = ${p.tenantId} and id = any(${sessionIds}::uuid[]) order by id`;
    const calls = await tx`select call_sid, session_id, direction, from_number, to_number, status, stream_status, created_at, updated_at from twilio_calls
      where tenant_id = ${p.tenantId} and (session_id = any(${sessionIds}::uuid[]) or from_number = ${s.ref} or to_number = ${s.ref}) order by created_at`;
    const transcripts = Object.fromEntries(await decryptSegments(tx, ring, p.tenantId, sessionIds));
    const pcRows = await tx<{ session_id: string; provider: string; conversation_id: string | null; key_id: string; nonce: Buffer; ciphertext: Buffer; received_at: Date }[]>`
      select session_id, provider, conversation_id, key_id, nonce, ciphertext, received_at from session_postcall where tenant_id = ${p.tenantId} and session_id = any(${sessionIds}::uuid[])`;
    const postCall = [];
    for (const r of pcRows) {
      const content = JSON.parse((await decryptFor(tx, ring, p.tenantId, r.key_id, r.nonce, r.ciphertext, `pc:${p.tenantId}:${r.session_id}`)).toString('utf8')) as unknown;
      postCall.push({ session_id: r.session_id, provider: r.provider, conversation_id: r.conversation_id, received_at: r.received_at, content });
    }
    const recRows = await tx<{ id: string; session_id: string; storage_key: string; content_type: string; bytes: string; sha256: string; key_id: string; nonce: Buffer; created_at: Date }[]>`
      select id, session_id, storage_key, content_type, bytes, sha256, key_id, nonce, created_at from recordings
      where tenant_id = ${p.tenantId} and session_id = any(${sessionIds}::uuid[]) order by id`;
    const storage = recordingStorageOf(deps.config);
    const recordings = [];
    for (const r of recRows) {
      // a voice recording is personal data too: the export carries the audio itself
      const audio = await decryptFor(tx, ring, p.tenantId, r.key_id, r.nonce, await storage.get(r.storage_key), `rec:${p.tenantId}:${r.session_id}:${r.id}`);
      recordings.push({ id: r.id, session_id: r.session_id, content_type: r.content_type, bytes: Number(r.bytes), sha256: r.sha256, created_at: r.created_at, data_base64: audio.toString('base64') });
    }
    const features = await tx`select session_id, summary, received_at from session_features where tenant_id = ${p.tenantId} and session_id = any(${sessionIds}::uuid[])`;
    const ledger = await tx`select id, kind, amount_micro::text, session_id, event_id, provider, billed_ms::text, created_at from credit_ledger
      where tenant_id = ${p.tenantId} and session_id = any(${sessionIds}::uuid[]) order by id`;
    const ids = [s.ref, ...(pseudonym ? [pseudonym] : []), ...sessionIds];
    const audit = await tx`select id, seq::int, created_at, actor_type, actor_id, action, target_type, target_id, request_id, data from audit_log
      where tenant_id = ${p.tenantId} and (target_id = any(${ids}) or actor_id = ${s.ref}
        or (data ? 'participants' and data -> 'participants' ?| ${ids}) or data ->> 'participant' = any(${ids}))
      order by seq`;
    await appendAudit(tx, p.tenantId, actor, { action: 'data_subject.exported', targetType: `subject:${s.kind}`, targetId: s.ref, data: { sessions: sessionIds.length } });
    return {
      subject: s, pseudonym, exported_at: new Date().toISOString(), profile, consents, sessions, calls, transcripts, post_call: postCall,
      recordings, features, ledger, audit,
    };
  });
}

export interface ErasureResult {
  pseudonym: string | null;
  sessions: number;
  transcript_segments: number;
  recordings: number;
  post_call: number;
  features: number;
  consent_records: number;
}

export async function eraseSubject(deps: { db: Db; config: RecordingConfig; storage?: RecordingStorage }, p: Principal, actor: Actor, s: Subject): Promise<ErasureResult> {
  const storage = deps.storage ?? recordingStorageOf(deps.config);
  const { result, keys } = await withTenant(deps.db, p.tenantId, async (tx) => {
    await requireKnown(tx, p.tenantId, s);
    const sessionIds = await subjectSessions(tx, p.tenantId, s);
    // content of their sessions (content of a shared session goes for everyone in it: it cannot be split)
    const recs = await tx<{ storage_key: string }[]>`delete from recordings where tenant_id = ${p.tenantId} and session_id = any(${sessionIds}::uuid[]) returning storage_key`;
    const seg = await tx`delete from transcript_segments where tenant_id = ${p.tenantId} and session_id = any(${sessionIds}::uuid[]) returning id`;
    const pc = await tx`delete from session_postcall where tenant_id = ${p.tenantId} and session_id = any(${sessionIds}::uuid[]) returning session_id`;
    const ft = await tx`delete from session_features where tenant_id = ${p.tenantId} and session_id = any(${sessionIds}::uuid[]) returning session_id`;
    // responses replayed for idempotency may quote the subject (tokens, consent records)
    const pat = `%${likeEscape(s.ref)}%`;
    await tx`delete from idempotency_keys where tenant_id = ${p.tenantId}
      and (response::text like ${pat} or response::text like any(${sessionIds.map((id) => `%${id}%`)}::text[]))`;
    let pseudonym: string | null = null;
    let consentRows = 0;
    if (s.kind === 'external') {
      const [ps] = await tx<{ p: string }[]>`select subject_pseudonym(${p.tenantId}, ${s.ref}) as p`;
      pseudonym = ps!.p;
      await tx`update sessions set participants = array_replace(participants, ${s.ref}, ${pseudonym}),
          subjects = (select jsonb_agg(case when e ->> 'kind' = 'external' and e ->> 'ref' = ${s.ref} then jsonb_build_object('kind', 'external', 'ref', ${pseudonym}::text) else e end)
                      from jsonb_array_elements(subjects) e),
          metadata = '{}'::jsonb
        where tenant_id = ${p.tenantId} and id = any(${sessionIds}::uuid[])`;
      const [c] = await tx<{ n: string }[]>`select consent_records_pseudonymise(${p.tenantId}, 'external', ${s.ref}, ${pseudonym}) as n`;
      consentRows = Number(c!.n);
      await tx`update twilio_calls set from_number = case when from_number = ${s.ref} then null else from_number end,
          to_number = case when to_number = ${s.ref} then null else to_number end, updated_at = now()
        where tenant_id = ${p.tenantId} and (from_number = ${s.ref} or to_number = ${s.ref})`;
    } else {
      await tx`update sessions set metadata = '{}'::jsonb where tenant_id = ${p.tenantId} and id = any(${sessionIds}::uuid[])`;
      await tx`update users set email = ${`erased-${s.ref}@erased.invalid`}, password_hash = '!', disabled_at = coalesce(disabled_at, now())
        where tenant_id = ${p.tenantId} and id = ${s.ref}`;
      await tx`update refresh_tokens set revoked_at = coalesce(revoked_at, now()) where tenant_id = ${p.tenantId} and user_id = ${s.ref}`;
    }
    const result: ErasureResult = {
      pseudonym, sessions: sessionIds.length, transcript_segments: seg.length, recordings: recs.length, post_call: pc.length, features: ft.length, consent_records: consentRows,
    };
    const { pseudonym: _p, ...counts } = result;
    await appendAudit(tx, p.tenantId, actor, {
      action: 'data_subject.erased', targetType: s.kind === 'external' ? 'pseudonym' : 'user', targetId: pseudonym ?? s.ref, data: counts,
    });
    // last: without this link nothing ties the pseudonym in audit rows back to the person
    if (s.kind === 'external') await tx`delete from subject_pseudonyms where tenant_id = ${p.tenantId} and subject_ref = ${s.ref}`;
    return { result, keys: recs.map((r) => r.storage_key) };
  });
  for (const k of keys) await storage.delete(k);
  return result;
}

/** DELETE /v1/me: a tenant must keep an owner. */
export async function assertMayEraseSelf(db: Db, p: Principal): Promise<void> {
  if (p.kind !== 'user') throw new AppError('FORBIDDEN', 'only a user can erase their own data');
  if (p.role !== 'owner') return;
  const [r] = await withTenant(db, p.tenantId, (tx) => tx<{ n: number }[]>`select count(*)::int as n from users
    where tenant_id = ${p.tenantId} and role = 'owner' and disabled_at is null and id <> ${p.userId}`);
  if (r!.n === 0) throw new AppError('CONFLICT', 'the last owner cannot erase themselves; hand ownership to another user first');
}
