/**
 * GRU-CONVENTIONS.md §5 ("every backward gets a finite-difference check"): central finite
 * differences THROUGH THE PUBLIC TS API against `backward()`, for the GRU (§1 both forms, masks,
 * initial state, goBackwards, returnState), Dense (every activation, softmax included) and a
 * GRU → Dense → loss chain for every loss of `lossAndGradient`.
 *
 * No outside numbers here: the reference is the layer's own forward. The "snippet":
 *
 *   L(θ) = Σ R ⊙ apply(x; θ) [+ Σ S ⊙ state]    (float64 sum of the float32 outputs)
 *   fd   = (L(θ + ε e_i) − L(θ − ε e_i)) / ((θ_i + ε) − (θ_i − ε))   (the rounded f32 step)
 *   an   = backward(R, S)                         (x, initial state, and every weight entry,
 *                                                  perturbed through setWeights)
 *   pass iff |fd − an| ≤ 3e-4 + 3e-3·|an|        for every entry.
 *
 * Why that tolerance: the forward is float32 (rounding ~6e-8 relative), so ε = 1e-2 keeps the
 * rounding noise of fd near 1e-5, and the truncation error ε²/6·|L'''| stays ≲ 1e-4 for these
 * small, unsaturated sizes (B=2, T=3, D=3, H=4, weights U(−0.5, 0.5)). Observed: the worst entry of
 * any case uses 6% of this allowance (PARITY_VERBOSE=1 prints it). Gradients are O(0.1–1), so a
 * wrong term (a swapped gate, a missing r ⊙, a dropped mask) is off by far more (see the negative
 * control at the end).
 *
 * Kinks are avoided, not tolerated: hard-sigmoid cases use weights U(−0.25, 0.25), |x| ≤ 1,
 * |h| ≤ 1 so every gate pre-activation is at most 0.25·(3·1.01 + 1 + 4 + 1) ≈ 2.26 < 2.5 (the
 * 0.2x + 0.5 clip point) even with a perturbation; relu/hard-sigmoid Dense and mae draw inputs until
 * every pre-activation / residual is at least 0.05 away from its kink (asserted).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Dense, GRU, Tensor, init, layers, lossAndGradient, tensor } from '../../ts/src/index.ts';
import { BACKENDS, expectClose, rng, uniform } from './util/numeric.ts';

const EPS = 1e-2;
const ATOL = 3e-4;
const RTOL = 3e-3;

const B = 2;
const T = 3;
const D = 3;
const H = 4;
const G = 3 * H;

/** Σ a ⊙ b in float64. */
function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

interface FdReport {
  checked: number;
  bad: string[];
  /** Largest |fd − an| / (ATOL + RTOL·|an|) seen, and the largest |an| (printed with PARITY_VERBOSE=1). */
  worstRatio?: number;
  maxGrad?: number;
}

/**
 * Central differences of `loss()` w.r.t. every entry of `arr` (perturbed in place, then restored;
 * `refresh()` pushes the array into the layer when it holds weights), compared with `analytic`.
 */
function fdCompare(label: string, arr: Float32Array, analytic: ArrayLike<number>, loss: () => number, refresh: () => void, report: FdReport): void {
  expect(analytic.length, `${label}: analytic gradient size`).toBe(arr.length);
  for (let i = 0; i < arr.length; i++) {
    const v = arr[i];
    arr[i] = v + EPS;
    const up = arr[i];
    refresh();
    const lp = loss();
    arr[i] = v - EPS;
    const down = arr[i];
    refresh();
    const lm = loss();
    arr[i] = v;
    refresh();
    const fd = (lp - lm) / (up - down);
    const an = analytic[i];
    report.checked++;
    report.worstRatio = Math.max(report.worstRatio ?? 0, Math.abs(fd - an) / (ATOL + RTOL * Math.abs(an)));
    report.maxGrad = Math.max(report.maxGrad ?? 0, Math.abs(an));
    if (!(Math.abs(fd - an) <= ATOL + RTOL * Math.abs(an))) report.bad.push(`${label}[${i}]: fd ${fd.toFixed(6)} vs backward ${an.toFixed(6)}`);
  }
}

