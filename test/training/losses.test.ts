/**
 * Losses through the TS API (`lossAndGradient`, `LossFunction`, `getLoss`, `rowWeights`).
 *
 * Where the expected numbers come from:
 * - "Keras 3 (f64)": keras/src/losses/losses.py (`mean_squared_error`, `huber`, `log_cosh`,
 *   `binary_crossentropy` / `categorical_crossentropy` with `label_smoothing`) on top of
 *   keras/src/backend/*\/nn.py (clip to [ε, 1 − ε], ε = 1e-7; CCE divides by the row sum), and
 *   keras/src/losses/loss.py `reduce_weighted_values` → `apply_mask` → `reduce_values` for the
 *   `sum_over_batch_size` reduction, transcribed below in float64 (`kerasRows`, `kerasReduce`).
 * - "tfjs": @tensorflow/tfjs 4.22 on its pure-JS `cpu` backend, run live in this file:
 *   tf.losses.huberLoss / meanSquaredError / absoluteDifference / logLoss / sigmoidCrossEntropy /
 *   softmaxCrossEntropy (tfjs-core), tf.metrics.binaryCrossentropy / categoricalCrossentropy /
 *   meanSquaredError (tfjs-layers), tfjs-layers' `logcosh`, and tf.grad of them for gradients.
 *   tfjs conventions, and how each is matched to Keras:
 *     · tf.losses.* default to Reduction.SUM_BY_NONZERO_WEIGHTS: Σ w·loss / #(w ≠ 0) over the
 *       loss's element shape. Unweighted that is the mean over all elements (= Keras for the
 *       per-element losses); with 0/1 mask weights it is the mean over valid entries, which is
 *       exactly Keras' `apply_mask` rescale. Real-valued sample weights do not fit it (Keras
 *       divides by N, not by the nonzero count), so those use Reduction.SUM / N.
 *     · Label smoothing: sigmoidCrossEntropy uses t·(1 − s) + s/2 and softmaxCrossEntropy
 *       t·(1 − s) + s/C, the same as Keras 3 (softmaxCrossEntropy takes C from shape[1], so
 *       rank-2 inputs only).
 *     · tf.losses.logLoss is Keras 2's BCE: −t·log(p + ε) − (1 − t)·log(1 − p + ε), not Keras 3's
 *       clip-then-log; they agree to ~ε/p, checked with that tolerance away from 0 and 1.
 *     · tf.metrics.binaryCrossentropy / categoricalCrossentropy clip (and normalise) like
 *       Keras 3 and have no label smoothing: they get pre-smoothed labels.
 * - Gradients: central differences of `lossAndGradient(...).loss` itself, and tf.grad above.
 */
import * as tf from '@tensorflow/tfjs';
import { logcosh as tfjsLogcosh } from '@tensorflow/tfjs-layers/dist/losses.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DisposedError,
  IndexError,
  LossFunction,
  NonFiniteError,
  Tensor,
  ValueError,
  getLoss,
  init,
  lossAndGradient,
  memory,
  rowWeights,
  tensor,
} from '../../ts/src/index.ts';
import type { LossName, LossOptions } from '../../ts/src/index.ts';
import { BACKENDS, expectClose, rng, uniform } from '../layers/util/numeric.ts';

const EPS = 1e-7;
/** Loss values: f32 kernel output vs f64 references. */
const VALUE = { atol: 1e-6, rtol: 1e-5 };
/** Gradients vs f64 references / tfjs f32 (values O(1/N)). */
const GRAD = { atol: 1e-7, rtol: 2e-5 };

interface RefOpts {
  fromLogits?: boolean;
  labelSmoothing?: number;
  delta?: number;
}

const clip = (p: number): number => Math.min(Math.max(p, EPS), Math.fround(1 - EPS));

/**
 * Keras 3 (f64): the per-row loss values (reduction "none"). `yTrue` holds class ids (one per
 * row) for the sparse loss. Hyper-parameters are rounded to f32 as the kernel receives them.
 */
