/**
 * Metrics (ts/src/training/metrics.ts) against outside truth:
 *
 * - the examples in the Keras 3 docstrings (keras/src/metrics/accuracy_metrics.py,
 *   confusion_metrics.py, f_score_metrics.py, regression_metrics.py, reduction_metrics.py), quoted
 *   next to each check as `>>> m.update_state(...)` / `m.result()`;
 * - the hand-worked AUC cases of Keras' confusion_metrics_test.py (AUCTest, MultiAUCTest);
 * - tfjs 4.22 `tf.metrics.*` (pure-JS cpu backend), live, on seeded random data;
 * - an exact AUC (Mann-Whitney: P(score_pos > score_neg) + ½ P(tie)) where Keras' thresholded
 *   AUC must equal it: separable data, and predictions that fall in distinct threshold buckets.
 *
 * Keras computes in float32, these metrics in float64: numbers agree to ~1e-6.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Tensor, tensor } from '../../ts/src/index.ts';
import {
  AUC,
  BinaryAccuracy,
  CategoricalAccuracy,
  F1Score,
  Mean,
  MeanAbsoluteError,
  MeanSquaredError,
  Precision,
  Recall,
  RootMeanSquaredError,
  SparseCategoricalAccuracy,
  SparseTopKCategoricalAccuracy,
  TopKCategoricalAccuracy,
  getMetric,
  isBinaryOrSparseCategorical,
  metricDirection,
} from '../../ts/src/training/metrics.ts';
import { ValueError } from '../../ts/src/wasm/errors.ts';
import { rng, uniform } from '../util/random.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const t = (v: Parameters<typeof tensor>[0], shape?: number[]) => tensor(v, shape);

describe('Keras 3 docstring examples', () => {
  it('BinaryAccuracy', () => {
    // >>> m = keras.metrics.BinaryAccuracy()
    // >>> m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])  -> 0.75
    // >>> m.update_state(..., sample_weight=[1, 0, 0, 1])                   -> 0.5
    const m = new BinaryAccuracy();
    m.update(t([[1], [1], [0], [0]]), t([[0.98], [1], [0], [0.6]]));
    expect(m.result()).toBeCloseTo(0.75, 7);
    m.reset();
    m.update(t([[1], [1], [0], [0]]), t([[0.98], [1], [0], [0.6]]), [1, 0, 0, 1]);
    expect(m.result()).toBeCloseTo(0.5, 7);
    expect(m.name).toBe('binary_accuracy');
  });

  it('CategoricalAccuracy', () => {
    // >>> m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])  -> 0.5
    // >>> ... sample_weight=[0.7, 0.3]                                                  -> 0.3
    const m = new CategoricalAccuracy();
    m.update(t([[0, 0, 1], [0, 1, 0]]), t([[0.1, 0.9, 0.8], [0.05, 0.95, 0]]));
    expect(m.result()).toBeCloseTo(0.5, 7);
    m.reset();
    m.update(t([[0, 0, 1], [0, 1, 0]]), t([[0.1, 0.9, 0.8], [0.05, 0.95, 0]]), new Float32Array([0.7, 0.3]));
    expect(m.result()).toBeCloseTo(0.3, 6);
  });

  it('SparseCategoricalAccuracy', () => {
    // >>> m.update_state([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]])  -> 0.5
    // >>> ... sample_weight=[0.7, 0.3]                                     -> 0.3
    const m = new SparseCategoricalAccuracy();
    m.update(t([[2], [1]]), t([[0.1, 0.6, 0.3], [0.05, 0.95, 0]]));
    expect(m.result()).toBeCloseTo(0.5, 7);
    m.reset();
    m.update(t([2, 1]), t([[0.1, 0.6, 0.3], [0.05, 0.95, 0]]), [0.7, 0.3]);
    expect(m.result()).toBeCloseTo(0.3, 6);
  });

  it('TopKCategoricalAccuracy(k=1) and SparseTopKCategoricalAccuracy(k=1)', () => {
    // >>> m = keras.metrics.TopKCategoricalAccuracy(k=1)
    // >>> m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])  -> 0.5; weighted [0.7, 0.3] -> 0.3
    // >>> m = keras.metrics.SparseTopKCategoricalAccuracy(k=1)
    // >>> m.update_state([2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])                   -> 0.5; weighted -> 0.3
    const pred = t([[0.1, 0.9, 0.8], [0.05, 0.95, 0]]);
    const a = new TopKCategoricalAccuracy({ k: 1 });
    a.update(t([[0, 0, 1], [0, 1, 0]]), pred);
    expect(a.result()).toBeCloseTo(0.5, 7);
    a.reset();
    a.update(t([[0, 0, 1], [0, 1, 0]]), pred, [0.7, 0.3]);
    expect(a.result()).toBeCloseTo(0.3, 6);
    const b = new SparseTopKCategoricalAccuracy({ k: 1 });
    b.update(t([2, 1]), pred);
    expect(b.result()).toBeCloseTo(0.5, 7);
    b.reset();
    b.update(t([2, 1]), pred, [0.7, 0.3]);
    expect(b.result()).toBeCloseTo(0.3, 6);
    // k defaults to 5 (Keras): with 3 classes every target is in the top 5.
    const d = new SparseTopKCategoricalAccuracy();
    d.update(t([2, 1]), pred);
    expect([d.k, d.result()]).toEqual([5, 1]);
  });

  it('Precision and Recall', () => {
    // >>> m = keras.metrics.Precision()   (and Recall)
    // >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1])                              -> 0.6666667
    // >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0])  -> 1.0
    for (const M of [Precision, Recall]) {
      const m = new M();
      m.update(t([0, 1, 1, 1]), t([1, 0, 1, 1]));
      expect(m.result()).toBeCloseTo(0.6666667, 6);
      m.reset();
      m.update(t([0, 1, 1, 1]), t([1, 0, 1, 1]), [0, 0, 1, 0]);
      expect(m.result()).toBe(1);
    }
  });

  it('F1Score(threshold=0.5): per class, and the averages', () => {
    // >>> metric = keras.metrics.F1Score(threshold=0.5)
    // >>> y_true = [[1, 1, 1], [1, 0, 0], [1, 1, 0]]
    // >>> y_pred = [[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]]
    // >>> metric.result()  -> array([0.5, 0.8, 0.6666667])
    const yTrue = t([[1, 1, 1], [1, 0, 0], [1, 1, 0]]);
    const yPred = t([[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]]);
    const macro = new F1Score({ average: 'macro' });
    macro.update(yTrue, yPred);
    const per = macro.resultPerClass();
    expect(per[0]).toBeCloseTo(0.5, 6);
    expect(per[1]).toBeCloseTo(0.8, 6);
    expect(per[2]).toBeCloseTo(0.6666667, 6);
    // macro = mean of the above (Keras average='macro').
    expect(macro.result()).toBeCloseTo((0.5 + 0.8 + 2 / 3) / 3, 6);
    // micro (hand count over all 9 cells): pred>0.5 = [0,1,1 | 0,1,1 | 1,1,0] against
    // labels [1,1,1 | 1,0,0 | 1,1,0] -> tp 4, fp 2, fn 2; P = R = 4/6, F1 = 2/3.
    const micro = new F1Score();
    micro.update(yTrue, yPred);
    expect(micro.average).toBe('micro');
    expect(micro.result()).toBeCloseTo(2 / 3, 6);
    // weighted by support (true labels per class: 3, 2, 1).
    const weighted = new F1Score({ average: 'weighted' });
    weighted.update(yTrue, yPred);
    expect(weighted.result()).toBeCloseTo((0.5 * 3 + 0.8 * 2 + (2 / 3) * 1) / 6, 6);
  });

  it('MeanSquaredError, MeanAbsoluteError, RootMeanSquaredError', () => {
    // >>> keras.metrics.MeanSquaredError().update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])  -> 0.25
    // >>> keras.metrics.MeanAbsoluteError(): same -> 0.25; sample_weight=[1, 0] -> 0.5
    // >>> keras.metrics.RootMeanSquaredError(): same -> 0.5; sample_weight=[1, 0] -> 0.70710677
    const yt = t([[0, 1], [0, 0]]);
    const yp = t([[1, 1], [0, 0]]);
    const mse = new MeanSquaredError();
    mse.update(yt, yp);
    expect(mse.result()).toBeCloseTo(0.25, 7);
    const mae = new MeanAbsoluteError();
    mae.update(yt, yp);
    expect(mae.result()).toBeCloseTo(0.25, 7);
    mae.reset();
    mae.update(yt, yp, [1, 0]);
    expect(mae.result()).toBeCloseTo(0.5, 7);
    const rmse = new RootMeanSquaredError();
    rmse.update(yt, yp);
    expect(rmse.result()).toBeCloseTo(0.5, 7);
    rmse.reset();
    rmse.update(yt, yp, [1, 0]);
    expect(rmse.result()).toBeCloseTo(0.70710677, 6);
    expect([mse.name, mae.name, rmse.name]).toEqual(['mean_squared_error', 'mean_absolute_error', 'root_mean_squared_error']);
    expect([mse.direction, rmse.direction]).toEqual(['down', 'down']);
  });

  it('Mean', () => {
    // >>> m = Mean(); m.update_state([1, 3, 5, 7])      -> 4.0
    // >>> m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])  -> 2.0
    const m = new Mean();
    m.update([1, 3, 5, 7]);
    expect(m.result()).toBe(4);
    m.reset();
    m.update([1, 3, 5, 7], [1, 1, 0, 0]);
    expect(m.result()).toBe(2);
    // The trainer's epoch loss: batch means weighted by batch size (Keras loss tracker).
    m.reset();
    m.update(0.5, 32);
    m.update(1.0, 8);
    expect(m.result()).toBeCloseTo((0.5 * 32 + 1.0 * 8) / 40, 12);
    expect(m.direction).toBeNull();
  });

  it('AUC(num_thresholds=3)', () => {
    // >>> m = keras.metrics.AUC(num_thresholds=3)
    // >>> m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])                              -> 0.75
    // >>> m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9], sample_weight=[1, 0, 0, 1])  -> 1.0
    const m = new AUC({ numThresholds: 3 });
    m.update(t([0, 0, 1, 1]), t([0, 0.5, 0.3, 0.9]));
    expect(m.result()).toBeCloseTo(0.75, 7);
    // "tp = [2, 1, 0], fp = [2, 0, 0], fn = [0, 1, 2], tn = [0, 2, 2]"
    const c = m.confusion();
    expect([...c.tp, ...c.fp, ...c.fn, ...c.tn]).toEqual([2, 1, 0, 2, 0, 0, 0, 1, 2, 0, 2, 2]);
    m.reset();
    m.update(t([0, 0, 1, 1]), t([0, 0.5, 0.3, 0.9]), [1, 0, 0, 1]);
    expect(m.result()).toBeCloseTo(1, 7);
    expect(m.thresholds).toEqual([-1e-7, 0.5, 1 + 1e-7]);
  });
});

describe("AUC: Keras' confusion_metrics_test.py cases", () => {
  // AUCTest.setUp: num_thresholds = 3, y_pred = [0, 0.5, 0.3, 0.9], y_true = [0, 0, 1, 1],
  // sample_weight = [1, 2, 3, 4]; "tp = [7, 4, 0], fp = [3, 0, 0], fn = [0, 3, 7], tn = [0, 3, 3]".
  const yTrue = t([0, 0, 1, 1]);
  const yPred = t([0, 0.5, 0.3, 0.9]);
  const sw = [1, 2, 3, 4];
  const cases: [string, ConstructorParameters<typeof AUC>[0], number][] = [
    ['test_weighted_roc_interpolation: 0.7855 * 1 + 0.2855 * 0', {}, 0.7855],
    ['test_weighted_roc_majoring: 1 * 1 + 0.571 * 0', { summationMethod: 'majoring' }, 1],
    ['test_weighted_roc_minoring: 0.571 * 1 + 0 * 0', { summationMethod: 'minoring' }, 0.571],
    ['test_weighted_pr_majoring: 1 * 0.429 + 1 * 0.571', { curve: 'PR', summationMethod: 'majoring' }, 1 * 0.429 + 1 * 0.571],
    ['test_weighted_pr_minoring: 0.7 * 0.429 + 0 * 0.571', { curve: 'PR', summationMethod: 'minoring' }, 0.7 * 0.429],
    ['test_weighted_pr_interpolation: 2.416 / 7 + 4 / 7', { curve: 'PR' }, 2.416 / 7 + 4 / 7],
  ];
  for (const [name, args, expected] of cases) {
    it(name, () => {
      const m = new AUC({ numThresholds: 3, ...args });
      m.update(yTrue, yPred, sw);
      // Keras asserts these with atol 1e-3 (its expected values are rounded to 3 decimals).
      expect(Math.abs(m.result() - expected)).toBeLessThan(1e-3);
    });
  }

  it('test_weighted_pr_interpolation, exact: 0.5·(3 + 2·ln 2.5)/7 + 4/7', () => {
    const m = new AUC({ numThresholds: 3, curve: 'PR' });
    m.update(yTrue, yPred, sw);
    expect(m.result()).toBeCloseTo((0.5 * (3 + 2 * Math.log(2.5))) / 7 + 4 / 7, 12);
  });

  it('test_weighted_pr_interpolation_negative_weights -> 0', () => {
    const m = new AUC({ numThresholds: 3, curve: 'PR' });
    m.update(yTrue, yPred, [-1, -2, -3, -4]);
    expect(m.result()).toBe(0);
  });

  it('test_manual_thresholds: thresholds=[0.5] -> 0.75', () => {
    const m = new AUC({ numThresholds: 2, thresholds: [0.5] });
    expect(m.numThresholds).toBe(3);
    m.update(yTrue, yPred);
    expect(m.result()).toBeCloseTo(0.75, 7);
  });

  it('test_unweighted_from_logits -> 0.75', () => {
    // y_pred_logits = -log(1 / (y_pred + 1e-12) - 1)
    const logits = [0, 0.5, 0.3, 0.9].map((p) => -Math.log(1 / (p + 1e-12) - 1));
    const m = new AUC({ numThresholds: 3, fromLogits: true });
    m.update(yTrue, t(logits));
    expect(m.result()).toBeCloseTo(0.75, 6);
  });

  it('test_unweighted_all_correct -> 1', () => {
    const m = new AUC();
    m.update(yTrue, yTrue);
    expect(m.result()).toBe(1);
  });

  // MultiAUCTest.setUp: num_thresholds = 5, y_pred = [[0, 0.5, 0.3, 0.9], [0.1, 0.2, 0.3, 0.4]].T,
  // y_true_good = [[0, 0, 1, 1], [0, 0, 1, 1]].T (multi_label=False flattens).
  const yPred2 = t([[0, 0.1], [0.5, 0.2], [0.3, 0.3], [0.9, 0.4]]);
  const yGood = t([[0, 0], [0, 0], [1, 1], [1, 1]]);
  it('test_unweighted_flat -> 1 - 3/32', () => {
    const m = new AUC({ numThresholds: 5 });
    m.update(yGood, yPred2);
    expect(m.result()).toBeCloseTo(1 - 3 / 32, 7);
  });
  it('test_sample_weight_flat: per-sample weights [1, 2, 3, 4] -> 1 - 0.3333·(1 - 0.2857)/2', () => {
    const m = new AUC({ numThresholds: 5 });
    m.update(yGood, yPred2, [1, 2, 3, 4]);
    // Exact: tpr = [1, 1, 4/14, 4/14, 0], fpr = [1, 1/3, 0, 0, 0].
    expect(m.result()).toBeCloseTo(1 - ((1 / 3) * (1 - 4 / 14)) / 2, 7);
  });

  it('test_extra_dims: (batch, time, C) predictions -> 0.5', () => {
    const logits = [
      [[-10, 10, -10], [10, -10, 10]],
      [[-12, 12, -12], [12, -12, 12]],
    ];
    const expit = (x: number) => 1 / (1 + Math.exp(-x));
    const pred = t(logits.map((b) => b.map((r) => r.map((x) => expit(-x)))));
    const labels = t([[[1, 0, 0], [1, 0, 0]], [[0, 1, 1], [0, 1, 1]]]);
    const m = new AUC();
    m.update(labels, pred);
    expect(m.result()).toBe(0.5);
  });
});

/** Exact ROC AUC: P(pos score > neg score) + ½ P(tie), weighted. */
function exactAuc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < labels.length; i++) {
    if (!labels[i]) continue;
    for (let j = 0; j < labels.length; j++) {
      if (labels[j]) continue;
      den += 1;
      num += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    }
  }
  return num / den;
}

