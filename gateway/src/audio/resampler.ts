/**
 * Streaming polyphase windowed-sinc resampler between 8, 16, 24 and 48 kHz (PCM16 mono).
 *
 * Design (per (from, to) pair, computed once and cached module-wide):
 * - ratio L/M = to/from reduced; the prototype low-pass runs at the intermediate rate F = from*L = to*M;
 * - cut-off at the lower Nyquist, transition band 0.85 .. 1.15 of it (0.3 x Nyquist wide), Kaiser window
 *   sized for DESIGN_ATTENUATION_DB. The Kaiser length rule N-1 = (A-8)/(2.285*Δω) makes the group delay
 *   (N-1)/(2F) = (A-8)/(8.614 * lowerNyquist): 2.4 ms for anything involving 8 kHz, half that for 16 kHz,
 *   a third for 24<->48 kHz — under the 2.5 ms budget. The measured figures (tests and
 *   bench/audio.bench.ts): stopband >= 85 dB from 1.15 x Nyquist, passband flat within 0.01 dB to 0.85 x.
 * - the L phases are stored reversed and zero-padded to a multiple of 4 taps in one flat Float32Array, so
 *   each output sample is a plain 4-way unrolled dot product against a Float32 history buffer.
 *
 * Streaming: input is appended (as float) to a history buffer holding the last taps-1 samples, so the
 * output for a given input sample index never depends on how the input was chunked: the same values are
 * multiplied in the same order, which makes chunking exactly invariant. Outputs are not delay-compensated:
 * output sample m is the filtered signal at time m/to - delayMs. `flush()` pushes the delay tail out.
 *
 * Buffers grow only when an input longer than any before arrives, so steady-state 20 ms frames allocate
 * nothing (checked in bench/audio.bench.ts).
 */

export type SampleRate = 8000 | 16000 | 24000 | 48000;

export const SAMPLE_RATES: readonly SampleRate[] = [8000, 16000, 24000, 48000];

/** Target stopband attenuation of the Kaiser design; see the header for the delay it implies. */
const DESIGN_ATTENUATION_DB = 90;
/** Transition band edges as fractions of the lower Nyquist frequency. */
const PASS_EDGE = 0.85;
const STOP_EDGE = 1.15;

export function isSampleRate(rate: number): rate is SampleRate {
  return rate === 8000 || rate === 16000 || rate === 24000 || rate === 48000;
}

function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/** Zeroth-order modified Bessel function of the first kind (series; converges fast for x < 30). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 200; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

export interface ResamplerDesign {
  readonly fromRate: number;
  readonly toRate: number;
  /** Upsampling factor. */
  readonly up: number;
  /** Downsampling factor. */
  readonly down: number;
  /** Prototype filter length at the intermediate rate from*up. */
  readonly length: number;
  /** Taps per phase, padded to a multiple of 4. */
  readonly taps: number;
  readonly beta: number;
  /** Phase p's reversed taps are coeffs[p*taps .. (p+1)*taps). Gain `up` folded in. */
  readonly coeffs: Float32Array;
  /** Group delay of the prototype, in milliseconds. */
  readonly delayMs: number;
  /** Per output phase: the next phase and how many input samples the read position advances. */
  readonly nextPhase: Int32Array;
  readonly advance: Int32Array;
}

const designCache = new Map<number, ResamplerDesign>();

/** The filter design for a rate pair (cached). Exposed for tests and the bench. */
export function resamplerDesign(fromRate: number, toRate: number): ResamplerDesign {
  const key = fromRate * 1_000_000 + toRate;
  const cached = designCache.get(key);
  if (cached !== undefined) return cached;
  const g = gcd(fromRate, toRate);
  const up = toRate / g;
  const down = fromRate / g;
  const rate = fromRate * up;
  const nyquist = Math.min(fromRate, toRate) / 2;
  const dw = (2 * Math.PI * (STOP_EDGE - PASS_EDGE) * nyquist) / rate;
  const a = DESIGN_ATTENUATION_DB;
  const beta = a > 50 ? 0.1102 * (a - 8.7) : 0.5842 * Math.pow(a - 21, 0.4) + 0.07886 * (a - 21);
  const length = Math.ceil((a - 8) / (2.285 * dw)) + 1;
  const fc = ((PASS_EDGE + STOP_EDGE) / 2) * nyquist / rate; // cycles per sample at the intermediate rate
  const center = (length - 1) / 2;
  const proto = new Float64Array(length);
  const i0b = besselI0(beta);
  let sum = 0;
  for (let n = 0; n < length; n++) {
    const x = n - center;
    const sinc = x === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * x) / (Math.PI * x);
    const r = x / center;
    const w = besselI0(beta * Math.sqrt(Math.max(0, 1 - r * r))) / i0b;
    proto[n] = sinc * w;
    sum += proto[n]!;
  }
  const perPhase = Math.ceil(length / up);
  const taps = (perPhase + 3) & ~3;
  const coeffs = new Float32Array(up * taps);
  // Output at intermediate index t = m*down uses phase p = t mod up and inputs x[n0 - k] (n0 = floor(t/up))
  // with h[p + k*up]. Stored reversed and right-aligned so the dot product runs forward over
  // x[n0-taps+1 .. n0].
  for (let p = 0; p < up; p++) {
    for (let k = 0; k < taps; k++) {
      const h = p + k * up;
      coeffs[p * taps + (taps - 1 - k)] = h < length ? (proto[h]! * up) / sum : 0;
    }
  }
  const nextPhase = new Int32Array(up);
  const advance = new Int32Array(up);
  for (let p = 0; p < up; p++) {
    nextPhase[p] = (p + down) % up;
    advance[p] = Math.floor((p + down) / up);
  }
  const design: ResamplerDesign = {
    fromRate,
    toRate,
    up,
    down,
    length,
    taps,
    beta,
    coeffs,
    delayMs: (center / rate) * 1000,
    nextPhase,
    advance,
  };
  designCache.set(key, design);
  return design;
}

