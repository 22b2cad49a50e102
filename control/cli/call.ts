/**
 * `npm run call -- --wav in.wav [--provider echo] [--out reply.wav] [--fast] [--json] [--api URL] [--api-key sk_...]`
 *
 * A voice call from the command line: signs in with an API key (or creates a throwaway tenant on a
 * local server), grants the consents the provider needs, creates a session through the API, streams
 * the WAV to the gateway's native /v1/audio protocol at real time (or faster with --fast), writes
 * what the agent said back to --out, then prints the transcript and the session report (a table, or
 * JSON on stdout with --json). Progress goes to stderr. Any failure exits 1 with a message.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import type { z } from 'zod';
import { readWav, writeWav } from '../../gateway/src/audio/wav.ts';
import { PROVIDERS, type ProviderName } from '../../shared/src/token.ts';
import type { CreateSessionResponse, SessionView } from '../../shared/src/api/sessions.ts';
import type { TokenResponse } from '../../shared/src/api/auth.ts';
import type { SessionReport } from '../../shared/src/api/reports.ts';
import type { NativeServerEvent, NativeClientEvent } from '../../shared/src/protocol/native.ts';

const RATE = 24000;
const FRAME_SAMPLES = 480; // 20 ms
/** --fast sends this much audio per message (the gateway accepts any length; fewer messages stay under its flood limit) */
const FAST_CHUNK_SAMPLES = 2400;
const FAST_SPEEDUP = 8;
/** the agent is done when no audio came for this long after the input ended */
const QUIET_DONE_MS = 2000;
const CONSENT_VERSION = '2026-11-cli-1';
const CONSENT_TEXTS: Record<string, string> = {
  voice_processing: 'I agree that Switchboard processes the audio I send from the command line during this session.',
  provider: 'I agree that the audio I send is transferred to the AI provider named in this consent for the duration of the session.',
};

class CliError extends Error {}

interface Options {
  wav: string;
  provider: ProviderName;
  out: string | null;
  fast: boolean;
  json: boolean;
  api: string;
  apiKey: string | null;
  participant: string;
  timeoutS: number;
}

const USAGE = `usage: npm run call -- --wav in.wav [options]

  --wav PATH         audio to send (any common WAV; converted to PCM16 24 kHz mono)
  --provider NAME    ${PROVIDERS.join(' | ')} (default echo)
  --out PATH         write the agent's audio here (WAV, 24 kHz mono)
  --fast             stream faster than real time (${FAST_SPEEDUP}x)
  --json             print the result as JSON on stdout (progress stays on stderr)
  --api URL          control-plane URL (default $SWITCHBOARD_API_URL or http://127.0.0.1:3000)
  --api-key KEY      an API key (sk_...; default $SWITCHBOARD_API_KEY); without one a throwaway
                     tenant is created by signing up (local servers)
  --participant ID   external id of the caller when using an API key (default cli-<random>)
  --timeout S        give up after this many seconds (default: audio length + 30)
`;

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      wav: { type: 'string' }, provider: { type: 'string', default: 'echo' }, out: { type: 'string' }, fast: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false }, api: { type: 'string' }, 'api-key': { type: 'string' }, participant: { type: 'string' },
      timeout: { type: 'string' }, help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  if (!values.wav) throw new CliError('--wav is required');
  if (!(PROVIDERS as readonly string[]).includes(values.provider!)) throw new CliError(`unknown provider ${values.provider} (one of ${PROVIDERS.join(', ')})`);
  const timeout = values.timeout === undefined ? NaN : Number(values.timeout);
  if (values.timeout !== undefined && !(timeout > 0)) throw new CliError('--timeout must be a positive number of seconds');
  return {
    wav: values.wav, provider: values.provider as ProviderName, out: values.out ?? null, fast: values.fast!, json: values.json!,
    api: (values.api ?? process.env.SWITCHBOARD_API_URL ?? 'http://127.0.0.1:3000').replace(/\/+$/, ''),
    apiKey: values['api-key'] ?? process.env.SWITCHBOARD_API_KEY ?? null,
    participant: values.participant ?? `cli-${randomBytes(4).toString('hex')}`,
    timeoutS: timeout,
  };
}

// ------------------------------------------------------------------ API

