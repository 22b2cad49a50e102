/** Liveness, readiness (database reachable, migrations applied) and the JWKS the gateway trusts. */
import { z } from 'zod';
import { AppError } from '../../../shared/src/errors.ts';
import { jwksOf } from '../../../shared/src/token.ts';
import type { RouteBuilder } from './builder.ts';
import { latestMigrationVersion } from '../db/migrate.ts';

export function healthRoutes(b: RouteBuilder) {
  const r = b.router();
  let latest: number | null = null;
  b.publicRoute(r, { method: 'get', path: '/healthz', summary: 'Liveness', tag: 'ops', auth: null, response: z.object({ ok: z.boolean() }) },
    async () => ({ ok: true }));
  b.publicRoute(r, {
    method: 'get', path: '/readyz', summary: 'Readiness: database reachable and migrated', tag: 'ops', auth: null,
    response: z.object({ ready: z.boolean(), migration: z.number() }),
  }, async () => {
    latest ??= await latestMigrationVersion();
    let version = -1;
    try {
      const [row] = await b.deps.db.sql<{ v: number | null }[]>`select max(version) as v from schema_migrations`;
      version = row?.v ?? -1;
    } catch {
      throw new AppError('UNAVAILABLE', 'the database is not reachable');
    }
    if (version < latest) throw new AppError('UNAVAILABLE', 'migrations are not applied');
    return { ready: true, migration: version };
  });
  b.publicRoute(r, {
    method: 'get', path: '/.well-known/jwks.json', summary: 'Public keys that verify session tokens', tag: 'tokens', auth: null,
    response: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }),
  }, async (ctx) => {
    ctx.set('Cache-Control', 'public, max-age=300');
    return jwksOf(b.deps.signingKey);
  });
  return r;
}
