/**
 * What the session pipeline needs from a transport (native, Twilio, realtime), and the hook the
 * features engine plugs into. Transports own wire formats; the session owns audio flow and turns.
 */
import type { EndReason, UsageTotals } from '../../../shared/src/bus/messages.ts';
import type { ErrorCode } from '../../../shared/src/errors.ts';
import type { SessionClaims } from '../../../shared/src/token.ts';
import type { AudioFormat } from '../providers/types.ts';
import type { TransportLabel } from '../metrics.ts';
import type { FeaturesEvent, NudgeEvent } from '../../../shared/src/features.ts';

export interface ClientChannel {
  readonly kind: TransportLabel;
  /** the client's audio after transport decoding (Opus packets are decoded to pcm16 at the edge) */
  readonly format: AudioFormat;
  /** one 20 ms frame of agent audio in `format`; returns the uWS send status */
  writeAudio(frame: Uint8Array): number;
  bufferedAmount(): number;
  /** after frames were written (Twilio places marks here) */
  afterAudioWritten(responseMs: number, queueEmpty: boolean): void;
  /** the current agent response was cut off: the client must drop what it buffered */
  clearPlayback(playedMs: number): void;
  /** a new agent response starts (Twilio forgets marks of the previous one) */
  beginResponse(): void;
  transcript(role: 'user' | 'agent', text: string, final: boolean): void;
  /** live features (every 250 ms) and nudges (native clients; other transports may ignore) */
  features(tMs: number, ev: FeaturesEvent): void;
  nudge(tMs: number, ev: NudgeEvent): void;
  error(code: ErrorCode, message: string): void;
  /** the session is over: tell the client why and close */
  ended(reason: EndReason, usage: UsageTotals): void;
}

/**
 * Per-session conversation analysis (gateway/src/features): fed every inbound caller frame and
 * every outbound agent frame as PCM16 at `sampleRate`, polled for snapshots and nudges.
 */
export interface SessionAnalyzer {
  addParticipant(id: string, kind: 'human' | 'agent'): number;
  removeParticipant(index: number): void;
  /** one 20 ms PCM16 frame at the rate the analyzer was created with; `tMs` is session time */
  pushFrame(index: number, frame: Int16Array, tMs: number): boolean;
  snapshot(tMs: number): FeaturesEvent;
  takeNudges(tMs: number): NudgeEvent[];
  summary(endMs?: number): unknown;
}

export interface AnalyzerFactory {
  /** `sampleRate` is the first participant's audio rate, so the common case converts nothing */
  create(opts: { sessionId: string; sampleRate: 8000 | 16000 | 24000 | 48000; claims: SessionClaims }): SessionAnalyzer | null;
}
