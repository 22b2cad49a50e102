/**
 * ElevenLabs Agents stand-in (PROTOCOLS.md 3): `GET /v1/convai/conversation/get-signed-url?agent_id=`
 * (xi-api-key) -> `{signed_url}` carrying a `conversation_signature`, and the WebSocket
 * `/v1/convai/conversation?agent_id=…`. Expects `conversation_initiation_client_data` first, answers
 * `conversation_initiation_metadata` with the agent's formats (pcm_16000 or ulaw_8000), takes
 * `user_audio_chunk` (base64, no type), runs an energy VAD on it, answers with `user_transcript`,
 * `agent_response` and `audio` events with increasing event ids, interrupts (`interruption`), pings,
 * calls client tools, sends `error` + close codes. Records everything received per connection.
 */
import { randomBytes } from 'node:crypto';
import type { WebSocket } from 'ws';
import { decode, encode, utteranceAt, type Encoding } from './lib/audio.ts';
import { paced, rejectUpgrade, sendJson, sendWs, startServer, type StandInServer } from './lib/server.ts';
import { pid, Script, type Turn } from './lib/script.ts';
import { EnergyVad } from './lib/vad.ts';

export type ElevenLabsFormat = 'pcm_16000' | 'ulaw_8000';

export interface ElevenLabsAgent {
  /** private agents need a signed URL (or the xi-api-key header) */
  private?: boolean;
  inputFormat?: ElevenLabsFormat;
  outputFormat?: ElevenLabsFormat;
  /** when false, any conversation_config_override closes the socket with 1008 */
  allowOverrides?: boolean;
  /** spoken right after the metadata, before any user audio */
  firstMessage?: Turn;
}

export interface ElevenLabsStandInOptions {
  apiKey?: string;
  agents?: Record<string, ElevenLabsAgent>;
  script?: Turn[];
  userTranscript?: string;
  chunkMs?: number;
  /** send a ping every this many ms (0 = only when `ping()` is called) */
  pingIntervalMs?: number;
  /** relay-bench mode: every user_audio_chunk comes straight back as an `audio` event (agent formats must match) */
  loopback?: boolean;
}

export interface ElevenLabsConnection {
  readonly id: string;
  readonly agentId: string;
  readonly url: string;
  readonly conversationId: string;
  /** messages received; `user_audio_chunk` replaced by its byte count */
  readonly messages: Record<string, unknown>[];
  initData: Record<string, unknown> | null;
  readonly audioBytes: Record<Encoding, number>;
  readonly audioIn: Int16Array[];
  readonly audioOutBytes: Record<Encoding, number>;
  /** bytes of stale audio sent after an interruption (a correct client drops them) */
  staleBytesOut: number;
  readonly toolResults: { tool_call_id: string; result: string; is_error: boolean }[];
  readonly pongs: number[];
  readonly interruptions: number[];
  readonly inputFormat: ElevenLabsFormat;
  readonly outputFormat: ElevenLabsFormat;
  /** id of the last event sent */
  lastEventId: number;
  closed: { code: number; reason: string } | null;
  ws: WebSocket;
}

export interface ElevenLabsStandIn {
  readonly server: StandInServer;
  /** `http://127.0.0.1:port` (REST) */
  readonly baseUrl: string;
  /** `ws://127.0.0.1:port` */
  readonly wsBaseUrl: string;
  readonly apiKey: string;
  readonly connections: ElevenLabsConnection[];
  readonly script: Script;
  readonly signedUrlsIssued: string[];
  respond(turn?: Turn): Promise<void>;
  ping(): void;
  dropAll(): void;
  close(): Promise<void>;
}

function enc(f: ElevenLabsFormat): Encoding {
  return f === 'ulaw_8000' ? 'pcmu' : 'pcm16';
}
function rate(f: ElevenLabsFormat): number {
  return f === 'ulaw_8000' ? 8000 : 16000;
}

class Conn {
  readonly rec: ElevenLabsConnection;
  private readonly agent: ElevenLabsAgent;
  private readonly opts: { userTranscript: string; chunkMs: number; loopback: boolean };
  private readonly script: Script;
  private readonly vad: EnergyVad;
  private started = false;
  /** wall-clock time until which the client is still playing our audio (real-time model) */
  private playingUntil = 0;
  private speaking: { cancelled: boolean } | null = null;
  private waitingTool: string | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private pingSentAt = new Map<number, number>();

