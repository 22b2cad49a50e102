/**
 * Sessions: admission (consents), token minting, listing, termination, and every state transition
 * (created -> active -> ended | failed | terminated). Gateway events are applied through
 * markSessionActive / markSessionEnded so the state machine lives in this one file.
 */
import { newId } from '../../../shared/src/ids.ts';
import { AppError } from '../../../shared/src/errors.ts';
import { mintSessionToken, type SigningKey, type TransportName } from '../../../shared/src/token.ts';
import type { EndReason } from '../../../shared/src/bus/index.ts';
import type { CreateSessionRequest, SessionStatus, SessionView } from '../../../shared/src/api/sessions.ts';
import { withTenant, type Db, type Sql, type Tx } from '../db/client.ts';
import type { Actor, ControlDeps, Principal } from '../types.ts';
import { appendAudit } from './audit.ts';
import { grantedPurposes, resolveSubject, type Subject } from './consents.ts';
import { actsOnlyForSelf } from './roles.ts';
import { preauthorize } from './billing.ts';

/** Providers that run inside the gateway; every other provider is a transfer to a third party. */
const LOCAL_PROVIDERS = new Set(['echo']);
const TERMINAL: ReadonlySet<SessionStatus> = new Set(['ended', 'failed', 'terminated']);
const GATEWAY_PATHS: Record<TransportName, string> = { web: '/v1/audio', twilio: '/v1/twilio/media', realtime: '/v1/realtime' };

interface SessionRow {
  id: string; status: SessionStatus; provider: SessionView['provider']; transport: TransportName; participants: string[];
  agent: SessionView['agent']; purposes: string[]; metadata: Record<string, unknown>; max_duration_s: number;
  created_at: Date; started_at: Date | null; ended_at: Date | null; end_reason: string | null;
}
const COLUMNS = 'id, status, provider, transport, participants, agent, purposes, metadata, max_duration_s, created_at, started_at, ended_at, end_reason';

function view(r: SessionRow): SessionView {
  return {
    id: r.id, status: r.status, provider: r.provider, transport: r.transport, participants: r.participants, agent: r.agent,
    purposes: r.purposes, metadata: r.metadata, max_duration_s: r.max_duration_s, created_at: r.created_at.toISOString(),
    started_at: r.started_at?.toISOString() ?? null, ended_at: r.ended_at?.toISOString() ?? null, end_reason: r.end_reason,
  };
}

export function gatewayUrl(base: string, transport: TransportName): string {
  return base.replace(/\/+$/, '') + GATEWAY_PATHS[transport];
}

type Deps = Pick<ControlDeps, 'db' | 'config' | 'signingKey'>;

function participantId(s: Subject): string {
  return s.ref;
}

async function mint(key: SigningKey, ttlS: number, tenantId: string, r: Pick<SessionRow, 'id' | 'provider' | 'transport' | 'participants' | 'agent' | 'purposes' | 'max_duration_s'>, participant: string) {
  const now = Math.floor(Date.now() / 1000);
  const token = await mintSessionToken({
    sub: participant, sid: r.id, tid: tenantId, participants: r.participants, provider: r.provider, transport: r.transport,
    agent: r.agent, purposes: r.purposes, max_duration_s: r.max_duration_s, ttl_s: ttlS,
  }, key, now);
  return { token, expiresAt: new Date((now + ttlS) * 1000).toISOString() };
}

