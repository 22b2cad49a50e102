/** /v1/calls: outbound phone calls bridged to a session (Twilio REST). */
import { CallCreate, CallView } from '../../../shared/src/api/twilio.ts';
import { actorOf } from '../types.ts';
import { placeCall } from '../services/twilio.ts';
import type { RouteBuilder } from './builder.ts';

export function callRoutes(b: RouteBuilder) {
  const r = b.router();
  const d = b.deps;
  b.route(r, {
    method: 'post', path: '/v1/calls', summary: 'Place an outbound call from a registered number; the callee must have the required consents', tag: 'telephony',
    auth: 'calls:create', body: CallCreate, response: CallView, status: 201, errors: ['CONSENT_REQUIRED', 'INSUFFICIENT_CREDIT', 'PROVIDER_ERROR'],
  }, (ctx, { body, principal }) => placeCall(d, principal, actorOf(ctx), body));
  return r;
}
