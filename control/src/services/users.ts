/** Users of a tenant: invite with a role, list, change role (audited). */
import { newId } from '../../../shared/src/ids.ts';
import { AppError } from '../../../shared/src/errors.ts';
import type { Role } from '../../../shared/src/api/common.ts';
import { withTenant, pgCode } from '../db/client.ts';
import type { ControlDeps, Actor, Principal } from '../types.ts';
import { hashPassword } from './passwords.ts';
import { appendAudit } from './audit.ts';
import { userView } from './auth.ts';
import { mayAssignRole } from './roles.ts';

type Deps = Pick<ControlDeps, 'db' | 'config'>;
interface UserRow { id: string; email: string; role: Role; created_at: Date }

export async function createUser(deps: Deps, p: Principal, actor: Actor, input: { email: string; password: string; role: Role }) {
  if (!mayAssignRole(p, input.role)) throw new AppError('FORBIDDEN', `you may not grant the ${input.role} role`);
  const hash = await hashPassword(input.password, deps.config.SCRYPT_COST);
  try {
    return await withTenant(deps.db, p.tenantId, async (tx) => {
      const [u] = await tx<UserRow[]>`insert into users (id, tenant_id, email, password_hash, role)
        values (${newId()}, ${p.tenantId}, ${input.email}, ${hash}, ${input.role}) returning id, email, role, created_at`;
      await appendAudit(tx, p.tenantId, actor, { action: 'user.role_granted', targetType: 'user', targetId: u!.id, data: { role: input.role } });
      return userView(u!);
    });
  } catch (e) {
    if (pgCode(e) === '23505') throw new AppError('CONFLICT', 'an account with this email already exists');
    throw e;
  }
}

export async function listUsers(deps: Deps, tenantId: string, actor: Actor) {
  const rows = await withTenant(deps.db, tenantId, async (tx) => {
    // emails are personal data: listing them is an audited read
    await appendAudit(tx, tenantId, actor, { action: 'user.list', targetType: 'user' });
    return tx<UserRow[]>`select id, email, role, created_at from users where tenant_id = ${tenantId} order by id`;
  });
  return rows.map(userView);
}

export async function getUser(deps: Deps, tenantId: string, userId: string, actor: Actor) {
  const [u] = await withTenant(deps.db, tenantId, async (tx) => {
    const rows = await tx<UserRow[]>`select id, email, role, created_at from users where tenant_id = ${tenantId} and id = ${userId}`;
    if (rows.length) await appendAudit(tx, tenantId, actor, { action: 'user.read', targetType: 'user', targetId: userId });
    return rows;
  });
  return u ? userView(u) : null;
}

export async function changeRole(deps: Deps, p: Principal, actor: Actor, userId: string, role: Role) {
  if (!mayAssignRole(p, role)) throw new AppError('FORBIDDEN', `you may not grant the ${role} role`);
  return withTenant(deps.db, p.tenantId, async (tx) => {
    const [cur] = await tx<UserRow[]>`select id, email, role, created_at from users where tenant_id = ${p.tenantId} and id = ${userId} for update`;
    if (!cur) throw new AppError('NOT_FOUND', 'no such user');
    if (cur.role === 'owner' && !mayAssignRole(p, 'owner')) throw new AppError('FORBIDDEN', 'only an owner may change an owner');
    if (cur.role === 'owner' && role !== 'owner') {
      const [owners] = await tx<{ n: string }[]>`select count(*) as n from users where tenant_id = ${p.tenantId} and role = 'owner' and disabled_at is null`;
      if (Number(owners!.n) <= 1) throw new AppError('CONFLICT', 'a tenant keeps at least one owner');
    }
    const [u] = await tx<UserRow[]>`update users set role = ${role} where id = ${userId} returning id, email, role, created_at`;
    await appendAudit(tx, p.tenantId, actor, { action: 'user.role_changed', targetType: 'user', targetId: userId, data: { from: cur.role, to: role } });
    return userView(u!);
  });
}