describe('AUC against the exact trapezoid AUC', () => {
  it('separable data: 1 (and 0 when reversed)', () => {
    const rand = rng(11);
    const n = 64;
    const labels = Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 1 : 0));
    const scores = labels.map((l) => (l ? 0.6 + 0.4 * rand() : 0.4 * rand()));
    const m = new AUC();
    m.update(t(labels), t(scores));
    expect(exactAuc(labels, scores)).toBe(1);
    expect(m.result()).toBeCloseTo(1, 12);
    const r = new AUC();
    r.update(t(labels), t(scores.map((s) => 1 - s)));
    expect(r.result()).toBeCloseTo(0, 12);
  });

  it('overlapping scores, one prediction per threshold bucket: the thresholded ROC is the exact ROC', () => {
    // With 200 thresholds, bucket k holds (k/199, (k+1)/199]; scores at bucket centres, each bucket
    // used once, so every distinct score is split off by a threshold and the trapezoid sum is exact.
    const rand = rng(5);
    const buckets = Array.from({ length: 199 }, (_, k) => k).sort(() => rand() - 0.5).slice(0, 120);
    const scores = buckets.map((k) => Math.fround((k + 0.5) / 199));
    const labels = scores.map((s) => (rand() < s ? 1 : 0));
    const m = new AUC();
    m.update(t(labels), t(scores));
    expect(m.result()).toBeCloseTo(exactAuc(labels, scores), 10);
    // Fed in several batches the running result is the same.
    const batched = new AUC();
    for (let i = 0; i < 120; i += 40) batched.update(t(labels.slice(i, i + 40)), t(scores.slice(i, i + 40)));
    expect(batched.result()).toBeCloseTo(m.result(), 12);
  });
});