function kerasRows(name: LossName, yTrue: ArrayLike<number>, yPred: ArrayLike<number>, C: number, o: RefOpts = {}): number[] {
  const N = yPred.length / C;
  const s = Math.fround(o.labelSmoothing ?? 0);
  const delta = Math.fround(o.delta ?? 1);
  const out: number[] = [];
  for (let r = 0; r < N; r++) {
    const p = Array.from({ length: C }, (_, j) => yPred[r * C + j]);
    const t = name === 'sparseCategoricalCrossentropy' ? [] : Array.from({ length: C }, (_, j) => yTrue[r * C + j]);
    const mean = (f: (j: number) => number): number => p.reduce((a, _, j) => a + f(j), 0) / C;
    const logSoftmax = (): number[] => {
      const m = Math.max(...p);
      const lse = m + Math.log(p.reduce((a, v) => a + Math.exp(v - m), 0));
      return p.map((v) => v - lse);
    };
    switch (name) {
      case 'meanSquaredError':
        out.push(mean((j) => (p[j] - t[j]) ** 2));
        break;
      case 'meanAbsoluteError':
        out.push(mean((j) => Math.abs(p[j] - t[j])));
        break;
      case 'huber':
        out.push(
          mean((j) => {
            const e = Math.abs(p[j] - t[j]);
            return e <= delta ? 0.5 * e * e : delta * e - 0.5 * delta * delta;
          }),
        );
        break;
      case 'logCosh':
        // x + softplus(−2x) − log 2
        out.push(mean((j) => {
          const x = p[j] - t[j];
          const z = -2 * x;
          return x + Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z))) - Math.LN2;
        }));
        break;
      case 'binaryCrossentropy': {
        const ts = t.map((v) => v * (1 - s) + 0.5 * s);
        out.push(
          mean((j) => {
            if (o.fromLogits) return Math.max(p[j], 0) - p[j] * ts[j] + Math.log1p(Math.exp(-Math.abs(p[j])));
            const q = clip(p[j]);
            return -(ts[j] * Math.log(q) + (1 - ts[j]) * Math.log(1 - q));
          }),
        );
        break;
      }
      case 'categoricalCrossentropy': {
        const ts = t.map((v) => v * (1 - s) + s / C);
        const logq = o.fromLogits ? logSoftmax() : p.map((v) => Math.log(clip(v / p.reduce((a, b) => a + b, 0))));
        out.push(-ts.reduce((a, v, j) => a + v * logq[j], 0));
        break;
      }
      case 'sparseCategoricalCrossentropy': {
        const l = yTrue[r];
        if (o.fromLogits) out.push(-logSoftmax()[l]);
        else {
          const pc = p.map(clip);
          out.push(-Math.log(pc[l] / pc.reduce((a, b) => a + b, 0)));
        }
        break;
      }
    }
  }
  return out;
}

/**
 * Keras 3 (f64) keras/src/losses/loss.py, reduction "sum_over_batch_size", for per-row values
 * with per-row sample weights and mask:
 *   apply_mask:    mask *= divide_no_nan(total, sum(mask)); sample_weight *= mask
 *   reduce_values: sum(values * sample_weight) / num_elements(values)
 */
function kerasReduce(values: number[], sampleWeight?: ArrayLike<number> | null, mask?: ArrayLike<number> | null): number {
  const total = values.length;
  let w: number[] | null = sampleWeight ? Array.from(sampleWeight) : null;
  if (mask) {
    const valid = Array.from(mask).reduce((a, b) => a + b, 0);
    const k = valid === 0 ? 0 : total / valid;
    const m = Array.from(mask, (v) => v * k);
    w = w ? w.map((v, i) => v * m[i]) : m;
  }
  return values.reduce((a, v, i) => a + v * (w ? w[i] : 1), 0) / total;
}

/** Central differences of `f` over the entries of `x` (f32 data, step h), compared with `analytic`. */
function fdCheck(label: string, x: Float32Array, analytic: ArrayLike<number>, f: () => number, h = 1e-2): void {
  const fd = new Float64Array(x.length);
  for (let k = 0; k < x.length; k++) {
    const orig = x[k];
    x[k] = orig + h;
    const hp = x[k] - orig;
    const lp = f();
    x[k] = orig - h;
    const hm = orig - x[k];
    const lm = f();
    x[k] = orig;
    fd[k] = (lp - lm) / (hp + hm);
  }
  // Loss values come back as f32: FD noise ~ 1e-7·|L| / h.
  expectClose(`${label}: dL/dyPred vs central differences`, analytic, fd, { atol: 2e-4, rtol: 5e-3 });
}

interface Problem {
  yTrue: Tensor;
  yPred: Tensor;
  C: number;
}

/** Data suited to each loss (probabilities for the probability forms, ids for sparse). */
function problem(name: LossName, shape: number[], seed: number, fromLogits = false): Problem {
  const r = rng(seed);
  const C = shape[shape.length - 1];
  const n = shape.reduce((a, b) => a * b, 1);
  const rows = n / C;
  let pred: Float32Array;
  if (fromLogits || name === 'meanSquaredError' || name === 'meanAbsoluteError' || name === 'huber' || name === 'logCosh') pred = uniform(r, n, -3, 3);
  else if (name === 'binaryCrossentropy') pred = uniform(r, n, 0.05, 0.95);
  else {
    pred = uniform(r, n, 0.05, 1);
    for (let i = 0; i < rows; i++) {
      const row = pred.subarray(i * C, (i + 1) * C);
      const s = row.reduce((a, b) => a + b, 0);
      row.forEach((v, j) => (row[j] = v / s));
    }
  }
  let yTrue: Tensor;
  if (name === 'sparseCategoricalCrossentropy') {
    yTrue = tensor(Int32Array.from({ length: rows }, () => Math.floor(r() * C)), shape.slice(0, -1), 'int32');
  } else if (name === 'categoricalCrossentropy') {
    const t = new Float32Array(n);
    for (let i = 0; i < rows; i++) t[i * C + Math.floor(r() * C)] = 1;
    yTrue = tensor(t, shape);
  } else if (name === 'binaryCrossentropy') {
    yTrue = tensor(uniform(r, n, 0, 1).map((v) => (v < 0.5 ? 0 : 1)), shape);
  } else {
    // Regression targets; for MAE and Huber keep |e| away from the kinks (0 and ±δ) so central
    // differences are clean.
    const t = uniform(r, n, -3, 3);
    for (let k = 0; k < n; k++) {
      const e = Math.abs(pred[k] - t[k]);
      if (e < 0.05 || Math.abs(e - 1) < 0.05 || Math.abs(e - 0.7) < 0.05) t[k] += 0.2;
    }
    yTrue = tensor(t, shape);
  }
  return { yTrue, yPred: tensor(pred, shape), C };
}

