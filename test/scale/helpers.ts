/**
 * Multi-process harness: the control plane and gateway pods as separate `node --import tsx` processes
 * (as `npm run start:control` / `start:gateway` run them) on a fresh database, real Redis with a
 * unique key prefix, and free ports; plus an API client and native-transport session clients.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { GatewayEvent } from '../../shared/src/bus/index.ts';
import { connect, speech, streamPcm, type Client } from '../gateway/helpers.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const REDIS_URL = 'redis://127.0.0.1:6379';
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Teardown { teardown(fn: () => unknown): void }

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export function tempDir(t: Teardown, name: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `sb-${name}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface Proc {
  child: ChildProcess;
  /** the URL the process printed when it started listening */
  url: string;
  output(): string;
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): Promise<number | null>;
}

/** spawn `node --import tsx <entry>` and wait for its "listening on <url>" line (or `ready`, whose group 1 is the URL) */
export async function spawnService(t: Teardown, entry: string, env: Record<string, string>, timeoutMs = 30_000, ready = /listening on (\S+)/): Promise<Proc> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, entry)], {
    cwd: ROOT, env: { ...process.env, NODE_ENV: 'test', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  child.stderr!.on('data', (d: Buffer) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${entry} did not start in ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const onData = () => {
      const m = ready.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`${entry} exited (${code}) before listening:\n${out}`)); });
  });
  return {
    child, url, exited, output: () => out,
    async kill(signal) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      return exited;
    },
  };
}

export interface StackEnv {
  dbUrl: string;
  prefix: string;
  redisUrl: string;
  controlPort: number;
  dataDir: string;
  spillRoot: string;
}

export function controlEnv(s: StackEnv, extra: Record<string, string> = {}): Record<string, string> {
  return {
    CONTROL_PORT: String(s.controlPort), CONTROL_HOST: '127.0.0.1', DATABASE_URL: s.dbUrl, DATA_DIR: s.dataDir,
    REDIS_URL: s.redisUrl, BUS_PREFIX: s.prefix, BUS_CLAIM_IDLE_MS: '3000', RATE_LIMIT_PREFIX: `${s.prefix}rl`, SCRYPT_COST: '1024', LOG_LEVEL: 'warn',
    // one tenant runs every session of a test: a grant that never runs out unless a test wants it to
    BILLING_TRIAL_GRANT_MICRO: '1000000000000', PUBLIC_GATEWAY_URL: 'ws://127.0.0.1:1', DATABASE_POOL_MAX: '4',
    ...extra,
  };
}

export function gatewayEnv(s: StackEnv, podId: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    GATEWAY_PORT: '0', GATEWAY_HOST: '127.0.0.1', GATEWAY_POD_ID: podId,
    GATEWAY_JWKS_URL: `http://127.0.0.1:${s.controlPort}/.well-known/jwks.json`,
    REDIS_URL: s.redisUrl, BUS_PREFIX: s.prefix, GATEWAY_SPILL_DIR: path.join(s.spillRoot, podId),
    // features analysis is not under test here and costs CPU on a shared 2-core machine
    GATEWAY_FEATURES: 'false', GATEWAY_USAGE_TICK_MS: '1000', LOG_LEVEL: 'warn',
    ...extra,
  };
}

export function newPrefix(): string {
  return `sbscale:${randomBytes(5).toString('hex')}:`;
}

/** delete every Redis key under the prefix at teardown */
export function cleanupRedis(t: Teardown, prefix: string, url = REDIS_URL): void {
  t.teardown(async () => {
    const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await r.connect();
      const keys = await r.keys(`${prefix}*`);
      if (keys.length) await r.del(...keys);
    } catch { /* a private Redis already stopped */ } finally {
      r.disconnect();
    }
  });
}

