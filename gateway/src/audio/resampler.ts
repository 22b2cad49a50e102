/**
 * Streaming polyphase FIR resampler between 8, 16, 24 and 48 kHz (PCM16 mono).
 *
 * Design (per (from, to) pair, computed once and cached module-wide):
 * - ratio L/M = to/from reduced; the prototype low-pass runs at the intermediate rate F = from*L = to*M;
 * - the prototype is one of four linear-phase designs (fir-prototype-specs.ts, generated into
 *   fir-prototypes.ts): transition band 0.85 .. 1.15 of the lower Nyquist, designed by weighted least
 *   squares + Lawson iteration (near-equiripple). A Kaiser-windowed sinc of the lengths the 2.5 ms delay
 *   budget allows reaches ~90 dB; relaxing the passband from Kaiser's 0.0003 dB to ~0.03 dB buys
 *   113-116 dB of stopband with shorter filters (67/99/207 taps), i.e. aliases and images stay below
 *   half an LSB of PCM16. Each pair takes the longest design of its ratio that fits the 2.5 ms budget at
 *   its intermediate rate: 16<->24k and 16<->48k run at 48 kHz and get 131 taps (-150 dB, 1.35 ms).
 *   Group delay is 2.06-2.15 ms for pairs involving 8 kHz, 1.35 ms for 16<->24k and 16<->48k and
 *   0.69 ms for 24<->48 kHz. Measured in tests and bench/audio.bench.ts.
 * - the L phases are stored reversed and zero-padded to a multiple of 8 taps in one flat coefficient
 *   table, so each output sample is a plain dot product against a Float32 history buffer; that loop runs
 *   in a small WebAssembly SIMD kernel (fir-kernel.ts), f32 arithmetic, ~6x the speed of scalar JS.
 *   Coefficient tables (one per design), histories and an output scratch area live in one WebAssembly
 *   memory shared by all resamplers (fir-arena.ts); outputs are copied into a JS-owned array.
 *
 * Streaming: input is appended (as float) to a history buffer holding the last taps-1 samples, so the
 * output for a given input sample index never depends on how the input was chunked: the same values are
 * multiplied in the same order, which makes chunking exactly invariant. Outputs are not delay-compensated:
 * output sample m is the filtered signal at time m/to - delayMs. `flush()` pushes the delay tail out.
 *
 * Buffers grow only when an input longer than any before arrives, so steady-state 20 ms frames allocate
 * nothing (checked in bench/audio.bench.ts).
 */

import { firArena, type ArenaBlock, type FirArena } from './fir-arena.ts';
import { FIR_TAP_MULTIPLE } from './fir-kernel.ts';
import type { PrototypeSpec } from './fir-design.ts';
import { MAX_DELAY_MS, PROTOTYPE_SPECS, prototypeKey } from './fir-prototype-specs.ts';
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

/**
 * The longest prototype of this ratio whose group delay at `rate` (the intermediate rate) fits
 * MAX_DELAY_MS: longer means a deeper stopband, and the delay is what the budget limits.
 */
function choosePrototype(ratio: number, rate: number): PrototypeSpec {
  let best: PrototypeSpec | null = null;
  for (const spec of PROTOTYPE_SPECS) {
    if (spec.ratio !== ratio || ((spec.length - 1) / 2 / rate) * 1000 > MAX_DELAY_MS) continue;
    if (best === null || spec.length > best.length) best = spec;
  }
  if (best === null) throw new RangeError(`Resampler: no prototype of ratio ${ratio} fits ${MAX_DELAY_MS} ms at ${rate} Hz`);
  return best;
}

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
  const half = PROTOTYPE_HALVES[prototypeKey(choosePrototype(ratio, rate))];
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

function align16(n: number): number {
  return (n + 15) & ~15;
}

/** Where a design's coefficient and phase tables live in the arena (allocated once, never freed). */
interface DesignTables {
  coefOff: number;
  nextOff: number;
  advOff: number;
}
const designTables = new Map<ResamplerDesign, DesignTables>();

function tablesFor(d: ResamplerDesign, arena: FirArena): DesignTables {
  let t = designTables.get(d);
  if (t === undefined) {
    const coefBytes = align16(d.coeffs.length * 4);
    const block = arena.alloc(coefBytes + 2 * align16(d.up * 4));
    t = { coefOff: block.offset, nextOff: block.offset + coefBytes, advOff: block.offset + coefBytes + align16(d.up * 4) };
    const buf = arena.memory.buffer;
    new Float32Array(buf, t.coefOff, d.coeffs.length).set(d.coeffs);
    new Int32Array(buf, t.nextOff, d.up).set(d.nextPhase);
    new Int32Array(buf, t.advOff, d.up).set(d.advance);
    designTables.set(d, t);
  }
  return t;
}

/** Returns a garbage-collected resampler's history block to the arena. */
const reclaim = new FinalizationRegistry<ArenaBlock>((block) => firArena().release(block));

/**
 * The kernel's output scratch area, shared by all resamplers (each copies its outputs out right after
 * the call, so one area suffices). Grows to the largest output ever requested.
 */
const shared = {
  outOffset: 0,
  outCap: 0,
  view: EMPTY,
  outFor(arena: FirArena, samples: number): Int16Array {
    if (samples > this.outCap) {
      if (this.outCap > 0) arena.release({ offset: this.outOffset, size: this.blockSize });
      const block = arena.alloc(samples * 2);
      this.outOffset = block.offset;
      this.blockSize = block.size;
      this.outCap = block.size >> 1;
    }
    if (this.view.buffer !== arena.memory.buffer || this.view.length !== this.outCap) {
      this.view = new Int16Array(arena.memory.buffer, this.outOffset, this.outCap);
    }
    return this.view;
  },
  blockSize: 0,
};

