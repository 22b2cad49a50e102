/**
 * Twilio Media Streams transport `/v1/twilio/media` (PROTOCOLS.md section 1, bidirectional).
 *
 * Twilio cannot carry a token on the upgrade (its URL must not have a query), so the socket opens
 * unauthenticated and nothing is bridged until `start` arrives with `customParameters.token` and that
 * token verifies; a bad token, or no `start` in time, closes the socket (which hangs up the call).
 *
 * Outbound audio is 160-byte μ-law frames (20 ms) as `media` text frames, paced by the session's
 * playout. Every 100 ms of audio is followed by a `mark` named `<epoch>.<ms>`: Twilio echoes it once
 * that audio has played, which is what barge-in uses to know how much the caller heard. `clear`
 * bumps the epoch, so the marks Twilio hands back for flushed audio can never count as played.
 */
import type { WebSocket, WebSocketBehavior } from 'uWebSockets.js';
import { ERRORS, type ErrorCode } from '../../../shared/src/errors.ts';
import type { SessionClaims } from '../../../shared/src/token.ts';
import { tokenFromParameters } from '../../../shared/src/protocol/twilio-token.ts';
import type { EndReason, UsageTotals } from '../../../shared/src/bus/index.ts';
import type { Logger } from '../../../shared/src/logger.ts';
import { TwilioStart, TwilioInbound, TWILIO_FRAME_BYTES } from '../../../shared/src/protocol/twilio.ts';
import type { TransportCounters } from '../metrics.ts';
import type { AudioFormat } from '../providers/types.ts';
import type { Session } from '../session/session.ts';
import type { Participant } from '../session/participant.ts';
import type { ClientChannel } from '../session/types.ts';
import { writeProblem, readUpgradeRequest } from './upgrade.ts';
import { connectionBehavior, type TransportContext } from './connection.ts';
import { FloodGuard } from './flood-guard.ts';
import { performance } from 'node:perf_hooks'; // a plain binding: the global is a getter run on every use

interface TwilioUserData {
  ip: string;
  conn: TwilioConnection | null;
}

const MULAW_8K: AudioFormat = { codec: 'mulaw', sampleRate: 8000 };
/** a mark after this much written audio */
const MARK_EVERY_MS = 100;
/** largest media payload accepted (base64 chars): 1 s of μ-law, far above Twilio's 20 ms frames */
const MAX_PAYLOAD_CHARS = 10_668;
const MAX_ERRORS = 50;
const decoder = new TextDecoder('utf-8', { fatal: true });

const enum State {
  AwaitingStart = 0,
  Verifying = 1,
  Live = 2,
  Closed = 3,
}

export class TwilioConnection implements ClientChannel {
  readonly kind = 'twilio' as const;
  readonly format = MULAW_8K;
  private readonly ws: WebSocket<TwilioUserData>;
  private readonly ctx: TransportContext;
  private readonly counters: TransportCounters;
  private readonly flood: FloodGuard;
  private log: Logger;
  private state: State = State.AwaitingStart;
  private claims: SessionClaims | null = null;
  private session: Session | null = null;
  private participant: Participant | null = null;
  private streamSid = '';
  private mediaPrefix = '';
  private markPrefix = '';
  private clearMessage = '';
  private readonly inBuf = Buffer.alloc(Math.ceil((MAX_PAYLOAD_CHARS * 3) / 4));
  private readonly outBuf = Buffer.alloc(TWILIO_FRAME_BYTES);
  private epoch = 0;
  private lastMarkMs = 0;
  private errors = 0;
  /** media frames that arrived before the token verified (never bridged) */
  unbridgedFrames = 0;
  private startTimer: NodeJS.Timeout | null;

  constructor(ws: WebSocket<TwilioUserData>, ctx: TransportContext) {
    this.ws = ws;
    this.ctx = ctx;
    this.counters = ctx.metrics.transport('twilio');
    this.flood = new FloodGuard(ctx.config.GATEWAY_MAX_MESSAGES_PER_S);
    this.log = ctx.logger.child({ transport: 'twilio' });
    this.startTimer = setTimeout(() => this.refuse('UNAUTHENTICATED', 'no start event in time'), ctx.config.GATEWAY_TWILIO_START_TIMEOUT_MS);
    this.startTimer.unref();
  }

