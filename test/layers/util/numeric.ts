/**
 * Shared by the reference tests (tfjs-parity, torch-parity, gradcheck): a seeded generator, and
 * an element-wise closeness check whose failure message names the worst element.
 */
import { expect } from 'vitest';

/** Backends every parity suite runs on. `FAST_TEST=1` keeps only SIMD (STYLE rule 15). */
export const BACKENDS: ('simd' | 'scalar')[] = process.env.FAST_TEST ? ['simd'] : ['simd', 'scalar'];

/** Prints the worst observed differences (to tune or audit tolerances): `PARITY_VERBOSE=1`. */
const VERBOSE = !!process.env.PARITY_VERBOSE;

export { rng, uniform } from '../../util/random.ts';

export interface Tolerance {
  /** Absolute part. */
  atol: number;
  /** Relative part, times |expected| of the same element. */
  rtol: number;
}

export interface DiffReport {
  /** Elements where |actual − expected| > atol + rtol·|expected|. */
  bad: number;
  /** max |actual − expected|. */
  maxAbs: number;
  /** max |expected| (the scale of the reference). */
  maxRef: number;
  /** The element with the largest ratio |diff| / allowed. */
  worst: { index: number; actual: number; expected: number; ratio: number };
}

export function diff(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance): DiffReport {
  if (actual.length !== expected.length) throw new Error(`length mismatch: actual ${actual.length}, expected ${expected.length}`);
  let bad = 0;
  let maxAbs = 0;
  let maxRef = 0;
  const worst = { index: -1, actual: NaN, expected: NaN, ratio: -1 };
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const d = Math.abs(a - e);
    const allowed = tol.atol + tol.rtol * Math.abs(e);
    // NaN anywhere counts as bad (d is NaN, so `d <= allowed` is false).
    if (!(d <= allowed)) bad++;
    const ratio = Number.isNaN(d) ? Infinity : d / allowed;
    if (ratio > worst.ratio) Object.assign(worst, { index: i, actual: a, expected: e, ratio });
    if (d > maxAbs || Number.isNaN(d)) maxAbs = Number.isNaN(d) ? NaN : Math.max(maxAbs, d);
    maxRef = Math.max(maxRef, Math.abs(e));
  }
  return { bad, maxAbs, maxRef, worst };
}

/** Asserts element-wise closeness; the message gives the count, the worst element and max|diff|. */
export function expectClose(label: string, actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance): DiffReport {
  const r = diff(actual, expected, tol);
  if (VERBOSE) console.log(`${label}: max|diff| ${r.maxAbs.toExponential(2)} (ref scale ${r.maxRef.toExponential(2)}), worst ratio ${r.worst.ratio.toFixed(3)}`);
  const w = r.worst;
  expect(
    r.bad,
    `${label}: ${r.bad}/${actual.length} elements outside atol ${tol.atol} + rtol ${tol.rtol}·|ref|; ` +
      `worst at flat index ${w.index}: got ${w.actual}, want ${w.expected} (|diff| ${Math.abs(w.actual - w.expected).toExponential(3)}); max|diff| ${r.maxAbs.toExponential(3)}`,
  ).toBe(0);
  return r;
}

/** Keeps the entries of `a` where `keep(i)` is true (used to compare valid steps only). */
export function select(a: ArrayLike<number>, keep: (i: number) => boolean): number[] {
  const out: number[] = [];
  for (let i = 0; i < a.length; i++) if (keep(i)) out.push(a[i]);
  return out;
}
