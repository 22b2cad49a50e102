/**
 * The native `/v1/audio` protocol (docs/protocol.md). Binary frames carry audio; text frames carry
 * these JSON events. One schema per event, shared by the gateway, tests, bench and the web client.
 */
import { z } from 'zod';
import { EndReason, UsageTotals } from '../bus/messages.ts';
import { FeaturesEvent, NudgeEvent } from '../features.ts';

export { FeaturesEvent, NudgeEvent };

export const NATIVE_CODECS = ['pcm16', 'opus'] as const;
export const NativeCodec = z.enum(NATIVE_CODECS);
export type NativeCodec = z.infer<typeof NativeCodec>;

/** PCM16LE mono at this rate is the native transport's audio, both ways. */
export const NATIVE_SAMPLE_RATE = 24000;

// ---------------------------------------------------------------- client -> server

export const SessionStartEvent = z
  .object({
    type: z.literal('session.start'),
    /** overrides the `codec` query parameter; default pcm16 */
    codec: NativeCodec.optional(),
    /** free-form client label for logs */
    client: z.string().max(100).optional(),
  })
  .strict();

export const InputCommitEvent = z.object({ type: z.literal('input.commit') }).strict();
export const ResponseCancelEvent = z.object({ type: z.literal('response.cancel') }).strict();
export const PlaybackAckEvent = z
  .object({
    type: z.literal('playback.ack'),
    /** milliseconds of the current response the client has actually played out */
    played_ms: z.number().nonnegative().max(24 * 3600 * 1000),
  })
  .strict();
export const PingEvent = z.object({ type: z.literal('ping'), id: z.union([z.string().max(100), z.number()]).optional() }).strict();

export const NativeClientEvent = z.discriminatedUnion('type', [
  SessionStartEvent, InputCommitEvent, ResponseCancelEvent, PlaybackAckEvent, PingEvent,
]);
export type NativeClientEvent = z.infer<typeof NativeClientEvent>;
export const NATIVE_CLIENT_EVENT_TYPES: readonly string[] = ['session.start', 'input.commit', 'response.cancel', 'playback.ack', 'ping'];

// ---------------------------------------------------------------- server -> client

export const AudioDescriptor = z.object({ codec: NativeCodec, sample_rate: z.number().int(), frame_ms: z.number().int() });

export const SessionStartedEvent = z.object({
  type: z.literal('session.started'),
  session_id: z.string(),
  participant: z.string(),
  provider: z.string(),
  input: AudioDescriptor,
  output: AudioDescriptor,
});
export const TranscriptEvent = z.object({
  type: z.literal('transcript'),
  role: z.enum(['user', 'agent']),
  text: z.string(),
  final: z.boolean(),
  participant: z.string().optional(),
});
/* `features` (every 250 ms) and `nudge` are defined with the features engine in shared/src/features.ts. */
export const PlaybackClearEvent = z.object({
  type: z.literal('playback.clear'),
  /** ms of the interrupted response the gateway believes were played (what the provider was told) */
  played_ms: z.number().nonnegative(),
});
export const ErrorEvent = z.object({ type: z.literal('error'), code: z.string(), message: z.string() });
export const SessionEndedEvent = z.object({ type: z.literal('session.ended'), reason: EndReason, usage: UsageTotals });
export const PongEvent = z.object({ type: z.literal('pong'), id: z.union([z.string(), z.number()]).optional() });

export const NativeServerEvent = z.discriminatedUnion('type', [
  SessionStartedEvent, TranscriptEvent, FeaturesEvent, NudgeEvent, PlaybackClearEvent, ErrorEvent, SessionEndedEvent, PongEvent,
]);
export type NativeServerEvent = z.infer<typeof NativeServerEvent>;