export async function createSession(deps: Deps, p: Principal, actor: Actor, input: CreateSessionRequest) {
  if (input.participant && input.participants) throw new AppError('VALIDATION_FAILED', 'give participant or participants, not both');
  const refs = input.participants ?? [input.participant];
  const requestedMax = Math.min(input.max_duration_s ?? deps.config.SESSION_MAX_DURATION_S, deps.config.SESSION_MAX_DURATION_S);
  const id = newId();
  const row = await withTenant(deps.db, p.tenantId, async (tx) => {
    const subjects: Subject[] = [];
    for (const ref of refs) subjects.push(await resolveSubject(tx, p, ref));
    const participants = subjects.map(participantId);
    if (new Set(participants).size !== participants.length) throw new AppError('VALIDATION_FAILED', 'a participant is named twice');
    // consent check and billing pre-authorisation are independent: pipelined, one round trip less.
    // A consent failure still wins over a credit failure (checked first below).
    const [grantedR, preauthR] = await Promise.allSettled([
      grantedPurposes(tx, p.tenantId, subjects),
      // billing pre-authorisation: the balance must cover the minimum; the token's max duration is what it buys
      preauthorize(tx, deps.config, p.tenantId, input.provider, requestedMax),
    ]);
    if (grantedR.status === 'rejected') throw grantedR.reason;
    const granted = grantedR.value;
    const required = ['voice_processing'];
    if (!LOCAL_PROVIDERS.has(input.provider)) required.push(`provider:${input.provider}`);
    if (input.recording) required.push('recording');
    const purposes = new Set(required);
    // optional purposes travel only when every participant granted them
    if (subjects.every((s) => granted.get(`${s.kind}:${s.ref}`)!.has('transcript_storage'))) purposes.add('transcript_storage');
    for (const s of subjects) {
      const g = granted.get(`${s.kind}:${s.ref}`)!;
      const missing = required.filter((x) => !g.has(x));
      if (missing.length) throw new AppError('CONSENT_REQUIRED', `participant ${participantId(s)} has not granted: ${missing.join(', ')}`, { participant: participantId(s), missing });
    }
    if (preauthR.status === 'rejected') throw preauthR.reason;
    const maxDuration = preauthR.value;
    const insert = tx<SessionRow[]>`insert into sessions
        (id, tenant_id, provider, transport, participants, subjects, agent, purposes, metadata, max_duration_s, created_by_type, created_by)
      values (${id}, ${p.tenantId}, ${input.provider}, ${input.transport}, ${participants}, ${tx.json(subjects as never)},
              ${tx.json(input.agent as never)}, ${[...purposes]}, ${tx.json(input.metadata as never)}, ${maxDuration}, ${actor.type}, ${actor.id})
      returning ${tx.unsafe(COLUMNS)}`;
    // sent now (postgres.js queries are lazy) so the audit append is pipelined behind it; the audit
    // append takes the tenant's chain lock, so it goes last and holds the lock as briefly as possible
    insert.execute();
    const [[r]] = await Promise.all([insert, appendAudit(tx, p.tenantId, actor, {
      action: 'session.created', targetType: 'session', targetId: id,
      data: { provider: input.provider, transport: input.transport, participants, purposes: [...purposes] },
    })]);
    return r!;
  });
  const tokens = [];
  let expiresAt = '';
  for (const participant of row.participants) {
    const m = await mint(deps.signingKey, deps.config.SESSION_TOKEN_TTL_S, p.tenantId, row, participant);
    tokens.push({ participant, token: m.token });
    expiresAt = m.expiresAt;
  }
  return {
    session_id: id, gateway_url: gatewayUrl(deps.config.PUBLIC_GATEWAY_URL, row.transport), token: tokens[0]!.token, tokens,
    expires_at: expiresAt, purposes: row.purposes,
  };
}

/** Mint a fresh token for a participant the session already names (a late joiner, a reconnect). */
export async function mintParticipantToken(deps: Deps, p: Principal, sessionId: string, participant: string) {
  const row = await withTenant(deps.db, p.tenantId, (tx) => findOwn(tx, p, sessionId));
  if (!row.participants.includes(participant)) throw new AppError('NOT_FOUND', 'this session does not name that participant');
  if (TERMINAL.has(row.status)) throw new AppError('CONFLICT', `the session is ${row.status}`);
  const m = await mint(deps.signingKey, deps.config.SESSION_TOKEN_TTL_S, p.tenantId, row, participant);
  return { participant, token: m.token, gateway_url: gatewayUrl(deps.config.PUBLIC_GATEWAY_URL, row.transport), expires_at: m.expiresAt };
}

async function findOwn(tx: Tx, p: Principal, id: string): Promise<SessionRow> {
  const [r] = await tx<SessionRow[]>`select ${tx.unsafe(COLUMNS)} from sessions where tenant_id = ${p.tenantId} and id = ${id}
    ${actsOnlyForSelf(p) && p.kind === 'user' ? tx`and created_by = ${p.userId}` : tx``}`;
  if (!r) throw new AppError('NOT_FOUND', 'no such session');
  return r;
}

export async function getSession(db: Db, p: Principal, actor: Actor, id: string): Promise<SessionView> {
  return withTenant(db, p.tenantId, async (tx) => {
    const r = await findOwn(tx, p, id);
    await appendAudit(tx, p.tenantId, actor, { action: 'session.read', targetType: 'session', targetId: id });
    return view(r);
  });
}

