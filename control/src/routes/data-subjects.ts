/** Data-subject rights: export and erasure of an external subject (tenant admins) or of the calling user. */
import { z } from 'zod';
import { AppError } from '../../../shared/src/errors.ts';
import { ErasureReport, SubjectExport } from '../../../shared/src/api/data-subjects.ts';
import { actorOf } from '../types.ts';
import { assertMayEraseSelf, eraseSubject, exportSubject } from '../services/data-subjects.ts';
import type { RouteBuilder } from './builder.ts';

const ExternalId = z.string().min(1).max(200);

function external(raw: string | undefined) {
  const r = ExternalId.safeParse(raw);
  if (!r.success) throw new AppError('NOT_FOUND', 'no such data subject');
  return { kind: 'external' as const, ref: r.data };
}

export function dataSubjectRoutes(b: RouteBuilder) {
  const r = b.router();
  const d = b.deps;
  const deps = { db: d.db, config: d.config };
  b.route(r, { method: 'get', path: '/v1/data-subjects/:external_id/export', summary: 'Everything held about an external subject, as JSON (audited)', tag: 'data-subjects', auth: 'data_subjects:manage', response: SubjectExport },
    (ctx, { params, principal }) => exportSubject(deps, principal, actorOf(ctx), external(params.external_id)));
  b.route(r, {
    method: 'delete', path: '/v1/data-subjects/:external_id', summary: 'Erase an external subject: content and profile deleted; ledger and audit kept pseudonymised', tag: 'data-subjects',
    auth: 'data_subjects:manage', response: ErasureReport,
  }, (ctx, { params, principal }) => eraseSubject(deps, principal, actorOf(ctx), external(params.external_id)));
  b.route(r, { method: 'get', path: '/v1/me/export', summary: 'Everything held about the calling user, as JSON (audited)', tag: 'data-subjects', auth: 'any', response: SubjectExport },
    (ctx, { principal }) => {
      if (principal.kind !== 'user') throw new AppError('FORBIDDEN', 'only a user has personal data to export');
      return exportSubject(deps, principal, actorOf(ctx), { kind: 'user', ref: principal.userId });
    });
  b.route(r, { method: 'delete', path: '/v1/me', summary: 'Erase the calling user (profile, their sessions\' content); the account is disabled', tag: 'data-subjects', auth: 'any', response: ErasureReport },
    async (ctx, { principal }) => {
      await assertMayEraseSelf(d.db, principal);
      return eraseSubject(deps, principal, actorOf(ctx), { kind: 'user', ref: (principal as { userId: string }).userId });
    });
  return r;
}
