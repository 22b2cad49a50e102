import { z } from 'zod';
import { Id, Permission, Timestamp } from './common.ts';

export const CreateApiKeyRequest = z.object({
  name: z.string().trim().min(1).max(100),
  /** defaults to the creator's permissions; may not exceed them */
  scopes: z.array(Permission).min(1).optional(),
}).strict();

export const ApiKeyView = z.object({
  id: Id,
  name: z.string(),
  prefix: z.string(),
  scopes: z.array(Permission),
  created_at: Timestamp,
  last_used_at: Timestamp.nullable(),
  revoked_at: Timestamp.nullable(),
});
export type ApiKeyView = z.infer<typeof ApiKeyView>;

/** `secret` is shown once, here; only its hash is stored. */
export const CreateApiKeyResponse = z.object({ api_key: ApiKeyView, secret: z.string() });
export const ApiKeyList = z.object({ data: z.array(ApiKeyView) });
