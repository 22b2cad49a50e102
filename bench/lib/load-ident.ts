/**
 * How a load client recognises its own frames when they come back (bench/load.ts).
 *
 * The measured path is client -> gateway -> provider -> gateway -> client, and the provider (echo in
 * loopback mode, or a stand-in with --loopback) returns every frame it gets at once. Two cases:
 *
 * - Bytes pass through (echo; twilio+openai with μ-law both ways; native+openai with 24 kHz PCM): the
 *   client stamps a sequence number into each frame's first 4 bytes and reads it back ("stamp").
 *
 * - The gateway converts (native+elevenlabs: 24 kHz -> 16 kHz to the provider, 16 kHz -> 24 kHz back;
 *   twilio+elevenlabs: μ-law 8 kHz <-> PCM 16 kHz): the samples change, so a stamp does not survive.
 *   Instead the content itself is the marker ("content"): the gateway's conversion is deterministic
 *   (FormatConverter; the FIR resampler is chunking-invariant, 1 frame in -> 1 frame out from the
 *   first frame), so the client runs the same conversion over the corpus once and knows, byte for
 *   byte, what frame j of the corpus looks like when it comes back. Each filter remembers less than
 *   one 20 ms frame of input, so with two filters in the path a returned frame depends on its own
 *   input frame and the two before it. The ring is computed with the corpus looped, so it is exact
 *   for every frame except a caller's first two (its filters start from silence) and the frame right
 *   after a gap (frames the gateway dropped before the provider was connected). Frames are matched in
 *   order: the next expected one first, then forward over everything sent (a gap). A frame matching
 *   none is "unidentified" and counts as lost, so a wrong guess can never pass a trial.
 *   For this the content must be unique, and the corpus is not: each speaker's track is digital
 *   silence while the other talks (over half of all frames are exact zeros), so a gap inside silence
 *   would shift every later silent frame onto the wrong sequence number (too-old send times, then
 *   frames "lost" where speech resumes). Content mode therefore adds a fixed pseudo-random dither at
 *   about -70 dBFS to the caller audio (inaudible; nothing on the path treats silence specially), which
 *   makes every frame unique; the ring is computed from the same dithered audio.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { readWav, resampleClip } from '../../gateway/src/audio/wav.ts';
import { mulawEncode } from '../../gateway/src/audio/g711.ts';
import { FormatConverter } from '../../gateway/src/session/format-converter.ts';
import { sameFormat, type AudioFormat } from '../../gateway/src/providers/types.ts';

export interface PathFormats {
  /** what the caller's transport carries (native: PCM 24 kHz; twilio: μ-law 8 kHz) */
  client: AudioFormat;
  /** the provider's input and output formats; a loopback provider echoes bytes, so they must match */
  providerIn: AudioFormat;
  providerOut: AudioFormat;
}

export type IdentMode = 'stamp' | 'content';

/** `stamp` when the gateway hands the bytes through untouched both ways, else `content` */
export function identModeOf(p: PathFormats): IdentMode {
  return sameFormat(p.client, p.providerIn) && sameFormat(p.providerOut, p.client) ? 'stamp' : 'content';
}

function describe(f: AudioFormat): string {
  return `${f.codec === 'pcm16' ? 'PCM16' : f.codec === 'mulaw' ? 'μ-law' : 'A-law'} ${f.sampleRate / 1000} kHz`;
}

/** one line saying what the gateway does to the audio on this path, for the bench output */
export function describePath(p: PathFormats): string {
  const leg = (from: AudioFormat, to: AudioFormat): string => {
    if (sameFormat(from, to)) return 'passthrough';
    const parts: string[] = [];
    if (from.codec !== 'pcm16') parts.push(`${from.codec} decode`);
    if (from.sampleRate !== to.sampleRate) parts.push(`resample ${from.sampleRate / 1000}k->${to.sampleRate / 1000}k`);
    if (to.codec !== 'pcm16') parts.push(`${to.codec} encode`);
    return parts.join(' + ');
  };
  return `client ${describe(p.client)} -> [${leg(p.client, p.providerIn)}] -> provider ${describe(p.providerIn)} (loopback) -> [${leg(p.providerOut, p.client)}] -> client`;
}

