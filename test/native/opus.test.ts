import t from 'tap';
import { readFileSync } from 'node:fs';
import { OpusCodec, type OpusRate } from '../../native-bindings/opus.ts';
import { AppError } from '../../shared/src/errors.ts';
import { readWav } from '../../gateway/src/audio/wav.ts';

const corpus = new URL('../../../shared/corpus/conv00/', import.meta.url);
const labels = JSON.parse(readFileSync(new URL('labels.json', corpus), 'utf8')) as { speech: { a: [number, number][] } };
const wavBytes = readFileSync(new URL('a.wav', corpus));

/** Best normalised cross-correlation of y against x over lags 0..maxLag (y delayed by the codec). */
function alignedCorrelation(x: Int16Array, y: Int16Array, maxLag: number): { lag: number; r: number } {
  let best = { lag: 0, r: -1 };
  const n = Math.min(x.length, y.length - maxLag);
  for (let lag = 0; lag <= maxLag; lag++) {
    let sxy = 0, sxx = 0, syy = 0;
    for (let i = 0; i < n; i++) {
      const a = x[i]!;
      const b = y[i + lag]!;
      sxy += a * b; sxx += a * a; syy += b * b;
    }
    const r = sxy / Math.sqrt(sxx * syy);
    if (r > best.r) best = { lag, r };
  }
  return best;
}

for (const rate of [16000, 24000, 48000] as OpusRate[]) {
  t.test(`round trip of corpus speech at ${rate} Hz correlates > 0.9 after aligning the codec delay`, async (t) => {
    const pcm = readWav(wavBytes, rate as 16000 | 24000 | 48000);
    const [s0, s1] = labels.speech.a[0]!; // the first talk spurt (0.3 .. 5.0 s)
    const start = Math.round(s0 * rate);
    const frame = (rate * 20) / 1000;
    const frames = Math.floor(((s1 - s0) * rate) / frame);
    const codec = new OpusCodec({ sampleRate: rate });
    t.equal(codec.frameSamples, frame);
    const input = pcm.subarray(start, start + frames * frame);
    const output = new Int16Array(input.length);
    let bytes = 0;
    let wrongLength = 0;
    for (let f = 0; f < frames; f++) {
      const packet = codec.encode(input.subarray(f * frame, (f + 1) * frame));
      bytes += packet.length;
      const dec = codec.decode(packet);
      if (dec.length !== frame) wrongLength++;
      output.set(dec, f * frame);
    }
    t.equal(wrongLength, 0, 'every packet decodes to one 20 ms frame');
    // Opus' algorithmic delay is 6.5 ms; search up to 10 ms over the first 2 s.
    const { lag, r } = alignedCorrelation(input.subarray(0, rate * 2), output.subarray(0, rate * 2 + rate / 100), Math.round(rate * 0.01));
    t.ok(r > 0.9, `correlation ${r.toFixed(3)} at lag ${lag} samples (${((lag / rate) * 1000).toFixed(2)} ms)`);
    const kbps = (bytes * 8) / (frames * 0.02) / 1000;
    t.ok(kbps > 10 && kbps < 48, `bitrate ${kbps.toFixed(1)} kbit/s near the 32 kbit/s target`);
  });
}

t.test('a corrupt packet gives INVALID_AUDIO and the decoder keeps working', async (t) => {
  const codec = new OpusCodec({ sampleRate: 24000 });
  const good = codec.encode(new Int16Array(480).map((_, i) => Math.round(5000 * Math.sin(i / 5))));
  for (const bad of [Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff]), new Uint8Array(2000).fill(0xfc), new Uint8Array(0)]) {
    const err = t.throws(() => codec.decode(bad)) as unknown;
    t.ok(err instanceof AppError, 'AppError');
    t.equal((err as AppError).code, 'INVALID_AUDIO');
    t.match((err as AppError).message, /Opus packet/);
  }
  t.equal(codec.decode(good).length, 480, 'still decodes');
});

t.test('encode rejects a frame that is not 20 ms instead of aborting the process', async (t) => {
  const codec = new OpusCodec({ sampleRate: 16000 });
  const err = t.throws(() => codec.encode(new Int16Array(100))) as AppError;
  t.equal(err.code, 'INVALID_AUDIO');
  t.match(err.message, /exactly 320 samples/);
  t.equal(codec.encode(new Int16Array(320)).length > 0, true, 'a right-sized frame still encodes');
  t.throws(() => new OpusCodec({ sampleRate: 44100 as OpusRate }), RangeError);
});