  constructor(ws: WebSocket, agentId: string, url: string, agent: ElevenLabsAgent, opts: { userTranscript: string; chunkMs: number; pingIntervalMs: number; loopback: boolean }, script: Script) {
    this.agent = agent;
    this.opts = opts;
    this.script = script;
    const inputFormat = agent.inputFormat ?? 'pcm_16000';
    this.rec = {
      id: pid('conn'), agentId, url, conversationId: `conv_${randomBytes(12).toString('hex')}`, messages: [], initData: null,
      audioBytes: { pcm16: 0, pcmu: 0, pcma: 0 }, audioIn: [], audioOutBytes: { pcm16: 0, pcmu: 0, pcma: 0 }, staleBytesOut: 0, toolResults: [], pongs: [], interruptions: [],
      inputFormat, outputFormat: agent.outputFormat ?? 'pcm_16000', lastEventId: 0, closed: null, ws,
    };
    this.vad = new EnergyVad(rate(inputFormat));
    ws.on('message', (d, isBinary) => this.onMessage(d as Buffer, isBinary));
    ws.on('close', (code, reason) => {
      this.rec.closed = { code, reason: reason.toString() };
      if (this.speaking !== null) this.speaking.cancelled = true;
      if (this.pingTimer !== null) clearInterval(this.pingTimer);
    });
    ws.on('error', () => {});
    if (opts.pingIntervalMs > 0) this.pingTimer = setInterval(() => this.ping(), opts.pingIntervalMs);
  }

  private nextEventId(): number {
    return ++this.rec.lastEventId;
  }

  /** error_event then close, as the server does (PROTOCOLS.md 3.3). */
  fail(code: number, message: string, errorType: string): void {
    sendWs(this.rec.ws, { type: 'error', error_event: { code, message, error_type: errorType, reason: message } });
    this.rec.ws.close(code, errorType.slice(0, 120));
  }

  ping(): void {
    if (!this.started) return;
    const id = this.nextEventId();
    this.pingSentAt.set(id, Date.now());
    sendWs(this.rec.ws, { type: 'ping', ping_event: { event_id: id, ping_ms: null } });
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    let msg: Record<string, unknown>;
    try {
      if (isBinary) throw new Error('binary');
      msg = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
    } catch {
      this.fail(1008, 'Invalid message received', 'invalid_message');
      return;
    }
    if (typeof msg.user_audio_chunk === 'string') {
      if (!this.opts.loopback) this.rec.messages.push({ user_audio_chunk: Buffer.byteLength(msg.user_audio_chunk, 'base64') });
      if (!this.started) {
        this.fail(1008, 'conversation_initiation_client_data must be the first message', 'invalid_message');
        return;
      }
      if (this.opts.loopback) {
        const n = Buffer.byteLength(msg.user_audio_chunk, 'base64');
        this.rec.audioBytes[enc(this.rec.inputFormat)] += n;
        this.rec.audioOutBytes[enc(this.rec.outputFormat)] += n;
        sendWs(this.rec.ws, { type: 'audio', audio_event: { audio_base_64: msg.user_audio_chunk, event_id: this.nextEventId() } });
        return;
      }
      return this.audio(Buffer.from(msg.user_audio_chunk, 'base64'));
    }
    this.rec.messages.push(msg);
    if (!this.started) {
      if (msg.type !== 'conversation_initiation_client_data') {
        this.fail(1008, 'conversation_initiation_client_data must be the first message', 'invalid_message');
        return;
      }
      return this.init(msg);
    }
    switch (msg.type) {
      case 'pong': {
        const id = Number(msg.event_id);
        if (!this.pingSentAt.has(id)) {
          this.fail(1008, `pong for unknown event_id ${String(msg.event_id)}`, 'invalid_message');
          return;
        }
        this.pingSentAt.delete(id);
        this.rec.pongs.push(id);
        return;
      }
      case 'client_tool_result': {
        const id = msg.tool_call_id;
        if (typeof id !== 'string' || typeof msg.result !== 'string') {
          this.fail(1008, 'client_tool_result needs tool_call_id and a string result', 'invalid_message');
          return;
        }
        this.rec.toolResults.push({ tool_call_id: id, result: msg.result, is_error: msg.is_error === true });
        if (this.waitingTool === id) {
          this.waitingTool = null;
          void this.runTurn(this.script.next());
        }
        return;
      }
      case 'contextual_update':
      case 'user_message':
      case 'user_activity':
      case 'feedback':
        return;
      default:
        this.fail(1008, `Unknown message type ${String(msg.type)}`, 'invalid_message');
    }
  }

