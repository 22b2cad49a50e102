/**
 * Standalone control plane (`npm run start:control`): config from the environment; the Redis bus when
 * REDIS_URL is set (gateway events consumed, commands published, lost gateway pods watched), the
 * in-process bus otherwise; webhooks out delivered from the outbox.
 */
import { createLogger } from '../../shared/src/logger.ts';
import { createBus } from '../../shared/src/bus/index.ts';
import { loadControlConfig } from './config.ts';
import { startControl } from './server.ts';
import { startEventConsumer } from './jobs/event-consumer.ts';
import { startGatewayWatch } from './jobs/gateway-watch.ts';
import { startWebhookDelivery } from './jobs/webhook-delivery.ts';

const config = loadControlConfig(process.env);
const logger = createLogger('control', config.LOG_LEVEL);
const bus = createBus({
  redisUrl: config.REDIS_URL, prefix: config.BUS_PREFIX, group: config.BUS_GROUP,
  consumer: config.BUS_CONSUMER, consumerOptions: { claimIdleMs: config.BUS_CLAIM_IDLE_MS },
  heartbeatTtlMs: config.GATEWAY_HEARTBEAT_TTL_MS, clientName: 'control',
}, logger.child({ svc: 'bus' }));
const control = await startControl({ config, commands: bus.commands, logger, registry: bus.registry });
const consumer = startEventConsumer(bus.events, { db: control.db, bus: bus.commands, config, log: logger, webhooks: config });
const watch = startGatewayWatch(bus.registry, control.db, logger, {
  intervalMs: config.GATEWAY_WATCH_INTERVAL_MS, graceMs: config.GATEWAY_HEARTBEAT_TTL_MS, webhooks: config,
});
const webhooks = startWebhookDelivery(control.db, config, logger, config.WEBHOOK_POLL_MS);
logger.info({ url: control.url, docs: `${control.url}/docs`, bus: bus.kind }, 'control plane listening');
process.stdout.write(`control plane listening on ${control.url} (docs: ${control.url}/docs)\n`);

let stopping = false;
async function stop(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  const timer = setTimeout(() => process.exit(1), 10_000);
  timer.unref();
  watch.stop();
  webhooks.stop();
  consumer.stop();
  await bus.close();
  await control.close();
  process.exit(0);
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
