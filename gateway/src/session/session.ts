/**
 * One conversation: a provider, one or more participants, turn-taking and usage.
 *
 * Inbound: participant frames -> provider input format -> provider.sendAudio (a second human is mixed
 * into the first one's frames so the provider hears one stream at real time). Outbound: provider audio
 * -> every participant's playout. Barge-in (provider speech started / interruption / client cancel):
 * clear every playout and the clients' buffers, tell the provider how much was heard, and drop late
 * audio of the interrupted response. The session implements ProviderSink itself: no per-event closures.
 */
import { errorOutput, type ToolDispatcher } from '../providers/tools.ts';
import { newId } from '../../../shared/src/ids.ts';
import { ERRORS, type ErrorCode } from '../../../shared/src/errors.ts';
import type { SessionClaims } from '../../../shared/src/token.ts';
import type { EventBus, EndReason, UsageTotals, GatewayEvent } from '../../../shared/src/bus/index.ts';
import type { Logger } from '../../../shared/src/logger.ts';
import { mixSaturating } from '../audio/pcm.ts';
import type { Provider, ProviderSink, ProviderUsage, ToolCall } from '../providers/types.ts';
import { RELAY_SAMPLE, type GatewayMetrics } from '../metrics.ts';
import type { GatewayConfig } from '../config.ts';
import { FrameHold } from './frame-hold.ts';
import { FormatConverter, int16Of, bytesOf } from './format-converter.ts';
import { Participant } from './participant.ts';
import type { Pacer } from './playout.ts';
import type { ClientChannel, SessionAnalyzer, AnalyzerFactory } from './types.ts';
import { performance } from 'node:perf_hooks'; // a plain binding: the global is a getter run on every use

export interface SessionDeps {
  config: GatewayConfig;
  metrics: GatewayMetrics;
  pacer: Pacer;
  events: EventBus | null;
  logger: Logger;
  analyzers: AnalyzerFactory | null;
  tools: ToolDispatcher | null;
  onEnded(session: Session): void;
}

export class Session implements ProviderSink {
  readonly id: string;
  readonly tenantId: string;
  readonly claims: SessionClaims;
  readonly provider: Provider;
  readonly participants: Participant[] = [];
  readonly log: Logger;
  readonly startedAt = performance.now();
  ended = false;
  endReason: EndReason | null = null;
  /** frames of interrupted responses that arrived after the barge-in and were dropped */
  lateFramesDropped = 0;

  private readonly deps: SessionDeps;
  private currentResponse: string | null = null;
  private droppedResponse: string | null = null;
  private providerOpenAt = 0;
  /** caller audio while the provider connects; null once it is open (or failed) */
  private hold: FrameHold | null;
  private providerClosedAt = 0;
  private reported: UsageTotals = { seconds_in: 0, seconds_out: 0, provider_seconds: 0 };
  private tickSeq = 0;
  private relaySeq = 0;
  private readonly maxTimer: NodeJS.Timeout;
  private analyzer: SessionAnalyzer | null = null;
  private agentAnalyzerIndex = -1;
  private analyzerRate: 8000 | 16000 | 24000 | 48000 = 24000;
  private agentToAnalyzer: FormatConverter | null = null;
  private readonly mixOut: Int16Array;
  private readonly providerUsage: ProviderUsage = {};
  /** participants that were ever connected (usage counts departed ones too) */
  private readonly allParticipantsEver: Participant[] = [];
  /** aborts tool calls still running when the session ends */
  private readonly toolAbort = new AbortController();

  constructor(claims: SessionClaims, provider: Provider, deps: SessionDeps) {
    this.id = claims.sid;
    this.tenantId = claims.tid;
    this.claims = claims;
    this.provider = provider;
    this.deps = deps;
    this.log = deps.logger.child({ session_id: claims.sid, tenant_id: claims.tid, provider: claims.provider });
    this.mixOut = new Int16Array(provider.inputFormat.codec === 'pcm16' ? (provider.inputFormat.sampleRate * 20) / 1000 : 0);
    this.maxTimer = setTimeout(() => this.end('max_duration'), claims.max_duration_s * 1000);
    this.maxTimer.unref();
    this.hold = new FrameHold(deps.config.GATEWAY_CONNECT_HOLD_MS);
  }

