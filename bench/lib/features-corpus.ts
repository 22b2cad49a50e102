/**
 * Corpus access for the features harness and tests: conversations laid out like ../shared/corpus
 * (index.json, convNN/{a.wav,b.wav,labels.json}), seeded pink noise at a target SNR, label frames.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as wavefileNs from 'wavefile';

// wavefile is CommonJS: the class sits on the namespace (CJS loader) or on its default (ESM loader)
const WaveFile = (wavefileNs as unknown as { WaveFile?: typeof wavefileNs.WaveFile }).WaveFile ??
  (wavefileNs as unknown as { default: typeof wavefileNs }).default.WaveFile;

export const DEFAULT_CORPUS_DIR = fileURLToPath(new URL('../../../shared/corpus', import.meta.url));

export interface Utterance {
  speaker: string;
  start: number;
  end: number;
  text: string;
  voice: string;
  wpm: number;
  syllables: number;
}

export interface Labels {
  sample_rate: number;
  duration_s: number;
  utterances: Utterance[];
  speech: Record<string, [number, number][]>;
  overlap: [number, number][];
  speaking_rate_syll_per_s: Record<string, number>;
}

export interface Conversation {
  name: string;
  rate: number;
  tracks: Record<string, Int16Array>;
  labels: Labels;
}

export function readWavPcm16(path: string): { rate: number; samples: Int16Array } {
  const w = new WaveFile(readFileSync(path));
  const fmt = w.fmt as { sampleRate: number; numChannels: number; bitsPerSample: number };
  if (fmt.bitsPerSample !== 16 || fmt.numChannels !== 1) throw new Error(`${path}: expected PCM16 mono`);
  const s = w.getSamples(false, Int16Array) as unknown as Int16Array;
  return { rate: fmt.sampleRate, samples: s };
}

export function loadCorpus(dir = DEFAULT_CORPUS_DIR): Conversation[] {
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { conversations: string[] };
  return index.conversations.map((name) => {
    const labels = JSON.parse(readFileSync(join(dir, name, 'labels.json'), 'utf8')) as Labels;
    const tracks: Record<string, Int16Array> = {};
    let rate = labels.sample_rate;
    for (const spk of Object.keys(labels.speech)) {
      const wav = readWavPcm16(join(dir, name, `${spk}.wav`));
      tracks[spk] = wav.samples;
      rate = wav.rate;
    }
    return { name, rate, tracks, labels };
  });
}

/** Deterministic PRNG (mulberry32). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seeded pink noise (Paul Kellet's refined filter over white noise), unit-less float. */
export function pinkNoise(n: number, seed: number): Float64Array {
  const rnd = mulberry32(seed);
  const out = new Float64Array(n);
  let b0 = 0, b1 = 0, b2 = 0, b3 = 0, b4 = 0, b5 = 0, b6 = 0;
  for (let i = 0; i < n; i++) {
    const white = rnd() * 2 - 1;
    b0 = 0.99886 * b0 + white * 0.0555179;
    b1 = 0.99332 * b1 + white * 0.0750759;
    b2 = 0.969 * b2 + white * 0.153852;
    b3 = 0.8665 * b3 + white * 0.3104856;
    b4 = 0.55 * b4 + white * 0.5329522;
    b5 = -0.7616 * b5 - white * 0.016898;
    out[i] = b0 + b1 + b2 + b3 + b4 + b5 + b6 + white * 0.5362;
    b6 = white * 0.115926;
  }
  return out;
}

/** Mean square of the samples inside the given [start, end] regions (seconds). */
export function activePower(x: Int16Array, rate: number, regions: [number, number][]): number {
  let acc = 0;
  let n = 0;
  for (const [s, e] of regions) {
    const a = Math.max(0, Math.floor(s * rate));
    const b = Math.min(x.length, Math.ceil(e * rate));
    for (let i = a; i < b; i++) acc += x[i] * x[i];
    n += Math.max(0, b - a);
  }
  return n > 0 ? acc / n : 0;
}

/** x + pink noise at `snrDb` against the active-speech power of x (clipped to int16). */
export function addPinkNoise(x: Int16Array, rate: number, regions: [number, number][], snrDb: number, seed: number): Int16Array {
  const noise = pinkNoise(x.length, seed);
  let np = 0;
  for (let i = 0; i < noise.length; i++) np += noise[i] * noise[i];
  np /= noise.length;
  const target = activePower(x, rate, regions) / 10 ** (snrDb / 10);
  const g = Math.sqrt(target / np);
  const out = new Int16Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = Math.round(x[i] + g * noise[i]);
    out[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return out;
}

/** Label of each 10 ms frame: 1 when the frame lies inside a speech region (frame centre inside). */
export function labelFrames(regions: [number, number][], frames: number): Uint8Array {
  const out = new Uint8Array(frames);
  for (const [s, e] of regions) {
    const a = Math.max(0, Math.round(s * 100));
    const b = Math.min(frames, Math.round(e * 100));
    for (let i = a; i < b; i++) out[i] = 1;
  }
  return out;
}

export interface Prf {
  precision: number;
  recall: number;
  f1: number;
}

export function prf(ref: Uint8Array, hyp: Uint8Array): Prf {
  let tp = 0, fp = 0, fn = 0;
  const n = Math.min(ref.length, hyp.length);
  for (let i = 0; i < n; i++) {
    if (hyp[i] && ref[i]) tp++;
    else if (hyp[i]) fp++;
    else if (ref[i]) fn++;
  }
  const precision = tp + fp > 0 ? tp / (tp + fp) : 1;
  const recall = tp + fn > 0 ? tp / (tp + fn) : 1;
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f1 };
}
