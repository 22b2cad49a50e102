/**
 * Redis down for ~10 s during live sessions (a private redis-server child, never the shared one):
 * the gateway keeps every session running, buffers its events (memory, then its spill directory) and
 * delivers them once Redis is back; the control plane then applies all of them: every usage tick of
 * every session is in the ledger once, and the ticks add up to what the gateway measured.
 */
import t from 'tap';
import { billedMs } from '../../control/src/services/billing.ts';
import { createTestDb } from '../helpers/db.ts';
import {
  controlEnv, DurableRedis, eventsInStream, freePort, gatewayEnv, newPrefix, openSession, signupTenant, sleep, spawnService,
  streamSpeech, tempDir, waitUntil, type LiveSession, type StackEnv,
} from './helpers.ts';

const N = 5;
const STREAM_S = 18;

t.test('Redis stopped for 10 s during live sessions: no drop, all usage arrives', async (t) => {
  const redis = new DurableRedis(await freePort(), tempDir(t, 'redis'));
  await redis.start();
  t.teardown(() => redis.stop());
  const db = await createTestDb(t, 'sbscale');
  const stack: StackEnv = { dbUrl: db.url, prefix: newPrefix(), redisUrl: redis.url, controlPort: await freePort(), dataDir: tempDir(t, 'ctl'), spillRoot: tempDir(t, 'spill') };
  const control = await spawnService(t, 'control/src/main.ts', controlEnv(stack));
  const gw = await spawnService(t, 'gateway/src/main.ts', gatewayEnv(stack, 'gw-a'));
  const api = await signupTenant(control.url);
  const sessions: LiveSession[] = [];
  for (let i = 0; i < N; i++) sessions.push(await openSession(api, gw.url));
  const streaming = sessions.map((s, i) => streamSpeech(s.client, STREAM_S, i * 2));

  await sleep(3000);
  await redis.stop();
  await sleep(10_000);
  await redis.start();
  await Promise.all(streaming);
  t.equal(sessions.filter((s) => s.client.events.some((e) => e.type === 'session.ended')).length, 0, 'no session ended during the outage');
  t.equal(sessions.filter((s) => s.client.ws.readyState !== s.client.ws.OPEN).length, 0, 'every client socket stayed open');
  for (const s of sessions) s.client.ws.close(1000, 'done');
  for (const s of sessions) await s.client.closed;

  const sql = db.superuser();
  let streamed: Awaited<ReturnType<typeof eventsInStream>> | null = null;
  await waitUntil('every session.ended in the stream', async () => {
    streamed = await eventsInStream(stack.prefix, redis.url);
    return sessions.every((s) => streamed!.ended.has(s.id));
  }, 20_000, 250);
  const { ticks, ended } = streamed!;
  const total = sessions.reduce((n, s) => n + (ticks.get(s.id)?.length ?? 0), 0);
  await waitUntil('all usage applied', async () => {
    const [r] = await sql<{ n: number }[]>`select count(*)::int as n from credit_ledger where kind = 'usage'`;
    const [e] = await sql<{ n: number }[]>`select count(*)::int as n from sessions where status = 'ended'`;
    return r!.n >= total && e!.n === N;
  }, 20_000, 250);

  for (const [i, s] of sessions.entries()) {
    const mine = ticks.get(s.id) ?? [];
    const [l] = await sql<{ n: number; ms: string }[]>`select count(*)::int as n, coalesce(sum(billed_ms), 0)::text as ms from credit_ledger where session_id = ${s.id} and kind = 'usage'`;
    const seq = mine.map((e) => e.seq).sort((a, b) => a - b);
    const totals = ended.get(s.id)!.totals;
    const sumIn = mine.reduce((a, e) => a + e.delta.seconds_in, 0);
    t.same(seq, seq.map((_, k) => k), `session ${i}: usage ticks 0..${seq.length - 1}, none missing`);
    t.ok(l!.n === mine.length && BigInt(l!.ms) === mine.reduce((a, e) => a + billedMs(e.delta), 0n), `session ${i}: ledger = its ${mine.length} ticks exactly`);
    t.ok(Math.abs(sumIn - totals.seconds_in) <= 0.0005 * mine.length + 1e-9 && totals.seconds_in > STREAM_S - 0.5, `session ${i}: ticks add up to the ${totals.seconds_in} s measured`);
  }
  await gw.kill('SIGTERM');
  await control.kill('SIGTERM');
});