function expectReport(r: FdReport, label = ''): void {
  if (process.env.PARITY_VERBOSE) console.log(`${label}: ${r.checked} entries, worst ratio ${(r.worstRatio ?? 0).toFixed(3)}, max|an| ${(r.maxGrad ?? 0).toFixed(3)}`);
  expect(r.checked).toBeGreaterThan(0);
  expect(r.bad, `${r.bad.length}/${r.checked} entries disagree:\n${r.bad.slice(0, 12).join('\n')}`).toEqual([]);
}

// ---------------------------------------------------------------------------------------------
// GRU
// ---------------------------------------------------------------------------------------------
type MaskKind = 'right' | 'left' | 'gapped' | 'allMaskedRow';
const MASKS: Record<MaskKind, number[]> = {
  right: [1, 1, 0, 1, 0, 0],
  left: [0, 1, 1, 0, 0, 1],
  gapped: [1, 0, 1, 0, 1, 0],
  allMaskedRow: [1, 1, 1, 0, 0, 0],
};

interface GruCase {
  name: string;
  resetAfter: boolean;
  recurrentActivation?: 'sigmoid' | 'hardSigmoid' | 'hardSigmoidKeras3';
  useBias?: boolean;
  goBackwards?: boolean;
  returnSequences: boolean;
  returnState: boolean;
  h0: boolean;
  mask?: MaskKind;
  /** Seed only the state: backward(null, S). */
  stateSeedOnly?: boolean;
}

interface GruProblem {
  layer: GRU;
  weights: Float32Array[];
  x: Float32Array;
  h0: Float32Array | null;
  mask: Tensor | null;
  R: Float32Array | null;
  S: Float32Array | null;
  outShape: number[];
}

function gruProblem(c: GruCase, seed: number): GruProblem {
  const r = rng(seed);
  const w = c.recurrentActivation === 'hardSigmoid' || c.recurrentActivation === 'hardSigmoidKeras3' ? 0.25 : 0.5;
  const layer = layers.gru({
    units: H,
    resetAfter: c.resetAfter,
    recurrentActivation: c.recurrentActivation ?? 'sigmoid',
    useBias: c.useBias ?? true,
    goBackwards: c.goBackwards ?? false,
    returnSequences: c.returnSequences,
    returnState: c.returnState,
  });
  layer.build([B, T, D]);
  const weights = [uniform(r, D * G, -w, w), uniform(r, H * G, -w, w)];
  if (c.useBias ?? true) weights.push(uniform(r, c.resetAfter ? 2 * G : G, -w, w));
  const outShape = c.returnSequences ? [B, T, H] : [B, H];
  return {
    layer,
    weights,
    x: uniform(r, B * T * D, -1, 1),
    h0: c.h0 ? uniform(r, B * H, -0.8, 0.8) : null,
    mask: c.mask ? tensor(MASKS[c.mask], [B, T]) : null,
    R: c.stateSeedOnly ? null : uniform(r, outShape.reduce((a, b) => a * b, 1), -1, 1),
    S: c.returnState ? uniform(r, B * H, -1, 1) : null,
    outShape,
  };
}

function setGruWeights(p: GruProblem): void {
  const shapes = [[D, G], [H, G], p.layer.resetAfter ? [2, G] : [G]];
  p.layer.setWeights(p.weights.map((w, i) => tensor(w, shapes[i])));
}

function gruLoss(p: GruProblem): number {
  const res = p.layer.apply(tensor(p.x, [B, T, D]), { initialState: p.h0 ? tensor(p.h0, [B, H]) : null, mask: p.mask });
  const [y, s] = p.layer.returnState ? (res as Tensor[]) : [res as Tensor, null];
  return (p.R ? dot(y.data, p.R) : 0) + (p.S && s ? dot(s.data, p.S) : 0);
}

