/**
 * Opus over `@discordjs/opus` (libopus 1.3 compiled in): mono, 20 ms frames at 8, 16, 24 or 48 kHz.
 *
 * One `OpusCodec` per stream direction pair: the native object holds an encoder and a decoder, each
 * created on first use, so a codec used only to decode never allocates an encoder. Per PROTOCOLS.md
 * 5.1 one raw Opus packet travels per WebSocket binary message; packets are not self-delimiting.
 *
 * Guarding the native layer matters here: `@discordjs/opus` aborts the whole process (a napi fatal
 * error, not an exception) when `encode` gets a buffer that is not a valid Opus frame size, so
 * `encode` checks the length first. A corrupt packet makes libopus return an error, which the binding
 * throws as a TypeError; we rethrow it as AppError('INVALID_AUDIO'). An empty packet would make libopus
 * run packet-loss concealment for 120 ms, so it is rejected the same way.
 */
import { createRequire } from 'node:module';
import { AppError } from '../shared/src/errors.ts';

type NativeOpus = {
  encode(buf: Buffer): Buffer;
  decode(buf: Buffer): Buffer;
  applyEncoderCTL(ctl: number, value: number): void;
  applyDecoderCTL(ctl: number, value: number): void;
  setBitrate(bitrate: number): void;
  getBitrate(): number;
};

const require = createRequire(import.meta.url);
const { OpusEncoder } = require('@discordjs/opus') as { OpusEncoder: new (rate: number, channels: number) => NativeOpus };

/** libopus request codes (opus_defines.h). */
const OPUS_SET_APPLICATION_REQUEST = 4000;
const OPUS_SET_COMPLEXITY_REQUEST = 4010;
const OPUS_SET_INBAND_FEC_REQUEST = 4012;
const OPUS_SET_SIGNAL_REQUEST = 4024;
const OPUS_APPLICATION_VOIP = 2048;
const OPUS_APPLICATION_AUDIO = 2049;
const OPUS_SIGNAL_VOICE = 3001;

export type OpusRate = 8000 | 16000 | 24000 | 48000;

export interface OpusCodecOptions {
  sampleRate: OpusRate;
  /** Target bitrate in bit/s; default 32000 (transparent-ish wideband speech). */
  bitrate?: number;
  /** 'voip' (default) tunes for speech intelligibility; 'audio' for fidelity. */
  application?: 'voip' | 'audio';
  /** Encoder complexity 0..10; default 5 (half the CPU of 10, inaudible difference for speech). */
  complexity?: number;
}

/** Frame duration every encode() call takes. */
export const OPUS_FRAME_MS = 20;

export class OpusCodec {
  readonly sampleRate: OpusRate;
  /** Samples in one 20 ms frame (what encode() takes). */
  readonly frameSamples: number;
  private readonly native: NativeOpus;

  constructor(opts: OpusCodecOptions) {
    const rate = opts.sampleRate;
    if (rate !== 8000 && rate !== 16000 && rate !== 24000 && rate !== 48000) {
      throw new RangeError(`OpusCodec: sampleRate must be 8000, 16000, 24000 or 48000, got ${String(rate)}`);
    }
    this.sampleRate = rate;
    this.frameSamples = (rate * OPUS_FRAME_MS) / 1000;
    this.native = new OpusEncoder(rate, 1);
    const app = opts.application === 'audio' ? OPUS_APPLICATION_AUDIO : OPUS_APPLICATION_VOIP;
    this.native.applyEncoderCTL(OPUS_SET_APPLICATION_REQUEST, app);
    if (app === OPUS_APPLICATION_VOIP) this.native.applyEncoderCTL(OPUS_SET_SIGNAL_REQUEST, OPUS_SIGNAL_VOICE);
    this.native.applyEncoderCTL(OPUS_SET_COMPLEXITY_REQUEST, opts.complexity ?? 5);
    this.native.applyEncoderCTL(OPUS_SET_INBAND_FEC_REQUEST, 0);
    this.native.setBitrate(opts.bitrate ?? 32000);
  }

  /** The encoder's current target bitrate (bit/s). */
  get bitrate(): number {
    return this.native.getBitrate();
  }

  /**
   * Encodes exactly one 20 ms mono frame (`frameSamples` samples) into one Opus packet. The returned
   * Buffer is new (the binding copies); a wrong length throws AppError('INVALID_AUDIO').
   */
  encode(pcm: Int16Array): Buffer {
    if (pcm.length !== this.frameSamples) {
      throw new AppError(
        'INVALID_AUDIO',
        `Opus encode takes exactly ${this.frameSamples} samples (20 ms at ${this.sampleRate} Hz), got ${pcm.length}`,
      );
    }
    return this.native.encode(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength));
  }

  /**
   * Decodes one Opus packet to PCM16 mono at `sampleRate`. Usually one 20 ms frame, but a packet from
   * another encoder may hold 2.5 to 120 ms; the result's length says which. The array is new per call.
   * A corrupt or empty packet throws AppError('INVALID_AUDIO') and leaves the decoder usable.
   */
  decode(packet: Uint8Array): Int16Array {
    if (packet.length === 0) throw new AppError('INVALID_AUDIO', 'Opus packet is empty');
    let out: Buffer;
    try {
      out = this.native.decode(Buffer.isBuffer(packet) ? packet : Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength));
    } catch (err) {
      throw new AppError('INVALID_AUDIO', `Opus packet could not be decoded: ${(err as Error).message}`, {
        packetBytes: packet.length,
      });
    }
    if ((out.byteOffset & 1) === 0) return new Int16Array(out.buffer, out.byteOffset, out.length >> 1);
    const copy = new Int16Array(out.length >> 1);
    for (let i = 0; i < copy.length; i++) copy[i] = out.readInt16LE(i * 2);
    return copy;
  }
}
