/**
 * F0 by YIN (de Cheveigne & Kawahara 2002): cumulative-mean-normalised difference function searched
 * coarsely on the 4 kHz signal (20 ms window, 50-400 Hz), then refined on the 8 kHz signal over five
 * lags around the coarse period with parabolic interpolation. The coarse search is the cost
 * (80 lags x 80 samples); the refinement gives the resolution the 4 kHz grid lacks (a 300 Hz period
 * is 13.3 samples at 4 kHz). Allocation-free; results are read from fields.
 */
export const PITCH_MIN_HZ = 50;
export const PITCH_MAX_HZ = 400;

const W4 = 80; // 20 ms at 4 kHz
const TAU4_MAX = 80; // 50 Hz
const TAU4_MIN = 10; // 400 Hz
const W8 = 160;
const HIST4 = W4 + TAU4_MAX; // 160 samples = 40 ms
const HIST8 = W8 + 2 * TAU4_MAX + 4; // 324
/** YIN absolute threshold: the first dip under this is taken (avoids octave-down errors). */
const YIN_THRESHOLD = 0.15;
/** voicing decision: frames whose best CMND value is above this get no F0 */
export const MAX_APERIODICITY = 0.35;

export class YinPitch {
  /** last estimate, Hz (0 when the frame is not periodic enough) */
  f0 = 0;
  /** CMND value at the chosen lag: ~0 strongly periodic, ~1 noise */
  aperiodicity = 1;
  private readonly h4 = new Float32Array(HIST4);
  private readonly h8 = new Float32Array(HIST8);
  private readonly d = new Float32Array(TAU4_MAX + 1);
  private readonly d8 = new Float32Array(5);

  /** Append one 20 ms frame (160 samples at 8 kHz and the matching 80 samples at 4 kHz). */
  push(x8: Float32Array, x4: Float32Array): void {
    const h8 = this.h8;
    const h4 = this.h4;
    h8.copyWithin(0, x8.length);
    h8.set(x8, HIST8 - x8.length);
    h4.copyWithin(0, x4.length);
    h4.set(x4, HIST4 - x4.length);
  }

  /**
   * Estimate F0 over the last 40 ms pushed into `f0` (0 when unvoiced: aperiodicity above
   * MAX_APERIODICITY) and `aperiodicity`. Returns nothing: see VoiceActivityDetector on boxing.
   */
  estimate(): void {
    const x = this.h4;
    const d = this.d;
    d[0] = 1;
    let cum = 0;
    let best = -1;
    let bestVal = 2;
    let firstDip = -1;
    // d(tau) = e0 + e(tau) - 2 r(tau): one multiply-add per sample and lag instead of three ops;
    // e(tau), the energy of x[tau .. tau+W), slides along with tau
    let e0 = 0;
    for (let j = 0; j < W4; j++) e0 += x[j] * x[j];
    let et = e0;
    for (let tau = 1; tau <= TAU4_MAX; tau++) {
      const out = x[tau - 1];
      const inn = x[tau + W4 - 1];
      et += inn * inn - out * out;
      let r = 0;
      for (let j = 0; j < W4; j++) r += x[j] * x[j + tau];
      let acc = e0 + et - 2 * r;
      if (acc < 0) acc = 0;
      cum += acc;
      const v = cum > 0 ? (acc * tau) / cum : 1;
      d[tau] = v;
      if (tau >= TAU4_MIN) {
        if (v < bestVal) {
          bestVal = v;
          best = tau;
        }
        if (firstDip < 0 && v < YIN_THRESHOLD) firstDip = tau;
      }
    }
    let tau4 = best;
    if (firstDip > 0) {
      tau4 = firstDip;
      while (tau4 + 1 <= TAU4_MAX && d[tau4 + 1] < d[tau4]) tau4++;
    }
    this.aperiodicity = tau4 > 0 ? d[tau4] : 1;
    if (tau4 < 0 || this.aperiodicity > MAX_APERIODICITY) {
      this.f0 = 0;
      return;
    }
    // refine on 8 kHz: lags 2*tau4-2 .. 2*tau4+2, raw difference function, parabolic interpolation
    const y = this.h8;
    const c = 2 * tau4;
    const d8 = this.d8;
    let bi = 0;
    for (let k = 0; k < 5; k++) {
      const tau = c - 2 + k;
      let acc = 0;
      for (let j = 0; j < W8; j++) {
        const diff = y[j] - y[j + tau];
        acc += diff * diff;
      }
      d8[k] = acc;
      if (acc < d8[bi]) bi = k;
    }
    let frac = 0;
    if (bi > 0 && bi < 4) {
      const a = d8[bi - 1];
      const b = d8[bi];
      const e = d8[bi + 1];
      const den = a - 2 * b + e;
      if (den > 0) frac = (0.5 * (a - e)) / den;
    }
    const period = c - 2 + bi + frac;
    this.f0 = 8000 / period;
  }

  reset(): void {
    this.h4.fill(0);
    this.h8.fill(0);
    this.f0 = 0;
    this.aperiodicity = 1;
  }
}
