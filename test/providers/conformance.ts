/**
 * One conformance suite for every provider adapter (echo included): `runConformance(t, target)` runs
 * the same behaviours against any adapter factory + far side, and each target says what its far side
 * recorded. Behaviours: audio both ways in the declared format and rate, transcripts, barge-in with
 * the right truncation point, tool call round trip (result and error result), provider error,
 * provider drop with one reconnect then provider_lost, connect failure.
 */
import type { Test } from 'tap';
import { AppError, type ErrorCode } from '../../shared/src/errors.ts';
import { createLogger } from '../../shared/src/logger.ts';
import type { SessionClaims, ProviderName, TransportName } from '../../shared/src/token.ts';
import type { AudioFormat, Provider, ProviderSink, ProviderUsage, ToolCall } from '../../gateway/src/providers/types.ts';
import { ToolDispatcher, type ToolHandler } from '../../gateway/src/providers/tools.ts';
import { alignedSimilarity, decode, encode, similarity, utteranceAt, type Encoding } from '../stand-ins/lib/audio.ts';
import { until, type Turn } from '../stand-ins/lib/script.ts';
import { concat, frames, silence } from './lib/ws-client.ts';

export const logger = createLogger('conformance', 'silent');

export function claimsFor(provider: ProviderName, transport: TransportName, ref?: string, tools: string[] = ['lookup']): SessionClaims {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: 'switchboard-control', aud: 'gateway', sub: 'caller-1', jti: `j-${now}`, iat: now, exp: now + 600,
    sid: 'sess-conformance', tid: 'tenant-1', participants: ['caller-1'], provider, transport,
    agent: { ref: ref ?? provider, instructions: 'Be brief.', tools }, purposes: [], max_duration_s: 600,
  };
}

export function encodingOf(f: AudioFormat): Encoding {
  return f.codec === 'pcm16' ? 'pcm16' : f.codec === 'mulaw' ? 'pcmu' : 'pcma';
}

/** What the session would be: records every sink call, runs tool calls through a ToolDispatcher. */
export class RecordingSink implements ProviderSink {
  readonly audio: { responseId: string; bytes: Buffer }[] = [];
  readonly done: string[] = [];
  readonly transcripts: { role: 'user' | 'agent'; text: string; final: boolean }[] = [];
  speechStarted = 0;
  interruptions = 0;
  readonly toolCalls: ToolCall[] = [];
  readonly usage: ProviderUsage[] = [];
  readonly errors: { code: ErrorCode; message: string; retryable: boolean }[] = [];
  readonly closed: boolean[] = [];
  provider: Provider | null = null;
  dispatcher: ToolDispatcher | null = null;

  onAudio(bytes: Uint8Array, responseId: string): void {
    this.audio.push({ responseId, bytes: Buffer.from(bytes) }); // copy: valid only until return
  }
  onResponseDone(responseId: string): void {
    this.done.push(responseId);
  }
  onTranscript(role: 'user' | 'agent', text: string, final: boolean): void {
    this.transcripts.push({ role, text, final });
  }
  onSpeechStarted(): void {
    this.speechStarted++;
  }
  onInterruption(): void {
    this.interruptions++;
  }
  onToolCall(call: ToolCall): void {
    this.toolCalls.push(call);
    const d = this.dispatcher;
    const p = this.provider;
    if (d === null || p === null) return;
    void d.run(call, { sessionId: 'sess-conformance', tenantId: 'tenant-1', participant: 'caller-1', provider: p.name }).then((r) => p.toolResult(call.callId, r.output));
  }
  onUsage(usage: ProviderUsage): void {
    this.usage.push(usage);
  }
  onError(code: ErrorCode, message: string, retryable: boolean): void {
    this.errors.push({ code, message, retryable });
  }
  onClosed(expected: boolean): void {
    this.closed.push(expected);
  }

  audioBytes(from = 0): number {
    let n = 0;
    for (let i = from; i < this.audio.length; i++) n += this.audio[i]!.bytes.length;
    return n;
  }

  /** decoded agent audio (all of it, or one response's) */
  pcm(format: AudioFormat, responseId?: string): Int16Array {
    const parts = this.audio.filter((a) => responseId === undefined || a.responseId === responseId).map((a) => a.bytes);
    return decode(Buffer.concat(parts), encodingOf(format));
  }
}

