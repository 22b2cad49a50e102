/**
 * Append-only, tamper-evident audit log. The hash chain is computed in the database
 * (audit_append / audit_first_broken in migration 001) so writer and verifier share one definition.
 */
import { newId } from '../../../shared/src/ids.ts';
import type { Tx } from '../db/client.ts';
import type { Actor } from '../types.ts';

export interface AuditInput {
  action: string;
  targetType?: string | null;
  targetId?: string | null;
  data?: Record<string, unknown>;
}

/** Append one entry in the caller's tenant transaction (so it commits or rolls back with the change). */
export async function appendAudit(tx: Tx, tenantId: string, actor: Actor, e: AuditInput): Promise<void> {
  await tx`select audit_append(${newId()}, ${tenantId}, ${actor.type}, ${actor.id}, ${e.action},
    ${e.targetType ?? null}, ${e.targetId ?? null}, ${actor.requestId}, ${tx.json((e.data ?? {}) as never)})`;
}

export interface AuditRow {
  id: string; seq: string; created_at: Date; actor_type: 'user' | 'api_key' | 'system'; actor_id: string | null;
  action: string; target_type: string | null; target_id: string | null; request_id: string | null; data: unknown; hash: string;
}

export async function listAudit(tx: Tx, tenantId: string, opts: { limit: number; cursor?: number }) {
  const rows = await tx<AuditRow[]>`
    select id, seq, created_at, actor_type, actor_id, action, target_type, target_id, request_id, data, hash
    from audit_log where tenant_id = ${tenantId} ${opts.cursor !== undefined ? tx`and seq < ${opts.cursor}` : tx``}
    order by seq desc limit ${opts.limit + 1}`;
  const page = rows.slice(0, opts.limit);
  return {
    data: page.map((r) => ({ ...r, seq: Number(r.seq), created_at: r.created_at.toISOString() })),
    next_cursor: rows.length > opts.limit ? String(page[page.length - 1]!.seq) : null,
  };
}

export async function verifyAudit(tx: Tx, tenantId: string) {
  const [count] = await tx<{ n: string }[]>`select count(*) as n from audit_log where tenant_id = ${tenantId}`;
  const [broken] = await tx<{ broken_seq: string; broken_id: string; reason: 'hash_mismatch' | 'chain_broken' | 'seq_gap' }[]>`
    select broken_seq, broken_id, reason from audit_first_broken(${tenantId})`;
  return {
    ok: !broken,
    checked: Number(count!.n),
    first_broken: broken ? { seq: Number(broken.broken_seq), id: broken.broken_id, reason: broken.reason } : null,
  };
}
