/** /v1/twilio/voice and /v1/twilio/status: Twilio's signed, form-encoded webhooks (answer TwiML / 204). */
import { readRawBody } from './raw-body.ts';
import { callStatus, inboundCall, parseForm, verifyTwilioSignature } from '../services/twilio.ts';
import type { RouteBuilder } from './builder.ts';

const FORM_LIMIT = 64 * 1024;

export function twilioRoutes(b: RouteBuilder) {
  const r = b.router();
  const d = b.deps;
  b.publicRoute(r, {
    method: 'post', path: '/v1/twilio/voice', auth: null, tag: 'telephony', errors: ['SIGNATURE_INVALID'],
    summary: 'Twilio inbound-call webhook (application/x-www-form-urlencoded, X-Twilio-Signature): answers TwiML <Connect><Stream> with the session token as a <Parameter>',
  }, async (ctx) => {
    const params = parseForm((await readRawBody(ctx as never, FORM_LIMIT)).toString('utf8'));
    verifyTwilioSignature(d.config, ctx.get('x-twilio-signature') || undefined, ctx.originalUrl, params);
    ctx.type = 'text/xml';
    ctx.body = await inboundCall(d, params);
    return undefined;
  });
  b.publicRoute(r, {
    method: 'post', path: '/v1/twilio/status', auth: null, tag: 'telephony', errors: ['SIGNATURE_INVALID'],
    summary: 'Twilio call / stream status callback (form-encoded, signed): updates the call leg and ends the session when the call ends',
  }, async (ctx) => {
    const params = parseForm((await readRawBody(ctx as never, FORM_LIMIT)).toString('utf8'));
    verifyTwilioSignature(d.config, ctx.get('x-twilio-signature') || undefined, ctx.originalUrl, params);
    await callStatus(d.db, params);
    return undefined;
  });
  return r;
}
