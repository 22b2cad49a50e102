/** /v1/sessions: create (consent-checked, returns a gateway token), list, get, terminate, participant tokens. */
import {
  CreateSessionRequest, CreateSessionResponse, SessionList, SessionListQuery, SessionTokenRequest, SessionTokenResponse, SessionView,
} from '../../../shared/src/api/sessions.ts';
import { actorOf } from '../types.ts';
import { createSession, getSession, listSessions, mintParticipantToken, terminateSession } from '../services/sessions.ts';
import type { RouteBuilder } from './builder.ts';

export function sessionRoutes(b: RouteBuilder) {
  const r = b.router();
  const d = b.deps;
  b.route(r, {
    method: 'post', path: '/v1/sessions', summary: 'Create a session: checks consents, returns the gateway URL and a token per participant',
    tag: 'sessions', auth: 'sessions:create', body: CreateSessionRequest, response: CreateSessionResponse, status: 201,
  }, (ctx, { body, principal }) => createSession(d, principal, actorOf(ctx), body));
  b.route(r, { method: 'get', path: '/v1/sessions', summary: 'List sessions (cursor pagination, filters)', tag: 'sessions', auth: 'sessions:read', query: SessionListQuery, response: SessionList },
    (ctx, { query, principal }) => listSessions(d.db, principal, actorOf(ctx), query));
  b.route(r, { method: 'get', path: '/v1/sessions/:id', summary: 'One session (audited read)', tag: 'sessions', auth: 'sessions:read', response: SessionView },
    (ctx, { params, principal }) => getSession(d.db, principal, actorOf(ctx), params.id!));
  b.route(r, { method: 'post', path: '/v1/sessions/:id/terminate', summary: 'Terminate a live session (sent to the gateway over the bus)', tag: 'sessions', auth: 'sessions:terminate', response: SessionView },
    (ctx, { params, principal }) => terminateSession(d, principal, actorOf(ctx), params.id!));
  b.route(r, {
    method: 'post', path: '/v1/sessions/:id/tokens', summary: 'Mint a fresh token for a participant the session names', tag: 'sessions',
    auth: 'sessions:create', body: SessionTokenRequest, response: SessionTokenResponse, status: 201,
  }, (_ctx, { params, body, principal }) => mintParticipantToken(d, principal, params.id!, body.participant));
  return r;
}
