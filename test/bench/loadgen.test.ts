/**
 * The C load generator of bench:load (bench/lib/loadgen.c via load-client-c.ts) against a small echo
 * server on `ws`: every caller connects the way the transport does (native: token in the URL and
 * session.start; twilio: connected + start with the token), frames go out at 50 per second per caller,
 * come back identified by their stamped sequence number and give a latency each; a server that drops
 * frames makes the client report them lost. Fails (never skips) without gcc.
 */
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { ensureLoadgen, startCClient } from '../../bench/lib/load-client-c.ts';
import type { LoadClientConfig, LoadClientResult } from '../../bench/lib/load-client.ts';
import { callerAudio } from '../../bench/lib/load-ident.ts';
import type { AudioFormat } from '../../gateway/src/providers/types.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const corpus = path.resolve(root, '../shared/corpus');
const PCM24: AudioFormat = { codec: 'pcm16', sampleRate: 24000 };
const MULAW: AudioFormat = { codec: 'mulaw', sampleRate: 8000 };
const SESSIONS = 5;
const DURATION_S = 1;

interface Echo {
  url: string;
  /** tokens the server was given (native: URL query; twilio: start.customParameters.token) */
  tokens: string[];
  /** frames that were not the caller's next 20 ms of corpus audio (bytes 4.. after the stamp) */
  badFrames: number;
  close(): Promise<void>;
}

const audioOf = { native: callerAudio(corpus, 'native', false), twilio: callerAudio(corpus, 'twilio', false) };

/**
 * Whether `frame` is what caller `i` (its token's number) sends as frame `seq`: load-client.ts starts
 * caller i at corpus frame i * 7919 and loops; the first 4 bytes are the stamp. Checks the unmasking.
 */
function isCallerFrame(transport: 'native' | 'twilio', token: string, frame: Buffer): boolean {
  const { bytes, frameBytes } = audioOf[transport];
  const n = Math.floor(bytes.length / frameBytes);
  const i = Number(/(\d+)$/.exec(token)?.[1] ?? NaN);
  if (frame.length !== frameBytes || !Number.isInteger(i)) return false;
  const at = (((i * 7919) % n + frame.readUInt32LE(0)) % n) * frameBytes;
  return frame.subarray(4).equals(bytes.subarray(at + 4, at + frameBytes));
}

/** echoes every frame; with `dropEvery`, swallows every n-th binary frame of each connection */
async function echoServer(dropEvery = 0): Promise<Echo> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  const echo: Echo = { url: '', tokens: [], badFrames: 0, close: async () => {} };
  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    const url = new URL(req.url ?? '/', 'http://x');
    let n = 0;
    if (url.pathname === '/v1/twilio/media') {
      let streamSid = '';
      let token = '';
      ws.on('message', (data) => {
        const msg = JSON.parse(String(data)) as { event: string; streamSid?: string; start?: { customParameters?: { token?: string } }; media?: { payload: string } };
        if (msg.event === 'start') {
          streamSid = String(msg.streamSid);
          token = String(msg.start?.customParameters?.token);
          echo.tokens.push(token);
        } else if (msg.event === 'media') {
          if (!isCallerFrame('twilio', token, Buffer.from(msg.media!.payload, 'base64'))) echo.badFrames++;
          ws.send(JSON.stringify({ event: 'media', streamSid, media: { payload: msg.media!.payload } }));
        }
      });
      return;
    }
    const token = url.searchParams.get('token') ?? '';
    echo.tokens.push(token);
    ws.on('message', (data, isBinary) => {
      if (!isBinary) {
        if ((JSON.parse(String(data)) as { type: string }).type === 'session.start') ws.send('{"type":"session.started"}');
        return;
      }
      const buf = data as Buffer;
      if (!isCallerFrame('native', token, buf)) echo.badFrames++;
      n++;
      if (dropEvery > 0 && n % dropEvery === 0) return;
      ws.send(buf, { binary: true });
    });
  });
  await once(wss, 'listening');
  echo.url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  echo.close = async () => {
    for (const c of wss.clients) c.terminate();
    await new Promise((r) => wss.close(r));
  };
  return echo;
}

