/** /v1/consents: GDPR consents of a data subject (the caller, a user, or an external id). */
import { z } from 'zod';
import { ConsentPurpose } from '../../../shared/src/token.ts';
import { AppError } from '../../../shared/src/errors.ts';
import type { SubjectRef } from '../../../shared/src/api/common.ts';
import { GrantConsentRequest, ConsentRecord, ConsentState, ConsentSubject, SubjectQuery } from '../../../shared/src/api/consents.ts';
import { actorOf } from '../types.ts';
import { grantConsent, withdrawConsent, consentState } from '../services/consents.ts';
import type { RouteBuilder } from './builder.ts';

function purposeOf(raw: string): string {
  const r = ConsentPurpose.safeParse(raw);
  if (!r.success) throw new AppError('VALIDATION_FAILED', 'unknown consent purpose', { purpose: raw, allowed: 'voice_processing | recording | transcript_storage | provider:<name>' });
  return r.data;
}

function subjectOf(q: z.output<typeof SubjectQuery>): SubjectRef | undefined {
  if (q.external_id && q.user_id) throw new AppError('VALIDATION_FAILED', 'give external_id or user_id, not both');
  if (q.external_id) return { external_id: q.external_id };
  if (q.user_id) return { user_id: q.user_id };
  return undefined;
}

const ConsentChange = z.object({ subject: ConsentSubject, consent: ConsentRecord });

export function consentRoutes(b: RouteBuilder) {
  const r = b.router();
  const d = b.deps;
  b.route(r, { method: 'put', path: '/v1/consents/:purpose', summary: 'Grant a purpose (records version and text hash)', tag: 'consents', auth: 'consents:write', body: GrantConsentRequest, response: ConsentChange },
    (ctx, { params, body, principal }) => grantConsent(d.db, principal, actorOf(ctx), purposeOf(params.purpose!), body));
  b.route(r, {
    method: 'delete', path: '/v1/consents/:purpose', summary: 'Withdraw a purpose (terminates live sessions relying on it)', tag: 'consents',
    auth: 'consents:write', query: SubjectQuery, response: ConsentChange.extend({ terminated_sessions: z.array(z.string()) }),
  }, (ctx, { params, query, principal }) => withdrawConsent(d.db, d.bus, principal, actorOf(ctx), purposeOf(params.purpose!), subjectOf(query)));
  b.route(r, { method: 'get', path: '/v1/consents', summary: 'Current consents and history of a subject (audited read)', tag: 'consents', auth: 'consents:read', query: SubjectQuery, response: ConsentState },
    (ctx, { query, principal }) => consentState(d.db, principal, actorOf(ctx), subjectOf(query)));
  return r;
}
