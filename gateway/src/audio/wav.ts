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
import { alawDecodeSample, mulawDecodeSample } from './g711.ts';
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

interface Fmt {
  audioFormat: number;
  numChannels: number;
  sampleRate: number;
  bitsPerSample: number;
  subformat?: number[];
}

const FORMAT_PCM = 1;
const FORMAT_FLOAT = 3;
const FORMAT_ALAW = 6;
const FORMAT_MULAW = 7;
const FORMAT_EXTENSIBLE = 0xfffe;

/**
 * Decodes interleaved little-endian sample data straight into a mono Float64 mix scaled to PCM16
 * (±32768). We decode ourselves because wavefile's `toBitDepth` takes ~24 s for one minute of 24 kHz
 * audio (measured on the corpus); wavefile still parses and validates the container.
 */
function decodeMono(fmt: Fmt, data: Uint8Array): Float64Array {
  let format = fmt.audioFormat;
  if (format === FORMAT_EXTENSIBLE && fmt.subformat !== undefined && fmt.subformat.length > 0) format = fmt.subformat[0]!;
  const bits = fmt.bitsPerSample;
  const channels = fmt.numChannels;
  const bytesPer = bits >> 3;
  const frames = Math.floor(data.length / (bytesPer * channels));
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const read = ((): ((off: number) => number) => {
    if (format === FORMAT_PCM && bits === 8) return (o) => (data[o]! - 128) * 256;
    if (format === FORMAT_PCM && bits === 16) return (o) => dv.getInt16(o, true);
    if (format === FORMAT_PCM && bits === 24) return (o) => ((data[o]! | (data[o + 1]! << 8) | (data[o + 2]! << 16)) << 8 >> 8) / 256;
    if (format === FORMAT_PCM && bits === 32) return (o) => dv.getInt32(o, true) / 65536;
    if (format === FORMAT_FLOAT && bits === 32) return (o) => dv.getFloat32(o, true) * 32768;
    if (format === FORMAT_FLOAT && bits === 64) return (o) => dv.getFloat64(o, true) * 32768;
    if (format === FORMAT_MULAW && bits === 8) return (o) => mulawDecodeSample(data[o]!);
    if (format === FORMAT_ALAW && bits === 8) return (o) => alawDecodeSample(data[o]!);
    throw new RangeError(`readWav: unsupported sample format ${fmt.audioFormat} with ${bits} bits`);
  })();
  const mono = new Float64Array(frames);
  const stride = bytesPer * channels;
  for (let f = 0; f < frames; f++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += read(f * stride + c * bytesPer);
    mono[f] = sum / channels;
  }
  return mono;
}

/**
 * Any common WAV (PCM 8/16/24/32-bit, float 32/64-bit, G.711 A-law/μ-law, any channel count, any
 * rate) -> PCM16 mono at `rate`, time-aligned (group delay removed). Channels are averaged. Throws a
 * RangeError for an unparsable or unsupported file.
 */
export function readWav(bytes: Uint8Array, rate: SampleRate): Int16Array {
  let wav: InstanceType<typeof WaveFile>;
  try {
    wav = new WaveFile(bytes);
  } catch (err) {
    throw new RangeError(`readWav: not a WAV file (${(err as Error).message})`);
  }
  if (wav.container !== 'RIFF' && wav.container !== 'RF64') {
    throw new RangeError(`readWav: unsupported container ${wav.container}`);
  }
  const fmt = wav.fmt as Fmt;
  if (!(fmt.sampleRate > 0) || !(fmt.numChannels > 0)) throw new RangeError('readWav: no usable fmt chunk');
  let mono = decodeMono(fmt, (wav.data as { samples: Uint8Array }).samples);
  let srcRate = fmt.sampleRate;
  if (!isSampleRate(srcRate)) {
    const target = nearestSupportedRate(srcRate);
    const tmp = new WaveFile();
    tmp.fromScratch(1, srcRate, '64', mono);
    tmp.toSampleRate(target, { method: 'sinc', LPF: false });
    mono = tmp.getSamples(false, Float64Array) as unknown as Float64Array;
    srcRate = target;
  }
  const pcm = floatToInt16(mono, 1);
  return resampleClip(pcm, srcRate as SampleRate, rate);
}

/** PCM16 mono samples -> a 16-bit mono WAV file. */
export function writeWav(samples: Int16Array, rate: number): Uint8Array {
  const wav = new WaveFile();
  wav.fromScratch(1, rate, '16', samples);
  return wav.toBuffer();
}
