/**
 * Exactly-once effect over at-least-once delivery: 1000 events, the consumer killed mid-way (in
 * process, and as a real process with SIGKILL), restarted; handlers dedupe by event id. The set of
 * applied ids equals the set published and no effect is applied twice.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { createBus, type Bus } from '../../shared/src/bus/create-bus.ts';
import type { RedisEventBus } from '../../shared/src/bus/redis-event-bus.ts';
import type { GatewayEvent } from '../../shared/src/bus/messages.ts';
import { REDIS_URL, cleanupPrefix, quietLog, tempDir, uniquePrefix, until, usageTick } from './helpers.ts';

const raw = new Redis(REDIS_URL);
t.teardown(() => raw.disconnect());
const N = 1000;

/** Publish N events and wait until all are in the stream. */
async function publishAll(prefix: string, spillDir: string): Promise<GatewayEvent[]> {
  const gateway = createBus({ redisUrl: REDIS_URL, prefix, spillDir }, quietLog);
  const events = Array.from({ length: N }, (_, i) => usageTick(i, `sess-${i % 20}`));
  for (const ev of events) await gateway.events.publish(ev);
  const flushed = await gateway.flush(20_000);
  await gateway.close();
  if (!flushed) throw new Error('publishing did not complete');
  return events;
}

t.test('in-process crash after commit, before XACK: the rescuer dedupes the redelivery', async (t) => {
  const prefix = uniquePrefix('once-a');
  const tmp = tempDir('once-a');
  const buses: Bus[] = [];
  t.teardown(async () => {
    await Promise.all(buses.map((b) => b.close()));
    await cleanupPrefix(prefix);
    tmp.remove();
  });
  const published = await publishAll(prefix, tmp.dir);
  const applied = new Set<string>();
  let effects = 0;
  let deliveries = 0;
  const apply = (ev: GatewayEvent) => {
    deliveries++;
    if (applied.has(ev.id)) return; // idempotent by event id
    applied.add(ev.id);
    effects++;
  };
  const opts = { blockMs: 100, retryDelayMs: 100, claimIdleMs: 300, claimIntervalMs: 100, count: 50 };
  const a = createBus({ redisUrl: REDIS_URL, prefix, consumer: 'a', consumerOptions: opts }, quietLog);
  buses.push(a);
  let seen = 0;
  const crash = a.events.consume(async (ev) => {
    apply(ev);
    if (++seen === 500) return new Promise<void>(() => undefined); // committed, then the process "dies"
  });
  t.ok(await until(() => seen === 500, 15_000));
  crash();

  const b = createBus({ redisUrl: REDIS_URL, prefix, consumer: 'b', consumerOptions: opts }, quietLog);
  buses.push(b);
  b.events.consume(async (ev) => apply(ev));
  t.ok(await until(() => applied.size === N, 20_000), 'every event applied');
  t.ok(await until(async () => Number(((await raw.xpending(`${prefix}events`, 'control')) as unknown[])[0]) === 0), 'nothing pending');
  t.same([...applied].sort(), published.map((e) => e.id).sort(), 'applied set == published set');
  t.equal(effects, N, 'no effect applied twice');
  t.ok(deliveries > N, `event 500 was delivered again and deduped (${deliveries} deliveries)`);
  t.ok((b.events as RedisEventBus).stats().consumers[0]!.claimed >= 1, 'taken over via XAUTOCLAIM');
});

function startConsumer(prefix: string, name: string, delayMs: number) {
  const script = fileURLToPath(new URL('./fixtures/consumer-proc.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import=tsx', script, REDIS_URL, prefix, name, String(delayMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('ready')) resolve(); });
    child.once('exit', (code) => reject(new Error(`consumer exited early (${code})`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, ready, exited };
}

t.test('SIGKILL the consumer process mid-stream, restart it: applied ids == published, none twice', async (t) => {
  const prefix = uniquePrefix('once-b');
  const tmp = tempDir('once-b');
  const procs: Array<ReturnType<typeof startConsumer>> = [];
  t.teardown(async () => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    await cleanupPrefix(prefix);
    tmp.remove();
  });
  const published = await publishAll(prefix, tmp.dir);

  const first = startConsumer(prefix, 'control-0', 2);
  procs.push(first);
  await first.ready;
  t.ok(await until(async () => (await raw.scard(`${prefix}db:applied`)) >= 300, 20_000), 'first process applied a good part');
  first.child.kill('SIGKILL');
  await first.exited;
  const atKill = await raw.scard(`${prefix}db:applied`);
  t.ok(atKill < N, `killed mid-way (${atKill} of ${N} applied)`);

  // Same consumer name (a restarted pod): resumes its own pending list at once; no handler delay now.
  const second = startConsumer(prefix, 'control-0', 0);
  procs.push(second);
  await second.ready;
  t.ok(await until(async () => (await raw.scard(`${prefix}db:applied`)) === N, 20_000), 'all applied after restart');
  t.ok(await until(async () => Number(((await raw.xpending(`${prefix}events`, 'control')) as unknown[])[0]) === 0), 'nothing pending');
  second.child.kill('SIGTERM');
  await second.exited;

  const order = await raw.lrange(`${prefix}db:order`, 0, -1);
  t.equal(order.length, N, 'each effect applied exactly once');
  t.same([...order].sort(), published.map((e) => e.id).sort(), 'applied set == published set');
  const deliveries = Number(await raw.get(`${prefix}db:deliveries`));
  t.ok(deliveries >= N, `${deliveries} deliveries for ${N} events`);
});
