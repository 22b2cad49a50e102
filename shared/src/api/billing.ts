/** Billing: credit ledger, balance, prices, usage. Amounts are integer micro-credits (1 credit = 1,000,000). */
import { z } from 'zod';
import { Id, Timestamp } from './common.ts';

/** JSON integers stay exact up to 2^53; balances and amounts are bounded well below that. */
export const Micro = z.number().int().min(-Number.MAX_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER);

export const LEDGER_KINDS = ['grant', 'purchase', 'usage', 'refund', 'adjustment'] as const;
export const LedgerKind = z.enum(LEDGER_KINDS);

export const LedgerEntry = z.object({
  id: Id,
  kind: LedgerKind,
  amount_micro: Micro,
  balance_after_micro: Micro,
  session_id: Id.nullable(),
  event_id: z.string().nullable(),
  provider: z.string().nullable(),
  billed_ms: z.number().int().nullable(),
  price_micro_per_s: Micro.nullable(),
  actor_type: z.string(),
  actor_id: z.string().nullable(),
  note: z.string().nullable(),
  created_at: Timestamp,
});
export const LedgerList = z.object({ data: z.array(LedgerEntry), next_cursor: z.string().nullable() });
export const LedgerQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: Id.optional(),
  kind: LedgerKind.optional(),
  session_id: Id.optional(),
});

export const BalanceView = z.object({ balance_micro: Micro, credits: z.string(), updated_at: Timestamp });

export const GrantRequest = z.object({
  /** grant (free credit), purchase, refund: positive; adjustment: either sign */
  kind: z.enum(['grant', 'purchase', 'refund', 'adjustment']).default('grant'),
  amount_micro: Micro.refine((n) => n !== 0, 'must not be zero'),
  note: z.string().max(500).optional(),
  session_id: Id.optional(),
}).strict();

export const PriceEntry = z.object({ provider: z.string(), micro_per_second: Micro, source: z.enum(['default', 'tenant']) });
export const PriceList = z.object({ data: z.array(PriceEntry) });
export const PriceUpdate = z.object({
  prices: z.array(z.object({ provider: z.string().regex(/^[a-z0-9_-]{1,40}$/), micro_per_second: z.number().int().min(0).max(1e12) }).strict()).min(1).max(50),
}).strict();

export const USAGE_GROUPS = ['day', 'provider', 'participant'] as const;
export const UsageQuery = z.object({
  from: Timestamp.optional(),
  to: Timestamp.optional(),
  group_by: z.enum(USAGE_GROUPS).default('day'),
});
export const UsageRow = z.object({ key: z.string(), sessions: z.number().int(), billed_seconds: z.number(), cost_micro: Micro });
export const UsageReport = z.object({
  from: Timestamp.nullable(),
  to: Timestamp.nullable(),
  group_by: z.enum(USAGE_GROUPS),
  data: z.array(UsageRow),
  total: UsageRow.omit({ key: true }),
});
