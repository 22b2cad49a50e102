/**
 * OpenAI Realtime GA stand-in (PROTOCOLS.md 2): `wss://127.0.0.1:<port>/v1/realtime?model=…` over a
 * self-signed TLS certificate, `Authorization: Bearer <key>` or the `openai-insecure-api-key.<key>`
 * subprotocol. Speaks the GA event set we use: session.created/updated (GA shape validated, beta
 * shapes refused with `beta_api_shape_disabled` + close 4000), input_audio_buffer.append (no ack),
 * energy server VAD on the received audio, input transcription, responses with audio + transcript
 * deltas sent faster than real time, truncate (error past the item's audio), cancel, function calls,
 * errors. Records everything received per connection.
 */
import type http from 'node:http';
import type { WebSocket } from 'ws';
import { decode, encode, utteranceAt, type Encoding } from './lib/audio.ts';
import { paced, rejectUpgrade, sendWs, splitWords, startServer, type StandInServer } from './lib/server.ts';
import { pid, Script, type Turn } from './lib/script.ts';
import { EnergyVad } from './lib/vad.ts';

export type OpenAIFormat = { type: 'audio/pcm'; rate: 24000 } | { type: 'audio/pcmu' } | { type: 'audio/pcma' };

export interface OpenAIStandInOptions {
  /** the API key clients must present (default 'sk-test-standin') */
  apiKey?: string;
  /** turns consumed in order, one per response */
  script?: Turn[];
  /** what the input transcription reports for each user turn (the stand-in cannot recognise speech) */
  userTranscript?: string;
  /** milliseconds of audio per `response.output_audio.delta` (default 100) */
  chunkMs?: number;
  /**
   * Relay-bench mode: every append comes straight back as an output audio delta of one endless
   * response (no VAD, nothing recorded but byte counts), so a bench measures the gateway, not a script.
   */
  loopback?: boolean;
  /** milliseconds before the WebSocket upgrade is answered (a provider slow to accept a session) */
  upgradeDelayMs?: number;
}

interface Item {
  id: string;
  role: 'user' | 'assistant' | 'tool';
  /** assistant audio sent, in ms */
  audioMs: number;
  transcript: string;
}

interface ActiveResponse {
  id: string;
  cancelled: boolean;
  reason: string;
}

export interface OpenAIConnection {
  readonly id: string;
  readonly url: string;
  readonly authorization: string | undefined;
  readonly subprotocols: string[];
  /** every parsed client event, `audio` of appends replaced by its byte count */
  readonly events: Record<string, unknown>[];
  readonly audioBytes: Record<Encoding, number>;
  /** decoded PCM received (at 8 kHz for G.711, 24 kHz for pcm) */
  readonly audioIn: Int16Array[];
  readonly audioOutBytes: Record<Encoding, number>;
  /** the exact audio bytes received (appends) and sent (deltas), for byte-identity checks */
  readonly rawIn: Buffer[];
  readonly rawOut: Buffer[];
  readonly truncations: { item_id: string; content_index: number; audio_end_ms: number }[];
  readonly toolOutputs: { call_id: string; output: string }[];
  readonly errorsSent: { code: string; message: string }[];
  session: Record<string, unknown>;
  closed: { code: number; reason: string } | null;
  ws: WebSocket;
}

export interface OpenAIStandIn {
  readonly server: StandInServer;
  /** e.g. `https://127.0.0.1:1234/v1` (what the SDK's baseURL should be) */
  readonly baseURL: string;
  /** `wss://127.0.0.1:1234/v1/realtime` */
  readonly realtimeUrl: string;
  readonly ca: string;
  readonly apiKey: string;
  readonly connections: OpenAIConnection[];
  readonly script: Script;
  /** Run a turn on the newest connection now (as if a response was created). */
  respond(turn?: Turn): Promise<void>;
  /** Drop every open connection without a close frame. */
  dropAll(): void;
  close(): Promise<void>;
}

const BETA_KEYS = ['input_audio_format', 'output_audio_format', 'modalities', 'voice', 'turn_detection', 'input_audio_transcription', 'max_response_output_tokens'];
const GA_KEYS = new Set(['type', 'model', 'instructions', 'output_modalities', 'audio', 'tools', 'tool_choice', 'max_output_tokens', 'tracing', 'truncation', 'prompt', 'include']);

