import type { PrototypeSpec } from './fir-design.ts';

/** The bound on the resampler's group delay. */
export const MAX_DELAY_MS = 2.5;

/**
 * The prototype designs the rate pairs choose from. Ratio = intermediate rate / lower Nyquist: 4 for
 * 8<->16k and 24<->48k, 6 for 8<->24k, 16<->24k and 16<->48k, 12 for 8<->48k. Transition band
 * 0.85 .. 1.15 of the lower Nyquist (the passband and stopband edges).
 *
 * A pair uses the longest design of its ratio whose group delay, (length-1)/2 samples at the pair's
 * intermediate rate, fits MAX_DELAY_MS (resampler.ts). The same ratio can run at different intermediate
 * rates, so the budget differs: ratio 6 runs at 24 kHz for 8<->24k (99 taps = 2.04 ms; 121 taps would
 * be 2.5 ms) but at 48 kHz for 16<->24k and 16<->48k, where 131 taps cost only 1.35 ms and buy ~35 dB
 * more stopband (-150 dB designed, -149 dB with the coefficients rounded to the kernel's Float32).
 * Delays: 2.06 ms (8<->16k), 2.04 ms (8<->24k), 2.15 ms (8<->48k), 1.35 ms (16<->24k, 16<->48k),
 * 0.69 ms (24<->48k).
 */
export const PROTOTYPE_SPECS: readonly PrototypeSpec[] = [
  { ratio: 4, length: 67, passEdge: 0.85, stopEdge: 1.15, stopWeight: 1000, iterations: 12 },
  { ratio: 6, length: 99, passEdge: 0.85, stopEdge: 1.15, stopWeight: 1000, iterations: 12 },
  // Ripple 0.016 dB: the stop weight is raised so the extra length goes to the stopband.
  { ratio: 6, length: 131, passEdge: 0.85, stopEdge: 1.15, stopWeight: 100_000, iterations: 20 },
  { ratio: 12, length: 207, passEdge: 0.85, stopEdge: 1.15, stopWeight: 1000, iterations: 12 },
];

/** Key of a design in the generated PROTOTYPE_HALVES table. */
export function prototypeKey(spec: Pick<PrototypeSpec, 'ratio' | 'length'>): string {
  return `${spec.ratio}/${spec.length}`;
}
