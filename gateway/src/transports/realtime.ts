/**
 * OpenAI-compatible transport `/v1/realtime` (issue 6 section 4): speaks the OpenAI Realtime GA
 * protocol (PROTOCOLS.md 2.2-2.5) to clients, so any Realtime client — the official `openai` SDK's
 * `OpenAIRealtimeWS` unchanged — can talk to whichever provider the session token names. The token
 * comes as `Authorization: Bearer <token>` or the `openai-insecure-api-key.<token>` subprotocol
 * (upgrade.ts reads both); `?model=` is accepted and ignored (the token decides the provider).
 *
 * Translation (the supported subset is documented in docs/protocol.md):
 * - client `session.update` -> `session.updated`; its audio format (`audio/pcm` 24 kHz, `audio/pcmu`,
 *   `audio/pcma`; input and output must match) fixes the client format. The participant joins the
 *   session on the first `session.update`, `input_audio_buffer.append` or `response.create`, because
 *   the session builds its converters from the format at join; the format cannot change afterwards.
 *   Instructions, voice and tools are echoed but come from the token, not the client.
 * - `input_audio_buffer.append` -> caller audio; `.commit` -> end of turn; `response.create` -> end of
 *   turn (ask for a reply); `response.cancel` -> cancel; `conversation.item.create` (input_text) ->
 *   injected text; `conversation.item.truncate` -> played-time report, answered with `.truncated`.
 * - agent audio -> `response.created` ... `response.output_audio.delta` ... `response.done` per
 *   response; transcripts -> `response.output_audio_transcript.delta/.done` and
 *   `conversation.item.input_audio_transcription.completed`; a barge-in -> `speech_started` and the
 *   response ends `cancelled`; errors -> `error` events; the session end closes the socket.
 *
 * Handlers are module-level functions finding their connection through the socket's user data, as
 * in native.ts. Audio deltas are JSON text (the protocol demands base64); they never overtake queued
 * control events because `bufferedAmount` reports the control backlog to the pacer.
 */
import type { WebSocket, WebSocketBehavior } from 'uWebSockets.js';
import { ERRORS, type ErrorCode } from '../../../shared/src/errors.ts';
import type { SessionClaims } from '../../../shared/src/token.ts';
import type { EndReason, UsageTotals } from '../../../shared/src/bus/index.ts';
import type { Logger } from '../../../shared/src/logger.ts';
import { newId } from '../../../shared/src/ids.ts';
import type { TransportCounters } from '../metrics.ts';
import type { AudioFormat } from '../providers/types.ts';
import type { Session } from '../session/session.ts';
import type { Participant } from '../session/participant.ts';
import type { ClientChannel } from '../session/types.ts';
import { upgradeWithToken } from './upgrade.ts';
import { FloodGuard } from './flood-guard.ts';
import { connectionBehavior, ControlQueue, type TransportContext } from './connection.ts';
import { performance } from 'node:perf_hooks'; // a plain binding: the global is a getter run on every use

interface RealtimeUserData {
  claims: SessionClaims;
  ip: string;
  conn: RealtimeConnection | null;
}

type GaFormat = { type: 'audio/pcm'; rate: 24000 } | { type: 'audio/pcmu' } | { type: 'audio/pcma' };

const PCM24: AudioFormat = { codec: 'pcm16', sampleRate: 24000 };
const BETA_KEYS = ['input_audio_format', 'output_audio_format', 'modalities', 'voice', 'turn_detection', 'input_audio_transcription'];
const CLIENT_EVENTS = [
  'session.update', 'input_audio_buffer.append', 'input_audio_buffer.commit', 'input_audio_buffer.clear',
  'conversation.item.create', 'conversation.item.truncate', 'response.create', 'response.cancel',
];
/** protocol errors tolerated before the connection is closed */
const MAX_ERRORS = 20;
const decoder = new TextDecoder('utf-8', { fatal: true });

const enum State {
  Open = 0,
  Live = 1,
  Closed = 2,
}