function defaultSession(model: string): Record<string, unknown> {
  return {
    type: 'realtime',
    object: 'realtime.session',
    id: pid('sess'),
    model,
    output_modalities: ['audio'],
    instructions: '',
    tools: [],
    tool_choice: 'auto',
    max_output_tokens: 'inf',
    tracing: null,
    prompt: null,
    expires_at: Math.floor(Date.now() / 1000) + 3600,
    audio: {
      input: {
        format: { type: 'audio/pcm', rate: 24000 },
        transcription: null,
        noise_reduction: null,
        turn_detection: { type: 'server_vad', threshold: 0.5, prefix_padding_ms: 300, silence_duration_ms: 500, idle_timeout_ms: null, create_response: true, interrupt_response: true },
      },
      output: { format: { type: 'audio/pcm', rate: 24000 }, voice: 'alloy', speed: 1 },
    },
  };
}

function encodingOf(format: unknown): Encoding | null {
  if (typeof format !== 'object' || format === null) return null;
  const f = format as { type?: unknown; rate?: unknown };
  if (f.type === 'audio/pcm') return f.rate === undefined || f.rate === 24000 ? 'pcm16' : null;
  if (f.type === 'audio/pcmu') return 'pcmu';
  if (f.type === 'audio/pcma') return 'pcma';
  return null;
}

function rateOf(enc: Encoding): number {
  return enc === 'pcm16' ? 24000 : 8000;
}

class Conn {
  readonly rec: OpenAIConnection;
  private readonly opts: Required<Omit<OpenAIStandInOptions, 'script'>>;
  private loop: { responseId: string; itemId: string } | null = null;
  private readonly script: Script;
  private inputEnc: Encoding = 'pcm16';
  private outputEnc: Encoding = 'pcm16';
  private vad: EnergyVad | null;
  private readonly items = new Map<string, Item>();
  private lastItemId: string | null = null;
  private speechItem: string | null = null;
  private bufferMs = 0;
  private active: ActiveResponse | null = null;
  private readonly pendingCalls = new Set<string>();

  constructor(ws: WebSocket, req: http.IncomingMessage, model: string, opts: Required<Omit<OpenAIStandInOptions, 'script'>>, script: Script) {
    this.opts = opts;
    this.script = script;
    this.rec = {
      id: pid('conn'),
      url: req.url ?? '',
      authorization: req.headers.authorization,
      subprotocols: (req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim()).filter(Boolean),
      events: [],
      audioBytes: { pcm16: 0, pcmu: 0, pcma: 0 },
      audioIn: [],
      audioOutBytes: { pcm16: 0, pcmu: 0, pcma: 0 },
      rawIn: [],
      rawOut: [],
      truncations: [],
      toolOutputs: [],
      errorsSent: [],
      session: defaultSession(model),
      closed: null,
      ws,
    };
    this.vad = new EnergyVad(24000, { silenceMs: 500 });
    ws.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    ws.on('close', (code, reason) => {
      this.rec.closed = { code, reason: reason.toString() };
      if (this.active !== null) this.active.cancelled = true;
    });
    ws.on('error', () => {});
    this.send({ type: 'session.created', session: this.rec.session });
  }

  private send(evt: Record<string, unknown>): boolean {
    return sendWs(this.rec.ws, { event_id: pid('event'), ...evt });
  }

