/**
 * `npm start`: the whole system in one process on embedded defaults — the control plane on PGlite
 * (unless DATABASE_URL is set), the gateway, and the in-process bus joining them. Production runs the
 * two services separately (`npm run start:control`, `npm run start:gateway`) on Postgres and Redis.
 */
import { loadControlConfig } from './control/src/config.ts';
import { startControl } from './control/src/server.ts';
import { loadGatewayConfig } from './gateway/src/config.ts';
import { startGateway } from './gateway/src/server.ts';
import { InProcessCommandBus, InProcessEventBus, InProcessGatewayRegistry } from './shared/src/bus/index.ts';
import { createLogger } from './shared/src/logger.ts';
import { randomToken } from './shared/src/ids.ts';
import { loadProvidersConfig } from './gateway/src/providers/config.ts';
import { startEventConsumer } from './control/src/jobs/event-consumer.ts';
import { startWebhookDelivery } from './control/src/jobs/webhook-delivery.ts';

const log = createLogger('switchboard', process.env.LOG_LEVEL ?? 'info');
const commands = new InProcessCommandBus();
const events = new InProcessEventBus();
const registry = new InProcessGatewayRegistry();

const gatewayConfig = loadGatewayConfig(process.env);
// The control plane hands out the gateway URL in session responses: default it to the gateway started here.
const controlConfig = loadControlConfig({
  ...process.env,
  PUBLIC_GATEWAY_URL: process.env.PUBLIC_GATEWAY_URL ?? `ws://127.0.0.1:${gatewayConfig.GATEWAY_PORT}`,
  // the gateway's credential for POST /internal/tools: one per run unless configured
  CONTROL_SERVICE_TOKEN: process.env.CONTROL_SERVICE_TOKEN || randomToken(32),
});
const control = await startControl({ config: controlConfig, commands, registry, logger: log.child({ svc: 'control' }) });
// gateway events (session state, usage -> ledger, transcripts, features) applied as the Redis consumer would
const consumer = startEventConsumer(events, { db: control.db, bus: commands, config: controlConfig, log: log.child({ svc: 'control' }), webhooks: controlConfig });
const webhooks = startWebhookDelivery(control.db, controlConfig, log.child({ svc: 'control' }), controlConfig.WEBHOOK_POLL_MS);
const gateway = await startGateway({
  config: gatewayConfig,
  jwks: new URL('/.well-known/jwks.json', control.url),
  commands,
  events,
  logger: log.child({ svc: 'gateway' }),
  // provider keys from the environment (OPENAI_API_KEY, ...); tool calls go to this control plane
  providers: loadProvidersConfig({
    ...process.env,
    TOOLS_BASE_URL: process.env.TOOLS_BASE_URL ?? control.url,
    GATEWAY_SERVICE_TOKEN: controlConfig.CONTROL_SERVICE_TOKEN,
  }),
});

// the one gateway shows up in GET /v1/ops/gateways as a pod would
let draining = false;
const stopBeat = registry.startHeartbeat(() => ({ pod_id: gatewayConfig.GATEWAY_POD_ID, address: gateway.url, sessions: gateway.sessions, draining }));

process.stdout.write(
  [
    '',
    'Switchboard is running (embedded defaults: PGlite, in-process bus, echo agent)',
    `  app       ${control.url}/app`,
    `  API       ${control.url}`,
    `  API docs  ${control.url}/docs`,
    `  gateway   ${gateway.url}`,
    '',
  ].join('\n') + '\n',
);

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'shutting down');
  draining = true;
  await gateway.drain();
  await gateway.close();
  // the last usage ticks of drained sessions reach the ledger before the database closes
  const until = Date.now() + 5000;
  while (events.pending > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  consumer.stop();
  webhooks.stop();
  stopBeat();
  await control.close();
  process.exit(0);
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
