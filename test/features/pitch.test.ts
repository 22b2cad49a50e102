import t from 'tap';
import { Decimator, HalfDecimator } from '../../gateway/src/features/decimator.ts';
import { YinPitch } from '../../gateway/src/features/pitch.ts';
import { harmonicTone } from './synth.ts';
import { pinkNoise } from '../../bench/lib/features-corpus.ts';

/** Median F0 over the frames of x (after the first 60 ms), 0 when no frame was voiced. */
function trackPitch(x: Int16Array, rate: 8000 | 16000 | 24000 | 48000): { median: number; voiced: number; frames: number } {
  const dec = new Decimator(rate);
  const half = new HalfDecimator(dec.outLength);
  const yin = new YinPitch();
  const x8 = new Float64Array(dec.outLength);
  const x4 = new Float64Array(dec.outLength / 2);
  const f0s: number[] = [];
  const frames = Math.floor(x.length / dec.inLength);
  for (let f = 0; f < frames; f++) {
    dec.process(x.subarray(f * dec.inLength, (f + 1) * dec.inLength), x8);
    half.process(x8, x4);
    yin.push(x8, x4);
    if (f < 3) continue;
    yin.estimate();
    if (yin.f0 > 0) f0s.push(yin.f0);
  }
  f0s.sort((a, b) => a - b);
  return { median: f0s.length ? f0s[Math.floor(f0s.length / 2)] : 0, voiced: f0s.length, frames: frames - 3 };
}

t.test('pure tones 70-380 Hz within 2 % at every input rate', async (t) => {
  for (const rate of [8000, 16000, 24000, 48000] as const) {
    for (const f0 of [70, 100, 133, 180, 220, 290, 380]) {
      const r = trackPitch(harmonicTone(rate, 0.6, f0, 8000, 1), rate);
      t.ok(Math.abs(r.median - f0) / f0 < 0.02, `${rate} Hz input, ${f0} Hz tone -> ${r.median.toFixed(1)}`);
      t.ok(r.voiced >= 0.9 * r.frames, `${rate}/${f0}: voiced in ${r.voiced}/${r.frames} frames`);
    }
  }
});

t.test('harmonic signals (voice-like, strong upper partials) within 2 %, no octave errors', async (t) => {
  for (const f0 of [85, 110, 150, 200, 250, 320]) {
    const r = trackPitch(harmonicTone(24000, 0.6, f0, 8000, 15), 24000);
    t.ok(Math.abs(r.median - f0) / f0 < 0.02, `${f0} Hz, 15 harmonics -> ${r.median.toFixed(1)}`);
  }
});

t.test('harmonic signal in 20 dB pink noise still within 2 %', async (t) => {
  const x = harmonicTone(24000, 0.8, 160, 6000, 10);
  const n = pinkNoise(x.length, 3);
  let px = 0, pn = 0;
  for (let i = 0; i < x.length; i++) { px += x[i] * x[i]; pn += n[i] * n[i]; }
  const g = Math.sqrt(px / pn / 100);
  const y = new Int16Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = Math.round(x[i] + g * n[i]);
  const r = trackPitch(y, 24000);
  t.ok(Math.abs(r.median - 160) / 160 < 0.02, `160 Hz in noise -> ${r.median.toFixed(1)}`);
});

t.test('noise is not voiced', async (t) => {
  const n = pinkNoise(24000, 9);
  const x = new Int16Array(n.length);
  let p = 0;
  for (const v of n) p += v * v;
  const g = 3000 / Math.sqrt(p / n.length);
  for (let i = 0; i < n.length; i++) x[i] = Math.round(n[i] * g);
  const r = trackPitch(x, 24000);
  t.ok(r.voiced <= 0.1 * r.frames, `voiced frames in pink noise: ${r.voiced}/${r.frames}`);
});