  private error(code: string, message: string, param: string | null = null, clientEventId: string | null = null, type = 'invalid_request_error'): void {
    this.rec.errorsSent.push({ code, message });
    this.send({ type: 'error', error: { type, code, message, param, event_id: clientEventId } });
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (isBinary) {
      this.error('invalid_json', 'Binary frames are not supported; send JSON text events.');
      return;
    }
    let evt: Record<string, unknown>;
    try {
      evt = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
    } catch {
      this.error('invalid_json', 'We could not parse the JSON body of your request.');
      return;
    }
    const clientId = typeof evt.event_id === 'string' ? evt.event_id : null;
    if (evt.type === 'input_audio_buffer.append' && typeof evt.audio === 'string') {
      // loopback serves benches for minutes at 50 appends/s per session: keep only the byte counts (as elevenlabs.ts does)
      if (!this.opts.loopback) this.rec.events.push({ ...evt, audio: Buffer.byteLength(evt.audio, 'base64') });
    } else {
      this.rec.events.push(evt);
    }
    switch (evt.type) {
      case 'session.update':
        return this.sessionUpdate(evt.session, clientId);
      case 'input_audio_buffer.append':
        return this.append(evt.audio, clientId);
      case 'input_audio_buffer.commit':
        if (this.opts.loopback) {
          this.send({ type: 'input_audio_buffer.committed', item_id: pid('item'), previous_item_id: this.lastItemId });
          return;
        }
        return this.commit(clientId);
      case 'input_audio_buffer.clear':
        this.bufferMs = 0;
        this.send({ type: 'input_audio_buffer.cleared' });
        return;
      case 'conversation.item.create':
        return this.itemCreate(evt, clientId);
      case 'conversation.item.truncate':
        return this.truncate(evt, clientId);
      case 'response.create':
        if (this.opts.loopback) return; // the endless loopback response is the only one
        if (this.active !== null) {
          this.error('conversation_already_has_active_response', `Conversation already has an active response in progress: ${this.active.id}. Wait until the response is finished before creating a new one.`, null, clientId);
          return;
        }
        void this.runTurn(this.script.next());
        return;
      case 'response.cancel':
        if (this.active === null) {
          this.error('response_cancel_not_active', 'Cancellation failed: no active response found', null, clientId);
          return;
        }
        this.active.cancelled = true;
        this.active.reason = 'client_cancelled';
        return;
      default:
        this.error('invalid_value', `Invalid value: '${String(evt.type)}'. Supported values are: 'session.update', 'input_audio_buffer.append', 'input_audio_buffer.commit', 'input_audio_buffer.clear', 'conversation.item.create', 'conversation.item.truncate', 'conversation.item.delete', 'conversation.item.retrieve', 'response.create', 'response.cancel'.`, 'type', clientId);
    }
  }

  private sessionUpdate(raw: unknown, clientId: string | null): void {
    if (typeof raw !== 'object' || raw === null) {
      this.error('missing_required_parameter', "Missing required parameter: 'session'.", 'session', clientId);
      return;
    }
    const s = raw as Record<string, unknown>;
    if (BETA_KEYS.some((k) => k in s)) {
      // The beta shape is gone (PROTOCOLS.md 2.1): error, then close 4000.
      this.error('beta_api_shape_disabled', 'The Realtime Beta API is no longer supported. Please migrate to the GA API.', null, clientId);
      this.rec.ws.close(4000, 'beta_api_shape_disabled');
      return;
    }
    if (s.type !== 'realtime') {
      if (s.type === undefined) this.error('missing_required_parameter', "Missing required parameter: 'session.type'.", 'session.type', clientId);
      else this.error('invalid_value', `Invalid value: '${String(s.type)}'. Supported values are: 'realtime' and 'transcription'.`, 'session.type', clientId);
      return;
    }
    for (const k of Object.keys(s)) {
      if (!GA_KEYS.has(k)) {
        this.error('unknown_parameter', `Unknown parameter: 'session.${k}'.`, `session.${k}`, clientId);
        return;
      }
    }
    const next = structuredClone(this.rec.session) as Record<string, any>;
    const audio = s.audio as Record<string, any> | undefined;
    if (audio?.input?.format !== undefined) {
      if (encodingOf(audio.input.format) === null) {
        this.error('invalid_value', "Invalid value for 'session.audio.input.format': expected {type:'audio/pcm', rate:24000}, {type:'audio/pcmu'} or {type:'audio/pcma'}.", 'session.audio.input.format', clientId);
        return;
      }
    }
    if (audio?.output?.format !== undefined && encodingOf(audio.output.format) === null) {
      this.error('invalid_value', "Invalid value for 'session.audio.output.format': expected {type:'audio/pcm', rate:24000}, {type:'audio/pcmu'} or {type:'audio/pcma'}.", 'session.audio.output.format', clientId);
      return;
    }
    for (const k of Object.keys(s)) {
      if (k !== 'audio') next[k] = s[k];
    }
    if (audio !== undefined) {
      for (const dir of ['input', 'output'] as const) {
        const part = audio[dir] as Record<string, unknown> | undefined;
        if (part === undefined) continue;
        for (const [k, v] of Object.entries(part)) next.audio[dir][k] = v;
      }
    }
    if (next.audio.input.format.type === 'audio/pcm') next.audio.input.format.rate = 24000;
    if (next.audio.output.format.type === 'audio/pcm') next.audio.output.format.rate = 24000;
    this.rec.session = next;
    this.inputEnc = encodingOf(next.audio.input.format) ?? 'pcm16';
    this.outputEnc = encodingOf(next.audio.output.format) ?? 'pcm16';
    const td = next.audio.input.turn_detection as { silence_duration_ms?: number } | null;
    this.vad = td === null ? null : new EnergyVad(rateOf(this.inputEnc), { silenceMs: td.silence_duration_ms ?? 500 });
    this.send({ type: 'session.updated', session: next });
  }