const EMPTY = new Int16Array(0);

export class Resampler {
  readonly fromRate: SampleRate;
  readonly toRate: SampleRate;
  /** Group delay added by the filter, in milliseconds (0 for the identity). */
  readonly delayMs: number;

  private readonly identity: boolean;
  private readonly design: ResamplerDesign | null;
  /** Float history: hist[0 .. filled) holds input not yet fully consumed, hist[pos] is the first tap's input. */
  private hist: Float32Array;
  private filled: number;
  private pos: number;
  private phase: number;
  private out: Int16Array;
  private outView: Int16Array;
  private tailInput: Int16Array;

  constructor(fromRate: SampleRate, toRate: SampleRate) {
    if (!isSampleRate(fromRate) || !isSampleRate(toRate)) {
      throw new RangeError(`Resampler: unsupported rate pair ${fromRate} -> ${toRate} (8000, 16000, 24000, 48000)`);
    }
    this.fromRate = fromRate;
    this.toRate = toRate;
    this.identity = fromRate === toRate;
    this.design = this.identity ? null : resamplerDesign(fromRate, toRate);
    this.delayMs = this.design === null ? 0 : this.design.delayMs;
    const taps = this.design === null ? 0 : this.design.taps;
    this.hist = new Float32Array(taps + 1024);
    this.out = new Int16Array(this.maxOutput(1024));
    this.outView = this.out.subarray(0, 0);
    // flush() feeds enough zeros to push the group delay (plus a sample of rounding) through.
    const d = this.design;
    this.tailInput = new Int16Array(d === null ? 0 : Math.ceil(((d.length - 1) / 2 + 1) / d.up) + 1);
    this.filled = 0;
    this.pos = 0;
    this.phase = 0;
    this.reset();
  }

  /** Upper bound of the samples one `process()` call returns for `inputLength` input samples. */
  maxOutput(inputLength: number): number {
    const d = this.design;
    if (d === null) return inputLength;
    return Math.ceil((inputLength * d.up) / d.down) + 1;
  }

  /**
   * Resamples the next chunk of the stream. Returns a view into an internal buffer, valid until the
   * next call (copy it before any await). The identity resampler returns `input` itself.
   */
  process(input: Int16Array): Int16Array {
    const d = this.design;
    if (d === null) return input;
    const n = input.length;
    const taps = d.taps;
    if (this.filled + n > this.hist.length) this.growHistory(this.filled + n);
    const needOut = this.maxOutput(n);
    if (needOut > this.out.length) this.out = new Int16Array(needOut);
    const hist = this.hist;
    let w = this.filled;
    for (let i = 0; i < n; i++) hist[w++] = input[i]!;
    this.filled = w;

    const coeffs = d.coeffs;
    const nextPhase = d.nextPhase;
    const advance = d.advance;
    const out = this.out;
    let pos = this.pos;
    let phase = this.phase;
    let produced = 0;
    const last = w - taps; // an output needs hist[pos .. pos+taps)
    while (pos <= last) {
      const c = phase * taps;
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      for (let k = 0; k < taps; k += 4) {
        a0 += coeffs[c + k]! * hist[pos + k]!;
        a1 += coeffs[c + k + 1]! * hist[pos + k + 1]!;
        a2 += coeffs[c + k + 2]! * hist[pos + k + 2]!;
        a3 += coeffs[c + k + 3]! * hist[pos + k + 3]!;
      }
      let v = a0 + a1 + (a2 + a3);
      if (v >= 32767) v = 32767;
      else if (v <= -32768) v = -32768;
      out[produced++] = ((v + 32768.5) | 0) - 32768; // round half up without Math.round
      pos += advance[phase]!;
      phase = nextPhase[phase]!;
    }
    // Keep the unconsumed history at the front.
    if (pos > 0) {
      hist.copyWithin(0, pos, w);
      this.filled = w - pos;
      pos = 0;
    }
    this.pos = pos;
    this.phase = phase;
    // Steady-state frames produce the same count every call; reuse the view instead of creating one.
    let view = this.outView;
    if (view.length !== produced || view.buffer !== out.buffer) {
      view = out.subarray(0, produced);
      this.outView = view;
    }
    return view;
  }

  /**
   * Ends the stream: returns the remaining tail (the group delay's worth of output), then resets, so the
   * instance can start a new stream. The view is valid until the next call.
   */
  flush(): Int16Array {
    if (this.design === null) return EMPTY;
    const tail = this.process(this.tailInput);
    // process() returned a view of this.out; resetting does not touch it.
    this.reset();
    return tail;
  }

  /** Forgets the stream: history back to silence, phase 0. */
  reset(): void {
    const taps = this.design === null ? 0 : this.design.taps;
    this.hist.fill(0, 0, taps);
    // taps-1 zeros of history: the first output is at input index 0.
    this.filled = taps > 0 ? taps - 1 : 0;
    this.pos = 0;
    this.phase = 0;
  }

  private growHistory(needed: number): void {
    const next = new Float32Array(Math.max(needed, this.hist.length * 2));
    next.set(this.hist.subarray(0, this.filled));
    this.hist = next;
  }
}
