/**
 * Offline design of the resampler's linear-phase low-pass prototypes (not used at runtime: the results
 * are embedded in fir-prototypes.ts by `npx tsx bench/gen-fir-prototypes.ts`, because a design takes
 * up to a few seconds).
 *
 * Method: weighted least squares on a dense frequency grid, refined by Lawson's iteration (each grid
 * weight is multiplied by its current error), which converges towards the minimax (equiripple)
 * solution. Compared with a Kaiser window of the same length this trades passband flatness we do not
 * need (the Kaiser design is flat to 0.0003 dB; the spec allows 0.1 dB) for stopband: at the lengths the
 * 2.5 ms delay budget allows, ~110-125 dB instead of ~90 dB.
 *
 * Frequencies are in units of the lower Nyquist frequency; the prototype runs at `ratio` times it
 * (ratio = intermediate rate / lower Nyquist: 4, 6 or 12 for our rate pairs).
 */

export interface PrototypeSpec {
  /** Intermediate rate / lower Nyquist. */
  ratio: number;
  /** Odd filter length (type I linear phase). */
  length: number;
  /** Passband edge, fraction of the lower Nyquist. */
  passEdge: number;
  /** Stopband edge, fraction of the lower Nyquist. */
  stopEdge: number;
  /** Stopband weight relative to the passband (error ratio the optimum settles at). */
  stopWeight: number;
  /** Lawson iterations. */
  iterations: number;
}

export interface PrototypeResult {
  /** Impulse response, length `spec.length`, DC gain 1. */
  h: Float64Array;
  /** Worst passband deviation, dB. */
  passbandRippleDb: number;
  /** Worst stopband gain, dB (negative). */
  stopbandDb: number;
}

/** Amplitude response of a symmetric odd-length filter given as cosine coefficients a[k]. */
function amplitude(a: Float64Array, w: number): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += a[k]! * Math.cos(k * w);
  return s;
}

function solve(q: Float64Array[], m: number): Float64Array {
  // Gaussian elimination with partial pivoting on the augmented (m x m+1) system.
  for (let col = 0; col < m; col++) {
    let p = col;
    for (let r = col + 1; r < m; r++) if (Math.abs(q[r]![col]!) > Math.abs(q[p]![col]!)) p = r;
    const tmp = q[col]!;
    q[col] = q[p]!;
    q[p] = tmp;
    const pivot = q[col]![col]!;
    for (let r = col + 1; r < m; r++) {
      const f = q[r]![col]! / pivot;
      if (f === 0) continue;
      const row = q[r]!;
      const src = q[col]!;
      for (let k = col; k <= m; k++) row[k]! -= f * src[k]!;
    }
  }
  const x = new Float64Array(m);
  for (let r = m - 1; r >= 0; r--) {
    let s = q[r]![m]!;
    for (let k = r + 1; k < m; k++) s -= q[r]![k]! * x[k]!;
    x[r] = s / q[r]![r]!;
  }
  return x;
}

/** Measures a symmetric impulse response on a fine grid. */
export function measurePrototype(h: Float64Array, spec: Pick<PrototypeSpec, 'ratio' | 'passEdge' | 'stopEdge'>): { passbandRippleDb: number; stopbandDb: number } {
  const m = (h.length - 1) / 2;
  const a = new Float64Array(m + 1);
  a[0] = h[m]!;
  for (let k = 1; k <= m; k++) a[k] = 2 * h[m + k]!;
  const wp = (Math.PI * spec.passEdge * 2) / spec.ratio;
  const ws = (Math.PI * spec.stopEdge * 2) / spec.ratio;
  let ripple = 0;
  let stop = 0;
  const points = 20000;
  for (let i = 0; i <= points; i++) {
    const w = (Math.PI * i) / points;
    if (w > wp && w < ws) continue;
    const g = amplitude(a, w);
    if (w <= wp) ripple = Math.max(ripple, Math.abs(20 * Math.log10(Math.abs(g))));
    else stop = Math.max(stop, Math.abs(g));
  }
  return { passbandRippleDb: ripple, stopbandDb: 20 * Math.log10(stop) };
}

export function designPrototype(spec: PrototypeSpec): PrototypeResult {
  if (spec.length % 2 !== 1) throw new RangeError('designPrototype: length must be odd');
  const m = (spec.length - 1) / 2;
  const n = m + 1;
  const wp = (Math.PI * spec.passEdge * 2) / spec.ratio;
  const ws = (Math.PI * spec.stopEdge * 2) / spec.ratio;
  const gridSize = 16 * spec.length;
  const grid: number[] = [];
  const desired: number[] = [];
  const bandWeight: number[] = [];
  for (let i = 0; i < gridSize; i++) {
    const w = (Math.PI * i) / (gridSize - 1);
    if (w <= wp) {
      grid.push(w);
      desired.push(1);
      bandWeight.push(1);
    } else if (w >= ws) {
      grid.push(w);
      desired.push(0);
      bandWeight.push(spec.stopWeight);
    }
  }
  const g = grid.length;
  const cos = grid.map((w) => {
    const r = new Float64Array(n);
    for (let k = 0; k < n; k++) r[k] = Math.cos(k * w);
    return r;
  });
  const lawson = new Float64Array(g).fill(1);
  let best: Float64Array | null = null;
  let bestErr = Infinity;
  for (let it = 0; it <= spec.iterations; it++) {
    const q: Float64Array[] = [];
    for (let r = 0; r < n; r++) q.push(new Float64Array(n + 1));
    for (let p = 0; p < g; p++) {
      const c = cos[p]!;
      const wgt = lawson[p]! * bandWeight[p]! * bandWeight[p]!;
      for (let r = 0; r < n; r++) {
        const cr = c[r]! * wgt;
        const row = q[r]!;
        for (let k = r; k < n; k++) row[k]! += cr * c[k]!;
        row[n]! += cr * desired[p]!;
      }
    }
    for (let r = 0; r < n; r++) for (let k = 0; k < r; k++) q[r]![k] = q[k]![r]!;
    const a = solve(q, n);
    let maxErr = 0;
    let sum = 0;
    for (let p = 0; p < g; p++) {
      const e = Math.abs(amplitude(a, grid[p]!) - desired[p]!) * bandWeight[p]!;
      if (e > maxErr) maxErr = e;
      lawson[p] = lawson[p]! * e;
      sum += lawson[p]!;
    }
    for (let p = 0; p < g; p++) lawson[p] = (lawson[p]! / sum) * g;
    if (maxErr < bestErr) {
      bestErr = maxErr;
      best = a;
    }
  }
  const a = best!;
  const h = new Float64Array(spec.length);
  h[m] = a[0]!;
  for (let k = 1; k <= m; k++) h[m + k] = h[m - k] = a[k]! / 2;
  let dc = 0;
  for (let i = 0; i < h.length; i++) dc += h[i]!;
  for (let i = 0; i < h.length; i++) h[i]! /= dc;
  return { h, ...measurePrototype(h, spec) };
}
