/** Types shared by the control plane's middleware, routes and services (the single import point). */
import type Koa from 'koa';
import type { Logger } from '../../shared/src/logger.ts';
import type { CommandBus, GatewayRegistry } from '../../shared/src/bus/index.ts';
import type { SigningKey } from '../../shared/src/token.ts';
import type { Permission, Role } from '../../shared/src/api/common.ts';
import type { ControlConfig } from './config.ts';
import type { Db } from './db/client.ts';
import type { Limiters } from './middleware/rate-limit.ts';

export type Principal =
  | { kind: 'user'; tenantId: string; userId: string; role: Role; permissions: ReadonlySet<Permission> }
  | { kind: 'api_key'; tenantId: string; keyId: string; name: string; permissions: ReadonlySet<Permission> };

/** Who did something, as the audit log and consent history record it. */
export interface Actor {
  type: 'user' | 'api_key' | 'system';
  id: string | null;
  requestId: string | null;
}

export interface ControlState {
  requestId: string;
  log: Logger;
  principal?: Principal;
  /** set by koa-jwt when a valid user access token is presented */
  user?: { sub: string; tid: string; role: Role };
  jwtOriginalError?: Error;
}

export type ControlContext = Koa.ParameterizedContext<ControlState>;

export interface ControlDeps {
  config: Readonly<ControlConfig>;
  db: Db;
  bus: CommandBus;
  logger: Logger;
  signingKey: SigningKey;
  jwtSecret: Uint8Array;
  limiters: Limiters;
  /** gateway pod registry for GET /v1/ops/gateways (absent: the route answers 503) */
  registry?: GatewayRegistry;
}

export function actorOf(ctx: ControlContext): Actor {
  const p = ctx.state.principal;
  if (!p) return { type: 'system', id: null, requestId: ctx.state.requestId };
  return p.kind === 'user'
    ? { type: 'user', id: p.userId, requestId: ctx.state.requestId }
    : { type: 'api_key', id: p.keyId, requestId: ctx.state.requestId };
}
