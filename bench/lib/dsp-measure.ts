/**
 * DSP measurement helpers shared by the audio tests and bench/audio.bench.ts: test tones, a
 * least-squares sinusoid fit (exact for any frequency, no window needed when the frequency is known),
 * residual (THD+N) and tone levels. Not for hot paths.
 */

export type Samples = ArrayLike<number>;

/** A PCM16 sine: round(amplitude * sin(2π f i / rate + phase)), saturated. */
export function sineInt16(n: number, freq: number, rate: number, amplitude: number, phase = 0): Int16Array {
  const out = new Int16Array(n);
  const w = (2 * Math.PI * freq) / rate;
  for (let i = 0; i < n; i++) {
    const v = Math.round(amplitude * Math.sin(w * i + phase));
    out[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return out;
}

/** The same sine as Float64 values (no rounding), e.g. for feeding a float resampler. */
export function sineFloat(n: number, freq: number, rate: number, amplitude: number, phase = 0): Float64Array {
  const out = new Float64Array(n);
  const w = (2 * Math.PI * freq) / rate;
  for (let i = 0; i < n; i++) out[i] = amplitude * Math.sin(w * i + phase);
  return out;
}

export interface SineFit {
  /** Peak amplitude of the best-fit sinusoid at the given frequency. */
  amplitude: number;
  /** Phase (radians) of the fit, as amplitude * sin(w i + phase) over the analysed range (i from start). */
  phase: number;
  /** DC offset of the fit. */
  dc: number;
  /** RMS of x minus the fit (everything that is not this tone or DC: distortion, noise, aliases). */
  residualRms: number;
}

/**
 * Least-squares fit of a*cos(w i) + b*sin(w i) + c to x[start .. end) (i counted from start).
 * Solves the 3x3 normal equations directly, so the frequency need not fall on a bin.
 */
export function fitSine(x: Samples, freq: number, rate: number, start = 0, end = x.length): SineFit {
  const w = (2 * Math.PI * freq) / rate;
  let scc = 0, sss = 0, scs = 0, sc = 0, ss = 0, s1 = 0;
  let sxc = 0, sxs = 0, sx = 0;
  for (let i = start; i < end; i++) {
    const t = i - start;
    const c = Math.cos(w * t);
    const s = Math.sin(w * t);
    const v = x[i]!;
    scc += c * c; sss += s * s; scs += c * s; sc += c; ss += s; s1 += 1;
    sxc += v * c; sxs += v * s; sx += v;
  }
  // [scc scs sc; scs sss ss; sc ss s1] [a b c]' = [sxc sxs sx]'
  const m = [
    [scc, scs, sc, sxc],
    [scs, sss, ss, sxs],
    [sc, ss, s1, sx],
  ];
  for (let col = 0; col < 3; col++) {
    let piv = col;
    for (let r = col + 1; r < 3; r++) if (Math.abs(m[r]![col]!) > Math.abs(m[piv]![col]!)) piv = r;
    [m[col], m[piv]] = [m[piv]!, m[col]!];
    const d = m[col]![col]!;
    if (Math.abs(d) < 1e-300) continue; // degenerate (e.g. freq = 0 or Nyquist): leave that term at 0
    for (let r = 0; r < 3; r++) {
      if (r === col) continue;
      const f = m[r]![col]! / d;
      for (let k = col; k < 4; k++) m[r]![k]! -= f * m[col]![k]!;
    }
  }
  const solve = (r: number): number => (Math.abs(m[r]![r]!) < 1e-300 ? 0 : m[r]![3]! / m[r]![r]!);
  const a = solve(0);
  const b = solve(1);
  const c = solve(2);
  let res = 0;
  for (let i = start; i < end; i++) {
    const t = i - start;
    const e = x[i]! - (a * Math.cos(w * t) + b * Math.sin(w * t) + c);
    res += e * e;
  }
  const n = end - start;
  return {
    amplitude: Math.hypot(a, b),
    phase: Math.atan2(a, b),
    dc: c,
    residualRms: n > 0 ? Math.sqrt(res / n) : 0,
  };
}

/** RMS of x[start .. end). */
export function rms(x: Samples, start = 0, end = x.length): number {
  let s = 0;
  for (let i = start; i < end; i++) s += x[i]! * x[i]!;
  return end > start ? Math.sqrt(s / (end - start)) : 0;
}

export function db(ratio: number): number {
  return 20 * Math.log10(ratio);
}

/** RMS of a full-scale (32767 peak) sine, the reference for "dB below full scale". */
export const FULL_SCALE_SINE_RMS = 32767 / Math.SQRT2;

/** THD+N in dB (negative): residual after removing the best-fit tone and DC, relative to the tone's RMS. */
export function thdPlusNDb(x: Samples, freq: number, rate: number, start = 0, end = x.length): number {
  const f = fitSine(x, freq, rate, start, end);
  return db(f.residualRms / (f.amplitude / Math.SQRT2));
}

/**
 * Image frequencies (below the output Nyquist) that upsampling a tone at `freq` from `fromRate` can
 * create: k*fromRate ± freq.
 */
export function imageFrequencies(freq: number, fromRate: number, toRate: number): number[] {
  const out: number[] = [];
  for (let k = 1; k * fromRate - freq < toRate / 2; k++) {
    for (const f of [k * fromRate - freq, k * fromRate + freq]) if (f > 0 && f < toRate / 2) out.push(f);
  }
  return out;
}

/** Where a tone at `freq` lands after sampling at `rate` (folding around multiples of rate). */
export function aliasFrequency(freq: number, rate: number): number {
  const f = freq % rate;
  return f > rate / 2 ? rate - f : f;
}

/** x[start .. end) minus its best-fit tone at `freq` (and DC), as a new array. */
export function removeSine(x: Samples, freq: number, rate: number, start = 0, end = x.length): Float64Array {
  const f = fitSine(x, freq, rate, start, end);
  const w = (2 * Math.PI * freq) / rate;
  const out = new Float64Array(end - start);
  for (let i = start; i < end; i++) {
    const t = i - start;
    out[t] = x[i]! - (f.amplitude * Math.sin(w * t + f.phase) + f.dc);
  }
  return out;
}

/**
 * Level in dB, relative to `refAmplitude`, of each image of an upsampled tone: the tone is removed
 * first (so its leakage does not bias the small fits), then each image frequency is fitted. Returns the
 * worst (highest) image level.
 */
export function worstImageDb(y: Samples, freq: number, fromRate: number, toRate: number, refAmplitude: number, start = 0, end = y.length): number {
  const res = removeSine(y, freq, toRate, start, end);
  let worst = -Infinity;
  for (const f of imageFrequencies(freq, fromRate, toRate)) {
    const level = db(fitSine(res, f, toRate).amplitude / refAmplitude);
    if (level > worst) worst = level;
  }
  return worst;
}

/**
 * A PCM16 sine with TPDF dither (±`ditherLsb` triangular, default 1, deterministic seed). Dither keeps
 * rounding linear, so a tone far below one LSB (e.g. a -113 dBFS alias) survives quantisation on
 * average and a least-squares fit over many samples can still measure it.
 */
export function ditheredSineInt16(n: number, freq: number, rate: number, amplitude: number, phase = 0, seed = 1, ditherLsb = 1): Int16Array {
  let a = seed >>> 0;
  const rand = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Int16Array(n);
  const w = (2 * Math.PI * freq) / rate;
  for (let i = 0; i < n; i++) {
    const v = Math.round(amplitude * Math.sin(w * i + phase) + ditherLsb * (rand() - rand()));
    out[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return out;
}

/**
 * TPDF dither width (LSB) for a test input that is downsampled from `fromRate` to `toRate` and rounded
 * to PCM16 again. The input's dither must also linearise the *output* rounding, but only the in-band
 * part (toRate/fromRate of it) survives the filter: with ±1 LSB at 24k->8k about 0.3 LSB rms is left,
 * and rounding then shrinks a sub-LSB alias by ~5 dB (measured), flattering the stopband. This width
 * leaves >= 0.5 LSB rms of noise ahead of the output rounding (which then shrinks it by < 0.2 dB).
 */
export function decimationDitherLsb(fromRate: number, toRate: number): number {
  // TPDF ±w has variance w²/6, input rounding adds 1/12; keep (w²/6 + 1/12) * toRate/fromRate >= 0.25.
  return Math.max(1, Math.sqrt(6 * (0.25 * (fromRate / toRate) - 1 / 12)));
}

/** The parts of a resampler design (gateway/src/audio/resampler.ts) that fix its frequency response. */
export interface PolyphaseTable {
  readonly fromRate: number;
  readonly up: number;
  /** Taps per phase. */
  readonly taps: number;
  /** Phase p's taps reversed: coeffs[p*taps + (taps-1-k)] is prototype tap p + k*up (gain `up` folded in). */
  readonly coeffs: Float32Array;
}

/**
 * Exact gain of a polyphase resampler's linear filter for an input tone at `freq` (Hz), computed from
 * the coefficient table it runs (the Float32 values), without any PCM16 rounding: the level, relative
 * to the tone, of what it leaves at `freq`'s alias (downsampling) or image (upsampling, `freq` = the
 * image frequency). The zero-stuffed input has amplitude 1/up, so gain = |H(freq)| / up.
 */
export function polyphaseGain(d: PolyphaseTable, freq: number): number {
  const w = (2 * Math.PI * freq) / (d.fromRate * d.up);
  let re = 0;
  let im = 0;
  for (let p = 0; p < d.up; p++) {
    for (let k = 0; k < d.taps; k++) {
      const c = d.coeffs[p * d.taps + (d.taps - 1 - k)]!;
      const i = p + k * d.up;
      re += c * Math.cos(w * i);
      im -= c * Math.sin(w * i);
    }
  }
  return Math.hypot(re, im) / d.up;
}

/** Zeroth-order modified Bessel function of the first kind (series; for the Kaiser window). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  for (let k = 1; k < 200 && term > sum * 1e-17; k++) {
    term *= (x / (2 * k)) ** 2;
    sum += term;
  }
  return sum;
}

/**
 * A slow Float64 reference resampler whose filter is far deeper than anything measured here: a
 * Kaiser-windowed sinc designed for `stopDb` (default 200 dB) over the same 0.85 .. 1.15 x lower Nyquist
 * transition, run as a direct polyphase sum without delay compensation. Used by the bench to find the
 * floor of a PCM16 measurement: the same input through this filter, rounded to PCM16, can only show
 * what the rounding and the test signal themselves put at the measured frequency.
 */
export function referenceResample(x: ArrayLike<number>, fromRate: number, toRate: number, stopDb = 200): Float64Array {
  let a = fromRate;
  let b = toRate;
  while (b !== 0) [a, b] = [b, a % b];
  const up = toRate / a;
  const down = fromRate / a;
  const rate = fromRate * up;
  const lowNyq = Math.min(fromRate, toRate) / 2;
  const beta = 0.1102 * (stopDb - 8.7);
  const dw = (2 * Math.PI * 0.3 * lowNyq) / rate;
  const half = Math.ceil((stopDb - 8) / (2.285 * dw) / 2);
  const len = 2 * half + 1;
  const h = new Float64Array(len);
  const fc = lowNyq / rate; // cutoff, cycles per sample at the intermediate rate
  for (let i = 0; i < len; i++) {
    const t = i - half;
    const sinc = t === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * t) / (Math.PI * t);
    h[i] = up * sinc * (besselI0(beta * Math.sqrt(1 - (t / half) ** 2)) / besselI0(beta));
  }
  const out = new Float64Array(Math.floor((x.length * up) / down));
  for (let m = 0; m < out.length; m++) {
    const t = m * down;
    let acc = 0;
    for (let j = t % up; j < len && j <= t; j += up) acc += h[j]! * x[(t - j) / up]!;
    out[m] = acc;
  }
  return out;
}
