/**
 * Exactly-once metering across a control-plane crash: N live sessions on a gateway process, the
 * control plane SIGKILLed mid-stream and restarted. Every session's usage debits in the ledger must
 * be exactly the gateway's usage ticks for it (one debit per tick id, none missing, none twice), and
 * those ticks add up to the totals the gateway measured (its session.ended event), to the ms rounding
 * of each tick.
 */
import t from 'tap';
import { billedMs } from '../../control/src/services/billing.ts';
import { createTestDb } from '../helpers/db.ts';
import {
  cleanupRedis, controlEnv, freePort, gatewayEnv, newPrefix, openSession, REDIS_URL, signupTenant, sleep, spawnService,
  streamSpeech, tempDir, eventsInStream, waitUntil, type LiveSession, type StackEnv,
} from './helpers.ts';

const N = Number(process.env.SCALE_SESSIONS ?? 20);
const STREAM_S = 8;

t.test(`SIGKILL the control plane during ${N} live sessions: ledger = measured usage, exactly`, async (t) => {
  const db = await createTestDb(t, 'sbscale');
  const stack: StackEnv = { dbUrl: db.url, prefix: newPrefix(), redisUrl: REDIS_URL, controlPort: await freePort(), dataDir: tempDir(t, 'ctl'), spillRoot: tempDir(t, 'spill') };
  cleanupRedis(t, stack.prefix);
  let control = await spawnService(t, 'control/src/main.ts', controlEnv(stack));
  const gw = await spawnService(t, 'gateway/src/main.ts', gatewayEnv(stack, 'gw-a'));
  const api = await signupTenant(control.url);

  const sessions: LiveSession[] = [];
  for (let i = 0; i < N; i++) sessions.push(await openSession(api, gw.url));
  // every session streams corpus speech at real time; the control plane dies and comes back meanwhile
  const streaming = sessions.map((s, i) => streamSpeech(s.client, STREAM_S, (i % 5) * 2));
  await sleep(3000);
  t.equal(await control.kill('SIGKILL'), null, 'control plane killed (no clean exit)');
  await sleep(1500);
  control = await spawnService(t, 'control/src/main.ts', controlEnv(stack));
  await Promise.all(streaming);
  for (const s of sessions) s.client.ws.close(1000, 'done');
  for (const s of sessions) await s.client.closed;

  const sql = db.superuser();
  await waitUntil('every session ended in the database', async () => {
    const [r] = await sql<{ n: number }[]>`select count(*)::int as n from sessions where status = 'ended'`;
    return r!.n === N;
  }, 30_000);
  const { ticks, ended } = await eventsInStream(stack.prefix);
  const expectedTicks = [...ticks.values()].reduce((n, l) => n + l.length, 0);
  await waitUntil('every usage tick applied', async () => {
    const [r] = await sql<{ n: number }[]>`select count(*)::int as n from credit_ledger where kind = 'usage'`;
    return r!.n >= expectedTicks;
  }, 30_000);
  await sleep(500); // anything redelivered late would show up as an extra debit below

  const rows = await sql<{ session_id: string; n: number; ms: string; events: number }[]>`
    select session_id, count(*)::int as n, sum(billed_ms)::text as ms, count(distinct event_id)::int as events
    from credit_ledger where kind = 'usage' group by session_id`;
  const ledger = new Map(rows.map((r) => [r.session_id, r]));
  let exact = 0;
  sessions.forEach((s, i) => {
    const mine = ticks.get(s.id) ?? [];
    const l = ledger.get(s.id);
    const expectMs = mine.reduce((a, e) => a + billedMs(e.delta), 0n);
    const usage = ended.get(s.id)?.totals ?? { seconds_in: -1, seconds_out: -1, provider_seconds: -1 };
    const sumProvider = mine.reduce((a, e) => a + e.delta.provider_seconds, 0);
    const sumIn = mine.reduce((a, e) => a + e.delta.seconds_in, 0);
    // ticks carry ms-rounded deltas: their sum may differ from the totals by up to 0.5 ms per tick
    const tol = 0.0005 * mine.length + 1e-9;
    const ok = l !== undefined && l.n === mine.length && l.events === mine.length && BigInt(l.ms) === expectMs
      && mine.some((e) => e.final) && Math.abs(sumProvider - usage.provider_seconds) <= tol && Math.abs(sumIn - usage.seconds_in) <= tol;
    if (ok) exact++;
    else t.fail(`session ${i}: ledger ${JSON.stringify(l)} vs ${mine.length} ticks / ${expectMs} ms (provider ${sumProvider}, in ${sumIn}, final ${mine.some((e) => e.final)}); gateway totals ${JSON.stringify(usage)}`);
  });
  t.equal(exact, N, `all ${N} sessions: one debit per usage tick, debited ms = the ticks' ms, ticks sum to the session's measured usage`);
  const [dup] = await sql<{ n: number }[]>`select count(*)::int as n from (select event_id from credit_ledger where kind = 'usage' group by event_id having count(*) > 1) d`;
  t.equal(dup!.n, 0, 'no usage event debited twice');
  const caller = sessions.map((s) => ended.get(s.id)?.totals.seconds_in ?? 0);
  t.ok(caller.every((s) => s > STREAM_S - 0.5 && s < STREAM_S + 0.5), 'each session measured its ~8 s of caller audio');

  await gw.kill('SIGTERM');
  await control.kill('SIGTERM');
});
