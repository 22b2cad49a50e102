/**
 * Cost of the speaker-feature extraction: `npm run bench:features [-- --json]`.
 *
 * Microseconds per 20 ms frame per participant for SpeakerAnalyzer.processFrame at each supported
 * input rate (speech from the corpus, clean and with 10 dB pink noise, where the pitch tracker runs
 * on most frames), and for ConversationAnalyzer.pushFrame with two participants and the 250 ms tick
 * amortised in. Allocation check: heap growth and GC count over a long pushFrame run without ticks
 * (a per-frame allocation would show up as bytes/frame and scavenges).
 */
import { cpus } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { PerformanceObserver } from 'node:perf_hooks';
import { SpeakerAnalyzer, ConversationAnalyzer, type FeatureSampleRate } from '../gateway/src/features/index.ts';
import { loadCorpus, addPinkNoise } from './lib/features-corpus.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const json = process.argv.includes('--json');

/** Linear-interpolation rate change (cost benchmarking only: the content just has to be speech-like). */
function rerate(x: Int16Array, from: number, to: number): Int16Array {
  if (from === to) return x;
  const n = Math.floor((x.length * to) / from);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    const p = (i * from) / to;
    const k = Math.floor(p);
    const f = p - k;
    out[i] = Math.round(x[k] * (1 - f) + (x[Math.min(k + 1, x.length - 1)] ?? 0) * f);
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const corpus = loadCorpus();
const conv = corpus[0];
const cleanA = conv.tracks.a;
const cleanB = conv.tracks.b;
const noisyA = addPinkNoise(cleanA, conv.rate, conv.labels.speech.a, 10, 7);

function benchSpeaker(x24: Int16Array, rate: FeatureSampleRate, reps = 5): number {
  const x = rerate(x24, 24000, rate);
  const fs = rate / 50;
  const frames = Math.floor(x.length / fs);
  const times: number[] = [];
  for (let r = 0; r < reps + 1; r++) {
    const an = new SpeakerAnalyzer(rate);
    an.begin(0);
    const t0 = process.hrtime.bigint();
    for (let f = 0; f < frames; f++) an.processFrame(x.subarray(f * fs, (f + 1) * fs));
    const dt = Number(process.hrtime.bigint() - t0) / 1000;
    if (r > 0) times.push(dt / frames); // first run warms the JIT
  }
  return median(times);
}

function benchConversation(reps = 5): number {
  const fs = 480;
  const frames = Math.floor(Math.min(cleanA.length, cleanB.length) / fs);
  const times: number[] = [];
  for (let r = 0; r < reps + 1; r++) {
    const fa = new ConversationAnalyzer({ sampleRate: 24000 });
    const a = fa.addParticipant('a', 'human');
    const b = fa.addParticipant('b', 'human');
    const t0 = process.hrtime.bigint();
    for (let f = 0; f < frames; f++) {
      fa.pushFrame(a, cleanA.subarray(f * fs, (f + 1) * fs), f * 20);
      fa.pushFrame(b, cleanB.subarray(f * fs, (f + 1) * fs), f * 20);
      if (Math.floor(((f + 1) * 20) / 250) > Math.floor((f * 20) / 250)) fa.tick(Math.floor(((f + 1) * 20) / 250) * 250);
    }
    const dt = Number(process.hrtime.bigint() - t0) / 1000;
    if (r > 0) times.push(dt / (frames * 2));
  }
  return median(times);
}

/** Heap growth per frame and GC runs over `loops` passes of pushFrame only. */
async function allocation(loops = 20): Promise<{ frames: number; bytesPerFrame: number; gcs: number }> {
  const fs = 480;
  const frames = Math.floor(noisyA.length / fs);
  const fa = new ConversationAnalyzer({ sampleRate: 24000 });
  const a = fa.addParticipant('a', 'human');
  // warm up (JIT, inline caches) so compilation does not count as allocation
  for (let f = 0; f < frames; f++) fa.pushFrame(a, noisyA.subarray(f * fs, (f + 1) * fs), f * 20);
  // preallocate the views: subarray() allocates a view object, which is the caller's business
  const views: Int16Array[] = [];
  for (let f = 0; f < frames; f++) views.push(noisyA.subarray(f * fs, (f + 1) * fs));
  let gcs = 0;
  const obs = new PerformanceObserver((list) => {
    gcs += list.getEntries().length;
  });
  gc();
  await new Promise((r) => setTimeout(r, 50));
  obs.observe({ entryTypes: ['gc'] });
  const before = process.memoryUsage().heapUsed;
  let t = frames * 20;
  let n = 0;
  for (let l = 0; l < loops; l++) {
    for (let f = 0; f < frames; f++) {
      fa.pushFrame(a, views[f], t);
      t += 20;
      n++;
    }
  }
  const after = process.memoryUsage().heapUsed;
  await new Promise((r) => setTimeout(r, 50));
  obs.disconnect();
  return { frames: n, bytesPerFrame: (after - before) / n, gcs };
}

const rows: { case: string; rate: number; us_per_frame: number }[] = [];
for (const rate of [8000, 16000, 24000, 48000] as FeatureSampleRate[]) {
  rows.push({ case: 'SpeakerAnalyzer, corpus speech (clean)', rate, us_per_frame: benchSpeaker(cleanA, rate) });
  rows.push({ case: 'SpeakerAnalyzer, speech + pink noise 10 dB', rate, us_per_frame: benchSpeaker(noisyA, rate) });
}
rows.push({ case: 'ConversationAnalyzer, 2 participants, pushFrame + 250 ms tick (per participant)', rate: 24000, us_per_frame: benchConversation() });
const alloc = await allocation();

const machine = { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version };
if (json) {
  console.log(JSON.stringify({ machine, rows, allocation: alloc }, null, 2));
} else {
  console.log(`# Features cost — ${machine.model} x${machine.cpus}, node ${machine.node}\n`);
  console.log('| case | input rate | us per 20 ms frame per participant |');
  console.log('|---|---|---|');
  for (const r of rows) console.log(`| ${r.case} | ${r.rate} | ${r.us_per_frame.toFixed(2)} |`);
  console.log(`\nAllocation: ${alloc.frames} pushFrame calls (24 kHz, noisy speech, no ticks): heap growth ${alloc.bytesPerFrame.toFixed(3)} bytes/frame, ${alloc.gcs} GC runs.`);
}
