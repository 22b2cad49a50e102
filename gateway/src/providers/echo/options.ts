/**
 * Echo agent options, read from the token's `agent.ref` (e.g. `echo`, `echo:loopback`,
 * `echo:format=pcm16/16000`). Parsed once per session.
 */
import type { AudioFormat, SampleRate } from '../types.ts';
import type { SessionClaims } from '../../../../shared/src/token.ts';

export interface EchoOptions {
  /** `turn`: speak back the caller's last utterance; `loopback`: return every frame at once (sound check, relay bench) */
  mode: 'turn' | 'loopback';
  format: AudioFormat;
}

const RATES: readonly number[] = [8000, 16000, 24000, 48000];

/** The format the echo agent works in unless told otherwise: the client's own, so nothing converts. */
export function defaultEchoFormat(transport: SessionClaims['transport']): AudioFormat {
  return transport === 'twilio' ? { codec: 'mulaw', sampleRate: 8000 } : { codec: 'pcm16', sampleRate: 24000 };
}

export function parseEchoOptions(claims: SessionClaims): EchoOptions {
  const opts: EchoOptions = { mode: 'turn', format: defaultEchoFormat(claims.transport) };
  const ref = claims.agent.ref ?? '';
  const [, rest] = ref.split(':', 2);
  if (!rest) return opts;
  for (const part of rest.split(',')) {
    if (part === 'loopback') opts.mode = 'loopback';
    else if (part.startsWith('format=')) {
      const [codec, rate] = part.slice(7).split('/');
      if (codec === 'mulaw' || codec === 'alaw') opts.format = { codec, sampleRate: 8000 };
      else if (codec === 'pcm16' && RATES.includes(Number(rate))) opts.format = { codec: 'pcm16', sampleRate: Number(rate) as SampleRate };
    }
  }
  return opts;
}
