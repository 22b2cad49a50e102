/**
 * The one interface every AI provider adapter implements (echo, openai, elevenlabs, ultravox).
 *
 * The session pipeline owns transports, pacing and barge-in; an adapter only speaks its provider's
 * protocol. Audio crosses this boundary as whole 20 ms frames in the adapter's declared input format
 * and as chunks of any length in its declared output format; the pipeline converts only when the
 * client's format differs. Events flow back through one `ProviderSink` the session hands over at
 * `connect` (methods, not an emitter: no closure or event object per audio chunk).
 */
import type { ErrorCode } from '../../../shared/src/errors.ts';
import type { SessionClaims, ProviderName } from '../../../shared/src/token.ts';
import type { Logger } from '../../../shared/src/logger.ts';

export type SampleRate = 8000 | 16000 | 24000 | 48000;

/** pcm16 is little-endian signed 16-bit mono; G.711 is always 8 kHz */
export type AudioFormat =
  | { readonly codec: 'pcm16'; readonly sampleRate: SampleRate }
  | { readonly codec: 'mulaw'; readonly sampleRate: 8000 }
  | { readonly codec: 'alaw'; readonly sampleRate: 8000 };

export function sameFormat(a: AudioFormat, b: AudioFormat): boolean {
  return a.codec === b.codec && a.sampleRate === b.sampleRate;
}

/** bytes per sample of a format */
export function bytesPerSample(f: AudioFormat): 1 | 2 {
  return f.codec === 'pcm16' ? 2 : 1;
}

export interface ProviderUsage {
  input_tokens?: number;
  output_tokens?: number;
  /** seconds of audio the provider billed, when it reports them */
  audio_seconds?: number;
}

export interface ToolCall {
  callId: string;
  name: string;
  /** JSON text exactly as the provider sent it */
  arguments: string;
}

/** Everything an adapter reports. Called synchronously from the adapter's socket handlers. */
export interface ProviderSink {
  /**
   * Agent audio in the adapter's `outputFormat`, any length. `bytes` is valid only until return
   * (the pipeline copies it into its own buffers). `responseId` names the response it belongs to, so
   * audio of an interrupted response that arrives late can be dropped.
   */
  onAudio(bytes: Uint8Array, responseId: string): void;
  /** the response has produced all its audio */
  onResponseDone(responseId: string): void;
  onTranscript(role: 'user' | 'agent', text: string, final: boolean): void;
  /** the provider heard the caller start talking (its VAD) */
  onSpeechStarted(): void;
  /** the provider itself stopped its current response because the caller barged in */
  onInterruption(): void;
  onToolCall(call: ToolCall): void;
  onUsage(usage: ProviderUsage): void;
  /** `retryable` errors keep the session; others end it with reason provider_error */
  onError(code: ErrorCode, message: string, retryable: boolean): void;
  /** the provider connection is gone; `expected` is true after our own close() */
  onClosed(expected: boolean): void;
}

export interface ProviderConnectOptions {
  claims: SessionClaims;
  sink: ProviderSink;
  logger: Logger;
  signal: AbortSignal;
}

export interface Provider {
  readonly name: ProviderName;
  /** the format `sendAudio` frames must be in */
  readonly inputFormat: AudioFormat;
  /** the format `onAudio` chunks arrive in */
  readonly outputFormat: AudioFormat;
  /**
   * True when the provider itself emits audio at real time (a live relay, the echo loopback): the
   * gateway then forwards it as it comes instead of pacing it again (pacing a stream that is already
   * real-time only turns its arrival jitter into standing delay). Absent/false: the provider may burst
   * faster than real time, and the gateway paces.
   */
  readonly outputPaced?: boolean;

  /** open the provider session; rejects with an AppError (PROVIDER_UNAVAILABLE, ...) */
  connect(opts: ProviderConnectOptions): Promise<void>;
  /** one 20 ms frame of caller audio in `inputFormat`; valid only until return */
  sendAudio(frame: Uint8Array): void;
  /** add text to the conversation (an injected instruction or context); `respond` asks for a reply */
  sendText(text: string, opts: { role: 'user' | 'system'; respond: boolean }): void;
  /** end of caller turn when the client does turn-taking itself (input.commit) */
  commitInput(): void;
  /** the caller heard only `playedMs` of the current response (already clamped to what was sent) */
  truncate(responseId: string, playedMs: number): void;
  /** stop the current response */
  cancel(): void;
  toolResult(callId: string, output: string): void;
  close(): Promise<void>;
}

export interface ProviderFactory {
  (claims: SessionClaims): Provider;
}