export class Api {
  token = '';
  constructor(public base: string) {}
  async call<T = any>(method: string, p: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await fetch(this.base + p, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
  }
  async ok<T = any>(method: string, p: string, body?: unknown): Promise<T> {
    const r = await this.call<T>(method, p, body);
    if (r.status >= 300) throw new Error(`${method} ${p} -> ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }
}

/** a throwaway tenant with voice_processing consent */
export async function signupTenant(base: string): Promise<Api & { tenantId: string }> {
  const api = new Api(base);
  const id = randomBytes(5).toString('hex');
  const r = await api.ok('POST', '/v1/auth/signup', { email: `scale-${id}@example.test`, password: 'correct horse battery', tenant_name: `Scale ${id}` });
  api.token = r.access_token;
  await api.ok('PUT', '/v1/consents/voice_processing', { version: '1', text_sha256: 'a'.repeat(64) });
  return Object.assign(api, { tenantId: r.tenant.id as string });
}

export interface LiveSession {
  id: string;
  client: Client;
}

/** create a session on the control plane and connect to the given gateway's native transport */
export async function openSession(api: Api, gatewayUrl: string): Promise<LiveSession> {
  const s = await api.ok('POST', '/v1/sessions', { provider: 'echo' });
  const client = await connect(`${gatewayUrl}/v1/audio?token=${encodeURIComponent(s.token)}`);
  client.send({ type: 'session.start', codec: 'pcm16', client: 'scale-test' });
  await client.waitFor((e) => e.type === 'session.started');
  return { id: s.session_id, client };
}

/** corpus speech (speaker a of conv00) streamed at real time for `seconds`, looping the clip */
export async function streamSpeech(c: Client, seconds: number, offsetS = 0): Promise<void> {
  const clip = speech(offsetS, offsetS + seconds);
  await streamPcm(c, clip, 1);
}

type Tick = Extract<GatewayEvent, { type: 'usage.tick' }>;
type Ended = Extract<GatewayEvent, { type: 'session.ended' }>;

/** the gateway events in the stream under the prefix (each id once): usage ticks and session.ended by session */
export async function eventsInStream(prefix: string, url = REDIS_URL): Promise<{ ticks: Map<string, Tick[]>; ended: Map<string, Ended> }> {
  const r = new Redis(url, { maxRetriesPerRequest: 2 });
  try {
    const entries = (await r.xrange(`${prefix}events`, '-', '+')) as Array<[string, string[]]>;
    const ticks = new Map<string, Tick[]>();
    const ended = new Map<string, Ended>();
    const seen = new Set<string>();
    for (const [, fields] of entries) {
      for (let i = 0; i < fields.length; i += 2) {
        if (fields[i] !== 'e') continue;
        const ev = GatewayEvent.parse(JSON.parse(fields[i + 1]!));
        if (seen.has(ev.id)) continue; // an event re-sent after an outage is still one event
        seen.add(ev.id);
        if (ev.type === 'session.ended') ended.set(ev.session_id, ev);
        if (ev.type !== 'usage.tick') continue;
        const list = ticks.get(ev.session_id) ?? [];
        list.push(ev);
        ticks.set(ev.session_id, list);
      }
    }
    return { ticks, ended };
  } finally {
    r.disconnect();
  }
}

export async function waitUntil(what: string, pred: () => Promise<boolean>, timeoutMs: number, everyMs = 250): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * A private redis-server child (never the shared one) with an fsync-always append-only file, so a
 * stop/start keeps the stream as a production Redis with persistence would.
 */
export class DurableRedis {
  private proc: ChildProcess | null = null;
  constructor(readonly port: number, readonly dir: string) {}
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }
  async start(): Promise<void> {
    this.proc = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes',
      '--appendfsync', 'always', '--dir', this.dir, '--daemonize', 'no'], { stdio: 'ignore' });
    await waitUntil(`redis-server on ${this.port}`, async () => {
      const probe = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        return (await probe.ping()) === 'PONG';
      } catch {
        return false;
      } finally {
        probe.disconnect();
      }
    }, 10_000, 100);
  }
  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    this.proc = null;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill('SIGKILL');
    });
  }
}