  private init(msg: Record<string, unknown>): void {
    if (msg.conversation_config_override !== undefined && this.agent.allowOverrides === false) {
      this.fail(1008, 'Override for field is not allowed by config.', 'override_error');
      return;
    }
    this.started = true;
    this.rec.initData = msg;
    sendWs(this.rec.ws, {
      type: 'conversation_initiation_metadata',
      conversation_initiation_metadata_event: { conversation_id: this.rec.conversationId, agent_output_audio_format: this.rec.outputFormat, user_input_audio_format: this.rec.inputFormat },
    });
    if (this.agent.firstMessage !== undefined) void this.runTurn(this.agent.firstMessage);
  }

  private audio(bytes: Buffer): void {
    const e = enc(this.rec.inputFormat);
    this.rec.audioBytes[e] += bytes.length;
    const pcm = decode(bytes, e);
    this.rec.audioIn.push(pcm);
    for (const ev of this.vad.push(pcm)) {
      if (ev.type === 'start') {
        // Barge-in: the user speaks while our audio is still being played (or generated).
        if (this.speaking !== null || Date.now() < this.playingUntil) this.interrupt();
      } else if (this.waitingTool === null) {
        sendWs(this.rec.ws, { type: 'user_transcript', user_transcription_event: { user_transcript: this.opts.userTranscript, event_id: this.nextEventId() } });
        void this.runTurn(this.script.next());
      }
    }
  }

  private interrupt(): void {
    if (this.speaking !== null) this.speaking.cancelled = true;
    this.playingUntil = 0;
    const id = this.rec.lastEventId;
    this.rec.interruptions.push(id);
    sendWs(this.rec.ws, { type: 'interruption', interruption_event: { event_id: id } });
  }

  async runTurn(turn: Turn): Promise<void> {
    const ws = this.rec.ws;
    if (turn.kind === 'silent') return;
    if (turn.kind === 'drop') {
      ws.terminate();
      return;
    }
    if (turn.kind === 'error') {
      this.fail(1011, turn.message ?? 'Internal server error', turn.code ?? 'internal_error');
      return;
    }
    if (turn.kind === 'tool') {
      const id = `toolu_${randomBytes(10).toString('hex')}`;
      this.waitingTool = id;
      sendWs(ws, { type: 'client_tool_call', client_tool_call: { tool_name: turn.name, tool_call_id: id, parameters: turn.args, event_id: this.nextEventId() } });
      return;
    }
    const format = this.rec.outputFormat;
    const r = rate(format);
    const e = enc(format);
    const { text, pcm } = utteranceAt(turn.conv ?? 'conv00', turn.utterance ?? 3, r);
    const state = { cancelled: false };
    this.speaking = state;
    sendWs(ws, { type: 'agent_response', agent_response_event: { agent_response: text, event_id: this.nextEventId() } });
    const chunkMs = turn.chunkMs ?? this.opts.chunkMs;
    const per = (r * chunkMs) / 1000;
    const count = Math.ceil(pcm.length / per);
    let sentMs = 0;
    const start = Date.now();
    await paced(count, chunkMs, turn.speed ?? Infinity, (i) => {
      if (state.cancelled || ws.readyState !== ws.OPEN) return false;
      if (turn.dropAfterMs !== undefined && sentMs >= turn.dropAfterMs) {
        ws.terminate();
        return false;
      }
      if (turn.interruptAfterMs !== undefined && sentMs >= turn.interruptAfterMs) {
        this.interrupt();
        // One stale chunk that was already in flight when the interruption was decided: its event id
        // is <= the interruption's, so a correct client drops it (PROTOCOLS.md 3.3).
        const stale = encode(pcm.subarray(i * per, Math.min(pcm.length, (i + 1) * per)), e);
        this.rec.audioOutBytes[e] += stale.length;
        this.rec.staleBytesOut += stale.length;
        sendWs(ws, { type: 'audio', audio_event: { audio_base_64: stale.toString('base64'), event_id: this.rec.lastEventId } });
        return false;
      }
      const bytes = encode(pcm.subarray(i * per, Math.min(pcm.length, (i + 1) * per)), e);
      this.rec.audioOutBytes[e] += bytes.length;
      sentMs += chunkMs;
      sendWs(ws, { type: 'audio', audio_event: { audio_base_64: bytes.toString('base64'), event_id: this.nextEventId() } });
      return true;
    });
    if (this.speaking === state) this.speaking = null;
    if (!state.cancelled) this.playingUntil = start + (pcm.length * 1000) / r;
  }
}