function gruAnalytic(p: GruProblem) {
  setGruWeights(p);
  p.layer.apply(tensor(p.x, [B, T, D]), { initialState: p.h0 ? tensor(p.h0, [B, H]) : null, mask: p.mask, training: true });
  return p.layer.backward(p.R ? tensor(p.R, p.outShape) : null, p.S ? tensor(p.S, [B, H]) : null);
}

function gruGradcheck(c: GruCase, seed: number): FdReport {
  const p = gruProblem(c, seed);
  try {
    const an = gruAnalytic(p);
    const report: FdReport = { checked: 0, bad: [] };
    const loss = () => gruLoss(p);
    const none = () => {};
    fdCompare('dL/dx', p.x, an.dInput.data, loss, none, report);
    if (p.h0) fdCompare('dL/dh0', p.h0, an.dInitialState!.data, loss, none, report);
    else expect(an.dInitialState).toBeNull();
    const names = ['dL/dkernel', 'dL/drecurrentKernel', 'dL/dbias'];
    expect(an.grads.length).toBe(p.weights.length);
    p.weights.forEach((w, i) => fdCompare(names[i], w, an.grads[i].data, loss, () => setGruWeights(p), report));
    return report;
  } finally {
    p.layer.dispose();
  }
}

const seqState = { returnSequences: true, returnState: true, h0: true } as const;

const GRU_CASES: GruCase[] = [
  { name: 'reset-after, sigmoid/tanh, sequences + state, h0', resetAfter: true, ...seqState },
  { name: 'reset-before, sigmoid/tanh, sequences + state, h0', resetAfter: false, ...seqState },
  { name: 'reset-after, goBackwards', resetAfter: true, goBackwards: true, ...seqState },
  { name: 'reset-before, goBackwards, last output only, no h0', resetAfter: false, goBackwards: true, returnSequences: false, returnState: false, h0: false },
  { name: 'reset-after, last output only, no h0', resetAfter: true, returnSequences: false, returnState: false, h0: false },
  { name: 'reset-after, state seed only: backward(null, dState)', resetAfter: true, returnSequences: false, returnState: true, h0: true, stateSeedOnly: true },
  { name: 'reset-before, state seed only: backward(null, dState)', resetAfter: false, returnSequences: true, returnState: true, h0: true, stateSeedOnly: true },
  { name: 'reset-after, mask right-padded', resetAfter: true, mask: 'right', ...seqState },
  { name: 'reset-before, mask right-padded, last output + state', resetAfter: false, mask: 'right', returnSequences: false, returnState: true, h0: true },
  { name: 'reset-after, mask left-padded', resetAfter: true, mask: 'left', ...seqState },
  { name: 'reset-before, mask left-padded', resetAfter: false, mask: 'left', ...seqState },
  { name: 'reset-after, mask left-padded, last output + state', resetAfter: true, mask: 'left', returnSequences: false, returnState: true, h0: true },
  { name: 'reset-after, mask gapped', resetAfter: true, mask: 'gapped', ...seqState },
  { name: 'reset-before, mask gapped, goBackwards', resetAfter: false, mask: 'gapped', goBackwards: true, ...seqState },
  { name: 'reset-after, mask gapped, goBackwards, no h0', resetAfter: true, mask: 'gapped', goBackwards: true, returnSequences: true, returnState: true, h0: false },
  { name: 'reset-after, a row with no valid step, last output + state', resetAfter: true, mask: 'allMaskedRow', returnSequences: false, returnState: true, h0: true },
  { name: 'reset-after, hardSigmoid gates (0.2x + 0.5)', resetAfter: true, recurrentActivation: 'hardSigmoid', ...seqState },
  { name: 'reset-before, hardSigmoid gates, goBackwards', resetAfter: false, recurrentActivation: 'hardSigmoid', goBackwards: true, ...seqState },
  { name: 'reset-after, hardSigmoidKeras3 gates (x/6 + 0.5)', resetAfter: true, recurrentActivation: 'hardSigmoidKeras3', ...seqState },
  { name: 'reset-after, useBias false', resetAfter: true, useBias: false, ...seqState },
  { name: 'reset-before, useBias false', resetAfter: false, useBias: false, ...seqState },
];

