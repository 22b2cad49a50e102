/**
 * The `echo` agent: a real local agent, the default provider, no network and no keys.
 *
 * Turn-taking by an energy VAD: two consecutive 20 ms frames above the threshold start a caller turn
 * (reported as speech started, which the session turns into a barge-in if the agent is talking);
 * `endOfTurnMs` of trailing silence ends it, and the agent speaks the utterance back — all of it at
 * once in 100 ms chunks, as a fast provider would, so pacing is the gateway's job. It has no ASR, so its
 * transcript says honestly what it did ("(echo of 1.8 s)") instead of inventing words.
 *
 * `loopback` mode returns every frame the moment it arrives (a sound check; the relay bench uses it to
 * measure the gateway's own added latency).
 */
import { levelDbfs } from '../../audio/pcm.ts';
import { mulawDecode, alawDecode } from '../../audio/g711.ts';
import { int16Of } from '../../session/format-converter.ts';
import type { Provider, ProviderConnectOptions, ProviderSink, AudioFormat } from '../types.ts';
import type { EchoOptions } from './options.ts';
import type { Logger } from '../../../../shared/src/logger.ts';

export interface EchoTuning {
  endOfTurnMs: number;
  vadDbfs: number;
  maxUtteranceMs: number;
}

const FRAME_MS = 20;
/** frames above threshold needed to start a turn: one loud click is not speech */
const START_FRAMES = 2;
/** audio kept from before the turn start so the first syllable is not clipped */
const PREROLL_FRAMES = 5;
/** utterances shorter than this are noise, not a turn */
const MIN_UTTERANCE_MS = 200;
const CHUNK_MS = 100;

const enum State {
  Idle = 0,
  InTurn = 1,
  Closed = 2,
}

export class EchoAgent implements Provider {
  readonly name = 'echo' as const;
  readonly inputFormat: AudioFormat;
  readonly outputFormat: AudioFormat;
  /** loopback returns caller frames as they arrive, already at real time */
  readonly outputPaced: boolean;

  private readonly mode: EchoOptions['mode'];
  private readonly tuning: EchoTuning;
  private readonly frameBytes: number;
  private readonly utter: Uint8Array;
  private utterLen: number;
  private readonly preroll: Uint8Array;
  private prerollFrames: number;
  private prerollPos: number;
  private readonly decoded: Int16Array;
  private state: State;
  private speechRun: number;
  private silenceMs: number;
  private responseSeq: number;
  private sink: ProviderSink | null;
  private log: Logger | null;

  constructor(opts: EchoOptions, tuning: EchoTuning) {
    this.mode = opts.mode;
    this.inputFormat = opts.format;
    this.outputFormat = opts.format;
    this.outputPaced = opts.mode === 'loopback';
    this.tuning = tuning;
    const samples = (opts.format.sampleRate * FRAME_MS) / 1000;
    this.frameBytes = opts.format.codec === 'pcm16' ? samples * 2 : samples;
    const maxFrames = Math.ceil(tuning.maxUtteranceMs / FRAME_MS);
    this.utter = new Uint8Array(this.mode === 'loopback' ? 0 : maxFrames * this.frameBytes);
    this.utterLen = 0;
    this.preroll = new Uint8Array(this.mode === 'loopback' ? 0 : PREROLL_FRAMES * this.frameBytes);
    this.prerollFrames = 0;
    this.prerollPos = 0;
    this.decoded = new Int16Array(opts.format.codec === 'pcm16' ? 0 : samples);
    this.state = State.Idle;
    this.speechRun = 0;
    this.silenceMs = 0;
    this.responseSeq = 0;
    this.sink = null;
    this.log = null;
  }

  async connect(opts: ProviderConnectOptions): Promise<void> {
    this.sink = opts.sink;
    this.log = opts.logger;
  }