describe('vs tfjs tf.metrics (live, cpu backend)', () => {
  const rand = rng(2024);
  const B = 37;
  const C = 5;

  function tfMean(x: tf.Tensor): number {
    return tf.mean(x).dataSync()[0];
  }

  it('binaryAccuracy: (B, 1) and multi-label (B, C)', () => {
    for (const cols of [1, C]) {
      const pred = uniform(rand, B * cols, 0, 1);
      const lab = Float32Array.from(uniform(rand, B * cols, 0, 1), (v) => (v < 0.5 ? 0 : 1));
      const m = new BinaryAccuracy();
      m.update(new Tensor(lab, [B, cols]), new Tensor(pred, [B, cols]));
      const ref = tfMean(tf.metrics.binaryAccuracy(tf.tensor2d(lab, [B, cols]), tf.tensor2d(pred, [B, cols])));
      expect(m.result()).toBeCloseTo(ref, 6);
    }
  });

  it('categoricalAccuracy and sparseCategoricalAccuracy', () => {
    const pred = uniform(rand, B * C, 0, 1);
    const ids = Int32Array.from({ length: B }, () => Math.floor(rand() * C));
    const oneHot = new Float32Array(B * C);
    ids.forEach((id, i) => (oneHot[i * C + id] = 1));
    const cat = new CategoricalAccuracy();
    cat.update(new Tensor(oneHot, [B, C]), new Tensor(pred, [B, C]));
    expect(cat.result()).toBeCloseTo(tfMean(tf.metrics.categoricalAccuracy(tf.tensor2d(oneHot, [B, C]), tf.tensor2d(pred, [B, C]))), 6);
    const sparse = new SparseCategoricalAccuracy();
    sparse.update(new Tensor(ids, [B]), new Tensor(pred, [B, C]));
    const ref = tfMean(tf.metrics.sparseCategoricalAccuracy(tf.tensor2d(Float32Array.from(ids), [B, 1]), tf.tensor2d(pred, [B, C])));
    expect(sparse.result()).toBeCloseTo(ref, 6);
    expect(sparse.result()).toBeCloseTo(cat.result(), 12);
  });

  it('precision and recall (tfjs takes 0/1 predictions)', () => {
    const pred01 = Float32Array.from(uniform(rand, B, 0, 1), (v) => (v > 0.5 ? 1 : 0));
    const lab = Float32Array.from(uniform(rand, B, 0, 1), (v) => (v < 0.4 ? 0 : 1));
    const p = new Precision();
    const r = new Recall();
    p.update(new Tensor(lab, [B, 1]), new Tensor(pred01, [B, 1]));
    r.update(new Tensor(lab, [B, 1]), new Tensor(pred01, [B, 1]));
    expect(p.result()).toBeCloseTo(tf.metrics.precision(tf.tensor2d(lab, [B, 1]), tf.tensor2d(pred01, [B, 1])).dataSync()[0], 6);
    expect(r.result()).toBeCloseTo(tf.metrics.recall(tf.tensor2d(lab, [B, 1]), tf.tensor2d(pred01, [B, 1])).dataSync()[0], 6);
  });

  it('meanSquaredError and meanAbsoluteError, streamed over batches', () => {
    const yt = uniform(rand, B * C, -2, 2);
    const yp = uniform(rand, B * C, -2, 2);
    const mse = new MeanSquaredError();
    const mae = new MeanAbsoluteError();
    // Uneven batches: the running mean weights every sample equally, like one big batch.
    for (const [a, b] of [[0, 10], [10, 11], [11, B]]) {
      const tt = new Tensor(yt.slice(a * C, b * C), [b - a, C]);
      const pp = new Tensor(yp.slice(a * C, b * C), [b - a, C]);
      mse.update(tt, pp);
      mae.update(tt, pp);
    }
    expect(mse.result()).toBeCloseTo(tfMean(tf.metrics.meanSquaredError(tf.tensor2d(yt, [B, C]), tf.tensor2d(yp, [B, C]))), 5);
    expect(mae.result()).toBeCloseTo(tfMean(tf.metrics.meanAbsoluteError(tf.tensor2d(yt, [B, C]), tf.tensor2d(yp, [B, C]))), 5);
  });
});