function toAudioFormat(f: unknown): AudioFormat | null {
  if (typeof f !== 'object' || f === null) return null;
  const g = f as { type?: unknown; rate?: unknown };
  if (g.type === 'audio/pcm' && (g.rate === undefined || g.rate === 24000)) return PCM24;
  if (g.type === 'audio/pcmu') return { codec: 'mulaw', sampleRate: 8000 };
  if (g.type === 'audio/pcma') return { codec: 'alaw', sampleRate: 8000 };
  return null;
}

function toGa(f: AudioFormat): GaFormat {
  if (f.codec === 'mulaw') return { type: 'audio/pcmu' };
  if (f.codec === 'alaw') return { type: 'audio/pcma' };
  return { type: 'audio/pcm', rate: 24000 };
}

interface OpenResponse {
  id: string;
  itemId: string;
  audioBytes: number;
  transcript: string;
  finalSeen: boolean;
}

export class RealtimeConnection implements ClientChannel {
  readonly kind = 'realtime' as const;
  format: AudioFormat = PCM24;
  private readonly ws: WebSocket<RealtimeUserData>;
  private readonly ctx: TransportContext;
  private readonly claims: SessionClaims;
  private readonly ip: string;
  private readonly counters: TransportCounters;
  private readonly log: Logger;
  private readonly flood: FloodGuard;
  private state: State = State.Open;
  private session: Session | null = null;
  private participant: Participant | null = null;
  private readonly sessionObj: Record<string, any>;
  private readonly control: ControlQueue;
  private errors = 0;
  private scratch: Buffer = Buffer.allocUnsafe(8192);
  private response: OpenResponse | null = null;
  /** audio bytes sent per assistant item (the latest few), for clamping truncations */
  private readonly itemAudio = new Map<string, number>();
  private lastItemId: string | null = null;
  private inputBytes = 0;

  constructor(ws: WebSocket<RealtimeUserData>, ctx: TransportContext) {
    const ud = ws.getUserData();
    this.ws = ws;
    this.ctx = ctx;
    this.claims = ud.claims;
    this.ip = ud.ip;
    this.counters = ctx.metrics.transport('realtime');
    this.log = ctx.logger.child({ session_id: ud.claims.sid, participant: ud.claims.sub, transport: 'realtime' });
    this.flood = new FloodGuard(ctx.config.GATEWAY_MAX_MESSAGES_PER_S);
    this.control = new ControlQueue(ws, ctx.config.GATEWAY_SEND_HIGH_WATER_BYTES, ctx.config.GATEWAY_CONTROL_QUEUE_MAX, this.log);
    this.sessionObj = {
      type: 'realtime', object: 'realtime.session', id: `sess_${ud.claims.sid}`, model: ud.claims.provider,
      output_modalities: ['audio'], instructions: ud.claims.agent.instructions ?? '', tools: [], tool_choice: 'auto', max_output_tokens: 'inf',
      audio: {
        input: { format: toGa(PCM24), transcription: null, noise_reduction: null, turn_detection: { type: 'server_vad', create_response: true, interrupt_response: true } },
        output: { format: toGa(PCM24), voice: ud.claims.agent.voice ?? 'provider-default', speed: 1 },
      },
    };
  }

  /** the first server frame (PROTOCOLS.md 2.4); a no-op if the client already went away */
  onOpen(): void {
    if (this.state === State.Closed) return;
    this.send({ type: 'session.created', session: this.sessionObj });
  }

  // ------------------------------------------------------------------ inbound

