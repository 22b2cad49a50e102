/**
 * Database access: one postgres.js pool per role, and the tenant transaction every tenant-owned
 * query runs in (RLS reads `app.tenant_id`, set LOCAL so it cannot leak to the next pooled use).
 */
import postgres from 'postgres';

export type Sql = postgres.Sql;
export type Tx = postgres.TransactionSql;

export interface Db {
  /** the app's pool, connected as the non-owner role RLS applies to */
  readonly sql: Sql;
  /**
   * Role to assume per transaction, when the connection cannot log in as the app role itself
   * (embedded PGlite runs every connection as its single superuser; SET LOCAL ROLE restores RLS).
   */
  readonly setRole: string | null;
}

export function createSql(url: string, max = 10): Sql {
  return postgres(url, {
    max,
    idle_timeout: 30,
    connect_timeout: 10,
    onnotice: () => {},
    transform: { undefined: null },
  }) as unknown as Sql;
}

/** Run `fn` in a transaction scoped to `tenantId`. Every tenant-owned query goes through here. */
export async function withTenant<T>(db: Db, tenantId: string, fn: (tx: Tx) => Promise<T>): Promise<T> {
  const result = await db.sql.begin((tx) => {
    const setup = db.setRole
      ? tx`select set_config('app.tenant_id', ${tenantId}, true), set_config('role', ${db.setRole}, true)`
      : tx`select set_config('app.tenant_id', ${tenantId}, true)`;
    // postgres.js queries are lazy: execute() sends this one now, so fn's first query is pipelined
    // right behind it on the same connection (run in order, RLS sees the setting) - one round trip less
    setup.execute();
    return Promise.all([setup, fn(tx)]).then((r) => r[1]);
  });
  return result as T;
}

/** Replace the credentials of a connection URL (derive the app role's URL from the owner's). */
export function withCredentials(url: string, user: string, password: string | undefined): string {
  const u = new URL(url);
  u.username = encodeURIComponent(user);
  u.password = password ? encodeURIComponent(password) : '';
  return u.toString();
}

/** Postgres SQLSTATE of an error thrown by postgres.js, if any. */
export function pgCode(e: unknown): string | undefined {
  return e && typeof e === 'object' && 'code' in e && typeof (e as { code: unknown }).code === 'string' ? (e as { code: string }).code : undefined;
}
