/**
 * Ultravox stand-in (PROTOCOLS.md 4): `POST /api/calls` (and `/api/agents/{id}/calls`) with
 * `X-API-Key` and `medium.serverWebSocket {inputSampleRate, outputSampleRate, clientBufferSizeMs}`
 * -> `{callId, joinUrl}`; the WebSocket at joinUrl carries binary PCM s16le both ways at the negotiated
 * rates and JSON data messages (call_started, state, transcript, client_tool_invocation/result,
 * playback_clear_buffer, ping/pong, hang_up). Records what it received, including how continuous the
 * caller's audio was (wall-clock gaps between binary frames). `?priorCallId=` continues a call's
 * history, which is how a client resumes after a drop.
 */
import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import { decode, encode, utteranceAt } from './lib/audio.ts';
import { paced, rejectUpgrade, sendJson, sendWs, splitWords, startServer, type StandInServer } from './lib/server.ts';
import { pid, Script, type Turn } from './lib/script.ts';
import { EnergyVad } from './lib/vad.ts';

export interface UltravoxStandInOptions {
  apiKey?: string;
  script?: Turn[];
  userTranscript?: string;
  chunkMs?: number;
  /** relay-bench mode: every binary frame comes straight back (input and output rates must match) */
  loopback?: boolean;
}

export interface UltravoxCall {
  readonly callId: string;
  readonly body: Record<string, unknown>;
  readonly priorCallId: string | null;
  readonly inputSampleRate: number;
  readonly outputSampleRate: number;
  readonly clientBufferSizeMs: number;
  joined: number;
}

export interface UltravoxConnection {
  readonly id: string;
  readonly call: UltravoxCall;
  /** JSON data messages received */
  readonly messages: Record<string, unknown>[];
  audioBytesIn: number;
  binaryFrames: number;
  /** binary frames whose length was odd (not whole s16 samples) */
  oddFrames: number;
  /** the longest wall-clock gap between two binary frames from the client, ms */
  maxGapMs: number;
  readonly audioIn: Int16Array[];
  audioBytesOut: number;
  readonly toolResults: Record<string, unknown>[];
  clears: number;
  hangUp: Record<string, unknown> | null;
  closed: { code: number; reason: string } | null;
  ws: WebSocket;
}

export interface UltravoxStandIn {
  readonly server: StandInServer;
  /** `http://127.0.0.1:port` (what the adapter's base URL should be) */
  readonly baseUrl: string;
  readonly apiKey: string;
  readonly calls: UltravoxCall[];
  readonly connections: UltravoxConnection[];
  readonly script: Script;
  respond(turn?: Turn): Promise<void>;
  dropAll(): void;
  close(): Promise<void>;
}

const RATES = new Set([8000, 16000, 24000, 44100, 48000]);

class Conn {
  readonly rec: UltravoxConnection;
  private readonly vad: EnergyVad;
  private readonly script: Script;
  private readonly opts: { userTranscript: string; chunkMs: number; loopback: boolean };
  private ordinal = 0;
  private lastFrameAt = 0;
  private speaking: { cancelled: boolean } | null = null;
  private playingUntil = 0;
  private waitingTool: string | null = null;

  constructor(ws: WebSocket, call: UltravoxCall, opts: { userTranscript: string; chunkMs: number; loopback: boolean }, script: Script) {
    this.script = script;
    this.opts = opts;
    this.rec = {
      id: pid('conn'), call, messages: [], audioBytesIn: 0, binaryFrames: 0, oddFrames: 0, maxGapMs: 0, audioIn: [], audioBytesOut: 0,
      toolResults: [], clears: 0, hangUp: null, closed: null, ws,
    };
    this.vad = new EnergyVad(call.inputSampleRate);
    ws.on('message', (d, isBinary) => this.onMessage(d as Buffer, isBinary));
    ws.on('close', (code, reason) => {
      this.rec.closed = { code, reason: reason.toString() };
      if (this.speaking !== null) this.speaking.cancelled = true;
    });
    ws.on('error', () => {});
    sendWs(ws, { type: 'call_started', callId: call.callId });
    this.state('listening');
  }

