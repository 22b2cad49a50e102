/** /v1/audit: read and verify the tenant's tamper-evident audit log. */
import { z } from 'zod';
import { AuditList, AuditVerifyResponse } from '../../../shared/src/api/audit.ts';
import { withTenant } from '../db/client.ts';
import { listAudit, verifyAudit } from '../services/audit.ts';
import type { RouteBuilder } from './builder.ts';

const AuditQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().regex(/^\d{1,18}$/).optional(),
});

export function auditRoutes(b: RouteBuilder) {
  const r = b.router();
  const d = b.deps;
  b.route(r, { method: 'get', path: '/v1/audit', summary: 'Audit entries, newest first', tag: 'audit', auth: 'audit:read', query: AuditQuery, response: AuditList },
    (_ctx, { query, principal }) => withTenant(d.db, principal.tenantId, (tx) =>
      listAudit(tx, principal.tenantId, { limit: query.limit, cursor: query.cursor ? Number(query.cursor) : undefined })));
  b.route(r, { method: 'get', path: '/v1/audit/verify', summary: 'Verify the hash chain; reports the first broken link', tag: 'audit', auth: 'audit:read', response: AuditVerifyResponse },
    (_ctx, { principal }) => withTenant(d.db, principal.tenantId, (tx) => verifyAudit(tx, principal.tenantId)));
  return r;
}
