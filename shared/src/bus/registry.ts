/**
 * Registry of live gateway pods: id, address, live session count, draining flag.
 *
 * Each pod heartbeats every `heartbeatMs` (5 s): its hash `<prefix>gw:pod:<id>` is rewritten with a
 * `ttlMs` (15 s) expiry and its score in the sorted set `<prefix>gw:beats` becomes the heartbeat time.
 * The hash expiring makes `list()` drop the pod; the sorted set is what lets the control plane learn
 * that a pod died: `expiredPods()` atomically moves pods whose last heartbeat is older than `ttlMs` to
 * `<prefix>gw:lost` and returns them, so among several control replicas exactly one gets each pod.
 * The caller marks that pod's sessions `gateway_lost` and then calls `ackExpired()`; a pod not
 * acknowledged within `redeliverMs` (the watcher crashed mid-way) is returned again.
 *
 * Times are the callers' wall clocks (ms); clock skew between pods and control must stay well under
 * `ttlMs` (NTP keeps it to milliseconds).
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.ts';
import { whenReady } from './redis-connection.ts';

export interface PodInfo {
  pod_id: string;
  /** where the control plane (or a load balancer) reaches the pod, e.g. `wss://gw-3.example:8443` */
  address: string;
  sessions: number;
  draining: boolean;
}

export interface PodRecord extends PodInfo {
  started_at: number;
  last_heartbeat: number;
}

export interface ExpiredPod {
  pod_id: string;
  last_heartbeat: number;
}

export interface GatewayRegistry {
  /** write this pod's state and refresh its expiry */
  heartbeat(info: PodInfo, now?: number): Promise<void>;
  /** heartbeat now and every `heartbeatMs` with fresh state; failures are logged, never thrown; returns stop */
  startHeartbeat(getInfo: () => PodInfo): () => void;
  /** remove a pod that stopped cleanly (after drain), so it is not reported as expired */
  deregister(podId: string): Promise<void>;
  /** pods with a live heartbeat, by pod id */
  list(now?: number): Promise<PodRecord[]>;
  /** pods whose heartbeat expired and were not yet reported (or not acknowledged in time) */
  expiredPods(now?: number): Promise<ExpiredPod[]>;
  /** the expired pod's sessions are handled; stop reporting it */
  ackExpired(podId: string): Promise<void>;
}

export interface RegistryOptions {
  heartbeatMs?: number;
  ttlMs?: number;
  /** re-report an expired pod not acknowledged within this time */
  redeliverMs?: number;
  log: Logger;
}

const DEFAULTS = { heartbeatMs: 5000, ttlMs: 15_000, redeliverMs: 60_000 };

// KEYS: beats, lost, lastbeat(hash pod -> last heartbeat). ARGV: cutoff, now, redeliver cutoff.
const EXPIRE_SCRIPT = `
local out = {}
local exp = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'WITHSCORES')
for i = 1, #exp, 2 do
  redis.call('ZREM', KEYS[1], exp[i])
  redis.call('ZADD', KEYS[2], ARGV[2], exp[i])
  redis.call('HSET', KEYS[3], exp[i], exp[i + 1])
  out[#out + 1] = exp[i]
  out[#out + 1] = exp[i + 1]
end
local again = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[3])
for i = 1, #again do
  redis.call('ZADD', KEYS[2], ARGV[2], again[i])
  out[#out + 1] = again[i]
  out[#out + 1] = redis.call('HGET', KEYS[3], again[i]) or '0'
end
return out
`;

export class RedisGatewayRegistry implements GatewayRegistry {
  readonly heartbeatMs: number;
  readonly ttlMs: number;
  private readonly redeliverMs: number;
  private readonly redis: Redis;
  private readonly log: Logger;
  private readonly podPrefix: string;
  private readonly beats: string;
  private readonly lost: string;
  private readonly lastBeat: string;

  constructor(redis: Redis, prefix: string, opts: RegistryOptions) {
    this.redis = redis;
    this.heartbeatMs = opts.heartbeatMs ?? DEFAULTS.heartbeatMs;
    this.ttlMs = opts.ttlMs ?? DEFAULTS.ttlMs;
    this.redeliverMs = opts.redeliverMs ?? DEFAULTS.redeliverMs;
    this.log = opts.log.child({ component: 'gateway-registry' });
    this.podPrefix = `${prefix}gw:pod:`;
    this.beats = `${prefix}gw:beats`;
    this.lost = `${prefix}gw:lost`;
    this.lastBeat = `${prefix}gw:lastbeat`;
  }

  async heartbeat(info: PodInfo, now = Date.now()): Promise<void> {
    const key = this.podPrefix + info.pod_id;
    await whenReady(this.redis);
    const res = await this.redis
      .multi()
      .hset(key, 'pod_id', info.pod_id, 'address', info.address, 'sessions', info.sessions, 'draining', info.draining ? 1 : 0, 'last_heartbeat', now)
      .hsetnx(key, 'started_at', now)
      .pexpire(key, this.ttlMs)
      .zadd(this.beats, now, info.pod_id)
      .exec();
    const err = res?.find((r) => r[0] !== null)?.[0];
    if (err) throw err;
  }

