/**
 * Who is calling: a user access token (HS256 JWT verified by koa-jwt) or an API key (`sk_...`,
 * looked up on every request so revocation is immediate). Both become a `Principal`.
 */
import type Koa from 'koa';
import { createSecretKey } from 'node:crypto';
import koaJwt from 'koa-jwt';
import { AppError } from '../../../shared/src/errors.ts';
import type { Role } from '../../../shared/src/api/common.ts';
import type { ControlDeps, ControlState } from '../types.ts';
import { ACCESS_AUDIENCE, ACCESS_ISSUER } from '../services/access-tokens.ts';
import { API_KEY_PREFIX, authenticateApiKey } from '../services/api-keys.ts';
import { permissionsOf } from '../services/roles.ts';
import { consumePoint } from './rate-limit.ts';

function bearer(ctx: Koa.Context): string | null {
  const h = ctx.get('authorization');
  if (!h) return null;
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  if (!m) throw new AppError('UNAUTHENTICATED', 'use Authorization: Bearer <token>');
  return m[1]!;
}

export function requireAuth(deps: Pick<ControlDeps, 'db' | 'jwtSecret' | 'limiters'>): Koa.Middleware<ControlState> {
  const jwt = koaJwt({
    // a KeyObject: jsonwebtoken otherwise tries createPublicKey (and throws) on every verification
    secret: createSecretKey(Buffer.from(deps.jwtSecret)) as unknown as Buffer,
    key: 'user',
    passthrough: true,
    audience: ACCESS_AUDIENCE,
    issuer: ACCESS_ISSUER,
    algorithms: ['HS256'],
    getToken: (ctx) => {
      const t = bearer(ctx as Koa.Context);
      return t && !t.startsWith(API_KEY_PREFIX) ? t : null;
    },
  }) as unknown as Koa.Middleware<ControlState>;

  const resolve: Koa.Middleware<ControlState> = async (ctx, next) => {
    const token = bearer(ctx as unknown as Koa.Context);
    if (!token) throw new AppError('UNAUTHENTICATED');
    if (token.startsWith(API_KEY_PREFIX)) {
      const p = await authenticateApiKey(deps.db, token);
      if (!p || p.kind !== 'api_key') throw new AppError('UNAUTHENTICATED', 'unknown or revoked API key');
      await consumePoint(ctx, deps.limiters.apiKey, p.keyId);
      ctx.state.principal = p;
    } else {
      const u = ctx.state.user;
      if (!u) {
        const name = (ctx.state.jwtOriginalError as { name?: string } | undefined)?.name;
        throw new AppError(name === 'TokenExpiredError' ? 'TOKEN_EXPIRED' : 'TOKEN_INVALID');
      }
      const role = u.role as Role;
      ctx.state.principal = { kind: 'user', tenantId: u.tid, userId: u.sub, role, permissions: permissionsOf(role) };
    }
    ctx.state.log = ctx.state.log.child({ tenant: ctx.state.principal.tenantId });
    await next();
  };
  return (ctx, next) => {
    // API keys skip koa-jwt: it would try the key as a JWT (its resolvers fall back to the
    // Authorization header) and build a rejected AggregateError with stack traces per request
    const token = bearer(ctx as unknown as Koa.Context);
    if (token?.startsWith(API_KEY_PREFIX)) return resolve(ctx, next);
    return jwt(ctx, () => resolve(ctx, next));
  };
}
