/**
 * Billing: an append-only credit ledger in integer micro-credits (bigint end to end), a balance row
 * updated in the same transaction as each ledger insert (its row lock serialises a tenant's writers,
 * so the cache can never drift from SUM(amount_micro)), per-provider per-second prices, admission
 * pre-authorisation, and idempotent usage debits that cut live sessions off at zero.
 *
 * Metering rule: billed time = max(provider_seconds, seconds_in, seconds_out) of a usage delta,
 * rounded to the millisecond (the provider connection is what costs money; the max never bills less
 * than any leg that actually ran). Cost = ceil(billed_ms * price_micro_per_s / 1000) micro-credits,
 * computed per usage event in integer arithmetic.
 */
import { newId } from '../../../shared/src/ids.ts';
import { AppError } from '../../../shared/src/errors.ts';
import type { CommandBus, UsageTotals } from '../../../shared/src/bus/index.ts';
import { withTenant, type Db, type Sql, type Tx } from '../db/client.ts';
import type { ControlConfig } from '../config.ts';
import type { Actor, Principal } from '../types.ts';
import { appendAudit } from './audit.ts';
import { terminateInTx } from './sessions.ts';

export const MICRO_PER_CREDIT = 1_000_000n;
const SYSTEM: Actor = { type: 'system', id: null, requestId: null };

export type DbLike = Db | Sql;
export function asDb(d: DbLike): Db {
  return typeof d === 'function' ? { sql: d, setRole: null } : d;
}

type TrialConfig = Pick<ControlConfig, 'BILLING_TRIAL_GRANT_MICRO'>;
type LedgerKind = 'grant' | 'purchase' | 'usage' | 'refund' | 'adjustment';

interface LedgerRow {
  id: string; kind: LedgerKind; amount_micro: string; balance_after_micro: string; session_id: string | null; event_id: string | null;
  provider: string | null; billed_ms: string | null; price_micro_per_s: string | null; actor_type: string; actor_id: string | null;
  note: string | null; created_at: Date;
}
const LEDGER_COLUMNS = 'id, kind, amount_micro, balance_after_micro, session_id, event_id, provider, billed_ms, price_micro_per_s, actor_type, actor_id, note, created_at';

function ledgerView(r: LedgerRow) {
  return {
    id: r.id, kind: r.kind, amount_micro: Number(r.amount_micro), balance_after_micro: Number(r.balance_after_micro), session_id: r.session_id,
    event_id: r.event_id, provider: r.provider, billed_ms: r.billed_ms === null ? null : Number(r.billed_ms),
    price_micro_per_s: r.price_micro_per_s === null ? null : Number(r.price_micro_per_s), actor_type: r.actor_type, actor_id: r.actor_id,
    note: r.note, created_at: r.created_at.toISOString(),
  };
}

/** "12.345678" for 12345678 micro-credits (exact; no floats). */
export function formatCredits(micro: bigint): string {
  const neg = micro < 0n;
  const a = neg ? -micro : micro;
  return `${neg ? '-' : ''}${a / MICRO_PER_CREDIT}.${(a % MICRO_PER_CREDIT).toString().padStart(6, '0')}`;
}

/** Billed milliseconds of one usage delta (see the metering rule above). */
export function billedMs(u: UsageTotals): bigint {
  const s = Math.max(u.provider_seconds, u.seconds_in, u.seconds_out);
  if (!Number.isFinite(s) || s < 0) throw new AppError('VALIDATION_FAILED', 'usage seconds must be finite and non-negative');
  return BigInt(Math.round(s * 1000));
}

/** ceil(ms * price / 1000): a started micro-credit is charged. */
export function costMicro(ms: bigint, pricePerS: bigint): bigint {
  return (ms * pricePerS + 999n) / 1000n;
}

/**
 * Open the tenant's credit account if it has none (with the configured trial grant, once) and return
 * the balance. Concurrent openers serialise on the primary key; exactly one inserts.
 */