export async function startElevenLabsStandIn(options: ElevenLabsStandInOptions = {}): Promise<ElevenLabsStandIn> {
  const apiKey = options.apiKey ?? 'xi-test-standin';
  const agents = options.agents ?? { agent_public: {}, agent_private: { private: true } };
  const opts = { userTranscript: options.userTranscript ?? 'Hello there, can you hear me?', chunkMs: options.chunkMs ?? 100, pingIntervalMs: options.pingIntervalMs ?? 0, loopback: options.loopback ?? false };
  const script = new Script(options.script);
  const signatures = new Map<string, string>(); // signature -> agent id
  const signedUrlsIssued: string[] = [];
  const conns: Conn[] = [];
  const connections: ElevenLabsConnection[] = [];
  let wsBase = '';
  const server = await startServer({
    onRequest(req, res) {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (req.method !== 'GET' || url.pathname !== '/v1/convai/conversation/get-signed-url') {
        sendJson(res, 404, { detail: 'Not Found' });
        return;
      }
      if (req.headers['xi-api-key'] !== apiKey) {
        sendJson(res, 401, { detail: { status: 'invalid_api_key', message: 'Invalid API key' } });
        return;
      }
      const agentId = url.searchParams.get('agent_id');
      if (agentId === null || agents[agentId] === undefined) {
        sendJson(res, 404, { detail: { status: 'agent_not_found', message: `Agent ${String(agentId)} not found` } });
        return;
      }
      const sig = `${randomBytes(8).toString('hex')}.${randomBytes(16).toString('base64url')}`;
      signatures.set(sig, agentId);
      const signed = `${wsBase}/v1/convai/conversation?agent_id=${encodeURIComponent(agentId)}&conversation_signature=${encodeURIComponent(sig)}`;
      signedUrlsIssued.push(signed);
      sendJson(res, 200, { signed_url: signed });
    },
    onUpgrade(req, socket, head, wss) {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (url.pathname !== '/v1/convai/conversation') {
        rejectUpgrade(socket, 404, { detail: 'Not Found' });
        return;
      }
      const agentId = url.searchParams.get('agent_id') ?? '';
      const agent = agents[agentId];
      if (agent === undefined) {
        rejectUpgrade(socket, 404, { detail: { status: 'agent_not_found', message: `Agent ${agentId} not found` } });
        return;
      }
      if (agent.private === true) {
        const sig = url.searchParams.get('conversation_signature');
        const sigOk = sig !== null && signatures.get(sig) === agentId;
        if (!sigOk && req.headers['xi-api-key'] !== apiKey) {
          rejectUpgrade(socket, 403, { detail: { status: 'authorization_error', message: 'This agent requires a signed URL or an API key' } });
          return;
        }
        if (sig !== null) signatures.delete(sig); // single use
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        const c = new Conn(ws, agentId, req.url ?? '', agent, opts, script);
        conns.push(c);
        connections.push(c.rec);
      });
    },
  });
  wsBase = server.wsUrl;
  return {
    server,
    baseUrl: server.httpUrl,
    wsBaseUrl: server.wsUrl,
    apiKey,
    connections,
    script,
    signedUrlsIssued,
    respond(turn?: Turn) {
      const c = conns[conns.length - 1];
      if (c === undefined) return Promise.reject(new Error('no connection'));
      return c.runTurn(turn ?? script.next());
    },
    ping() {
      conns[conns.length - 1]?.ping();
    },
    dropAll() {
      for (const c of conns) c.rec.ws.terminate();
    },
    close: () => server.close(),
  };
}