  onMessage(message: ArrayBuffer, isBinary: boolean): void {
    if (this.state === State.Closed) return;
    this.counters.bytesIn.inc(message.byteLength);
    if (message.byteLength > this.ctx.config.GATEWAY_MAX_PAYLOAD_BYTES) {
      this.fail('MESSAGE_TOO_BIG', 'payload_too_large', `messages are limited to ${this.ctx.config.GATEWAY_MAX_PAYLOAD_BYTES} bytes`, null, true);
      return;
    }
    if (!this.flood.allow(performance.now())) {
      this.fail('FLOOD', 'rate_limit_exceeded', 'more than the allowed messages per second', null, true);
      return;
    }
    if (isBinary) {
      this.fail('INVALID_EVENT', 'invalid_value', 'binary frames are not part of the Realtime protocol; send JSON events', null);
      return;
    }
    let evt: Record<string, any>;
    try {
      const parsed: unknown = JSON.parse(decoder.decode(message));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      evt = parsed as Record<string, any>;
    } catch {
      this.fail('INVALID_JSON', 'invalid_json', 'We could not parse the JSON body of your request.', null);
      return;
    }
    const clientId = typeof evt.event_id === 'string' ? evt.event_id : null;
    const type = evt.type;
    if (typeof type !== 'string' || !CLIENT_EVENTS.includes(type)) {
      this.fail('UNKNOWN_EVENT', 'invalid_value', `Invalid value: '${String(type).slice(0, 64)}'. Supported values are: ${CLIENT_EVENTS.map((e) => `'${e}'`).join(', ')}.`, clientId, false, 'type');
      return;
    }
    switch (type) {
      case 'session.update':
        return this.sessionUpdate(evt.session, clientId);
      case 'input_audio_buffer.append':
        return this.append(evt.audio, clientId);
      case 'input_audio_buffer.commit':
        if (!this.join()) return;
        this.session!.commitInput();
        this.sendCommitted();
        return;
      case 'input_audio_buffer.clear':
        this.send({ type: 'input_audio_buffer.cleared' });
        return;
      case 'conversation.item.create':
        return this.itemCreate(evt.item, clientId);
      case 'conversation.item.truncate':
        return this.truncate(evt, clientId);
      case 'response.create':
        if (!this.join()) return;
        this.session!.commitInput();
        return;
      case 'response.cancel':
        if (this.session !== null) this.session.cancelResponse();
        return;
    }
  }

  private sessionUpdate(raw: unknown, clientId: string | null): void {
    if (typeof raw !== 'object' || raw === null) {
      this.fail('INVALID_EVENT', 'missing_required_parameter', "Missing required parameter: 'session'.", clientId, false, 'session');
      return;
    }
    const s = raw as Record<string, any>;
    if (BETA_KEYS.some((k) => k in s)) {
      // As the real API does since the beta was retired (PROTOCOLS.md 2.1).
      this.sendError('invalid_request_error', 'beta_api_shape_disabled', 'The Realtime Beta API is no longer supported. Please migrate to the GA API.', null, clientId);
      this.close(4000, 'beta_api_shape_disabled', 'error');
      return;
    }
    if (s.type !== undefined && s.type !== 'realtime') {
      this.fail('INVALID_EVENT', 'invalid_value', `Invalid value: '${String(s.type)}'. This gateway supports session.type 'realtime'.`, clientId, false, 'session.type');
      return;
    }
    const inF = s.audio?.input?.format;
    const outF = s.audio?.output?.format;
    const inFormat = inF === undefined ? null : toAudioFormat(inF);
    const outFormat = outF === undefined ? null : toAudioFormat(outF);
    if ((inF !== undefined && inFormat === null) || (outF !== undefined && outFormat === null)) {
      this.fail('INVALID_EVENT', 'invalid_value', "Invalid audio format: expected {type:'audio/pcm', rate:24000}, {type:'audio/pcmu'} or {type:'audio/pcma'}.", clientId, false, 'session.audio.input.format');
      return;
    }
    const wanted = inFormat ?? outFormat ?? this.format;
    if ((inFormat !== null && outFormat !== null && (inFormat.codec !== outFormat.codec)) || (this.state === State.Live && wanted.codec !== this.format.codec)) {
      this.fail('INVALID_EVENT', 'invalid_value', 'Input and output audio formats must match, and cannot change once audio has started on this gateway.', clientId, false, 'session.audio');
      return;
    }
    this.format = wanted;
    for (const [k, v] of Object.entries(s)) {
      if (k === 'audio' || k === 'type') continue;
      this.sessionObj[k] = v;
    }
    for (const dir of ['input', 'output'] as const) {
      const part = s.audio?.[dir];
      if (typeof part === 'object' && part !== null) Object.assign(this.sessionObj.audio[dir], part);
      this.sessionObj.audio[dir].format = toGa(wanted);
    }
    this.send({ type: 'session.updated', session: this.sessionObj });
    this.join();
  }