  private append(audio: unknown, clientId: string | null): void {
    if (typeof audio !== 'string') {
      this.error('missing_required_parameter', "Missing required parameter: 'audio'.", 'audio', clientId);
      return;
    }
    if (this.opts.loopback) return this.loopback(audio);
    const bytes = Buffer.from(audio, 'base64');
    this.rec.audioBytes[this.inputEnc] += bytes.length;
    this.rec.rawIn.push(bytes);
    const pcm = decode(bytes, this.inputEnc);
    this.rec.audioIn.push(pcm);
    this.bufferMs += (pcm.length * 1000) / rateOf(this.inputEnc);
    if (this.vad === null) return;
    for (const ev of this.vad.push(pcm)) {
      if (ev.type === 'start') {
        this.speechItem = pid('item');
        this.send({ type: 'input_audio_buffer.speech_started', audio_start_ms: ev.ms, item_id: this.speechItem });
        const td = (this.rec.session.audio as any).input.turn_detection;
        if (this.active !== null && td?.interrupt_response !== false) {
          this.active.cancelled = true;
          this.active.reason = 'turn_detected';
        }
      } else {
        const itemId = this.speechItem ?? pid('item');
        this.send({ type: 'input_audio_buffer.speech_stopped', audio_end_ms: ev.ms, item_id: itemId });
        this.commitItem(itemId);
        const td = (this.rec.session.audio as any).input.turn_detection;
        if (td?.create_response !== false && this.active === null) void this.runTurn(this.script.next());
      }
    }
  }

  private loopback(audio: string): void {
    const n = Buffer.byteLength(audio, 'base64');
    this.rec.audioBytes[this.inputEnc] += n;
    if (this.inputEnc !== this.outputEnc) {
      this.error('invalid_value', 'loopback needs the same input and output format', null, null);
      return;
    }
    let loop = this.loop;
    if (loop === null) {
      loop = { responseId: pid('resp'), itemId: pid('item') };
      this.loop = loop;
      this.items.set(loop.itemId, { id: loop.itemId, role: 'assistant', audioMs: 0, transcript: '' });
      this.send({ type: 'response.created', response: { object: 'realtime.response', id: loop.responseId, status: 'in_progress', output: [], usage: null } });
      this.send({ type: 'response.output_item.added', response_id: loop.responseId, output_index: 0, item: { id: loop.itemId, type: 'message', role: 'assistant', status: 'in_progress', content: [] } });
    }
    this.rec.audioOutBytes[this.outputEnc] += n;
    this.items.get(loop.itemId)!.audioMs += (n * 1000) / (rateOf(this.outputEnc) * (this.outputEnc === 'pcm16' ? 2 : 1));
    this.rec.ws.send('{"type":"response.output_audio.delta","event_id":"' + pid('event') + '","response_id":"' + loop.responseId + '","item_id":"' + loop.itemId + '","output_index":0,"content_index":0,"delta":"' + audio + '"}');
  }

  private commit(clientId: string | null): void {
    if (this.bufferMs < 100) {
      this.error('input_audio_buffer_commit_empty', `Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but buffer only has ${this.bufferMs.toFixed(2)}ms of audio.`, null, clientId);
      return;
    }
    this.commitItem(pid('item'));
  }