export async function listSessions(db: Db, p: Principal, actor: Actor, q: { status?: SessionStatus; created_after?: string; created_before?: string; limit: number; cursor?: string }) {
  const rows = await withTenant(db, p.tenantId, async (tx) => {
    // a listing shows participants (personal identifiers): audited like any read of personal data
    await appendAudit(tx, p.tenantId, actor, { action: 'session.list', targetType: 'session', data: { status: q.status ?? null, limit: q.limit } });
    return tx<SessionRow[]>`
    select ${tx.unsafe(COLUMNS)} from sessions where tenant_id = ${p.tenantId}
      ${q.status ? tx`and status = ${q.status}` : tx``}
      ${q.created_after ? tx`and created_at >= ${q.created_after}` : tx``}
      ${q.created_before ? tx`and created_at < ${q.created_before}` : tx``}
      ${q.cursor ? tx`and id < ${q.cursor}` : tx``}
      ${actsOnlyForSelf(p) && p.kind === 'user' ? tx`and created_by = ${p.userId}` : tx``}
    order by id desc limit ${q.limit + 1}`;
  });
  const page = rows.slice(0, q.limit);
  return { data: page.map(view), next_cursor: rows.length > q.limit ? page[page.length - 1]!.id : null };
}

/** Mark terminated inside an open tenant transaction (operator action or consent withdrawal). */
export async function terminateInTx(tx: Tx, tenantId: string, actor: Actor, id: string, reason: 'terminated_by_operator' | 'consent_withdrawn' | 'credit_exhausted'): Promise<SessionRow | null> {
  const [r] = await tx<SessionRow[]>`update sessions set status = 'terminated', ended_at = now(), end_reason = ${reason}
    where tenant_id = ${tenantId} and id = ${id} and status in ('created', 'active') returning ${tx.unsafe(COLUMNS)}`;
  if (!r) return null;
  await appendAudit(tx, tenantId, actor, { action: 'session.terminated', targetType: 'session', targetId: id, data: { reason } });
  return r;
}

export async function terminateSession(deps: Pick<ControlDeps, 'db' | 'bus'>, p: Principal, actor: Actor, id: string): Promise<SessionView> {
  const row = await withTenant(deps.db, p.tenantId, async (tx) => {
    const cur = await findOwn(tx, p, id);
    if (TERMINAL.has(cur.status)) throw new AppError('CONFLICT', `the session is already ${cur.status}`);
    const r = await terminateInTx(tx, p.tenantId, actor, id, 'terminated_by_operator');
    if (!r) throw new AppError('CONFLICT', 'the session ended meanwhile');
    return r;
  });
  // after commit: the gateway acts on a state the database already holds
  await deps.bus.publish({ type: 'terminate', id: newId(), session_id: id, reason: 'terminated_by_operator', ts: Date.now() });
  return view(row);
}

function asDb(d: Db | Sql): Db {
  return typeof d === 'function' ? { sql: d, setRole: null } : d;
}

const SYSTEM: Actor = { type: 'system', id: null, requestId: null };

/** Gateway event session.started: created -> active. Idempotent; returns whether the row changed. */
export async function markSessionActive(d: Db | Sql, ev: { tenantId: string; sessionId: string; at?: Date }): Promise<boolean> {
  return withTenant(asDb(d), ev.tenantId, async (tx) => {
    const r = await tx`update sessions set status = 'active', started_at = ${ev.at ?? new Date()}
      where tenant_id = ${ev.tenantId} and id = ${ev.sessionId} and status = 'created' returning id`;
    return r.length > 0;
  });
}

const FAILURE_REASONS: ReadonlySet<string> = new Set(['provider_lost', 'provider_error', 'error', 'gateway_lost']);
const TERMINATION_REASONS: ReadonlySet<string> = new Set(['terminated_by_operator', 'consent_withdrawn', 'credit_exhausted']);

export function endStatusFor(reason: EndReason): SessionStatus {
  if (FAILURE_REASONS.has(reason)) return 'failed';
  if (TERMINATION_REASONS.has(reason)) return 'terminated';
  return 'ended';
}

/**
 * Gateway event session.ended: created|active -> ended | failed | terminated (by reason), audited.
 * Idempotent (a terminal session stays as it is; a terminated one keeps the operator's reason).
 */
export async function markSessionEnded(d: Db | Sql, ev: { tenantId: string; sessionId: string; reason: EndReason; at?: Date }): Promise<boolean> {
  return withTenant(asDb(d), ev.tenantId, async (tx) => {
    const status = endStatusFor(ev.reason);
    const r = await tx`update sessions set status = ${status}, ended_at = ${ev.at ?? new Date()}, end_reason = ${ev.reason},
        started_at = coalesce(started_at, ${ev.at ?? new Date()})
      where tenant_id = ${ev.tenantId} and id = ${ev.sessionId} and status in ('created', 'active') returning id`;
    if (r.length === 0) return false;
    await appendAudit(tx, ev.tenantId, SYSTEM, { action: 'session.ended', targetType: 'session', targetId: ev.sessionId, data: { status, reason: ev.reason } });
    return true;
  });
}