export async function ensureAccount(tx: Tx, tenantId: string, config: TrialConfig): Promise<bigint> {
  const opened = await tx`insert into credit_balances (tenant_id, balance_micro) values (${tenantId}, 0)
    on conflict (tenant_id) do nothing returning tenant_id`;
  if (opened.length && config.BILLING_TRIAL_GRANT_MICRO > 0) {
    await appendLedger(tx, tenantId, SYSTEM, { kind: 'grant', amount: BigInt(config.BILLING_TRIAL_GRANT_MICRO), note: 'trial grant' });
  }
  const [b] = await tx<{ balance_micro: string }[]>`select balance_micro from credit_balances where tenant_id = ${tenantId}`;
  return BigInt(b!.balance_micro);
}

interface LedgerInput {
  kind: LedgerKind; amount: bigint; sessionId?: string | null; eventId?: string | null; provider?: string | null;
  billedMs?: bigint | null; price?: bigint | null; note?: string | null;
}

/**
 * Insert one ledger row and move the balance with it, in the caller's transaction. Locks the balance
 * row first, so a tenant's ledger writes are serial and `balance_after_micro` is exact. Returns null
 * when the event id was already applied (idempotent usage).
 */
export async function appendLedger(tx: Tx, tenantId: string, actor: Actor, e: LedgerInput, config?: TrialConfig): Promise<LedgerRow | null> {
  let [b] = await tx<{ balance_micro: string }[]>`select balance_micro from credit_balances where tenant_id = ${tenantId} for update`;
  if (!b && config) {
    await ensureAccount(tx, tenantId, config);
    [b] = await tx<{ balance_micro: string }[]>`select balance_micro from credit_balances where tenant_id = ${tenantId} for update`;
  }
  if (!b) throw new AppError('INTERNAL', 'credit account missing');
  const after = BigInt(b.balance_micro) + e.amount;
  const [row] = await tx<LedgerRow[]>`insert into credit_ledger
      (id, tenant_id, kind, amount_micro, balance_after_micro, session_id, event_id, provider, billed_ms, price_micro_per_s, actor_type, actor_id, note)
    values (${newId()}, ${tenantId}, ${e.kind}, ${e.amount.toString()}::bigint, ${after.toString()}::bigint, ${e.sessionId ?? null}, ${e.eventId ?? null},
            ${e.provider ?? null}, ${e.billedMs === undefined || e.billedMs === null ? null : e.billedMs.toString()}::bigint,
            ${e.price === undefined || e.price === null ? null : e.price.toString()}::bigint, ${actor.type}, ${actor.id}, ${e.note ?? null})
    on conflict (tenant_id, event_id) do nothing
    returning ${tx.unsafe(LEDGER_COLUMNS)}`;
  if (!row) return null;
  await tx`update credit_balances set balance_micro = ${after.toString()}::bigint, updated_at = now() where tenant_id = ${tenantId}`;
  return row;
}

/**
 * Admission: the balance must buy BILLING_MIN_PREAUTH_S seconds of the provider, and the session's
 * maximum duration is capped to what the balance buys. Runs inside createSession's transaction.
 * (Concurrent sessions are each capped by the whole balance; the zero cut-off in recordUsage bounds the overdraft.)
 */
export async function preauthorize(tx: Tx, config: Pick<ControlConfig, 'BILLING_MIN_PREAUTH_S' | 'BILLING_TRIAL_GRANT_MICRO'>,
  tenantId: string, provider: string, requestedMaxS: number): Promise<number> {
  // The price is the tenant's override, else the default (no price is refused). Price and balance come
  // in one statement, which session creation pipelines behind its consent check; the credit account
  // is opened here only on a tenant's first admission.
  const [r] = await tx<{ p: string | null; balance: string | null }[]>`select coalesce(
      (select micro_per_second from billing_prices where tenant_id = ${tenantId} and provider = ${provider}),
      (select micro_per_second from billing_default_prices where provider = ${provider})) as p,
    (select balance_micro from credit_balances where tenant_id = ${tenantId}) as balance`;
  if (r?.p === null || r?.p === undefined) throw new AppError('CONFLICT', `no price is set for provider ${provider}`);
  const price = BigInt(r.p);
  const balance = r.balance === null ? await ensureAccount(tx, tenantId, config) : BigInt(r.balance);
  if (price === 0n) return requestedMaxS;
  const affordable = balance > 0n ? balance / price : 0n;
  if (affordable < BigInt(config.BILLING_MIN_PREAUTH_S)) {
    throw new AppError('INSUFFICIENT_CREDIT', `the balance buys ${affordable} s of ${provider}; at least ${config.BILLING_MIN_PREAUTH_S} s are needed`, {
      balance_micro: Number(balance), price_micro_per_s: Number(price), min_seconds: config.BILLING_MIN_PREAUTH_S,
    });
  }
  return affordable < BigInt(requestedMaxS) ? Number(affordable) : requestedMaxS;
}

