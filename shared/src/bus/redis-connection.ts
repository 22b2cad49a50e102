/**
 * ioredis connection options per bus role, in one commented place (as ioredis keeps its own defaults).
 *
 * The bus opens up to three kinds of connection and each one fails differently on purpose:
 *  - `command`: XADD/XACK/PUBLISH/registry. Must never hang a live session while Redis is down, so
 *    it fails fast and the caller (outbox, consumer loop) decides what to do.
 *  - `subscriber`: pub/sub for commands. Queues its SUBSCRIBE until connected and re-subscribes after
 *    every reconnect (`autoResubscribe`), because a pod that silently loses its subscription would
 *    never see a `terminate`.
 *  - `blocking`: one per event consumer, only for XREADGROUP BLOCK, so closing it interrupts the
 *    block instantly on stop() and a blocked read never delays XACKs issued on `command`.
 */
import { Redis, type RedisOptions } from 'ioredis';

export type RedisRole = 'command' | 'subscriber' | 'blocking';

/** Reconnect delay: 50 ms doubling to at most 2 s, so a Redis restart is noticed within ~2 s. */
export function reconnectDelay(times: number): number {
  return Math.min(50 * 2 ** Math.min(times, 6), 2000);
}

const ROLE_OPTIONS: Record<RedisRole, RedisOptions> = {
  command: {
    // Commands issued while disconnected are rejected at once ("Stream isn't writeable and
    // enableOfflineQueue options is false") instead of queueing behind an outage.
    enableOfflineQueue: false,
    // A command already written when the socket drops is retried on one reconnect, then rejected
    // with MaxRetriesPerRequestError; the outbox keeps the event and retries it itself.
    maxRetriesPerRequest: 1,
    // A half-open socket (no RST) would otherwise keep a command pending until TCP gives up.
    commandTimeout: 3000,
    connectTimeout: 2000,
    retryStrategy: reconnectDelay,
  },
  subscriber: {
    // SUBSCRIBE issued before the first connect is queued and sent once ready.
    enableOfflineQueue: true,
    autoResubscribe: true,
    maxRetriesPerRequest: null,
    connectTimeout: 2000,
    retryStrategy: reconnectDelay,
  },
  blocking: {
    enableOfflineQueue: false,
    // A read in flight when the socket drops is rejected, never re-sent: the server may already have
    // delivered its entries to our pending list, so the consumer re-reads that list (in order) first.
    maxRetriesPerRequest: 0,
    // No `blockingTimeout`: on expiry ioredis resolves the read with null but keeps the socket, so a
    // late reply (entries now pending for us) would be silently dropped. The consumer runs its own
    // watchdog instead and reconnects the socket, which rejects the read.
    connectTimeout: 2000,
    retryStrategy: reconnectDelay,
  },
};

/** Open a connection for one bus role. `name` shows in CLIENT LIST to tell pods apart. */
export function openRedis(url: string, role: RedisRole, name: string): Redis {
  // RESP2 (ioredis 6 defaults to RESP3): raw `call()` replies for XREADGROUP/XAUTOCLAIM then have the
  // documented nested-array shape instead of RESP3 maps flattened by the legacy reply mapping.
  const redis = new Redis(url, { ...ROLE_OPTIONS[role], protocol: 2, connectionName: name });
  // Without an 'error' listener ioredis logs every failed reconnect as an unhandled error event;
  // callers observe failures through rejected commands and the connection status instead.
  redis.on('error', noop);
  return redis;
}

function noop(): void {}

/** Resolve when `redis` is ready or after `timeoutMs`; true when ready, false on timeout or close. */
export function waitReady(redis: Redis, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  if (redis.status === 'end') return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      redis.off('end', onEnd);
      resolve(ok);
    };
    const onReady = () => done(true);
    const onEnd = () => done(false);
    const timer = setTimeout(() => done(false), timeoutMs);
    redis.on('ready', onReady);
    redis.on('end', onEnd);
  });
}

/**
 * For request/response callers on a fail-fast connection (command publish, registry): wait briefly
 * for a connection that is still (re)connecting instead of failing on the first attempt at boot.
 */
export async function whenReady(redis: Redis, timeoutMs = 2000): Promise<void> {
  if (redis.status === 'ready') return;
  if (!(await waitReady(redis, timeoutMs))) throw new Error(`Redis not reachable within ${timeoutMs} ms (status ${redis.status})`);
}

/** Close without waiting for a dead server: QUIT when connected, otherwise drop the socket. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'ready') {
    try {
      await redis.quit();
      return;
    } catch {
      // fall through to a hard disconnect
    }
  }
  redis.disconnect();
}