export class Resampler {
  readonly fromRate: SampleRate;
  readonly toRate: SampleRate;
  /** Group delay added by the filter, in milliseconds (0 for the identity). */
  readonly delayMs: number;

  private readonly design: ResamplerDesign | null;
  private readonly arena: FirArena | null;
  private readonly tables: DesignTables | null;
  /** This instance's arena block: Float32 history (histCap samples); mutated in place when it grows. */
  private readonly block: ArenaBlock;
  private histCap: number;
  /** View of the history block; re-created when the shared memory grows (which detaches views). */
  private hist: Float32Array;
  /** Where the kernel writes outputs: a scratch area of the arena shared by all resamplers. */
  private outScratch: Int16Array;
  /** JS-owned output, so a view we return is never detached by another resampler growing the memory. */
  private out: Int16Array;
  private outView: Int16Array;
  /** hist[0 .. filled) holds input not yet consumed; hist[pos] is the first tap's input for the next output. */
  private filled: number;
  private pos: number;
  private phase: number;
  private disposed: boolean;
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
    this.disposed = false;
    if (d === null) {
      this.arena = null;
      this.tables = null;
      this.block = { offset: 0, size: 0 };
      this.histCap = 0;
      this.hist = new Float32Array(0);
      this.outScratch = EMPTY;
      this.out = EMPTY;
      this.outView = EMPTY;
      this.tailInput = EMPTY;
      return;
    }
    const arena = firArena();
    this.arena = arena;
    this.tables = tablesFor(d, arena);
    this.histCap = d.taps + INITIAL_INPUT_CAPACITY;
    this.block = arena.alloc(this.histCap * 4);
    reclaim.register(this, this.block, this);
    this.out = new Int16Array(this.maxOutput(INITIAL_INPUT_CAPACITY));
    this.outView = this.out.subarray(0, 0);
    this.hist = new Float32Array(arena.memory.buffer, this.block.offset, this.histCap);
    this.outScratch = EMPTY;
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
   * next call on this instance (copy it before any await). The identity resampler returns `input`.
   */
  process(input: Int16Array): Int16Array {
    const d = this.design;
    if (d === null) return input;
    if (this.disposed) throw new Error('Resampler: process() after dispose()');
    const arena = this.arena!;
    const n = input.length;
    if (this.filled + n > this.histCap) this.growHistory(this.filled + n);
    const maxOut = this.maxOutput(n);
    if (maxOut > this.out.length) this.out = new Int16Array(maxOut);
    const scratch = shared.outFor(arena, maxOut);
    if (this.hist.buffer !== arena.memory.buffer) this.hist = new Float32Array(arena.memory.buffer, this.block.offset, this.histCap);
    const hist = this.hist;
    const base = this.filled;
    for (let i = 0; i < n; i++) hist[base + i] = input[i]!;
    const w = base + n;
    const t = this.tables!;
    // An output needs hist[pos .. pos + taps), so the last start position is w - taps.
    const produced = arena.run(
      this.block.offset, t.coefOff, d.taps, this.pos, w - d.taps,
      this.phase, t.nextOff, t.advOff, shared.outOffset,
    );
    const state = arena.state;
    let pos = state[0]!;
    this.phase = state[1]!;
    if (pos > 0) {
      hist.copyWithin(0, pos, w);
      this.filled = w - pos;
      pos = 0;
    } else {
      this.filled = w;
    }
    this.pos = pos;
    const out = this.out;
    for (let i = 0; i < produced; i++) out[i] = scratch[i]!;
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
    // process() returned a view of the JS output array; resetting only touches the history.
    this.reset();
    return tail;
  }

  /** Forgets the stream: history back to silence, phase 0. */
  reset(): void {
    const d = this.design;
    if (d === null || this.disposed) return;
    const arena = this.arena!;
    if (this.hist.buffer !== arena.memory.buffer) this.hist = new Float32Array(arena.memory.buffer, this.block.offset, this.histCap);
    // taps-1 zeros of history: the first output is the one at input index 0.
    this.hist.fill(0, 0, d.taps);
    this.filled = d.taps - 1;
    this.pos = 0;
    this.phase = 0;
  }

  /**
   * Returns this instance's memory to the shared arena now instead of at garbage collection. Optional;
   * the instance is unusable afterwards.
   */
  dispose(): void {
    if (this.design === null || this.disposed) return;
    this.disposed = true;
    reclaim.unregister(this);
    this.arena!.release({ offset: this.block.offset, size: this.block.size });
  }

  /** Moves the history to a bigger block (only on a record-long input). */
  private growHistory(needed: number): void {
    const arena = this.arena!;
    const old = { offset: this.block.offset, size: this.block.size };
    const cap = Math.max(needed, this.histCap * 2);
    const next = arena.alloc(cap * 4); // may grow (detach) the memory: take views after it
    const buf = arena.memory.buffer;
    new Float32Array(buf, next.offset, cap).set(new Float32Array(buf, old.offset, this.filled));
    arena.release(old);
    this.block.offset = next.offset;
    this.block.size = next.size;
    this.histCap = cap;
    this.hist = new Float32Array(buf, next.offset, cap);
  }
}
