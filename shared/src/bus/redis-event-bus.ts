/**
 * Events gateway -> control on a Redis Stream (`<prefix>events`).
 *
 * Publishing never throws and never waits on Redis: each event is serialised once into the outbox
 * (memory, then spill files beyond its bound) and a background flusher XADDs batches in order inside
 * MULTI, trimming the stream by age (`MINID ~ now-maxAge`, approximate so trimming only drops whole
 * macro-nodes and stays O(1)). Consuming is one StreamConsumer per consume() call, in the configured
 * consumer group.
 */
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.ts';
import type { GatewayEvent } from './messages.ts';
import type { EventBus } from './types.ts';
import { Outbox, type OutboxOptions, type OutboxStats } from './outbox.ts';
import { StreamConsumer, type StreamConsumerOptions, type StreamConsumerStats } from './redis-stream-consumer.ts';

export interface RedisEventBusOptions {
  prefix: string;
  /** non-blocking, fail-fast connection (see redis-connection.ts `command` role) */
  redis: Redis;
  /** opens a dedicated connection for each consumer's XREADGROUP BLOCK; required to consume() */
  openBlocking?: () => Redis;
  /** consumer group: one per control-plane deployment */
  group?: string;
  /** consumer name: one per process */
  consumer?: string;
  /** stream entries older than this are trimmed on publish */
  maxAgeMs?: number;
  /**
   * Spill directory for the publishing side. When set, the outbox opens at construction and delivers
   * leftover spill files first; otherwise it opens on the first publish() under `<tmpdir>/switchboard-outbox`.
   */
  spillDir?: string;
  outbox?: Pick<OutboxOptions, 'name' | 'maxMemory' | 'batchSize' | 'segmentBytes' | 'retryMinMs' | 'retryMaxMs'>;
  consumerOptions?: Pick<StreamConsumerOptions, 'startId' | 'blockMs' | 'count' | 'claimIdleMs' | 'claimIntervalMs' | 'retryDelayMs' | 'deadLetterMaxLen' | 'staleConsumerMs'>;
  log: Logger;
}

export interface RedisEventBusStats {
  outbox: OutboxStats | null;
  consumers: StreamConsumerStats[];
}

export interface GroupInfo {
  group: string;
  consumers: number;
  pending: number;
  lag: number | null;
  last_delivered_id: string;
}

const DEFAULT_MAX_AGE_MS = 7 * 24 * 3600 * 1000;

export class RedisEventBus implements EventBus {
  readonly stream: string;
  readonly deadLetter: string;
  private readonly opts: RedisEventBusOptions;
  private readonly redis: Redis;
  private readonly log: Logger;
  private readonly maxAgeMs: number;
  private outbox: Outbox | null = null;
  private readonly consumers = new Set<StreamConsumer>();
  private consumeCalls = 0;
  private readonly onReady = (): void => this.outbox?.poke();

  constructor(opts: RedisEventBusOptions) {
    this.opts = opts;
    this.redis = opts.redis;
    this.stream = `${opts.prefix}events`;
    this.deadLetter = `${opts.prefix}events:dead`;
    this.maxAgeMs = opts.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
    this.log = opts.log.child({ component: 'event-bus' });
    // Wake the flusher as soon as Redis is back instead of at the end of its backoff.
    this.redis.on('ready', this.onReady);
    if (opts.spillDir !== undefined) this.openOutbox();
  }

  /** Accepted into the outbox: resolves at once, even while Redis is down. */
  async publish(ev: GatewayEvent): Promise<void> {
    (this.outbox ?? this.openOutbox()).push(JSON.stringify(ev));
  }

  consume(handler: (ev: GatewayEvent) => Promise<void>): () => void {
    if (!this.opts.openBlocking) throw new Error('RedisEventBus.consume needs openBlocking (a blocking connection factory)');
    const consumer = new StreamConsumer({
      ...this.opts.consumerOptions,
      redis: this.redis,
      openBlocking: this.opts.openBlocking,
      stream: this.stream,
      deadLetter: this.deadLetter,
      group: this.opts.group ?? 'control',
      // A second consume() on the same bus gets its own name: two loops sharing one pending list
      // would re-handle each other's in-flight entries.
      consumer: (this.opts.consumer ?? `${hostname()}-${process.pid}`) + (this.consumeCalls++ > 0 ? `-${this.consumeCalls}` : ''),
      log: this.opts.log,
    }, handler);
    this.consumers.add(consumer);
    consumer.start();
    return () => {
      this.consumers.delete(consumer);
      void consumer.stop();
    };
  }

  /** Resolve true once every published event is in Redis, false after `timeoutMs` (drain). */
  flush(timeoutMs: number): Promise<boolean> {
    return this.outbox ? this.outbox.flush(timeoutMs) : Promise.resolve(true);
  }

  /** Consumer-group state for ops: entries pending (read, not acked) and lag (not yet read); null before the group exists. */
  async groupInfo(group = this.opts.group ?? 'control'): Promise<GroupInfo | null> {
    let rows: unknown[][];
    try {
      rows = (await this.redis.call('XINFO', ['GROUPS', this.stream])) as unknown[][];
    } catch {
      return null; // no such key yet
    }
    for (const row of rows) {
      const info: Record<string, unknown> = {};
      for (let i = 0; i + 1 < row.length; i += 2) info[String(row[i])] = row[i + 1];
      if (info.name !== group) continue;
      return {
        group,
        consumers: Number(info.consumers),
        pending: Number(info.pending),
        // null when Redis cannot compute it (after trimming past unread entries)
        lag: info.lag === null || info.lag === undefined ? null : Number(info.lag),
        last_delivered_id: String(info['last-delivered-id']),
      };
    }
    return null;
  }

  stats(): RedisEventBusStats {
    return { outbox: this.outbox?.stats() ?? null, consumers: [...this.consumers].map((c) => ({ ...c.stats })) };
  }

  /** Stop consumers, then close the outbox (undelivered events are persisted to spill files). */
  async close(): Promise<void> {
    const consumers = [...this.consumers];
    this.consumers.clear();
    await Promise.all(consumers.map((c) => c.stop()));
    this.redis.off('ready', this.onReady);
    if (this.outbox) await this.outbox.close();
  }

  private openOutbox(): Outbox {
    const outbox = new Outbox({
      ...this.opts.outbox,
      dir: this.opts.spillDir ?? join(tmpdir(), 'switchboard-outbox'),
      name: this.opts.outbox?.name ?? 'events',
      log: this.opts.log,
    });
    outbox.start({
      isReady: () => this.redis.status === 'ready',
      deliver: (lines) => this.xaddBatch(lines),
    });
    this.outbox = outbox;
    return outbox;
  }

  /** XADD a batch atomically (MULTI): all or none land, so a retry duplicates nothing on a clean error. */
  private async xaddBatch(lines: readonly string[]): Promise<void> {
    const minId = `${Date.now() - this.maxAgeMs}-0`;
    const tx = this.redis.multi();
    for (const line of lines) tx.xadd(this.stream, 'MINID', '~', minId, '*', 'e', line);
    const res = await tx.exec();
    if (res === null) throw new Error('event batch transaction aborted');
    for (const [err] of res) if (err) throw err;
  }
}
