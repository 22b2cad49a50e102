import t from 'tap';
import { ConversationAnalyzer } from '../../gateway/src/features/analyzer.ts';
import { loadCorpus } from '../../bench/lib/features-corpus.ts';
import { syllableTrain } from './synth.ts';

function rateOf(x: Int16Array): number | null {
  const fa = new ConversationAnalyzer({ sampleRate: 24000 });
  const i = fa.addParticipant('p', 'human');
  const fs = fa.frameSamples;
  for (let f = 0; f < Math.floor(x.length / fs); f++) fa.pushFrame(i, x.subarray(f * fs, (f + 1) * fs), f * 20);
  return fa.summary().participants[0].speaking_rate_syll_per_s;
}

t.test('synthetic syllable trains: rate within 15 %', async (t) => {
  for (const [rate, f0] of [[3, 120], [4.5, 200], [6, 150], [7, 110]] as const) {
    const r = rateOf(syllableTrain(24000, 8, rate, f0, 9000));
    t.ok(r !== null && Math.abs(r - rate) / rate <= 0.15, `${rate} syll/s at ${f0} Hz -> ${r}`);
  }
});

t.test('corpus speakers: median speaking-rate error <= 15 %', async (t) => {
  const errs: number[] = [];
  for (const conv of loadCorpus()) {
    for (const spk of Object.keys(conv.tracks)) {
      const r = rateOf(conv.tracks[spk]);
      const ref = conv.labels.speaking_rate_syll_per_s[spk];
      t.not(r, null, `${conv.name}/${spk} has a rate`);
      errs.push(Math.abs((r ?? 0) - ref) / ref);
    }
  }
  errs.sort((a, b) => a - b);
  const median = 0.5 * (errs[errs.length / 2 - 1] + errs[errs.length / 2]);
  t.ok(median <= 0.15, `median error ${(100 * median).toFixed(1)} % (${errs.map((e) => (100 * e).toFixed(0)).join(', ')})`);
});
