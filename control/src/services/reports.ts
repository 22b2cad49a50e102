/**
 * Reports: the per-session report (duration, billed time and cost from the ledger, participants,
 * consent snapshot, content availability, the gateway's features summary), tenant usage grouped by
 * day / provider / participant, and the streamed sessions CSV. Personal identifiers are masked for
 * callers without `personal_data:read`.
 */
import { PassThrough } from 'node:stream';
import { FeaturesSummary } from '../../../shared/src/features.ts';
import { AppError } from '../../../shared/src/errors.ts';
import { withTenant, type Db } from '../db/client.ts';
import type { Logger } from '../../../shared/src/logger.ts';
import type { Principal } from '../types.ts';
import { asDb, sessionTenant, type DbLike } from './billing.ts';
import { maskerFor } from './masking.ts';
import { actsOnlyForSelf } from './roles.ts';

/**
 * Gateway event features.summary -> stored for the session report (replaces an earlier summary).
 * A payload that does not match the shared schema is not stored (returns the issues): the report
 * shows only what the gateway measured.
 */
export async function storeFeaturesSummary(db: DbLike, sessionId: string, summary: unknown): Promise<{ stored: boolean; issues?: string[] }> {
  const parsed = FeaturesSummary.safeParse(summary);
  if (!parsed.success) return { stored: false, issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) };
  const d = asDb(db);
  const tenantId = await sessionTenant(d, sessionId);
  if (!tenantId) throw new AppError('NOT_FOUND', 'no such session');
  await withTenant(d, tenantId, (tx) => tx`insert into session_features (session_id, tenant_id, summary)
    values (${sessionId}, ${tenantId}, ${tx.json(parsed.data as never)})
    on conflict (session_id) do update set summary = excluded.summary, received_at = now()`);
  return { stored: true };
}

interface ReportRow {
  id: string; status: string; provider: string; transport: string; participants: string[]; purposes: string[];
  created_at: Date; started_at: Date | null; ended_at: Date | null; end_reason: string | null;
  billed_ms: string; cost_micro: string; segments: number; recordings: number;
  postcall_provider: string | null; postcall_at: Date | null; features: unknown;
}

/** One query for the report and the CSV: sessions with their ledger and content aggregates. */
function reportQuery(tx: import('../db/client.ts').Tx, tenantId: string, where: import('postgres').PendingQuery<import('postgres').Row[]>) {
  return tx<ReportRow[]>`
    select s.id, s.status, s.provider, s.transport, s.participants, s.purposes, s.created_at, s.started_at, s.ended_at, s.end_reason,
      coalesce((select sum(l.billed_ms) from credit_ledger l where l.tenant_id = s.tenant_id and l.session_id = s.id and l.kind = 'usage'), 0)::text as billed_ms,
      coalesce((select -sum(l.amount_micro) from credit_ledger l where l.tenant_id = s.tenant_id and l.session_id = s.id and l.kind = 'usage'), 0)::text as cost_micro,
      (select count(*)::int from transcript_segments x where x.tenant_id = s.tenant_id and x.session_id = s.id) as segments,
      (select count(*)::int from recordings x where x.tenant_id = s.tenant_id and x.session_id = s.id) as recordings,
      pc.provider as postcall_provider, pc.received_at as postcall_at, f.summary as features
    from sessions s
      left join session_postcall pc on pc.tenant_id = s.tenant_id and pc.session_id = s.id
      left join session_features f on f.tenant_id = s.tenant_id and f.session_id = s.id
    where s.tenant_id = ${tenantId} ${where}`;
}

function durationS(r: Pick<ReportRow, 'started_at' | 'ended_at'>): number | null {
  if (!r.started_at) return null;
  const end = r.ended_at ?? new Date();
  return Math.max(0, (end.getTime() - r.started_at.getTime()) / 1000);
}

function reportView(r: ReportRow, mask: (s: string) => string) {
  return {
    session_id: r.id, status: r.status, provider: r.provider, transport: r.transport,
    created_at: r.created_at.toISOString(), started_at: r.started_at?.toISOString() ?? null, ended_at: r.ended_at?.toISOString() ?? null,
    end_reason: r.end_reason, duration_s: durationS(r), billed_seconds: Number(r.billed_ms) / 1000, cost_micro: Number(r.cost_micro),
    participants: r.participants.map(mask), consent_snapshot: r.purposes,
    transcript: { stored: r.purposes.includes('transcript_storage'), segments: r.segments },
    recordings: r.recordings,
    post_call: { available: r.postcall_at !== null, provider: r.postcall_provider, received_at: r.postcall_at?.toISOString() ?? null },
    features: (r.features ?? null) as FeaturesSummary | null,
  };
}

export async function sessionReport(db: Db, p: Principal, sessionId: string) {
  return withTenant(db, p.tenantId, async (tx) => {
    const own = actsOnlyForSelf(p) && p.kind === 'user' ? tx`and s.created_by = ${p.userId}` : tx``;
    const [r] = await reportQuery(tx, p.tenantId, tx`and s.id = ${sessionId} ${own}`);
    if (!r) throw new AppError('NOT_FOUND', 'no such session');
    return reportView(r, maskerFor(p));
  });
}

