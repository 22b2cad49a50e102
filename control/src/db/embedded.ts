/**
 * Embedded database for a bare machine: PGlite persisted under DATA_DIR, served on a local TCP port
 * by pglite-socket so the same postgres.js code runs against it. PGlite is single-user: every
 * connection is its superuser, so the app assumes the RLS-bound role per transaction instead
 * (`Db.setRole`); see docs/control-plane.md.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface EmbeddedDb {
  url: string;
  close(): Promise<void>;
}

export async function startEmbeddedDb(dataDir: string): Promise<EmbeddedDb> {
  const dir = path.resolve(dataDir, 'pglite');
  await mkdir(dir, { recursive: true });
  const db = await PGlite.create(dir);
  // the multiplexer queues queries from several client connections onto the one PGlite instance
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 32 });
  await server.start();
  const port = Number(server.getServerConn().split(':').pop());
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async close() {
      await server.stop();
      await db.close();
    },
  };
}
