import t from 'tap';
import { SpeakerAnalyzer, RING_MASK } from '../../gateway/src/features/speaker-analyzer.ts';
import { loadCorpus, addPinkNoise, labelFrames, prf, pinkNoise } from '../../bench/lib/features-corpus.ts';

const corpus = loadCorpus();

/** Final per-10-ms decisions of one track (the corpus tracks are < 40 s, the ring length). */
function vad(x: Int16Array, rate: 24000): Uint8Array {
  const an = new SpeakerAnalyzer(rate);
  an.begin(0);
  const fs = an.frameSamples;
  const frames = Math.floor(x.length / fs);
  for (let f = 0; f < frames; f++) an.processFrame(x.subarray(f * fs, (f + 1) * fs));
  an.flush();
  const out = new Uint8Array(frames * 2);
  for (let h = 0; h < out.length; h++) out[h] = an.speech[h & RING_MASK];
  return out;
}

for (const snr of [Infinity, 10]) {
  t.test(`corpus speech ${snr === Infinity ? 'clean' : `+ pink noise ${snr} dB`}: F1 over 10 ms frames`, async (t) => {
    const f1s: number[] = [];
    for (const conv of corpus) {
      for (const spk of Object.keys(conv.tracks)) {
        const clean = conv.tracks[spk];
        const regions = conv.labels.speech[spk];
        const x = snr === Infinity ? clean : addPinkNoise(clean, conv.rate, regions, snr, 100 + f1s.length);
        const hyp = vad(x, 24000);
        const m = prf(labelFrames(regions, hyp.length), hyp);
        f1s.push(m.f1);
        t.ok(m.f1 >= (snr === Infinity ? 0.95 : 0.88), `${conv.name}/${spk}: P ${m.precision.toFixed(3)} R ${m.recall.toFixed(3)} F1 ${m.f1.toFixed(3)}`);
      }
    }
    const mean = f1s.reduce((a, b) => a + b, 0) / f1s.length;
    t.ok(mean >= (snr === Infinity ? 0.95 : 0.9), `mean F1 ${mean.toFixed(3)}`);
  });
}

t.test('stationary pink noise alone (loud, -30 dBFS) is not speech after the floor settles', async (t) => {
  const n = pinkNoise(24000 * 10, 42);
  let p = 0;
  for (const v of n) p += v * v;
  const g = (32768 * 10 ** (-30 / 20)) / Math.sqrt(p / n.length);
  const x = new Int16Array(n.length);
  for (let i = 0; i < n.length; i++) x[i] = Math.round(n[i] * g);
  const hyp = vad(x, 24000);
  let fa = 0;
  for (let h = 100; h < hyp.length; h++) fa += hyp[h];
  t.ok(fa / (hyp.length - 100) < 0.01, `false alarms after 1 s: ${fa} of ${hyp.length - 100} frames`);
});

t.test('digital silence and room tone under -50 dBFS are never speech', async (t) => {
  const x = new Int16Array(24000 * 3);
  const n = pinkNoise(x.length, 5);
  for (let i = 24000; i < x.length; i++) x[i] = Math.round(n[i] * 30); // about -60 dBFS
  const hyp = vad(x, 24000);
  t.equal(hyp.reduce((a, b) => a + b, 0), 0);
});
