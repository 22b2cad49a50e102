/**
 * API keys for server-to-server apps: `sk_<random>`, shown once, stored as sha256, scoped to a
 * subset of the creator's permissions, revocable with immediate effect (looked up on every request).
 */
import { newId, randomToken } from '../../../shared/src/ids.ts';
import { AppError } from '../../../shared/src/errors.ts';
import type { Permission } from '../../../shared/src/api/common.ts';
import type { ApiKeyView } from '../../../shared/src/api/api-keys.ts';
import { withTenant, type Db } from '../db/client.ts';
import type { Actor, Principal } from '../types.ts';
import { sha256Hex } from './secrets.ts';
import { appendAudit } from './audit.ts';

export const API_KEY_PREFIX = 'sk_';

interface KeyRow {
  id: string; name: string; prefix: string; scopes: Permission[]; created_at: Date; last_used_at: Date | null; revoked_at: Date | null;
}

function view(r: KeyRow): ApiKeyView {
  return {
    id: r.id, name: r.name, prefix: r.prefix, scopes: r.scopes, created_at: r.created_at.toISOString(),
    last_used_at: r.last_used_at?.toISOString() ?? null, revoked_at: r.revoked_at?.toISOString() ?? null,
  };
}

export async function createApiKey(db: Db, p: Principal, actor: Actor, input: { name: string; scopes?: Permission[] }) {
  const scopes = input.scopes ?? [...p.permissions];
  const excess = scopes.filter((s) => !p.permissions.has(s));
  if (excess.length) throw new AppError('FORBIDDEN', 'a key may not have scopes its creator lacks', { scopes: excess });
  const secret = `${API_KEY_PREFIX}${randomToken(32)}`;
  const row = await withTenant(db, p.tenantId, async (tx) => {
    const [r] = await tx<KeyRow[]>`insert into api_keys (id, tenant_id, name, prefix, key_hash, scopes, created_by)
      values (${newId()}, ${p.tenantId}, ${input.name}, ${secret.slice(0, 11)}, ${sha256Hex(secret)}, ${[...new Set(scopes)]},
              ${p.kind === 'user' ? p.userId : null})
      returning id, name, prefix, scopes, created_at, last_used_at, revoked_at`;
    await appendAudit(tx, p.tenantId, actor, { action: 'api_key.created', targetType: 'api_key', targetId: r!.id, data: { name: input.name, scopes } });
    return r!;
  });
  return { api_key: view(row), secret };
}

export async function listApiKeys(db: Db, tenantId: string) {
  const rows = await withTenant(db, tenantId, (tx) =>
    tx<KeyRow[]>`select id, name, prefix, scopes, created_at, last_used_at, revoked_at from api_keys where tenant_id = ${tenantId} order by id`);
  return rows.map(view);
}

export async function revokeApiKey(db: Db, tenantId: string, actor: Actor, id: string) {
  return withTenant(db, tenantId, async (tx) => {
    const [cur] = await tx<KeyRow[]>`select id, revoked_at from api_keys where tenant_id = ${tenantId} and id = ${id} for update`;
    if (!cur) throw new AppError('NOT_FOUND', 'no such API key');
    if (cur.revoked_at) throw new AppError('CONFLICT', 'this API key is already revoked');
    const [r] = await tx<KeyRow[]>`update api_keys set revoked_at = now() where id = ${id}
      returning id, name, prefix, scopes, created_at, last_used_at, revoked_at`;
    await appendAudit(tx, tenantId, actor, { action: 'api_key.revoked', targetType: 'api_key', targetId: id });
    return view(r!);
  });
}

/** Resolve a presented key (null when unknown or revoked). One indexed lookup per request. */
export async function authenticateApiKey(db: Db, secret: string): Promise<Principal | null> {
  const [k] = await db.sql<{ key_id: string; key_tenant_id: string; key_name: string; key_scopes: Permission[] }[]>`
    select * from auth_use_api_key(${sha256Hex(secret)})`;
  if (!k) return null;
  return { kind: 'api_key', tenantId: k.key_tenant_id, keyId: k.key_id, name: k.key_name, permissions: new Set(k.key_scopes) };
}
