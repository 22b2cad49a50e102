/**
 * Authenticated WebSocket upgrade. A token the verifier can check synchronously (its key is in the
 * configured JWKS or the cached copy of the control plane's) is verified and upgraded inside uWS's
 * handler; otherwise the uWS async pattern (UpgradeAsync.js): copy everything needed
 * from the request synchronously (it is stack-allocated), register onAborted, verify the token, then
 * cork(res.upgrade). Every refusal is an HTTP response with a problem JSON body carrying the catalogue
 * code; the socket is never upgraded.
 */
import type { HttpRequest, HttpResponse, us_socket_context_t } from 'uWebSockets.js';
import { ERRORS, problem, type ErrorCode } from '../../../shared/src/errors.ts';
import type { SessionClaims, TokenVerifier, TransportName, VerifyResult } from '../../../shared/src/token.ts';
import type { GatewayMetrics } from '../metrics.ts';
import type { SessionRegistry } from '../session/registry.ts';

/** browser clients cannot set headers on a WebSocket, so the token may ride in this subprotocol */
export const KEY_SUBPROTOCOL_PREFIX = 'openai-insecure-api-key.';

export interface UpgradeRequest {
  url: string;
  query: string;
  token: string | null;
  ip: string;
  secKey: string;
  /** the subprotocol to answer with ('' for none) */
  protocol: string;
  extensions: string;
}

export interface UpgradeContext {
  verifier: TokenVerifier;
  registry: SessionRegistry;
  metrics: GatewayMetrics;
  trustProxy: boolean;
  isDraining(): boolean;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict',
  413: 'Payload Too Large', 429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable',
};

export function statusLine(status: number): string {
  return `${status} ${STATUS_TEXT[status] ?? 'Error'}`;
}

/** Reads what the upgrade needs; call synchronously at the top of the upgrade handler. */
export function readUpgradeRequest(res: HttpResponse, req: HttpRequest, trustProxy: boolean): UpgradeRequest {
  const query = req.getQuery() ?? '';
  let token: string | null = null;
  const fromQuery = query ? new URLSearchParams(query).get('token') : null;
  if (fromQuery) token = fromQuery;
  const auth = req.getHeader('authorization');
  if (!token && auth.toLowerCase().startsWith('bearer ')) token = auth.slice(7).trim() || null;
  const offered = req.getHeader('sec-websocket-protocol');
  let protocol = '';
  if (offered) {
    const list = offered.split(',').map((p) => p.trim()).filter(Boolean);
    const keyProto = list.find((p) => p.startsWith(KEY_SUBPROTOCOL_PREFIX));
    if (!token && keyProto) token = keyProto.slice(KEY_SUBPROTOCOL_PREFIX.length) || null;
    // Answer with a protocol the client offered (clients fail the handshake otherwise), never echoing the key.
    protocol = list.find((p) => !p.startsWith(KEY_SUBPROTOCOL_PREFIX)) ?? '';
  }
  let ip = Buffer.from(res.getRemoteAddressAsText()).toString();
  if (trustProxy) {
    const xff = req.getHeader('x-forwarded-for');
    if (xff) ip = xff.split(',')[0]!.trim();
  }
  return {
    url: req.getUrl(),
    query,
    token,
    ip,
    secKey: req.getHeader('sec-websocket-key'),
    protocol,
    extensions: req.getHeader('sec-websocket-extensions'),
  };
}

/** Writes a problem JSON response (must run corked when outside the handler's synchronous part). */
export function writeProblem(res: HttpResponse, code: ErrorCode, message?: string, headers?: Record<string, string>): void {
  res.writeStatus(statusLine(ERRORS[code].status)).writeHeader('content-type', 'application/problem+json');
  if (headers) for (const [k, v] of Object.entries(headers)) res.writeHeader(k, v);
  res.end(JSON.stringify(problem(code, null, message)), true);
}

export interface AuthedUpgrade {
  claims: SessionClaims;
  request: UpgradeRequest;
}

/**
 * Verifies the token and admits the participant (limits, slots), then upgrades with
 * `userData(authed)`. Offline-verifiable tokens (the normal case) are settled right here, inside
 * uWS's upgrade handler; others wait for the verifier and are settled from its callback.
 */
export function upgradeWithToken<U>(
  res: HttpResponse,
  req: HttpRequest,
  context: us_socket_context_t,
  ctx: UpgradeContext,
  transport: TransportName,
  userData: (authed: AuthedUpgrade) => U,
): void {
  if (ctx.isDraining()) {
    ctx.metrics.upgradeRejections.labels('DRAINING').inc();
    writeProblem(res, 'DRAINING', undefined, { 'retry-after': '1' });
    return;
  }
  const request = readUpgradeRequest(res, req, ctx.trustProxy);
  // An upgrade from a later callback has to go through res.cork, and this uWS's cork(), once its
  // handler returns, reads the HTTP response state from the socket's memory, which the upgrade has
  // just reallocated as the WebSocket. When those bytes look like "Connection: close, response
  // done" (always for a request saying Connection: close, otherwise by chance of the user data) it
  // closes the fresh socket: the client gets its 101 and onopen, then 1006 at its first message
  // (uWebSockets #1583/#1928). Upgrading inside the handler, as uWS's own synchronous path does,
  // never goes through that code.
  const claims = ctx.verifier.verifySync(request.token);
  if (claims !== null) {
    settle(res, context, ctx, transport, request, { ok: true, claims }, userData, false);
    return;
  }
  const state = { aborted: false };
  res.onAborted(() => {
    state.aborted = true;
  });
  void finishUpgrade(res, context, ctx, transport, request, state, userData);
}

async function finishUpgrade<U>(
  res: HttpResponse,
  context: us_socket_context_t,
  ctx: UpgradeContext,
  transport: TransportName,
  request: UpgradeRequest,
  state: { aborted: boolean },
  userData: (authed: AuthedUpgrade) => U,
): Promise<void> {
  const result = await ctx.verifier.verify(request.token);
  if (state.aborted) return;
  settle(res, context, ctx, transport, request, result, userData, true);
}

/** Refuses or upgrades; `later` when outside uWS's handler, where writes must be corked. */
function settle<U>(
  res: HttpResponse,
  context: us_socket_context_t,
  ctx: UpgradeContext,
  transport: TransportName,
  request: UpgradeRequest,
  result: VerifyResult,
  userData: (authed: AuthedUpgrade) => U,
  later: boolean,
): void {
  let refusal: ErrorCode | null = null;
  let message: string | undefined;
  if (!result.ok) {
    refusal = result.reason;
    message = result.message;
  } else if (result.claims.transport !== transport) {
    refusal = 'TOKEN_CLAIMS_INVALID';
    message = `token is for transport ${result.claims.transport}, not ${transport}`;
  } else if (ctx.isDraining()) {
    refusal = 'DRAINING';
  } else {
    refusal = ctx.registry.admit(result.claims, request.ip);
    if (refusal === 'TOKEN_CLAIMS_INVALID') message = 'token subject is not one of the session participants';
  }
  if (refusal !== null || !result.ok) {
    const code = refusal ?? 'TOKEN_INVALID';
    ctx.metrics.upgradeRejections.labels(code).inc();
    const refuse = () => writeProblem(res, code, message, code === 'DRAINING' ? { 'retry-after': '1' } : undefined);
    if (later) res.cork(refuse);
    else refuse();
    return;
  }
  const authed: AuthedUpgrade = { claims: result.claims, request };
  const upgrade = () => res.upgrade(userData(authed), request.secKey, request.protocol, request.extensions, context);
  if (later) res.cork(upgrade);
  else upgrade();
}
