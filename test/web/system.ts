/**
 * The whole system in this process, as `npm start` runs it (control plane + gateway + in-process
 * buses), but on a fresh real-Postgres database, ephemeral ports and silent logs. The gateway starts
 * first with the control plane's public key as a local JWKS, so the control plane can hand out the
 * gateway's real (port 0) URL. The gateway runs its default features engine per session; the control
 * plane consumes the gateway's events (session state, usage, features summary) as in start.ts.
 */
import { randomBytes } from 'node:crypto';
import { InProcessCommandBus, InProcessEventBus } from '../../shared/src/bus/index.ts';
import { createLogger } from '../../shared/src/logger.ts';
import { generateSigningKey, jwksOf } from '../../shared/src/token.ts';
import { loadControlConfig } from '../../control/src/config.ts';
import { startControl, type ControlHandle } from '../../control/src/server.ts';
import { loadGatewayConfig } from '../../gateway/src/config.ts';
import { startGateway, type GatewayHandle } from '../../gateway/src/server.ts';
import { startEventConsumer } from '../../control/src/jobs/event-consumer.ts';
import { createTestDb } from '../helpers/db.ts';

interface Teardown { teardown(fn: () => unknown): void }

export interface TestSystem {
  control: ControlHandle;
  gateway: GatewayHandle;
  /** http://127.0.0.1:<port> */
  apiUrl: string;
  events: InProcessEventBus;
}

export async function startSystem(t: Teardown): Promise<TestSystem> {
  const db = await createTestDb(t, 'sbweb');
  const signingKey = await generateSigningKey();
  const commands = new InProcessCommandBus();
  const events = new InProcessEventBus();
  const gateway = await startGateway({
    config: loadGatewayConfig({ GATEWAY_PORT: '0', GATEWAY_HOST: '127.0.0.1', LOG_LEVEL: 'silent' }),
    jwks: jwksOf(signingKey),
    commands,
    events,
    logger: createLogger('gateway-test', 'silent'),
  });
  const controlConfig = loadControlConfig({
    CONTROL_PORT: '0',
    DATABASE_URL: db.url,
    DATA_DIR: `/tmp/sb-web-test-${randomBytes(4).toString('hex')}`,
    JWT_SECRET: randomBytes(32).toString('hex'),
    SCRYPT_COST: '1024',
    LOG_LEVEL: 'silent',
    RATE_LIMIT_PREFIX: `sbweb:${randomBytes(6).toString('hex')}`,
    PUBLIC_GATEWAY_URL: gateway.url,
  });
  const log = createLogger('control-test', 'silent');
  let control: ControlHandle;
  try {
    control = await startControl({ config: controlConfig, commands, logger: log, signingKey });
  } catch (e) {
    await gateway.close();
    throw e;
  }
  // gateway events (session state, usage, transcripts, features summary) applied as in start.ts
  const consumer = startEventConsumer(events, { db: control.db, bus: commands, config: controlConfig, log });
  // shut down as start.ts does: gateway, then the events it left, then the control plane
  t.teardown(async () => {
    await gateway.close();
    const until = Date.now() + 5000;
    while (events.pending > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    consumer.stop();
    await control.close();
  });
  return { control, gateway, apiUrl: control.url, events };
}
