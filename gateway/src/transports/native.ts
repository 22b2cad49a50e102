/**
 * Native transport `/v1/audio` (docs/protocol.md): binary frames are audio (PCM16LE 24 kHz mono of
 * any length, or one Opus packet per message when negotiated), text frames are JSON events.
 *
 * The uWS handlers are module-level functions that find their connection through the socket's user
 * data (no closures per connection). Malformed input gets an `error` event; a connection that keeps
 * misbehaving, floods or overflows its control queue is closed with the catalogue's close code.
 */
import type { WebSocket, WebSocketBehavior } from 'uWebSockets.js';
import { ERRORS, type ErrorCode } from '../../../shared/src/errors.ts';
import type { SessionClaims } from '../../../shared/src/token.ts';
import type { EndReason, UsageTotals } from '../../../shared/src/bus/index.ts';
import type { Logger } from '../../../shared/src/logger.ts';
import {
  NativeClientEvent, NATIVE_CLIENT_EVENT_TYPES, NATIVE_SAMPLE_RATE, type NativeCodec, type NativeServerEvent,
} from '../../../shared/src/protocol/native.ts';
import type { FeaturesEvent, NudgeEvent } from '../../../shared/src/features.ts';
import type { TransportCounters } from '../metrics.ts';
import type { AudioFormat } from '../providers/types.ts';
import type { Session } from '../session/session.ts';
import type { Participant } from '../session/participant.ts';
import type { SessionRegistry } from '../session/registry.ts';
import type { ClientChannel } from '../session/types.ts';
import { upgradeWithToken } from './upgrade.ts';
import { createOpusEdge, type EdgeCodec } from './opus-edge.ts';
import { FloodGuard } from './flood-guard.ts';
import { connectionBehavior, ControlQueue, type TransportContext } from './connection.ts';
import { performance } from 'node:perf_hooks'; // a plain binding: the global is a getter run on every use

interface NativeUserData {
  claims: SessionClaims;
  ip: string;
  queryCodec: NativeCodec | null;
  conn: NativeConnection | null;
}

const PCM_FORMAT: AudioFormat = { codec: 'pcm16', sampleRate: NATIVE_SAMPLE_RATE };
/** protocol errors tolerated before the connection is closed */
const MAX_ERRORS = 20;
const decoder = new TextDecoder('utf-8', { fatal: true });

const enum State {
  AwaitingStart = 0,
  Live = 1,
  Closed = 2,
}

export class NativeConnection implements ClientChannel {
  readonly kind = 'web' as const;
  readonly format = PCM_FORMAT;
  private readonly ws: WebSocket<NativeUserData>;
  private readonly ctx: TransportContext;
  private readonly claims: SessionClaims;
  private readonly ip: string;
  private readonly counters: TransportCounters;
  private readonly log: Logger;
  private readonly flood: FloodGuard;
  private state: State = State.AwaitingStart;
  private session: Session | null = null;
  private participant: Participant | null = null;
  private codec: NativeCodec = 'pcm16';
  private opus: EdgeCodec | null = null;
  private readonly control: ControlQueue;
  private errors = 0;

  constructor(ws: WebSocket<NativeUserData>, ctx: TransportContext) {
    const ud = ws.getUserData();
    this.ws = ws;
    this.ctx = ctx;
    this.claims = ud.claims;
    this.ip = ud.ip;
    this.codec = ud.queryCodec ?? 'pcm16';
    this.counters = ctx.metrics.transport('web');
    this.log = ctx.logger.child({ session_id: ud.claims.sid, participant: ud.claims.sub, transport: 'web' });
    this.flood = new FloodGuard(ctx.config.GATEWAY_MAX_MESSAGES_PER_S);
    this.control = new ControlQueue(ws, ctx.config.GATEWAY_SEND_HIGH_WATER_BYTES, ctx.config.GATEWAY_CONTROL_QUEUE_MAX, this.log);
  }

  // ------------------------------------------------------------------ inbound

  onMessage(message: ArrayBuffer, isBinary: boolean): void {
    if (this.state === State.Closed) return;
    this.counters.bytesIn.inc(message.byteLength);
    if (message.byteLength > this.ctx.config.GATEWAY_MAX_PAYLOAD_BYTES) {
      this.fail('MESSAGE_TOO_BIG', `messages are limited to ${this.ctx.config.GATEWAY_MAX_PAYLOAD_BYTES} bytes`, true);
      return;
    }
    if (!this.flood.allow(performance.now())) {
      this.fail('FLOOD', 'more than the allowed messages per second', true);
      return;
    }
    if (isBinary) this.onAudio(message);
    else this.onText(message);
  }

  private onAudio(message: ArrayBuffer): void {
    if (this.state !== State.Live) {
      this.fail('EVENT_OUT_OF_ORDER', 'audio before session.start');
      return;
    }
    let bytes: Uint8Array = new Uint8Array(message);
    if (this.opus !== null) {
      const pcm = this.opus.decode(bytes);
      if (pcm === null) {
        this.fail('INVALID_AUDIO', 'not a decodable Opus packet');
        return;
      }
      bytes = pcm;
    }
    this.session!.pushCallerAudio(this.participant!, bytes);
  }

