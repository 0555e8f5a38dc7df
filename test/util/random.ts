/** Seeded data for every test suite: a failing case reruns from its printed seed. */

/** mulberry32 (one copy, in the examples' data helpers): uniform in [0, 1). */
export { mulberry32 as rng } from '../../examples/data.ts';

/** n values uniform in [lo, hi), as float32. */
export function uniform(rand: () => number, n: number, lo: number, hi: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * rand();
  return out;
}
