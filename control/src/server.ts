/**
 * Start the control plane: database (embedded PGlite when DATABASE_URL is absent), migrations, the
 * app role, keys, rate limiters, HTTP listener. Returns handles for tests and for `npm start`.
 */
import http from 'node:http';
import type Koa from 'koa';
import type postgres from 'postgres';
import { createLogger, type Logger } from '../../shared/src/logger.ts';
import type { CommandBus, GatewayRegistry } from '../../shared/src/bus/index.ts';
import type { SigningKey } from '../../shared/src/token.ts';
import type { ControlConfig } from './config.ts';
import { createSql, withCredentials, type Db } from './db/client.ts';
import { runMigrations, ensureAppLogin, APP_ROLE } from './db/migrate.ts';
import { startEmbeddedDb, type EmbeddedDb } from './db/embedded.ts';
import { createLimiters } from './middleware/rate-limit.ts';
import { loadJwtSecret, loadSigningKey } from './services/secrets.ts';
import { createApp } from './app.ts';
import { startRetentionSchedule } from './services/retention.ts';
import type { ControlState } from './types.ts';

export interface ControlHandle {
  url: string;
  port: number;
  app: Koa<ControlState>;
  /** the app's pool (RLS-bound role) */
  sql: postgres.Sql;
  /** pool + per-transaction role, for services such as markSessionEnded */
  db: Db;
  signingKey: SigningKey;
  close(): Promise<void>;
}

export async function startControl(opts: { config: Readonly<ControlConfig>; commands: CommandBus; logger?: Logger; signingKey?: SigningKey; registry?: GatewayRegistry }): Promise<ControlHandle> {
  const { config } = opts;
  const logger = opts.logger ?? createLogger('control', config.LOG_LEVEL);
  const cleanups: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const c of cleanups.reverse()) await c().catch((err) => logger.warn({ err }, 'shutdown step failed'));
  };
  try {
    let ownerUrl = config.DATABASE_URL;
    let embedded: EmbeddedDb | null = null;
    if (!ownerUrl) {
      embedded = await startEmbeddedDb(config.DATA_DIR);
      cleanups.push(() => embedded!.close());
      ownerUrl = embedded.url;
      logger.info({ dir: config.DATA_DIR }, 'using embedded PGlite database');
    }
    const owner = createSql(ownerUrl, 1);
    cleanups.push(() => owner.end({ timeout: 5 }));
    const applied = await runMigrations(owner);
    if (applied.length) logger.info({ applied }, 'migrations applied');

    let db: Db;
    if (embedded) {
      // PGlite has one user; the pool assumes the app role per transaction (see embedded.ts)
      db = { sql: createSql(ownerUrl, Math.min(config.DATABASE_POOL_MAX, 8)), setRole: APP_ROLE };
    } else if (config.DATABASE_APP_URL) {
      db = { sql: createSql(config.DATABASE_APP_URL, config.DATABASE_POOL_MAX), setRole: null };
    } else {
      await ensureAppLogin(owner, config.DATABASE_APP_ROLE, config.DATABASE_APP_PASSWORD);
      db = { sql: createSql(withCredentials(ownerUrl, config.DATABASE_APP_ROLE, config.DATABASE_APP_PASSWORD), config.DATABASE_POOL_MAX), setRole: null };
    }
    await owner.end({ timeout: 5 });
    cleanups.push(() => db.sql.end({ timeout: 5 }));

    const signingKey = opts.signingKey ?? (await loadSigningKey(config));
    const jwtSecret = await loadJwtSecret(config);
    const limiters = await createLimiters(config, logger);
    cleanups.push(() => limiters.close());

    const { app } = createApp({ config, db, bus: opts.commands, logger, signingKey, jwtSecret, limiters, registry: opts.registry });
    cleanups.push(startRetentionSchedule(db, config, logger)); // no-op unless RETENTION_INTERVAL_MIN > 0
    const server = http.createServer(app.callback());
    server.keepAliveTimeout = 65_000; // longer than typical load-balancer idle timeouts
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.CONTROL_PORT, config.CONTROL_HOST, () => resolve());
    });
    cleanups.push(() => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }));
    const addr = server.address() as import('node:net').AddressInfo;
    const host = config.CONTROL_HOST.includes(':') ? `[${config.CONTROL_HOST}]` : config.CONTROL_HOST;
    const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${addr.port}`;
    let closed = false;
    return {
      url, port: addr.port, app, sql: db.sql, db, signingKey,
      async close() {
        if (closed) return;
        closed = true;
        await close();
      },
    };
  } catch (e) {
    await close();
    throw e;
  }
}