/** Every loss with each of its options. */
const CASES: { name: LossName; opts: RefOpts }[] = [
  { name: 'meanSquaredError', opts: {} },
  { name: 'meanAbsoluteError', opts: {} },
  { name: 'huber', opts: {} },
  { name: 'huber', opts: { delta: 0.7 } },
  { name: 'logCosh', opts: {} },
  { name: 'binaryCrossentropy', opts: {} },
  { name: 'binaryCrossentropy', opts: { labelSmoothing: 0.2 } },
  { name: 'binaryCrossentropy', opts: { fromLogits: true, labelSmoothing: 0.3 } },
  { name: 'categoricalCrossentropy', opts: { labelSmoothing: 0.1 } },
  { name: 'categoricalCrossentropy', opts: { fromLogits: true } },
  { name: 'categoricalCrossentropy', opts: { fromLogits: true, labelSmoothing: 0.25 } },
  { name: 'sparseCategoricalCrossentropy', opts: {} },
  { name: 'sparseCategoricalCrossentropy', opts: { fromLogits: true } },
];

/** Probabilities down to 0.05 make −log p strongly curved: a smaller step there. */
const fdStep = (c: { name: LossName; opts: RefOpts }): number => (c.opts.fromLogits || !c.name.endsWith('Crossentropy') ? 1e-2 : 1e-3);

const label = (c: { name: LossName; opts: RefOpts }): string => `${c.name} ${JSON.stringify(c.opts)}`;

/** (B, T) mask with a fully masked sample and a gap. */
const B = 3;
const T = 4;
const MASK = [1, 1, 1, 0, /**/ 0, 0, 0, 0, /**/ 1, 0, 1, 1];

