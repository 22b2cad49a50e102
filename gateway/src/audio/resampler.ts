/**
 * Streaming polyphase FIR resampler between 8, 16, 24 and 48 kHz (PCM16 mono).
 *
 * Design (per (from, to) pair, computed once and cached module-wide):
 * - ratio L/M = to/from reduced; the prototype low-pass runs at the intermediate rate F = from*L = to*M;
 * - the prototype is one of three linear-phase designs (fir-prototype-specs.ts, generated into
 *   fir-prototypes.ts): transition band 0.85 .. 1.15 of the lower Nyquist, designed by weighted least
 *   squares + Lawson iteration (near-equiripple). A Kaiser-windowed sinc of the lengths the 2.5 ms delay
 *   budget allows reaches ~90 dB; relaxing the passband from Kaiser's 0.0003 dB to ~0.03 dB buys
 *   113-116 dB of stopband with shorter filters (67/99/207 taps), i.e. aliases and images stay below
 *   half an LSB of PCM16 and the group delay is 2.06-2.15 ms for pairs involving 8 kHz, ~1 ms for
 *   16 kHz pairs and 0.69 ms for 24<->48 kHz. Measured in tests and bench/audio.bench.ts.
 * - the L phases are stored reversed and zero-padded to a multiple of 8 taps in one flat coefficient
 *   table, so each output sample is a plain dot product against a Float32 history buffer; that loop runs
 *   in a small WebAssembly SIMD kernel (fir-kernel.ts), f32 arithmetic, ~6x the speed of scalar JS.
 *   Coefficients, history and output live in the kernel's memory (one 64 KiB page per instance).
 *
 * Streaming: input is appended (as float) to a history buffer holding the last taps-1 samples, so the
 * output for a given input sample index never depends on how the input was chunked: the same values are
 * multiplied in the same order, which makes chunking exactly invariant. Outputs are not delay-compensated:
 * output sample m is the filtered signal at time m/to - delayMs. `flush()` pushes the delay tail out.
 *
 * Buffers grow only when an input longer than any before arrives, so steady-state 20 ms frames allocate
 * nothing (checked in bench/audio.bench.ts).
 */

import { FIR_TAP_MULTIPLE, instantiateFir, type FirRun } from './fir-kernel.ts';
import { PROTOTYPE_HALVES } from './fir-prototypes.ts';

export type SampleRate = 8000 | 16000 | 24000 | 48000;

export const SAMPLE_RATES: readonly SampleRate[] = [8000, 16000, 24000, 48000];

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

export interface ResamplerDesign {
  readonly fromRate: number;
  readonly toRate: number;
  /** Upsampling factor. */
  readonly up: number;
  /** Downsampling factor. */
  readonly down: number;
  /** Prototype filter length at the intermediate rate from*up. */
  readonly length: number;
  /** Intermediate rate / lower Nyquist: which prototype (fir-prototype-specs.ts). */
  readonly ratio: number;
  /** Taps per phase, padded to a multiple of FIR_TAP_MULTIPLE. */
  readonly taps: number;
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
  const ratio = rate / (Math.min(fromRate, toRate) / 2);
  const half = PROTOTYPE_HALVES[ratio];
  if (half === undefined) throw new RangeError(`Resampler: no prototype for ${fromRate} -> ${toRate} (ratio ${ratio})`);
  const length = half.length * 2 - 1;
  const center = half.length - 1;
  const proto = new Float64Array(length);
  for (let k = 0; k < half.length; k++) proto[center + k] = proto[center - k] = half[k]!;
  const perPhase = Math.ceil(length / up);
  const taps = Math.ceil(perPhase / FIR_TAP_MULTIPLE) * FIR_TAP_MULTIPLE;
  const coeffs = new Float32Array(up * taps);
  // Output at intermediate index t = m*down uses phase p = t mod up and inputs x[n0 - k] (n0 = floor(t/up))
  // with h[p + k*up]. Stored reversed and right-aligned so the dot product runs forward over
  // x[n0-taps+1 .. n0].
  for (let p = 0; p < up; p++) {
    for (let k = 0; k < taps; k++) {
      const h = p + k * up;
      coeffs[p * taps + (taps - 1 - k)] = h < length ? proto[h]! * up : 0; // gain `up` restores the level after zero-stuffing
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
    ratio,
    taps,
    coeffs,
    delayMs: (center / rate) * 1000,
    nextPhase,
    advance,
  };
  designCache.set(key, design);
  return design;
}

const EMPTY = new Int16Array(0);

/** Initial input capacity (samples); grows on a longer input. Covers 20 ms at 48 kHz with room. */
const INITIAL_INPUT_CAPACITY = 2048;
const PAGE = 65536;

function align16(n: number): number {
  return (n + 15) & ~15;
}

export class Resampler {
  readonly fromRate: SampleRate;
  readonly toRate: SampleRate;
  /** Group delay added by the filter, in milliseconds (0 for the identity). */
  readonly delayMs: number;