  private onText(message: ArrayBuffer): void {
    let raw: unknown;
    try {
      raw = JSON.parse(decoder.decode(message));
    } catch {
      this.fail('INVALID_JSON', 'text frames must be JSON events');
      return;
    }
    const type = typeof raw === 'object' && raw !== null ? (raw as { type?: unknown }).type : undefined;
    if (typeof type !== 'string' || !NATIVE_CLIENT_EVENT_TYPES.includes(type)) {
      this.fail('UNKNOWN_EVENT', `unknown event type ${typeof type === 'string' ? type.slice(0, 64) : String(type)}`);
      return;
    }
    const parsed = NativeClientEvent.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      this.fail('INVALID_EVENT', `${type}: ${issue ? `${issue.path.join('.') || '(event)'} ${issue.message}` : 'invalid'}`);
      return;
    }
    const ev = parsed.data;
    if (ev.type === 'ping') {
      this.send({ type: 'pong', id: ev.id });
      return;
    }
    if (ev.type === 'session.start') {
      this.start(ev.codec);
      return;
    }
    if (this.state !== State.Live) {
      this.fail('EVENT_OUT_OF_ORDER', `${ev.type} before session.start`);
      return;
    }
    const session = this.session!;
    if (ev.type === 'input.commit') session.commitInput();
    else if (ev.type === 'response.cancel') session.cancelResponse();
    else session.ack(this.participant!, ev.played_ms);
  }

  private start(codec: NativeCodec | undefined): void {
    if (this.state !== State.AwaitingStart) {
      this.fail('EVENT_OUT_OF_ORDER', 'session.start was already received');
      return;
    }
    if (codec) this.codec = codec;
    if (this.codec === 'opus') {
      this.opus = createOpusEdge(NATIVE_SAMPLE_RATE);
    }
    let joined: { session: Session; participant: Participant };
    try {
      joined = this.ctx.registry.attach(this.claims, this);
    } catch (e) {
      const code = (e as { code?: ErrorCode }).code ?? 'INTERNAL';
      this.fail(code in ERRORS ? code : 'INTERNAL', (e as Error).message, true);
      return;
    }
    this.session = joined.session;
    this.participant = joined.participant;
    this.state = State.Live;
    const audio = { codec: this.codec, sample_rate: NATIVE_SAMPLE_RATE, frame_ms: 20 };
    this.send({ type: 'session.started', session_id: this.claims.sid, participant: this.claims.sub, provider: this.claims.provider, input: audio, output: audio });
    this.log.info({ codec: this.codec }, 'session joined');
  }

  /** an error event; the connection closes after too many, or at once when `fatal` */
  private fail(code: ErrorCode, message: string, fatal = false): void {
    this.ctx.metrics.protocolErrors.labels('web', code).inc();
    this.errors++;
    if (fatal || this.errors > MAX_ERRORS) {
      this.send({ type: 'error', code, message });
      this.close(ERRORS[code].close, code, 'error');
      return;
    }
    this.send({ type: 'error', code, message });
  }

  onDrain(): void {
    if (this.control.flush() && this.participant !== null) this.ctx.pacer.kick(this.participant.playout);
  }

  onClose(): void {
    const wasLive = this.state === State.Live;
    this.state = State.Closed;
    this.ctx.sockets.delete(this);
    if (wasLive && this.session !== null && this.participant !== null) this.session.leave(this.participant, 'client_closed');
    this.opus?.close();
    this.ctx.registry.release(this.claims, this.ip);
  }

  // ------------------------------------------------------------------ ClientChannel

  writeAudio(frame: Uint8Array): number {
    if (this.state !== State.Live) return 2;
    if (this.opus !== null) {
      const packet = this.opus.encode(frame);
      return packet === null ? 2 : this.ws.send(packet, true);
    }
    return this.ws.send(frame, true);
  }

  bufferedAmount(): number {
    return this.state === State.Closed ? 0 : this.ws.getBufferedAmount();
  }

  afterAudioWritten(_responseMs: number, _queueEmpty: boolean): void {
    // Native clients report playback with playback.ack; nothing to add to the stream.
  }

  beginResponse(): void {}

  clearPlayback(playedMs: number): void {
    this.send({ type: 'playback.clear', played_ms: playedMs });
  }

  transcript(role: 'user' | 'agent', text: string, final: boolean): void {
    this.send({ type: 'transcript', role, text, final });
  }

  features(_tMs: number, ev: FeaturesEvent): void {
    this.send(ev);
  }

  nudge(_tMs: number, ev: NudgeEvent): void {
    this.send(ev);
  }

  error(code: ErrorCode, message: string): void {
    this.send({ type: 'error', code, message });
  }

  ended(reason: EndReason, usage: UsageTotals): void {
    if (this.state === State.Closed) return;
    this.send({ type: 'session.ended', reason, usage });
    this.close(reason === 'draining' ? 1001 : 1000, reason, reason);
  }

  /** gateway shutdown before a session was joined */
  closeNow(reason: EndReason): void {
    if (this.session !== null) this.session.end(reason);
    else this.close(1001, reason, reason);
  }

  // ------------------------------------------------------------------ output

  /** control messages never drop: they wait behind a stalled socket, within a bound */
  private send(ev: NativeServerEvent): void {
    if (this.state === State.Closed) return;
    if (!this.control.send(JSON.stringify(ev))) this.close(ERRORS.FLOOD.close, 'FLOOD', 'error');
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

export function nativeBehavior(ctx: TransportContext): WebSocketBehavior<NativeUserData> {
  return connectionBehavior<NativeUserData>(ctx, {
    upgrade: (res, req, context) => {
      const codecParam = new URLSearchParams(req.getQuery() ?? '').get('codec');
      upgradeWithToken(res, req, context, ctx, 'web', (a) => ({
        claims: a.claims,
        ip: a.request.ip,
        queryCodec: codecParam === 'opus' || codecParam === 'pcm16' ? codecParam : null,
        conn: null,
      }));
    },
    open: (ws) => new NativeConnection(ws, ctx),
  });
}

export type { NativeUserData };
export type { SessionRegistry };
