/**
 * The parity report of an import (issue 5 item 6): outputs of our model next to the expected
 * outputs of the original tool, as the max absolute difference per output.
 */
import { Tensor, fmtShape } from '../tensor.js';
import { ValueError } from '../wasm/errors.js';
import type { Model } from '../models/Model.js';

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
export function compareOutputs(actual: Tensor | Tensor[], expected: ExpectedOutput | ExpectedOutput[], names?: string[]): ParityReport {
  const a = Array.isArray(actual) ? actual : [actual];
  const e = Array.isArray(expected) ? expected : [expected];
  if (a.length !== e.length) throw new ValueError(`compareOutputs: ${a.length} outputs, ${e.length} expected`);
  const outputs = a.map((t, i) => {
    const ex = e[i];
    const shape = [...ex.shape];
    const name = names?.[i] ?? `output_${i}`;
    if (t.shape.length !== shape.length || t.shape.some((d, k) => d !== shape[k])) {
      throw new ValueError(`compareOutputs: ${name} has shape ${fmtShape(t.shape)}, expected ${fmtShape(shape)}`);
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

export interface ParityRow {
  /** Output name (the producing layer's name). */
  output: string;
  shape: number[];
  /** max |ours − expected|. */
  maxAbsDiff: number;
  /** Largest |expected|, for scale. */
  maxAbsExpected: number;
}

/**
 * Runs `model.predict(inputs)` and reports the max absolute difference from `expected`, one row
 * per output. Shapes must match (throws ValueError otherwise); NaN anywhere makes the diff NaN.
 */
export function parityReport(m: Model, inputs: Tensor | Tensor[], expected: Tensor | Tensor[] | ArrayLike<number> | ArrayLike<number>[]): ParityRow[] {
  const ys = m.predict(inputs as never);
  const outs = Array.isArray(ys) ? ys : [ys];
  const exp = Array.isArray(expected) && !(expected as unknown[]).every((v) => typeof v === 'number') ? (expected as (Tensor | ArrayLike<number>)[]) : [expected as Tensor | ArrayLike<number>];
  if (exp.length !== outs.length) throw new ValueError(`parityReport: the model has ${outs.length} outputs, got ${exp.length} expected arrays`);
  const names = m.outputs.map((t) => t.sourceLayer.name);
  return outs.map((y, i) => {
    const e = exp[i] instanceof Tensor ? (exp[i] as Tensor) : null;
    const ed = e ? e.data : (exp[i] as ArrayLike<number>);
    if (e && (e.rank !== y.rank || e.shape.some((d, k) => d !== y.shape[k]))) throw new ValueError(`parityReport: output ${i} has shape ${fmtShape(y.shape)}, expected ${fmtShape(e.shape)}`);
    if (ed.length !== y.size) throw new ValueError(`parityReport: output ${i} has ${y.size} values ${fmtShape(y.shape)}, expected array has ${ed.length}`);
    let maxAbsDiff = 0;
    let maxAbsExpected = 0;
    for (let k = 0; k < ed.length; k++) {
      const d = Math.abs(y.data[k] - ed[k]);
      maxAbsDiff = Number.isNaN(d) ? NaN : Math.max(maxAbsDiff, d);
      maxAbsExpected = Math.max(maxAbsExpected, Math.abs(ed[k]));
    }
    return { output: names[i] ?? `output_${i}`, shape: [...y.shape], maxAbsDiff, maxAbsExpected };
  });
}
