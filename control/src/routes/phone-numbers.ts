/** /v1/phone-numbers: the tenant's Twilio numbers with provider, agent config and consent policy. */
import { PhoneNumberCreate, PhoneNumberList, PhoneNumberUpdate, PhoneNumberView } from '../../../shared/src/api/twilio.ts';
import { actorOf } from '../types.ts';
import { createPhoneNumber, deletePhoneNumber, getPhoneNumber, listPhoneNumbers, updatePhoneNumber } from '../services/twilio.ts';
import type { RouteBuilder } from './builder.ts';

export function phoneNumberRoutes(b: RouteBuilder) {
  const r = b.router();
  const d = b.deps;
  b.route(r, { method: 'post', path: '/v1/phone-numbers', summary: 'Register a number (unique across tenants)', tag: 'telephony', auth: 'telephony:manage', body: PhoneNumberCreate, response: PhoneNumberView, status: 201 },
    (ctx, { body, principal }) => createPhoneNumber(d.db, principal, actorOf(ctx), body));
  b.route(r, { method: 'get', path: '/v1/phone-numbers', summary: 'List the tenant\'s numbers', tag: 'telephony', auth: 'telephony:manage', response: PhoneNumberList },
    (_ctx, { principal }) => listPhoneNumbers(d.db, principal));
  b.route(r, { method: 'get', path: '/v1/phone-numbers/:id', summary: 'One number', tag: 'telephony', auth: 'telephony:manage', response: PhoneNumberView },
    (_ctx, { params, principal }) => getPhoneNumber(d.db, principal, params.id!));
  b.route(r, { method: 'patch', path: '/v1/phone-numbers/:id', summary: 'Change a number\'s provider, agent or consent policy', tag: 'telephony', auth: 'telephony:manage', body: PhoneNumberUpdate, response: PhoneNumberView },
    (ctx, { params, body, principal }) => updatePhoneNumber(d.db, principal, actorOf(ctx), params.id!, body));
  b.route(r, { method: 'delete', path: '/v1/phone-numbers/:id', summary: 'Remove a number', tag: 'telephony', auth: 'telephony:manage' },
    async (ctx, { params, principal }) => { await deletePhoneNumber(d.db, principal, actorOf(ctx), params.id!); return undefined; });
  return r;
}