  private commitItem(itemId: string): void {
    this.send({ type: 'input_audio_buffer.committed', item_id: itemId, previous_item_id: this.lastItemId });
    this.bufferMs = 0;
    const item = { id: itemId, type: 'message', object: 'realtime.item', role: 'user', status: 'completed', content: [{ type: 'input_audio', transcript: null }] };
    this.items.set(itemId, { id: itemId, role: 'user', audioMs: 0, transcript: this.opts.userTranscript });
    this.send({ type: 'conversation.item.added', previous_item_id: this.lastItemId, item });
    this.send({ type: 'conversation.item.done', previous_item_id: this.lastItemId, item });
    this.lastItemId = itemId;
    const tr = (this.rec.session.audio as any).input.transcription;
    if (tr !== null && tr !== undefined) {
      this.send({ type: 'conversation.item.input_audio_transcription.delta', item_id: itemId, content_index: 0, delta: this.opts.userTranscript });
      this.send({
        type: 'conversation.item.input_audio_transcription.completed', item_id: itemId, content_index: 0, transcript: this.opts.userTranscript,
        usage: { type: 'tokens', total_tokens: 20, input_tokens: 14, input_token_details: { text_tokens: 0, audio_tokens: 14 }, output_tokens: 6 },
      });
    }
  }

  private itemCreate(evt: Record<string, unknown>, clientId: string | null): void {
    const item = evt.item as Record<string, unknown> | undefined;
    if (item === undefined || typeof item !== 'object') {
      this.error('missing_required_parameter', "Missing required parameter: 'item'.", 'item', clientId);
      return;
    }
    if (item.type === 'function_call_output') {
      const callId = item.call_id;
      if (typeof callId !== 'string' || !this.pendingCalls.has(callId)) {
        this.error('invalid_value', `Tool call ID '${String(callId)}' not found in conversation.`, 'item.call_id', clientId);
        return;
      }
      if (typeof item.output !== 'string') {
        this.error('invalid_type', "Invalid type for 'item.output': expected a string.", 'item.output', clientId);
        return;
      }
      this.pendingCalls.delete(callId);
      this.rec.toolOutputs.push({ call_id: callId, output: item.output });
    } else if (item.type !== 'message') {
      this.error('invalid_value', `Invalid value: '${String(item.type)}'. Supported values are: 'message', 'function_call' and 'function_call_output'.`, 'item.type', clientId);
      return;
    }
    const id = typeof item.id === 'string' ? item.id : pid('item');
    const role = item.type === 'message' ? (item.role === 'assistant' ? 'assistant' : 'user') : 'tool';
    this.items.set(id, { id, role, audioMs: 0, transcript: '' });
    const full = { ...item, id, object: 'realtime.item', status: 'completed' };
    this.send({ type: 'conversation.item.added', previous_item_id: this.lastItemId, item: full });
    this.send({ type: 'conversation.item.done', previous_item_id: this.lastItemId, item: full });
    this.lastItemId = id;
  }

  private truncate(evt: Record<string, unknown>, clientId: string | null): void {
    const itemId = evt.item_id;
    const item = typeof itemId === 'string' ? this.items.get(itemId) : undefined;
    if (item === undefined || item.role !== 'assistant') {
      this.error('invalid_value', `Invalid value for 'item_id': no assistant message with id '${String(itemId)}'.`, 'item_id', clientId);
      return;
    }
    const end = evt.audio_end_ms;
    if (typeof end !== 'number' || end < 0 || !Number.isInteger(end)) {
      this.error('invalid_value', "Invalid value for 'audio_end_ms': expected a non-negative integer.", 'audio_end_ms', clientId);
      return;
    }
    if (end > item.audioMs) {
      this.error('invalid_value', `Audio content of ${Math.floor(item.audioMs)}ms is already shorter than ${end}ms`, 'audio_end_ms', clientId);
      return;
    }
    item.audioMs = end;
    this.rec.truncations.push({ item_id: item.id, content_index: typeof evt.content_index === 'number' ? evt.content_index : 0, audio_end_ms: end });
    this.send({ type: 'conversation.item.truncated', item_id: item.id, content_index: 0, audio_end_ms: end });
  }