/** The tenant a session belongs to (no tenant context needed: bus events name only the session). */
export async function sessionTenant(db: DbLike, sessionId: string): Promise<string | null> {
  const [r] = await asDb(db).sql<{ t: string | null }[]>`select session_tenant(${sessionId}::uuid) as t`;
  return r?.t ?? null;
}

export interface UsageDeps {
  db: DbLike;
  bus: CommandBus;
  config: TrialConfig;
}

export interface RecordUsageResult {
  /** false when this event id was already applied (nothing debited now) */
  applied: boolean;
  debited_micro: bigint;
  billed_ms: bigint;
  balance_micro: bigint;
  /** sessions terminated now because the balance reached zero */
  terminated: string[];
}

/**
 * Debit a usage delta of a session, exactly once per `eventId` (the gateway's usage.tick event id).
 * When the balance ends at or below zero, every live session of the tenant is marked terminated and a
 * `terminate` (credit_exhausted) is published for each, after commit.
 */
export async function recordUsage(deps: UsageDeps, sessionId: string, usage: UsageTotals, eventId: string): Promise<RecordUsageResult> {
  if (!eventId) throw new AppError('VALIDATION_FAILED', 'a usage event id is required');
  const db = asDb(deps.db);
  const tenantId = await sessionTenant(db, sessionId);
  if (!tenantId) throw new AppError('NOT_FOUND', 'no such session');
  const ms = billedMs(usage);
  const result = await withTenant(db, tenantId, async (tx) => {
    // one round trip for provider and price (usage ticks are the hot path of billing)
    const [s] = await tx<{ provider: string; p: string | null }[]>`select s.provider, coalesce(
        (select micro_per_second from billing_prices bp where bp.tenant_id = s.tenant_id and bp.provider = s.provider),
        (select micro_per_second from billing_default_prices d where d.provider = s.provider)) as p
      from sessions s where s.tenant_id = ${tenantId} and s.id = ${sessionId}`;
    if (s!.p === null) throw new AppError('CONFLICT', `no price is set for provider ${s!.provider}`);
    const price = BigInt(s!.p);
    const cost = costMicro(ms, price);
    const row = await appendLedger(tx, tenantId, SYSTEM, { kind: 'usage', amount: -cost, sessionId, eventId, provider: s!.provider, billedMs: ms, price }, deps.config);
    if (!row) {
      const [b] = await tx<{ balance_micro: string }[]>`select balance_micro from credit_balances where tenant_id = ${tenantId}`;
      return { applied: false, debited_micro: 0n, billed_ms: 0n, balance_micro: BigInt(b!.balance_micro), terminated: [] as string[] };
    }
    const after = BigInt(row.balance_after_micro);
    const terminated: string[] = [];
    if (after <= 0n) {
      const live = await tx<{ id: string }[]>`select id from sessions where tenant_id = ${tenantId} and status in ('created', 'active') order by id`;
      for (const l of live) if (await terminateInTx(tx, tenantId, SYSTEM, l.id, 'credit_exhausted')) terminated.push(l.id);
    }
    return { applied: true, debited_micro: cost, billed_ms: ms, balance_micro: after, terminated };
  });
  for (const id of result.terminated) {
    await deps.bus.publish({ type: 'terminate', id: newId(), session_id: id, reason: 'credit_exhausted', ts: Date.now() });
  }
  return result;
}

