/**
 * A bounded FIFO of fixed-size audio frames in one preallocated buffer. It starts at `initialFrames`
 * and doubles up to `maxFrames` (allocation on growth only, never per frame); when full, the oldest
 * frame is dropped and counted. `peek()` returns a view of the frame's slot, made on the slot's first
 * use after the buffer was (re)allocated, so reading a frame allocates nothing either in steady state.
 */
export class FrameRing {
  readonly frameBytes: number;
  /** frames dropped because the ring was full */
  dropped = 0;
  private buf: Uint8Array;
  /** one view per slot, made on first use (a queue that keeps draining only ever uses slot 0) */
  private slots: Array<Uint8Array | null>;
  private cap: number;
  private readonly maxFrames: number;
  private head = 0;
  private count = 0;

  constructor(frameBytes: number, initialFrames: number, maxFrames: number) {
    this.frameBytes = frameBytes;
    this.maxFrames = Math.max(1, maxFrames);
    this.cap = Math.max(1, Math.min(initialFrames, this.maxFrames));
    this.buf = new Uint8Array(this.cap * frameBytes);
    this.slots = new Array<Uint8Array | null>(this.cap).fill(null);
  }

  get length(): number {
    return this.count;
  }

  /** copy one frame in (its first frameBytes bytes); drops the oldest when at the bound */
  push(frame: Uint8Array): void {
    if (this.count === this.cap) {
      if (this.cap < this.maxFrames) this.grow();
      else {
        this.head = (this.head + 1) % this.cap;
        this.count--;
        this.dropped++;
      }
    }
    this.slot((this.head + this.count) % this.cap).set(frame);
    this.count++;
  }

  /** the oldest frame (valid until it is shifted out), or null when empty */
  peek(): Uint8Array | null {
    return this.count === 0 ? null : this.slot(this.head);
  }

  /** remove the oldest frame */
  shift(): void {
    if (this.count === 0) return;
    this.count--;
    // empty: start again at slot 0, so a queue that keeps draining reuses one cache-hot slot
    this.head = this.count === 0 ? 0 : (this.head + 1) % this.cap;
  }

  clear(): void {
    this.head = 0;
    this.count = 0;
  }

  private slot(i: number): Uint8Array {
    return (this.slots[i] ??= this.buf.subarray(i * this.frameBytes, (i + 1) * this.frameBytes));
  }

  private grow(): void {
    const cap = Math.min(this.cap * 2, this.maxFrames);
    const buf = new Uint8Array(cap * this.frameBytes);
    // unroll the ring so the queue starts at slot 0
    for (let i = 0; i < this.count; i++) buf.set(this.slot((this.head + i) % this.cap), i * this.frameBytes);
    this.buf = buf;
    this.slots = new Array<Uint8Array | null>(cap).fill(null);
    this.cap = cap;
    this.head = 0;
  }
}
