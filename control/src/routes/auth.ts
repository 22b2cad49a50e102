/** /v1/auth/*: signup, login, refresh rotation, logout; and /v1/me. */
import {
  SignupRequest, LoginRequest, RefreshRequest, LogoutRequest, TokenResponse, MeResponse,
} from '../../../shared/src/api/auth.ts';
import { AppError } from '../../../shared/src/errors.ts';
import { withTenant } from '../db/client.ts';
import { signup, login, refresh, logout, tenantView, userView } from '../services/auth.ts';
import type { RouteBuilder } from './builder.ts';

export function authRoutes(b: RouteBuilder) {
  const r = b.router();
  const d = b.deps;
  b.publicRoute(r, { method: 'post', path: '/v1/auth/signup', summary: 'Create a tenant and its owner', tag: 'auth', auth: null, rateLimited: true, body: SignupRequest, response: TokenResponse, status: 201 },
    (ctx, { body }) => signup(d, body, ctx.state.requestId));
  b.publicRoute(r, { method: 'post', path: '/v1/auth/login', summary: 'Exchange email and password for tokens', tag: 'auth', auth: null, rateLimited: true, body: LoginRequest, response: TokenResponse },
    (_ctx, { body }) => login(d, body));
  b.publicRoute(r, { method: 'post', path: '/v1/auth/refresh', summary: 'Rotate a refresh token (reuse revokes its family)', tag: 'auth', auth: null, rateLimited: true, body: RefreshRequest, response: TokenResponse },
    (ctx, { body }) => refresh(d, body.refresh_token, ctx.state.requestId));
  b.publicRoute(r, { method: 'post', path: '/v1/auth/logout', summary: 'Revoke a refresh token family', tag: 'auth', auth: null, rateLimited: true, body: LogoutRequest },
    async (_ctx, { body }) => { await logout(d, body.refresh_token); });
  b.route(r, { method: 'get', path: '/v1/me', summary: 'The caller: user or API key, tenant, permissions', tag: 'auth', auth: 'any', response: MeResponse },
    async (_ctx, { principal: p }) => withTenant(d.db, p.tenantId, async (tx) => {
      const [t] = await tx<{ id: string; name: string; created_at: Date }[]>`select id, name, created_at from tenants where id = ${p.tenantId}`;
      if (!t) throw new AppError('UNAUTHENTICATED', 'the tenant no longer exists');
      if (p.kind === 'api_key') {
        return { principal: 'api_key' as const, tenant: tenantView(t), user: null, api_key: { id: p.keyId, name: p.name }, permissions: [...p.permissions] };
      }
      const [u] = await tx<{ id: string; email: string; role: typeof p.role; created_at: Date; disabled_at: Date | null }[]>`
        select id, email, role, created_at, disabled_at from users where tenant_id = ${p.tenantId} and id = ${p.userId}`;
      if (!u || u.disabled_at) throw new AppError('UNAUTHENTICATED', 'the user no longer exists');
      return { principal: 'user' as const, tenant: tenantView(t), user: userView(u), api_key: null, permissions: [...p.permissions] };
    }));
  return r;
}
