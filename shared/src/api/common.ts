/** Request/response schemas of the control-plane HTTP API, shared by the server, its OpenAPI document and clients. */
import { z } from 'zod';

export const ROLES = ['owner', 'admin', 'agent', 'monitor', 'member'] as const;
export const Role = z.enum(ROLES);
export type Role = z.infer<typeof Role>;

/** Every permission the role matrix (control/src/services/roles.ts) and API key scopes speak of. */
export const PERMISSIONS = [
  'users:read', 'users:manage', 'api_keys:manage', 'audit:read', 'consents:read', 'consents:write',
  'sessions:create', 'sessions:read', 'sessions:terminate',
  'billing:read', 'billing:manage', 'reports:read', 'personal_data:read', 'transcripts:read',
  'telephony:manage', 'calls:create', 'tools:manage', 'data_subjects:manage',
] as const;
export const Permission = z.enum(PERMISSIONS);
export type Permission = z.infer<typeof Permission>;

export const Id = z.string().uuid();
export const Timestamp = z.string().datetime({ offset: true });

export const ProblemSchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.unknown(),
    request_id: z.string().nullable(),
  }),
});

/** Cursor pagination: `cursor` is the opaque `next_cursor` of the previous page. */
export const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
});

/** A data subject: a user of the tenant or an end customer the tenant names by its own id. */
export const SubjectRef = z.union([
  z.object({ external_id: z.string().min(1).max(200) }).strict(),
  z.object({ user_id: Id }).strict(),
]);
export type SubjectRef = z.infer<typeof SubjectRef>;