  private readonly design: ResamplerDesign | null;
  private readonly memory: WebAssembly.Memory | null;
  private readonly run: FirRun | null;
  // Byte offsets into `memory`: [0, 8) pos and phase written back by the kernel, then the coefficient
  // table, the phase tables, the Float32 history and the Int16 output.
  private readonly coefOff: number;
  private readonly nextOff: number;
  private readonly advOff: number;
  private readonly histOff: number;
  private outOff: number;
  private histCap: number;
  private outCap: number;
  private hist: Float32Array;
  private out: Int16Array;
  private state: Int32Array;
  private outView: Int16Array;
  /** hist[0 .. filled) holds input not yet consumed; hist[pos] is the first tap's input for the next output. */
  private filled: number;
  private pos: number;
  private phase: number;
  private readonly tailInput: Int16Array;

  constructor(fromRate: SampleRate, toRate: SampleRate) {
    if (!isSampleRate(fromRate) || !isSampleRate(toRate)) {
      throw new RangeError(`Resampler: unsupported rate pair ${fromRate} -> ${toRate} (8000, 16000, 24000, 48000)`);
    }
    this.fromRate = fromRate;
    this.toRate = toRate;
    const d = fromRate === toRate ? null : resamplerDesign(fromRate, toRate);
    this.design = d;
    this.delayMs = d === null ? 0 : d.delayMs;
    this.filled = 0;
    this.pos = 0;
    this.phase = 0;
    if (d === null) {
      this.memory = null;
      this.run = null;
      this.coefOff = this.nextOff = this.advOff = this.histOff = this.outOff = 0;
      this.histCap = this.outCap = 0;
      this.hist = new Float32Array(0);
      this.out = EMPTY;
      this.state = new Int32Array(2);
      this.outView = EMPTY;
      this.tailInput = EMPTY;
      return;
    }
    this.coefOff = 64;
    this.nextOff = this.coefOff + d.coeffs.length * 4;
    this.advOff = this.nextOff + d.up * 4;
    this.histOff = align16(this.advOff + d.up * 4);
    this.histCap = d.taps + INITIAL_INPUT_CAPACITY;
    this.outCap = this.maxOutput(INITIAL_INPUT_CAPACITY);
    this.outOff = align16(this.histOff + this.histCap * 4);
    this.memory = new WebAssembly.Memory({ initial: Math.ceil((this.outOff + this.outCap * 2) / PAGE) });
    this.run = instantiateFir(this.memory);
    const buf = this.memory.buffer;
    new Float32Array(buf, this.coefOff, d.coeffs.length).set(d.coeffs);
    new Int32Array(buf, this.nextOff, d.up).set(d.nextPhase);
    new Int32Array(buf, this.advOff, d.up).set(d.advance);
    this.hist = new Float32Array(buf, this.histOff, this.histCap);
    this.out = new Int16Array(buf, this.outOff, this.outCap);
    this.state = new Int32Array(buf, 0, 2);
    this.outView = this.out.subarray(0, 0);
    // flush() feeds enough zeros to push the group delay (plus a sample of rounding) through.
    this.tailInput = new Int16Array(Math.ceil(((d.length - 1) / 2 + 1) / d.up) + 1);
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
    if (this.filled + n > this.histCap || this.maxOutput(n) > this.outCap) this.grow(this.filled + n, this.maxOutput(n));
    const hist = this.hist;
    const base = this.filled;
    for (let i = 0; i < n; i++) hist[base + i] = input[i]!;
    const w = base + n;
    // An output needs hist[pos .. pos + taps), so the last start position is w - taps.
    const produced = this.run!(
      this.histOff, this.coefOff, d.taps, this.pos, w - d.taps,
      this.phase, this.nextOff, this.advOff, this.outOff,
    );
    let pos = this.state[0]!;
    this.phase = this.state[1]!;
    if (pos > 0) {
      hist.copyWithin(0, pos, w);
      this.filled = w - pos;
      pos = 0;
    } else {
      this.filled = w;
    }
    this.pos = pos;
    // Steady-state frames produce the same count every call; reuse the view instead of creating one.
    let view = this.outView;
    if (view.length !== produced || view.buffer !== this.out.buffer || view.byteOffset !== this.out.byteOffset) {
      view = this.out.subarray(0, produced);
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
    // process() returned a view of the output area; resetting only touches the history.
    this.reset();
    return tail;
  }

  /** Forgets the stream: history back to silence, phase 0. */
  reset(): void {
    const d = this.design;
    if (d === null) return;
    // taps-1 zeros of history: the first output is the one at input index 0.
    this.hist.fill(0, 0, d.taps);
    this.filled = d.taps - 1;
    this.pos = 0;
    this.phase = 0;
  }

  /** Makes room for `histNeeded` history samples and `outNeeded` outputs (only on a record-long input). */
  private grow(histNeeded: number, outNeeded: number): void {
    const mem = this.memory!;
    this.histCap = Math.max(histNeeded, this.histCap);
    this.outCap = Math.max(outNeeded, this.outCap);
    this.outOff = align16(this.histOff + this.histCap * 4);
    const bytes = this.outOff + this.outCap * 2;
    if (bytes > mem.buffer.byteLength) mem.grow(Math.ceil((bytes - mem.buffer.byteLength) / PAGE));
    // The history stays at histOff, so its contents survive; growing the memory detaches old views.
    const buf = mem.buffer;
    this.hist = new Float32Array(buf, this.histOff, this.histCap);
    this.out = new Int16Array(buf, this.outOff, this.outCap);
    this.state = new Int32Array(buf, 0, 2);
    this.outView = this.out.subarray(0, 0);
  }
}
