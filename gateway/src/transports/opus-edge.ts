/**
 * Opus at the native transport's edge: one packet per message in, PCM16 bytes out to the pipeline;
 * 20 ms PCM16 frames in, one packet per message out. libopus itself allocates its result buffers
 * (the binding copies), which is the cost of the codec, not of the pipeline around it.
 */
import { OpusCodec, type OpusRate } from '../../../native-bindings/opus.ts';
import { int16Of } from '../session/format-converter.ts';

export interface EdgeCodec {
  /** PCM16LE bytes of one packet, or null if the packet is corrupt */
  decode(packet: Uint8Array): Uint8Array | null;
  /** one packet for one 20 ms PCM16LE frame, or null if it cannot be encoded */
  encode(frame: Uint8Array): Uint8Array | null;
  close(): void;
}

export function createOpusEdge(sampleRate: OpusRate): EdgeCodec {
  const codec = new OpusCodec({ sampleRate });
  return {
    decode(packet) {
      try {
        const pcm = codec.decode(packet);
        return new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength);
      } catch {
        return null;
      }
    },
    encode(frame) {
      try {
        return codec.encode(int16Of(frame));
      } catch {
        return null;
      }
    },
    close() {},
  };
}
