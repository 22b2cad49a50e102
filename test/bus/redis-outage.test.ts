/**
 * Redis unreachable on the publishing side: publish never throws or blocks, events are buffered in
 * memory then spilled to disk, and everything arrives in order once Redis is back — including across
 * a Redis restart with a live consumer, and across a gateway process restart during the outage.
 * Uses a private redis-server on a spare port so it can be stopped and started.
 */
import t from 'tap';
import { readdirSync } from 'node:fs';
import { Redis } from 'ioredis';
import { createBus, type Bus, type BusConfig } from '../../shared/src/bus/create-bus.ts';
import type { RedisEventBus } from '../../shared/src/bus/redis-event-bus.ts';
import type { GatewayEvent } from '../../shared/src/bus/messages.ts';
import { PrivateRedis, freePort, quietLog, seqOf, tempDir, uniquePrefix, until, usageTick } from './helpers.ts';

const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

async function streamSeqs(url: string, stream: string): Promise<number[]> {
  const r = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    const entries = await r.xrange(stream, '-', '+');
    return entries.map(([, f]) => (JSON.parse(f[1]!) as { seq: number }).seq);
  } finally {
    r.disconnect();
  }
}

async function setup(t: { teardown(fn: () => unknown): void }, name: string) {
  const server = new PrivateRedis(await freePort());
  const tmp = tempDir(`outage-${name}`);
  const prefix = uniquePrefix(`outage-${name}`);
  const buses: Bus[] = [];
  t.teardown(async () => {
    await Promise.all(buses.map((b) => b.close()));
    await server.stop();
    tmp.remove();
  });
  const make = (extra: Partial<BusConfig> = {}): Bus => {
    const bus = createBus({
      redisUrl: server.url, prefix, spillDir: tmp.dir,
      outbox: { maxMemory: 50, batchSize: 40, retryMinMs: 20, retryMaxMs: 200 },
      consumerOptions: { blockMs: 200, retryDelayMs: 100 },
      ...extra,
    }, quietLog);
    buses.push(bus);
    return bus;
  };
  return { server, tmp, prefix, stream: `${prefix}events`, make, buses };
}

t.test('Redis down from the start: memory, then file; all delivered in order when it comes up', async (t) => {
  const { server, tmp, stream, make } = await setup(t, 'start');
  const gateway = make({ clientName: 'gw' });
  const events = gateway.events as RedisEventBus;
  for (let i = 0; i < 300; i++) await gateway.events.publish(usageTick(i)); // resolves although nothing listens
  const s = events.stats().outbox!;
  t.equal(s.buffered, 50, '50 held in memory (the bound)');
  t.ok(await until(() => events.stats().outbox!.spilled === 250), '250 spilled to disk');
  t.ok(readdirSync(tmp.dir).length > 0, 'spill file present');
  t.equal(events.stats().outbox!.delivered, 0);

  await server.start();
  t.equal(await gateway.flush(15_000), true, 'flushed after Redis came up');
  t.same(await streamSeqs(server.url, stream), range(0, 300), 'every event, in publish order, once');
  t.equal(events.stats().outbox!.delivered, 300);
  t.same(readdirSync(tmp.dir), [], 'spill files removed once delivered');
});

t.test('Redis restarts under a live publisher and consumer: nothing lost, order kept', async (t) => {
  const { server, make } = await setup(t, 'restart');
  await server.start();
  const gateway = make({ clientName: 'gw' });
  const control = make({ clientName: 'control', consumer: 'c1' });
  const got: GatewayEvent[] = [];
  control.events.consume(async (ev) => {
    got.push(ev);
  });
  for (let i = 0; i < 100; i++) await gateway.events.publish(usageTick(i));
  t.ok(await until(() => got.length === 100, 10_000), 'first 100 consumed');

  await server.stop(); // SIGKILL: the no-persistence server loses the stream and the group too
  for (let i = 100; i < 250; i++) await gateway.events.publish(usageTick(i));
  t.ok(await until(() => (gateway.events as RedisEventBus).stats().outbox!.spilled > 0), 'overflow spilled during the outage');
  t.equal(got.length, 100, 'nothing consumed while down');

  await server.start();
  t.equal(await gateway.flush(15_000), true);
  t.ok(await until(() => got.length === 250, 15_000), 'consumer recreated its group and caught up');
  t.same(got.map(seqOf), range(0, 250), 'the consumer saw every event once, in order');
});

