/** `npm run migrate`: apply pending migrations to DATABASE_URL (or the embedded database). */
import { loadControlConfig } from '../config.ts';
import { createSql } from './client.ts';
import { runMigrations, ensureAppLogin } from './migrate.ts';
import { startEmbeddedDb } from './embedded.ts';

const config = loadControlConfig(process.env);
const embedded = config.DATABASE_URL ? null : await startEmbeddedDb(config.DATA_DIR);
const sql = createSql(config.DATABASE_URL ?? embedded!.url, 1);
try {
  const applied = await runMigrations(sql);
  if (!embedded && !config.DATABASE_APP_URL) await ensureAppLogin(sql, config.DATABASE_APP_ROLE, config.DATABASE_APP_PASSWORD);
  process.stdout.write(applied.length ? `applied migrations: ${applied.join(', ')}\n` : 'database is up to date\n');
} finally {
  await sql.end({ timeout: 5 });
  await embedded?.close();
}