// ---------------------------------------------------------------------------------------------
// Dense
// ---------------------------------------------------------------------------------------------
const DENSE_ACTIVATIONS = ['linear', 'tanh', 'sigmoid', 'hardSigmoid', 'hardSigmoidKeras3', 'relu', 'softmax'] as const;
type DenseActivation = (typeof DENSE_ACTIVATIONS)[number];

/** Pre-activations x·W + b (float64), rows × units. */
function preActivations(x: Float32Array, w: Float32Array, b: Float32Array, rows: number, din: number, units: number): number[] {
  const out: number[] = [];
  for (let n = 0; n < rows; n++) {
    for (let j = 0; j < units; j++) {
      let s = b[j];
      for (let k = 0; k < din; k++) s += x[n * din + k] * w[k * units + j];
      out.push(s);
    }
  }
  return out;
}

/** Distance of a pre-activation from the activation's kinks (Infinity for smooth ones). */
function kinkDistance(act: DenseActivation, z: number): number {
  if (act === 'relu') return Math.abs(z);
  if (act === 'hardSigmoid') return Math.min(Math.abs(z - 2.5), Math.abs(z + 2.5));
  if (act === 'hardSigmoidKeras3') return Math.min(Math.abs(z - 3), Math.abs(z + 3));
  return Infinity;
}

// ---------------------------------------------------------------------------------------------
// Losses: float64 references of the Keras 3 definitions (sum_over_batch_size reduction).
// ---------------------------------------------------------------------------------------------
interface LossCase {
  loss: 'mse' | 'mae' | 'huber' | 'logCosh' | 'binaryCrossentropy' | 'categoricalCrossentropy' | 'sparseCategoricalCrossentropy';
  fromLogits: boolean;
  /** Dense activation in front of the loss. */
  head: 'linear' | 'sigmoid' | 'softmax';
  /** The GRU returns sequences, so the Dense and the loss see (B, T, C). */
  sequences: boolean;
}

const C = 3;

const LOSS_CASES: LossCase[] = [
  { loss: 'mse', fromLogits: false, head: 'linear', sequences: true },
  { loss: 'mae', fromLogits: false, head: 'linear', sequences: false },
  { loss: 'huber', fromLogits: false, head: 'linear', sequences: true },
  { loss: 'logCosh', fromLogits: false, head: 'linear', sequences: false },
  { loss: 'binaryCrossentropy', fromLogits: false, head: 'sigmoid', sequences: false },
  { loss: 'binaryCrossentropy', fromLogits: true, head: 'linear', sequences: true },
  { loss: 'categoricalCrossentropy', fromLogits: false, head: 'softmax', sequences: false },
  { loss: 'categoricalCrossentropy', fromLogits: true, head: 'linear', sequences: true },
  { loss: 'sparseCategoricalCrossentropy', fromLogits: false, head: 'softmax', sequences: true },
  { loss: 'sparseCategoricalCrossentropy', fromLogits: true, head: 'linear', sequences: false },
];