  async runTurn(turn: Turn): Promise<void> {
    if (turn.kind === 'silent') return;
    if (turn.kind === 'drop') {
      this.rec.ws.terminate();
      return;
    }
    if (turn.kind === 'error') {
      this.error(turn.code ?? 'server_error', turn.message ?? 'The server had an error while processing your request.', null, null, 'server_error');
      if (turn.close === true) this.rec.ws.close(1011, 'server_error');
      return;
    }
    const resp: ActiveResponse = { id: pid('resp'), cancelled: false, reason: '' };
    this.active = resp;
    const base = { object: 'realtime.response', id: resp.id, conversation_id: pid('conv'), output_modalities: ['audio'], max_output_tokens: 'inf', metadata: null };
    this.send({ type: 'response.created', response: { ...base, status: 'in_progress', status_details: null, output: [], usage: null } });
    const itemId = pid('item');
    let outputItem: Record<string, unknown>;
    let outTokens = 0;
    if (turn.kind === 'tool') {
      const callId = pid('call');
      const args = JSON.stringify(turn.args);
      outputItem = { id: itemId, object: 'realtime.item', type: 'function_call', status: 'in_progress', name: turn.name, call_id: callId, arguments: '' };
      this.send({ type: 'response.output_item.added', response_id: resp.id, output_index: 0, item: outputItem });
      this.send({ type: 'conversation.item.added', previous_item_id: this.lastItemId, item: outputItem });
      this.send({ type: 'response.function_call_arguments.delta', response_id: resp.id, item_id: itemId, output_index: 0, call_id: callId, delta: args });
      this.send({ type: 'response.function_call_arguments.done', response_id: resp.id, item_id: itemId, output_index: 0, call_id: callId, name: turn.name, arguments: args });
      outputItem = { ...outputItem, status: 'completed', arguments: args };
      this.items.set(itemId, { id: itemId, role: 'tool', audioMs: 0, transcript: '' });
      this.pendingCalls.add(callId);
      outTokens = 12;
      this.send({ type: 'response.output_item.done', response_id: resp.id, output_index: 0, item: outputItem });
      this.send({ type: 'conversation.item.done', previous_item_id: this.lastItemId, item: outputItem });
      this.lastItemId = itemId;
    } else {
      const enc = this.outputEnc;
      const rate = rateOf(enc);
      const { text, pcm } = utteranceAt(turn.conv ?? 'conv00', turn.utterance ?? 3, rate);
      const item: Item = { id: itemId, role: 'assistant', audioMs: 0, transcript: '' };
      this.items.set(itemId, item);
      outputItem = { id: itemId, object: 'realtime.item', type: 'message', role: 'assistant', status: 'in_progress', content: [] };
      this.send({ type: 'response.output_item.added', response_id: resp.id, output_index: 0, item: outputItem });
      this.send({ type: 'conversation.item.added', previous_item_id: this.lastItemId, item: outputItem });
      this.lastItemId = itemId;
      const ids = { response_id: resp.id, item_id: itemId, output_index: 0, content_index: 0 };
      this.send({ type: 'response.content_part.added', ...ids, part: { type: 'audio', transcript: '' } });
      const chunkMs = turn.chunkMs ?? this.opts.chunkMs;
      const perChunk = (rate * chunkMs) / 1000;
      const count = Math.ceil(pcm.length / perChunk);
      const words = splitWords(text, count);
      const speed = turn.speed ?? Infinity;
      await paced(count, chunkMs, speed, (i) => {
        if (resp.cancelled || this.rec.ws.readyState !== this.rec.ws.OPEN) return false;
        if (turn.dropAfterMs !== undefined && item.audioMs >= turn.dropAfterMs) {
          this.rec.ws.terminate();
          return false;
        }
        const slice = pcm.subarray(i * perChunk, Math.min(pcm.length, (i + 1) * perChunk));
        const bytes = encode(slice, enc);
        this.rec.audioOutBytes[enc] += bytes.length;
        this.rec.rawOut.push(bytes);
        item.audioMs += (slice.length * 1000) / rate;
        if (words[i] !== '') {
          item.transcript += words[i];
          this.send({ type: 'response.output_audio_transcript.delta', ...ids, delta: words[i] });
        }
        this.send({ type: 'response.output_audio.delta', ...ids, delta: bytes.toString('base64') });
        return true;
      });
      if (this.rec.ws.readyState !== this.rec.ws.OPEN) {
        this.active = null;
        return;
      }
      this.send({ type: 'response.output_audio.done', ...ids });
      this.send({ type: 'response.output_audio_transcript.done', ...ids, transcript: item.transcript });
      const part = { type: 'audio', transcript: item.transcript };
      this.send({ type: 'response.content_part.done', ...ids, part });
      outputItem = { ...outputItem, status: resp.cancelled ? 'incomplete' : 'completed', content: [{ type: 'output_audio', transcript: item.transcript }] };
      this.send({ type: 'response.output_item.done', response_id: resp.id, output_index: 0, item: outputItem });
      this.send({ type: 'conversation.item.done', previous_item_id: null, item: outputItem });
      // Output audio costs about one token per 50 ms (documented pricing granularity).
      outTokens = Math.ceil(item.audioMs / 50) + Math.ceil(item.transcript.length / 4);
    }
    const inTokens = 120;
    this.active = null;
    this.send({
      type: 'response.done',
      response: {
        ...base,
        status: resp.cancelled ? 'cancelled' : 'completed',
        status_details: resp.cancelled ? { type: 'cancelled', reason: resp.reason } : null,
        output: [outputItem],
        usage: {
          total_tokens: inTokens + outTokens, input_tokens: inTokens, output_tokens: outTokens,
          input_token_details: { text_tokens: 100, audio_tokens: 20, image_tokens: 0, cached_tokens: 0, cached_tokens_details: { text_tokens: 0, audio_tokens: 0, image_tokens: 0 } },
          output_token_details: { text_tokens: turn.kind === 'tool' ? outTokens : Math.ceil(outTokens / 5), audio_tokens: turn.kind === 'tool' ? 0 : outTokens - Math.ceil(outTokens / 5) },
        },
      },
    });
  }
}

