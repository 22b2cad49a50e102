/**
 * One entry point for both services: Redis implementations when `redisUrl` is set (separate
 * deployments), in-process ones otherwise (the embedded `npm start`).
 *
 * Gateway pod:
 *   const bus = createBus({ redisUrl, prefix, spillDir, clientName: `gateway:${podId}` }, log);
 *   bus.commands.subscribe(onCommand);                       // act on sessions this pod holds
 *   const stopBeat = bus.registry.startHeartbeat(() => ({ pod_id, address, sessions, draining }));
 *   await bus.events.publish(ev);                            // never throws, never waits on Redis
 *   // SIGTERM: draining = true (next beat carries it) -> sessions end -> await bus.flush(ms)
 *   //          -> stopBeat() -> await bus.registry.deregister(podId) -> await bus.close()
 *
 * Control plane:
 *   const bus = createBus({ redisUrl, prefix, group: 'control' }, log);
 *   bus.events.consume(async (ev) => { await applyInOneTransactionDedupedById(ev); });
 *   await bus.commands.publish(cmd);                          // AppError UNAVAILABLE if Redis is down
 *   every few s: for (const p of await bus.registry.expiredPods()) { markGatewayLost(p); await bus.registry.ackExpired(p.pod_id); }
 *   GET /v1/ops/gateways -> bus.registry.list(); consumer lag -> bus.groupInfo()
 */
import type { Redis } from 'ioredis';
import { createLogger, type Logger } from '../logger.ts';
import { InProcessCommandBus, InProcessEventBus } from './in-process.ts';
import { openRedis, closeRedis } from './redis-connection.ts';
import { RedisCommandBus } from './redis-command-bus.ts';
import { RedisEventBus, type GroupInfo, type RedisEventBusOptions, type RedisEventBusStats } from './redis-event-bus.ts';
import { InProcessGatewayRegistry, RedisGatewayRegistry, type GatewayRegistry } from './registry.ts';
import type { CommandBus, EventBus } from './types.ts';

export interface BusConfig {
  /** e.g. `redis://127.0.0.1:6379/0`; absent = in-process bus */
  redisUrl?: string;
  /** key prefix for every bus key and channel, e.g. `sb:` (tests use a unique one each) */
  prefix: string;
  /** consumer group (one per control-plane deployment); default `control` */
  group?: string;
  /** consumer name (one per process); default `<hostname>-<pid>` */
  consumer?: string;
  /** gateway: spill directory for events published while Redis is down (leftovers delivered at start) */
  spillDir?: string;
  /** stream retention; default 7 days */
  maxAgeMs?: number;
  /** connection name shown in Redis CLIENT LIST, e.g. `gateway:<pod id>` */
  clientName?: string;
  heartbeatMs?: number;
  heartbeatTtlMs?: number;
  outbox?: RedisEventBusOptions['outbox'];
  consumerOptions?: RedisEventBusOptions['consumerOptions'];
}

export interface Bus {
  readonly kind: 'redis' | 'in-process';
  readonly commands: CommandBus;
  readonly events: EventBus;
  readonly registry: GatewayRegistry;
  /** outbox and consumer counters for metrics (Redis only; null in-process) */
  stats(): RedisEventBusStats | null;
  /** the consumer group's pending count and lag for ops (Redis only; null in-process or before the group exists) */
  groupInfo(): Promise<GroupInfo | null>;
  /** resolve true once every published event reached the bus (gateway drain), false on timeout */
  flush(timeoutMs: number): Promise<boolean>;
  /** stop consumers, persist undelivered events, close connections */
  close(): Promise<void>;
}

export function createBus(config: BusConfig, log: Logger = createLogger('bus')): Bus {
  const registryOpts = { heartbeatMs: config.heartbeatMs, ttlMs: config.heartbeatTtlMs, log };
  if (!config.redisUrl) {
    const events = new InProcessEventBus();
    return {
      kind: 'in-process',
      commands: new InProcessCommandBus(),
      events,
      registry: new InProcessGatewayRegistry(registryOpts),
      stats: () => null,
      groupInfo: async () => null,
      flush: async (timeoutMs) => {
        const until = Date.now() + timeoutMs;
        while (events.pending > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
        return events.pending === 0;
      },
      close: async () => undefined,
    };
  }
  const url = config.redisUrl;
  const name = (config.clientName ?? 'switchboard').replace(/[^\w:.-]/g, '_');
  const redis = openRedis(url, 'command', name);
  const subscriber = openRedis(url, 'subscriber', `${name}:sub`);
  const blocking = new Set<Redis>();
  const events = new RedisEventBus({
    prefix: config.prefix,
    redis,
    openBlocking: () => {
      const conn = openRedis(url, 'blocking', `${name}:read`);
      blocking.add(conn);
      conn.once('end', () => blocking.delete(conn));
      return conn;
    },
    group: config.group,
    consumer: config.consumer,
    maxAgeMs: config.maxAgeMs,
    spillDir: config.spillDir,
    outbox: config.outbox,
    consumerOptions: config.consumerOptions,
    log,
  });
  const commands = new RedisCommandBus({ prefix: config.prefix, publisher: redis, subscriber, log });
  let closing: Promise<void> | null = null;
  return {
    kind: 'redis',
    commands,
    events,
    registry: new RedisGatewayRegistry(redis, config.prefix, registryOpts),
    stats: () => events.stats(),
    groupInfo: () => events.groupInfo(),
    flush: (timeoutMs) => events.flush(timeoutMs),
    close: () => {
      closing ??= (async () => {
        await events.close();
        await commands.close();
        for (const conn of blocking) conn.disconnect();
        await closeRedis(redis);
      })();
      return closing;
    },
  };
}
