import t from 'tap';
import { designPrototype, measurePrototype } from '../../gateway/src/audio/fir-design.ts';
import { PROTOTYPE_SPECS, prototypeKey } from '../../gateway/src/audio/fir-prototype-specs.ts';
import { PROTOTYPE_HALVES } from '../../gateway/src/audio/fir-prototypes.ts';

function full(half: readonly number[]): Float64Array {
  const m = half.length - 1;
  const h = new Float64Array(2 * m + 1);
  for (let k = 0; k <= m; k++) h[m + k] = h[m - k] = half[k]!;
  return h;
}

t.test('embedded prototypes meet the spec (ripple < 0.05 dB, stopband < -110 dB)', async (t) => {
  for (const spec of PROTOTYPE_SPECS) {
    const half = PROTOTYPE_HALVES[prototypeKey(spec)]!;
    t.equal(half.length * 2 - 1, spec.length, `ratio ${spec.ratio} length`);
    const m = measurePrototype(full(half), spec);
    t.ok(m.passbandRippleDb < 0.05, `ratio ${spec.ratio}: ripple ${m.passbandRippleDb.toFixed(4)} dB`);
    t.ok(m.stopbandDb < -110, `ratio ${spec.ratio}: stopband ${m.stopbandDb.toFixed(1)} dB`);
    const dc = full(half).reduce((a, b) => a + b, 0);
    t.ok(Math.abs(dc - 1) < 1e-12, 'DC gain 1');
  }
});

t.test('the embedded table is what the generator produces (ratio 4 redesigned here)', async (t) => {
  const spec = PROTOTYPE_SPECS.find((s) => s.ratio === 4)!;
  const fresh = designPrototype(spec);
  const embedded = full(PROTOTYPE_HALVES[prototypeKey(spec)]!);
  let worst = 0;
  for (let i = 0; i < embedded.length; i++) worst = Math.max(worst, Math.abs(fresh.h[i]! - embedded[i]!));
  t.ok(worst < 1e-12, `max difference ${worst.toExponential(2)}`);
});

t.test('the deep ratio-6 design keeps its stopband with the Float32 coefficients the kernel runs', async (t) => {
  const spec = PROTOTYPE_SPECS.find((s) => s.ratio === 6 && s.length === 131)!;
  const h32 = Float64Array.from(new Float32Array(full(PROTOTYPE_HALVES[prototypeKey(spec)]!)));
  const m = measurePrototype(h32, spec);
  t.ok(m.stopbandDb < -140, `stopband ${m.stopbandDb.toFixed(1)} dB`);
  t.ok(m.passbandRippleDb < 0.05, `ripple ${m.passbandRippleDb.toFixed(4)} dB`);
});
