/** Shared test helpers: a gateway on port 0 with its own signing key, token minting, ws clients. */
import WebSocket from 'ws';
import { generateSigningKey, jwksOf, mintSessionToken, type SessionTokenInput, type SigningKey } from '../../shared/src/token.ts';
import { createLogger } from '../../shared/src/logger.ts';
import { InProcessCommandBus, InProcessEventBus, type GatewayEvent } from '../../shared/src/bus/index.ts';
import { startGateway, type GatewayHandle } from '../../gateway/src/server.ts';
import { gatewayConfig, type GatewayConfig } from '../../gateway/src/config.ts';
import { readWav } from '../../gateway/src/audio/wav.ts';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { randomUUID } from 'node:crypto';

export interface TestGateway {
  gw: GatewayHandle;
  key: SigningKey;
  commands: InProcessCommandBus;
  events: InProcessEventBus;
  received: GatewayEvent[];
  token(over?: Partial<SessionTokenInput>): Promise<string>;
  close(): Promise<void>;
}

export async function startTestGateway(over: Partial<GatewayConfig> = {}): Promise<TestGateway> {
  const key = await generateSigningKey();
  const commands = new InProcessCommandBus();
  const events = new InProcessEventBus();
  const received: GatewayEvent[] = [];
  events.consume(async (ev) => {
    received.push(ev);
  });
  const config = gatewayConfig({ GATEWAY_PORT: 0, GATEWAY_HOST: '127.0.0.1', ...over });
  const gw = await startGateway({ config, jwks: jwksOf(key), commands, events, logger: createLogger('gateway-test', 'silent') });
  return {
    gw, key, commands, events, received,
    token: (o = {}) => mintSessionToken(tokenInput(o), key),
    close: () => gw.close(),
  };
}

export function tokenInput(over: Partial<SessionTokenInput> = {}): SessionTokenInput {
  const sub = over.sub ?? 'caller';
  return {
    sub,
    sid: randomUUID(),
    tid: 'tenant-a',
    participants: [sub],
    provider: 'echo',
    transport: 'web',
    agent: {},
    purposes: ['voice_processing'],
    max_duration_s: 600,
    ttl_s: 300,
    ...over,
  };
}

export interface Client {
  ws: WebSocket;
  events: Array<Record<string, unknown>>;
  audio: Buffer[];
  audioBytes(): number;
  waitFor(pred: (ev: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  closed: Promise<{ code: number; reason: string }>;
  send(obj: unknown): void;
}

/** a ws client that records JSON events and binary audio */
export function connect(url: string, opts: WebSocket.ClientOptions & { protocols?: string[] } = {}): Promise<Client> {
  const ws = new WebSocket(url, opts.protocols ?? [], opts);
  const events: Array<Record<string, unknown>> = [];
  const audio: Buffer[] = [];
  const waiters: Array<{ pred: (ev: Record<string, unknown>) => boolean; resolve: (ev: Record<string, unknown>) => void }> = [];
  ws.on('message', (data, isBinary) => {
    if (isBinary) {
      audio.push(data as Buffer);
      return;
    }
    const ev = JSON.parse(String(data)) as Record<string, unknown>;
    events.push(ev);
    for (const w of [...waiters]) if (w.pred(ev)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(ev);
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  return new Promise((resolve, reject) => {
    ws.once('open', () =>
      resolve({
        ws, events, audio, closed,
        audioBytes: () => audio.reduce((n, b) => n + b.length, 0),
        send: (obj) => ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj)),
        waitFor(pred, timeoutMs = 10_000) {
          const found = events.find(pred);
          if (found) return Promise.resolve(found);
          return new Promise((res, rej) => {
            const t = setTimeout(() => rej(new Error(`timed out waiting for an event; got ${JSON.stringify(events.map((e) => e.type ?? e.event))}`)), timeoutMs);
            waiters.push({ pred, resolve: (ev) => { clearTimeout(t); res(ev); } });
          });
        },
      }),
    );
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body })));
    });
  });
}

/** the upgrade refusal (status + problem body) for a URL that should be refused */
export async function refusal(url: string, opts: WebSocket.ClientOptions & { protocols?: string[] } = {}): Promise<{ status: number; code: string }> {
  try {
    const c = await connect(url, opts);
    c.ws.close();
    return { status: 101, code: 'UPGRADED' };
  } catch (e) {
    const err = e as { status?: number; body?: string };
    return { status: err.status ?? 0, code: err.body ? (JSON.parse(err.body).error.code as string) : 'NONE' };
  }
}

const here = path.dirname(fileURLToPath(import.meta.url));
export const CORPUS = path.resolve(here, '../../../shared/corpus');

/** a speech clip from the corpus at 24 kHz: [startS, endS) of speaker a of conv00 */
export function speech(startS: number, endS: number, conv = 'conv00', speaker = 'a'): Int16Array {
  const all = readWav(readFileSync(path.join(CORPUS, conv, `${speaker}.wav`)), 24000);
  return all.slice(Math.floor(startS * 24000), Math.floor(endS * 24000));
}

export function labels(conv = 'conv00'): { utterances: Array<{ speaker: string; start: number; end: number }> } {
  return JSON.parse(readFileSync(path.join(CORPUS, conv, 'labels.json'), 'utf8'));
}

export function pcmBytes(s: Int16Array): Buffer {
  return Buffer.from(s.buffer, s.byteOffset, s.byteLength);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** stream PCM16 24 kHz in 20 ms frames, paced at `speed` x real time (Infinity = as fast as possible) */
export async function streamPcm(c: Client, pcm: Int16Array, speed = 1, frame = 480): Promise<void> {
  const start = performance.now();
  for (let i = 0, k = 0; i < pcm.length; i += frame, k++) {
    c.ws.send(pcmBytes(pcm.subarray(i, Math.min(pcm.length, i + frame))));
    if (Number.isFinite(speed)) {
      const due = start + ((k + 1) * (frame / 24)) / speed;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
    }
  }
}

export async function metricsText(gw: GatewayHandle): Promise<string> {
  return gw.metrics.registry.metrics();
}

/** sum of a counter's samples (optionally matching a label substring) in Prometheus text */
export function metricValue(text: string, name: string, labelMatch = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    if (labelMatch && !line.includes(labelMatch)) continue;
    sum += Number(line.split(' ').pop());
  }
  return sum;
}