  private append(audio: unknown, clientId: string | null): void {
    if (typeof audio !== 'string') {
      this.fail('INVALID_EVENT', 'missing_required_parameter', "Missing required parameter: 'audio'.", clientId, false, 'audio');
      return;
    }
    if (!this.join()) return;
    const need = (audio.length * 3) >> 2;
    if (need > this.scratch.length) this.scratch = Buffer.allocUnsafe(need * 2);
    const n = this.scratch.write(audio, 'base64');
    this.inputBytes += n;
    this.session!.pushCallerAudio(this.participant!, this.scratch.subarray(0, n));
  }

  private itemCreate(item: unknown, clientId: string | null): void {
    const it = (typeof item === 'object' && item !== null ? item : {}) as Record<string, any>;
    const text = Array.isArray(it.content) ? it.content.filter((c: any) => c?.type === 'input_text' && typeof c.text === 'string').map((c: any) => c.text as string).join('\n') : '';
    if (it.type !== 'message' || text === '') {
      this.fail('INVALID_EVENT', 'invalid_value', 'This gateway accepts conversation.item.create for message items with input_text content only (tools run in the gateway).', clientId, false, 'item');
      return;
    }
    if (!this.join()) return;
    const id = typeof it.id === 'string' ? it.id : `item_${newId()}`;
    const full = { id, object: 'realtime.item', type: 'message', role: it.role ?? 'user', status: 'completed', content: it.content };
    this.send({ type: 'conversation.item.added', previous_item_id: this.lastItemId, item: full });
    this.send({ type: 'conversation.item.done', previous_item_id: this.lastItemId, item: full });
    this.lastItemId = id;
    this.session!.inject(text);
  }

  private truncate(evt: Record<string, any>, clientId: string | null): void {
    const sent = typeof evt.item_id === 'string' ? this.itemAudio.get(evt.item_id) : undefined;
    if (sent === undefined) {
      this.fail('INVALID_EVENT', 'invalid_value', `Invalid value for 'item_id': no assistant audio item '${String(evt.item_id)}'.`, clientId, false, 'item_id');
      return;
    }
    const end = evt.audio_end_ms;
    const maxMs = Math.floor((sent * 1000) / (this.format.sampleRate * (this.format.codec === 'pcm16' ? 2 : 1)));
    if (typeof end !== 'number' || !Number.isInteger(end) || end < 0) {
      this.fail('INVALID_EVENT', 'invalid_value', "Invalid value for 'audio_end_ms': expected a non-negative integer.", clientId, false, 'audio_end_ms');
      return;
    }
    if (end > maxMs) {
      this.fail('INVALID_EVENT', 'invalid_value', `Audio content of ${maxMs}ms is already shorter than ${end}ms`, clientId, false, 'audio_end_ms');
      return;
    }
    if (this.participant !== null && this.session !== null && this.response?.itemId === evt.item_id) this.session.ack(this.participant, end);
    this.send({ type: 'conversation.item.truncated', item_id: evt.item_id, content_index: 0, audio_end_ms: end });
  }

  /** joins the session once, with the format fixed so far; false when the session refused */
  private join(): boolean {
    if (this.state === State.Live) return true;
    if (this.state === State.Closed) return false;
    try {
      const joined = this.ctx.registry.attach(this.claims, this);
      this.session = joined.session;
      this.participant = joined.participant;
    } catch (e) {
      const code = (e as { code?: ErrorCode }).code ?? 'INTERNAL';
      this.fail(code in ERRORS ? code : 'INTERNAL', 'server_error', (e as Error).message, null, true);
      return false;
    }
    this.state = State.Live;
    this.log.info({ codec: this.format.codec }, 'session joined');
    return true;
  }

  private sendCommitted(): void {
    const id = `item_${newId()}`;
    this.send({ type: 'input_audio_buffer.committed', item_id: id, previous_item_id: this.lastItemId });
    this.lastItemId = id;
  }

