/**
 * Watches the gateway registry for pods whose heartbeat expired without a clean deregistration (a
 * crash, SIGKILL, a lost node): their live sessions are marked `failed` with reason `gateway_lost`.
 * Billing needs nothing more: each session was debited per usage tick the pod published (ticks still
 * in the stream are applied as they arrive), so it is billed up to its last tick.
 *
 * `expiredPods()` hands each dead pod to exactly one control replica; `ackExpired()` only after the
 * sessions are marked, so a watcher crashing mid-way gets the pod again.
 *
 * A silent pod is judged only after the registry has been reachable for `graceMs` (the heartbeat
 * TTL): when Redis was down, every pod missed its heartbeats through no fault of its own, and a Redis
 * failover of 15-30 s must not fail every live call. So after an outage (and at start, when this
 * process cannot know what happened before it) each pod first gets a full TTL to heartbeat again.
 */
import type { Logger } from '../../../shared/src/logger.ts';
import type { GatewayRegistry } from '../../../shared/src/bus/index.ts';
import type { Db } from '../db/client.ts';
import { failSessionsOfPod } from '../services/gateway-events.ts';
import type { WebhookConfig } from '../services/webhooks-out.ts';

export interface GatewayWatchOptions {
  intervalMs: number;
  /** how long the registry must have been reachable before a silent pod is judged (the heartbeat TTL) */
  graceMs: number;
  webhooks?: WebhookConfig;
  now?: () => number;
}

export function startGatewayWatch(registry: GatewayRegistry, db: Db, log: Logger, opts: GatewayWatchOptions): { stop(): void; runOnce(): Promise<number> } {
  const l = log.child({ job: 'gateway-watch' });
  const now = opts.now ?? Date.now;
  /** since when every pass reached the registry (null: the last one failed, or none ran yet) */
  let reachableSince: number | null = null;
  let running: Promise<number> | null = null;
  const runOnce = (): Promise<number> => {
    running ??= (async () => {
      let n = 0;
      try {
        const t = now();
        if (reachableSince === null || t - reachableSince < opts.graceMs) {
          await registry.list(t); // probe: throws while the bus is unreachable
          if (reachableSince === null) {
            reachableSince = t;
            l.info({ grace_ms: opts.graceMs }, 'gateway registry reachable; silent pods are judged after the grace period');
          }
          if (t - reachableSince < opts.graceMs) return 0;
        }
        for (const pod of await registry.expiredPods(t)) {
          const failed = await failSessionsOfPod(db, pod.pod_id, opts.webhooks);
          n += failed.length;
          l.warn({ pod_id: pod.pod_id, last_heartbeat: new Date(pod.last_heartbeat).toISOString(), sessions: failed.length }, 'gateway pod lost; its sessions failed with gateway_lost');
          await registry.ackExpired(pod.pod_id);
        }
      } catch (err) {
        reachableSince = null;
        l.error({ err }, 'gateway watch pass failed; retried next interval');
      } finally {
        running = null;
      }
      return n;
    })();
    return running;
  };
  const timer = setInterval(() => void runOnce(), opts.intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer), runOnce };
}