  onMessage(message: ArrayBuffer, isBinary: boolean): void {
    if (this.state === State.Closed) return;
    this.counters.bytesIn.inc(message.byteLength);
    if (message.byteLength > this.ctx.config.GATEWAY_MAX_PAYLOAD_BYTES) {
      this.protocolError('MESSAGE_TOO_BIG', 'message too big', true);
      return;
    }
    if (!this.flood.allow(performance.now())) {
      this.protocolError('FLOOD', 'too many messages per second', true);
      return;
    }
    if (isBinary) {
      this.protocolError('INVALID_EVENT', 'Twilio messages are text frames');
      return;
    }
    let msg: { event?: unknown; media?: { payload?: unknown }; streamSid?: unknown };
    try {
      msg = JSON.parse(decoder.decode(message));
    } catch {
      this.protocolError('INVALID_JSON', 'not JSON');
      return;
    }
    if (typeof msg !== 'object' || msg === null) {
      this.protocolError('INVALID_EVENT', 'not an event object');
      return;
    }
    // Hot path (50 per second per call): media is checked by hand, the rest through the schema.
    if (msg.event === 'media') {
      const payload = msg.media?.payload;
      if (typeof payload !== 'string') {
        this.protocolError('INVALID_EVENT', 'media without payload');
        return;
      }
      this.onMedia(payload);
      return;
    }
    const parsed = TwilioInbound.safeParse(msg);
    if (!parsed.success) {
      const known = ['connected', 'start', 'dtmf', 'mark', 'stop'].includes(String(msg.event));
      this.protocolError(known ? 'INVALID_EVENT' : 'UNKNOWN_EVENT', known ? `invalid ${String(msg.event)}` : 'unknown event');
      return;
    }
    const ev = parsed.data;
    switch (ev.event) {
      case 'connected':
        return;
      case 'start':
        this.onStart(ev);
        return;
      case 'mark':
        this.onMark(ev.mark.name);
        return;
      case 'dtmf':
        // like audio, nothing reaches the agent before the token verifies
        if (this.state === State.Live) this.session!.keypad(ev.dtmf.digit);
        else if (this.state === State.AwaitingStart) this.protocolError('EVENT_OUT_OF_ORDER', 'dtmf before start');
        return;
      case 'stop':
        this.hangUp('completed');
        return;
      default:
        return;
    }
  }

  private onMedia(payload: string): void {
    if (this.state !== State.Live) {
      // Before the token verifies nothing is bridged, by design; media before start is out of order.
      if (this.state === State.Verifying) this.unbridgedFrames++;
      else this.protocolError('EVENT_OUT_OF_ORDER', 'media before start');
      return;
    }
    const len = payload.length;
    if (len > MAX_PAYLOAD_CHARS || (len & 3) !== 0) {
      this.protocolError('INVALID_AUDIO', 'media payload is not valid base64 of an accepted size');
      return;
    }
    const pad = len === 0 ? 0 : payload.charCodeAt(len - 1) === 61 ? (payload.charCodeAt(len - 2) === 61 ? 2 : 1) : 0;
    const n = this.inBuf.write(payload, 'base64');
    // Node stops at the first character outside the alphabet; a short count exposes it.
    if (n !== (len >> 2) * 3 - pad) {
      this.protocolError('INVALID_AUDIO', 'media payload is not valid base64');
      return;
    }
    this.session!.pushCallerAudio(this.participant!, this.inBuf.subarray(0, n));
  }

  private onStart(ev: TwilioStart): void {
    if (this.state !== State.AwaitingStart) {
      this.protocolError('EVENT_OUT_OF_ORDER', 'second start');
      return;
    }
    this.state = State.Verifying;
    this.streamSid = ev.streamSid;
    this.log = this.log.child({ stream_sid: ev.streamSid });
    // the control plane splits the JWT over several <Parameter>s (each is capped near 500 chars)
    void this.verify(tokenFromParameters(ev.start.customParameters));
  }

  private async verify(token: string | null): Promise<void> {
    const res = await this.ctx.verifier.verify(token);
    if (this.state !== State.Verifying) return; // the call went away meanwhile
    if (!res.ok) {
      this.ctx.metrics.upgradeRejections.labels(res.reason).inc();
      this.refuse(res.reason, res.message);
      return;
    }
    const claims = res.claims;
    if (claims.transport !== 'twilio') {
      this.ctx.metrics.upgradeRejections.labels('TOKEN_CLAIMS_INVALID').inc();
      this.refuse('TOKEN_CLAIMS_INVALID', 'token is not for the twilio transport');
      return;
    }
    if (this.ctx.isDraining()) {
      this.refuse('DRAINING', 'gateway is draining');
      return;
    }
    // Calls all arrive from Twilio's addresses, so only the per-tenant limit applies here.
    const refusal = this.ctx.registry.admit(claims, null);
    if (refusal !== null) {
      this.ctx.metrics.upgradeRejections.labels(refusal).inc();
      this.refuse(refusal, ERRORS[refusal].message);
      return;
    }
    this.claims = claims;
    if (this.startTimer) clearTimeout(this.startTimer);
    this.startTimer = null;
    const sid = JSON.stringify(this.streamSid);
    this.mediaPrefix = `{"event":"media","streamSid":${sid},"media":{"payload":"`;
    this.markPrefix = `{"event":"mark","streamSid":${sid},"mark":{"name":"`;
    this.clearMessage = `{"event":"clear","streamSid":${sid}}`;
    this.log = this.log.child({ session_id: claims.sid, participant: claims.sub });
    try {
      const joined = this.ctx.registry.attach(claims, this);
      this.session = joined.session;
      this.participant = joined.participant;
    } catch (e) {
      const code = (e as { code?: ErrorCode }).code ?? 'INTERNAL';
      this.refuse(code in ERRORS ? code : 'INTERNAL', (e as Error).message);
      return;
    }
    this.state = State.Live;
    this.log.info('call bridged');
  }

