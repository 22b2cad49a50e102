/** `npm run jobs:retention`: one retention run against DATABASE_URL (or the embedded database); prints the counts as JSON. */
import { loadControlConfig } from '../config.ts';
import { createSql, withCredentials, type Db } from '../db/client.ts';
import { startEmbeddedDb } from '../db/embedded.ts';
import { APP_ROLE } from '../db/migrate.ts';
import { runRetention } from '../services/retention.ts';

const config = loadControlConfig(process.env);
const embedded = config.DATABASE_URL ? null : await startEmbeddedDb(config.DATA_DIR);
// run as the app role like the server does: the retention functions are what it may call
const db: Db = embedded
  ? { sql: createSql(embedded.url, 1), setRole: APP_ROLE }
  : { sql: createSql(config.DATABASE_APP_URL ?? withCredentials(config.DATABASE_URL!, config.DATABASE_APP_ROLE, config.DATABASE_APP_PASSWORD), 1), setRole: null };
try {
  const result = await runRetention(db, config);
  process.stdout.write(JSON.stringify(result) + '\n');
} finally {
  await db.sql.end({ timeout: 5 });
  await embedded?.close();
}