// ---- API ----

export async function getBalance(db: Db, p: Principal, config: TrialConfig) {
  return withTenant(db, p.tenantId, async (tx) => {
    await ensureAccount(tx, p.tenantId, config);
    const [b] = await tx<{ balance_micro: string; updated_at: Date }[]>`select balance_micro, updated_at from credit_balances where tenant_id = ${p.tenantId}`;
    const micro = BigInt(b!.balance_micro);
    return { balance_micro: Number(micro), credits: formatCredits(micro), updated_at: b!.updated_at.toISOString() };
  });
}

export async function addCredit(db: Db, p: Principal, actor: Actor, config: TrialConfig,
  input: { kind: 'grant' | 'purchase' | 'refund' | 'adjustment'; amount_micro: number; note?: string; session_id?: string }) {
  if (input.kind !== 'adjustment' && input.amount_micro <= 0) throw new AppError('VALIDATION_FAILED', `a ${input.kind} must be positive`);
  return withTenant(db, p.tenantId, async (tx) => {
    if (input.session_id) {
      const [s] = await tx`select id from sessions where tenant_id = ${p.tenantId} and id = ${input.session_id}`;
      if (!s) throw new AppError('NOT_FOUND', 'no such session');
    }
    await ensureAccount(tx, p.tenantId, config);
    const row = await appendLedger(tx, p.tenantId, actor, { kind: input.kind, amount: BigInt(input.amount_micro), sessionId: input.session_id ?? null, note: input.note ?? null });
    await appendAudit(tx, p.tenantId, actor, { action: `billing.${input.kind}`, targetType: 'ledger', targetId: row!.id, data: { amount_micro: input.amount_micro } });
    return ledgerView(row!);
  });
}

export async function listLedger(db: Db, p: Principal, q: { limit: number; cursor?: string; kind?: LedgerKind; session_id?: string }) {
  const rows = await withTenant(db, p.tenantId, (tx) => tx<LedgerRow[]>`
    select ${tx.unsafe(LEDGER_COLUMNS)} from credit_ledger where tenant_id = ${p.tenantId}
      ${q.kind ? tx`and kind = ${q.kind}` : tx``}
      ${q.session_id ? tx`and session_id = ${q.session_id}` : tx``}
      ${q.cursor ? tx`and id < ${q.cursor}` : tx``}
    order by id desc limit ${q.limit + 1}`);
  const page = rows.slice(0, q.limit);
  return { data: page.map(ledgerView), next_cursor: rows.length > q.limit ? page[page.length - 1]!.id : null };
}

export async function listPrices(db: Db, p: Principal) {
  const rows = await withTenant(db, p.tenantId, (tx) => tx<{ provider: string; micro_per_second: string; source: 'default' | 'tenant' }[]>`
    select coalesce(t.provider, d.provider) as provider, coalesce(t.micro_per_second, d.micro_per_second) as micro_per_second,
           case when t.provider is null then 'default' else 'tenant' end as source
    from billing_default_prices d full join (select * from billing_prices where tenant_id = ${p.tenantId}) t on t.provider = d.provider
    order by 1`);
  return { data: rows.map((r) => ({ provider: r.provider, micro_per_second: Number(r.micro_per_second), source: r.source })) };
}

export async function setPrices(db: Db, p: Principal, actor: Actor, prices: Array<{ provider: string; micro_per_second: number }>) {
  await withTenant(db, p.tenantId, async (tx) => {
    for (const x of prices) {
      await tx`insert into billing_prices (tenant_id, provider, micro_per_second, updated_by)
        values (${p.tenantId}, ${x.provider}, ${x.micro_per_second}, ${actor.id})
        on conflict (tenant_id, provider) do update set micro_per_second = excluded.micro_per_second, updated_at = now(), updated_by = excluded.updated_by`;
    }
    await appendAudit(tx, p.tenantId, actor, { action: 'billing.prices_changed', targetType: 'tenant', targetId: p.tenantId, data: { prices } });
  });
  return listPrices(db, p);
}