  startHeartbeat(getInfo: () => PodInfo): () => void {
    let failures = 0;
    const beat = (): void => {
      this.heartbeat(getInfo()).then(
        () => {
          if (failures > 0) this.log.info({ failures }, 'heartbeat restored');
          failures = 0;
        },
        (err: unknown) => {
          // Live sessions keep running while Redis is away; the pod reappears on the next beat.
          if (failures++ === 0) this.log.warn({ err }, 'heartbeat failed');
        },
      );
    };
    beat();
    const timer = setInterval(beat, this.heartbeatMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  async deregister(podId: string): Promise<void> {
    await whenReady(this.redis);
    await this.redis.multi().del(this.podPrefix + podId).zrem(this.beats, podId).exec();
  }

  async list(now = Date.now()): Promise<PodRecord[]> {
    await whenReady(this.redis);
    const ids = await this.redis.zrangebyscore(this.beats, now - this.ttlMs, '+inf');
    if (ids.length === 0) return [];
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hgetall(this.podPrefix + id);
    const res = (await pipe.exec()) ?? [];
    const pods: PodRecord[] = [];
    for (const [err, h] of res) {
      const rec = h as Record<string, string> | null;
      if (err || !rec || !rec.pod_id) continue;
      pods.push({
        pod_id: rec.pod_id,
        address: rec.address ?? '',
        sessions: Number(rec.sessions ?? 0),
        draining: rec.draining === '1',
        started_at: Number(rec.started_at ?? 0),
        last_heartbeat: Number(rec.last_heartbeat ?? 0),
      });
    }
    return pods.sort((a, b) => (a.pod_id < b.pod_id ? -1 : a.pod_id > b.pod_id ? 1 : 0));
  }

  async expiredPods(now = Date.now()): Promise<ExpiredPod[]> {
    await whenReady(this.redis);
    const flat = (await this.redis.eval(
      EXPIRE_SCRIPT, 3, this.beats, this.lost, this.lastBeat, now - this.ttlMs, now, now - this.redeliverMs,
    )) as string[];
    const out: ExpiredPod[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ pod_id: flat[i]!, last_heartbeat: Number(flat[i + 1]) });
    return out;
  }

  async ackExpired(podId: string): Promise<void> {
    await whenReady(this.redis);
    await this.redis.multi().zrem(this.lost, podId).hdel(this.lastBeat, podId).exec();
  }
}

/** The embedded default (one process, one pod): same contract, kept in memory. */
export class InProcessGatewayRegistry implements GatewayRegistry {
  readonly heartbeatMs: number;
  readonly ttlMs: number;
  private readonly redeliverMs: number;
  private readonly pods = new Map<string, PodRecord>();
  private readonly lost = new Map<string, { at: number; last: number }>();

  constructor(opts: Partial<RegistryOptions> = {}) {
    this.heartbeatMs = opts.heartbeatMs ?? DEFAULTS.heartbeatMs;
    this.ttlMs = opts.ttlMs ?? DEFAULTS.ttlMs;
    this.redeliverMs = opts.redeliverMs ?? DEFAULTS.redeliverMs;
  }

  async heartbeat(info: PodInfo, now = Date.now()): Promise<void> {
    const prev = this.pods.get(info.pod_id);
    this.pods.set(info.pod_id, { ...info, started_at: prev?.started_at ?? now, last_heartbeat: now });
  }

  startHeartbeat(getInfo: () => PodInfo): () => void {
    void this.heartbeat(getInfo());
    const timer = setInterval(() => void this.heartbeat(getInfo()), this.heartbeatMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  async deregister(podId: string): Promise<void> {
    this.pods.delete(podId);
  }

  async list(now = Date.now()): Promise<PodRecord[]> {
    return [...this.pods.values()]
      .filter((p) => p.last_heartbeat >= now - this.ttlMs)
      .sort((a, b) => (a.pod_id < b.pod_id ? -1 : a.pod_id > b.pod_id ? 1 : 0));
  }

  async expiredPods(now = Date.now()): Promise<ExpiredPod[]> {
    const out: ExpiredPod[] = [];
    for (const p of this.pods.values()) {
      if (p.last_heartbeat < now - this.ttlMs) {
        this.pods.delete(p.pod_id);
        this.lost.set(p.pod_id, { at: now, last: p.last_heartbeat });
        out.push({ pod_id: p.pod_id, last_heartbeat: p.last_heartbeat });
      }
    }
    for (const [id, l] of this.lost) {
      if (l.at < now - this.redeliverMs) {
        l.at = now;
        out.push({ pod_id: id, last_heartbeat: l.last });
      }
    }
    return out;
  }

  async ackExpired(podId: string): Promise<void> {
    this.lost.delete(podId);
  }
}
