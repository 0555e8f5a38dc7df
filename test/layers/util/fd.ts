/**
 * Central finite differences THROUGH THE PUBLIC API for any layer (GRU-CONVENTIONS.md §5, "every
 * backward gets a finite-difference check"):
 *
 *   L(θ) = Σ_k Σ R_k ⊙ output_k(inputs; θ)        (float64 sum of the float32 outputs)
 *   fd   = (L(θ + ε e_i) − L(θ − ε e_i)) / (rounded step)
 *   an   = layer.backwardNode(R, ctx, forward)    (inputs) and layer.getGradients() (weights,
 *                                                  zeroed first: backward accumulates)
 *
 * for every entry of every float input and every trainable weight (perturbed through setWeights).
 */
import { expect } from 'vitest';
import { Layer, Tensor } from '../../../ts/src/index.ts';
import { rng, uniform } from './numeric.ts';

export interface FdOptions {
  eps?: number;
  atol?: number;
  rtol?: number;
  /** Inputs (by index) not to differentiate (e.g. an all-constant one). */
  skipInputs?: number[];
  seed?: number;
}

export interface FdResult {
  checked: number;
  worstRatio: number;
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/**
 * `run(inputs)` must run the layer in training mode (e.g. `layer.apply(x, {training: true, mask})`)
 * and return every output; `masks` are the masks of the call's inputs, handed to backwardNode.
 */
export function checkLayerGradients(label: string, layer: Layer, inputs: Tensor[], masks: (Tensor | null)[], run: (inputs: Tensor[]) => Tensor[], opts: FdOptions = {}): FdResult {
  const eps = opts.eps ?? 1e-2;
  const atol = opts.atol ?? 5e-4;
  const rtol = opts.rtol ?? 5e-3;
  const r = rng(opts.seed ?? 99);
  const outs = run(inputs);
  const R = outs.map((o) => uniform(r, o.size, -1, 1));
  layer.zeroGradients();
  const dIns = layer.backwardNode(
    R.map((v, i) => new Tensor(v, outs[i].shape)),
    { training: true, masks, node: 0, kwargs: {} },
    { inputs, outputs: outs },
  );
  const wGrads = layer.getGradients().map((g) => Float32Array.from(g.data));
  const loss = (ins: Tensor[]): number => run(ins).reduce((s, o, k) => s + dot(o.data, R[k]), 0);
  const bad: string[] = [];
  let checked = 0;
  let worst = 0;
  const compare = (name: string, i: number, fd: number, an: number): void => {
    checked++;
    const ratio = Math.abs(fd - an) / (atol + rtol * Math.abs(an));
    worst = Math.max(worst, ratio);
    if (!(ratio <= 1)) bad.push(`${name}[${i}]: fd ${fd.toFixed(6)} vs backward ${an.toFixed(6)}`);
  };
  inputs.forEach((x, k) => {
    if (x.dtype !== 'float32' || opts.skipInputs?.includes(k)) return;
    const an = dIns[k];
    expect(an, `${label}: backward returned no gradient for input ${k}`).toBeTruthy();
    const arr = Float32Array.from(x.data);
    for (let i = 0; i < arr.length; i++) {
      const v = arr[i];
      const ins = (w: number): Tensor[] => {
        arr[i] = w;
        const t = new Tensor(Float32Array.from(arr), x.shape);
        arr[i] = v;
        return inputs.map((orig, j) => (j === k ? t : orig));
      };
      const up = Math.fround(v + eps);
      const dn = Math.fround(v - eps);
      compare(`input ${k}`, i, (loss(ins(up)) - loss(ins(dn))) / (up - dn), an!.data[i]);
    }
  });
  const weights = layer.getWeights();
  const meta = layer.weights;
  weights.forEach((w, k) => {
    if (!meta[k].trainable) return;
    const arr = Float32Array.from(w.data);
    for (let i = 0; i < arr.length; i++) {
      const v = arr[i];
      const at = (val: number): number => {
        arr[i] = val;
        const ws = layer.getWeights();
        ws[k] = new Tensor(Float32Array.from(arr), w.shape);
        arr[i] = v;
        layer.setWeights(ws);
        return loss(inputs);
      };
      const up = Math.fround(v + eps);
      const dn = Math.fround(v - eps);
      const fd = (at(up) - at(dn)) / (up - dn);
      compare(meta[k].name, i, fd, wGrads[k][i]);
    }
    const ws = layer.getWeights();
    ws[k] = w;
    layer.setWeights(ws);
  });
  if (process.env.PARITY_VERBOSE) console.log(`${label}: ${checked} entries, worst ratio ${worst.toFixed(3)}`);
  expect(checked).toBeGreaterThan(0);
  expect(bad, `${label}: ${bad.length}/${checked} entries disagree:\n${bad.slice(0, 12).join('\n')}`).toEqual([]);
  return { checked, worstRatio: worst };
}
