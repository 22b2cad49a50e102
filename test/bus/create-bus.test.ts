/** One conformance suite run against both bus implementations returned by createBus. */
import t from 'tap';
import { createBus, type Bus } from '../../shared/src/bus/create-bus.ts';
import { RedisCommandBus } from '../../shared/src/bus/redis-command-bus.ts';
import { InProcessEventBus } from '../../shared/src/bus/in-process.ts';
import { AppError } from '../../shared/src/errors.ts';
import type { GatewayCommand, GatewayEvent } from '../../shared/src/bus/messages.ts';
import { newId } from '../../shared/src/ids.ts';
import { REDIS_URL, cleanupPrefix, quietLog, seqOf, tempDir, uniquePrefix, until, usageTick } from './helpers.ts';

interface Topology {
  control: Bus;
  podA: Bus;
  podB: Bus;
}

const prefix = uniquePrefix('conf');
const tmp = tempDir('conf');
t.teardown(async () => {
  await cleanupPrefix(prefix);
  tmp.remove();
});

let n = 0;
const kinds: Array<[string, () => Topology]> = [
  ['in-process', () => {
    // One process hosts everything: control and pods share the one bus.
    const bus = createBus({ prefix }, quietLog);
    if (bus.events instanceof InProcessEventBus) bus.events.retryDelayMs = 20;
    return { control: bus, podA: bus, podB: bus };
  }],
  ['redis', () => {
    const p = `${prefix}${n++}:`;
    const opts = { redisUrl: REDIS_URL, prefix: p, spillDir: tmp.dir, consumerOptions: { blockMs: 200, retryDelayMs: 50 } };
    // One spill name per process-like bus: outboxes must not share a directory and name.
    return {
      control: createBus({ ...opts, outbox: { name: `${n}-control` }, clientName: 'control', consumer: 'c1' }, quietLog),
      podA: createBus({ ...opts, outbox: { name: `${n}-a` }, clientName: 'pod-a' }, quietLog),
      podB: createBus({ ...opts, outbox: { name: `${n}-b` }, clientName: 'pod-b' }, quietLog),
    };
  }],
];

async function closeAll(top: Topology): Promise<void> {
  await Promise.all([...new Set([top.control, top.podA, top.podB])].map((b) => b.close()));
}

for (const [kind, build] of kinds) {
  t.test(`${kind}: createBus picks the implementation from redisUrl`, async (t) => {
    const top = build();
    t.teardown(() => closeAll(top));
    t.equal(top.control.kind, kind);
    t.equal(top.control.stats() === null, kind === 'in-process', 'counters only for Redis');
  });

  t.test(`${kind}: a command reaches every pod's subscribers`, async (t) => {
    const top = build();
    t.teardown(() => closeAll(top));
    const a: GatewayCommand[] = [];
    const b: GatewayCommand[] = [];
    top.podA.commands.subscribe((c) => a.push(c));
    top.podB.commands.subscribe((c) => b.push(c));
    for (const pod of [top.podA, top.podB]) if (pod.commands instanceof RedisCommandBus) await pod.commands.ready();
    const cmd: GatewayCommand = { type: 'terminate', id: newId(), session_id: 's1', reason: 'credit_exhausted', ts: Date.now() };
    await top.control.commands.publish(cmd);
    t.ok(await until(() => a.length === 1 && b.length === 1, 5000));
    t.same(a, [cmd]);
    t.same(b, [cmd]);
  });

  t.test(`${kind}: events arrive in order; a rejected one is retried until handled`, async (t) => {
    const top = build();
    t.teardown(() => closeAll(top));
    const got: GatewayEvent[] = [];
    let failOnce = true;
    top.control.events.consume(async (ev) => {
      if (seqOf(ev) === 3 && failOnce) {
        failOnce = false;
        throw new Error('transaction rolled back');
      }
      got.push(ev);
    });
    const sent = Array.from({ length: 10 }, (_, i) => usageTick(i));
    for (const ev of sent) await top.podA.events.publish(ev);
    t.ok(await until(() => got.length === 10, 10_000));
    t.same(new Set(got.map((e) => e.id)), new Set(sent.map((e) => e.id)), 'every event handled once');
    t.same(got.filter((e) => seqOf(e) !== 3).map(seqOf), [0, 1, 2, 4, 5, 6, 7, 8, 9], 'the others in order');
    t.equal(await top.podA.flush(5000), true, 'flush reports everything delivered');
    const info = await top.control.groupInfo();
    if (kind === 'redis') t.ok(await until(async () => (await top.control.groupInfo())?.pending === 0), 'group info: nothing pending');
    else t.equal(info, null, 'no consumer group in-process');
  });

  t.test(`${kind}: the registry lists a heartbeating pod`, async (t) => {
    const top = build();
    t.teardown(() => closeAll(top));
    await top.podA.registry.heartbeat({ pod_id: 'pod-a', address: 'ws://a', sessions: 2, draining: false });
    const pods = await top.control.registry.list();
    t.same(pods.map((p) => [p.pod_id, p.sessions]), [['pod-a', 2]]);
  });
}

t.test('redis: a command published while Redis is unreachable rejects with UNAVAILABLE', async (t) => {
  const bus = createBus({ redisUrl: 'redis://127.0.0.1:1', prefix, spillDir: tmp.dir, outbox: { name: 'unreachable' } }, quietLog);
  t.teardown(() => bus.close());
  const err = await bus.commands.publish({ type: 'terminate', id: newId(), session_id: 's', reason: 'terminated_by_operator', ts: Date.now() }).catch((e: unknown) => e);
  t.ok(err instanceof AppError);
  t.equal((err as AppError).code, 'UNAVAILABLE');
  t.equal((err as AppError).status, 503);
});