  /** open the provider; a failure ends the session */
  async start(): Promise<void> {
    const ac = new AbortController();
    try {
      await this.provider.connect({ claims: this.claims, sink: this, logger: this.log, signal: ac.signal });
      this.providerOpenAt = performance.now();
      const hold = this.hold!;
      this.hold = null;
      if (this.ended) {
        void this.provider.close();
        return;
      }
      // what the caller said while the provider connected goes first, in order
      if (hold.heldFrames > 0) this.log.debug({ frames: hold.heldFrames, dropped: hold.dropped }, 'caller audio held during provider connect');
      hold.release((f) => this.provider.sendAudio(f));
    } catch (e) {
      this.hold = null;
      const code = (e as { code?: ErrorCode }).code ?? 'PROVIDER_UNAVAILABLE';
      this.log.warn({ err: e }, 'provider connect failed');
      this.deps.metrics.providerErrors.labels(this.claims.provider, code).inc();
      for (const p of this.participants) p.channel.error(code, ERRORS[code]?.message ?? 'provider unavailable');
      this.end('provider_error');
    }
  }

  /** add a participant's connection; returns its pipeline */
  join(participantId: string, channel: ClientChannel): Participant {
    const { config, metrics } = this.deps;
    const p = new Participant(participantId, channel, this.provider.inputFormat, this.provider.outputFormat, metrics.transport(channel.kind), {
      maxMs: config.GATEWAY_OUTPUT_QUEUE_MS,
      leadMs: this.provider.outputPaced ? Infinity : config.GATEWAY_PLAYOUT_LEAD_MS,
      highWater: config.GATEWAY_SEND_HIGH_WATER_BYTES,
    });
    if (this.analyzer === null && this.deps.analyzers !== null && this.allParticipantsEver.length === 0) {
      this.analyzer = this.deps.analyzers.create({ sessionId: this.id, sampleRate: channel.format.sampleRate, claims: this.claims });
      this.analyzerRate = channel.format.sampleRate;
    }
    const a = this.analyzer;
    if (a !== null) {
      const rate = this.analyzerRate;
      p.analyzerIndex = a.addParticipant(participantId, 'human');
      p.toAnalyzer = new FormatConverter(channel.format, { codec: 'pcm16', sampleRate: rate });
      if (this.agentAnalyzerIndex < 0) {
        this.agentAnalyzerIndex = a.addParticipant('agent', 'agent');
        this.agentToAnalyzer = new FormatConverter(channel.format, { codec: 'pcm16', sampleRate: rate });
        // The agent is heard through the first participant's playout: feed what is written, at its play time.
        p.onAgentFrame = (frame, playAt) => this.onAgentFramePlayed(frame, playAt);
      }
    }
    this.participants.push(p);
    this.allParticipantsEver.push(p);
    metrics.activeSessions.labels(channel.kind, this.claims.provider).inc();
    this.publish({ type: 'session.started', ...this.base(), participant: participantId, provider: this.claims.provider, transport: channel.kind });
    return p;
  }

  /** a participant's socket closed; the session ends with its last participant */
  leave(p: Participant, reason: EndReason): void {
    const i = this.participants.indexOf(p);
    if (i < 0) return;
    this.participants.splice(i, 1);
    this.deps.pacer.forget(p.playout);
    if (this.analyzer !== null && p.analyzerIndex >= 0 && this.participants.length > 0) this.analyzer.removeParticipant(p.analyzerIndex);
    this.deps.metrics.activeSessions.labels(p.channel.kind, this.claims.provider).dec();
    if (this.participants.length === 0) this.end(reason);
  }

