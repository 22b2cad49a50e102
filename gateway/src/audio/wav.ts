/**
 * WAV in and out (not a hot path: files, fixtures, tests). Parsing and writing use `wavefile`; rate
 * conversion uses our Resampler.
 *
 * Input rates that are not one of ours (8/16/24/48 kHz), e.g. 11025, 22050, 44100 Hz: wavefile's sinc
 * interpolator first takes them UP to the nearest supported rate at or above them (48 kHz above 24 kHz),
 * which keeps their whole band, and our resampler then goes down to the requested rate. Only the second
 * step band-limits the signal, so the output has our resampler's stopband. This is slower than a
 * general-ratio polyphase design would be, but readWav is a load-time path.
 */
import wavefile from 'wavefile';
import { Resampler, SAMPLE_RATES, isSampleRate, type SampleRate } from './resampler.ts';

const { WaveFile } = wavefile;

/** The smallest supported rate >= `rate` (48 kHz for anything above 24 kHz). */
function nearestSupportedRate(rate: number): SampleRate {
  for (const r of SAMPLE_RATES) if (r >= rate) return r;
  return 48000;
}

function floatToInt16(x: Float64Array, gain: number): Int16Array {
  const out = new Int16Array(x.length);
  for (let i = 0; i < x.length; i++) {
    let v = x[i]! * gain;
    if (v >= 32767) v = 32767;
    else if (v <= -32768) v = -32768;
    else if (v !== v) v = 0;
    out[i] = Math.round(v);
  }
  return out;
}

/**
 * Resamples a whole clip with our resampler and removes its group delay, so the output lines up with
 * the input in time and has ceil(n * to / from) samples.
 */
export function resampleClip(samples: Int16Array, fromRate: SampleRate, toRate: SampleRate): Int16Array {
  if (fromRate === toRate) return samples.slice();
  const r = new Resampler(fromRate, toRate);
  const want = Math.ceil((samples.length * toRate) / fromRate);
  const skip = Math.round((r.delayMs * toRate) / 1000);
  const out = new Int16Array(want);
  let w = 0;
  let toSkip = skip;
  const take = (chunk: Int16Array): void => {
    for (let i = 0; i < chunk.length && w < want; i++) {
      if (toSkip > 0) {
        toSkip--;
        continue;
      }
      out[w++] = chunk[i]!;
    }
  };
  take(r.process(samples));
  take(r.flush());
  // A very short clip may not cover the delay: the rest stays zero (silence).
  return out;
}

/**
 * Any common WAV (PCM 8/16/24/32-bit, float 32/64-bit, any channel count, any rate) -> PCM16 mono at
 * `rate`. Channels are averaged. Throws a RangeError for an unparsable file.
 */
export function readWav(bytes: Uint8Array, rate: SampleRate): Int16Array {
  const wav = new WaveFile(bytes);
  const fmt = wav.fmt as { numChannels: number; sampleRate: number; bitsPerSample: number };
  if (!(fmt.sampleRate > 0) || !(fmt.numChannels > 0)) throw new RangeError('readWav: no usable fmt chunk');
  // wavefile converts any PCM or float depth to 64-bit float in [-1, 1].
  if (wav.bitDepth !== '64') wav.toBitDepth('64');
  const channels = fmt.numChannels;
  const raw = wav.getSamples(false, Float64Array) as unknown as Float64Array | Float64Array[];
  let mono: Float64Array;
  if (channels === 1) {
    mono = raw as Float64Array;
  } else {
    const chans = raw as Float64Array[];
    const n = chans[0]!.length;
    mono = new Float64Array(n);
    for (const ch of chans) for (let i = 0; i < n; i++) mono[i] += ch[i]!;
    for (let i = 0; i < n; i++) mono[i] /= channels;
  }
  let srcRate = fmt.sampleRate;
  if (!isSampleRate(srcRate)) {
    const target = nearestSupportedRate(srcRate);
    const tmp = new WaveFile();
    tmp.fromScratch(1, srcRate, '64', mono);
    tmp.toSampleRate(target, { method: 'sinc', LPF: false });
    mono = tmp.getSamples(false, Float64Array) as unknown as Float64Array;
    srcRate = target;
  }
  const pcm = floatToInt16(mono, 32768);
  return resampleClip(pcm, srcRate as SampleRate, rate);
}

/** PCM16 mono samples -> a 16-bit mono WAV file. */
export function writeWav(samples: Int16Array, rate: number): Uint8Array {
  const wav = new WaveFile();
  wav.fromScratch(1, rate, '16', samples);
  return wav.toBuffer();
}
