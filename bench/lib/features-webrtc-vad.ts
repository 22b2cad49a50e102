/**
 * WebRTC VAD baseline (libfvad compiled to WASM, @echogarden/fvad-wasm) over a PCM16 track: one
 * decision per 10 ms frame. Fed 8 kHz (WebRTC's VAD computes its features at 8 kHz whatever the input
 * rate), decimated with the same front end as our detector.
 */
import createFvad, { type FvadModule } from '@echogarden/fvad-wasm';
import { Decimator, type FeatureSampleRate } from '../../gateway/src/features/decimator.ts';

let mod: FvadModule | null = null;

export async function webrtcVad(x: Int16Array, rate: FeatureSampleRate, mode: 0 | 1 | 2 | 3): Promise<Uint8Array> {
  mod ??= await createFvad();
  const m = mod;
  const inst = m._fvad_new();
  if (m._fvad_set_mode(inst, mode) !== 0 || m._fvad_set_sample_rate(inst, 8000) !== 0) throw new Error('fvad setup failed');
  const ptr = m._malloc(80 * 2);
  const dec = new Decimator(rate);
  const frames = Math.floor(x.length / dec.inLength);
  const f8 = new Float64Array(dec.outLength);
  const out = new Uint8Array(frames * 2);
  const pcm = new Int16Array(80);
  for (let f = 0; f < frames; f++) {
    dec.process(x.subarray(f * dec.inLength, (f + 1) * dec.inLength), f8);
    for (let k = 0; k < 2; k++) {
      for (let i = 0; i < 80; i++) {
        const v = Math.round(f8[k * 80 + i] * 32768);
        pcm[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
      }
      m.HEAP16.set(pcm, ptr >> 1);
      out[f * 2 + k] = m._fvad_process(inst, ptr, 80) === 1 ? 1 : 0;
    }
  }
  m._free(ptr);
  m._fvad_free(inst);
  return out;
}