describe.each(BACKENDS)('losses, backend %s', (backend) => {
  beforeAll(async () => {
    await init({ backend });
    await tf.setBackend('cpu');
  });
  afterAll(() => tf.disposeVariables());

  describe('value, per-row values and gradient vs Keras 3 (f64) and central differences', () => {
    it.each(CASES.map((c, i) => [label(c), c, i] as const))('%s on (B, C)', (_n, c, i) => {
      const { yTrue, yPred, C } = problem(c.name, [5, 4], 100 + i, c.opts.fromLogits);
      const { loss, grad } = lossAndGradient(c.name, yTrue, yPred, c.opts);
      const want = kerasReduce(kerasRows(c.name, yTrue.data, yPred.data, C, c.opts));
      expectClose('loss (Keras 3 f64)', [loss], [want], VALUE);
      expect(grad.shape).toEqual(yPred.shape);
      const x = yPred.data as Float32Array;
      fdCheck(label(c), x, grad.data, () => lossAndGradient(c.name, yTrue, yPred, c.opts).loss, fdStep(c));
      // Per-row values (Keras reduction "none") through LossFunction.compute(out.rowLoss).
      const lf = new LossFunction(c.name, c.opts);
      try {
        const rowLoss = new Float32Array(5);
        lf.compute(yTrue, yPred, null, { rowLoss });
        expectClose('row losses (Keras 3 f64, reduction none)', rowLoss, kerasRows(c.name, yTrue.data, yPred.data, C, c.opts), VALUE);
      } finally {
        lf.dispose();
      }
    });

    it.each(CASES.map((c, i) => [label(c), c, i] as const))('%s on (B, T, C) with a (B, T) mask and (B,) sample weights', (_n, c, i) => {
      const { yTrue, yPred, C } = problem(c.name, [B, T, 3], 200 + i, c.opts.fromLogits);
      const sw = [0.5, 2, 1.25];
      const swRows = Array.from({ length: B * T }, (_, r) => sw[Math.floor(r / T)]);
      const values = kerasRows(c.name, yTrue.data, yPred.data, C, c.opts);
      const masked = lossAndGradient(c.name, yTrue, yPred, { ...c.opts, mask: tensor(MASK, [B, T]) });
      expectClose('masked loss (Keras 3 apply_mask, f64)', [masked.loss], [kerasReduce(values, null, MASK)], VALUE);
      // The mean over the valid rows, said another way.
      const valid = MASK.reduce((a, b) => a + b, 0);
      expectClose('masked loss = mean over valid rows', [masked.loss], [values.reduce((a, v, r) => a + v * MASK[r], 0) / valid], VALUE);
      const opts: LossOptions = { ...c.opts, mask: MASK.map((m) => m === 1), sampleWeight: sw };
      const both = lossAndGradient(c.name, yTrue, yPred, opts);
      // Per-sample weights broadcast over time (see LossWeighting.sampleWeight's porting note).
      expectClose('mask × sample weight (Keras 3 f64)', [both.loss], [kerasReduce(values, swRows, MASK)], VALUE);
      // Per-row sample weights (B, T) give the same when they repeat the per-sample ones.
      const perRow = lossAndGradient(c.name, yTrue, yPred, { ...c.opts, mask: tensor(MASK, [B, T]), sampleWeight: tensor(swRows, [B, T]) });
      expect(perRow.loss).toBe(both.loss);
      // Masked rows get no gradient; the gradient matches central differences of the same call.
      for (let r = 0; r < B * T; r++) if (MASK[r] === 0) for (let j = 0; j < C; j++) expect(both.grad.data[r * C + j] === 0, `grad row ${r}`).toBe(true); // ±0
      fdCheck(`${label(c)} masked + weighted`, yPred.data as Float32Array, both.grad.data, () => lossAndGradient(c.name, yTrue, yPred, opts).loss, fdStep(c));
    });

    it('sample weights are not normalised by their sum; an all-masked batch gives 0 and a zero gradient', () => {
      // Keras 3 Huber docstring: huber([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]) = 0.155; rows
      // 0.18 and 0.13, so sample_weight [1, 0] gives 0.18 · 1 / 2 = 0.09 (loss.py reduce_values).
      const yTrue = tensor([
        [0, 1],
        [0, 0],
      ]);
      const yPred = tensor([
        [0.6, 0.4],
        [0.4, 0.6],
      ]);
      expect(lossAndGradient('huber', yTrue, yPred).loss).toBeCloseTo(0.155, 6);
      expect(lossAndGradient('huber', yTrue, yPred, { sampleWeight: [1, 0] }).loss).toBeCloseTo(0.09, 6);
      expect(lossAndGradient('huber', yTrue, yPred, { sampleWeight: [2, 2] }).loss).toBeCloseTo(0.31, 6);
      // Keras 3 log_cosh docstring: log_cosh([[0., 1.], [0., 0.]], [[1., 1.], [0., 0.]]) = 0.108.
      expect(lossAndGradient('log_cosh', yTrue, tensor([[1, 1], [0, 0]])).loss).toBeCloseTo(0.108, 3);
      const none = lossAndGradient('mse', yTrue, yPred, { mask: [0, 0] });
      expect(none.loss).toBe(0);
      expect(Array.from(none.grad.data, (v) => v === 0)).toEqual([true, true, true, true]); // ±0
    });

    it('rowWeights folds as Keras apply_mask: sampleWeight · mask · N / Σmask', () => {
      const w = rowWeights([2, 3, 5], { sampleWeight: [2, 4], mask: [1, 0, 1, 1, 1, 0] })!;
      // N = 6 rows, 4 valid: the mask becomes 1.5 where valid.
      expect(Array.from(w)).toEqual([3, 0, 3, 6, 6, 0]);
      expect(rowWeights([2, 3, 5], {})).toBeNull();
      expect(Array.from(rowWeights([4, 2], { sampleWeight: tensor([[1], [2], [3], [4]]) })!)).toEqual([1, 2, 3, 4]);
    });
  });

  describe('parity with tfjs 4.22 (cpu backend)', () => {
    const R = 6;
    const C = 5;

    /** Value and gradient of a tfjs loss of the predictions. */
    function tfjsValueGrad(pred: Float32Array, shape: number[], f: (p: tf.Tensor) => tf.Scalar): { value: number; grad: Float32Array } {
      return tf.tidy(() => {
        const p = tf.tensor(pred, shape);
        const { value, grad } = tf.valueAndGrad(f)(p);
        return { value: value.dataSync()[0], grad: grad.dataSync() as Float32Array };
      });
    }

    it('huber (delta 1 and 2.5) = tf.losses.huberLoss, unweighted and with a 0/1 row mask', () => {
      const { yTrue, yPred } = problem('huber', [R, C], 301);
      for (const delta of [1, 2.5]) {
        const labels = tf.tensor(yTrue.data, [R, C]);
        const ours = lossAndGradient('huber', yTrue, yPred, { delta });
        const ref = tfjsValueGrad(yPred.data as Float32Array, [R, C], (p) => tf.losses.huberLoss(labels, p, undefined, delta) as tf.Scalar);
        expectClose(`huber δ=${delta}`, [ours.loss], [ref.value], VALUE);
        expectClose(`huber δ=${delta} grad`, ours.grad.data, ref.grad, GRAD);
        // SUM_BY_NONZERO_WEIGHTS with (R, 1) 0/1 weights = the mean over valid rows = Keras' mask.
        const mask = [1, 0, 1, 1, 0, 1];
        const w = tf.tensor(mask, [R, 1]);
        const m = lossAndGradient('huber', yTrue, yPred, { delta, mask });
        const mref = tfjsValueGrad(yPred.data as Float32Array, [R, C], (p) => tf.losses.huberLoss(labels, p, w, delta) as tf.Scalar);
        expectClose(`masked huber δ=${delta}`, [m.loss], [mref.value], VALUE);
        expectClose(`masked huber δ=${delta} grad`, m.grad.data, mref.grad, GRAD);
        labels.dispose();
        w.dispose();
      }
    });

    it('sample weights: Reduction.SUM / (N·C) of tf.losses.huberLoss and meanSquaredError, SUM / N of softmaxCrossEntropy', () => {
      const sw = [0.5, 0, 2, 1, 3, 0.25];
      const w = tf.tensor(sw, [R, 1]);
      for (const name of ['huber', 'meanSquaredError'] as const) {
        const { yTrue, yPred } = problem(name, [R, C], 302);
        const labels = tf.tensor(yTrue.data, [R, C]);
        const sum = (p: tf.Tensor): tf.Tensor => (name === 'huber' ? tf.losses.huberLoss(labels, p, w, 1, tf.Reduction.SUM) : tf.losses.meanSquaredError(labels, p, w, tf.Reduction.SUM));
        const ref = tfjsValueGrad(yPred.data as Float32Array, [R, C], (p) => tf.div(sum(p), R * C) as tf.Scalar);
        const ours = lossAndGradient(name, yTrue, yPred, { sampleWeight: sw });
        expectClose(`${name} weighted`, [ours.loss], [ref.value], VALUE);
        expectClose(`${name} weighted grad`, ours.grad.data, ref.grad, GRAD);
        labels.dispose();
      }
      const { yTrue, yPred } = problem('categoricalCrossentropy', [R, C], 303, true);
      const labels = tf.tensor(yTrue.data, [R, C]);
      const ref = tfjsValueGrad(yPred.data as Float32Array, [R, C], (p) => tf.div(tf.losses.softmaxCrossEntropy(labels, p, tf.tensor(sw), 0.1, tf.Reduction.SUM), R) as tf.Scalar);
      const ours = lossAndGradient('categoricalCrossentropy', yTrue, yPred, { fromLogits: true, labelSmoothing: 0.1, sampleWeight: sw });
      expectClose('softmaxCrossEntropy weighted, smoothed', [ours.loss], [ref.value], VALUE);
      expectClose('softmaxCrossEntropy weighted, smoothed grad', ours.grad.data, ref.grad, GRAD);
      labels.dispose();
      w.dispose();
    });

    it('binaryCrossentropy fromLogits + labelSmoothing = tf.losses.sigmoidCrossEntropy(labelSmoothing)', () => {
      for (const s of [0, 0.1, 0.6]) {
        const { yTrue, yPred } = problem('binaryCrossentropy', [R, C], 304, true);
        const labels = tf.tensor(yTrue.data, [R, C]);
        const ref = tfjsValueGrad(yPred.data as Float32Array, [R, C], (p) => tf.losses.sigmoidCrossEntropy(labels, p, undefined, s) as tf.Scalar);
        const ours = lossAndGradient('binary_crossentropy', yTrue, yPred, { fromLogits: true, labelSmoothing: s });
        expectClose(`sigmoidCrossEntropy s=${s}`, [ours.loss], [ref.value], VALUE);
        expectClose(`sigmoidCrossEntropy s=${s} grad`, ours.grad.data, ref.grad, GRAD);
        labels.dispose();
      }
    });

    it('categoricalCrossentropy fromLogits + labelSmoothing = tf.losses.softmaxCrossEntropy(labelSmoothing), also masked', () => {
      for (const s of [0, 0.2, 1]) {
        const { yTrue, yPred } = problem('categoricalCrossentropy', [R, C], 305, true);
        const labels = tf.tensor(yTrue.data, [R, C]);
        const ref = tfjsValueGrad(yPred.data as Float32Array, [R, C], (p) => tf.losses.softmaxCrossEntropy(labels, p, undefined, s) as tf.Scalar);
        const ours = lossAndGradient('categoricalCrossentropy', yTrue, yPred, { fromLogits: true, labelSmoothing: s });
        expectClose(`softmaxCrossEntropy s=${s}`, [ours.loss], [ref.value], VALUE);
        expectClose(`softmaxCrossEntropy s=${s} grad`, ours.grad.data, ref.grad, GRAD);
        const mask = [0, 1, 1, 0, 1, 1];
        const mw = tf.tensor(mask);
        const mref = tfjsValueGrad(yPred.data as Float32Array, [R, C], (p) => tf.losses.softmaxCrossEntropy(labels, p, mw, s) as tf.Scalar);
        const m = lossAndGradient('categoricalCrossentropy', yTrue, yPred, { fromLogits: true, labelSmoothing: s, mask });
        expectClose(`masked softmaxCrossEntropy s=${s}`, [m.loss], [mref.value], VALUE);
        expectClose(`masked softmaxCrossEntropy s=${s} grad`, m.grad.data, mref.grad, GRAD);
        // Sparse ids give the unsmoothed one-hot loss.
        if (s === 0) {
          const ids = tensor(Array.from({ length: R }, (_, r) => Array.from(yTrue.data.slice(r * C, (r + 1) * C)).indexOf(1)), [R], 'int32');
          const sp = lossAndGradient('sparseCategoricalCrossentropy', ids, yPred, { fromLogits: true, mask });
          expectClose('masked sparse = masked softmaxCrossEntropy', [sp.loss], [mref.value], VALUE);
          expectClose('masked sparse grad', sp.grad.data, mref.grad, GRAD);
        }
        labels.dispose();
        mw.dispose();
      }
    });

    it('probability forms with smoothing = tf.metrics.binaryCrossentropy / categoricalCrossentropy of pre-smoothed labels', () => {
      const s = 0.3;
      {
        const { yTrue, yPred } = problem('binaryCrossentropy', [R, C], 306);
        const smoothed = tf.tensor(Array.from(yTrue.data, (t) => t * (1 - s) + 0.5 * s), [R, C]);
        const ref = tfjsValueGrad(yPred.data as Float32Array, [R, C], (p) => tf.mean(tf.metrics.binaryCrossentropy(smoothed, p)) as tf.Scalar);
        const ours = lossAndGradient('binaryCrossentropy', yTrue, yPred, { labelSmoothing: s });
        expectClose('bce probabilities smoothed', [ours.loss], [ref.value], VALUE);
        expectClose('bce probabilities smoothed grad', ours.grad.data, ref.grad, { atol: 1e-6, rtol: 1e-4 });
        // tf.losses.logLoss is Keras 2's form (ε inside the logs): equal to ~ε/p here.
        const labels = tf.tensor(yTrue.data, [R, C]);
        const k2 = tf.tidy(() => tf.losses.logLoss(labels, tf.tensor(yPred.data, [R, C])).dataSync()[0]);
        expectClose('bce = tf.losses.logLoss (Keras 2 form) to ~ε/p', [lossAndGradient('binaryCrossentropy', yTrue, yPred).loss], [k2], { atol: 1e-5, rtol: 1e-5 });
        smoothed.dispose();
        labels.dispose();
      }
      {
        // Unnormalised positive scores: both divide each row by its sum.
        const r = rng(307);
        const yPred = tensor(uniform(r, R * C, 0.05, 1), [R, C]);
        const { yTrue } = problem('categoricalCrossentropy', [R, C], 307);
        const smoothed = tf.tensor(Array.from(yTrue.data, (t) => t * (1 - s) + s / C), [R, C]);
        const ref = tfjsValueGrad(yPred.data as Float32Array, [R, C], (p) => tf.mean(tf.metrics.categoricalCrossentropy(smoothed, p)) as tf.Scalar);
        const ours = lossAndGradient('categoricalCrossentropy', yTrue, yPred, { labelSmoothing: s });
        expectClose('cce probabilities smoothed', [ours.loss], [ref.value], VALUE);
        expectClose('cce probabilities smoothed grad', ours.grad.data, ref.grad, { atol: 1e-6, rtol: 1e-4 });
        smoothed.dispose();
      }
    });

    it('logCosh = tfjs-layers logcosh; mse / mae = tf.metrics.meanSquaredError / tf.losses.absoluteDifference on (B, T, C)', () => {
      const shape = [B, T, C];
      for (const name of ['logCosh', 'meanSquaredError', 'meanAbsoluteError'] as const) {
        const { yTrue, yPred } = problem(name, shape, 308);
        const labels = tf.tensor(yTrue.data, shape);
        const f = (p: tf.Tensor): tf.Scalar =>
          (name === 'logCosh' ? tf.mean(tfjsLogcosh(labels, p)) : name === 'meanSquaredError' ? tf.mean(tf.metrics.meanSquaredError(labels, p)) : tf.losses.absoluteDifference(labels, p)) as tf.Scalar;
        const ref = tfjsValueGrad(yPred.data as Float32Array, shape, f);
        const ours = lossAndGradient(name, yTrue, yPred);
        expectClose(name, [ours.loss], [ref.value], VALUE);
        expectClose(`${name} grad`, ours.grad.data, ref.grad, GRAD);
        // (B, T) mask as (B, T, 1) 0/1 weights under SUM_BY_NONZERO_WEIGHTS.
        const w = tf.tensor(MASK, [B, T, 1]);
        const mref = tfjsValueGrad(yPred.data as Float32Array, shape, (p) => tf.losses.computeWeightedLoss(name === 'logCosh' ? tf.expandDims(tfjsLogcosh(labels, p), -1) : name === 'meanSquaredError' ? tf.squaredDifference(labels, p) : tf.abs(tf.sub(labels, p)), w) as tf.Scalar);
        const m = lossAndGradient(name, yTrue, yPred, { mask: tensor(MASK, [B, T]) });
        expectClose(`${name} masked`, [m.loss], [mref.value], VALUE);
        expectClose(`${name} masked grad`, m.grad.data, mref.grad, GRAD);
        labels.dispose();
        w.dispose();
      }
    });
  });

  describe('LossFunction, getLoss', () => {
    it('a LossFunction reused over steps allocates wasm memory on its first step only and agrees with lossAndGradient', () => {
      const lf = new LossFunction('categorical_crossentropy', { fromLogits: true, labelSmoothing: 0.1 });
      try {
        const grad = new Float32Array(B * T * C_SEQ);
        const rowLoss = new Float32Array(B * T);
        const w = rowWeights([B, T, C_SEQ], { mask: MASK, sampleWeight: [1, 2, 0.5] });
        let after = -1;
        for (let step = 0; step < 4; step++) {
          const { yTrue, yPred } = problem('categoricalCrossentropy', [B, T, C_SEQ], 400 + step, true);
          const r = lf.compute(yTrue, yPred, w, { grad, rowLoss });
          expect(r.grad.data).toBe(grad);
          const one = lossAndGradient('categoricalCrossentropy', yTrue, yPred, { fromLogits: true, labelSmoothing: 0.1, mask: MASK, sampleWeight: [1, 2, 0.5] });
          expect(r.loss).toBe(one.loss);
          expect(Array.from(grad)).toEqual(Array.from(one.grad.data));
          expectClose('row losses', rowLoss, kerasRows('categoricalCrossentropy', yTrue.data, yPred.data, C_SEQ, { fromLogits: true, labelSmoothing: 0.1 }), VALUE);
          if (step === 0) after = memory().allocatedBytes;
          else expect(memory().allocatedBytes, `step ${step} allocated wasm memory`).toBe(after);
        }
        // A smaller batch reuses the larger buffers.
        const small = problem('categoricalCrossentropy', [1, 2, C_SEQ], 410, true);
        lf.compute(small.yTrue, small.yPred);
        expect(memory().allocatedBytes).toBe(after);
      } finally {
        lf.dispose();
      }
    });

    it('getLoss takes names, {className, config} and instances; getConfig round-trips', () => {
      const before = memory().allocatedBytes;
      const h = getLoss({ className: 'Huber', config: { delta: 2.5, name: 'h', reduction: 'sum_over_batch_size' } });
      expect(h.toJSON()).toEqual({ className: 'Huber', config: { name: 'h', reduction: 'sum_over_batch_size', delta: 2.5 } });
      const again = LossFunction.fromConfig(h.toJSON());
      expect(again.delta).toBe(2.5);
      expect(getLoss(h)).toBe(h);
      // What Keras 3 writes for BinaryCrossentropy(from_logits=True, label_smoothing=0.1).get_config().
      const bce = getLoss({ className: 'BinaryCrossentropy', config: { name: 'binary_crossentropy', reduction: 'sum_over_batch_size', from_logits: true, label_smoothing: 0.1, axis: -1 } });
      expect([bce.fromLogits, bce.labelSmoothing, bce.lossName]).toEqual([true, 0.1, 'binaryCrossentropy']);
      expect(getLoss({ className: 'LogCosh', config: { name: 'log_cosh', reduction: 'sum_over_batch_size' } }).lossName).toBe('logCosh');
      for (const [id, canonical] of [
        ['mse', 'meanSquaredError'],
        ['MAE', 'meanAbsoluteError'],
        ['bce', 'binaryCrossentropy'],
        ['huber_loss', 'huber'],
        ['huberLoss', 'huber'],
        ['logcosh', 'logCosh'],
        ['log_cosh', 'logCosh'],
        ['SparseCategoricalCrossentropy', 'sparseCategoricalCrossentropy'],
      ] as const) {
        const l = getLoss(id);
        expect(l.lossName, id).toBe(canonical);
        l.dispose();
      }
      for (const l of [h, again, bce]) l.dispose();
      expect(memory().allocatedBytes).toBe(before);
    });
  });

  describe('errors say what to fix', () => {
    const err = (f: () => unknown): Error => {
      try {
        f();
      } catch (e) {
        return e as Error;
      }
      throw new Error('expected a throw');
    };

    it('shapes, class ids and NaN targets', () => {
      const p = tensor([
        [0.2, 0.3, 0.5],
        [0.1, 0.1, 0.8],
      ]);
      let e = err(() => lossAndGradient('huber', tensor([1, 2]), p));
      expect(e).toBeInstanceOf(ValueError);
      expect(e.message).toBe("loss 'huber': yTrue (2) and yPred (2, 3) must have the same shape");
      e = err(() => lossAndGradient('categoricalCrossentropy', tensor([1, 2], undefined, 'int32'), p));
      expect(e.message).toMatch(/these look like class ids; use sparseCategoricalCrossentropy, or one-hot encode yTrue/);
      e = err(() => lossAndGradient('sparseCategoricalCrossentropy', tensor([1, 3], undefined, 'int32'), p));
      expect(e).toBeInstanceOf(IndexError);
      expect(e.message).toMatch(/label 3 at row 1 is outside \[0, 3\); labels must be class ids below the number of classes/);
      e = err(() => lossAndGradient('sparseCategoricalCrossentropy', tensor([0, NaN]), p));
      expect(e.message).toMatch(/class id NaN at index 1 is not an integer/);
      const t = tensor([
        [0, 1, 0],
        [1, NaN, 0],
      ]);
      e = err(() => lossAndGradient('categoricalCrossentropy', t, p, { labelSmoothing: 0.1 }));
      expect(e).toBeInstanceOf(NonFiniteError);
      expect(e.message).toMatch(/^loss 'categoricalCrossentropy': target has a non-finite value \(NaN\) at flat index 4/);
    });

    it('sample weights and masks of the wrong shape or not finite', () => {
      const y = tensor(new Float32Array(2 * 3 * 4), [2, 3, 4]);
      let e = err(() => lossAndGradient('mse', y, y, { sampleWeight: [1, 2, 3] }));
      expect(e).toBeInstanceOf(ValueError);
      expect(e.message).toBe("loss 'mse': sampleWeight must have shape (2) (one weight per sample) or (2, 3) (one per row) for yPred (2, 3, 4), got (3)");
      e = err(() => lossAndGradient('mse', y, y, { mask: tensor([1, 1, 0, 1, 1, 0], [3, 2]) }));
      expect(e.message).toBe("loss 'mse': mask must have shape (2, 3) (one value per row) for yPred (2, 3, 4), got (3, 2)");
      e = err(() => lossAndGradient('mse', y, y, { sampleWeight: [1, NaN] }));
      expect(e).toBeInstanceOf(NonFiniteError);
      expect(e.message).toMatch(/sampleWeight has a non-finite value \(NaN\) at index 1/);
      const lf = new LossFunction('mse');
      e = err(() => lf.compute(y, y, new Float32Array(2)));
      expect(e.message).toMatch(/weights must hold one value per row \(6 for yPred \(2, 3, 4\)\), got 2; build them with rowWeights\(\)/);
      lf.dispose();
      expect(err(() => lf.compute(y, y))).toBeInstanceOf(DisposedError);
    });

    it('options that do not apply, or out of range', () => {
      const y = tensor([[0.5, 0.5]]);
      expect(err(() => lossAndGradient('mse', y, y, { labelSmoothing: 0.1 })).message).toBe("loss 'mse': labelSmoothing applies to binaryCrossentropy and categoricalCrossentropy only; remove it");
      expect(err(() => lossAndGradient('sparse_categorical_crossentropy', tensor([0]), y, { labelSmoothing: 0.1 })).message).toMatch(/labelSmoothing applies to binaryCrossentropy and categoricalCrossentropy only/);
      expect(err(() => lossAndGradient('bce', y, y, { labelSmoothing: 1.5 })).message).toBe("loss 'bce': labelSmoothing must be a number in [0, 1], got 1.5");
      expect(err(() => lossAndGradient('mse', y, y, { delta: 2 })).message).toBe("loss 'mse': delta applies to huber only; remove it");
      expect(err(() => lossAndGradient('huber', y, y, { delta: 0 })).message).toBe("loss 'huber': delta must be a finite number > 0, got 0");
      expect(err(() => lossAndGradient('huber', y, y, { fromLogits: true })).message).toBe("loss 'huber': fromLogits applies to the cross-entropies only; remove it");
      expect(err(() => getLoss({ className: 'Huber', config: { reduction: 'sum' } })).message).toMatch(/reduction 'sum' is not supported; fastgru losses reduce with 'sum_over_batch_size'/);
      expect(err(() => getLoss({ className: 'Hinge', config: {} })).message).toMatch(/unknown loss 'Hinge'; expected one of/);
      expect(err(() => getLoss({ className: 'Huber', config: { foo: 1 } })).message).toMatch(/config key 'foo' is not supported/);
    });
  });
});

/** Classes of the sequence case in the LossFunction test. */
const C_SEQ = 6;
