import t from 'tap';
import { readFileSync } from 'node:fs';
import wavefile from 'wavefile';
import { readWav, resampleClip, writeWav } from '../../gateway/src/audio/wav.ts';
import { fitSine, sineFloat, sineInt16 } from '../../bench/lib/dsp-measure.ts';

const { WaveFile } = wavefile;

function wavOf(channels: Float64Array[], rate: number, depth: string): Uint8Array {
  const w = new WaveFile();
  // wavefile takes samples in the target depth's native scale
  const scale = depth === '32f' || depth === '64' ? 1 : depth === '8' ? 127 : 2 ** (Number(depth) - 1) - 1;
  const offset = depth === '8' ? 128 : 0;
  const scaled = channels.map((c) => Array.from(c, (v) => (scale === 1 ? v : Math.round(v * scale) + offset)));
  w.fromScratch(channels.length, rate, depth, channels.length === 1 ? scaled[0]! : scaled);
  return w.toBuffer();
}

t.test('writeWav -> readWav round trip at the same rate is exact', async (t) => {
  const x = sineInt16(1600, 440, 16000, 12000);
  const back = readWav(writeWav(x, 16000), 16000);
  t.same(Array.from(back), Array.from(x));
});

t.test('8/16/24/32-bit int and 32-bit float, stereo, other rates -> PCM16 mono at the requested rate', async (t) => {
  const cases: [string, number, number][] = [
    ['8', 8000, 1],
    ['16', 48000, 2],
    ['24', 44100, 2],
    ['32', 22050, 1],
    ['32f', 16000, 2],
  ];
  for (const [depth, rate, channels] of cases) {
    const n = Math.round(rate * 0.5);
    const left = sineFloat(n, 500, rate, 0.5);
    const chans = channels === 1 ? [left] : [left, sineFloat(n, 500, rate, 0.5)];
    const out = readWav(wavOf(chans, rate, depth), 24000);
    t.ok(Math.abs(out.length - 12000) <= 1, `${depth}-bit ${rate} Hz x${channels}: ${out.length} samples`);
    const fit = fitSine(out, 500, 24000, 1000, out.length - 1000);
    const tol = depth === '8' ? 0.02 : 0.005; // passband ripple is up to 0.03 dB (0.35%)
    t.ok(Math.abs(fit.amplitude / 16384 - 1) < tol, `${depth}-bit amplitude ${fit.amplitude.toFixed(1)}`);
    // delay-compensated: phase of the output matches the input's (sin from phase 0)
    // delay removed to within half an output sample (plus wavefile's interpolator for 44.1/22.05 kHz)
    const err = Math.abs(Math.atan2(Math.sin(fit.phase - (2 * Math.PI * 500 * 1000) / 24000), Math.cos(fit.phase - (2 * Math.PI * 500 * 1000) / 24000)));
    t.ok(err <= (Math.PI * 500) / 24000 + 0.01, `${depth}-bit aligned in time (phase error ${err.toFixed(4)} rad)`);
  }
});

t.test('reads the corpus (24 kHz PCM16) and resamples to 8 kHz', async (t) => {
  const bytes = readFileSync(new URL('../../../shared/corpus/conv00/a.wav', import.meta.url));
  const at24 = readWav(bytes, 24000);
  const at8 = readWav(bytes, 8000);
  t.ok(at24.length > 24000, 'more than a second of speech');
  t.equal(at8.length, Math.ceil(at24.length / 3));
});

t.test('resampleClip keeps length and alignment', async (t) => {
  const x = sineInt16(4800, 300, 48000, 10000);
  const y = resampleClip(x, 48000, 8000);
  t.equal(y.length, 800);
  const fit = fitSine(y, 300, 8000, 100, 700);
  const d = fit.phase - (2 * Math.PI * 300 * 100) / 8000;
  t.ok(Math.abs(Math.atan2(Math.sin(d), Math.cos(d))) <= (Math.PI * 300) / 8000, 'within half an output sample');
});

t.test('garbage is rejected', async (t) => {
  t.throws(() => readWav(new Uint8Array([1, 2, 3, 4]), 16000));
});
