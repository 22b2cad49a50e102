import { z } from 'zod';
import { Id, Timestamp } from './common.ts';

export const AuditEntry = z.object({
  id: Id,
  seq: z.number().int(),
  created_at: Timestamp,
  actor_type: z.enum(['user', 'api_key', 'system']),
  actor_id: z.string().nullable(),
  action: z.string(),
  target_type: z.string().nullable(),
  target_id: z.string().nullable(),
  request_id: z.string().nullable(),
  data: z.unknown(),
  hash: z.string(),
});
export const AuditList = z.object({ data: z.array(AuditEntry), next_cursor: z.string().nullable() });

export const AuditVerifyResponse = z.object({
  ok: z.boolean(),
  checked: z.number().int(),
  first_broken: z.object({ seq: z.number().int(), id: Id, reason: z.enum(['hash_mismatch', 'chain_broken', 'seq_gap']) }).nullable(),
});
