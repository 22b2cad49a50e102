/**
 * `npm run start:control` with no DATABASE_URL: embedded PGlite under DATA_DIR answers /healthz, /docs,
 * signup and session creation, shuts down cleanly on SIGTERM, and its data survives a restart.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createTokenVerifier } from '../../shared/src/token.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
// PGlite's first start initialises a database (~20 s quiet, over a minute on a loaded 2-core box)
t.setTimeout(240_000);

async function start(dataDir: string): Promise<{ url: string; child: ChildProcess; stopped: Promise<number | null> }> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', CONTROL_PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'warn', SCRYPT_COST: '1024' };
  const child = spawn(process.execPath, ['--import', 'tsx', 'control/src/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const stopped = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line in 90 s: ${out}`)), 90_000);
    const onData = (b: Buffer) => {
      out += b.toString();
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (m) { clearTimeout(timer); resolve(m[1]!); }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (b: Buffer) => { out += b.toString(); });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`exited ${code}: ${out}`)); });
  });
  return { url, child, stopped };
}

async function json(url: string, method = 'GET', body?: unknown, token?: string) {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  const r = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, body: text.startsWith('{') ? JSON.parse(text) : text };
}

t.test('embedded PGlite default, across a restart', async (t) => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'sb-embedded-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));

  const first = await start(dataDir);
  t.teardown(() => { if (first.child.exitCode === null) first.child.kill('SIGKILL'); });
  t.equal((await json(first.url + '/healthz')).status, 200);
  t.equal((await json(first.url + '/readyz')).body.ready, true);
  const docs = await fetch(first.url + '/docs');
  t.equal(docs.status, 200);
  t.match(await docs.text(), /swagger-ui/);
  const signup = await json(first.url + '/v1/auth/signup', 'POST', { email: 'embedded@example.test', password: 'correct horse battery', tenant_name: 'Embedded' });
  t.equal(signup.status, 201, JSON.stringify(signup.body));
  const token = signup.body.access_token;
  t.equal((await json(first.url + '/v1/consents/voice_processing', 'PUT', { subject: { external_id: 'caller' }, version: 'v1', text_sha256: 'c'.repeat(64) }, token)).status, 200);
  const session = await json(first.url + '/v1/sessions', 'POST', { provider: 'echo', participant: { external_id: 'caller' } }, token);
  t.equal(session.status, 201, JSON.stringify(session.body));
  const jwks = (await json(first.url + '/.well-known/jwks.json')).body;
  const v = await createTokenVerifier(jwks).verify(session.body.token);
  t.ok(v.ok, 'the token verifies against the published JWKS');
  // another tenant cannot see the session (on PGlite too)
  const other = await json(first.url + '/v1/auth/signup', 'POST', { email: 'other@example.test', password: 'correct horse battery', tenant_name: 'Other' });
  t.equal((await json(`${first.url}/v1/sessions/${session.body.session_id}`, 'GET', undefined, other.body.access_token)).status, 404);

  first.child.kill('SIGTERM');
  t.equal(await first.stopped, 0, 'clean exit on SIGTERM');
  t.ok((await stat(path.join(dataDir, 'signing-key.json'))).isFile(), 'signing key persisted');

  const second = await start(dataDir);
  t.teardown(() => { if (second.child.exitCode === null) second.child.kill('SIGKILL'); });
  const login = await json(second.url + '/v1/auth/login', 'POST', { email: 'embedded@example.test', password: 'correct horse battery' });
  t.equal(login.status, 200, 'the account survived the restart');
  const got = await json(`${second.url}/v1/sessions/${session.body.session_id}`, 'GET', undefined, login.body.access_token);
  t.equal(got.status, 200);
  t.equal(got.body.status, 'created');
  t.same((await json(second.url + '/.well-known/jwks.json')).body, jwks, 'same signing key after restart');
  t.equal((await json(second.url + '/v1/audit/verify', 'GET', undefined, login.body.access_token)).body.ok, true);
  second.child.kill('SIGTERM');
  t.equal(await second.stopped, 0);

  // RLS on PGlite: the app's per-transaction role switch makes an unfiltered query tenant-scoped
  const { PGlite } = await import('@electric-sql/pglite');
  const pg = await PGlite.create(path.join(dataDir, 'pglite'));
  t.teardown(() => pg.close());
  const scoped = await pg.transaction(async (tx) => {
    await tx.query(`select set_config('app.tenant_id', $1, true), set_config('role', 'switchboard_app', true)`, [signup.body.tenant.id]);
    return tx.query<{ tenant_id: string }>('select tenant_id from sessions');
  });
  t.ok(scoped.rows.length >= 1 && scoped.rows.every((r) => r.tenant_id === signup.body.tenant.id), 'only the current tenant\'s sessions');
  const otherScoped = await pg.transaction(async (tx) => {
    await tx.query(`select set_config('app.tenant_id', $1, true), set_config('role', 'switchboard_app', true)`, [other.body.tenant.id]);
    return tx.query('select * from sessions');
  });
  t.equal(otherScoped.rows.length, 0, 'the other tenant sees none');
});