export interface Fixture {
  provider: Provider;
  /** decoded caller audio the far side received (PCM at the provider's input rate); null for echo */
  received(): Int16Array | null;
  /** the caller transcript the far side reports, or null when it has no ASR (echo) */
  userTranscript: string | null;
  /** the far side's final transcript for the reply to a turn that speaks `utterance` */
  agentTranscript(utterance: number): string | RegExp;
  /** the far side's reply audio for `utterance` at `rate` (echo: the caller's own utterance) */
  replyPcm(utterance: number, rate: number): Int16Array;
  /** queue scripted turns on the far side */
  script(...turns: Turn[]): void;
  /** OpenAI-style server truncation: the audio_end_ms values the far side recorded; null if the provider has none */
  truncations(): number[] | null;
  /** tool results the far side received */
  toolResults(): { ok: boolean; text: string }[];
  /** far-side connections opened so far (reconnects show up here) */
  connections(): number;
  /** proof the reconnect resumed or replayed the conversation, e.g. priorCallId or replayed items */
  resumedWithHistory(): boolean;
  drop(): void;
  close(): Promise<void>;
}

export interface ConformanceTarget {
  name: string;
  provider: ProviderName;
  transport: TransportName;
  /** `network: false` is the local echo agent: no far side, no tools, no errors, no drops */
  network: boolean;
  /** how a barge-in reaches the session: the provider's VAD start, or its own interruption */
  bargeIn: 'speech_started' | 'interruption';
  /** after a scripted provider error: the call goes on, ends, or reconnects (Ultravox closes 1011) */
  afterError: 'continues' | 'ends' | 'reconnects';
  expectedFormat: AudioFormat;
  /** how far the reply length may differ from the scripted speech (echo keeps pre-roll) */
  lengthToleranceMs: number;
  setup(t: Test, opts?: { badKey?: boolean; script?: Turn[] }): Promise<Fixture>;
}

/** The caller's turn at `rate`: 200 ms silence, corpus utterance 0, 800 ms silence. */
export function callerTurn(rate: number, utterance = 0): Int16Array {
  return concat(silence(rate, 200), utteranceAt('conv00', utterance, rate).pcm, silence(rate, 800));
}

export function push(provider: Provider, pcm: Int16Array): number {
  const f = provider.inputFormat;
  let bytes = 0;
  for (const fr of frames(pcm, f.sampleRate, 20)) {
    const b = encode(fr, encodingOf(f));
    bytes += b.length;
    provider.sendAudio(b);
  }
  return bytes;
}

async function connected(t: Test, target: ConformanceTarget, script?: Turn[]): Promise<{ fx: Fixture; sink: RecordingSink; ac: AbortController }> {
  const fx = await target.setup(t, { script });
  const sink = new RecordingSink();
  sink.provider = fx.provider;
  const ac = new AbortController();
  await fx.provider.connect({ claims: claimsFor(target.provider, target.transport), sink, logger, signal: ac.signal });
  t.teardown(async () => {
    await fx.provider.close();
    await fx.close();
  });
  return { fx, sink, ac };
}

const REPLY = 3;
const TOOL_REPLY = 1;

