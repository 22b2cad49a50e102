/**
 * Delivers due webhooks from the outbox every WEBHOOK_POLL_MS (never two passes at once in a process;
 * several control replicas are safe because each attempt leases its row with SKIP LOCKED first).
 */
import type { Logger } from '../../../shared/src/logger.ts';
import type { Db } from '../db/client.ts';
import { deliverDue, type Outcome, type WebhookConfig } from '../services/webhooks-out.ts';

export function startWebhookDelivery(db: Db, config: WebhookConfig, log: Logger, pollMs: number): { stop(): void; runOnce(): Promise<Outcome[]> } {
  const l = log.child({ job: 'webhook-delivery' });
  let running: Promise<Outcome[]> | null = null;
  let stopped = false;
  const runOnce = (): Promise<Outcome[]> => {
    running ??= deliverDue(db, config, l)
      .catch((err: unknown) => {
        l.error({ err }, 'webhook delivery pass failed; retried next poll');
        return [] as Outcome[];
      })
      .finally(() => { running = null; });
    return running;
  };
  const timer = setInterval(() => { if (!stopped) void runOnce(); }, pollMs);
  timer.unref();
  return { stop: () => { stopped = true; clearInterval(timer); }, runOnce };
}
