/**
 * A small bank of band-pass biquads (RBJ cookbook, constant 0 dB peak gain) on the 8 kHz signal,
 * accumulating the energy of each band per 10 ms hop. Three bands cover what separates speech from
 * stationary (pink, hum, fan) noise: first formant (250-700 Hz), second formant (700-1700 Hz) and
 * upper formants/plosive bursts (1700-3500 Hz). A one-pole DC blocker sits in front.
 */
export const BAND_COUNT = 3;
const CENTERS = [420, 1090, 2440];
const QS = [0.95, 1.1, 1.3];

export class BandFilterBank {
  /** energy (mean square, full scale 1.0) per band of the last processed hop */
  readonly energy = new Float64Array(BAND_COUNT);
  /** mean square of the DC-blocked 8 kHz signal over the last hop */
  wideEnergy = 0;
  private readonly b0 = new Float64Array(BAND_COUNT);
  private readonly b2 = new Float64Array(BAND_COUNT);
  private readonly a1 = new Float64Array(BAND_COUNT);
  private readonly a2 = new Float64Array(BAND_COUNT);
  // direct form I state per band: x1, x2, y1, y2
  private readonly st = new Float64Array(BAND_COUNT * 4);
  private dcX = 0;
  private dcY = 0;

  constructor(rate = 8000) {
    for (let b = 0; b < BAND_COUNT; b++) {
      const w0 = (2 * Math.PI * CENTERS[b]) / rate;
      const alpha = Math.sin(w0) / (2 * QS[b]);
      const a0 = 1 + alpha;
      this.b0[b] = alpha / a0;
      this.b2[b] = -alpha / a0;
      this.a1[b] = (-2 * Math.cos(w0)) / a0;
      this.a2[b] = (1 - alpha) / a0;
    }
  }

  /** Filter x[from, from+n) and set `energy` / `wideEnergy` for that hop. */
  processHop(x: Float64Array, from: number, n: number): void {
    const st = this.st;
    const e = this.energy;
    // DC blocker (pole 0.985 ~ 19 Hz) then the bank, sample-major so each sample is read once
    let dcX = this.dcX;
    let dcY = this.dcY;
    let wide = 0;
    let e0 = 0;
    let e1 = 0;
    let e2 = 0;
    let s0x1 = st[0], s0x2 = st[1], s0y1 = st[2], s0y2 = st[3];
    let s1x1 = st[4], s1x2 = st[5], s1y1 = st[6], s1y2 = st[7];
    let s2x1 = st[8], s2x2 = st[9], s2y1 = st[10], s2y2 = st[11];
    const b00 = this.b0[0], b20 = this.b2[0], a10 = this.a1[0], a20 = this.a2[0];
    const b01 = this.b0[1], b21 = this.b2[1], a11 = this.a1[1], a21 = this.a2[1];
    const b02 = this.b0[2], b22 = this.b2[2], a12 = this.a1[2], a22 = this.a2[2];
    const end = from + n;
    for (let i = from; i < end; i++) {
      const xi = x[i];
      const v = xi - dcX + 0.985 * dcY;
      dcX = xi;
      dcY = v;
      wide += v * v;
      const y0 = b00 * v + b20 * s0x2 - a10 * s0y1 - a20 * s0y2;
      s0x2 = s0x1; s0x1 = v; s0y2 = s0y1; s0y1 = y0;
      e0 += y0 * y0;
      const y1 = b01 * v + b21 * s1x2 - a11 * s1y1 - a21 * s1y2;
      s1x2 = s1x1; s1x1 = v; s1y2 = s1y1; s1y1 = y1;
      e1 += y1 * y1;
      const y2 = b02 * v + b22 * s2x2 - a12 * s2y1 - a22 * s2y2;
      s2x2 = s2x1; s2x1 = v; s2y2 = s2y1; s2y1 = y2;
      e2 += y2 * y2;
    }
    st[0] = s0x1; st[1] = s0x2; st[2] = s0y1; st[3] = s0y2;
    st[4] = s1x1; st[5] = s1x2; st[6] = s1y1; st[7] = s1y2;
    st[8] = s2x1; st[9] = s2x2; st[10] = s2y1; st[11] = s2y2;
    this.dcX = dcX;
    this.dcY = dcY;
    const inv = 1 / n;
    e[0] = e0 * inv;
    e[1] = e1 * inv;
    e[2] = e2 * inv;
    this.wideEnergy = wide * inv;
  }
}
