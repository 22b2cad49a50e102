/**
 * The control plane's consumer of gateway events: each event is applied (services/gateway-events.ts)
 * and the handler resolves only after its effects committed, so the Redis bus acknowledges (XACK) an
 * event only once it is in the database; a crash before that leaves it pending for redelivery, and
 * the idempotent apply makes the redelivery a no-op.
 */
import type { EventBus } from '../../../shared/src/bus/index.ts';
import { applyGatewayEvent, type GatewayEventDeps } from '../services/gateway-events.ts';

export interface EventConsumerStats { applied: number; duplicate: number; skipped: number; unknown_session: number; failed: number }

export function startEventConsumer(events: EventBus, deps: GatewayEventDeps): { stop(): void; stats: EventConsumerStats } {
  const stats: EventConsumerStats = { applied: 0, duplicate: 0, skipped: 0, unknown_session: 0, failed: 0 };
  const log = deps.log.child({ job: 'event-consumer' });
  const stop = events.consume(async (ev) => {
    try {
      stats[await applyGatewayEvent({ ...deps, log }, ev)]++;
    } catch (err) {
      stats.failed++;
      log.error({ err, event_id: ev.id, type: ev.type }, 'applying a gateway event failed; it stays pending');
      throw err;
    }
  });
  return { stop, stats };
}
