/**
 * Energy VAD for stand-ins: decides turns on the audio *timeline* (samples received), not the wall
 * clock, like the providers' server VAD does, so a test may push 3 s of speech in a millisecond and
 * get the same events as a real-time caller. 10 ms windows; speech starts after `startMs` of windows
 * above `thresholdDbfs` and stops after `silenceMs` below it (PROTOCOLS.md 2.2 server_vad defaults).
 */
import { rmsDbfs } from './audio.ts';

export interface VadOptions {
  thresholdDbfs?: number;
  startMs?: number;
  silenceMs?: number;
  prefixPaddingMs?: number;
}

export type VadEvent = { type: 'start'; ms: number } | { type: 'stop'; ms: number };

export class EnergyVad {
  readonly rate: number;
  private readonly win: Int16Array;
  private fill = 0;
  private samples = 0;
  private speaking = false;
  private loudMs = 0;
  private quietMs = 0;
  private readonly threshold: number;
  private readonly startMs: number;
  private readonly silenceMs: number;
  private readonly prefixMs: number;

  constructor(rate: number, opts: VadOptions = {}) {
    this.rate = rate;
    this.win = new Int16Array(rate / 100);
    this.threshold = opts.thresholdDbfs ?? -45;
    this.startMs = opts.startMs ?? 60;
    this.silenceMs = opts.silenceMs ?? 500;
    this.prefixMs = opts.prefixPaddingMs ?? 300;
  }

  /** Milliseconds of audio received so far. */
  get receivedMs(): number {
    return (this.samples * 1000) / this.rate;
  }

  get inSpeech(): boolean {
    return this.speaking;
  }

  push(pcm: Int16Array): VadEvent[] {
    const events: VadEvent[] = [];
    for (let i = 0; i < pcm.length; i++) {
      this.win[this.fill++] = pcm[i]!;
      this.samples++;
      if (this.fill < this.win.length) continue;
      this.fill = 0;
      const loud = rmsDbfs(this.win) > this.threshold;
      const nowMs = Math.round(this.receivedMs);
      if (!this.speaking) {
        this.loudMs = loud ? this.loudMs + 10 : 0;
        if (this.loudMs >= this.startMs) {
          this.speaking = true;
          this.quietMs = 0;
          events.push({ type: 'start', ms: Math.max(0, nowMs - this.loudMs - this.prefixMs) });
        }
      } else {
        this.quietMs = loud ? 0 : this.quietMs + 10;
        if (this.quietMs >= this.silenceMs) {
          this.speaking = false;
          this.loudMs = 0;
          events.push({ type: 'stop', ms: nowMs - this.quietMs + 100 });
        }
      }
    }
    return events;
  }
}
