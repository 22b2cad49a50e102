/**
 * Idempotency-Key on POST: the first request with a key runs and its response is stored; the same
 * key with the same body replays that response; the same key with another body is 422; a key whose
 * first request is still running is 409. Keys are scoped to the caller (tenant + principal).
 * Server errors are not stored, so a retry after a 5xx runs again.
 */
import type Koa from 'koa';
import { createHash } from 'node:crypto';
import { AppError } from '../../../shared/src/errors.ts';
import { withTenant, type Db } from '../db/client.ts';
import type { ControlState } from '../types.ts';

const KEY = /^[A-Za-z0-9._:-]{1,200}$/;

export function idempotency(db: Db): Koa.Middleware<ControlState> {
  return async (ctx, next) => {
    const key = ctx.get('idempotency-key');
    const p = ctx.state.principal;
    if (!key || !p || ctx.method !== 'POST') return next();
    if (!KEY.test(key)) throw new AppError('VALIDATION_FAILED', 'Idempotency-Key must be 1-200 characters of [A-Za-z0-9._:-]');
    const principal = p.kind === 'user' ? `user:${p.userId}` : `key:${p.keyId}`;
    const hash = createHash('sha256').update(ctx.method).update('\0').update(ctx.path).update('\0')
      .update(JSON.stringify(ctx.request.body ?? null)).digest('hex');

    const claimed = await withTenant(db, p.tenantId, async (tx) => {
      const ins = await tx`insert into idempotency_keys (tenant_id, principal, key, method, path, request_hash)
        values (${p.tenantId}, ${principal}, ${key}, ${ctx.method}, ${ctx.path}, ${hash}) on conflict do nothing returning key`;
      if (ins.length) return null;
      const [row] = await tx<{ request_hash: string; status: number | null; response: unknown }[]>`
        select request_hash, status, response from idempotency_keys where tenant_id = ${p.tenantId} and principal = ${principal} and key = ${key}`;
      return row ?? null;
    });
    if (claimed) {
      if (claimed.request_hash !== hash) throw new AppError('IDEMPOTENCY_KEY_REUSED');
      if (claimed.status === null) throw new AppError('CONFLICT', 'a request with this Idempotency-Key is still in progress');
      ctx.status = claimed.status;
      ctx.body = claimed.response;
      ctx.set('Idempotent-Replayed', 'true');
      return;
    }
    try {
      await next();
    } catch (e) {
      if (e instanceof AppError && e.status < 500) {
        await store(db, p.tenantId, principal, key, e.status, { error: { code: e.code, message: e.message, details: e.details ?? null, request_id: ctx.state.requestId } });
      } else {
        await release(db, p.tenantId, principal, key);
      }
      throw e;
    }
    if (ctx.status >= 500) await release(db, p.tenantId, principal, key);
    else await store(db, p.tenantId, principal, key, ctx.status, ctx.body ?? null);
  };
}

async function store(db: Db, tenantId: string, principal: string, key: string, status: number, body: unknown) {
  await withTenant(db, tenantId, (tx) => tx`update idempotency_keys set status = ${status}, response = ${tx.json(body as never)}
    where tenant_id = ${tenantId} and principal = ${principal} and key = ${key}`);
}

async function release(db: Db, tenantId: string, principal: string, key: string) {
  await withTenant(db, tenantId, (tx) => tx`delete from idempotency_keys where tenant_id = ${tenantId} and principal = ${principal} and key = ${key}`);
}
