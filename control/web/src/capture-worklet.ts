/**
 * Microphone AudioWorklet: the context's rate (usually 48 kHz) -> PCM16LE 24 kHz mono, posted to the
 * main thread as one 20 ms frame (480 samples, 960 bytes) at a time, ready to send as a binary
 * WebSocket message. Resampling is linear interpolation with the fractional read position carried
 * across render quanta, after a one-pole low-pass at ~10 kHz that keeps most aliasing out when
 * decimating 48k -> 24k (speech has little energy above that; the gateway's own filters are the
 * quality path).
 */

// AudioWorkletGlobalScope (not in the DOM lib)
declare const sampleRate: number;
declare function registerProcessor(name: string, ctor: unknown): void;
declare class AudioWorkletProcessor {
  readonly port: MessagePort;
}

const OUT_RATE = 24000;
const FRAME = 480;

class CaptureProcessor extends AudioWorkletProcessor {
  private readonly step = sampleRate / OUT_RATE;
  /** fractional read position relative to the current block; negative = between last block's end and this one */
  private pos = 0;
  private prev = 0;
  private lp = 0;
  private readonly alpha: number;
  private frame = new Int16Array(FRAME);
  private fill = 0;
  private muted = false;

  constructor() {
    super();
    // one-pole low-pass coefficient for a ~10 kHz corner (only matters when the context runs above 24 kHz)
    const fc = Math.min(10000, sampleRate * 0.45);
    this.alpha = 1 - Math.exp((-2 * Math.PI * fc) / sampleRate);
    this.port.onmessage = (e: MessageEvent<{ type: string; muted?: boolean }>) => {
      if (e.data.type === 'mute') this.muted = e.data.muted === true;
    };
  }

  process(inputs: Float32Array[][]): boolean {
    const ch = inputs[0]?.[0];
    if (!ch || ch.length === 0) return true;
    const n = ch.length;
    const a = this.alpha;
    // filter in place into a local view; the input array is ours for this call
    let lp = this.lp;
    for (let i = 0; i < n; i++) {
      lp += a * ((this.muted ? 0 : ch[i]!) - lp);
      ch[i] = lp;
    }
    this.lp = lp;
    // samples at positions pos, pos+step, ... while pos < n-1 (index -1 is the previous block's last sample)
    let pos = this.pos;
    while (pos < n - 1) {
      const i0 = Math.floor(pos);
      const frac = pos - i0;
      const s0 = i0 < 0 ? this.prev : ch[i0]!;
      const s1 = ch[i0 + 1]!;
      let v = s0 + (s1 - s0) * frac;
      v = v < -1 ? -1 : v > 1 ? 1 : v;
      this.frame[this.fill++] = v < 0 ? v * 0x8000 : v * 0x7fff;
      if (this.fill === FRAME) {
        const buf = this.frame.buffer;
        this.port.postMessage(buf, [buf]);
        this.frame = new Int16Array(FRAME);
        this.fill = 0;
      }
      pos += this.step;
    }
    this.pos = pos - n;
    this.prev = ch[n - 1]!;
    return true;
  }
}

registerProcessor('switchboard-capture', CaptureProcessor);
