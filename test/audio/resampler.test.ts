import t from 'tap';
import { MAX_DELAY_MS, PROTOTYPE_SPECS } from '../../gateway/src/audio/fir-prototype-specs.ts';
import { Resampler, SAMPLE_RATES, resamplerDesign, type SampleRate } from '../../gateway/src/audio/resampler.ts';
import {
  FULL_SCALE_SINE_RMS,
  aliasFrequency,
  db,
  decimationDitherLsb,
  ditheredSineInt16,
  fitSine,
  polyphaseGain,
  rms,
  sineInt16,
  thdPlusNDb,
  worstImageDb,
} from '../../bench/lib/dsp-measure.ts';

const PAIRS: [SampleRate, SampleRate][] = [];
for (const a of SAMPLE_RATES) for (const b of SAMPLE_RATES) if (a !== b) PAIRS.push([a, b]);

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** Whole signal through a fresh resampler in one call (plus flush), concatenated. */
function runAll(from: SampleRate, to: SampleRate, x: Int16Array): Int16Array {
  const r = new Resampler(from, to);
  const a = r.process(x).slice();
  const b = r.flush();
  const out = new Int16Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Steady-state window of the output: skip the filter's start-up transient and the tail. */
function steady(from: SampleRate, to: SampleRate, outLen: number): [number, number] {
  const d = resamplerDesign(from, to);
  const skip = Math.ceil((d.length / d.up / from) * to) + 8;
  return [skip, outLen - skip];
}

t.test('chunk invariance: random chunks of 1..2000 samples give exactly the same output', async (t) => {
  const rand = rng(42);
  for (const [from, to] of PAIRS) {
    const n = Math.round(from * 0.6);
    const x = new Int16Array(n);
    for (let i = 0; i < n; i++) x[i] = Math.round((rand() * 2 - 1) * 20000 + 8000 * Math.sin(i * 0.01));
    const whole = runAll(from, to, x);
    const r = new Resampler(from, to);
    const parts: number[] = [];
    for (let off = 0; off < n; ) {
      const len = Math.min(n - off, 1 + Math.floor(rand() * 2000));
      for (const v of r.process(x.subarray(off, off + len))) parts.push(v);
      off += len;
    }
    for (const v of r.flush()) parts.push(v);
    t.equal(parts.length, whole.length, `${from}->${to} length`);
    let diff = 0;
    for (let i = 0; i < whole.length; i++) if (parts[i] !== whole[i]) diff++;
    t.equal(diff, 0, `${from}->${to}: identical samples`);
    // total length: ceil(n * to / from) plus the delay tail
    t.ok(whole.length >= Math.ceil((n * to) / from), `${from}->${to} covers the input`);
  }
});

t.test('identity passes through', async (t) => {
  const r = new Resampler(16000, 16000);
  const x = Int16Array.from([1, 2, 3]);
  t.equal(r.process(x), x);
  t.equal(r.flush().length, 0);
  t.equal(r.delayMs, 0);
});

t.test('group delay stated and <= 2.5 ms; measured delay matches', async (t) => {
  for (const [from, to] of PAIRS) {
    const r = new Resampler(from, to);
    t.ok(r.delayMs > 0 && r.delayMs <= 2.5, `${from}->${to} delay ${r.delayMs.toFixed(3)} ms`);
    // a 500 Hz tone: compare output phase with the input phase to measure the delay
    const f = 500;
    const x = sineInt16(Math.round(from * 0.3), f, from, 20000);
    const y = runAll(from, to, x);
    const [s, e] = steady(from, to, Math.round(to * 0.3));
    const fit = fitSine(y, f, to, s, e);
    // y[i] = A sin(w (i/to - D) ...): phase at index s is w*(s/to - D)
    const expectedPhase = 2 * Math.PI * f * (s / to - r.delayMs / 1000);
    let dphi = fit.phase - expectedPhase;
    dphi = Math.atan2(Math.sin(dphi), Math.cos(dphi));
    t.ok(Math.abs(dphi) < 1e-3, `${from}->${to} phase error ${dphi.toExponential(2)} rad`);
  }
});

t.test('each pair runs the longest prototype of its ratio that fits the delay budget', async (t) => {
  for (const [from, to] of PAIRS) {
    const d = resamplerDesign(from, to);
    const rate = from * d.up;
    const fitting = PROTOTYPE_SPECS.filter((s) => s.ratio === d.ratio && ((s.length - 1) / 2 / rate) * 1000 <= MAX_DELAY_MS);
    t.equal(d.length, Math.max(...fitting.map((s) => s.length)), `${from}->${to}: ${d.length} taps at ${rate} Hz`);
  }
  // the 48 kHz-intermediate pairs are the ones with room for the deep design
  t.equal(resamplerDesign(24000, 16000).length, 131);
  t.equal(resamplerDesign(16000, 48000).length, 131);
  t.equal(resamplerDesign(8000, 24000).length, 99);
});

t.test('polyphaseGain (the bench filter-only stopband) agrees with what the resampler does', async (t) => {
  for (const [from, to] of PAIRS) {
    const f = 0.6 * (Math.min(from, to) / 2);
    const y = runAll(from, to, sineInt16(Math.round(from * 0.25), f, from, 16000, 0.3));
    const [s, e] = steady(from, to, Math.round(to * 0.25));
    const measured = db(fitSine(y, f, to, s, e).amplitude / 16000);
    const computed = db(polyphaseGain(resamplerDesign(from, to), f));
    t.ok(Math.abs(measured - computed) < 0.002, `${from}->${to} at ${f} Hz: measured ${measured.toFixed(4)} dB, computed ${computed.toFixed(4)} dB`);
  }
  // In the stopband, above the PCM16 floor: 24k->8k's worst alias (~-113 dB) measured on PCM16, with
  // enough dither to keep the output rounding linear.
  const [from, to] = [24000, 8000] as const;
  const d = resamplerDesign(from, to);
  let f = 4600;
  for (let g = 4600; g < 12000; g += 5) if (polyphaseGain(d, g) > polyphaseGain(d, f)) f = g;
  const y = runAll(from, to, ditheredSineInt16(from * 2, f, from, 32766, 0.1, 7, decimationDitherLsb(from, to)));
  const [s, e] = steady(from, to, to * 2);
  const measured = db(fitSine(y, aliasFrequency(f, to), to, s, e).amplitude / 32766);
  const computed = db(polyphaseGain(d, f));
  t.ok(Math.abs(measured - computed) < 3, `24k->8k alias of ${f} Hz: measured ${measured.toFixed(1)} dB, computed ${computed.toFixed(1)} dB`);
});

t.test('passband: sines up to 0.85 x the lower Nyquist within 0.1 dB', async (t) => {
  for (const [from, to] of PAIRS) {
    const nyq = Math.min(from, to) / 2;
    let worst = 0;
    for (let k = 1; k <= 12; k++) {
      const f = (0.85 * nyq * k) / 12;
      const x = sineInt16(Math.round(from * 0.25), f, from, 16000, 0.3);
      const y = runAll(from, to, x);
      const [s, e] = steady(from, to, Math.round(to * 0.25));
      const g = Math.abs(db(fitSine(y, f, to, s, e).amplitude / 16000));
      if (g > worst) worst = g;
    }
    t.ok(worst <= 0.1, `${from}->${to} passband deviation ${worst.toFixed(4)} dB`);
  }
});

t.test('stopband: downsampled full-scale sines above 1.15 x output Nyquist are >= 85 dB down', async (t) => {
  for (const [from, to] of PAIRS) {
    if (to > from) continue;
    const lo = 1.15 * (to / 2);
    const hi = from / 2;
    let worst = -Infinity;
    let worstF = 0;
    for (let k = 0; k <= 40; k++) {
      const f = k === 40 ? hi * 0.999 : lo + ((hi - lo) * k) / 40;
      const x = sineInt16(Math.round(from * 0.2), f, from, 32767, 0.1);
      const y = runAll(from, to, x);
      const [s, e] = steady(from, to, Math.round(to * 0.2));
      const level = db(rms(y, s, e) / FULL_SCALE_SINE_RMS);
      if (level > worst) {
        worst = level;
        worstF = f;
      }
    }
    t.ok(worst <= -85, `${from}->${to} worst output ${worst.toFixed(1)} dBFS (at ${worstF.toFixed(0)} Hz)`);
  }
});

t.test('stopband: upsampling images of passband sines are >= 85 dB below the sine', async (t) => {
  for (const [from, to] of PAIRS) {
    if (to < from) continue;
    const nyq = from / 2;
    let worst = -Infinity;
    for (let k = 1; k <= 8; k++) {
      const f = (0.85 * nyq * k) / 8;
      const x = sineInt16(Math.round(from * 0.25), f, from, 32000, 0.2);
      const y = runAll(from, to, x);
      const [s, e] = steady(from, to, Math.round(to * 0.25));
      const level = worstImageDb(y, f, from, to, 32000, s, e);
      if (level > worst) worst = level;
    }
    t.ok(worst <= -85, `${from}->${to} worst image ${worst.toFixed(1)} dB`);
  }
});

t.test('THD+N of a 1 kHz sine at -1 dBFS is >= 85 dB below it', async (t) => {
  const amp = 32767 * Math.pow(10, -1 / 20);
  for (const [from, to] of PAIRS) {
    const x = sineInt16(Math.round(from * 0.25), 1000, from, amp);
    const y = runAll(from, to, x);
    const [s, e] = steady(from, to, Math.round(to * 0.25));
    const thdn = thdPlusNDb(y, 1000, to, s, e);
    t.ok(thdn <= -85, `${from}->${to} THD+N ${thdn.toFixed(1)} dB`);
  }
});

t.test('steady 20 ms frames reuse the output buffer', async (t) => {
  const r = new Resampler(24000, 16000);
  const frame = sineInt16(480, 440, 24000, 1000);
  const first = r.process(frame);
  t.equal(first.length, 320);
  const second = r.process(frame);
  t.equal(second, first, 'same view object returned for the same length');
  t.ok(r.maxOutput(480) >= 320);
});

t.test('rejects unsupported rates', async (t) => {
  t.throws(() => new Resampler(44100 as SampleRate, 16000));
});

t.test('SIMD kernel matches a direct float64 polyphase evaluation within 1 LSB', async (t) => {
  const rand = rng(5);
  for (const [from, to] of PAIRS) {
    const d = resamplerDesign(from, to);
    // prototype h[i] (gain `up` included) from the reversed per-phase table
    const h = new Float64Array(d.up * d.taps);
    for (let p = 0; p < d.up; p++) for (let k = 0; k < d.taps; k++) h[p + k * d.up] = d.coeffs[p * d.taps + (d.taps - 1 - k)]!;
    const n = 3000;
    const x = new Int16Array(n);
    for (let i = 0; i < n; i++) x[i] = Math.round((rand() * 2 - 1) * 30000);
    const y = runAll(from, to, x);
    let worst = 0;
    for (let m = 0; m < Math.floor((n * to) / from); m++) {
      const tt = m * d.down;
      let acc = 0;
      for (let i = 0; i < h.length; i++) {
        const idx = tt - i;
        if (idx % d.up !== 0) continue;
        const xi = idx / d.up;
        if (xi >= 0 && xi < n) acc += h[i]! * x[xi]!;
      }
      const ref = Math.max(-32768, Math.min(32767, Math.round(acc)));
      worst = Math.max(worst, Math.abs(ref - y[m]!));
    }
    t.ok(worst <= 1, `${from}->${to} max deviation ${worst} LSB`);
  }
});

t.test('a returned view survives other resamplers growing the shared memory', async (t) => {
  const r = new Resampler(24000, 8000);
  const x = sineInt16(480, 440, 24000, 12000);
  r.process(x);
  const view = r.process(x);
  const copy = view.slice();
  const others: Resampler[] = [];
  for (let i = 0; i < 300; i++) others.push(new Resampler(48000, 8000));
  others[0]!.process(new Int16Array(200_000)); // record-long input: grows its history block
  t.equal(view.length, 160);
  t.same(Array.from(view), Array.from(copy), 'contents unchanged');
  t.same(Array.from(r.process(x)), Array.from(copy), 'and the stream continues identically');
  for (const o of others) o.dispose();
});

t.test('dispose returns the block for reuse and makes the instance unusable', async (t) => {
  const { firArena } = await import('../../gateway/src/audio/fir-arena.ts');
  const a = new Resampler(16000, 8000);
  a.process(new Int16Array(320));
  a.dispose();
  t.throws(() => a.process(new Int16Array(320)), /dispose/);
  const used = firArena().usedBytes;
  const b = new Resampler(16000, 8000);
  t.equal(firArena().usedBytes, used, 'the freed block was reused');
  t.equal(b.process(new Int16Array(320)).length, 160);
  b.dispose();
  a.dispose(); // idempotent
});