  private state(state: string): void {
    sendWs(this.rec.ws, { type: 'state', state });
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (isBinary) {
      const now = performance.now();
      if (this.rec.binaryFrames > 0) this.rec.maxGapMs = Math.max(this.rec.maxGapMs, now - this.lastFrameAt);
      this.lastFrameAt = now;
      this.rec.binaryFrames++;
      if ((data.length & 1) === 1) this.rec.oddFrames++;
      this.rec.audioBytesIn += data.length;
      if (this.opts.loopback) {
        this.rec.audioBytesOut += data.length;
        this.rec.ws.send(data);
        return;
      }
      const pcm = decode(data, 'pcm16');
      this.rec.audioIn.push(pcm);
      for (const ev of this.vad.push(pcm)) {
        if (ev.type === 'start') {
          if (this.speaking !== null || Date.now() < this.playingUntil) this.clear();
        } else if (this.waitingTool === null) {
          sendWs(this.rec.ws, { type: 'transcript', role: 'user', medium: 'voice', text: this.opts.userTranscript, final: true, ordinal: this.ordinal++ });
          this.state('thinking');
          void this.runTurn(this.script.next());
        }
      }
      return;
    }
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
    } catch {
      this.rec.ws.close(1007, 'invalid JSON data message');
      return;
    }
    this.rec.messages.push(msg);
    switch (msg.type) {
      case 'ping':
        sendWs(this.rec.ws, { type: 'pong', timestamp: msg.timestamp });
        return;
      case 'client_tool_result': {
        this.rec.toolResults.push(msg);
        if (msg.invocationId === this.waitingTool) {
          this.waitingTool = null;
          void this.runTurn(this.script.next());
        }
        return;
      }
      case 'hang_up':
        this.rec.hangUp = msg;
        this.rec.ws.close(1000, 'hang_up');
        return;
      default:
        return;
    }
  }

  private clear(): void {
    if (this.speaking !== null) this.speaking.cancelled = true;
    this.playingUntil = 0;
    this.rec.clears++;
    sendWs(this.rec.ws, { type: 'playback_clear_buffer' });
    this.state('listening');
  }

  async runTurn(turn: Turn): Promise<void> {
    const ws = this.rec.ws;
    if (turn.kind === 'silent') return;
    if (turn.kind === 'drop') {
      ws.terminate();
      return;
    }
    if (turn.kind === 'error') {
      ws.close(1011, (turn.message ?? 'internal error').slice(0, 120));
      return;
    }
    if (turn.kind === 'tool') {
      const id = randomUUID();
      this.waitingTool = id;
      sendWs(ws, { type: 'client_tool_invocation', toolName: turn.name, invocationId: id, parameters: turn.args });
      return;
    }
    const r = this.rec.call.outputSampleRate;
    const { text, pcm } = utteranceAt(turn.conv ?? 'conv00', turn.utterance ?? 3, r);
    const state = { cancelled: false };
    this.speaking = state;
    this.state('speaking');
    const chunkMs = turn.chunkMs ?? this.opts.chunkMs;
    const per = (r * chunkMs) / 1000;
    const count = Math.ceil(pcm.length / per);
    const words = splitWords(text, count);
    const ordinal = this.ordinal++;
    // Ultravox paces to the client's buffer: it runs ahead by clientBufferSizeMs, then real time.
    const ahead = Math.floor(this.rec.call.clientBufferSizeMs / chunkMs);
    let sentMs = 0;
    let said = '';
    const start = Date.now();
    const step = (i: number): boolean => {
      if (state.cancelled || ws.readyState !== ws.OPEN) return false;
      if (turn.dropAfterMs !== undefined && sentMs >= turn.dropAfterMs) {
        ws.terminate();
        return false;
      }
      if (turn.interruptAfterMs !== undefined && sentMs >= turn.interruptAfterMs) {
        this.clear();
        return false;
      }
      const bytes = encode(pcm.subarray(i * per, Math.min(pcm.length, (i + 1) * per)), 'pcm16');
      this.rec.audioBytesOut += bytes.length;
      sentMs += chunkMs;
      ws.send(bytes);
      if (words[i] !== '') {
        said += words[i];
        sendWs(ws, { type: 'transcript', role: 'agent', medium: 'voice', delta: words[i], final: false, ordinal });
      }
      return true;
    };
    const burst = Math.min(count, ahead);
    const sentBurst = await paced(burst, chunkMs, turn.speed ?? Infinity, step);
    if (sentBurst === burst && burst < count) {
      await paced(count - burst, chunkMs, turn.speed ?? 1, (i) => step(i + burst));
    }
    if (this.speaking === state) this.speaking = null;
    if (ws.readyState !== ws.OPEN) return;
    sendWs(ws, { type: 'transcript', role: 'agent', medium: 'voice', text: state.cancelled ? said : text, final: true, ordinal });
    if (!state.cancelled) {
      this.playingUntil = start + (pcm.length * 1000) / r;
      this.state('listening');
    }
  }
}

