/** One conformance suite for both registries (Redis and in-process), plus Redis-only expiry checks. */
import t from 'tap';
import { Redis } from 'ioredis';
import { openRedis, closeRedis } from '../../shared/src/bus/redis-connection.ts';
import { InProcessGatewayRegistry, RedisGatewayRegistry, type GatewayRegistry, type PodInfo } from '../../shared/src/bus/registry.ts';
import { REDIS_URL, cleanupPrefix, quietLog, uniquePrefix, until } from './helpers.ts';

const prefix = uniquePrefix('reg');
const conn = openRedis(REDIS_URL, 'command', 'registry-test');
const raw = new Redis(REDIS_URL);
t.teardown(async () => {
  await cleanupPrefix(prefix);
  await closeRedis(conn);
  raw.disconnect();
});

const pod = (id: string, sessions = 0, draining = false): PodInfo => ({ pod_id: id, address: `ws://${id}:8080`, sessions, draining });

const impls: Array<[string, (p: string) => GatewayRegistry]> = [
  ['redis', (p) => new RedisGatewayRegistry(conn, `${prefix}${p}:`, { heartbeatMs: 5000, ttlMs: 15_000, redeliverMs: 60_000, log: quietLog })],
  ['in-process', () => new InProcessGatewayRegistry({ heartbeatMs: 5000, ttlMs: 15_000, redeliverMs: 60_000 })],
];

for (const [name, make] of impls) {
  t.test(`${name}: heartbeats list live pods with their state`, async (t) => {
    const reg = make('list');
    const t0 = Date.now();
    await reg.heartbeat(pod('pod-b', 3), t0);
    await reg.heartbeat(pod('pod-a', 1), t0);
    await reg.heartbeat(pod('pod-a', 2, true), t0 + 5000);
    const pods = await reg.list(t0 + 5000);
    t.same(pods.map((p) => [p.pod_id, p.address, p.sessions, p.draining]), [
      ['pod-a', 'ws://pod-a:8080', 2, true],
      ['pod-b', 'ws://pod-b:8080', 3, false],
    ]);
    t.equal(pods[0]!.started_at, t0, 'started_at is the first heartbeat');
    t.equal(pods[0]!.last_heartbeat, t0 + 5000);
  });

  t.test(`${name}: an expired pod leaves the list and is reported once, then again only if not acknowledged`, async (t) => {
    const reg = make('expiry');
    const t0 = Date.now();
    await reg.heartbeat(pod('alive'), t0);
    await reg.heartbeat(pod('dead'), t0);
    await reg.heartbeat(pod('alive'), t0 + 10_000);
    t.same(await reg.expiredPods(t0 + 14_000), [], 'within the 15 s expiry nothing is reported');
    const now = t0 + 16_000;
    t.same((await reg.list(now)).map((p) => p.pod_id), ['alive']);
    t.same(await reg.expiredPods(now), [{ pod_id: 'dead', last_heartbeat: t0 }], 'reported with its last heartbeat');
    t.same(await reg.expiredPods(now + 1000), [], 'reported once');
    await reg.heartbeat(pod('alive'), now + 61_000);
    t.same(await reg.expiredPods(now + 61_000), [{ pod_id: 'dead', last_heartbeat: t0 }], 'unacknowledged: reported again after redeliverMs');
    await reg.ackExpired('dead');
    t.same(await reg.expiredPods(now + 200_000), [{ pod_id: 'alive', last_heartbeat: now + 61_000 }], 'acknowledged pod never again (alive has now expired too)');
  });

  t.test(`${name}: a deregistered pod is neither listed nor reported expired`, async (t) => {
    const reg = make('dereg');
    const t0 = Date.now();
    await reg.heartbeat(pod('leaving'), t0);
    await reg.deregister('leaving');
    t.same(await reg.list(t0), []);
    t.same(await reg.expiredPods(t0 + 60_000), []);
  });

  t.test(`${name}: startHeartbeat beats at once and on its interval with fresh state`, async (t) => {
    const reg = make('timer');
    const fast = reg instanceof RedisGatewayRegistry
      ? new RedisGatewayRegistry(conn, `${prefix}timer:`, { heartbeatMs: 50, ttlMs: 150, log: quietLog })
      : new InProcessGatewayRegistry({ heartbeatMs: 50, ttlMs: 150 });
    let sessions = 0;
    const stop = fast.startHeartbeat(() => pod('ticking', ++sessions));
    t.ok(await until(async () => ((await fast.list())[0]?.sessions ?? 0) >= 3, 5000), 'state refreshed on each beat');
    stop();
    t.ok(await until(async () => (await fast.list()).length === 0, 5000), 'after stopping, the pod expires');
    t.same((await fast.expiredPods()).map((p) => p.pod_id), ['ticking']);
  });
}

t.test('redis: the pod hash carries a 15 s expiry and concurrent watchers split expired pods', async (t) => {
  const p = `${prefix}ttl:`;
  const reg = new RedisGatewayRegistry(conn, p, { log: quietLog });
  const t0 = Date.now();
  await reg.heartbeat(pod('x'), t0);
  const ttl = await raw.pttl(`${p}gw:pod:x`);
  t.ok(ttl > 14_000 && ttl <= 15_000, `PTTL ${ttl}`);
  for (let i = 0; i < 20; i++) await reg.heartbeat(pod(`p${i}`), t0);
  const watchers = [new RedisGatewayRegistry(conn, p, { log: quietLog }), new RedisGatewayRegistry(conn, p, { log: quietLog }), reg];
  const results = await Promise.all(watchers.map((w) => w.expiredPods(t0 + 20_000)));
  const all = results.flat().map((e) => e.pod_id).sort();
  t.equal(all.length, 21, 'every expired pod reported');
  t.equal(new Set(all).size, 21, 'and to exactly one watcher');
});

t.test('redis: heartbeat failures while Redis is unreachable are logged, not thrown', async (t) => {
  const dead = openRedis('redis://127.0.0.1:1', 'command', 'dead');
  t.teardown(() => dead.disconnect());
  const reg = new RedisGatewayRegistry(dead, `${prefix}dead:`, { heartbeatMs: 20, log: quietLog });
  await t.rejects(reg.heartbeat(pod('lonely')), 'a direct heartbeat reports the failure');
  const stop = reg.startHeartbeat(() => pod('lonely'));
  await new Promise((r) => setTimeout(r, 100));
  stop();
  t.pass('timer-driven heartbeats swallowed the failures');
});
