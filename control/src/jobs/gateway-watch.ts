/**
 * Watches the gateway registry for pods whose heartbeat expired without a clean deregistration (a
 * crash, SIGKILL, a lost node): their live sessions are marked `failed` with reason `gateway_lost`.
 * Billing needs nothing more: each session was debited per usage tick the pod published (ticks still
 * in the stream are applied as they arrive), so it is billed up to its last tick.
 *
 * `expiredPods()` hands each dead pod to exactly one control replica; `ackExpired()` only after the
 * sessions are marked, so a watcher crashing mid-way gets the pod again.
 */
import type { Logger } from '../../../shared/src/logger.ts';
import type { GatewayRegistry } from '../../../shared/src/bus/index.ts';
import type { Db } from '../db/client.ts';
import { failSessionsOfPod } from '../services/gateway-events.ts';
import type { WebhookConfig } from '../services/webhooks-out.ts';

export function startGatewayWatch(registry: GatewayRegistry, db: Db, log: Logger, intervalMs: number, webhooks?: WebhookConfig): { stop(): void; runOnce(): Promise<number> } {
  const l = log.child({ job: 'gateway-watch' });
  let running: Promise<number> | null = null;
  const runOnce = (): Promise<number> => {
    running ??= (async () => {
      let n = 0;
      try {
        for (const pod of await registry.expiredPods()) {
          const failed = await failSessionsOfPod(db, pod.pod_id, webhooks);
          n += failed.length;
          l.warn({ pod_id: pod.pod_id, last_heartbeat: new Date(pod.last_heartbeat).toISOString(), sessions: failed.length }, 'gateway pod lost; its sessions failed with gateway_lost');
          await registry.ackExpired(pod.pod_id);
        }
      } catch (err) {
        l.error({ err }, 'gateway watch pass failed; retried next interval');
      } finally {
        running = null;
      }
      return n;
    })();
    return running;
  };
  const timer = setInterval(() => void runOnce(), intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer), runOnce };
}