class Api {
  token = '';
  constructor(readonly base: string) {}

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        method,
        headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
      throw new CliError(`cannot reach the API at ${this.base} (${cause}); is \`npm start\` running?`);
    }
    const text = await res.text();
    let data: unknown = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = text; }
    if (!res.ok) {
      const err = (data as { error?: { code?: string; message?: string } } | null)?.error;
      throw Object.assign(new CliError(`${method} ${path}: ${res.status} ${err?.code ?? ''} ${err?.message ?? String(text).slice(0, 200)}`.replace(/\s+/g, ' ').trim()), { status: res.status, code: err?.code });
    }
    return data as T;
  }
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

type Session = z.infer<typeof CreateSessionResponse>;
type Report = z.infer<typeof SessionReport>;
type ServerEvent = z.infer<typeof NativeServerEvent>;

/** Sign in (API key or throwaway signup), grant consents, create the session. */
async function openSession(api: Api, o: Options, log: (s: string) => void): Promise<Session> {
  let subject: { external_id: string } | undefined;
  if (o.apiKey) {
    api.token = o.apiKey;
    subject = { external_id: o.participant };
    await api.call('GET', '/v1/me');
  } else {
    const id = randomBytes(5).toString('hex');
    const t = await api.call<z.infer<typeof TokenResponse>>('POST', '/v1/auth/signup', {
      email: `cli-${id}@cli.switchboard.test`, password: randomBytes(18).toString('base64url'), tenant_name: `CLI ${id}`,
    });
    api.token = t.access_token;
    log(`created throwaway tenant ${t.tenant.name}`);
  }
  const purposes: Array<[string, string]> = [['voice_processing', CONSENT_TEXTS.voice_processing!]];
  if (o.provider !== 'echo') purposes.push([`provider:${o.provider}`, `${CONSENT_TEXTS.provider!} (${o.provider})`]);
  for (const [purpose, text] of purposes) {
    await api.call('PUT', `/v1/consents/${encodeURIComponent(purpose)}`, { version: CONSENT_VERSION, text_sha256: sha256(text), ...(subject ? { subject } : {}) });
  }
  return api.call<Session>('POST', '/v1/sessions', { provider: o.provider, ...(subject ? { participant: subject } : {}), metadata: { client: 'cli' } });
}

// ------------------------------------------------------------------ the call

interface CallResult {
  reply: Int16Array;
  transcript: Array<{ role: string; text: string }>;
  nudges: string[];
  errors: string[];
  endedReason: string | null;
  sentS: number;
  receivedS: number;
  /** from session.started to hang-up, measured here */
  connectedS: number;
}