function config(url: string, transport: 'native' | 'twilio'): LoadClientConfig {
  const f = transport === 'native' ? PCM24 : MULAW;
  return {
    url, transport, tokens: Array.from({ length: SESSIONS }, (_, i) => `tok-${transport}-${i}`), corpus,
    warmupS: 0.5, durationS: DURATION_S, tailS: 0.5, phaseOffsetMs: 3, path: { client: f, providerIn: f, providerOut: f },
  };
}

let binary = '';
t.test('the load generator compiles (needs gcc)', async (t) => {
  try {
    binary = ensureLoadgen(root);
  } catch (e) {
    t.fail(`cannot build the C load generator: ${(e as Error).message}`);
    return;
  }
  t.ok(binary.endsWith('loadgen'));
  t.equal(ensureLoadgen(root), binary, 'a second call reuses the binary');
});

async function run(echo: Echo, transport: 'native' | 'twilio'): Promise<{ r: LoadClientResult; phases: string[] }> {
  if (binary === '') throw new Error('no load generator binary (see the compile test)');
  const client = startCClient(binary, config(echo.url, transport), root);
  const phases: string[] = [];
  client.onPhase('measure-start', () => phases.push('measure-start'));
  client.onPhase('measure-end', () => phases.push('measure-end'));
  return { r: await client.result, phases };
}

for (const transport of ['native', 'twilio'] as const) {
  t.test(`${transport}: every frame comes back, identified and timed`, async (t) => {
    const echo = await echoServer();
    t.teardown(() => echo.close());
    const { r, phases } = await run(echo, transport);
    t.same(phases, ['measure-start', 'measure-end']);
    t.equal(r.sessions, SESSIONS);
    t.equal(r.connected, SESSIONS);
    t.equal(r.failed, 0);
    t.same([...echo.tokens].sort(), config('', transport).tokens, 'each caller presented its token');
    const expected = SESSIONS * 50 * DURATION_S;
    t.ok(Math.abs(r.sent - expected) <= 2 * SESSIONS, `sent ${r.sent} ≈ ${expected}`);
    t.equal(r.lost, 0);
    t.equal(r.received, r.sent);
    t.equal(r.latenciesUs.length, r.sent);
    t.ok(r.latenciesUs.every((us) => Number.isInteger(us) && us > 0 && us < 1e6), 'every latency in (0, 1 s)');
    t.equal(r.reordered, 0);
    t.equal(r.disconnected, 0);
    t.equal(r.unidentified, 0);
    t.equal(echo.badFrames, 0, "every frame arrived unmasked correctly: the caller's next corpus frame");
  });
}

t.test('frames the server drops are counted lost', async (t) => {
  const echo = await echoServer(10);
  t.teardown(() => echo.close());
  const { r } = await run(echo, 'native');
  t.equal(r.connected, SESSIONS);
  t.ok(r.lost > 0, `lost ${r.lost}`);
  t.ok(Math.abs(r.lost - r.sent / 10) <= SESSIONS, `about a tenth of ${r.sent} lost (${r.lost})`);
  t.equal(r.latenciesUs.length, r.received);
  t.equal(r.reordered, 0);
});

t.test('content identification is refused', async (t) => {
  const cfg = config('ws://127.0.0.1:1', 'native');
  cfg.path = { client: PCM24, providerIn: { codec: 'pcm16', sampleRate: 16000 }, providerOut: { codec: 'pcm16', sampleRate: 16000 } };
  t.throws(() => startCClient(binary || '/nonexistent', cfg, root), /stamp only/);
});

t.test('a refused connection counts as failed, not connected', async (t) => {
  const echo = await echoServer();
  const url = echo.url;
  await echo.close();
  const cfg = config(url, 'native');
  cfg.durationS = 0.2;
  cfg.warmupS = 0;
  cfg.tailS = 0;
  if (binary === '') throw new Error('no load generator binary (see the compile test)');
  const r = await startCClient(binary, cfg, root).result;
  t.equal(r.connected, 0);
  t.equal(r.failed, SESSIONS);
  t.equal(r.sent, 0);
  t.same(r.latenciesUs, []);
});
