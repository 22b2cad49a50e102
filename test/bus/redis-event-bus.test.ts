import t from 'tap';
import { Redis } from 'ioredis';
import { createBus, type Bus, type BusConfig } from '../../shared/src/bus/create-bus.ts';
import type { RedisEventBus } from '../../shared/src/bus/redis-event-bus.ts';
import type { GatewayEvent } from '../../shared/src/bus/messages.ts';
import { REDIS_URL, cleanupPrefix, quietLog, seqOf, sleep, tempDir, uniquePrefix, until, usageTick } from './helpers.ts';

const raw = new Redis(REDIS_URL);
t.teardown(() => raw.disconnect());

/** A fresh prefix + spill dir per test, cleaned up after it. */
function setup(t: { teardown(fn: () => unknown): void }, name: string) {
  const prefix = uniquePrefix(`ev-${name}`);
  const tmp = tempDir(`ev-${name}`);
  const buses: Bus[] = [];
  t.teardown(async () => {
    await Promise.all(buses.map((b) => b.close()));
    await cleanupPrefix(prefix);
    tmp.remove();
  });
  const make = (extra: Partial<BusConfig> = {}): Bus => {
    const bus = createBus({
      redisUrl: REDIS_URL, prefix, spillDir: tmp.dir, group: 'control',
      consumerOptions: { blockMs: 200, retryDelayMs: 100, claimIdleMs: 60_000 },
      ...extra,
    }, quietLog);
    buses.push(bus);
    return bus;
  };
  return { prefix, stream: `${prefix}events`, make };
}

async function pendingCount(stream: string, group = 'control'): Promise<number> {
  const res = (await raw.xpending(stream, group)) as [number, ...unknown[]];
  return Number(res[0]);
}

