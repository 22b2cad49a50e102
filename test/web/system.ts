/**
 * The whole system in this process, as `npm start` runs it (control plane + gateway + in-process
 * buses), but on a fresh real-Postgres database, ephemeral ports and silent logs. The gateway starts
 * first with the control plane's public key as a local JWKS, so the control plane can hand out the
 * gateway's real (port 0) URL. The gateway runs the features engine (ConversationAnalyzer) per
 * session, so clients get live `features` events.
 */
import { randomBytes } from 'node:crypto';
import { InProcessCommandBus, InProcessEventBus } from '../../shared/src/bus/index.ts';
import { createLogger } from '../../shared/src/logger.ts';
import { generateSigningKey, jwksOf } from '../../shared/src/token.ts';
import { loadControlConfig } from '../../control/src/config.ts';
import { startControl, type ControlHandle } from '../../control/src/server.ts';
import { loadGatewayConfig } from '../../gateway/src/config.ts';
import { startGateway, type GatewayHandle } from '../../gateway/src/server.ts';
import { ConversationAnalyzer } from '../../gateway/src/features/index.ts';
import type { AnalyzerFactory } from '../../gateway/src/session/types.ts';
import type { NudgeRules, SessionClaims } from '../../shared/src/token.ts';
import { createTestDb } from '../helpers/db.ts';

interface Teardown { teardown(fn: () => unknown): void }

export interface TestSystem {
  control: ControlHandle;
  gateway: GatewayHandle;
  /** http://127.0.0.1:<port> */
  apiUrl: string;
  events: InProcessEventBus;
}

/**
 * The features engine as the gateway's per-session analyzer. Written against both shapes of the
 * analyzer hook (rate fixed by the factory + `nudges`, or rate and claims passed to `create`) while
 * that interface settles; the engine itself already has the hook's methods.
 */
export const featuresAnalyzers = {
  sampleRate: 24000,
  create(opts: { sampleRate?: number; claims?: SessionClaims; nudges?: unknown }) {
    const rules = (opts.claims?.agent.nudges ?? opts.nudges ?? undefined) as NudgeRules | undefined;
    return new ConversationAnalyzer({ sampleRate: (opts.sampleRate ?? 24000) as 24000, rules });
  },
} as unknown as AnalyzerFactory;

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
    analyzers: featuresAnalyzers,
  });
  t.teardown(() => gateway.close());
  const control = await startControl({
    config: loadControlConfig({
      CONTROL_PORT: '0',
      DATABASE_URL: db.url,
      DATA_DIR: `/tmp/sb-web-test-${randomBytes(4).toString('hex')}`,
      JWT_SECRET: randomBytes(32).toString('hex'),
      SCRYPT_COST: '1024',
      LOG_LEVEL: 'silent',
      RATE_LIMIT_PREFIX: `sbweb:${randomBytes(6).toString('hex')}`,
      PUBLIC_GATEWAY_URL: gateway.url,
    }),
    commands,
    logger: createLogger('control-test', 'silent'),
    signingKey,
  });
  t.teardown(() => control.close());
  return { control, gateway, apiUrl: control.url, events };
}
