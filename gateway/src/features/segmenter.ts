/**
 * Turns per-hop raw voice decisions into final speech regions with a fixed 200 ms delay: gaps
 * shorter than 200 ms between active hops are filled (a pause inside a phrase is still talking), and
 * a region must hold at least 3 active hops in its first 200 ms (a click is not talk). Because the
 * decision for a hop is only final 200 ms later, regions end at the last active hop instead of at a
 * hangover, so talk time is not inflated by smoothing. Writes into caller-owned ring buffers.
 */
export const SEG_DELAY_HOPS = 20;
const GAP_HOPS = 20;
const MIN_ACTIVE_HOPS = 3;
const EXTEND_HOPS = 15;

export class Segmenter {
  /** hops [0, finalUpTo) are final in `out` */
  finalUpTo = 0;
  private next = 0;
  private lastActive = -1e9;
  private prevOut = 0;
  private readonly mask: number;
  private readonly weak: Uint8Array;
  private extend = 0;

  /**
   * `raw`/`pend`/`out` are rings of the same power-of-two length (longer than the delay), indexed by
   * hop & (length - 1).
   */
  constructor(
    private readonly raw: Uint8Array,
    private readonly pend: Uint8Array,
    private readonly out: Uint8Array,
  ) {
    this.mask = raw.length - 1;
    this.weak = new Uint8Array(raw.length);
  }

  /**
   * The next hop's decisions (hops are consecutive): `active` is the VAD decision, `weak` a lower
   * hysteresis threshold. Runs of weak hops touching an active hop (up to EXTEND_HOPS each side)
   * count as speech: the quiet starts and ends of words that a strict threshold cuts off in noise.
   */
  push(active: boolean, weak = active): void {
    const h = this.next++;
    const m = this.mask;
    const a = active ? 1 : 0;
    this.raw[h & m] = a;
    this.weak[h & m] = weak || active ? 1 : 0;
    let p = a;
    if (!active && weak && this.extend > 0) {
      p = 1;
      this.extend--;
    }
    this.pend[h & m] = p;
    if (active) {
      this.extend = EXTEND_HOPS;
      const stop = Math.max(this.finalUpTo, h - EXTEND_HOPS);
      for (let k = h - 1; k >= stop && this.weak[k & m] === 1 && this.pend[k & m] === 0; k--) this.pend[k & m] = 1;
    } else if (!weak) this.extend = 0;
    if (p === 1) {
      const gap = h - this.lastActive - 1;
      if (gap > 0 && gap < GAP_HOPS) for (let k = this.lastActive + 1; k < h; k++) this.pend[k & m] = 1;
      this.lastActive = h;
    }
    const e = h - SEG_DELAY_HOPS;
    if (e >= this.finalUpTo) this.emit(e, h);
  }

  private emit(e: number, h: number): void {
    const m = this.mask;
    let v = this.pend[e & m];
    if (v === 1 && this.prevOut === 0) {
      let n = 0;
      for (let k = e; k <= h; k++) n += this.raw[k & m];
      if (n < MIN_ACTIVE_HOPS) v = 0;
    }
    this.out[e & m] = v;
    this.prevOut = v;
    this.finalUpTo = e + 1;
  }

  /** Number hops from `hop` on (before the first push). */
  startAt(hop: number): void {
    this.next = hop;
    this.finalUpTo = hop;
  }

  /** Next hop index push() will take. */
  get nextHop(): number {
    return this.next;
  }
}
