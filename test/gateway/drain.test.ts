import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateSigningKey, jwksOf, mintSessionToken } from '../../shared/src/token.ts';
import { startTestGateway, connect, refusal, tokenInput, sleep } from './helpers.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

t.test('drain(): readyz false, new upgrades 503, live sessions end with reason draining at the deadline', async (t) => {
  const tg = await startTestGateway();
  t.teardown(() => tg.close());
  const http = tg.gw.url.replace('ws://', 'http://');
  const c = await connect(`${tg.gw.url}/v1/audio?token=${await tg.token()}`);
  c.send({ type: 'session.start' });
  await c.waitFor((e) => e.type === 'session.started');
  const t0 = Date.now();
  const drained = tg.gw.drain(600);
  t.equal((await fetch(`${http}/readyz`)).status, 503, 'readyz false while draining');
  t.equal((await fetch(`${http}/healthz`)).status, 200, 'still alive');
  t.same(await refusal(`${tg.gw.url}/v1/audio?token=${await tg.token()}`), { status: 503, code: 'DRAINING' }, 'new sessions go elsewhere');
  c.send({ type: 'ping', id: 'during' });
  await c.waitFor((e) => e.type === 'pong' && e.id === 'during');
  t.pass('the live session keeps running until the deadline');
  await drained;
  const ended = await c.waitFor((e) => e.type === 'session.ended');
  t.equal(ended.reason, 'draining');
  t.ok(Date.now() - t0 >= 550, 'not before the deadline');
  t.equal((await c.closed).code, 1001, 'going away');
  await sleep(20);
  const busEnded = tg.received.find((e) => e.type === 'session.ended');
  t.equal(busEnded?.type === 'session.ended' && busEnded.reason, 'draining');
});

t.test('drain() finishes early when the sessions end on their own', async (t) => {
  const tg = await startTestGateway();
  t.teardown(() => tg.close());
  const c = await connect(`${tg.gw.url}/v1/audio?token=${await tg.token()}`);
  c.send({ type: 'session.start' });
  await c.waitFor((e) => e.type === 'session.started');
  const t0 = Date.now();
  const drained = tg.gw.drain(20_000);
  await sleep(100);
  c.ws.close();
  await drained;
  t.ok(Date.now() - t0 < 5000, 'resolved when the last session left');
});

t.test('terminate command ends the session within 1 s with its reason', async (t) => {
  const tg = await startTestGateway();
  t.teardown(() => tg.close());
  const input = tokenInput();
  const c = await connect(`${tg.gw.url}/v1/audio?token=${await mintSessionToken(input, tg.key)}`);
  c.send({ type: 'session.start' });
  await c.waitFor((e) => e.type === 'session.started');
  await tg.commands.publish({ type: 'terminate', id: 'cmd-1', session_id: input.sid, reason: 'credit_exhausted', ts: Date.now() });
  const ended = await c.waitFor((e) => e.type === 'session.ended', 1000);
  t.equal(ended.reason, 'credit_exhausted');
  t.same(await refusal(`${tg.gw.url}/v1/audio?token=${await mintSessionToken(input, tg.key)}`), { status: 409, code: 'CONFLICT' }, 'an ended session cannot be restarted with its old token');
});

t.test('main.ts: SIGTERM drains, then the process exits 0', async (t) => {
  const key = await generateSigningKey();
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'gateway/src/main.ts')], {
    cwd: root,
    env: { ...process.env, GATEWAY_PORT: '0', GATEWAY_HOST: '127.0.0.1', GATEWAY_JWKS: JSON.stringify(jwksOf(key)), GATEWAY_DRAIN_DEADLINE_MS: '500', LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  while (!/listening on (ws:\/\/\S+)/.test(out)) {
    await Promise.race([once(child.stdout, 'data'), once(child, 'exit').then(() => { throw new Error(`exited early: ${out}`); })]);
  }
  const url = /listening on (ws:\/\/\S+)/.exec(out)![1]!;
  const c = await connect(`${url}/v1/audio?token=${await mintSessionToken(tokenInput(), key)}`);
  c.send({ type: 'session.start' });
  await c.waitFor((e) => e.type === 'session.started');
  child.kill('SIGTERM');
  const ended = await c.waitFor((e) => e.type === 'session.ended', 15_000);
  t.equal(ended.reason, 'draining');
  const [code] = await once(child, 'exit');
  t.equal(code, 0, 'clean exit');
});

t.test('main.ts refuses to start without a JWKS, naming the variables', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'gateway/src/main.ts')], {
    cwd: root,
    env: { ...process.env, GATEWAY_PORT: '0', GATEWAY_JWKS: '', GATEWAY_JWKS_URL: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d));
  const [code] = await once(child, 'exit');
  t.equal(code, 1);
  t.match(err, /GATEWAY_JWKS/);
});

t.test('main.ts fails at boot when uWebSockets.js loaded its JS fallback', async (t) => {
  const key = await generateSigningKey();
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'gateway/src/main.ts')], {
    cwd: root,
    env: { ...process.env, UWS_USE_FALLBACK: '1', GATEWAY_PORT: '0', GATEWAY_JWKS: JSON.stringify(jwksOf(key)) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d));
  const [code] = await once(child, 'exit');
  t.equal(code, 1);
  t.match(err, /JavaScript fallback, not the native build/);
});
