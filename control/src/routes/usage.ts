/** /v1/usage: billed time and cost from the ledger, grouped by day, provider or participant. */
import { UsageQuery, UsageReport } from '../../../shared/src/api/billing.ts';
import { usageReport } from '../services/reports.ts';
import type { RouteBuilder } from './builder.ts';

export function usageRoutes(b: RouteBuilder) {
  const r = b.router();
  const d = b.deps;
  b.route(r, {
    method: 'get', path: '/v1/usage', summary: 'Usage (billed seconds, cost, sessions) grouped by day | provider | participant; participants masked without personal_data:read',
    tag: 'reports', auth: 'reports:read', query: UsageQuery, response: UsageReport,
  }, (_ctx, { query, principal }) => usageReport(d.db, principal, query));
  return r;
}