export async function startUltravoxStandIn(options: UltravoxStandInOptions = {}): Promise<UltravoxStandIn> {
  const apiKey = options.apiKey ?? 'uv-test-standin';
  const opts = { userTranscript: options.userTranscript ?? 'Hello there, can you hear me?', chunkMs: options.chunkMs ?? 20, loopback: options.loopback ?? false };
  const script = new Script(options.script);
  const calls: UltravoxCall[] = [];
  const conns: Conn[] = [];
  const connections: UltravoxConnection[] = [];
  let wsBase = '';
  const server = await startServer({
    onRequest(req, res, body) {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const isCreate = req.method === 'POST' && (url.pathname === '/api/calls' || /^\/api\/agents\/[^/]+\/calls$/.test(url.pathname));
      if (!isCreate) {
        sendJson(res, 404, { detail: 'Not found.' });
        return;
      }
      if (req.headers['x-api-key'] !== apiKey) {
        sendJson(res, 403, { detail: 'Invalid API key.' });
        return;
      }
      let parsed: Record<string, any>;
      try {
        parsed = JSON.parse(body) as Record<string, any>;
      } catch {
        sendJson(res, 400, { detail: 'JSON parse error' });
        return;
      }
      const sws = parsed?.medium?.serverWebSocket as Record<string, unknown> | undefined;
      if (sws === undefined || typeof sws !== 'object') {
        sendJson(res, 400, { medium: ['This client only supports serverWebSocket in this stand-in.'] });
        return;
      }
      const input = sws.inputSampleRate;
      const output = sws.outputSampleRate ?? input;
      if (typeof input !== 'number' || !RATES.has(input) || typeof output !== 'number' || !RATES.has(output)) {
        sendJson(res, 400, { medium: { serverWebSocket: { inputSampleRate: ['A valid sample rate is required.'] } } });
        return;
      }
      const priorCallId = url.searchParams.get('priorCallId');
      if (priorCallId !== null && !calls.some((c) => c.callId === priorCallId)) {
        sendJson(res, 404, { detail: 'Prior call not found.' });
        return;
      }
      const call: UltravoxCall = {
        callId: randomUUID(), body: parsed, priorCallId, inputSampleRate: input, outputSampleRate: output,
        clientBufferSizeMs: typeof sws.clientBufferSizeMs === 'number' ? sws.clientBufferSizeMs : 60, joined: 0,
      };
      calls.push(call);
      sendJson(res, 201, {
        callId: call.callId, created: new Date().toISOString(), joined: null, ended: null, endReason: null,
        firstSpeaker: parsed.firstSpeaker ?? 'FIRST_SPEAKER_AGENT', medium: parsed.medium, systemPrompt: parsed.systemPrompt ?? '',
        joinUrl: `${wsBase}/calls/${call.callId}/ws?token=${pid('tok')}`,
      });
    },
    onUpgrade(req, socket, head, wss) {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const m = /^\/calls\/([^/]+)\/ws$/.exec(url.pathname);
      const call = m === null ? undefined : calls.find((c) => c.callId === m[1]);
      if (call === undefined) {
        rejectUpgrade(socket, 404, { detail: 'Not found.' });
        return;
      }
      if (call.joined > 0) {
        rejectUpgrade(socket, 409, { detail: 'Call already joined.' });
        return;
      }
      call.joined++;
      wss.handleUpgrade(req, socket, head, (ws) => {
        const c = new Conn(ws, call, opts, script);
        conns.push(c);
        connections.push(c.rec);
        if (call.body.firstSpeaker === 'FIRST_SPEAKER_AGENT' && call.priorCallId === null && !opts.loopback) void c.runTurn(script.next());
      });
    },
  });
  wsBase = server.wsUrl;
  return {
    server,
    baseUrl: server.httpUrl,
    apiKey,
    calls,
    connections,
    script,
    respond(turn?: Turn) {
      const c = conns[conns.length - 1];
      if (c === undefined) return Promise.reject(new Error('no connection'));
      return c.runTurn(turn ?? script.next());
    },
    dropAll() {
      for (const c of conns) c.rec.ws.terminate();
    },
    close: () => server.close(),
  };
}
