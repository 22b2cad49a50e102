/**
 * Twilio Media Streams (bidirectional `<Connect><Stream>`) messages, PROTOCOLS.md section 1.
 * Numeric-looking fields arrive as strings; `streamSid` is on every message after `connected`.
 */
import { z } from 'zod';

const numStr = z.string().regex(/^\d{1,12}$/);

export const TwilioConnected = z.object({ event: z.literal('connected'), protocol: z.string(), version: z.string() });
export const TwilioStart = z.object({
  event: z.literal('start'),
  sequenceNumber: numStr,
  streamSid: z.string().min(1).max(100),
  start: z.object({
    streamSid: z.string().min(1).max(100),
    accountSid: z.string().max(100),
    callSid: z.string().max(100),
    tracks: z.array(z.string()).optional(),
    customParameters: z.record(z.string(), z.string().max(4096)).default({}),
    mediaFormat: z.object({ encoding: z.literal('audio/x-mulaw'), sampleRate: z.literal(8000), channels: z.literal(1) }),
  }),
});
export const TwilioMedia = z.object({
  event: z.literal('media'),
  sequenceNumber: numStr,
  streamSid: z.string(),
  media: z.object({ track: z.string(), chunk: numStr, timestamp: numStr, payload: z.string() }),
});
export const TwilioDtmf = z.object({
  event: z.literal('dtmf'),
  sequenceNumber: numStr,
  streamSid: z.string(),
  dtmf: z.object({ track: z.string(), digit: z.string().regex(/^[0-9*#A-D]$/, 'a phone key: 0-9, *, #, A-D') }),
});
export const TwilioMarkIn = z.object({ event: z.literal('mark'), sequenceNumber: numStr, streamSid: z.string(), mark: z.object({ name: z.string().max(200) }) });
export const TwilioStop = z.object({
  event: z.literal('stop'),
  sequenceNumber: numStr,
  streamSid: z.string(),
  stop: z.object({ accountSid: z.string(), callSid: z.string() }).passthrough(),
});

export const TwilioInbound = z.discriminatedUnion('event', [TwilioConnected, TwilioStart, TwilioMedia, TwilioDtmf, TwilioMarkIn, TwilioStop]);
export type TwilioInbound = z.infer<typeof TwilioInbound>;
export type TwilioMedia = z.infer<typeof TwilioMedia>;
export type TwilioStart = z.infer<typeof TwilioStart>;

export const TwilioMediaOut = z.object({ event: z.literal('media'), streamSid: z.string(), media: z.object({ payload: z.string() }) });
export const TwilioMarkOut = z.object({ event: z.literal('mark'), streamSid: z.string(), mark: z.object({ name: z.string() }) });
export const TwilioClearOut = z.object({ event: z.literal('clear'), streamSid: z.string() });
export const TwilioOutbound = z.discriminatedUnion('event', [TwilioMediaOut, TwilioMarkOut, TwilioClearOut]);
export type TwilioOutbound = z.infer<typeof TwilioOutbound>;

/** 20 ms of μ-law at 8 kHz */
export const TWILIO_FRAME_BYTES = 160;