describe('sequences and masking: (batch, time, C) with per-step weights', () => {
  it('sparse accuracy over (2, 3, 2) with masked steps equals the accuracy of the unmasked rows', () => {
    // Rows (b, t): argmax of each, class ids, mask. Hand count: unmasked rows 0,1,3,4 -> hits at 0, 3, 4.
    const pred = t([
      [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]],
      [[0.3, 0.7], [0.1, 0.9], [0.5, 0.5]],
    ]);
    const ids = t([[0, 0, 1], [1, 1, 0]]);
    const mask = [1, 1, 0, 1, 1, 0];
    const m = new SparseCategoricalAccuracy();
    m.update(ids, pred, mask);
    expect(m.result()).toBeCloseTo(3 / 4, 12);
    // Keras weighting: each sample contributes mean_t(v·w) / mean_t(w): with equal T this is the
    // plain ratio over unmasked rows; per-sample weights of length batch broadcast over time.
    const perSample = new SparseCategoricalAccuracy();
    perSample.update(ids, pred, [1, 0]);
    expect(perSample.result()).toBeCloseTo(1 / 3, 12); // sample 0: hits at t=0 only ([0.6,0.4] -> 0 != 1)
  });

  it('a masked step may hold NaN without spoiling the result', () => {
    const m = new MeanSquaredError();
    m.update(t([[[1], [NaN]]]), t([[[0], [NaN]]]), [1, 0]);
    expect(m.result()).toBe(1);
  });

  it('binary accuracy on (batch, time, 1) against yTrue (batch, time)', () => {
    const m = new BinaryAccuracy();
    m.update(t([[1, 0], [0, 0]]), t([[[0.7], [0.2]], [[0.9], [0.1]]]));
    expect(m.result()).toBeCloseTo(3 / 4, 12);
  });

  it('wrong shapes and weights throw ValueError saying what was expected', () => {
    const m = new SparseCategoricalAccuracy();
    expect(() => m.update(t([[1, 0, 0]]), t([[0.1, 0.2, 0.7]]))).toThrow(/class ids must have shape \(1\) or \(1, 1\)/);
    expect(() => new CategoricalAccuracy().update(t([[1, 0]]), t([[0.1, 0.2, 0.7]]))).toThrow(ValueError);
    expect(() => m.update(t([0, 1]), t([[0.1, 0.9], [0.8, 0.2]]), [1, 1, 1])).toThrow(/one per sample \(2\) or one per time step \(2/);
    expect(() => new BinaryAccuracy({ threshold: 1 })).toThrow(/threshold must be in \(0, 1\)/);
    expect(() => new AUC({ numThresholds: 1 })).toThrow(/numThresholds must be an integer > 1/);
  });
});

