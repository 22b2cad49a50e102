/**
 * A fresh database per test file on the real Postgres (127.0.0.1:5432, user postgres, trust auth):
 * unique name, dropped in teardown. The returned URL connects as the owner (superuser); the control
 * plane derives its RLS-bound app-role connection from it.
 */
import postgres from 'postgres';
import { randomBytes } from 'node:crypto';

export const PG_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDb {
  url: string;
  name: string;
  /** superuser connection to the test database (for deliberate tampering) */
  superuser(): postgres.Sql;
  drop(): Promise<void>;
}

interface Teardown { teardown(fn: () => unknown): void }

export async function createTestDb(t?: Teardown, prefix = 'sbt'): Promise<TestDb> {
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = `postgres://postgres@127.0.0.1:5432/${name}`;
  const opened: postgres.Sql[] = [];
  const db: TestDb = {
    url,
    name,
    superuser() {
      const s = postgres(url, { max: 2, onnotice: () => {} });
      opened.push(s);
      return s;
    },
    async drop() {
      for (const s of opened) await s.end({ timeout: 2 }).catch(() => {});
      const a = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
      try {
        await a.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await a.end();
      }
    },
  };
  t?.teardown(() => db.drop());
  return db;
}