  /** an error event; the connection closes after too many, or at once when `fatal` */
  private fail(code: ErrorCode, wireCode: string, message: string, clientId: string | null, fatal = false, param: string | null = null): void {
    this.ctx.metrics.protocolErrors.labels('realtime', code).inc();
    this.errors++;
    this.sendError('invalid_request_error', wireCode, message, param, clientId);
    if (fatal || this.errors > MAX_ERRORS) this.close(ERRORS[code].close, code, 'error');
  }

  private sendError(type: string, code: string, message: string, param: string | null, clientId: string | null): void {
    this.send({ type: 'error', error: { type, code, message, param, event_id: clientId } });
  }

  onDrain(): void {
    if (this.control.flush() && this.participant !== null) this.ctx.pacer.kick(this.participant.playout);
  }

  onClose(): void {
    const wasLive = this.state === State.Live;
    this.state = State.Closed;
    this.ctx.sockets.delete(this);
    if (wasLive && this.session !== null && this.participant !== null) this.session.leave(this.participant, 'client_closed');
    this.ctx.registry.release(this.claims, this.ip);
  }

  // ------------------------------------------------------------------ responses

  private openResponse(): OpenResponse {
    if (this.response !== null) return this.response;
    const r: OpenResponse = { id: `resp_${newId()}`, itemId: `item_${newId()}`, audioBytes: 0, transcript: '', finalSeen: false };
    this.response = r;
    this.itemAudio.set(r.itemId, 0);
    if (this.itemAudio.size > 8) this.itemAudio.delete(this.itemAudio.keys().next().value!);
    const item = { id: r.itemId, object: 'realtime.item', type: 'message', role: 'assistant', status: 'in_progress', content: [] };
    this.send({ type: 'response.created', response: { object: 'realtime.response', id: r.id, status: 'in_progress', status_details: null, output: [], usage: null } });
    this.send({ type: 'response.output_item.added', response_id: r.id, output_index: 0, item });
    this.send({ type: 'conversation.item.added', previous_item_id: this.lastItemId, item });
    this.send({ type: 'response.content_part.added', response_id: r.id, item_id: r.itemId, output_index: 0, content_index: 0, part: { type: 'audio', transcript: '' } });
    this.lastItemId = r.itemId;
    return r;
  }

  private finishResponse(status: 'completed' | 'cancelled'): void {
    const r = this.response;
    if (r === null) return;
    this.response = null;
    const ids = { response_id: r.id, item_id: r.itemId, output_index: 0, content_index: 0 };
    const item = { id: r.itemId, object: 'realtime.item', type: 'message', role: 'assistant', status: status === 'completed' ? 'completed' : 'incomplete', content: [{ type: 'output_audio', transcript: r.transcript }] };
    this.send({ type: 'response.output_audio.done', ...ids });
    this.send({ type: 'response.output_audio_transcript.done', ...ids, transcript: r.transcript });
    this.send({ type: 'response.content_part.done', ...ids, part: { type: 'audio', transcript: r.transcript } });
    this.send({ type: 'response.output_item.done', response_id: r.id, output_index: 0, item });
    this.send({ type: 'conversation.item.done', previous_item_id: null, item });
    this.send({
      type: 'response.done',
      response: {
        object: 'realtime.response', id: r.id, status, status_details: status === 'cancelled' ? { type: 'cancelled', reason: 'turn_detected' } : null,
        output: [item], usage: null,
      },
    });
  }

  // ------------------------------------------------------------------ ClientChannel

  writeAudio(frame: Uint8Array): number {
    if (this.state !== State.Live) return 2;
    const r = this.openResponse();
    if (frame.length > this.scratch.length) this.scratch = Buffer.allocUnsafe(frame.length * 2);
    this.scratch.set(frame);
    const status = this.ws.send(
      '{"type":"response.output_audio.delta","response_id":"' + r.id + '","item_id":"' + r.itemId +
        '","output_index":0,"content_index":0,"delta":"' + this.scratch.toString('base64', 0, frame.length) + '"}',
      false,
    );
    if (status !== 2) {
      r.audioBytes += frame.length;
      this.itemAudio.set(r.itemId, r.audioBytes);
    }
    return status;
  }