describe('getMetric: Keras 3 compile_utils.get_metric', () => {
  it("'accuracy' / 'acc' pick the kind from target and output shapes (is_binary_or_sparse_categorical)", () => {
    // Keras: is_binary = y_pred.shape[-1] == 1;
    //        is_sparse = rank(y_true) < rank(y_pred) or (y_true.shape[-1] == 1 and y_pred.shape[-1] > 1)
    expect(getMetric('accuracy', { outputShape: [null, 1], loss: 'binary_crossentropy' })).toBeInstanceOf(BinaryAccuracy);
    expect(getMetric('accuracy', { outputShape: [null, 10], loss: 'categorical_crossentropy' })).toBeInstanceOf(CategoricalAccuracy);
    expect(getMetric('accuracy', { outputShape: [null, 10], loss: 'sparse_categorical_crossentropy' })).toBeInstanceOf(SparseCategoricalAccuracy);
    expect(getMetric('acc', { outputShape: [null, 7, 10], loss: 'sparseCategoricalCrossentropy' })).toBeInstanceOf(SparseCategoricalAccuracy);
    expect(getMetric('acc', { outputShape: [null, 10], targetShape: [null, 1] })).toBeInstanceOf(SparseCategoricalAccuracy);
    expect(isBinaryOrSparseCategorical([null, 1], [null, 1])).toEqual({ isBinary: true, isSparseCategorical: false });
    // The name is the identifier as given (Keras 3 logs 'acc' for metrics=['acc']).
    expect(getMetric('acc', { outputShape: [null, 1] }).name).toBe('acc');
    expect(getMetric('accuracy', { outputShape: [null, 1] }).name).toBe('accuracy');
    expect(() => getMetric('accuracy')).toThrow(/needs the model's output shape/);
  });

  it('other names resolve to their metric and are logged as given (Keras 3: metric_obj.name = identifier)', () => {
    const kinds: [string, Function][] = [
      ['mse', MeanSquaredError],
      ['MSE', MeanSquaredError],
      ['meanSquaredError', MeanSquaredError],
      ['mean_squared_error', MeanSquaredError],
      ['mae', MeanAbsoluteError],
      ['rmse', RootMeanSquaredError],
      ['auc', AUC],
      ['AUC', AUC],
      ['precision', Precision],
      ['recall', Recall],
      ['f1', F1Score],
      ['F1Score', F1Score],
      ['topK', TopKCategoricalAccuracy],
      ['sparse_top_k_categorical_accuracy', SparseTopKCategoricalAccuracy],
      ['binaryAccuracy', BinaryAccuracy],
    ];
    for (const [id, kind] of kinds) {
      const m = getMetric(id);
      expect(m, id).toBeInstanceOf(kind);
      expect(m.name, id).toBe(id);
    }
    // Class defaults when constructed directly (Keras __init__ name=...).
    expect([new MeanSquaredError().name, new AUC().name, new F1Score().name]).toEqual(['mean_squared_error', 'auc', 'f1_score']);
    expect(() => getMetric('accuracyy')).toThrow(/unknown metric 'accuracyy'/);
    const mine = new AUC({ name: 'auc_pr', curve: 'PR' });
    expect(getMetric(mine)).toBe(mine);
  });

  it('directions for EarlyStopping mode auto (Keras metric._direction)', () => {
    expect(['accuracy', 'acc', 'auc', 'precision', 'recall', 'f1_score', 'top_k_categorical_accuracy'].map(metricDirection)).toEqual(Array(7).fill('up'));
    expect(['mse', 'mean_squared_error', 'mae', 'rmse'].map(metricDirection)).toEqual(['down', 'down', 'down', 'down']);
    expect(metricDirection('my_metric')).toBeUndefined();
  });
});
