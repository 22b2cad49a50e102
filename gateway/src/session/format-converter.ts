/**
 * Converts a stream of 20 ms frames from one AudioFormat to another: G.711 decode -> resample ->
 * reframe -> G.711 encode, each step only when the two formats differ in it. When they are equal
 * nothing is touched and the input frame itself comes back out.
 *
 * Allocation-free per frame: scratch arrays are sized at construction, the resampler and reframer
 * return views of their own buffers. Output frames are views valid until the next `push`.
 */
import { mulawDecode, mulawEncode, alawDecode, alawEncode } from '../audio/g711.ts';
import { Resampler } from '../audio/resampler.ts';
import { Reframer } from '../audio/reframer.ts';
import { sameFormat, type AudioFormat } from '../providers/types.ts';

const FRAME_MS = 20;

export class FormatConverter {
  readonly from: AudioFormat;
  readonly to: AudioFormat;
  readonly passthrough: boolean;
  /** bytes of one 20 ms output frame */
  readonly outFrameBytes: number;

  private readonly decoded: Int16Array;
  private readonly resampler: Resampler | null;
  private readonly reframer: Reframer | null;
  private readonly encoded: Uint8Array;
  private pending: Uint8Array | null;

  constructor(from: AudioFormat, to: AudioFormat, capacityMs = 200) {
    this.from = from;
    this.to = to;
    this.passthrough = sameFormat(from, to);
    const inSamples = (from.sampleRate * FRAME_MS) / 1000;
    const outSamples = (to.sampleRate * FRAME_MS) / 1000;
    this.outFrameBytes = to.codec === 'pcm16' ? outSamples * 2 : outSamples;
    this.decoded = new Int16Array(from.codec === 'pcm16' ? 0 : inSamples);
    this.resampler = !this.passthrough && from.sampleRate !== to.sampleRate ? new Resampler(from.sampleRate, to.sampleRate) : null;
    // Resampled output can come out one sample off the 20 ms grid per call, so it goes through a
    // reframer at the target rate; the reframer also copies it out of the resampler's buffer.
    this.reframer = this.passthrough ? null : new Reframer({ sampleRate: to.sampleRate, bytesPerSample: 2, capacityMs });
    this.encoded = new Uint8Array(to.codec === 'pcm16' ? 0 : outSamples);
    this.pending = null;
  }

  /** One 20 ms input frame in `from`; then drain output with `next()` until null. */
  push(frame: Uint8Array): void {
    if (this.passthrough) {
      this.pending = frame;
      return;
    }
    let pcm: Int16Array;
    if (this.from.codec === 'mulaw') {
      mulawDecode(frame, this.decoded);
      pcm = this.decoded;
    } else if (this.from.codec === 'alaw') {
      alawDecode(frame, this.decoded);
      pcm = this.decoded;
    } else {
      pcm = int16Of(frame);
    }
    const out = this.resampler === null ? pcm : this.resampler.process(pcm);
    this.reframer!.push(bytesOf(out));
  }

  /** The next 20 ms output frame, or null. A view valid until the next `push`. */
  next(): Uint8Array | null {
    if (this.passthrough) {
      const p = this.pending;
      this.pending = null;
      return p;
    }
    const r = this.reframer!;
    if (this.to.codec === 'pcm16') return r.next();
    const pcm = r.nextPcm16();
    if (pcm === null) return null;
    if (this.to.codec === 'mulaw') mulawEncode(pcm, this.encoded);
    else alawEncode(pcm, this.encoded);
    return this.encoded;
  }

  /** drop anything buffered (barge-in) */
  reset(): void {
    this.pending = null;
    this.reframer?.reset();
  }
}

/*
 * Typed views of the same memory, cached per source view. Frames come from reframer slots and
 * resampler buffers, a fixed set of views reused forever, so after warm-up these lookups allocate
 * nothing (a WeakMap lets retired buffers go).
 */
const int16Views = new WeakMap<Uint8Array, Int16Array>();
const byteViews = new WeakMap<Int16Array, Uint8Array>();

/** Int16 view of 2-aligned PCM16LE bytes (reframer slots are aligned). */
export function int16Of(bytes: Uint8Array): Int16Array {
  // A misaligned view cannot share memory; copy (never the case for reframer slots).
  if ((bytes.byteOffset & 1) !== 0) return new Int16Array(bytes.slice(0, bytes.length & ~1).buffer);
  let v = int16Views.get(bytes);
  if (v === undefined) {
    v = new Int16Array(bytes.buffer, bytes.byteOffset, bytes.length >> 1);
    int16Views.set(bytes, v);
  }
  return v;
}

export function bytesOf(pcm: Int16Array): Uint8Array {
  let v = byteViews.get(pcm);
  if (v === undefined) {
    v = new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.length * 2);
    byteViews.set(pcm, v);
  }
  return v;
}