/** Keras 3 loss value in float64; yTrue for sparse holds class ids, one per row. */
function referenceLoss(c: LossCase, yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  const rows = yPred.length / C;
  const eps = 1e-7;
  const clip = (p: number) => Math.min(Math.max(p, eps), 1 - eps);
  let total = 0;
  for (let n = 0; n < rows; n++) {
    const p = Array.from({ length: C }, (_, j) => yPred[n * C + j]);
    const t = c.loss === 'sparseCategoricalCrossentropy' ? Array.from({ length: C }, (_, j) => (j === yTrue[n] ? 1 : 0)) : Array.from({ length: C }, (_, j) => yTrue[n * C + j]);
    let row = 0;
    switch (c.loss) {
      case 'mse':
        row = p.reduce((s, v, j) => s + (v - t[j]) ** 2, 0) / C;
        break;
      case 'mae':
        row = p.reduce((s, v, j) => s + Math.abs(v - t[j]), 0) / C;
        break;
      case 'huber': // keras/src/losses/losses.py `huber`, δ = 1
        row = p.reduce((s, v, j) => {
          const e = Math.abs(v - t[j]);
          return s + (e <= 1 ? 0.5 * e * e : e - 0.5);
        }, 0) / C;
        break;
      case 'logCosh': // keras/src/losses/losses.py `log_cosh`
        row = p.reduce((s, v, j) => s + Math.log(Math.cosh(v - t[j])), 0) / C;
        break;
      case 'binaryCrossentropy':
        row =
          p.reduce((s, v, j) => {
            if (c.fromLogits) return s + Math.max(v, 0) - v * t[j] + Math.log1p(Math.exp(-Math.abs(v)));
            const q = clip(v);
            return s - (t[j] * Math.log(q) + (1 - t[j]) * Math.log(1 - q));
          }, 0) / C;
        break;
      default: {
        let logq: number[];
        if (c.fromLogits) {
          const m = Math.max(...p);
          const lse = m + Math.log(p.reduce((s, v) => s + Math.exp(v - m), 0));
          logq = p.map((v) => v - lse);
        } else {
          const sum = p.reduce((s, v) => s + v, 0);
          logq = p.map((v) => Math.log(clip(v / sum)));
        }
        row = -t.reduce((s, tv, j) => s + tv * logq[j], 0);
      }
    }
    total += row;
  }
  return total / rows;
}

// ---------------------------------------------------------------------------------------------

