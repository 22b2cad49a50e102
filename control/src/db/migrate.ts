/**
 * A small versioned-SQL migration runner: files `migrations/NNN_name.sql` applied in order, each in
 * its own transaction, recorded with a checksum in `schema_migrations`. Runs as the owner/migrator
 * role. Later issues add tables by adding files; nothing else changes.
 */
import { readdir, readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Sql } from './client.ts';

export const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));
/** the role migration 001 creates and every migration grants to */
export const APP_ROLE = 'switchboard_app';
const LOCK_ID = 7_734_001; // arbitrary, constant: serialises concurrent migrators of one database

export interface Migration { version: number; name: string; sql: string; checksum: string }

export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f)).sort();
  const out: Migration[] = [];
  for (const f of files) {
    const sql = await readFile(dir + f, 'utf8');
    out.push({ version: Number(f.slice(0, 3)), name: f.slice(4, -4), sql, checksum: createHash('sha256').update(sql).digest('hex') });
  }
  for (let i = 1; i < out.length; i++) {
    if (out[i]!.version === out[i - 1]!.version) throw new Error(`two migrations share version ${out[i]!.version}`);
  }
  return out;
}

/** Apply pending migrations; returns the versions applied now. Refuses edited applied migrations. */
export async function runMigrations(sql: Sql, dir = MIGRATIONS_DIR): Promise<number[]> {
  const migrations = await loadMigrations(dir);
  const conn = await sql.reserve();
  try {
    await conn`select pg_advisory_lock(${LOCK_ID})`;
    await conn.unsafe(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const rows = await conn<{ version: number; checksum: string }[]>`select version, checksum from schema_migrations`;
    const applied = new Map(rows.map((r) => [r.version, r.checksum]));
    const done: number[] = [];
    for (const m of migrations) {
      const prev = applied.get(m.version);
      if (prev !== undefined) {
        if (prev !== m.checksum) throw new Error(`migration ${m.version}_${m.name} was edited after it was applied; add a new migration instead`);
        continue;
      }
      await conn.unsafe('BEGIN');
      try {
        await conn.unsafe(m.sql);
        await conn`insert into schema_migrations (version, name, checksum) values (${m.version}, ${m.name}, ${m.checksum})`;
        await conn.unsafe('COMMIT');
      } catch (e) {
        await conn.unsafe('ROLLBACK');
        throw new Error(`migration ${m.version}_${m.name} failed: ${(e as Error).message}`);
      }
      done.push(m.version);
    }
    // readiness checks read this table through the app's connection
    await conn.unsafe(`GRANT SELECT ON schema_migrations TO ${APP_ROLE}`);
    return done;
  } finally {
    await conn`select pg_advisory_unlock(${LOCK_ID})`.catch(() => {});
    conn.release();
  }
}

/**
 * Make `loginRole` able to act as the app role: when it is another name, create it (if missing) as a
 * member of switchboard_app; set its password when one is configured. Production may instead create
 * the login role itself and pass DATABASE_APP_URL, skipping this.
 */
export async function ensureAppLogin(sql: Sql, loginRole: string, password: string | undefined): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(loginRole)) throw new Error('DATABASE_APP_ROLE must be a plain lower-case identifier');
  if (loginRole !== APP_ROLE) {
    await sql.unsafe(`DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${loginRole}') THEN CREATE ROLE ${loginRole} LOGIN NOSUPERUSER NOBYPASSRLS; END IF;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$`);
    await sql.unsafe(`GRANT ${APP_ROLE} TO ${loginRole}`);
  }
  if (password) await sql.unsafe(`ALTER ROLE ${loginRole} PASSWORD ${quoteLiteral(password)}`);
}

/** Latest migration version known to the code (readiness: the database must be at least here). */
export async function latestMigrationVersion(dir = MIGRATIONS_DIR): Promise<number> {
  const m = await loadMigrations(dir);
  return m.length ? m[m.length - 1]!.version : 0;
}

function quoteLiteral(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}
