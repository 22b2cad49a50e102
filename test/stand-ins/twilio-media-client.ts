/**
 * A Twilio Media Streams stand-in: the client side of a bidirectional `<Connect><Stream>` as Twilio
 * runs it (PROTOCOLS.md section 1). It sends `connected`, `start` (with customParameters), `media`
 * frames of 160 μ-law bytes paced every 20 ms with string sequence numbers, chunks and timestamps,
 * `mark` echoes and `stop`; it plays the gateway's outbound audio at real time from a buffer, echoes
 * each mark once the audio queued before it has played, and on `clear` drops the buffer and echoes
 * every pending mark at once. Test-only; never imported by production code.
 */
import WebSocket from 'ws';
import { randomUUID } from 'node:crypto';

export interface TwilioStandInOptions {
  customParameters?: Record<string, string>;
  streamSid?: string;
  callSid?: string;
}

interface PendingMark {
  name: string;
  /** the mark is played once `playedBytes` reaches this */
  at: number;
}

export class TwilioMediaClient {
  readonly ws: WebSocket;
  readonly streamSid: string;
  readonly callSid: string;
  /** outbound audio that has "played" */
  playedBytes = 0;
  /** outbound audio received in total */
  receivedBytes = 0;
  /** outbound audio thrown away by `clear` */
  flushedBytes = 0;
  readonly played: Buffer[] = [];
  readonly marksEchoed: Array<{ name: string; flushed: boolean }> = [];
  clears = 0;
  readonly errors: string[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  /** every outbound message kind seen */
  readonly outboundEvents: string[] = [];
  binaryFrames = 0;

  private seq = 0;
  private chunk = 0;
  private startedAt = 0;
  private buffer: Buffer[] = [];
  private bufferedBytes = 0;
  private queuedBytes = 0;
  private pending: PendingMark[] = [];
  private player: NodeJS.Timeout | null = null;
  private playClock = 0;
  private readonly opts: TwilioStandInOptions;

  constructor(url: string, opts: TwilioStandInOptions = {}) {
    this.opts = opts;
    this.streamSid = opts.streamSid ?? `MZ${randomUUID().replace(/-/g, '')}`;
    this.callSid = opts.callSid ?? `CA${randomUUID().replace(/-/g, '')}`;
    this.ws = new WebSocket(url);
    this.ws.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    this.closed = new Promise((resolve) =>
      this.ws.on('close', (code, reason) => {
        this.stopPlayer();
        resolve({ code, reason: String(reason) });
      }),
    );
  }

  /** open, then `connected` and `start` as Twilio sends them */
  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.raw({ event: 'connected', protocol: 'Call', version: '1.0.0' });
    this.seq = 1;
    this.raw({
      event: 'start',
      sequenceNumber: '1',
      streamSid: this.streamSid,
      start: {
        streamSid: this.streamSid,
        accountSid: 'AC00000000000000000000000000000000',
        callSid: this.callSid,
        tracks: ['inbound'],
        customParameters: this.opts.customParameters ?? {},
        mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
      },
    });
    this.startedAt = performance.now();
    this.playClock = this.startedAt;
    this.player = setInterval(() => this.play(), 20);
  }

  /** stream μ-law 8 kHz audio as 160-byte media frames; paced at 20 ms unless `speed` says otherwise */
  async sendAudio(mulaw: Uint8Array, speed = 1): Promise<void> {
    const t0 = performance.now();
    for (let off = 0, k = 0; off < mulaw.length; off += 160, k++) {
      if (this.ws.readyState !== WebSocket.OPEN) return;
      this.chunk++;
      this.raw({
        event: 'media',
        sequenceNumber: String(++this.seq),
        streamSid: this.streamSid,
        media: {
          track: 'inbound',
          chunk: String(this.chunk),
          timestamp: String(Math.round(performance.now() - this.startedAt)),
          payload: Buffer.from(mulaw.subarray(off, Math.min(mulaw.length, off + 160))).toString('base64'),
        },
      });
      if (Number.isFinite(speed)) {
        const wait = t0 + ((k + 1) * 20) / speed - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  dtmf(digit: string): void {
    this.raw({ event: 'dtmf', sequenceNumber: String(++this.seq), streamSid: this.streamSid, dtmf: { track: 'inbound_track', digit } });
  }

  /** the caller hangs up */
  stop(): void {
    this.raw({ event: 'stop', sequenceNumber: String(++this.seq), streamSid: this.streamSid, stop: { accountSid: 'AC00000000000000000000000000000000', callSid: this.callSid } });
  }

  /** any JSON (or a string sent verbatim) */
  raw(msg: unknown): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  /** bytes waiting to be played */
  get backlog(): number {
    return this.bufferedBytes;
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (isBinary) {
      // Twilio answers a binary frame with warning 31950; it never plays it.
      this.binaryFrames++;
      return;
    }
    let msg: { event?: string; streamSid?: string; media?: { payload?: string }; mark?: { name?: string } };
    try {
      msg = JSON.parse(String(data));
    } catch {
      this.errors.push('31950 malformed message');
      return;
    }
    this.outboundEvents.push(String(msg.event));
    if (msg.streamSid !== this.streamSid) this.errors.push(`wrong streamSid on ${msg.event}`);
    if (msg.event === 'media') {
      const bytes = Buffer.from(msg.media?.payload ?? '', 'base64');
      this.receivedBytes += bytes.length;
      this.buffer.push(bytes);
      this.bufferedBytes += bytes.length;
      this.queuedBytes += bytes.length;
    } else if (msg.event === 'mark') {
      this.pending.push({ name: String(msg.mark?.name), at: this.queuedBytes });
      this.echoPlayedMarks();
    } else if (msg.event === 'clear') {
      this.clears++;
      this.flushedBytes += this.bufferedBytes;
      this.buffer = [];
      this.queuedBytes -= this.bufferedBytes;
      this.bufferedBytes = 0;
      // Twilio sends back every pending mark when it clears.
      for (const m of this.pending.splice(0)) this.echoMark(m.name, true);
    } else {
      this.errors.push(`unexpected outbound event ${String(msg.event)}`);
    }
  }

  /** real-time playout: 8 bytes per ms */
  private play(): void {
    const now = performance.now();
    let budget = Math.floor((now - this.playClock) * 8);
    if (budget <= 0) return;
    this.playClock += budget / 8;
    while (budget > 0 && this.buffer.length > 0) {
      const head = this.buffer[0]!;
      const n = Math.min(head.length, budget);
      this.played.push(head.subarray(0, n));
      if (n === head.length) this.buffer.shift();
      else this.buffer[0] = head.subarray(n);
      this.bufferedBytes -= n;
      this.playedBytes += n;
      budget -= n;
    }
    this.echoPlayedMarks();
  }

  private echoPlayedMarks(): void {
    const playedUpTo = this.queuedBytes - this.bufferedBytes;
    while (this.pending.length > 0 && this.pending[0]!.at <= playedUpTo) this.echoMark(this.pending.shift()!.name, false);
  }

  private echoMark(name: string, flushed: boolean): void {
    this.marksEchoed.push({ name, flushed });
    this.raw({ event: 'mark', sequenceNumber: String(++this.seq), streamSid: this.streamSid, mark: { name } });
  }

  private stopPlayer(): void {
    if (this.player) clearInterval(this.player);
    this.player = null;
  }
}
