/**
 * Signup, login, refresh rotation and logout. Refresh tokens are random, stored as sha256, single
 * use, and grouped in a family per login: presenting a spent one revokes the whole family (the
 * token was stolen or replayed).
 */
import { newId, randomToken } from '../../../shared/src/ids.ts';
import { AppError } from '../../../shared/src/errors.ts';
import type { Role } from '../../../shared/src/api/common.ts';
import type { TokenResponse, UserView, TenantView } from '../../../shared/src/api/auth.ts';
import { withTenant, pgCode, type Tx } from '../db/client.ts';
import type { ControlDeps, Actor } from '../types.ts';
import { hashPassword, verifyPassword, dummyHash } from './passwords.ts';
import { mintAccessToken } from './access-tokens.ts';
import { sha256Hex } from './secrets.ts';
import { appendAudit } from './audit.ts';

type Deps = Pick<ControlDeps, 'db' | 'config' | 'jwtSecret'>;

interface UserRow { id: string; email: string; role: Role; created_at: Date }
interface TenantRow { id: string; name: string; created_at: Date }

export function userView(u: UserRow): UserView {
  return { id: u.id, email: u.email, role: u.role, created_at: u.created_at.toISOString() };
}
export function tenantView(t: TenantRow): TenantView {
  return { id: t.id, name: t.name, created_at: t.created_at.toISOString() };
}

async function issueRefresh(tx: Tx, deps: Deps, tenantId: string, userId: string, familyId: string): Promise<string> {
  const token = `rt_${randomToken(32)}`;
  await tx`insert into refresh_tokens (id, tenant_id, user_id, family_id, token_hash, expires_at)
    values (${newId()}, ${tenantId}, ${userId}, ${familyId}, ${sha256Hex(token)},
            now() + make_interval(secs => ${deps.config.REFRESH_TOKEN_TTL_S}))`;
  return token;
}

async function tokenResponse(tx: Tx, deps: Deps, user: UserRow, tenantId: string, familyId: string): Promise<TokenResponse> {
  const [tenant] = await tx<TenantRow[]>`select id, name, created_at from tenants where id = ${tenantId}`;
  const refresh = await issueRefresh(tx, deps, tenantId, user.id, familyId);
  const access = await mintAccessToken(deps.jwtSecret, { sub: user.id, tid: tenantId, role: user.role }, deps.config.ACCESS_TOKEN_TTL_S);
  return {
    token_type: 'Bearer', access_token: access, expires_in: deps.config.ACCESS_TOKEN_TTL_S, refresh_token: refresh,
    user: userView(user), tenant: tenantView(tenant!),
  };
}

export async function signup(deps: Deps, input: { email: string; password: string; tenant_name: string }, requestId: string): Promise<TokenResponse> {
  const hash = await hashPassword(input.password, deps.config.SCRYPT_COST);
  const tenantId = newId();
  const userId = newId();
  try {
    return await withTenant(deps.db, tenantId, async (tx) => {
      await tx`insert into tenants (id, name) values (${tenantId}, ${input.tenant_name})`;
      const [user] = await tx<UserRow[]>`insert into users (id, tenant_id, email, password_hash, role)
        values (${userId}, ${tenantId}, ${input.email}, ${hash}, 'owner') returning id, email, role, created_at`;
      const actor: Actor = { type: 'user', id: userId, requestId };
      await appendAudit(tx, tenantId, actor, { action: 'tenant.created', targetType: 'tenant', targetId: tenantId });
      await appendAudit(tx, tenantId, actor, { action: 'user.role_granted', targetType: 'user', targetId: userId, data: { role: 'owner' } });
      return tokenResponse(tx, deps, user!, tenantId, newId());
    });
  } catch (e) {
    if (pgCode(e) === '23505') throw new AppError('CONFLICT', 'an account with this email already exists');
    throw e;
  }
}

let dummy: Promise<string> | null = null;