  // ------------------------------------------------------------------ inbound (per 20 ms frame)

  /** caller audio of any length in the participant's client format */
  pushCallerAudio(p: Participant, bytes: Uint8Array): void {
    const sample = (++this.relaySeq & (RELAY_SAMPLE - 1)) === 0;
    const t0 = sample ? performance.now() : 0;
    p.inReframer.push(bytes);
    for (let f = p.inReframer.next(); f !== null; f = p.inReframer.next()) this.callerFrame(p, f);
    if (sample) this.deps.metrics.relayIn.observe((performance.now() - t0) / 1000);
  }

  private callerFrame(p: Participant, frame: Uint8Array): void {
    p.framesIn++;
    p.counters.framesIn.inc();
    if (this.ended) return;
    if (p.toAnalyzer !== null && this.analyzer !== null) {
      p.toAnalyzer.push(frame);
      const tMs = performance.now() - this.startedAt;
      for (let g = p.toAnalyzer.next(); g !== null; g = p.toAnalyzer.next()) this.analyzer.pushFrame(p.analyzerIndex, int16Of(g), tMs);
    }
    const conv = p.inConv;
    conv.push(frame);
    const primary = this.participants[0] === p;
    for (let g = conv.next(); g !== null; g = conv.next()) {
      if (primary) {
        if (this.hold !== null) this.hold.push(this.mixIn(g));
        else this.provider.sendAudio(this.mixIn(g));
      }
      else if (this.mixOut.length > 0) {
        // Held for the first participant's next frame, which carries both voices to the provider.
        p.mixSlot.set(int16Of(g));
        p.mixReady = true;
      }
    }
  }

  private mixIn(frame: Uint8Array): Uint8Array {
    if (this.participants.length < 2 || this.mixOut.length === 0) return frame;
    let mixed: Int16Array | null = null;
    for (let i = 1; i < this.participants.length; i++) {
      const o = this.participants[i]!;
      if (!o.mixReady) continue;
      mixSaturating(mixed ?? int16Of(frame), o.mixSlot, this.mixOut);
      mixed = this.mixOut;
      o.mixReady = false;
    }
    return mixed === null ? frame : bytesOf(mixed);
  }

  private onAgentFramePlayed(frame: Uint8Array, playAt: number): void {
    const conv = this.agentToAnalyzer;
    if (conv === null || this.analyzer === null) return;
    conv.push(frame);
    const tMs = playAt - this.startedAt;
    for (let g = conv.next(); g !== null; g = conv.next()) this.analyzer.pushFrame(this.agentAnalyzerIndex, int16Of(g), tMs);
  }

  // ------------------------------------------------------------------ client control

  /** client says the caller's turn is over (push-to-talk) */
  commitInput(): void {
    if (!this.ended) this.provider.commitInput();
  }

  /** client cancels the agent's reply */
  cancelResponse(): void {
    if (this.ended) return;
    this.bargeIn();
    this.provider.cancel();
  }

  /** native client reports how much of the current response it has played */
  ack(p: Participant, playedMs: number): void {
    p.playout.confirm(playedMs, performance.now());
  }

  /**
   * The caller pressed a phone key (Twilio `dtmf`): the agent is told, as the caller's own turn, and
   * answers it (an IVR-style "press 1" flow works with any provider that takes text).
   */
  keypad(digit: string): void {
    if (this.ended) return;
    this.log.info({ digit }, 'caller pressed a key');
    this.provider.sendText(`The caller pressed the phone key ${digit}.`, { role: 'user', respond: true });
  }

  /** inject text (bus command) */
  inject(text: string): void {
    if (!this.ended) this.provider.sendText(text, { role: 'system', respond: true });
  }

  // ------------------------------------------------------------------ ProviderSink