/** Stream `pcm` over the native protocol; collect what the agent says back. */
async function stream(session: Session, pcm: Int16Array, o: Options, progress: (sent: number, received: number) => void): Promise<CallResult> {
  const ws = new WebSocket(`${session.gateway_url}?token=${encodeURIComponent(session.token)}`);
  ws.binaryType = 'nodebuffer';
  const send = (ev: NativeClientEvent) => ws.send(JSON.stringify(ev));
  const chunks: Int16Array[] = [];
  let received = 0;
  /** samples of output before the current response (a clear truncates to it plus what was played) */
  let responseStart = 0;
  let lastAudioAt = 0;
  const result: CallResult = { reply: new Int16Array(0), transcript: [], nudges: [], errors: [], endedReason: null, sentS: 0, receivedS: 0, connectedS: 0 };
  let startedAt = 0;

  const started = new Promise<void>((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => reject(new CliError(`the gateway refused the connection: ${res.statusCode} ${body.slice(0, 300)}`)));
    });
    ws.once('error', (e) => reject(new CliError(`gateway connection failed: ${e.message}`)));
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) {
        const now = performance.now();
        // a new response begins after a quiet spell: remember where, for playback.clear
        if (now - lastAudioAt > 400) responseStart = received;
        lastAudioAt = now;
        const copy = new Int16Array(data.byteLength >> 1);
        Buffer.from(copy.buffer).set(data.subarray(0, copy.length * 2));
        chunks.push(copy);
        received += copy.length;
        // this client "plays" by writing to the file as audio arrives: acknowledge it as played
        send({ type: 'playback.ack', played_ms: Math.round(((received - responseStart) * 1000) / RATE) });
        return;
      }
      const ev = JSON.parse(data.toString()) as ServerEvent;
      if (ev.type === 'session.started') { startedAt = performance.now(); resolve(); }
      else if (ev.type === 'transcript' && ev.final) result.transcript.push({ role: ev.role, text: ev.text });
      else if (ev.type === 'nudge') result.nudges.push(`${ev.kind}${ev.message ? `: ${ev.message}` : ''}`);
      else if (ev.type === 'error') result.errors.push(`${ev.code}: ${ev.message}`);
      else if (ev.type === 'session.ended') result.endedReason = ev.reason;
      else if (ev.type === 'playback.clear') {
        // barge-in: keep only what was played of the interrupted response
        const keep = responseStart + Math.round((ev.played_ms * RATE) / 1000);
        let total = 0;
        const kept: Int16Array[] = [];
        for (const c of chunks) {
          if (total >= keep) break;
          kept.push(total + c.length <= keep ? c : c.subarray(0, keep - total));
          total += kept[kept.length - 1]!.length;
        }
        chunks.splice(0, chunks.length, ...kept);
        received = total;
        lastAudioAt = 0;
      }
    });
    ws.once('open', () => send({ type: 'session.start', codec: 'pcm16', client: 'switchboard-cli' }));
  });
  const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
  await Promise.race([started, closed.then((code) => { throw new CliError(`the gateway closed the connection before the session started (${code}) ${result.errors.join('; ')}`); })]);

  const deadline = performance.now() + (Number.isFinite(o.timeoutS) ? o.timeoutS * 1000 : (pcm.length / RATE) * 1000 + 30_000);
  const step = o.fast ? FAST_CHUNK_SAMPLES : FRAME_SAMPLES;
  const speed = o.fast ? FAST_SPEEDUP : 1;
  const t0 = performance.now();
  let sent = 0;
  let isClosed = false;
  void closed.then(() => { isClosed = true; });
  while (sent < pcm.length && !isClosed) {
    const n = Math.min(step, pcm.length - sent);
    const frame = pcm.subarray(sent, sent + n);
    ws.send(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength));
    sent += n;
    progress(sent / RATE, received / RATE);
    // real time (or `speed` times it), against the wall clock so timer drift does not accumulate
    const due = t0 + (sent / RATE / speed) * 1000;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (performance.now() > deadline) throw new CliError('timed out while streaming');
  }
  if (!isClosed) send({ type: 'input.commit' });
  const inputDoneAt = performance.now();
  // wait for the reply: until the agent has been quiet for a while after the input ended
  while (!isClosed) {
    const now = performance.now();
    const quietSince = Math.max(lastAudioAt, inputDoneAt);
    if (now - quietSince > QUIET_DONE_MS && (received > 0 || now - inputDoneAt > 8000)) break;
    if (now > deadline) throw new CliError('timed out waiting for the agent');
    progress(sent / RATE, received / RATE);
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!isClosed) {
    ws.close(1000, 'done');
    await Promise.race([closed, new Promise((r) => setTimeout(r, 2000))]);
  }
  result.connectedS = (performance.now() - startedAt) / 1000;
  const reply = new Int16Array(received);
  let off = 0;
  for (const c of chunks) { reply.set(c, off); off += c.length; }
  result.reply = reply;
  result.sentS = sent / RATE;
  result.receivedS = received / RATE;
  return result;
}

/** The session's report once the control plane has it closed (ends it through the API if the gateway's word has not arrived). */
async function finalReport(api: Api, id: string): Promise<{ session: SessionView; report: Report | null }> {
  const terminal = new Set(['ended', 'failed', 'terminated']);
  let s = await api.call<SessionView>('GET', `/v1/sessions/${id}`);
  for (let i = 0; i < 8 && !terminal.has(s.status); i++) {
    await new Promise((r) => setTimeout(r, 250));
    s = await api.call<SessionView>('GET', `/v1/sessions/${id}`);
  }
  if (!terminal.has(s.status)) {
    try { s = await api.call<SessionView>('POST', `/v1/sessions/${id}/terminate`); } catch (e) { if ((e as { code?: string }).code !== 'CONFLICT') throw e; }
  }
  let report: Report | null = null;
  // the gateway's features summary follows the session's end by a moment: give it up to ~2 s
  for (let i = 0; i < 8; i++) {
    try {
      report = await api.call<Report>('GET', `/v1/sessions/${id}/report`);
    } catch (e) {
      if ((e as { status?: number }).status !== 404) throw e;
      break;
    }
    if (report.features !== null || s.status !== 'ended') break;
    await new Promise((r) => setTimeout(r, 250));
  }
  return { session: s, report };
}