t.test('gateway restarts during the outage: leftovers are delivered first, then new events', async (t) => {
  const { server, tmp, stream, make } = await setup(t, 'proc');
  const first = make({ clientName: 'gw-1' });
  for (let i = 0; i < 120; i++) await first.events.publish(usageTick(i));
  await first.close(); // SIGTERM while Redis is down: memory is persisted next to the spill files
  t.ok(readdirSync(tmp.dir).length > 0, 'undelivered events are on disk');

  const second = make({ clientName: 'gw-2' });
  for (let i = 120; i < 160; i++) await second.events.publish(usageTick(i));
  await server.start();
  t.equal(await second.flush(15_000), true);
  t.same(await streamSeqs(server.url, stream), range(0, 160), 'leftovers first, in order, then the new process');
  t.equal((second.events as RedisEventBus).stats().outbox!.recovered, 120);
  t.same(readdirSync(tmp.dir), []);
});

t.test('commands fail fast (no hang) while Redis is unreachable', async (t) => {
  const { make } = await setup(t, 'cmd');
  const control = make({ clientName: 'control' });
  await t.rejects(control.commands.publish({ type: 'terminate', id: 'c1', session_id: 's', reason: 'credit_exhausted', ts: Date.now() }));
});

t.test('Redis stops answering (blackhole): publish still never blocks; nothing lost once it answers again', async (t) => {
  const { server, stream, make } = await setup(t, 'hang');
  await server.start();
  const gateway = make({ clientName: 'gw' });
  for (let i = 0; i < 20; i++) await gateway.events.publish(usageTick(i));
  t.equal(await gateway.flush(5000), true);

  server.pause();
  for (let i = 20; i < 200; i++) await gateway.events.publish(usageTick(i)); // each resolves at once
  t.equal(await gateway.flush(4000), false, 'nothing confirmed while Redis hangs (commands time out instead of hanging)');
  t.ok((gateway.events as RedisEventBus).stats().outbox!.deliveryFailures > 0, 'the command timeout surfaced as a failed delivery');
  server.resume();
  t.equal(await gateway.flush(15_000), true, 'delivered once Redis answers');

  // A batch that timed out client-side may still have run on the server: at-least-once, so the stream
  // can hold a duplicate, but the first occurrence of each event is in publish order and none is missing.
  const seqs = await streamSeqs(server.url, stream);
  const firsts = seqs.filter((s, i) => seqs.indexOf(s) === i);
  t.same(firsts, range(0, 200), `every event present, first occurrences in order (${seqs.length - 200} duplicates)`);
});

t.test('consumer survives Redis hanging mid-stream: it resumes and every event is applied once (by id)', async (t) => {
  const { server, make } = await setup(t, 'hang-consumer');
  await server.start();
  const gateway = make({ clientName: 'gw' });
  const control = make({ clientName: 'control', consumer: 'c1' });
  const applied = new Set<string>();
  const order: number[] = [];
  control.events.consume(async (ev) => {
    if (applied.has(ev.id)) return; // idempotent by event id
    applied.add(ev.id);
    order.push(seqOf(ev));
  });
  for (let i = 0; i < 50; i++) await gateway.events.publish(usageTick(i));
  t.ok(await until(() => applied.size === 50, 10_000));
  server.pause();
  for (let i = 50; i < 150; i++) await gateway.events.publish(usageTick(i));
  await new Promise((r) => setTimeout(r, 3500)); // longer than the command and blocking timeouts
  server.resume();
  t.ok(await until(() => applied.size === 150, 20_000), 'all 150 applied after Redis answers again');
  t.same(order, range(0, 150), 'applied in publish order');
  t.ok(await until(async () => (await control.groupInfo())?.pending === 0, 10_000), 'nothing left pending');
});
