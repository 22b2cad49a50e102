/**
 * The gateway watch judges silent pods only once the registry has been reachable for a heartbeat TTL:
 * after a bus outage (or at start) a live pod gets the chance to heartbeat again before its sessions
 * are failed with gateway_lost, while a pod that stays silent is still declared lost.
 */
import t from 'tap';
import { InProcessGatewayRegistry, type GatewayRegistry, type PodInfo } from '../../shared/src/bus/registry.ts';
import { createLogger } from '../../shared/src/logger.ts';
import { startGatewayWatch } from '../../control/src/jobs/gateway-watch.ts';
import { startTestControl } from '../helpers/control-app.ts';

const TTL = 15_000;
const pod = (id: string): PodInfo => ({ pod_id: id, address: `ws://${id}:8080`, sessions: 1, draining: false });

/** a real in-process registry behind a switch that makes every call fail, as a Redis outage does */
function flaky(inner: GatewayRegistry) {
  const state = { down: false, declared: [] as string[] };
  const guard = <A extends unknown[], R>(f: (...a: A) => Promise<R>) => async (...a: A): Promise<R> => {
    if (state.down) throw new Error('connect ECONNREFUSED 127.0.0.1:6379');
    return f(...a);
  };
  const registry: GatewayRegistry = {
    heartbeat: guard((i: PodInfo, now?: number) => inner.heartbeat(i, now)),
    startHeartbeat: (getInfo) => inner.startHeartbeat(getInfo),
    deregister: guard((id: string) => inner.deregister(id)),
    list: guard((now?: number) => inner.list(now)),
    expiredPods: guard((now?: number) => inner.expiredPods(now)),
    ackExpired: guard(async (id: string) => {
      state.declared.push(id);
      await inner.ackExpired(id);
    }),
  };
  return { registry, state };
}

t.test('a bus outage longer than the TTL fails no live pod; a dead one is still declared lost', async (t) => {
  const c = await startTestControl(t);
  const run = async (graceMs: number) => {
    const { registry, state } = flaky(new InProcessGatewayRegistry({ ttlMs: TTL, heartbeatMs: 5000, redeliverMs: 60_000 }));
    let clock = 0;
    const watch = startGatewayWatch(registry, c.control.db, createLogger('watch-test', 'silent'), { intervalMs: 3_600_000, graceMs, now: () => clock });
    t.teardown(() => watch.stop());
    await registry.heartbeat(pod('alive'), 0);
    await registry.heartbeat(pod('dead'), 0);
    clock = 1000;
    await watch.runOnce();
    state.down = true; // Redis fails over: 30 s without heartbeats or watch passes
    for (clock = 5000; clock <= 30_000; clock += 5000) await watch.runOnce();
    state.down = false;
    clock = 31_000;
    await watch.runOnce();
    const atRecovery = [...state.declared];
    await registry.heartbeat(pod('alive'), 33_000); // the live pod reconnects and heartbeats
    clock = 31_000 + TTL;
    await watch.runOnce();
    return { atRecovery, declared: state.declared };
  };

  const graced = await run(TTL);
  t.same(graced.atRecovery, [], 'nothing is judged the moment the registry is back');
  t.same(graced.declared, ['dead'], 'a TTL later: the pod that stayed silent is lost, the one that heartbeat again is not');

  const naive = await run(0);
  t.same(naive.atRecovery.sort(), ['alive', 'dead'], 'without the grace (the old behaviour) both pods would have been failed at recovery');
});
