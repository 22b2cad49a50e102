/**
 * Audio helpers for stand-ins and provider tests: corpus speech loading, resampling, and the wire
 * encodings the providers use (PCM16LE, G.711 μ-law / A-law). Test code: clarity over speed, but
 * results are cached so a test suite pays for a load + resample once.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { alawDecode, alawEncode, mulawDecode, mulawEncode } from '../../../gateway/src/audio/g711.ts';

export const CORPUS_DIR = '/work/shared/corpus';

/** Sample encodings on provider wires. */
export type Encoding = 'pcm16' | 'pcmu' | 'pcma';

export interface Utterance {
  readonly text: string;
  readonly speaker: 'a' | 'b';
  /** mono PCM16 at 24 kHz, trimmed to the labelled utterance */
  readonly pcm24k: Int16Array;
}

interface Labels {
  sample_rate: number;
  utterances: { speaker: 'a' | 'b'; start: number; end: number; text: string }[];
}

const wavCache = new Map<string, Int16Array>();
const uttCache = new Map<string, Utterance>();
const resampleCache = new Map<string, Int16Array>();

/** The PCM16 samples of a mono 16-bit WAV (walks the RIFF chunks to find `data`). */
export function readWavPcm16(path: string): Int16Array {
  const hit = wavCache.get(path);
  if (hit !== undefined) return hit;
  const buf = readFileSync(path);
  let off = 12;
  while (off + 8 <= buf.length) {
    const id = buf.toString('ascii', off, off + 4);
    const size = buf.readUInt32LE(off + 4);
    if (id === 'data') {
      const bytes = buf.subarray(off + 8, off + 8 + size);
      const out = new Int16Array(bytes.length >> 1);
      for (let i = 0; i < out.length; i++) out[i] = bytes.readInt16LE(i * 2);
      wavCache.set(path, out);
      return out;
    }
    off += 8 + size + (size & 1);
  }
  throw new Error(`no data chunk in ${path}`);
}

/** Utterance `index` of corpus conversation `conv` (e.g. 'conv00'), cut from its speaker's track. */
export function loadUtterance(conv = 'conv00', index = 0): Utterance {
  const key = `${conv}/${index}`;
  const hit = uttCache.get(key);
  if (hit !== undefined) return hit;
  const labels = JSON.parse(readFileSync(join(CORPUS_DIR, conv, 'labels.json'), 'utf8')) as Labels;
  const u = labels.utterances[index];
  if (u === undefined) throw new Error(`${conv} has no utterance ${index}`);
  const track = readWavPcm16(join(CORPUS_DIR, conv, `${u.speaker}.wav`));
  const rate = labels.sample_rate;
  const pcm = track.slice(Math.floor(u.start * rate), Math.ceil(u.end * rate));
  const utt = { text: u.text, speaker: u.speaker, pcm24k: pcm };
  uttCache.set(key, utt);
  return utt;
}

/**
 * Windowed-sinc resampler (Blackman window, 16 zero crossings, cut-off at 0.45 of the lower rate).
 * Offline and allocating: for stand-ins and test fixtures only, the gateway has its own streaming one.
 */