  private onMark(name: string): void {
    if (this.participant === null) return;
    const dot = name.indexOf('.');
    if (dot < 0) return;
    // Marks of a flushed or earlier response carry an old epoch: never evidence of playback.
    if (Number(name.slice(0, dot)) !== this.epoch) return;
    const ms = Number(name.slice(dot + 1));
    if (Number.isFinite(ms)) this.participant.playout.confirm(ms, performance.now());
  }

  private protocolError(code: ErrorCode, message: string, fatal = false): void {
    this.ctx.metrics.protocolErrors.labels('twilio', code).inc();
    this.errors++;
    this.log.debug({ code }, message);
    if (fatal || this.errors > MAX_ERRORS) this.refuse(code, message);
  }

  /** close with the catalogue close code (Twilio has no error message to send) */
  private refuse(code: ErrorCode, message: string): void {
    if (this.state === State.Closed) return;
    this.log.info({ code }, message);
    this.close(ERRORS[code].close, code, 'error');
  }

  private hangUp(reason: EndReason): void {
    this.close(1000, reason, reason);
  }

  onDrain(): void {
    if (this.participant !== null) this.ctx.pacer.kick(this.participant.playout);
  }

  onClose(): void {
    const was = this.state;
    this.state = State.Closed;
    this.ctx.sockets.delete(this);
    if (this.startTimer) clearTimeout(this.startTimer);
    if (was === State.Live && this.session !== null && this.participant !== null) this.session.leave(this.participant, 'client_closed');
    if (this.claims !== null) this.ctx.registry.release(this.claims, null);
  }

  // ------------------------------------------------------------------ ClientChannel

  writeAudio(frame: Uint8Array): number {
    if (this.state !== State.Live) return 2;
    this.outBuf.set(frame);
    return this.ws.send(this.mediaPrefix + this.outBuf.toString('base64', 0, frame.length) + '"}}', false);
  }

  bufferedAmount(): number {
    return this.state === State.Closed ? 0 : this.ws.getBufferedAmount();
  }

  afterAudioWritten(responseMs: number, queueEmpty: boolean): void {
    if (this.state !== State.Live) return;
    if (responseMs - this.lastMarkMs >= MARK_EVERY_MS || (queueEmpty && responseMs > this.lastMarkMs)) {
      this.lastMarkMs = responseMs;
      this.ws.send(`${this.markPrefix}${this.epoch}.${responseMs}"}}`, false);
    }
  }

  beginResponse(): void {
    this.epoch++;
    this.lastMarkMs = 0;
  }

  clearPlayback(_playedMs: number): void {
    this.epoch++;
    this.lastMarkMs = 0;
    if (this.state === State.Live) this.ws.send(this.clearMessage, false);
  }

  transcript(): void {
    // No text channel to a phone call; final transcripts reach the control plane on the bus.
  }

  features(): void {}

  nudge(): void {}

  error(code: ErrorCode, message: string): void {
    this.log.info({ code }, message);
  }

  ended(reason: EndReason, _usage: UsageTotals): void {
    // Closing the socket ends <Connect>; with no further TwiML the call hangs up.
    this.close(reason === 'draining' ? 1001 : 1000, reason, reason);
  }

  closeNow(reason: EndReason): void {
    if (this.session !== null) this.session.end(reason);
    else this.close(1001, reason, reason);
  }

  private close(code: number, message: string, reason: EndReason): void {
    if (this.state === State.Closed) return;
    const live = this.state === State.Live;
    this.state = State.Closed;
    if (live && this.session !== null && this.participant !== null) this.session.leave(this.participant, reason);
    this.ws.end(code, message.slice(0, 120));
  }
}

export function twilioBehavior(ctx: TransportContext): WebSocketBehavior<TwilioUserData> {
  return connectionBehavior<TwilioUserData>(ctx, {
    // the token arrives later, in the `start` message: only draining refuses the upgrade itself
    upgrade: (res, req, context) => {
      if (ctx.isDraining()) {
        ctx.metrics.upgradeRejections.labels('DRAINING').inc();
        writeProblem(res, 'DRAINING', undefined, { 'retry-after': '1' });
        return;
      }
      const r = readUpgradeRequest(res, req, ctx.trustProxy);
      res.upgrade<TwilioUserData>({ ip: r.ip, conn: null }, r.secKey, r.protocol, r.extensions, context);
    },
    open: (ws) => new TwilioConnection(ws, ctx),
  });
}

export { TwilioStart };