export function runConformance(t: Test, target: ConformanceTarget): void {
  t.test(`${target.name}: audio both ways in ${target.expectedFormat.codec}/${target.expectedFormat.sampleRate}`, async (t) => {
    const { fx, sink } = await connected(t, target, [{ kind: 'speak', utterance: REPLY }]);
    const p = fx.provider;
    t.same(p.inputFormat, target.expectedFormat, 'input format');
    t.same(p.outputFormat, target.expectedFormat, 'output format');
    const turn = callerTurn(p.inputFormat.sampleRate);
    push(p, turn);
    const expected = fx.replyPcm(REPLY, p.outputFormat.sampleRate);
    const bps = p.outputFormat.codec === 'pcm16' ? 2 : 1;
    await until(() => sink.audioBytes() >= expected.length * bps, 8000, 'the whole reply');
    const got = sink.pcm(p.outputFormat);
    const tol = (target.lengthToleranceMs * p.outputFormat.sampleRate) / 1000;
    t.ok(Math.abs(got.length - expected.length) <= tol, `reply length ${got.length} ≈ ${expected.length} samples at ${p.outputFormat.sampleRate} Hz`);
    t.ok(alignedSimilarity(got, expected, p.outputFormat.sampleRate) > 0.9, 'reply is the expected speech, decoded with the declared format');
    const rx = fx.received();
    if (rx !== null) {
      await until(() => (fx.received()?.length ?? 0) >= turn.length - p.inputFormat.sampleRate / 5, 5000, 'far side to receive the turn');
      const all = fx.received()!;
      t.ok(similarity(all.subarray(0, turn.length), turn, 2) > 0.95, 'the far side heard the caller at the declared rate and codec');
    }
  });

  t.test(`${target.name}: transcripts`, async (t) => {
    const { fx, sink, } = await connected(t, target, [{ kind: 'speak', utterance: REPLY }]);
    const p = fx.provider;
    push(p, callerTurn(p.inputFormat.sampleRate));
    await until(() => sink.transcripts.some((x) => x.role === 'agent' && x.final), 8000, 'agent transcript');
    t.match(sink.transcripts.find((x) => x.role === 'agent' && x.final)!.text, fx.agentTranscript(REPLY), 'final agent transcript');
    if (fx.userTranscript !== null) {
      await until(() => sink.transcripts.some((x) => x.role === 'user' && x.final), 5000, 'user transcript');
      t.equal(sink.transcripts.find((x) => x.role === 'user' && x.final)!.text, fx.userTranscript, 'final user transcript');
    } else {
      t.notOk(sink.transcripts.some((x) => x.role === 'user'), 'no ASR, no invented user transcript');
    }
    if (target.network && target.provider === 'openai') {
      await until(() => sink.usage.length > 0, 5000, 'usage');
      t.ok(sink.usage[0]!.output_tokens! > 0, 'usage tokens reported');
    }
  });

  t.test(`${target.name}: barge-in and truncation point`, async (t) => {
    const { fx, sink } = await connected(t, target, [{ kind: 'speak', utterance: REPLY }, { kind: 'silent' }]);
    const p = fx.provider;
    push(p, callerTurn(p.inputFormat.sampleRate));
    await until(() => sink.audio.length > 0, 8000, 'reply audio');
    const responseId = sink.audio[0]!.responseId;
    const bps = p.outputFormat.codec === 'pcm16' ? 2 : 1;
    const fullMs = Math.floor((fx.replyPcm(REPLY, p.outputFormat.sampleRate).length * 1000) / p.outputFormat.sampleRate);
    await until(() => sink.audioBytes() >= (fullMs * p.outputFormat.sampleRate * bps) / 1000 - 8, 8000, 'all reply audio');
    // The caller talks over the reply while it plays (the session has played 400 ms of it so far).
    push(p, utteranceAt('conv00', 0, p.inputFormat.sampleRate).pcm.subarray(0, p.inputFormat.sampleRate));
    if (target.bargeIn === 'speech_started') await until(() => sink.speechStarted > 1, 5000, 'speech started during the reply');
    else await until(() => sink.interruptions > 0, 5000, 'provider interruption');
    p.truncate(responseId, 1e6);
    p.truncate(responseId, 400.7);
    const tr = fx.truncations();
    if (tr !== null) {
      await until(() => (fx.truncations() ?? []).length >= 2, 5000, 'truncations at the far side');
      const got = fx.truncations()!;
      t.ok(Math.abs(got[0]! - fullMs) <= 1, `played time past the end is clamped to the item's audio (${got[0]} ≈ ${fullMs} ms)`);
      t.equal(got[1], 400, 'truncated at the played millisecond');
      t.notOk(sink.errors.length > 0, 'no provider error from truncation');
    } else {
      t.ok(target.bargeIn === 'interruption' || !target.network, 'without a truncate API the provider interrupts itself');
      t.equal(sink.errors.length, 0, 'truncate is harmless');
    }
  });

  t.test(`${target.name}: tool call round trip`, async (t) => {
    if (!target.network) {
      const { fx, sink } = await connected(t, target);
      push(fx.provider, callerTurn(fx.provider.inputFormat.sampleRate));
      await until(() => sink.audio.length > 0, 5000, 'reply');
      fx.provider.toolResult('no-such-call', '{}');
      t.equal(sink.toolCalls.length, 0, 'echo declares no tools and raises no tool calls');
      return;
    }
    const { fx, sink } = await connected(t, target, [
      { kind: 'tool', name: 'lookup', args: { city: 'Oslo' } },
      { kind: 'speak', utterance: TOOL_REPLY },
      { kind: 'tool', name: 'lookup', args: { city: 'Nowhere' } },
      { kind: 'speak', utterance: TOOL_REPLY },
    ]);
    const seen: unknown[] = [];
    const handler: ToolHandler = async (name, args, ctx) => {
      seen.push({ name, args, session: ctx.sessionId });
      if ((args as { city?: string }).city === 'Nowhere') return new Promise(() => {}); // never answers
      return { result: { temp: 3 } };
    };
    sink.dispatcher = new ToolDispatcher(handler, 300);
    const p = fx.provider;
    push(p, callerTurn(p.inputFormat.sampleRate));
    await until(() => fx.toolResults().length >= 1, 5000, 'tool result at the far side');
    t.same(seen[0], { name: 'lookup', args: { city: 'Oslo' }, session: 'sess-conformance' });
    t.same(fx.toolResults()[0], { ok: true, text: '{"temp":3}' }, 'result in the provider format');
    const bps = p.outputFormat.codec === 'pcm16' ? 2 : 1;
    const replyBytes = fx.replyPcm(TOOL_REPLY, p.outputFormat.sampleRate).length * bps;
    await until(() => sink.audioBytes() >= replyBytes - 8, 5000, 'the reply after the tool');
    const before = sink.audio.length;
    push(p, callerTurn(p.inputFormat.sampleRate));
    await until(() => fx.toolResults().length >= 2, 5000, 'timed-out tool result');
    const r = fx.toolResults()[1]!;
    t.equal(r.ok, false, 'a timed-out tool returns an error result');
    t.match(r.text, /timed out/);
    await until(() => sink.audio.length > before, 5000, 'the call continues after a failed tool');
    t.same(sink.closed, [], 'still connected');
  });

  t.test(`${target.name}: provider error`, async (t) => {
    if (!target.network) {
      const { fx, sink } = await connected(t, target);
      await fx.provider.close();
      t.same(sink.closed, [true], 'a local agent has no provider errors; closing reports an expected close');
      t.equal(sink.errors.length, 0);
      return;
    }
    const { fx, sink } = await connected(t, target, [{ kind: 'error', code: 'server_error', message: 'scripted failure' }, { kind: 'speak', utterance: TOOL_REPLY }]);
    const p = fx.provider;
    push(p, callerTurn(p.inputFormat.sampleRate));
    if (target.afterError === 'reconnects') {
      await until(() => fx.connections() >= 2, 5000, 'reconnect after the provider closed with an error');
      t.same(sink.closed, [], 'the session survives');
    } else {
      await until(() => sink.errors.length > 0, 5000, 'error event');
      const e = sink.errors[0]!;
      t.equal(e.code, 'PROVIDER_ERROR');
      t.match(e.message, /scripted failure/);
      if (target.afterError === 'continues') {
        t.equal(e.retryable, true, 'the session continues');
        const before = sink.audio.length;
        push(p, callerTurn(p.inputFormat.sampleRate));
        await until(() => sink.audio.length > before, 5000, 'audio after the error');
        t.same(sink.closed, []);
      } else {
        t.equal(e.retryable, false, 'the provider ends the conversation');
        await until(() => sink.closed.length > 0, 5000, 'closed');
        t.same(sink.closed, [false]);
        t.equal(fx.connections(), 1, 'no reconnect after a fatal error');
      }
    }
  });

  t.test(`${target.name}: provider drop, one reconnect, then provider_lost`, async (t) => {
    if (!target.network) {
      const { fx, sink } = await connected(t, target);
      t.equal(sink.closed.length, 0, 'a local agent cannot drop');
      await fx.provider.close();
      await fx.provider.close();
      t.same(sink.closed, [true], 'close is idempotent and reported once');
      return;
    }
    const { fx, sink } = await connected(t, target, [{ kind: 'speak', utterance: TOOL_REPLY }, { kind: 'speak', utterance: TOOL_REPLY }]);
    const p = fx.provider;
    push(p, callerTurn(p.inputFormat.sampleRate));
    await until(() => sink.transcripts.some((x) => x.role === 'agent' && x.final), 8000, 'first reply');
    const t0 = Date.now();
    fx.drop();
    await until(() => fx.connections() >= 2, 3000, 'reconnect');
    t.ok(Date.now() - t0 < 2000, 'reconnected within 2 s');
    t.same(sink.closed, [], 'the session survived the drop');
    await until(() => fx.resumedWithHistory(), 2000, 'resume or replay');
    t.ok(fx.resumedWithHistory(), 'the new provider session resumed or replayed the conversation');
    const before = sink.audio.length;
    await new Promise((r) => setTimeout(r, 50));
    push(p, callerTurn(p.inputFormat.sampleRate));
    await until(() => sink.audio.length > before, 8000, 'audio after the reconnect');
    fx.drop();
    await until(() => sink.closed.length > 0, 5000, 'provider lost');
    t.same(sink.closed, [false], 'a second drop ends the session (provider_lost)');
    t.equal(fx.connections(), 2, 'only one reconnect');
  });

  t.test(`${target.name}: connect failure`, async (t) => {
    if (!target.network) {
      const fx = await target.setup(t);
      const sink = new RecordingSink();
      await fx.provider.connect({ claims: claimsFor(target.provider, target.transport), sink, logger, signal: new AbortController().signal });
      t.pass('the local agent needs no network or key');
      await fx.provider.close();
      await fx.close();
      return;
    }
    const fx = await target.setup(t, { badKey: true });
    t.teardown(() => fx.close());
    const sink = new RecordingSink();
    const err = await fx.provider.connect({ claims: claimsFor(target.provider, target.transport), sink, logger, signal: new AbortController().signal }).then(() => null, (e: unknown) => e);
    t.ok(err instanceof AppError, 'connect rejects with an AppError');
    t.equal((err as AppError).code, 'PROVIDER_UNAVAILABLE');
    t.same(sink.closed, [], 'nothing to close');
    await fx.provider.close();
  });
}