/**
 * The corpus as it comes back through the path: frame j of the result is corpus frame j after
 * client -> providerIn -> (echoed) -> providerOut -> client, with corpus frames j-2 and j-1 (looped)
 * before it. `audio` is in the client format, `frameBytes` one 20 ms client frame.
 */
export function returnedRing(audio: Uint8Array, frameBytes: number, p: PathFormats): Buffer {
  if (!sameFormat(p.providerIn, p.providerOut)) throw new Error('a loopback provider echoes its input, so its input and output formats must be the same');
  const n = Math.floor(audio.length / frameBytes);
  if (n < 3) throw new Error('the corpus is shorter than 3 frames');
  const toProvider = new FormatConverter(p.client, p.providerIn);
  const back = new FormatConverter(p.providerOut, p.client);
  const ring = Buffer.alloc(n * frameBytes);
  const PRIME = 2; // frames run first so that every frame has its real predecessors in the filters
  let produced = 0;
  for (let k = -PRIME; k < n; k++) {
    const j = (k + n) % n;
    toProvider.push(audio.subarray(j * frameBytes, (j + 1) * frameBytes));
    for (let g = toProvider.next(); g !== null; g = toProvider.next()) {
      back.push(g);
      for (let h = back.next(); h !== null; h = back.next()) {
        const at = produced - PRIME;
        if (at >= 0 && at < n) ring.set(h, at * frameBytes);
        produced++;
      }
    }
  }
  if (produced !== n + PRIME) throw new Error(`conversion is not one frame in, one frame out (${produced} frames for ${n + PRIME})`);
  return ring;
}

/**
 * Which sequence number a returned frame is, by content: the first seq in [from, to) whose expected
 * frame (ring frame (startFrame + seq) mod n) equals `frame`, or -1. Allocation-free.
 */
export function identifyByContent(ring: Buffer, frameBytes: number, startFrame: number, from: number, to: number, frame: Buffer): number {
  if (frame.length !== frameBytes) return -1;
  const n = ring.length / frameBytes;
  for (let seq = from; seq < to; seq++) {
    const at = ((startFrame + seq) % n) * frameBytes;
    if (frame.compare(ring, at, at + frameBytes) === 0) return seq;
  }
  return -1;
}

/**
 * Adds uniform integer noise in [-amplitude, amplitude] (saturating), from a fixed xorshift32 seed so
 * every load client and the ring see the same audio.
 */
export function dither(pcm: Int16Array, amplitude: number, seed = 0x9e3779b9): void {
  let x = seed >>> 0 || 1;
  const span = 2 * amplitude + 1;
  for (let i = 0; i < pcm.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    const v = pcm[i]! + ((x % span) - amplitude);
    pcm[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
}

/**
 * The callers' audio: every corpus conversation, both speakers, end to end, in the transport's format
 * (native: PCM16 24 kHz, 960-byte frames; twilio: μ-law 8 kHz, 160-byte frames). With `withDither`
 * (content identification) every frame is made unique: ±8 LSB at 24 kHz; ±24 at 8 kHz, since μ-law's
 * smallest step is 8 LSB of PCM16 and smaller noise would encode to silence again.
 */
export function callerAudio(corpus: string, transport: 'native' | 'twilio', withDither: boolean): { bytes: Uint8Array; frameBytes: number } {
  const index = JSON.parse(readFileSync(path.join(corpus, 'index.json'), 'utf8')) as { conversations: string[] };
  const parts: Int16Array[] = [];
  for (const conv of index.conversations) for (const spk of ['a', 'b']) parts.push(readWav(readFileSync(path.join(corpus, conv, `${spk}.wav`)), 24000));
  const all = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    all.set(p, off);
    off += p.length;
  }
  if (transport === 'native') {
    if (withDither) dither(all, 8);
    return { bytes: new Uint8Array(all.buffer), frameBytes: 960 };
  }
  const pcm8 = resampleClip(all, 24000, 8000);
  if (withDither) dither(pcm8, 24);
  const mu = new Uint8Array(pcm8.length);
  mulawEncode(pcm8, mu);
  return { bytes: mu, frameBytes: 160 };
}
