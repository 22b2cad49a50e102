import t from 'tap';
import { Redis } from 'ioredis';
import { createBus } from '../../shared/src/bus/create-bus.ts';
import { RedisCommandBus } from '../../shared/src/bus/redis-command-bus.ts';
import type { GatewayCommand } from '../../shared/src/bus/messages.ts';
import { newId } from '../../shared/src/ids.ts';
import { REDIS_URL, cleanupPrefix, quietLog, uniquePrefix, until } from './helpers.ts';

const prefix = uniquePrefix('cmd');
t.teardown(() => cleanupPrefix(prefix));

const terminate = (session: string): GatewayCommand => ({
  type: 'terminate', id: newId(), session_id: session, reason: 'terminated_by_operator', ts: Date.now(),
});

t.test('a command reaches every subscribed pod', async (t) => {
  const control = createBus({ redisUrl: REDIS_URL, prefix, clientName: 'control' }, quietLog);
  const podA = createBus({ redisUrl: REDIS_URL, prefix, clientName: 'pod-a' }, quietLog);
  const podB = createBus({ redisUrl: REDIS_URL, prefix, clientName: 'pod-b' }, quietLog);
  t.teardown(async () => {
    await Promise.all([control.close(), podA.close(), podB.close()]);
  });
  const seenA: GatewayCommand[] = [];
  const seenB: GatewayCommand[] = [];
  podA.commands.subscribe((c) => seenA.push(c));
  podB.commands.subscribe((c) => seenB.push(c));
  await (podA.commands as RedisCommandBus).ready();
  await (podB.commands as RedisCommandBus).ready();

  const cmds = [terminate('s1'), { type: 'inject', id: newId(), session_id: 's2', text: 'hello', ts: Date.now() } as GatewayCommand];
  for (const c of cmds) await control.commands.publish(c);
  t.ok(await until(() => seenA.length === 2 && seenB.length === 2, 5000));
  t.same(seenA, cmds, 'pod A got both, in order');
  t.same(seenB, cmds, 'pod B got both, in order');
});

t.test('invalid messages are dropped and counted; a throwing handler does not stop the others', async (t) => {
  const pod = createBus({ redisUrl: REDIS_URL, prefix, clientName: 'pod' }, quietLog);
  const raw = new Redis(REDIS_URL);
  t.teardown(async () => {
    await pod.close();
    raw.disconnect();
  });
  const bus = pod.commands as RedisCommandBus;
  const seen: GatewayCommand[] = [];
  pod.commands.subscribe(() => {
    throw new Error('handler bug');
  });
  pod.commands.subscribe((c) => seen.push(c));
  await bus.ready();
  await raw.publish(bus.channel, 'not json');
  await raw.publish(bus.channel, JSON.stringify({ type: 'terminate', id: 'x', session_id: 's', reason: 'because', ts: 1 }));
  await raw.publish(bus.channel, JSON.stringify({ type: 'explode' }));
  const good = terminate('s9');
  await raw.publish(bus.channel, JSON.stringify(good));
  t.ok(await until(() => seen.length === 1, 5000));
  t.same(seen, [good]);
  t.equal(bus.invalid, 3, 'three invalid commands dropped');
});

t.test('publishing an invalid command is refused before it reaches Redis', async (t) => {
  const control = createBus({ redisUrl: REDIS_URL, prefix, clientName: 'control' }, quietLog);
  t.teardown(() => control.close());
  await t.rejects(control.commands.publish({ type: 'terminate', id: 'x', session_id: 's', reason: 'nope', ts: 1 } as unknown as GatewayCommand));
});

t.test('unsubscribe stops delivery to that handler', async (t) => {
  const control = createBus({ redisUrl: REDIS_URL, prefix, clientName: 'control' }, quietLog);
  const pod = createBus({ redisUrl: REDIS_URL, prefix, clientName: 'pod' }, quietLog);
  t.teardown(async () => {
    await Promise.all([control.close(), pod.close()]);
  });
  const a: GatewayCommand[] = [];
  const b: GatewayCommand[] = [];
  const offA = pod.commands.subscribe((c) => a.push(c));
  pod.commands.subscribe((c) => b.push(c));
  await (pod.commands as RedisCommandBus).ready();
  await control.commands.publish(terminate('s1'));
  t.ok(await until(() => a.length === 1 && b.length === 1, 5000));
  offA();
  await control.commands.publish(terminate('s2'));
  t.ok(await until(() => b.length === 2, 5000));
  t.equal(a.length, 1, 'unsubscribed handler saw nothing more');
});