  onAudio(bytes: Uint8Array, responseId: string): void {
    if (this.ended) return;
    if (responseId === this.droppedResponse) {
      this.lateFramesDropped++;
      return;
    }
    const sample = (++this.relaySeq & (RELAY_SAMPLE - 1)) === 0;
    const t0 = sample ? performance.now() : 0;
    if (responseId !== this.currentResponse) {
      this.currentResponse = responseId;
      for (const p of this.participants) {
        p.playout.beginResponse();
        p.channel.beginResponse();
      }
    }
    const pacer = this.deps.pacer;
    for (const p of this.participants) {
      const dropped = p.enqueueAgentAudio(bytes);
      if (dropped > 0) p.counters.dropped.inc(dropped);
      pacer.kick(p.playout);
    }
    if (sample) this.deps.metrics.relayOut.observe((performance.now() - t0) / 1000);
  }

  onResponseDone(responseId: string): void {
    if (this.ended || responseId !== this.currentResponse) return;
    for (const p of this.participants) {
      p.flushAgentAudio();
      this.deps.pacer.kick(p.playout);
    }
  }

  onTranscript(role: 'user' | 'agent', text: string, final: boolean): void {
    if (this.ended) return;
    for (const p of this.participants) p.channel.transcript(role, text, final);
    if (final) {
      const now = performance.now() - this.startedAt;
      this.publish({ type: 'transcript.final', ...this.base(), participant: role === 'agent' ? 'agent' : this.participants[0]?.id ?? '', role, text, start_ms: now, end_ms: now });
    }
  }

  onSpeechStarted(): void {
    this.bargeIn();
  }

  onInterruption(): void {
    this.bargeIn();
  }

  onToolCall(call: ToolCall): void {
    const tools = this.deps.tools;
    if (tools === null) {
      // No control plane to run tools (TOOLS_BASE_URL unset): tell the provider plainly so it does not wait.
      this.log.warn({ tool: call.name }, 'tool call with no tool runner');
      this.provider.toolResult(call.callId, errorOutput('tools are not enabled on this gateway'));
      return;
    }
    const ctx = { sessionId: this.id, tenantId: this.tenantId, participant: this.participants[0]?.id ?? '', provider: this.claims.provider };
    // run() never rejects: a failed or timed-out tool becomes an error result and the call goes on
    void tools.run(call, ctx, this.toolAbort.signal).then((r) => {
      if (this.ended) return;
      this.provider.toolResult(call.callId, r.output);
      this.publish({ type: 'tool.call', ...this.base(), name: call.name, ok: r.ok, duration_ms: r.durationMs });
    });
  }

  onUsage(usage: ProviderUsage): void {
    if (usage.input_tokens) this.providerUsage.input_tokens = (this.providerUsage.input_tokens ?? 0) + usage.input_tokens;
    if (usage.output_tokens) this.providerUsage.output_tokens = (this.providerUsage.output_tokens ?? 0) + usage.output_tokens;
    if (usage.audio_seconds) this.providerUsage.audio_seconds = (this.providerUsage.audio_seconds ?? 0) + usage.audio_seconds;
  }

  onError(code: ErrorCode, message: string, retryable: boolean): void {
    this.deps.metrics.providerErrors.labels(this.claims.provider, code).inc();
    this.log.warn({ code, retryable }, 'provider error');
    for (const p of this.participants) p.channel.error(code, message);
    if (!retryable) this.end('provider_error');
  }

  onClosed(expected: boolean): void {
    this.providerClosedAt = performance.now();
    if (!expected) this.end('provider_lost');
  }

  // ------------------------------------------------------------------ barge-in

  private bargeIn(): void {
    const id = this.currentResponse;
    if (id === null) return;
    const now = performance.now();
    let active = false;
    for (const p of this.participants) if (p.playout.active(now)) active = true;
    if (!active) {
      // The reply already played out in full: a new turn, not an interruption.
      this.currentResponse = null;
      return;
    }
    const primary = this.participants[0];
    const played = primary ? primary.playout.playedMs(now) : 0;
    for (const p of this.participants) {
      p.clearAgentAudio(now);
      this.deps.pacer.forget(p.playout);
      p.channel.clearPlayback(played);
    }
    this.droppedResponse = id;
    this.currentResponse = null;
    this.provider.truncate(id, played);
    this.log.debug({ played_ms: played }, 'barge-in');
  }