describe.each(BACKENDS)('finite differences through the TS API (§5), backend %s', (backend) => {
  beforeAll(async () => {
    await init({ backend });
  });

  describe('GRU: d/dx, d/dh0 and every weight entry', () => {
    it.each(GRU_CASES.map((c, i) => [c.name, c, i] as const))('%s', (_n, c, i) => {
      expectReport(gruGradcheck(c, 500 + i), `[${backend}] ${c.name}`);
    });
  });

  describe('Dense (rank-3 input, 2×3×4 → 5): d/dx and every weight entry', () => {
    it.each(DENSE_ACTIVATIONS.map((a, i) => [a, i] as const))("activation '%s'", (act, i) => {
      const rows = 6;
      const din = 4;
      const units = 5;
      const wmax = 0.4; // |pre| ≤ 0.4·(4·1.01 + 1) ≈ 2.0 < 2.5: inside the hard-sigmoid line
      // Draw until every pre-activation is ≥ 0.05 from a kink (deterministic: seeds in order).
      let seed = 700 + 31 * i;
      let x: Float32Array, w: Float32Array, b: Float32Array, R: Float32Array;
      for (;;) {
        const r = rng(seed++);
        x = uniform(r, rows * din, -1, 1);
        w = uniform(r, din * units, -wmax, wmax);
        b = uniform(r, units, -wmax, wmax);
        R = uniform(r, rows * units, -1, 1);
        if (preActivations(x, w, b, rows, din, units).every((z) => kinkDistance(act, z) >= 0.05)) break;
      }
      const layer = layers.dense({ units, activation: act });
      try {
        layer.build([2, 3, din]);
        const setW = () => layer.setWeights([tensor(w, [din, units]), tensor(b, [units])]);
        setW();
        const y0 = layer.apply(tensor(x, [2, 3, din]), { training: true });
        expect(y0.shape).toEqual([2, 3, units]);
        if (act === 'softmax') {
          for (let n = 0; n < rows; n++) expect(Array.from(y0.data.subarray(n * units, (n + 1) * units)).reduce((s, v) => s + v, 0)).toBeCloseTo(1, 6);
        }
        const an = layer.backward(tensor(R, [2, 3, units]));
        const loss = () => dot(layer.apply(tensor(x, [2, 3, din])).data, R);
        const report: FdReport = { checked: 0, bad: [] };
        fdCompare('dL/dx', x, an.dInput.data, loss, () => {}, report);
        fdCompare('dL/dkernel', w, an.grads[0].data, loss, setW, report);
        fdCompare('dL/dbias', b, an.grads[1].data, loss, setW, report);
        expectReport(report, `[${backend}] dense ${act}`);
      } finally {
        layer.dispose();
      }
    });
  });

  describe('GRU → Dense → loss: loss value vs a float64 Keras reference, gradients vs finite differences', () => {
    it.each(LOSS_CASES.map((c, i) => [`${c.loss}${c.fromLogits ? ' (fromLogits)' : ''} after Dense('${c.head}')${c.sequences ? ', per step' : ''}`, c, i] as const))('%s', (_n, c, i) => {
      const r = rng(900 + i);
      const gru = layers.gru({ units: H, returnSequences: c.sequences });
      const dense = layers.dense({ units: C, activation: c.head });
      try {
        gru.build([B, T, D]);
        dense.build(c.sequences ? [B, T, H] : [B, H]);
        const gw = [uniform(r, D * G, -0.5, 0.5), uniform(r, H * G, -0.5, 0.5), uniform(r, 2 * G, -0.5, 0.5)];
        // Dense weights large enough that the head is not near-uniform (gradients O(0.1)).
        const dw = [uniform(r, H * C, -1.5, 1.5), uniform(r, C, -0.5, 0.5)];
        const x = uniform(r, B * T * D, -1, 1);
        const rowsOut = c.sequences ? B * T : B;
        const predShape = c.sequences ? [B, T, C] : [B, C];
        let yTrue: Tensor;
        if (c.loss === 'sparseCategoricalCrossentropy') {
          yTrue = tensor(Array.from({ length: rowsOut }, () => Math.floor(r() * C)), c.sequences ? [B, T] : [B], 'int32');
        } else if (c.loss === 'categoricalCrossentropy') {
          const ids = Array.from({ length: rowsOut }, () => Math.floor(r() * C));
          yTrue = tensor(Array.from({ length: rowsOut * C }, (_, k) => (k % C === ids[Math.floor(k / C)] ? 1 : 0)), predShape); // one-hot
        } else if (c.loss === 'binaryCrossentropy') {
          yTrue = tensor(uniform(r, rowsOut * C, 0, 1), predShape); // soft labels
        } else {
          yTrue = tensor(uniform(r, rowsOut * C, -1, 1), predShape);
        }
        const setW = () => {
          gru.setWeights([tensor(gw[0], [D, G]), tensor(gw[1], [H, G]), tensor(gw[2], [2, G])]);
          dense.setWeights([tensor(dw[0], [H, C]), tensor(dw[1], [C])]);
        };
        setW();
        const forward = (training: boolean) => dense.apply(gru.apply(tensor(x, [B, T, D]), { training }) as Tensor, { training });
        const pred = forward(true);
        expect(pred.shape).toEqual(predShape);
        if (c.loss === 'mae') {
          // |yPred − yTrue| must stay away from 0 (the kink of |·|).
          const gap = Math.min(...Array.from(pred.data, (v, k) => Math.abs(v - yTrue.data[k])));
          expect(gap, 'mae residuals away from the kink').toBeGreaterThan(0.05);
        }
        const { loss: value, grad } = lossAndGradient(c.loss, yTrue, pred, { fromLogits: c.fromLogits });
        const ref = referenceLoss(c, yTrue.data, pred.data);
        expect(Math.abs(value - ref), `loss value ${value} vs float64 Keras reference ${ref}`).toBeLessThanOrEqual(1e-6 + 1e-5 * Math.abs(ref));
        const dd = dense.backward(grad);
        const dg = gru.backward(dd.dInput);
        const loss = () => lossAndGradient(c.loss, yTrue, forward(false), { fromLogits: c.fromLogits }).loss;
        const report: FdReport = { checked: 0, bad: [] };
        fdCompare('dL/dx', x, dg.dInput.data, loss, () => {}, report);
        ['gru kernel', 'gru recurrentKernel', 'gru bias'].forEach((n, k) => fdCompare(`dL/d(${n})`, gw[k], dg.grads[k].data, loss, setW, report));
        ['dense kernel', 'dense bias'].forEach((n, k) => fdCompare(`dL/d(${n})`, dw[k], dd.grads[k].data, loss, setW, report));
        expectReport(report, `[${backend}] chain ${c.loss} logits=${c.fromLogits}`);
      } finally {
        gru.dispose();
        dense.dispose();
      }
    });
  });

  it('backward(..., {accumulate: true}) adds the weight gradients of a second pass; dInput is per call', () => {
    // GRU.ts / Dense.ts doc: weight gradients are overwritten by default, added with accumulate.
    const p = gruProblem(GRU_CASES[0], 500);
    const dense = layers.dense({ units: 2, activation: 'tanh' });
    try {
      const first = gruAnalytic(p);
      const once = first.grads.map((g) => Float32Array.from(g.data));
      const dx1 = Float32Array.from(first.dInput.data);
      p.layer.apply(tensor(p.x, [B, T, D]), { initialState: tensor(p.h0!, [B, H]), training: true });
      const twice = p.layer.backward(tensor(p.R!, p.outShape), tensor(p.S!, [B, H]), { accumulate: true });
      // Not bit-exact: the kernels add partial products into the existing buffer (C += A·B).
      twice.grads.forEach((g, k) => expectClose(`GRU weight ${k}`, g.data, Array.from(once[k], (v) => 2 * v), { atol: 1e-6, rtol: 1e-5 }));
      expect(Array.from(twice.dInput.data)).toEqual(Array.from(dx1));
      const x = tensor(uniform(rng(3), 2 * H, -1, 1), [2, H]);
      const R = tensor(uniform(rng(4), 4, -1, 1), [2, 2]);
      dense.apply(x, { training: true });
      const d1 = dense.backward(R).grads.map((g) => Float32Array.from(g.data));
      dense.apply(x, { training: true });
      const d2 = dense.backward(R, { accumulate: true });
      d2.grads.forEach((g, k) => expectClose(`Dense weight ${k}`, g.data, Array.from(d1[k], (v) => 2 * v), { atol: 1e-6, rtol: 1e-5 }));
      // Without accumulate the next pass overwrites.
      dense.apply(x, { training: true });
      expect(Array.from(dense.backward(R).grads[0].data)).toEqual(Array.from(d1[0]));
    } finally {
      p.layer.dispose();
      dense.dispose();
    }
  });

  it('negative control: the tolerance rejects gradients with the z and r blocks swapped', () => {
    // Feed the comparison a deliberately wrong analytic kernel gradient (z ↔ r columns): it must
    // report mismatches, so the tolerance above is tight enough to catch a swapped gate block.
    const p = gruProblem(GRU_CASES[0], 500);
    try {
      const an = gruAnalytic(p);
      const dK = Float32Array.from(an.grads[0].data);
      for (let row = 0; row < D; row++) {
        for (let j = 0; j < H; j++) [dK[row * G + j], dK[row * G + H + j]] = [dK[row * G + H + j], dK[row * G + j]];
      }
      const report: FdReport = { checked: 0, bad: [] };
      fdCompare('swapped dL/dkernel', p.weights[0], dK, () => gruLoss(p), () => setGruWeights(p), report);
      expect(report.bad.length).toBeGreaterThan(dK.length / 3);
    } finally {
      p.layer.dispose();
    }
  });
});
