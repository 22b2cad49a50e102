/** Synthetic signals for the features tests (deterministic). */
import { RING_HOPS, RING_MASK } from '../../gateway/src/features/speaker-analyzer.ts';
import type { SpeechTimeline } from '../../gateway/src/features/conversation.ts';

/** Harmonic tone (1/k amplitudes, `harmonics` partials) at f0, peak amplitude `amp` (int16 scale). */
export function harmonicTone(rate: number, seconds: number, f0: number, amp: number, harmonics = 1): Int16Array {
  const n = Math.round(rate * seconds);
  const out = new Int16Array(n);
  let norm = 0;
  for (let k = 1; k <= harmonics; k++) if (k * f0 < rate / 2) norm += 1 / k;
  for (let i = 0; i < n; i++) {
    let v = 0;
    for (let k = 1; k <= harmonics; k++) if (k * f0 < rate / 2) v += Math.sin((2 * Math.PI * k * f0 * i) / rate + k) / k;
    out[i] = Math.round((amp * v) / norm);
  }
  return out;
}

/**
 * Speech-like syllable train: a harmonic voice (f0, 12 partials) whose loudness rises and falls once
 * per syllable (raised-cosine bumps, 25 dB dips between them), `syllPerS` syllables per second.
 */
export function syllableTrain(rate: number, seconds: number, syllPerS: number, f0: number, amp: number): Int16Array {
  const voice = harmonicTone(rate, seconds, f0, amp, 12);
  const out = new Int16Array(voice.length);
  const period = rate / syllPerS;
  for (let i = 0; i < voice.length; i++) {
    const ph = (i % period) / period;
    const env = 0.056 + 0.944 * 0.5 * (1 - Math.cos(2 * Math.PI * ph));
    out[i] = Math.round(voice[i] * env);
  }
  return out;
}

/** Copy `src` into `dst` at second `at`. */
export function place(dst: Int16Array, src: Int16Array, rate: number, at: number): void {
  const off = Math.round(at * rate);
  for (let i = 0; i < src.length && off + i < dst.length; i++) dst[off + i] += src[i];
}

/** A scripted participant timeline: speech in the given [start, end) second intervals. */
export class ScriptedTimeline implements SpeechTimeline {
  readonly started = true;
  readonly firstHop = 0;
  finalUpTo = 0;
  readonly speech = new Uint8Array(RING_HOPS);
  readonly energy = new Float32Array(RING_HOPS);
  readonly pitch = new Float32Array(RING_HOPS);
  readonly syll = new Uint8Array(RING_HOPS);
  private readonly hops: Uint8Array;

  constructor(intervals: [number, number][], totalS: number, opts: { energy?: number; f0?: number; syllPerS?: number } = {}) {
    this.hops = new Uint8Array(Math.round(totalS * 100));
    for (const [s, e] of intervals) for (let h = Math.round(s * 100); h < Math.round(e * 100); h++) this.hops[h] = 1;
    this.energyValue = opts.energy ?? 0.01;
    this.f0 = opts.f0 ?? 0;
    this.syllEvery = opts.syllPerS ? Math.round(100 / opts.syllPerS) : 0;
  }
  private readonly energyValue: number;
  private readonly f0: number;
  private readonly syllEvery: number;
  private spoken = 0;

  /** Make hops up to `hop` final. */
  advance(hop: number): void {
    for (let h = this.finalUpTo; h < hop; h++) {
      const v = h < this.hops.length ? this.hops[h] : 0;
      const r = h & RING_MASK;
      this.speech[r] = v;
      this.energy[r] = v ? this.energyValue : 0;
      this.pitch[r] = v ? this.f0 : 0;
      this.syll[r] = v && this.syllEvery > 0 && this.spoken++ % this.syllEvery === 0 ? 1 : 0;
    }
    this.finalUpTo = hop;
  }
}