t.test('events arrive in order and are acknowledged only after the handler resolves', async (t) => {
  const { stream, make } = setup(t, 'order');
  const gateway = make({ clientName: 'gw' });
  const control = make({ clientName: 'control', consumer: 'c1' });
  const published = Array.from({ length: 50 }, (_, i) => usageTick(i));
  for (const ev of published) await gateway.events.publish(ev);

  const got: GatewayEvent[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  let gatedSeen = false;
  control.events.consume(async (ev) => {
    if (seqOf(ev) === 10 && !gatedSeen) {
      gatedSeen = true;
      await gate; // the "transaction" for event 10 has not committed yet
    }
    got.push(ev);
  });
  t.ok(await until(() => gatedSeen), 'handler for event 10 is running');
  t.ok(await until(async () => (await pendingCount(stream)) >= 1), 'event 10 is pending while its handler runs');
  t.equal(got.length, 10, 'later events wait behind the running handler');
  release();
  t.ok(await until(() => got.length === 50));
  t.same(got.map(seqOf), published.map(seqOf), 'delivered in publish order');
  t.same(got.map((e) => e.id), published.map((e) => e.id), 'ids preserved');
  t.ok(await until(async () => (await pendingCount(stream)) === 0), 'all acknowledged once handlers resolved');
});

t.test('a rejected event is delivered again; a handled one never is', async (t) => {
  const { stream, make } = setup(t, 'retry');
  const gateway = make();
  const control = make({ consumer: 'c1' });
  const published = Array.from({ length: 20 }, (_, i) => usageTick(i));
  const deliveries = new Map<string, number>();
  let failuresLeft = 2;
  control.events.consume(async (ev) => {
    deliveries.set(ev.id, (deliveries.get(ev.id) ?? 0) + 1);
    if (seqOf(ev) === 5 && failuresLeft > 0) {
      failuresLeft--;
      throw new Error('database unavailable');
    }
  });
  for (const ev of published) await gateway.events.publish(ev);
  t.ok(await until(() => (deliveries.get(published[5]!.id) ?? 0) === 3), 'event 5 retried until it succeeded');
  t.ok(await until(async () => (await pendingCount(stream)) === 0), 'nothing left pending');
  await sleep(400); // several retry periods: nothing handled comes back
  for (const [i, ev] of published.entries()) t.equal(deliveries.get(ev.id), i === 5 ? 3 : 1, `event ${i} delivery count`);
  const stats = (control.events as RedisEventBus).stats().consumers[0]!;
  t.equal(stats.failed, 2);
  t.equal(stats.processed, 20);
});

t.test('a crashed consumer\'s pending entries are reclaimed by another (XAUTOCLAIM)', async (t) => {
  const { stream, make } = setup(t, 'claim');
  const gateway = make();
  const published = Array.from({ length: 30 }, (_, i) => usageTick(i));
  for (const ev of published) await gateway.events.publish(ev);

  // Consumer A reads everything but never commits (its handler hangs), then "crashes".
  const crashed = make({ consumer: 'a' });
  let aSaw = 0;
  const crash = crashed.events.consume(() => {
    aSaw++;
    return new Promise<void>(() => undefined);
  });
  t.ok(await until(() => aSaw === 1));
  t.ok(await until(async () => (await pendingCount(stream)) === 30), 'A holds all 30 pending');
  crash(); // its loop is stuck in the handler and will never XACK

  const rescuer = make({ consumer: 'b', consumerOptions: { blockMs: 100, retryDelayMs: 100, claimIdleMs: 300, claimIntervalMs: 100 } });
  const got: GatewayEvent[] = [];
  rescuer.events.consume(async (ev) => {
    got.push(ev);
  });
  t.ok(await until(() => got.length === 30), 'B processed every entry A left');
  t.same(got.map(seqOf), published.map(seqOf), 'in stream order');
  t.ok(await until(async () => (await pendingCount(stream)) === 0));
  t.equal((rescuer.events as RedisEventBus).stats().consumers[0]!.claimed, 30, 'all came through XAUTOCLAIM');
});

t.test('a restart under the same consumer name resumes its own pending entries at once', async (t) => {
  const { stream, make } = setup(t, 'resume');
  const gateway = make();
  const published = Array.from({ length: 10 }, (_, i) => usageTick(i));
  for (const ev of published) await gateway.events.publish(ev);
  const first = make({ consumer: 'c1' });
  let rejected = 0;
  first.events.consume(async () => {
    rejected++;
    throw new Error('db down');
  });
  t.ok(await until(() => rejected >= 10));
  await (first.events as RedisEventBus).close();
  t.equal(await pendingCount(stream), 10);

  const second = make({ consumer: 'c1' }); // claimIdleMs is 60 s: only its own pending list can explain delivery
  const got: GatewayEvent[] = [];
  second.events.consume(async (ev) => {
    got.push(ev);
  });
  t.ok(await until(() => got.length === 10, 5000));
  t.same(got.map(seqOf), published.map(seqOf));
  t.ok(await until(async () => (await pendingCount(stream)) === 0));
});

t.test('malformed entries go to the dead-letter stream and never block the ones behind them', async (t) => {
  const { stream, make } = setup(t, 'poison');
  const gateway = make();
  const control = make({ consumer: 'c1' });
  await gateway.events.publish(usageTick(0));
  await gateway.flush(5000);
  await raw.xadd(stream, '*', 'e', 'not json at all');
  await raw.xadd(stream, '*', 'e', JSON.stringify({ type: 'usage.tick', id: 'x' }));
  await raw.xadd(stream, '*', 'other', 'field');
  await gateway.events.publish(usageTick(1));
  const got: GatewayEvent[] = [];
  control.events.consume(async (ev) => {
    got.push(ev);
  });
  t.ok(await until(() => got.length === 2));
  t.same(got.map(seqOf), [0, 1]);
  t.ok(await until(async () => (await pendingCount(stream)) === 0), 'poison entries acknowledged');
  const dead = await raw.xrange(`${stream}:dead`, '-', '+');
  t.equal(dead.length, 3);
  const reasons = dead.map(([, f]) => f[f.indexOf('reason') + 1]);
  t.same(reasons, ['not JSON', reasons[1], 'missing field e']);
  t.match(reasons[1], /^schema: /);
  t.equal((control.events as RedisEventBus).stats().consumers[0]!.deadLettered, 3);
});

t.test('two consumers in one group share the stream; every event is handled once', async (t) => {
  const { make } = setup(t, 'share');
  const gateway = make();
  const c1 = make({ consumer: 'c1', consumerOptions: { blockMs: 100, retryDelayMs: 100, count: 5 } });
  const c2 = make({ consumer: 'c2', consumerOptions: { blockMs: 100, retryDelayMs: 100, count: 5 } });
  const seen = new Map<string, string[]>();
  const handler = (who: string) => async (ev: GatewayEvent) => {
    seen.set(ev.id, [...(seen.get(ev.id) ?? []), who]);
    await sleep(1);
  };
  c1.events.consume(handler('c1'));
  c2.events.consume(handler('c2'));
  const published = Array.from({ length: 200 }, (_, i) => usageTick(i));
  for (const ev of published) await gateway.events.publish(ev);
  t.ok(await until(() => seen.size === 200));
  t.ok([...seen.values()].every((w) => w.length === 1), 'no event handled twice');
  const byC1 = [...seen.values()].filter((w) => w[0] === 'c1').length;
  t.ok(byC1 > 0 && byC1 < 200, `work was shared (c1 ${byC1}, c2 ${200 - byC1})`);
});

t.test('publishing trims entries older than maxAge (MINID ~)', async (t) => {
  const { stream, make } = setup(t, 'trim');
  const old = Date.now() - 10 * 24 * 3600 * 1000;
  const pipe = raw.pipeline();
  for (let i = 1; i <= 300; i++) pipe.xadd(stream, `${old}-${i}`, 'e', '{}');
  await pipe.exec();
  t.equal(await raw.xlen(stream), 300);
  const gateway = make({ maxAgeMs: 7 * 24 * 3600 * 1000 });
  await gateway.events.publish(usageTick(0));
  t.equal(await gateway.flush(5000), true);
  const left = await raw.xlen(stream);
  t.ok(left < 100, `old entries trimmed by whole nodes (${left} left of 301)`);
  const last = await raw.xrevrange(stream, '+', '-', 'COUNT', 1);
  t.equal(JSON.parse(last[0]![1][1]!).seq, 0, 'the new event is kept');
});

t.test('stop() ends the consume loop promptly and leaves unread entries for later', async (t) => {
  const { stream, make } = setup(t, 'stop');
  const gateway = make();
  const control = make({ consumer: 'c1', consumerOptions: { blockMs: 5000, retryDelayMs: 100 } });
  const got: GatewayEvent[] = [];
  const stop = control.events.consume(async (ev) => {
    got.push(ev);
  });
  await gateway.events.publish(usageTick(0));
  t.ok(await until(() => got.length === 1));
  const before = Date.now();
  stop();
  await (control.events as RedisEventBus).close();
  t.ok(Date.now() - before < 1000, 'a blocked XREADGROUP does not hold stop() for its BLOCK time');
  await gateway.events.publish(usageTick(1));
  await gateway.flush(5000);
  await sleep(300);
  t.equal(got.length, 1, 'nothing consumed after stop');
  t.equal(await raw.xlen(stream), 2);
});

t.test('groupInfo reports pending and lag; stale consumers with nothing pending are pruned', async (t) => {
  const { stream, make } = setup(t, 'ops');
  const gateway = make();
  for (let i = 0; i < 5; i++) await gateway.events.publish(usageTick(i));
  await gateway.flush(5000);
  const probe = gateway.events as RedisEventBus;
  t.equal(await probe.groupInfo(), null, 'no group before a consumer starts');

  // A consumer from an earlier process: read two entries, acked them, then went away.
  await raw.xgroup('CREATE', stream, 'control', '0');
  const read = (await raw.xreadgroup('GROUP', 'control', 'old-proc', 'COUNT', 2, 'STREAMS', stream, '>')) as Array<[string, Array<[string, string[]]>]>;
  await raw.xack(stream, 'control', ...read[0]![1].map(([id]) => id));
  // And one that crashed holding an entry: it must never be pruned.
  await raw.xreadgroup('GROUP', 'control', 'crashed-proc', 'COUNT', 1, 'STREAMS', stream, '>');
  const info = await probe.groupInfo();
  t.same(info && { consumers: info.consumers, pending: info.pending, lag: info.lag }, { consumers: 2, pending: 1, lag: 2 });

  await sleep(300);
  const control = make({ consumer: 'c1', consumerOptions: { blockMs: 100, retryDelayMs: 100, claimIdleMs: 60_000, claimIntervalMs: 100, staleConsumerMs: 250 } });
  const got: GatewayEvent[] = [];
  control.events.consume(async (ev) => {
    got.push(ev);
  });
  t.ok(await until(() => got.length === 2), 'the unread entries were consumed');
  const consumers = async () => ((await raw.xinfo('CONSUMERS', stream, 'control')) as unknown[][]).map((row) => String(row[1])).sort();
  t.ok(await until(async () => !(await consumers()).includes('old-proc'), 5000), 'the idle consumer with nothing pending was pruned');
  t.ok((await consumers()).includes('crashed-proc'), 'the one holding a pending entry was kept');
  t.ok((control.events as RedisEventBus).stats().consumers[0]!.pruned >= 1);
  const after = await probe.groupInfo();
  t.equal(after?.lag, 0, 'no lag once caught up');
});
