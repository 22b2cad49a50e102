/**
 * Cost of the speaker-feature extraction: `npm run bench:features [-- --json]`.
 *
 * Microseconds per 20 ms frame per participant for SpeakerAnalyzer.processFrame at each supported
 * input rate (speech from the corpus, clean and with 10 dB pink noise, where the pitch tracker runs
 * on most frames), and for ConversationAnalyzer.pushFrame with two participants and the 250 ms tick
 * amortised in. Allocation check: heap growth and GC count over a long pushFrame run without ticks
 * (a per-frame allocation would show up as bytes/frame and scavenges).
 */
import { cpus, loadavg } from 'node:os';
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

/**
 * CPU time of this process (user + system), us: with other work on the machine, wall time measures
 * the scheduler more than the code; CPU time is what the frame actually costs.
 */
function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
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

/** cpu: best of the runs (the least disturbed by other processes); cpuMedian and wall: medians */
interface Timing {
  cpu: number;
  cpuMedian: number;
  wall: number;
}

/** One timed pass over a track: CPU and wall microseconds per frame per participant. */
type Pass = () => { cpu: number; wall: number };

function time(frames: number, body: () => void): { cpu: number; wall: number } {
  const c0 = cpuUs();
  const t0 = process.hrtime.bigint();
  body();
  const wall = Number(process.hrtime.bigint() - t0) / 1000;
  return { cpu: (cpuUs() - c0) / frames, wall: wall / frames };
}

function speakerPass(x24: Int16Array, rate: FeatureSampleRate): Pass {
  const x = rerate(x24, 24000, rate);
  const fs = rate / 50;
  const frames = Math.floor(x.length / fs);
  const views: Int16Array[] = [];
  for (let f = 0; f < frames; f++) views.push(x.subarray(f * fs, (f + 1) * fs));
  return () => {
    const an = new SpeakerAnalyzer(rate);
    an.begin(0);
    return time(frames, () => {
      for (let f = 0; f < frames; f++) an.processFrame(views[f]);
    });
  };
}

function conversationPass(): Pass {
  const fs = 480;
  const frames = Math.floor(Math.min(cleanA.length, cleanB.length) / fs);
  const va: Int16Array[] = [];
  const vb: Int16Array[] = [];
  for (let f = 0; f < frames; f++) {
    va.push(cleanA.subarray(f * fs, (f + 1) * fs));
    vb.push(cleanB.subarray(f * fs, (f + 1) * fs));
  }
  return () => {
    const fa = new ConversationAnalyzer({ sampleRate: 24000 });
    const a = fa.addParticipant('a', 'human');
    const b = fa.addParticipant('b', 'human');
    return time(frames * 2, () => {
      for (let f = 0; f < frames; f++) {
        fa.pushFrame(a, va[f], f * 20);
        fa.pushFrame(b, vb[f], f * 20);
        if (Math.floor(((f + 1) * 20) / 250) > Math.floor((f * 20) / 250)) fa.tick(Math.floor(((f + 1) * 20) / 250) * 250);
      }
    });
  };
}

/**
 * Runs the passes round-robin (`reps` timed rounds after one warm-up round), so a change in machine
 * load hits every case alike instead of whichever case happened to run then.
 */
function roundRobin(passes: Pass[], reps = 5): Timing[] {
  const cpu: number[][] = passes.map(() => []);
  const wall: number[][] = passes.map(() => []);
  for (let r = 0; r <= reps; r++) {
    for (let i = 0; i < passes.length; i++) {
      const t = passes[i]();
      if (r === 0) continue; // warm-up: JIT
      cpu[i].push(t.cpu);
      wall[i].push(t.wall);
    }
  }
  return passes.map((_, i) => ({ cpu: Math.min(...cpu[i]), cpuMedian: median(cpu[i]), wall: median(wall[i]) }));
}

/**
 * Heap growth per frame and GC runs over `loops` passes of pushFrame only. `control` adds one small
 * allocation per frame, to show the method sees one (a 16-byte object per frame is ~3 MB here).
 */
async function allocation(loops: number, control: boolean): Promise<{ frames: number; bytesPerFrame: number; gcs: number }> {
  const fs = 480;
  const frames = Math.floor(noisyA.length / fs);
  const fa = new ConversationAnalyzer({ sampleRate: 24000 });
  const a = fa.addParticipant('a', 'human');
  // preallocate the views: subarray() allocates a view object, which is the caller's business
  const views: Int16Array[] = [];
  for (let f = 0; f < frames; f++) views.push(noisyA.subarray(f * fs, (f + 1) * fs));
  // warm up (JIT, inline caches) so compilation does not count as allocation
  let t = 0;
  for (let l = 0; l < 3; l++) {
    for (let f = 0; f < frames; f++) {
      fa.pushFrame(a, views[f], t);
      t += 20;
    }
  }
  let sink: unknown = null;
  let gcs = 0;
  const obs = new PerformanceObserver((list) => {
    gcs += list.getEntries().length;
  });
  gc();
  await new Promise((r) => setTimeout(r, 50));
  obs.observe({ entryTypes: ['gc'] });
  const before = process.memoryUsage().heapUsed;
  let n = 0;
  for (let l = 0; l < loops; l++) {
    for (let f = 0; f < frames; f++) {
      fa.pushFrame(a, views[f], t);
      if (control) sink = { t };
      t += 20;
      n++;
    }
  }
  const after = process.memoryUsage().heapUsed;
  await new Promise((r) => setTimeout(r, 50));
  obs.disconnect();
  if (sink === 1) console.log(sink);
  return { frames: n, bytesPerFrame: (after - before) / n, gcs };
}

const cases: { name: string; rate: number; pass: Pass }[] = [];
for (const rate of [8000, 16000, 24000, 48000] as FeatureSampleRate[]) {
  cases.push({ name: 'SpeakerAnalyzer, corpus speech (clean)', rate, pass: speakerPass(cleanA, rate) });
  cases.push({ name: 'SpeakerAnalyzer, speech + pink noise 10 dB', rate, pass: speakerPass(noisyA, rate) });
}
cases.push({ name: 'ConversationAnalyzer, 2 participants, pushFrame + 250 ms tick (per participant)', rate: 24000, pass: conversationPass() });
const timings = roundRobin(cases.map((c) => c.pass));
const rows = cases.map((c, i) => ({
  case: c.name,
  rate: c.rate,
  cpu_us_per_frame: timings[i].cpu,
  cpu_median_us_per_frame: timings[i].cpuMedian,
  wall_us_per_frame: timings[i].wall,
}));
const alloc = await allocation(150, false);
const control = await allocation(150, true);

const machine = { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version, loadavg: loadavg() };
if (json) {
  console.log(JSON.stringify({ machine, rows, allocation: alloc, allocation_control: control }, null, 2));
} else {
  console.log(`# Features cost — ${machine.model} x${machine.cpus}, node ${machine.node}, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
  console.log('| case | input rate | CPU us per 20 ms frame per participant (best of 5) | CPU us (median) | wall us (median) |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.case} | ${r.rate} | ${r.cpu_us_per_frame.toFixed(2)} | ${r.cpu_median_us_per_frame.toFixed(2)} | ${r.wall_us_per_frame.toFixed(2)} |`);
  console.log(`\nAllocation: ${alloc.frames} pushFrame calls (24 kHz, noisy speech, no ticks): heap growth ${alloc.bytesPerFrame.toFixed(3)} bytes/frame, ${alloc.gcs} GC runs.`);
  console.log(`Control (same loop + one 16-byte object per frame): ${control.bytesPerFrame.toFixed(3)} bytes/frame, ${control.gcs} GC runs.`);
}