function durationOf(s: SessionView, r: Report | null): number | null {
  if (r && r.duration_s !== null) return r.duration_s;
  if (!s.started_at || !s.ended_at) return null;
  return (Date.parse(s.ended_at) - Date.parse(s.started_at)) / 1000;
}

function table(rows: Array<[string, string]>): string {
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`).join('\n');
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const tty = process.stderr.isTTY === true;
  const log = (s: string) => process.stderr.write(`${s}\n`);
  let wavBytes: Uint8Array;
  try { wavBytes = await readFile(o.wav); } catch (e) { throw new CliError(`cannot read ${o.wav}: ${(e as Error).message}`); }
  let pcm: Int16Array;
  try { pcm = readWav(wavBytes, RATE); } catch (e) { throw new CliError(`${o.wav} is not a usable WAV file: ${(e as Error).message}`); }
  if (pcm.length < FRAME_SAMPLES) throw new CliError(`${o.wav} holds less than 20 ms of audio`);

  const api = new Api(o.api);
  const session = await openSession(api, o, log);
  log(`session ${session.session_id} (${o.provider}) -> ${session.gateway_url}`);
  const total = pcm.length / RATE;
  let lastLine = 0;
  const progress = (sent: number, received: number) => {
    const now = performance.now();
    if (tty) {
      if (now - lastLine < 100) return;
      process.stderr.write(`\r  sent ${sent.toFixed(1)}/${total.toFixed(1)} s · agent ${received.toFixed(1)} s   `);
    } else if (now - lastLine > 5000) {
      log(`  sent ${sent.toFixed(1)}/${total.toFixed(1)} s, agent ${received.toFixed(1)} s`);
    } else return;
    lastLine = now;
  };
  const res = await stream(session, pcm, o, progress);
  if (tty) process.stderr.write('\n');
  if (o.out) await writeFile(o.out, writeWav(res.reply, RATE));
  for (const e of res.errors) log(`gateway error: ${e}`);
  const { session: s, report } = await finalReport(api, session.session_id);
  // the server's figure when it has one (needs the gateway's session.started/ended events), else the one measured here
  const serverDuration = durationOf(s, report);
  const duration = serverDuration ?? Math.round(res.connectedS * 1000) / 1000;
  const durationSource = serverDuration === null ? 'client' : 'server';

  if (o.json) {
    process.stdout.write(JSON.stringify({
      session_id: session.session_id, provider: o.provider, status: s.status, end_reason: s.end_reason, duration_s: duration, duration_source: durationSource,
      sent_s: res.sentS, received_s: res.receivedS, out: o.out, transcript: res.transcript, nudges: res.nudges, errors: res.errors, report,
    }, null, 2) + '\n');
  } else {
    const out: string[] = [];
    out.push('Transcript');
    out.push(res.transcript.length ? res.transcript.map((t) => `  ${t.role}: ${t.text}`).join('\n') : '  (none)');
    if (res.nudges.length) out.push('Nudges', res.nudges.map((n) => `  ${n}`).join('\n'));
    const rows: Array<[string, string]> = [
      ['session', session.session_id], ['provider', o.provider], ['status', s.end_reason ? `${s.status} (${s.end_reason})` : s.status],
      ['duration', `${duration.toFixed(1)} s${durationSource === 'client' ? ' (measured by this client)' : ''}`], ['sent', `${res.sentS.toFixed(1)} s`], ['agent audio', `${res.receivedS.toFixed(1)} s${o.out ? ` -> ${o.out}` : ''}`],
    ];
    if (report) {
      rows.push(['billed', `${report.billed_seconds.toFixed(1)} s`], ['cost', `${(report.cost_micro / 1e6).toFixed(4)} credits`]);
      for (const p of report.features?.participants ?? []) {
        rows.push([`talk ${p.participant === 'agent' ? 'agent' : 'caller'}`, `${p.talk_time_s.toFixed(1)} s (${Math.round(p.talk_share * 100)}%), ${p.turns} turns${p.speaking_rate_syll_per_s === null ? '' : `, ${p.speaking_rate_syll_per_s.toFixed(1)} syll/s`}`]);
      }
    }
    out.push('Report', table(rows));
    process.stdout.write(out.join('\n') + '\n');
  }
  if (res.reply.length === 0) throw new CliError('the agent sent no audio back');
}

main().catch((e: unknown) => {
  process.stderr.write(`call: ${e instanceof CliError ? e.message : (e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
