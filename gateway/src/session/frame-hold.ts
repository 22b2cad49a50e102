/**
 * Caller audio that arrives before the provider is connected: the caller is told the session started
 * as soon as the socket is admitted (the provider handshake takes another few hundred ms), and what
 * they say meanwhile must reach the agent, not be lost. Frames (20 ms, provider format) are copied
 * into a fixed ring, the oldest dropped and counted once `maxMs` is held, and handed over in order once
 * the provider is open. The ring is allocated on first use and released after the hand-over.
 */
const FRAME_MS = 20;

export class FrameHold {
  /** frames dropped because the provider took longer than the hold */
  dropped = 0;
  private ring: Uint8Array | null = null;
  private frameBytes = 0;
  private head = 0;
  private count = 0;
  private readonly capFrames: number;

  constructor(maxMs: number) {
    this.capFrames = Math.max(1, Math.ceil(maxMs / FRAME_MS));
  }

  get heldFrames(): number {
    return this.count;
  }

  /** copy `frame` in (every frame must have the first one's length) */
  push(frame: Uint8Array): void {
    if (this.ring === null) {
      this.frameBytes = frame.length;
      this.ring = new Uint8Array(this.capFrames * frame.length);
    }
    if (frame.length !== this.frameBytes) throw new RangeError(`held frames are ${this.frameBytes} bytes, not ${frame.length}`);
    if (this.count === this.capFrames) {
      this.head = (this.head + 1) % this.capFrames;
      this.count--;
      this.dropped++;
    }
    const slot = (this.head + this.count) % this.capFrames;
    this.ring.set(frame, slot * this.frameBytes);
    this.count++;
  }

  /** hand every held frame to `send`, oldest first, then release the memory */
  release(send: (frame: Uint8Array) => void): void {
    const ring = this.ring;
    if (ring !== null) {
      for (let i = 0; i < this.count; i++) {
        const at = ((this.head + i) % this.capFrames) * this.frameBytes;
        send(ring.subarray(at, at + this.frameBytes));
      }
    }
    this.ring = null;
    this.head = 0;
    this.count = 0;
  }
}
