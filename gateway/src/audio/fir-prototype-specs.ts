import type { PrototypeSpec } from './fir-design.ts';

/**
 * The three prototype designs every rate pair uses. Ratio = intermediate rate / lower Nyquist:
 * 4 for 8<->16k and 24<->48k, 6 for 8<->24k, 16<->24k and 16<->48k, 12 for 8<->48k. Transition band
 * 0.85 .. 1.15 of the lower Nyquist (the passband and stopband edges).
 * Group delay (length-1)/2 samples at the intermediate rate: 2.06 ms (8<->16k), 2.04 ms (8<->24k),
 * 2.15 ms (8<->48k), 1.02 ms (16k pairs), 0.69 ms (24<->48k).
 */
export const PROTOTYPE_SPECS: readonly PrototypeSpec[] = [
  { ratio: 4, length: 67, passEdge: 0.85, stopEdge: 1.15, stopWeight: 1000, iterations: 12 },
  { ratio: 6, length: 99, passEdge: 0.85, stopEdge: 1.15, stopWeight: 1000, iterations: 12 },
  { ratio: 12, length: 207, passEdge: 0.85, stopEdge: 1.15, stopWeight: 1000, iterations: 12 },
];