export async function startOpenAIStandIn(options: OpenAIStandInOptions = {}): Promise<OpenAIStandIn> {
  const apiKey = options.apiKey ?? 'sk-test-standin';
  const opts = { apiKey, userTranscript: options.userTranscript ?? 'Hello there, can you hear me?', chunkMs: options.chunkMs ?? 100, loopback: options.loopback ?? false, upgradeDelayMs: options.upgradeDelayMs ?? 0 };
  const script = new Script(options.script);
  const conns: Conn[] = [];
  const connections: OpenAIConnection[] = [];
  const server = await startServer({
    tls: true,
    onRequest(_req, res) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'Not found', type: 'invalid_request_error', code: 'unknown_url' } }));
    },
    onUpgrade(req, socket, head, wss) {
      const url = new URL(req.url ?? '/', 'https://127.0.0.1');
      if (url.pathname !== '/v1/realtime') {
        rejectUpgrade(socket, 404, { error: { message: `Invalid URL (GET ${url.pathname})`, type: 'invalid_request_error', code: 'unknown_url' } });
        return;
      }
      const protocols = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim());
      const fromProtocol = protocols.find((p) => p.startsWith('openai-insecure-api-key.'))?.slice('openai-insecure-api-key.'.length);
      const bearer = req.headers.authorization?.startsWith('Bearer ') === true ? req.headers.authorization.slice(7) : fromProtocol;
      if (bearer !== apiKey) {
        rejectUpgrade(socket, 401, { error: { message: 'Incorrect API key provided.', type: 'invalid_request_error', code: 'invalid_api_key' } });
        return;
      }
      const model = url.searchParams.get('model');
      if (model === null && url.searchParams.get('call_id') === null) {
        rejectUpgrade(socket, 400, { error: { message: "Missing required parameter: 'model'.", type: 'invalid_request_error', code: 'missing_required_parameter', param: 'model' } });
        return;
      }
      const accept = () => wss.handleUpgrade(req, socket, head, (ws) => {
        const c = new Conn(ws, req, model ?? 'gpt-realtime', opts, script);
        if (req.headers['openai-beta'] !== undefined) {
          // Beta clients are refused once they speak (PROTOCOLS.md 2.1).
          sendWs(ws, { type: 'error', event_id: pid('event'), error: { type: 'invalid_request_error', code: 'beta_api_shape_disabled', message: 'The Realtime Beta API is no longer supported. Please migrate to the GA API.', param: null, event_id: null } });
          ws.close(4000, 'beta_api_shape_disabled');
        }
        conns.push(c);
        connections.push(c.rec);
      });
      if (options.upgradeDelayMs) setTimeout(accept, options.upgradeDelayMs);
      else accept();
    },
  });
  return {
    server,
    baseURL: `${server.httpUrl}/v1`,
    realtimeUrl: `${server.wsUrl}/v1/realtime`,
    ca: server.ca!,
    apiKey,
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
