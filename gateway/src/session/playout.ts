/**
 * Agent audio playout for one client connection: a bounded frame queue, real-time pacing and the
 * bookkeeping that says how much of the current response the caller has actually heard.
 *
 * - The queue (a FrameRing) holds 20 ms frames in the client's wire format, up to `maxMs`; when full,
 *   the oldest frame is dropped and counted. So a client that stops reading costs at most `maxMs` of
 *   audio plus the socket high-water.
 * - Pacing keeps the audio written to the socket no more than `leadMs` ahead of real-time playout
 *   (`playheadEnd` is when everything written so far will have finished playing).
 * - Audio is not written while the socket holds more than `highWater` bytes; `drain` resumes it.
 * - Played time = confirmation from the client (Twilio mark, native playback.ack) plus the time since,
 *   or, without one, what was written minus what is still ahead of the playhead; always clamped to
 *   what was written.
 */
import { FrameRing } from './frame-ring.ts';
import { performance } from 'node:perf_hooks'; // a plain binding: the global is a getter run on every use

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
  /** frames written to the socket in total */
  written: number;

  private readonly queue: FrameRing;
  /** frames the socket refused (uWS send status 2) */
  private refused: number;
  private readonly leadMs: number;
  private readonly highWater: number;
  private playheadEnd: number;
  private respWrittenMs: number;
  private confirmedMs: number;
  private confirmedAt: number;
  private readonly target: PlayoutTarget;

  constructor(frameBytes: number, opts: { maxMs: number; leadMs: number; highWater: number }, target: PlayoutTarget) {
    this.frameBytes = frameBytes;
    this.queue = new FrameRing(frameBytes, INITIAL_FRAMES, Math.max(2, Math.ceil(opts.maxMs / FRAME_MS)));
    this.refused = 0;
    this.leadMs = opts.leadMs;
    this.highWater = opts.highWater;
    this.playheadEnd = 0;
    this.respWrittenMs = 0;
    this.confirmedMs = -1;
    this.confirmedAt = 0;
    this.written = 0;
    this.target = target;
  }

  /** frames dropped: the queue was full (client too slow), or the socket refused them */
  get dropped(): number {
    return this.queue.dropped + this.refused;
  }

  get queuedFrames(): number {
    return this.queue.length;
  }

  /** bytes this playout holds (queue memory in use) */
  get queuedBytes(): number {
    return this.queue.length * this.frameBytes;
  }

  /** copy one frame in; drops the oldest when at the bound */
  enqueue(frame: Uint8Array): void {
    this.queue.push(frame);
  }

  /** write what pacing and the socket allow; returns true while frames remain queued */
  pump(now: number): boolean {
    const queue = this.queue;
    const target = this.target;
    let wrote = false;
    for (let frame = queue.peek(); frame !== null; frame = queue.peek()) {
      const start = this.playheadEnd > now ? this.playheadEnd : now;
      if (start + FRAME_MS - now > this.leadMs) break;
      if (target.bufferedAmount() > this.highWater) break;
      const status = target.writeAudio(frame, start);
      queue.shift();
      if (status === 2) {
        this.refused++;
        continue;
      }
      this.playheadEnd = start + FRAME_MS;
      this.respWrittenMs += FRAME_MS;
      this.written++;
      wrote = true;
    }
    if (wrote) target.afterWrite(this.respWrittenMs, queue.length === 0);
    return queue.length > 0;
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
    return this.queue.length > 0 || this.playedMs(now) < this.respWrittenMs;
  }

  /** barge-in: drop everything queued; the client is told to drop what it buffered */
  clear(now: number): number {
    const n = this.queue.length;
    this.queue.clear();
    this.playheadEnd = now;
    return n;
  }
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
