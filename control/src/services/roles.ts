/**
 * The role matrix, enforced here and nowhere else. Routes name the permission they need; API keys
 * carry a subset of their creator's permissions as scopes.
 *
 * | role    | users:read | users:manage | api_keys:manage | audit:read | consents:read/write | sessions:create | sessions:read | sessions:terminate |
 * |---------|:-:|:-:|:-:|:-:|:-:|:-:|:-:|:-:|
 * | owner   | x | x | x | x | x | x | x | x |
 * | admin   | x | x | x | x | x | x | x | x |
 * | agent   | x |   |   |   | x | x | x |   |
 * | monitor | x |   |   | x | read only | | x | x |
 * | member  |   |   |   |   | x (own)  | x | x |   |
 *
 *
 * Billing, reports and the rest (issue 4): owner and admin hold every permission; besides them
 * agent: transcripts:read, calls:create; monitor: billing:read, reports:read (personal data masked:
 * personal_data:read is owner/admin only); billing:manage, telephony:manage, tools:manage and
 * data_subjects:manage are owner/admin only.
 *
 * Only an owner may grant or change the owner role. The tarot seed's roles map as
 * superadmin -> owner, admin -> admin, reader -> agent, monitor -> monitor, client -> member.
 */
import { PERMISSIONS, type Permission, type Role } from '../../../shared/src/api/common.ts';
import { AppError } from '../../../shared/src/errors.ts';
import type { Principal } from '../types.ts';

const MATRIX: Record<Role, readonly Permission[]> = {
  owner: PERMISSIONS,
  admin: PERMISSIONS,
  agent: ['users:read', 'consents:read', 'consents:write', 'sessions:create', 'sessions:read', 'transcripts:read', 'calls:create'],
  monitor: ['users:read', 'audit:read', 'consents:read', 'sessions:read', 'sessions:terminate', 'billing:read', 'reports:read'],
  member: ['consents:read', 'consents:write', 'sessions:create', 'sessions:read'],
};

const SETS = Object.fromEntries(Object.entries(MATRIX).map(([r, p]) => [r, new Set(p)])) as unknown as Record<Role, ReadonlySet<Permission>>;

export function permissionsOf(role: Role): ReadonlySet<Permission> {
  return SETS[role];
}

export function can(p: Principal, perm: Permission): boolean {
  return p.permissions.has(perm);
}

export function requirePermission(p: Principal | undefined, perm: Permission): Principal {
  if (!p) throw new AppError('UNAUTHENTICATED');
  if (!p.permissions.has(perm)) throw new AppError('FORBIDDEN', `this needs the ${perm} permission`);
  return p;
}

/** Members act only as themselves: they may not name another data subject. */
export function actsOnlyForSelf(p: Principal): boolean {
  return p.kind === 'user' && p.role === 'member';
}

/** Whether `p` may give a user the role `target` (owners only hand out ownership). */
export function mayAssignRole(p: Principal, target: Role): boolean {
  if (!p.permissions.has('users:manage')) return false;
  return target !== 'owner' || (p.kind === 'user' && p.role === 'owner');
}
