/**
 * Standalone gateway (`npm run start:gateway`): config from the environment, JWKS from
 * GATEWAY_JWKS (JSON) or GATEWAY_JWKS_URL, SIGTERM/SIGINT drain then exit.
 */
import type { JSONWebKeySet } from 'jose';
import { loadGatewayConfig } from './config.ts';
import { createGatewayLogger } from './log.ts';
import { startGateway } from './server.ts';

async function main(): Promise<void> {
  const config = loadGatewayConfig(process.env);
  const logger = createGatewayLogger(config.LOG_LEVEL);
  let jwks: JSONWebKeySet | URL;
  if (config.GATEWAY_JWKS) {
    try {
      jwks = JSON.parse(config.GATEWAY_JWKS) as JSONWebKeySet;
    } catch {
      throw new Error('GATEWAY_JWKS is not valid JSON (expected {"keys":[...]})');
    }
    if (!Array.isArray(jwks.keys)) throw new Error('GATEWAY_JWKS must be a JWKS object with a "keys" array');
  } else if (config.GATEWAY_JWKS_URL) {
    jwks = new URL(config.GATEWAY_JWKS_URL);
  } else {
    throw new Error("Set GATEWAY_JWKS (the control plane's JWKS as JSON) or GATEWAY_JWKS_URL (its /.well-known/jwks.json)");
  }
  const gw = await startGateway({ config, jwks, logger });
  // One line on stdout for scripts and the bench to find the port.
  process.stdout.write(`gateway listening on ${gw.url}\n`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    gw.drain()
      .then(() => gw.close())
      .then(() => process.exit(0))
      .catch((e: unknown) => {
        logger.error({ err: e }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((e: unknown) => {
  process.stderr.write(`gateway failed to start: ${(e as Error).message}\n`);
  process.exit(1);
});