export async function usageReport(db: Db, p: Principal, q: { from?: string; to?: string; group_by: 'day' | 'provider' | 'participant' }) {
  const mask = maskerFor(p);
  const rows = await withTenant(db, p.tenantId, (tx) => {
    const range = tx`${q.from ? tx`and l.created_at >= ${q.from}` : tx``} ${q.to ? tx`and l.created_at < ${q.to}` : tx``}`;
    const key = q.group_by === 'day' ? tx`to_char(date_trunc('day', l.created_at at time zone 'UTC'), 'YYYY-MM-DD')`
      : q.group_by === 'provider' ? tx`l.provider` : tx`pt.participant`;
    // by participant: a multi-participant session's usage counts in full for each participant
    const join = q.group_by === 'participant' ? tx`join sessions s on s.tenant_id = l.tenant_id and s.id = l.session_id cross join unnest(s.participants) as pt(participant)` : tx``;
    return tx<{ key: string; sessions: number; billed_ms: string; cost_micro: string }[]>`
      select ${key} as key, count(distinct l.session_id)::int as sessions, coalesce(sum(l.billed_ms), 0)::text as billed_ms,
             coalesce(-sum(l.amount_micro), 0)::text as cost_micro
      from credit_ledger l ${join}
      where l.tenant_id = ${p.tenantId} and l.kind = 'usage' ${range}
      group by 1 order by 1`;
  });
  const data = rows.map((r) => ({ key: q.group_by === 'participant' ? mask(r.key) : r.key, sessions: r.sessions, billed_seconds: Number(r.billed_ms) / 1000, cost_micro: Number(r.cost_micro) }));
  const totals = await withTenant(db, p.tenantId, (tx) => tx<{ sessions: number; billed_ms: string; cost_micro: string }[]>`
    select count(distinct l.session_id)::int as sessions, coalesce(sum(l.billed_ms), 0)::text as billed_ms, coalesce(-sum(l.amount_micro), 0)::text as cost_micro
    from credit_ledger l where l.tenant_id = ${p.tenantId} and l.kind = 'usage'
      ${q.from ? tx`and l.created_at >= ${q.from}` : tx``} ${q.to ? tx`and l.created_at < ${q.to}` : tx``}`);
  const t = totals[0]!;
  return {
    from: q.from ?? null, to: q.to ?? null, group_by: q.group_by, data,
    total: { sessions: t.sessions, billed_seconds: Number(t.billed_ms) / 1000, cost_micro: Number(t.cost_micro) },
  };
}

export const CSV_COLUMNS = [
  'session_id', 'status', 'provider', 'transport', 'created_at', 'started_at', 'ended_at', 'end_reason', 'duration_s', 'billed_seconds',
  'cost_micro', 'participants', 'consent_snapshot', 'transcript_stored', 'transcript_segments', 'recordings', 'post_call_available', 'features_available',
] as const;

/** RFC 4180 field; also defuses spreadsheet formulas (a leading = + - @ gets a quote prefix). */
export function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  let s = String(v);
  if (/^[=+\-@\t\r]/.test(s) && typeof v === 'string') s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function drainOrClose(s: PassThrough): Promise<void> {
  return new Promise((resolve) => {
    const done = () => { s.off('drain', done); s.off('close', done); resolve(); };
    s.once('drain', done);
    s.once('close', done); // a client that hung up must not hold the transaction open
  });
}

/**
 * The sessions CSV as a stream: rows are read with a server-side cursor in pages of 200 and written
 * with backpressure, so memory stays flat however many sessions the tenant has.
 */
export function sessionsCsv(db: Db, p: Principal, q: { from?: string; to?: string }, log?: Logger): PassThrough {
  const out = new PassThrough();
  const mask = maskerFor(p);
  out.write(CSV_COLUMNS.join(',') + '\r\n');
  void withTenant(db, p.tenantId, async (tx) => {
    const own = actsOnlyForSelf(p) && p.kind === 'user' ? tx`and s.created_by = ${p.userId}` : tx``;
    const where = tx`${q.from ? tx`and s.created_at >= ${q.from}` : tx``} ${q.to ? tx`and s.created_at < ${q.to}` : tx``} ${own} order by s.id`;
    await reportQuery(tx, p.tenantId, where).cursor(200, async (rows) => {
      for (const r of rows) {
        if (out.destroyed) return;
        const v = reportView(r, mask);
        const line = [v.session_id, v.status, v.provider, v.transport, v.created_at, v.started_at, v.ended_at, v.end_reason, v.duration_s, v.billed_seconds,
          v.cost_micro, v.participants.join(' '), v.consent_snapshot.join(' '), v.transcript.stored, v.transcript.segments, v.recordings,
          v.post_call.available, v.features !== null].map(csvField).join(',') + '\r\n';
        if (!out.write(line)) await drainOrClose(out);
      }
    });
  }).then(() => out.end(), (err) => {
    log?.error({ err }, 'sessions CSV failed mid-stream');
    out.destroy(err as Error);
  });
  return out;
}