export function resample(src: Int16Array, from: number, to: number): Int16Array {
  if (from === to) return src;
  const n = Math.floor((src.length * to) / from);
  const out = new Int16Array(n);
  const ratio = from / to;
  const cutoff = (0.9 * Math.min(from, to)) / 2 / from; // cycles per input sample
  const half = Math.ceil(16 / (2 * cutoff) / 2);
  for (let i = 0; i < n; i++) {
    const center = i * ratio;
    const lo = Math.max(0, Math.ceil(center - half));
    const hi = Math.min(src.length - 1, Math.floor(center + half));
    let acc = 0;
    let wsum = 0;
    for (let j = lo; j <= hi; j++) {
      const x = j - center;
      const sinc = x === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * x) / (Math.PI * x);
      const w = 0.42 + 0.5 * Math.cos((Math.PI * x) / half) + 0.08 * Math.cos((2 * Math.PI * x) / half);
      acc += src[j]! * sinc * w;
      wsum += sinc * w;
    }
    const v = Math.round(wsum !== 0 ? acc / wsum : 0);
    out[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return out;
}

/** An utterance at `rate` Hz (cached per utterance and rate). */
export function utteranceAt(conv: string, index: number, rate: number): { text: string; pcm: Int16Array } {
  const u = loadUtterance(conv, index);
  const key = `${conv}/${index}@${rate}`;
  let pcm = resampleCache.get(key);
  if (pcm === undefined) {
    pcm = resample(u.pcm24k, 24000, rate);
    resampleCache.set(key, pcm);
  }
  return { text: u.text, pcm };
}

/** Bytes per sample on the wire. */
export function bytesPerSample(enc: Encoding): number {
  return enc === 'pcm16' ? 2 : 1;
}

export function encode(pcm: Int16Array, enc: Encoding): Buffer {
  if (enc === 'pcm16') {
    const out = Buffer.alloc(pcm.length * 2);
    for (let i = 0; i < pcm.length; i++) out.writeInt16LE(pcm[i]!, i * 2);
    return out;
  }
  const out = Buffer.alloc(pcm.length);
  if (enc === 'pcmu') mulawEncode(pcm, out);
  else alawEncode(pcm, out);
  return out;
}

export function decode(bytes: Uint8Array, enc: Encoding): Int16Array {
  if (enc === 'pcm16') {
    const n = bytes.length >> 1;
    const out = new Int16Array(n);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < n; i++) out[i] = view.getInt16(i * 2, true);
    return out;
  }
  const out = new Int16Array(bytes.length);
  if (enc === 'pcmu') mulawDecode(bytes, out);
  else alawDecode(bytes, out);
  return out;
}

/** Root-mean-square level in dBFS (-120 for digital silence). */
export function rmsDbfs(pcm: Int16Array): number {
  if (pcm.length === 0) return -120;
  let sum = 0;
  for (let i = 0; i < pcm.length; i++) sum += pcm[i]! * pcm[i]!;
  const rms = Math.sqrt(sum / pcm.length) / 32768;
  return rms > 0 ? Math.max(-120, 20 * Math.log10(rms)) : -120;
}

/**
 * Normalised cross-correlation peak between `a` and `b` over lags in [-maxLag, maxLag]: ~1 when one is
 * a (delayed) copy of the other, ~0 for unrelated signals. Lets tests prove audio went through intact.
 */
export function similarity(a: Int16Array, b: Int16Array, maxLag = 0): number {
  let best = 0;
  for (let lag = -maxLag; lag <= maxLag; lag++) {
    let ab = 0;
    let aa = 0;
    let bb = 0;
    for (let i = 0; i < a.length; i++) {
      const j = i + lag;
      if (j < 0 || j >= b.length) continue;
      ab += a[i]! * b[j]!;
      aa += a[i]! * a[i]!;
      bb += b[j]! * b[j]!;
    }
    const r = aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
    if (r > best) best = r;
  }
  return best;
}

/**
 * `similarity` after finding the best alignment within ±`maxLagMs`: a coarse search on 10 ms energy
 * envelopes, then a fine sample-level search around it. For replies that carry some pre-roll or
 * trailing silence (the echo agent), where a plain zero-lag comparison would miss.
 */
export function alignedSimilarity(got: Int16Array, expected: Int16Array, rate: number, maxLagMs = 300): number {
  const block = rate / 100;
  const env = (x: Int16Array): Float64Array => {
    const out = new Float64Array(Math.floor(x.length / block));
    for (let b = 0; b < out.length; b++) {
      let s = 0;
      for (let i = b * block; i < (b + 1) * block; i++) s += Math.abs(x[i]!);
      out[b] = s / block;
    }
    return out;
  };
  const eg = env(got);
  const ee = env(expected);
  const maxLag = Math.ceil(maxLagMs / 10);
  let bestLag = 0;
  let best = -Infinity;
  for (let lag = -maxLag; lag <= maxLag; lag++) {
    let s = 0;
    for (let i = 0; i < ee.length; i++) {
      const j = i + lag;
      if (j >= 0 && j < eg.length) s += ee[i]! * eg[j]!;
    }
    if (s > best) {
      best = s;
      bestLag = lag;
    }
  }
  const offset = bestLag * block;
  const start = Math.max(0, offset);
  const view = got.subarray(start, Math.min(got.length, start + expected.length + block));
  const exp = offset < 0 ? expected.subarray(-offset) : expected;
  return similarity(exp.subarray(0, Math.min(exp.length, view.length)), view, block);
}
