/**
 * Caller audio that arrives before the provider is connected: the caller is told the session started
 * as soon as the socket is admitted (the provider handshake takes another few hundred ms), and what
 * they say meanwhile must reach the agent, not be lost. Frames (20 ms, provider format) are copied
 * into a FrameRing allocated on first use, the oldest dropped and counted once `maxMs` is held, and
 * handed over in order once the provider is open; then the memory is released.
 */
import { FrameRing } from './frame-ring.ts';

const FRAME_MS = 20;

export class FrameHold {
  private ring: FrameRing | null = null;
  private readonly capFrames: number;

  constructor(maxMs: number) {
    this.capFrames = Math.max(1, Math.ceil(maxMs / FRAME_MS));
  }

  get heldFrames(): number {
    return this.ring?.length ?? 0;
  }

  /** frames dropped so far because the provider took longer than the hold */
  get dropped(): number {
    return this.ring?.dropped ?? 0;
  }

  /** copy `frame` in (every frame must have the first one's length) */
  push(frame: Uint8Array): void {
    this.ring ??= new FrameRing(frame.length, this.capFrames, this.capFrames);
    if (frame.length !== this.ring.frameBytes) throw new RangeError(`held frames are ${this.ring.frameBytes} bytes, not ${frame.length}`);
    this.ring.push(frame);
  }

  /** hand every held frame to `send`, oldest first, then release the memory */
  release(send: (frame: Uint8Array) => void): void {
    const ring = this.ring;
    if (ring === null) return;
    for (let f = ring.peek(); f !== null; f = ring.peek()) {
      send(f);
      ring.shift();
    }
    this.ring = null;
  }
}
