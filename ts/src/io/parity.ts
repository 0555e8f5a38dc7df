/**
 * The parity report of an import (issue 5 item 6): outputs of our model next to the expected
 * outputs of the original tool, as the max absolute difference per output.
 */
import { Tensor, fmtShape } from '../tensor.js';
import { ValueError } from '../wasm/errors.js';

/** Expected values: a tensor, or the `{shape, data}` form of the reference JSON files. */
export type ExpectedOutput = Tensor | { shape: number[]; data: ArrayLike<number> };

export interface ParityEntry {
  name: string;
  shape: number[];
  maxAbsDiff: number;
  /** Flat index of the largest difference. */
  at: number;
}

export interface ParityReport {
  outputs: ParityEntry[];
  /** The largest of the per-output differences (NaN anywhere gives NaN). */
  maxAbsDiff: number;
}

/** Compares outputs with expected values, output by output; shapes must match. */
export function parityReport(actual: Tensor | Tensor[], expected: ExpectedOutput | ExpectedOutput[], names?: string[]): ParityReport {
  const a = Array.isArray(actual) ? actual : [actual];
  const e = Array.isArray(expected) ? expected : [expected];
  if (a.length !== e.length) throw new ValueError(`parityReport: ${a.length} outputs, ${e.length} expected`);
  const outputs = a.map((t, i) => {
    const ex = e[i];
    const shape = [...ex.shape];
    const name = names?.[i] ?? `output_${i}`;
    if (t.shape.length !== shape.length || t.shape.some((d, k) => d !== shape[k])) {
      throw new ValueError(`parityReport: ${name} has shape ${fmtShape(t.shape)}, expected ${fmtShape(shape)}`);
    }
    const x = t.data;
    const y = ex instanceof Tensor ? ex.data : ex.data;
    let max = 0;
    let at = -1;
    for (let k = 0; k < x.length; k++) {
      const d = Math.abs(x[k] - y[k]);
      if (!(d <= max)) {
        max = d;
        at = k;
        if (Number.isNaN(d)) break;
      }
    }
    return { name, shape, maxAbsDiff: max, at };
  });
  return { outputs, maxAbsDiff: outputs.reduce((m, o) => (Number.isNaN(o.maxAbsDiff) || o.maxAbsDiff > m ? o.maxAbsDiff : m), 0) };
}
