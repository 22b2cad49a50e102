/**
 * Agent-audio AudioWorklet: a small jitter buffer of PCM16 24 kHz, played out at the context's rate
 * (linear interpolation), that knows what it actually played.
 *
 * - Playback starts once PREBUFFER_MS is queued (or the queue stops growing for a moment), and goes
 *   back to waiting on an underrun, so network jitter costs a short gap instead of crackle.
 * - A response is the audio that follows a quiet spell of at least NEW_RESPONSE_IDLE_MS (or a clear);
 *   `played_ms` counts what of the current response reached the speaker, reported every ~100 ms and
 *   when the buffer runs dry. The main thread turns it into `playback.ack`.
 * - `clear` drops everything queued at once (barge-in): the next render quantum is silence.
 */

declare const sampleRate: number;
declare function registerProcessor(name: string, ctor: unknown): void;
declare class AudioWorkletProcessor {
  readonly port: MessagePort;
}

const IN_RATE = 24000;
const CAPACITY = IN_RATE * 20; // 20 s: the gateway paces replies, so the queue holds little more than its lead
const PREBUFFER = (IN_RATE * 60) / 1000;
const NEW_RESPONSE_IDLE = (IN_RATE * 400) / 1000;
const REPORT_EVERY = (IN_RATE * 100) / 1000;

export interface PlaybackReport {
  type: 'played';
  /** ms of the current response played so far */
  played_ms: number;
  /** responses started since the worklet was created */
  response: number;
  /** every sample ever played, ms */
  total_ms: number;
  /** queued, not yet played, ms */
  queued_ms: number;
  playing: boolean;
}

class PlaybackProcessor extends AudioWorkletProcessor {
  private readonly ring = new Float32Array(CAPACITY);
  private read = 0;
  private count = 0;
  /** fractional position between ring[read] and ring[read+1] */
  private frac = 0;
  private readonly step = IN_RATE / sampleRate;
  private playing = false;
  private waitedQuanta = 0;
  /** input-rate samples since playback last had audio (for response boundaries) */
  private idle = NEW_RESPONSE_IDLE;
  private responsePlayed = 0;
  private response = 0;
  private totalPlayed = 0;
  private sinceReport = 0;
  private forceNewResponse = true;

  constructor() {
    super();
    this.port.onmessage = (e: MessageEvent<ArrayBuffer | { type: 'clear' }>) => {
      const d = e.data;
      if (d instanceof ArrayBuffer) this.push(new Int16Array(d));
      else if (d.type === 'clear') this.clear();
    };
  }

  private push(pcm: Int16Array): void {
    if (this.count === 0 && (this.forceNewResponse || this.idle >= NEW_RESPONSE_IDLE)) {
      this.response++;
      this.responsePlayed = 0;
      this.forceNewResponse = false;
    }
    const cap = CAPACITY;
    for (let i = 0; i < pcm.length; i++) {
      if (this.count === cap) { // overflow: drop the oldest sample
        this.read = (this.read + 1) % cap;
        this.count--;
      }
      this.ring[(this.read + this.count) % cap] = pcm[i]! / 32768;
      this.count++;
    }
  }

  private clear(): void {
    this.count = 0;
    this.frac = 0;
    this.playing = false;
    this.forceNewResponse = true;
    this.report();
  }

  private report(): void {
    const msg: PlaybackReport = {
      type: 'played',
      played_ms: Math.round((this.responsePlayed * 1000) / IN_RATE),
      response: this.response,
      total_ms: Math.round((this.totalPlayed * 1000) / IN_RATE),
      queued_ms: Math.round((this.count * 1000) / IN_RATE),
      playing: this.playing,
    };
    this.port.postMessage(msg);
    this.sinceReport = 0;
  }

  process(_inputs: Float32Array[][], outputs: Float32Array[][]): boolean {
    const out = outputs[0]!;
    const ch0 = out[0]!;
    const n = ch0.length;
    if (!this.playing) {
      if (this.count >= PREBUFFER || (this.count > 0 && ++this.waitedQuanta > 8)) {
        this.playing = true;
        this.waitedQuanta = 0;
      }
    }
    if (!this.playing) {
      ch0.fill(0);
      this.idle += n * this.step;
    } else {
      const cap = CAPACITY;
      let consumed = 0;
      let i = 0;
      for (; i < n; i++) {
        if (this.count < 2) break;
        const a = this.ring[this.read]!;
        const b = this.ring[(this.read + 1) % cap]!;
        ch0[i] = a + (b - a) * this.frac;
        this.frac += this.step;
        while (this.frac >= 1 && this.count >= 2) {
          this.frac -= 1;
          this.read = (this.read + 1) % cap;
          this.count--;
          consumed++;
        }
      }
      if (i < n) {
        // ran dry: the last sample plays, then silence until more arrives
        if (this.count === 1) {
          ch0[i++] = this.ring[this.read]!;
          this.read = (this.read + 1) % cap;
          this.count = 0;
          consumed++;
        }
        for (; i < n; i++) ch0[i] = 0;
        this.playing = false;
        this.frac = 0;
      }
      this.responsePlayed += consumed;
      this.totalPlayed += consumed;
      this.sinceReport += consumed;
      this.idle = consumed > 0 ? 0 : this.idle + n * this.step;
      if (this.sinceReport >= REPORT_EVERY || !this.playing) this.report();
    }
    for (let c = 1; c < out.length; c++) out[c]!.set(ch0);
    return true;
  }
}

registerProcessor('switchboard-playback', PlaybackProcessor);
