/**
 * Agent audio playout for one client connection: a bounded frame queue, real-time pacing and the
 * bookkeeping that says how much of the current response the caller has actually heard.
 *
 * - The queue holds 20 ms frames in the client's wire format. It starts small and doubles up to
 *   `maxMs` (allocation on growth only, never per frame); when full, the oldest frame is dropped and
 *   counted. So a client that stops reading costs at most `maxMs` of audio plus the socket high-water.
 * - Pacing keeps the audio written to the socket no more than `leadMs` ahead of real-time playout
 *   (`playheadEnd` is when everything written so far will have finished playing).
 * - Audio is not written while the socket holds more than `highWater` bytes; `drain` resumes it.
 * - Played time = confirmation from the client (Twilio mark, native playback.ack) plus the time since,
 *   or, without one, what was written minus what is still ahead of the playhead; always clamped to
 *   what was written.
 */

export interface PlayoutTarget {
  /** write one frame that will start playing at `playAt` (performance.now() clock); returns the uWS send status */
  writeAudio(frame: Uint8Array, playAt: number): number;
  bufferedAmount(): number;
  /** called after a pump wrote frames; `responseMs` is the current response's written total */
  afterWrite(responseMs: number, queueEmpty: boolean): void;
}

const FRAME_MS = 20;
const INITIAL_FRAMES = 50;

export class Playout {
  readonly frameBytes: number;
  /** frames dropped because the queue was full (client too slow) */
  dropped: number;
  /** frames written to the socket in total */
  written: number;

  private ring: Uint8Array;
  /** one view per slot, made when the ring is (re)allocated, so writing a frame creates no view */
  private slots: Uint8Array[];
  private capFrames: number;
  private readonly maxFrames: number;
  private head: number;
  private count: number;
  private readonly leadMs: number;
  private readonly highWater: number;
  private playheadEnd: number;
  private respWrittenMs: number;
  private confirmedMs: number;
  private confirmedAt: number;
  private readonly target: PlayoutTarget;

  constructor(frameBytes: number, opts: { maxMs: number; leadMs: number; highWater: number }, target: PlayoutTarget) {
    this.frameBytes = frameBytes;
    this.maxFrames = Math.max(2, Math.ceil(opts.maxMs / FRAME_MS));
    this.capFrames = Math.min(INITIAL_FRAMES, this.maxFrames);
    this.ring = new Uint8Array(this.capFrames * frameBytes);
    this.slots = slotViews(this.ring, this.capFrames, frameBytes);
    this.head = 0;
    this.count = 0;
    this.leadMs = opts.leadMs;
    this.highWater = opts.highWater;
    this.playheadEnd = 0;
    this.respWrittenMs = 0;
    this.confirmedMs = -1;
    this.confirmedAt = 0;
    this.dropped = 0;
    this.written = 0;
    this.target = target;
  }

  get queuedFrames(): number {
    return this.count;
  }

  /** bytes this playout holds (queue memory in use) */
  get queuedBytes(): number {
    return this.count * this.frameBytes;
  }

  /** copy one frame in; drops the oldest when at the bound */
  enqueue(frame: Uint8Array): void {
    if (this.count === this.capFrames) {
      if (this.capFrames < this.maxFrames) this.grow();
      else {
        this.head = (this.head + 1) % this.capFrames;
        this.count--;
        this.dropped++;
      }
    }
    const slot = (this.head + this.count) % this.capFrames;
    this.ring.set(frame, slot * this.frameBytes);
    this.count++;
  }

  /** write what pacing and the socket allow; returns true while frames remain queued */
  pump(now: number): boolean {
    if (this.count === 0) return false;
    const target = this.target;
    let wrote = false;
    while (this.count > 0) {
      const start = this.playheadEnd > now ? this.playheadEnd : now;
      if (start + FRAME_MS - now > this.leadMs) break;
      if (target.bufferedAmount() > this.highWater) break;
      const status = target.writeAudio(this.slots[this.head]!, start);
      this.head = (this.head + 1) % this.capFrames;
      this.count--;
      if (status === 2) {
        this.dropped++;
        continue;
      }
      this.playheadEnd = start + FRAME_MS;
      this.respWrittenMs += FRAME_MS;
      this.written++;
      wrote = true;
    }
    if (wrote) target.afterWrite(this.respWrittenMs, this.count === 0);
    return this.count > 0;
  }

  /** a new response starts: played-time bookkeeping restarts */
  beginResponse(): void {
    this.respWrittenMs = 0;
    this.confirmedMs = -1;
  }

  /** ms of the current response written to the socket */
  get responseWrittenMs(): number {
    return this.respWrittenMs;
  }

  /** the client confirmed it has played `ms` of the current response (ack or mark) */
  confirm(ms: number, now: number): void {
    this.confirmedMs = ms < this.respWrittenMs ? ms : this.respWrittenMs;
    this.confirmedAt = now;
  }

  /** best estimate of ms of the current response the caller has heard, clamped to what was written */
  playedMs(now: number): number {
    const written = this.respWrittenMs;
    let est: number;
    if (this.confirmedMs >= 0) est = this.confirmedMs + (now - this.confirmedAt);
    else est = written - (this.playheadEnd > now ? this.playheadEnd - now : 0);
    if (est > written) est = written;
    return est < 0 ? 0 : Math.floor(est);
  }

  /** true while audio of the current response is queued or still playing out */
  active(now: number): boolean {
    return this.count > 0 || this.playedMs(now) < this.respWrittenMs;
  }

  /** barge-in: drop everything queued; the client is told to drop what it buffered */
  clear(now: number): number {
    const n = this.count;
    this.head = 0;
    this.count = 0;
    this.playheadEnd = now;
    return n;
  }

  private grow(): void {
    const cap = Math.min(this.capFrames * 2, this.maxFrames);
    const ring = new Uint8Array(cap * this.frameBytes);
    // unroll the ring so the queue starts at slot 0
    for (let i = 0; i < this.count; i++) {
      const from = ((this.head + i) % this.capFrames) * this.frameBytes;
      ring.set(this.ring.subarray(from, from + this.frameBytes), i * this.frameBytes);
    }
    this.ring = ring;
    this.slots = slotViews(ring, cap, this.frameBytes);
    this.capFrames = cap;
    this.head = 0;
  }
}

function slotViews(ring: Uint8Array, frames: number, frameBytes: number): Uint8Array[] {
  const views: Uint8Array[] = [];
  for (let i = 0; i < frames; i++) views.push(ring.subarray(i * frameBytes, (i + 1) * frameBytes));
  return views;
}

/** One timer paces every playout of a gateway; a playout is registered only while it has queued audio. */
export class Pacer {
  private readonly waiting = new Set<Playout>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly tickMs: number) {}

  /** pump now; keep pumping on the timer while frames remain */
  kick(p: Playout): void {
    if (p.pump(performance.now())) this.waiting.add(p);
  }

  forget(p: Playout): void {
    this.waiting.delete(p);
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.tickMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.waiting.clear();
  }

  private tick(): void {
    if (this.waiting.size === 0) return;
    const now = performance.now();
    for (const p of this.waiting) if (!p.pump(now)) this.waiting.delete(p);
  }
}
