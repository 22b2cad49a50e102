/**
 * F0 by YIN (de Cheveigne & Kawahara 2002), coarse to fine: the cumulative-mean-normalised
 * difference function is searched on a 2 kHz signal (20 ms window, 50-400 Hz: 40 lags x 40 samples),
 * then the lag is refined on the 4 kHz signal (5 lags) and on the 8 kHz signal (5 lags) with
 * parabolic interpolation. The full search on 4 kHz would cost four times as much (80 x 80) for the
 * same answer: the 2 kHz signal keeps F0 and its first harmonics, which is what YIN needs, and the
 * refinements give the resolution the coarse grid lacks. Allocation-free; results are fields.
 */
import { HalfDecimator } from './decimator.ts';

export const PITCH_MIN_HZ = 50;
export const PITCH_MAX_HZ = 400;

const W2 = 40; // 20 ms at 2 kHz
const TAU2_MAX = 40; // 50 Hz
const TAU2_MIN = 5; // 400 Hz
const W4 = 80;
const W8 = 160;
const HIST2 = W2 + TAU2_MAX; // 80 samples = 40 ms
const HIST4 = W4 + 2 * TAU2_MAX + 4;
const HIST8 = W8 + 4 * TAU2_MAX + 8;
/** YIN absolute threshold: the first dip under this is taken (avoids octave-down errors). */
const YIN_THRESHOLD = 0.15;
/** voicing decision: frames whose best CMND value is above this get no F0 */
export const MAX_APERIODICITY = 0.35;

/** Lag in [c-2, c+2] minimising the plain difference function of x over window w (parabolic). */
function refine(x: Float64Array, w: number, c: number, d5: Float64Array): number {
  let bi = 0;
  for (let k = 0; k < 5; k++) {
    const tau = c - 2 + k;
    // two accumulators: the loop is bound by the latency of the add chain, not by the arithmetic
    let a0 = 0;
    let a1 = 0;
    for (let j = 0; j < w; j += 2) {
      const d0 = x[j] - x[j + tau];
      const d1 = x[j + 1] - x[j + 1 + tau];
      a0 += d0 * d0;
      a1 += d1 * d1;
    }
    const acc = a0 + a1;
    d5[k] = acc;
    if (acc < d5[bi]) bi = k;
  }
  let frac = 0;
  if (bi > 0 && bi < 4) {
    const a = d5[bi - 1];
    const b = d5[bi];
    const e = d5[bi + 1];
    const den = a - 2 * b + e;
    if (den > 0) frac = (0.5 * (a - e)) / den;
  }
  return c - 2 + bi + frac;
}

export class YinPitch {
  /** last estimate, Hz (0 when the frame is not periodic enough) */
  f0 = 0;
  /** CMND value at the chosen lag: ~0 strongly periodic, ~1 noise */
  aperiodicity = 1;
  private readonly h2 = new Float64Array(HIST2);
  private readonly h4 = new Float64Array(HIST4);
  private readonly h8 = new Float64Array(HIST8);
  private readonly x2 = new Float64Array(W2);
  private readonly half = new HalfDecimator(W4);
  private readonly d = new Float64Array(TAU2_MAX + 1);
  private readonly d5 = new Float64Array(5);

  /** Append one 20 ms frame (160 samples at 8 kHz and the matching 80 samples at 4 kHz). */
  push(x8: Float64Array, x4: Float64Array): void {
    this.half.process(x4, this.x2);
    this.h8.copyWithin(0, x8.length);
    this.h8.set(x8, HIST8 - x8.length);
    this.h4.copyWithin(0, x4.length);
    this.h4.set(x4, HIST4 - x4.length);
    this.h2.copyWithin(0, W2);
    this.h2.set(this.x2, HIST2 - W2);
  }

  /**
   * Estimate F0 over the last 40 ms pushed into `f0` (0 when unvoiced: aperiodicity above
   * MAX_APERIODICITY) and `aperiodicity`. Returns nothing: a double returned from a call V8 does not
   * inline is boxed (allocated), and this runs per frame.
   */
  estimate(): void {
    const x = this.h2;
    const d = this.d;
    d[0] = 1;
    let cum = 0;
    let best = -1;
    let bestVal = 2;
    let firstDip = -1;
    // d(tau) = e0 + e(tau) - 2 r(tau): one multiply-add per sample and lag instead of three ops;
    // e(tau), the energy of x[tau .. tau+W), slides along with tau
    let e0 = 0;
    for (let j = 0; j < W2; j++) e0 += x[j] * x[j];
    let et = e0;
    for (let tau = 1; tau <= TAU2_MAX; tau++) {
      const out = x[tau - 1];
      const inn = x[tau + W2 - 1];
      et += inn * inn - out * out;
      // four accumulators (W2 is a multiple of 4): independent add chains run in parallel
      let r0 = 0;
      let r1 = 0;
      let r2 = 0;
      let r3 = 0;
      for (let j = 0; j < W2; j += 4) {
        r0 += x[j] * x[j + tau];
        r1 += x[j + 1] * x[j + 1 + tau];
        r2 += x[j + 2] * x[j + 2 + tau];
        r3 += x[j + 3] * x[j + 3 + tau];
      }
      const r = r0 + r1 + r2 + r3;
      let acc = e0 + et - 2 * r;
      if (acc < 0) acc = 0;
      cum += acc;
      const v = cum > 0 ? (acc * tau) / cum : 1;
      d[tau] = v;
      if (tau >= TAU2_MIN) {
        if (v < bestVal) {
          bestVal = v;
          best = tau;
        }
        if (firstDip < 0 && v < YIN_THRESHOLD) firstDip = tau;
      }
    }
    let tau2 = best;
    if (firstDip > 0) {
      tau2 = firstDip;
      while (tau2 + 1 <= TAU2_MAX && d[tau2 + 1] < d[tau2]) tau2++;
    }
    this.aperiodicity = tau2 > 0 ? d[tau2] : 1;
    if (tau2 < 0 || this.aperiodicity > MAX_APERIODICITY) {
      this.f0 = 0;
      return;
    }
    const tau4 = Math.round(refine(this.h4, W4, 2 * tau2, this.d5));
    const tau8 = refine(this.h8, W8, 2 * tau4, this.d5);
    this.f0 = 8000 / tau8;
  }

  reset(): void {
    this.h2.fill(0);
    this.h4.fill(0);
    this.h8.fill(0);
    this.f0 = 0;
    this.aperiodicity = 1;
  }
}