  sendAudio(frame: Uint8Array): void {
    const sink = this.sink;
    if (sink === null || this.state === State.Closed) return;
    if (this.mode === 'loopback') {
      sink.onAudio(frame, 'loopback');
      return;
    }
    const speech = this.level(frame) > this.tuning.vadDbfs;
    if (this.state === State.Idle) {
      this.keepPreroll(frame);
      this.speechRun = speech ? this.speechRun + 1 : 0;
      if (this.speechRun >= START_FRAMES) this.startTurn(sink);
      return;
    }
    this.append(frame);
    this.silenceMs = speech ? 0 : this.silenceMs + FRAME_MS;
    if (this.silenceMs >= this.tuning.endOfTurnMs) this.endTurn(sink);
  }

  sendText(_text: string, _opts: { role: 'user' | 'system'; respond: boolean }): void {
    // Echo has no language model or voice: text cannot change what it says back.
    this.log?.debug('echo agent ignores text input');
  }

  commitInput(): void {
    if (this.state === State.InTurn && this.sink !== null) this.endTurn(this.sink);
  }

  truncate(_responseId: string, _playedMs: number): void {
    // Replies are emitted whole the moment a turn ends; nothing of a truncated reply is pending here.
  }

  cancel(): void {
    this.speechRun = 0;
  }

  toolResult(_callId: string, _output: string): void {
    // Echo declares no tools, so no call can be outstanding.
  }

  async close(): Promise<void> {
    if (this.state === State.Closed) return;
    this.state = State.Closed;
    const sink = this.sink;
    this.sink = null;
    sink?.onClosed(true);
  }

  private level(frame: Uint8Array): number {
    const codec = this.inputFormat.codec;
    if (codec === 'pcm16') return levelDbfs(int16Of(frame));
    if (codec === 'mulaw') mulawDecode(frame, this.decoded);
    else alawDecode(frame, this.decoded);
    return levelDbfs(this.decoded);
  }

  private keepPreroll(frame: Uint8Array): void {
    this.preroll.set(frame, this.prerollPos * this.frameBytes);
    this.prerollPos = (this.prerollPos + 1) % PREROLL_FRAMES;
    if (this.prerollFrames < PREROLL_FRAMES) this.prerollFrames++;
  }

  private startTurn(sink: ProviderSink): void {
    this.state = State.InTurn;
    this.silenceMs = 0;
    this.speechRun = 0;
    // Oldest preroll frame first.
    this.utterLen = 0;
    const start = (this.prerollPos - this.prerollFrames + PREROLL_FRAMES) % PREROLL_FRAMES;
    for (let i = 0; i < this.prerollFrames; i++) {
      const f = (start + i) % PREROLL_FRAMES;
      this.append(this.preroll.subarray(f * this.frameBytes, (f + 1) * this.frameBytes));
    }
    this.prerollFrames = 0;
    sink.onSpeechStarted();
  }

  private append(frame: Uint8Array): void {
    if (this.utterLen + frame.length > this.utter.length) return; // keeps the first maxUtteranceMs
    this.utter.set(frame, this.utterLen);
    this.utterLen += frame.length;
  }

  private endTurn(sink: ProviderSink): void {
    this.state = State.Idle;
    const trailing = Math.min(this.utterLen, (this.silenceMs / FRAME_MS) * this.frameBytes);
    const len = this.utterLen - trailing;
    this.silenceMs = 0;
    this.utterLen = 0;
    const ms = (len / this.frameBytes) * FRAME_MS;
    if (ms < MIN_UTTERANCE_MS) return;
    const id = `echo-${++this.responseSeq}`;
    const chunk = (CHUNK_MS / FRAME_MS) * this.frameBytes;
    // The reply is a view of `utter`; the sink copies each chunk before this returns, and the next
    // turn cannot overwrite it before then (we are inside the same synchronous call).
    for (let off = 0; off < len; off += chunk) sink.onAudio(this.utter.subarray(off, Math.min(len, off + chunk)), id);
    sink.onResponseDone(id);
    sink.onTranscript('agent', `(echo of ${(ms / 1000).toFixed(1)} s)`, true);
  }
}
