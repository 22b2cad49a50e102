/**
 * Turns per-hop raw voice decisions into final speech regions with a fixed 300 ms delay: gaps
 * shorter than 200 ms between active hops are filled (a pause inside a phrase is still talking), a
 * region must hold at least 6 active hops (60 ms) in its first 300 ms (a click is not talk), and region edges
 * are padded by up to 100 ms when noise hides the quiet ends (see VadParams.padHopsPerDb). Because
 * the decision for a hop is only final later, regions end at the last active hop instead of at a
 * hangover, so talk time is not inflated by smoothing. Writes into caller-owned ring buffers.
 */
import { MAX_PAD_HOPS } from './vad.ts';

const GAP_HOPS = 20;
/** decisions are final this long after the hop: the gap to bridge plus the most edge padding */
export const SEG_DELAY_HOPS = GAP_HOPS + MAX_PAD_HOPS;
const MIN_ACTIVE_HOPS = 6;
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
  private padLeft = 0;
  /** edge padding for the next push, hops (0..MAX_PAD_HOPS; set by the caller from the VAD) */
  pad = 0;

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
    if (!active && this.padLeft > 0) {
      p = 1;
      this.padLeft--;
    }
    this.pend[h & m] = p;
    if (active) {
      this.extend = EXTEND_HOPS;
      const stop = Math.max(this.finalUpTo, h - EXTEND_HOPS);
      let k = h - 1;
      for (; k >= stop && this.weak[k & m] === 1 && this.pend[k & m] === 0; k--) this.pend[k & m] = 1;
      // pad the start (before whatever the weak run reached) and, via padLeft, the end
      const padStop = Math.max(this.finalUpTo, k - this.pad + 1);
      for (; k >= padStop && this.pend[k & m] === 0; k--) this.pend[k & m] = 1;
      this.padLeft = this.pad;
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