export async function login(deps: Deps, input: { email: string; password: string }): Promise<TokenResponse> {
  const [found] = await deps.db.sql<{ user_id: string; user_tenant_id: string; user_password_hash: string; user_role: Role; user_disabled: boolean }[]>`
    select * from auth_find_user(${input.email})`;
  if (!found) {
    // same work as a wrong password, so response time does not reveal which emails exist
    await verifyPassword(input.password, await (dummy ??= dummyHash(deps.config.SCRYPT_COST)));
    throw new AppError('INVALID_CREDENTIALS');
  }
  const ok = await verifyPassword(input.password, found.user_password_hash);
  if (!ok || found.user_disabled) throw new AppError('INVALID_CREDENTIALS');
  return withTenant(deps.db, found.user_tenant_id, async (tx) => {
    const [user] = await tx<UserRow[]>`select id, email, role, created_at from users where id = ${found.user_id}`;
    return tokenResponse(tx, deps, user!, found.user_tenant_id, newId());
  });
}

interface RefreshLookup {
  rt_id: string; rt_tenant_id: string; rt_user_id: string; rt_family_id: string;
  rt_expires_at: Date; rt_used_at: Date | null; rt_revoked_at: Date | null;
}

async function findRefresh(deps: Deps, token: string): Promise<RefreshLookup> {
  const [rt] = await deps.db.sql<RefreshLookup[]>`select * from auth_find_refresh_token(${sha256Hex(token)})`;
  if (!rt) throw new AppError('TOKEN_INVALID', 'unknown refresh token');
  return rt;
}

export async function refresh(deps: Deps, token: string, requestId: string): Promise<TokenResponse> {
  const rt = await findRefresh(deps, token);
  const outcome = await withTenant(deps.db, rt.rt_tenant_id, async (tx) => {
    // the conditional update is the single-use guard: of two concurrent refreshes only one wins
    const spent = await tx`update refresh_tokens set used_at = now()
      where id = ${rt.rt_id} and used_at is null and revoked_at is null and expires_at > now() returning id`;
    if (spent.length === 0) {
      const [cur] = await tx<{ used_at: Date | null; revoked_at: Date | null }[]>`select used_at, revoked_at from refresh_tokens where id = ${rt.rt_id}`;
      if (cur?.used_at) {
        await tx`update refresh_tokens set revoked_at = now() where family_id = ${rt.rt_family_id} and revoked_at is null`;
        await appendAudit(tx, rt.rt_tenant_id, { type: 'system', id: null, requestId }, {
          action: 'auth.refresh_reuse_detected', targetType: 'user', targetId: rt.rt_user_id, data: { family_id: rt.rt_family_id },
        });
        return 'reused' as const;
      }
      return cur?.revoked_at ? ('revoked' as const) : ('expired' as const);
    }
    const [user] = await tx<(UserRow & { disabled_at: Date | null })[]>`select id, email, role, created_at, disabled_at from users where id = ${rt.rt_user_id}`;
    if (!user || user.disabled_at) return 'revoked' as const;
    return tokenResponse(tx, deps, user, rt.rt_tenant_id, rt.rt_family_id);
  });
  if (outcome === 'reused') throw new AppError('REFRESH_TOKEN_REUSED');
  if (outcome === 'revoked') throw new AppError('TOKEN_INVALID', 'this refresh token was revoked');
  if (outcome === 'expired') throw new AppError('TOKEN_EXPIRED', 'this refresh token has expired');
  return outcome;
}

/** Revoke the token's whole family (this login on this device). Unknown tokens are a no-op. */
export async function logout(deps: Deps, token: string): Promise<void> {
  const [rt] = await deps.db.sql<RefreshLookup[]>`select * from auth_find_refresh_token(${sha256Hex(token)})`;
  if (!rt) return;
  await withTenant(deps.db, rt.rt_tenant_id, (tx) =>
    tx`update refresh_tokens set revoked_at = now() where family_id = ${rt.rt_family_id} and revoked_at is null`);
}