  /** the control backlog counts as buffered, so audio deltas never overtake queued events */
  bufferedAmount(): number {
    if (this.state === State.Closed) return 0;
    return this.control.length > 0 ? Number.MAX_SAFE_INTEGER : this.ws.getBufferedAmount();
  }

  afterAudioWritten(_responseMs: number, queueEmpty: boolean): void {
    if (queueEmpty && this.response !== null && this.response.finalSeen) this.finishResponse('completed');
  }

  beginResponse(): void {
    // A response opened by its transcript (ElevenLabs sends the text first) keeps going.
    if (this.response !== null && this.response.audioBytes > 0) this.finishResponse('completed');
    this.openResponse();
  }

  clearPlayback(_playedMs: number): void {
    const item = `item_${newId()}`;
    const ms = Math.floor((this.inputBytes * 1000) / (this.format.sampleRate * (this.format.codec === 'pcm16' ? 2 : 1)));
    this.send({ type: 'input_audio_buffer.speech_started', audio_start_ms: ms, item_id: item });
    this.finishResponse('cancelled');
  }

  transcript(role: 'user' | 'agent', text: string, final: boolean): void {
    if (role === 'user') {
      if (!final) return;
      const id = `item_${newId()}`;
      const item = { id, object: 'realtime.item', type: 'message', role: 'user', status: 'completed', content: [{ type: 'input_audio', transcript: text }] };
      this.send({ type: 'conversation.item.added', previous_item_id: this.lastItemId, item });
      this.send({ type: 'conversation.item.done', previous_item_id: this.lastItemId, item });
      this.send({ type: 'conversation.item.input_audio_transcription.completed', item_id: id, content_index: 0, transcript: text });
      this.lastItemId = id;
      return;
    }
    const r = this.openResponse();
    const ids = { response_id: r.id, item_id: r.itemId, output_index: 0, content_index: 0 };
    if (!final) {
      r.transcript += text;
      this.send({ type: 'response.output_audio_transcript.delta', ...ids, delta: text });
      return;
    }
    if (r.transcript === '') this.send({ type: 'response.output_audio_transcript.delta', ...ids, delta: text });
    r.transcript = text;
    r.finalSeen = true;
  }

  features(_tMs: number, _snapshot: unknown): void {
    // Not part of the Realtime protocol.
  }

  nudge(_tMs: number, _nudge: unknown): void {
    // Not part of the Realtime protocol.
  }

  error(code: ErrorCode, message: string): void {
    this.sendError('server_error', code.toLowerCase(), message, null, null);
  }

  ended(reason: EndReason, _usage: UsageTotals): void {
    if (this.state === State.Closed) return;
    this.finishResponse('cancelled');
    this.close(reason === 'draining' ? 1001 : 1000, reason, reason);
  }

  /** gateway shutdown before a session was joined */
  closeNow(reason: EndReason): void {
    if (this.session !== null) this.session.end(reason);
    else this.close(1001, reason, reason);
  }

  // ------------------------------------------------------------------ output

  /** control messages never drop: they wait behind a stalled socket, within a bound */
  private send(ev: Record<string, unknown>): void {
    if (this.state === State.Closed) return;
    if (!this.control.send(JSON.stringify({ event_id: `event_${newId()}`, ...ev }))) this.close(ERRORS.FLOOD.close, 'FLOOD', 'error');
  }

  private close(code: number, message: string, reason: EndReason): void {
    if (this.state === State.Closed) return;
    const session = this.session;
    const participant = this.participant;
    this.state = State.Closed;
    if (session !== null && participant !== null) session.leave(participant, reason);
    this.ws.end(code, message.slice(0, 120));
  }
}

// ------------------------------------------------------------------ uWS behaviour (module-level handlers)

export function realtimeBehavior(ctx: TransportContext): WebSocketBehavior<RealtimeUserData> {
  return connectionBehavior<RealtimeUserData>(ctx, {
    upgrade: (res, req, context) => {
      upgradeWithToken(res, req, context, ctx, 'realtime', (a) => ({ claims: a.claims, ip: a.request.ip, conn: null }));
    },
    open: (ws) => new RealtimeConnection(ws, ctx),
  });
}

export type { RealtimeUserData };
