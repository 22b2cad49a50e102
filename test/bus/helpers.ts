/** Shared helpers for the bus tests: unique key prefixes, key cleanup, event factories, a private redis-server. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createLogger } from '../../shared/src/logger.ts';
import { newId } from '../../shared/src/ids.ts';
import type { GatewayEvent } from '../../shared/src/bus/messages.ts';

export const REDIS_URL = 'redis://127.0.0.1:6379';
export const quietLog = createLogger('bus-test', process.env.BUS_TEST_LOG ?? 'silent');

export function uniquePrefix(name: string): string {
  return `test:${name}:${process.pid}:${Date.now().toString(36)}:`;
}

/** Delete every key under `prefix` (SCAN, not KEYS, so a shared server is not stalled). */
export async function cleanupPrefix(prefix: string, url = REDIS_URL): Promise<void> {
  const r = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await r.del(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}

export function tempDir(name: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `sb-${name}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A usage tick with a fresh id; `seq` lets tests check order. */
export function usageTick(seq: number, session = 'sess-1'): GatewayEvent {
  return {
    type: 'usage.tick', id: newId(), session_id: session, tenant_id: 'tenant-1', pod_id: 'pod-1', ts: Date.now(),
    seq, delta: { seconds_in: 5, seconds_out: 4.5, provider_seconds: 5 }, final: false,
  };
}

export function seqOf(ev: GatewayEvent): number {
  return ev.type === 'usage.tick' ? ev.seq : -1;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Poll `cond` every 20 ms until true or `timeoutMs` elapses; returns the last result. */
export async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > end) return false;
    await sleep(20);
  }
}

/** A free TCP port (bound then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** A throwaway redis-server on `port` (no persistence), to stop and restart in outage tests. */
export class PrivateRedis {
  private proc: ChildProcess | null = null;
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const proc = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], { stdio: 'ignore' });
    this.proc = proc;
    const probe = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
    probe.on('error', () => undefined);
    const ok = await until(async () => {
      try {
        if (probe.status !== 'ready') await probe.connect();
        return (await probe.ping()) === 'PONG';
      } catch {
        return false;
      }
    }, 10_000);
    probe.disconnect();
    if (!ok) throw new Error(`redis-server did not start on ${this.port}`);
  }

  /** SIGSTOP: the port stays open but nothing answers (a network blackhole, not a refused connection). */
  pause(): void {
    this.proc?.kill('SIGSTOP');
  }

  resume(): void {
    this.proc?.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    this.proc = null;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill('SIGKILL'); // also ends a SIGSTOPped server
    });
  }
}
