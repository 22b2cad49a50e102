/**
 * GDPR consents per data subject and purpose. History rows are append-only; the current state is the
 * latest row per purpose. Withdrawing a purpose a live session relies on terminates that session.
 */
import { newId } from '../../../shared/src/ids.ts';
import { AppError } from '../../../shared/src/errors.ts';
import type { SubjectRef } from '../../../shared/src/api/common.ts';
import type { ConsentRecord } from '../../../shared/src/api/consents.ts';
import type { CommandBus } from '../../../shared/src/bus/index.ts';
import { withTenant, type Db, type Tx } from '../db/client.ts';
import type { Actor, Principal } from '../types.ts';
import { appendAudit } from './audit.ts';
import { actsOnlyForSelf } from './roles.ts';
import { terminateInTx } from './sessions.ts';

export interface Subject { kind: 'user' | 'external'; ref: string }

/** The data subject a request speaks of: the named one, or the calling user by default. */
export async function resolveSubject(tx: Tx, p: Principal, ref: SubjectRef | undefined): Promise<Subject> {
  if (!ref) {
    if (p.kind !== 'user') throw new AppError('VALIDATION_FAILED', 'an API key must name the subject (external_id or user_id)');
    return { kind: 'user', ref: p.userId };
  }
  if ('external_id' in ref) {
    if (actsOnlyForSelf(p)) throw new AppError('FORBIDDEN', 'members act only for themselves');
    return { kind: 'external', ref: ref.external_id };
  }
  if (actsOnlyForSelf(p) && p.kind === 'user' && ref.user_id !== p.userId) throw new AppError('FORBIDDEN', 'members act only for themselves');
  const [u] = await tx`select id from users where tenant_id = ${p.tenantId} and id = ${ref.user_id}`;
  if (!u) throw new AppError('NOT_FOUND', 'no such user');
  return { kind: 'user', ref: ref.user_id };
}

interface Row { id: string; purpose: string; granted: boolean; version: string | null; text_sha256: string | null; created_at: Date }

function view(r: Row): ConsentRecord {
  return { id: r.id, purpose: r.purpose, granted: r.granted, version: r.version, text_sha256: r.text_sha256, created_at: r.created_at.toISOString() };
}

async function currentRow(tx: Tx, tenantId: string, s: Subject, purpose: string): Promise<Row | undefined> {
  const [r] = await tx<Row[]>`select id, purpose, granted, version, text_sha256, created_at from consent_records
    where tenant_id = ${tenantId} and subject_kind = ${s.kind} and subject_ref = ${s.ref} and purpose = ${purpose}
    order by id desc limit 1`;
  return r;
}

export async function grantConsent(db: Db, p: Principal, actor: Actor, purpose: string,
  input: { subject?: SubjectRef; version: string; text_sha256: string }): Promise<{ subject: Subject; consent: ConsentRecord }> {
  return withTenant(db, p.tenantId, async (tx) => {
    const s = await resolveSubject(tx, p, input.subject);
    const [r] = await tx<Row[]>`insert into consent_records
        (id, tenant_id, subject_kind, subject_ref, purpose, granted, version, text_sha256, actor_type, actor_id, request_id)
      values (${newId()}, ${p.tenantId}, ${s.kind}, ${s.ref}, ${purpose}, true, ${input.version}, ${input.text_sha256},
              ${actor.type}, ${actor.id}, ${actor.requestId})
      returning id, purpose, granted, version, text_sha256, created_at`;
    await appendAudit(tx, p.tenantId, actor, {
      action: 'consent.granted', targetType: `subject:${s.kind}`, targetId: s.ref,
      data: { purpose, version: input.version, text_sha256: input.text_sha256 },
    });
    return { subject: s, consent: view(r!) };
  });
}

export async function withdrawConsent(db: Db, bus: CommandBus, p: Principal, actor: Actor, purpose: string, ref: SubjectRef | undefined) {
  const { result, terminated } = await withTenant(db, p.tenantId, async (tx) => {
    const s = await resolveSubject(tx, p, ref);
    const cur = await currentRow(tx, p.tenantId, s, purpose);
    if (!cur?.granted) throw new AppError('NOT_FOUND', 'this consent is not currently granted');
    const [r] = await tx<Row[]>`insert into consent_records
        (id, tenant_id, subject_kind, subject_ref, purpose, granted, version, text_sha256, actor_type, actor_id, request_id)
      values (${newId()}, ${p.tenantId}, ${s.kind}, ${s.ref}, ${purpose}, false, ${cur.version}, ${cur.text_sha256},
              ${actor.type}, ${actor.id}, ${actor.requestId})
      returning id, purpose, granted, version, text_sha256, created_at`;
    await appendAudit(tx, p.tenantId, actor, { action: 'consent.withdrawn', targetType: `subject:${s.kind}`, targetId: s.ref, data: { purpose } });
    // withdrawal takes effect on live sessions that were admitted under this purpose
    const live = await tx<{ id: string }[]>`select id from sessions
      where tenant_id = ${p.tenantId} and status in ('created', 'active') and ${purpose} = any(purposes)
        and subjects @> ${tx.json([{ kind: s.kind, ref: s.ref }] as never)}`;
    for (const l of live) await terminateInTx(tx, p.tenantId, actor, l.id, 'consent_withdrawn');
    return { result: { subject: s, consent: view(r!) }, terminated: live.map((l) => l.id) };
  });
  for (const id of terminated) {
    await bus.publish({ type: 'terminate', id: newId(), session_id: id, reason: 'consent_withdrawn', ts: Date.now() });
  }
  return { ...result, terminated_sessions: terminated };
}

export async function consentState(db: Db, p: Principal, actor: Actor, ref: SubjectRef | undefined) {
  return withTenant(db, p.tenantId, async (tx) => {
    const s = await resolveSubject(tx, p, ref);
    const history = await tx<Row[]>`select id, purpose, granted, version, text_sha256, created_at from consent_records
      where tenant_id = ${p.tenantId} and subject_kind = ${s.kind} and subject_ref = ${s.ref} order by id desc`;
    const seen = new Set<string>();
    const current = history.filter((r) => (seen.has(r.purpose) ? false : (seen.add(r.purpose), true)));
    // reading a subject's consents is a read of personal data
    await appendAudit(tx, p.tenantId, actor, { action: 'consent.read', targetType: `subject:${s.kind}`, targetId: s.ref });
    return { subject: s, current: current.map(view), history: history.map(view) };
  });
}

/** Purposes currently granted to each subject (key `kind:ref`), for admission checks. */
export async function grantedPurposes(tx: Tx, tenantId: string, subjects: Subject[]): Promise<Map<string, Set<string>>> {
  const kinds = subjects.map((s) => s.kind);
  const refs = subjects.map((s) => s.ref);
  const rows = await tx<{ subject_kind: string; subject_ref: string; purpose: string; granted: boolean }[]>`
    select distinct on (c.subject_kind, c.subject_ref, c.purpose) c.subject_kind, c.subject_ref, c.purpose, c.granted
    from consent_records c
    join unnest(${kinds}::text[], ${refs}::text[]) as s(kind, ref) on c.subject_kind = s.kind and c.subject_ref = s.ref
    where c.tenant_id = ${tenantId}
    order by c.subject_kind, c.subject_ref, c.purpose, c.id desc`;
  const out = new Map<string, Set<string>>(subjects.map((s) => [`${s.kind}:${s.ref}`, new Set<string>()]));
  for (const r of rows) if (r.granted) out.get(`${r.subject_kind}:${r.subject_ref}`)?.add(r.purpose);
  return out;
}
