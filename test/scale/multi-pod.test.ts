/**
 * Two gateway processes and one control plane on Redis: commands reach the pod holding the session
 * (operator terminate, credit exhaustion), a SIGTERM drain finishes a pod's sessions and bills their
 * final usage, and a SIGKILLed pod's sessions fail with `gateway_lost` once its heartbeat expires
 * (expiry shortened by config so the test is quick), billed up to their last usage tick.
 */
import t from 'tap';
import { createTestDb } from '../helpers/db.ts';
import {
  cleanupRedis, controlEnv, eventsInStream, freePort, gatewayEnv, newPrefix, openSession, REDIS_URL, signupTenant, sleep, spawnService,
  streamSpeech, tempDir, waitUntil, type StackEnv,
} from './helpers.ts';

t.test('two gateway pods: terminate, credit exhaustion, drain, SIGKILL', async (t) => {
  const db = await createTestDb(t, 'sbscale');
  const stack: StackEnv = { dbUrl: db.url, prefix: newPrefix(), redisUrl: REDIS_URL, controlPort: await freePort(), dataDir: tempDir(t, 'ctl'), spillRoot: tempDir(t, 'spill') };
  cleanupRedis(t, stack.prefix);
  const beat = { GATEWAY_HEARTBEAT_MS: '300', GATEWAY_HEARTBEAT_TTL_MS: '1500' };
  const control = await spawnService(t, 'control/src/main.ts', controlEnv(stack, { GATEWAY_HEARTBEAT_TTL_MS: '1500', GATEWAY_WATCH_INTERVAL_MS: '300' }));
  const [gwA, gwB] = await Promise.all([
    spawnService(t, 'gateway/src/main.ts', gatewayEnv(stack, 'gw-a', { ...beat, GATEWAY_DRAIN_DEADLINE_MS: '1500' })),
    spawnService(t, 'gateway/src/main.ts', gatewayEnv(stack, 'gw-b', beat)),
  ]);
  const rich = await signupTenant(control.url);
  const poor = await signupTenant(control.url);
  const sql = db.superuser();

  const sTerm = await openSession(rich, gwB.url);
  const sCredit = await openSession(poor, gwA.url);
  const drained = [await openSession(rich, gwA.url), await openSession(rich, gwA.url)];
  const lost = [await openSession(rich, gwB.url), await openSession(rich, gwB.url)];
  const talk = [...drained, ...lost].map((s) => streamSpeech(s.client, 2.5));

  await waitUntil('sessions active with their pod recorded', async () => {
    const rows = await sql<{ n: number }[]>`select count(*)::int as n from sessions where status = 'active' and gateway_pod is not null`;
    return rows[0]!.n === 6;
  }, 10_000, 100);
  const [pod] = await sql<{ gateway_pod: string }[]>`select gateway_pod from sessions where id = ${sTerm.id}`;
  t.equal(pod!.gateway_pod, 'gw-b', "the session's record names the pod holding it");
  await waitUntil('both pods heartbeating their session counts', async () => {
    const pods = (await rich.ok('GET', '/v1/ops/gateways')).data as Array<{ pod_id: string; sessions: number; draining: boolean }>;
    const by = Object.fromEntries(pods.map((p) => [p.pod_id, p]));
    return by['gw-a']?.sessions === 3 && by['gw-b']?.sessions === 3 && !by['gw-a'].draining;
  }, 5000, 100);
  t.pass('GET /v1/ops/gateways lists both pods with their live session counts');

  // operator terminate -> command over Redis -> gw-b ends it; the client sees the reason within 1 s
  await rich.ok('POST', `/v1/sessions/${sTerm.id}/terminate`);
  const ended = await sTerm.client.waitFor((e) => e.type === 'session.ended', 1000);
  t.equal(ended.reason, 'terminated_by_operator', 'terminate reached gw-b and ended the session within 1 s');

  // credit exhaustion: the tenant's price jumps, the next usage tick drains the balance -> terminate
  await poor.ok('PUT', '/v1/billing/prices', { prices: [{ provider: 'echo', micro_per_second: 1e12 }] });
  const cut = await sCredit.client.waitFor((e) => e.type === 'session.ended', 4000);
  t.equal(cut.reason, 'credit_exhausted', 'credit exhaustion ended the session on gw-a');
  const [bal] = await sql<{ b: string }[]>`select balance_micro::text as b from credit_balances where tenant_id = ${poor.tenantId}`;
  t.ok(BigInt(bal!.b) <= 0n, 'the balance is exhausted');

  await Promise.all(talk);
  // drain gw-a: its sessions end with `draining`, final usage is flushed before the process exits
  t.equal(await gwA.kill('SIGTERM'), 0, 'gw-a drained and exited cleanly');
  for (const s of drained) t.equal((await s.client.waitFor((e) => e.type === 'session.ended', 100)).reason, 'draining', 'drained session told why it ended');

  // SIGKILL gw-b: no goodbye; its sessions fail with gateway_lost after heartbeat expiry
  t.equal(await gwB.kill('SIGKILL'), null, 'gw-b killed');
  await waitUntil('lost sessions failed', async () => {
    const rows = await sql<{ n: number }[]>`select count(*)::int as n from sessions where id in ${sql(lost.map((s) => s.id))} and status = 'failed' and end_reason = 'gateway_lost'`;
    return rows[0]!.n === lost.length;
  }, 10_000, 200);
  t.pass('sessions of the killed pod marked failed / gateway_lost');

  const { ticks } = await eventsInStream(stack.prefix);
  const wantTicks = [...drained, ...lost].reduce((n, s) => n + (ticks.get(s.id)?.length ?? 0), 0);
  await waitUntil('usage applied', async () => {
    const [r] = await sql<{ n: number }[]>`select count(*)::int as n from credit_ledger where kind = 'usage' and session_id in ${sql([...drained, ...lost].map((s) => s.id))}`;
    return r!.n === wantTicks;
  }, 10_000, 200);
  for (const s of drained) {
    const mine = ticks.get(s.id) ?? [];
    t.ok(mine.some((e) => e.final), 'drained session published its final usage tick');
    const [row] = await sql<{ status: string; end_reason: string; n: number }[]>`select status, end_reason,
      (select count(*)::int from credit_ledger l where l.session_id = s.id and l.kind = 'usage') as n from sessions s where id = ${s.id}`;
    t.match(row, { status: 'ended', end_reason: 'draining', n: mine.length }, 'drained session ended and billed through its final tick');
  }
  for (const s of lost) {
    const mine = ticks.get(s.id) ?? [];
    t.notOk(mine.some((e) => e.final), 'a killed pod sent no final tick');
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from credit_ledger where session_id = ${s.id} and kind = 'usage'`;
    t.ok(mine.length > 0 && row!.n === mine.length, 'lost session billed up to its last usage tick');
  }
  await sleep(10);
  await control.kill('SIGTERM');
});
