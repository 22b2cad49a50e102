/**
 * Standalone gateway (`npm run start:gateway`): config from the environment, JWKS from
 * GATEWAY_JWKS (JSON) or GATEWAY_JWKS_URL, SIGTERM/SIGINT drain then exit. With REDIS_URL the Redis
 * bus joins it to the control plane: events out (spilled to GATEWAY_SPILL_DIR while Redis is down),
 * terminate commands in, and a heartbeat in the pod registry (live sessions, draining flag).
 * Drain: draining flag -> sessions finish (or end at the deadline) -> final usage flushed to Redis
 * -> heartbeat stopped, pod deregistered (so it is not reported lost) -> exit.
 */
import type { JSONWebKeySet } from 'jose';
import { createBus } from '../../shared/src/bus/index.ts';
import { loadGatewayConfig } from './config.ts';
import { createGatewayLogger } from './log.ts';
import { startGateway } from './server.ts';
import { loadProvidersConfig } from './providers/config.ts';

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
  const bus = createBus({
    redisUrl: config.REDIS_URL, prefix: config.BUS_PREFIX, spillDir: config.GATEWAY_SPILL_DIR,
    heartbeatMs: config.GATEWAY_HEARTBEAT_MS, heartbeatTtlMs: config.GATEWAY_HEARTBEAT_TTL_MS,
    clientName: `gateway:${config.GATEWAY_POD_ID}`,
  }, logger.child({ svc: 'bus' }));
  // without Redis a lone gateway has no consumer for its events: publish none rather than queue them forever
  const events = bus.kind === 'redis' ? bus.events : undefined;
  const gw = await startGateway({ config, jwks, logger, commands: bus.commands, events, providers: loadProvidersConfig(process.env) });
  let draining = false;
  const podId = config.GATEWAY_POD_ID;
  const address = config.GATEWAY_PUBLIC_URL ?? gw.url;
  // the in-process registry has no reader in a lone gateway process: heartbeat only to Redis
  const stopBeat = bus.kind === 'redis' ? bus.registry.startHeartbeat(() => ({ pod_id: podId, address, sessions: gw.sessions, draining })) : () => {};
  // One line on stdout for scripts and the bench to find the port.
  process.stdout.write(`gateway listening on ${gw.url}\n`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    draining = true;
    // publish the draining flag now rather than at the next beat, so the pod is not picked for new sessions
    if (bus.kind === 'redis') void bus.registry.heartbeat({ pod_id: podId, address, sessions: gw.sessions, draining }).catch(() => {});
    gw.drain()
      .then(() => gw.close())
      .then(async () => {
        const flushed = await bus.flush(config.GATEWAY_DRAIN_FLUSH_MS);
        if (!flushed) logger.warn('events still buffered at exit; they stay in the spill directory for the next start');
        stopBeat();
        if (bus.kind === 'redis') await bus.registry.deregister(podId).catch(() => {});
        await bus.close();
      })
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