  // ------------------------------------------------------------------ usage, lifecycle

  usage(): UsageTotals {
    let framesIn = 0;
    let framesOut = 0;
    for (const p of this.allParticipantsEver) {
      framesIn += p.framesIn;
      if (p.playout.written > framesOut) framesOut = p.playout.written;
    }
    const end = this.providerClosedAt || performance.now();
    return {
      seconds_in: (framesIn * 20) / 1000,
      seconds_out: (framesOut * 20) / 1000,
      provider_seconds: this.providerOpenAt ? Math.max(0, (end - this.providerOpenAt) / 1000) : 0,
    };
  }

  /** publish the usage since the last tick (deltas; the id makes each one billable once) */
  tickUsage(final: boolean): void {
    const t = this.usage();
    const r = this.reported;
    const delta = {
      seconds_in: round3(Math.max(0, t.seconds_in - r.seconds_in)),
      seconds_out: round3(Math.max(0, t.seconds_out - r.seconds_out)),
      provider_seconds: round3(Math.max(0, t.provider_seconds - r.provider_seconds)),
    };
    this.reported = t;
    this.publish({ type: 'usage.tick', ...this.base(), seq: this.tickSeq++, delta, final });
  }

  /** features: live snapshot + nudges to every client (every 250 ms) */
  tickFeatures(): void {
    const a = this.analyzer;
    if (a === null || this.ended) return;
    const tMs = performance.now() - this.startedAt;
    const snap = a.snapshot(tMs);
    const nudges = a.takeNudges(tMs);
    for (const p of this.participants) {
      p.channel.features(tMs, snap);
      // A nudge goes to the person it is for.
      for (const n of nudges) if (n.participant === p.id) p.channel.nudge(tMs, n);
    }
  }

  end(reason: EndReason): void {
    if (this.ended) return;
    this.ended = true;
    this.endReason = reason;
    clearTimeout(this.maxTimer);
    this.toolAbort.abort();
    if (!this.providerClosedAt) this.providerClosedAt = performance.now();
    const totals = this.usage();
    const parts = this.participants.splice(0);
    for (const p of parts) {
      this.deps.pacer.forget(p.playout);
      this.deps.metrics.activeSessions.labels(p.channel.kind, this.claims.provider).dec();
      p.channel.ended(reason, roundTotals(totals));
    }
    void this.provider.close().catch((e: unknown) => this.log.warn({ err: e }, 'provider close failed'));
    this.tickUsage(true);
    if (this.analyzer !== null) this.publish({ type: 'features.summary', ...this.base(), summary: this.analyzer.summary(performance.now() - this.startedAt) });
    this.publish({ type: 'session.ended', ...this.base(), reason, totals: roundTotals(totals) });
    this.log.info({ reason, ...totals, late_dropped: this.lateFramesDropped }, 'session ended');
    this.deps.onEnded(this);
  }


  private base(): { id: string; session_id: string; tenant_id: string; pod_id: string; ts: number } {
    return { id: newId(), session_id: this.id, tenant_id: this.tenantId, pod_id: this.deps.config.GATEWAY_POD_ID, ts: Date.now() };
  }

  private publish(ev: GatewayEvent): void {
    const bus = this.deps.events;
    if (bus === null) return;
    bus.publish(ev).catch((e: unknown) => this.log.error({ err: e, type: ev.type }, 'event publish failed'));
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function roundTotals(t: UsageTotals): UsageTotals {
  return { seconds_in: round3(t.seconds_in), seconds_out: round3(t.seconds_out), provider_seconds: round3(t.provider_seconds) };
}
