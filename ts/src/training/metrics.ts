/**
 * Stateful metrics with Keras 3 semantics (`keras/src/metrics/*.py`): `update(yTrue, yPred,
 * sampleWeight)` accumulates, `result()` reads, `reset()` clears (the trainer resets each epoch).
 *
 * Shapes: `yPred` is (batch, C) or (batch, time, C) (a 1-D (batch) is read as (batch, 1)). A "row"
 * is one (batch[, time]) position, C values. `yTrue` has the shape of `yPred`, or for the sparse
 * metrics one class id per row: (batch[, time]) or (batch[, time], 1).
 * `sampleWeight` has one value per sample (batch) or per row (batch·time, row-major); masked time
 * steps get weight 0.
 *
 * Weighting (Keras `reduce_to_samplewise_values`): a per-row value v (e.g. 1 if the row's argmax
 * is right) and weight w give each sample mean_t(v·w) and weight mean_t(w);
 * `result = Σ_samples mean_t(v·w) / Σ_samples mean_t(w)` (0 when nothing was counted, Keras'
 * divide_no_nan). Confusion metrics (precision, recall, AUC, F1) count every element, each with the
 * weight of its row.
 *
 * Sums are kept in float64, where Keras keeps float32 variables: results agree with Keras to float32
 * rounding, not bit for bit.
 */
import { Tensor, fmtShape } from '../tensor.js';
import { ValueError } from '../wasm/errors.js';

/** Whether larger values are better ('up', e.g. accuracy) or smaller ('down', e.g. MSE). */
export type Direction = 'up' | 'down';

/** Anything with a result: what the trainer logs under `name` (and `val_` + `name`). */
export interface Metric {
  readonly name: string;
  /** Read by callbacks in `mode: 'auto'`; null when the metric has no better side (Mean). */
  readonly direction: Direction | null;
  result(): number;
  reset(): void;
}

export type SampleWeight = Float32Array | ArrayLike<number> | null | undefined;

/** Keras' `backend.epsilon()`. */
export const EPSILON = 1e-7;

/** How yPred is laid out in rows. */
interface Layout {
  /** Samples (axis 0). */
  batch: number;
  /** Rows: batch · time. */
  rows: number;
  /** Values per row (last axis). */
  cols: number;
  /** Rows per sample (time steps). */
  steps: number;
}

function layoutOf(name: string, yPred: Tensor): Layout {
  if (yPred.rank < 1) throw new ValueError(`${name}: yPred must be (batch, C) or (batch, time, C), got a scalar`);
  const batch = yPred.shape[0];
  const cols = yPred.rank === 1 ? 1 : yPred.shape[yPred.rank - 1];
  if (cols === 0) throw new ValueError(`${name}: yPred ${fmtShape(yPred.shape)} has no values per row (last axis is 0)`);
  const rows = yPred.size / cols;
  return { batch, rows, cols, steps: batch === 0 ? 1 : rows / batch };
}

function checkSameSize(name: string, yTrue: Tensor, yPred: Tensor): void {
  const squeezedTrue = yTrue.shape.filter((d, i) => !(d === 1 && i === yTrue.rank - 1));
  const squeezedPred = yPred.shape.filter((d, i) => !(d === 1 && i === yPred.rank - 1));
  const same = squeezedTrue.length === squeezedPred.length && squeezedTrue.every((d, i) => d === squeezedPred[i]);
  if (!same) {
    throw new ValueError(`${name}: yTrue ${fmtShape(yTrue.shape)} and yPred ${fmtShape(yPred.shape)} must have the same shape (a trailing axis of 1 may differ)`);
  }
}

function checkSparse(name: string, yTrue: Tensor, yPred: Tensor, lay: Layout): void {
  const lead = yPred.rank === 1 ? yPred.shape : yPred.shape.slice(0, -1);
  const t = yTrue.rank > lead.length && yTrue.shape[yTrue.rank - 1] === 1 ? yTrue.shape.slice(0, -1) : yTrue.shape;
  if (yTrue.size !== lay.rows || t.length !== lead.length || t.some((d, i) => d !== lead[i])) {
    throw new ValueError(
      `${name}: class ids must have shape ${fmtShape(lead)} or ${fmtShape([...lead, 1])} for yPred ${fmtShape(yPred.shape)}, got ${fmtShape(yTrue.shape)}. ` +
        `For one-hot targets use the non-sparse metric.`,
    );
  }
}

/** Per-row weights (rows = batch·time), or null for all ones. */
function rowWeights(name: string, sampleWeight: SampleWeight, lay: Layout): Float64Array | null {
  if (sampleWeight === null || sampleWeight === undefined) return null;
  const n = sampleWeight.length;
  const out = new Float64Array(lay.rows);
  if (n === lay.rows) {
    for (let r = 0; r < lay.rows; r++) out[r] = sampleWeight[r];
  } else if (n === lay.batch) {
    for (let r = 0; r < lay.rows; r++) out[r] = sampleWeight[Math.floor(r / lay.steps)];
  } else {
    throw new ValueError(`${name}: sampleWeight has ${n} values; expected one per sample (${lay.batch}) or one per time step (${lay.rows} = batch · time)`);
  }
  for (let r = 0; r < lay.rows; r++) {
    if (!Number.isFinite(out[r])) throw new ValueError(`${name}: sampleWeight[${r}] is ${out[r]}; weights must be finite`);
  }
  return out;
}

/** First index of the largest value (numpy / TF argmax). */
function argmax(a: ArrayLike<number>, off: number, n: number): number {
  let best = 0;
  let bestV = a[off];
  for (let c = 1; c < n; c++) {
    if (a[off + c] > bestV) {
      bestV = a[off + c];
      best = c;
    }
  }
  return best;
}

/** TF `in_top_k`: the target's score is among the k largest; ties at the boundary count as in. */
function inTopK(pred: ArrayLike<number>, off: number, n: number, target: number, k: number): boolean {
  if (!Number.isInteger(target) || target < 0 || target >= n) return false;
  const v = pred[off + target];
  if (!Number.isFinite(v)) return false;
  let above = 0;
  for (let c = 0; c < n; c++) if (pred[off + c] > v) above++;
  return above < k;
}

/** Base of metrics that average a value per row (Keras `MeanMetricWrapper`). */
export abstract class MeanMetricWrapper implements Metric {
  readonly name: string;
  abstract readonly direction: Direction | null;
  /** Σ over samples of mean_t(v·w). */
  total = 0;
  /** Σ over samples of mean_t(w). */
  count = 0;
  protected abstract readonly sparse: boolean;

  constructor(name: string) {
    this.name = name;
  }

  /** The value of row r (yPred values at `predOff`, C = `cols`; yTrue at `trueOff`). */
  protected abstract rowValue(yTrue: ArrayLike<number>, trueOff: number, yPred: ArrayLike<number>, predOff: number, cols: number): number;

  update(yTrue: Tensor, yPred: Tensor, sampleWeight?: SampleWeight): void {
    const lay = layoutOf(this.name, yPred);
    if (this.sparse) checkSparse(this.name, yTrue, yPred, lay);
    else checkSameSize(this.name, yTrue, yPred);
    const w = rowWeights(this.name, sampleWeight, lay);
    const t = yTrue.data;
    const p = yPred.data;
    const trueCols = this.sparse ? 1 : lay.cols;
    for (let b = 0; b < lay.batch; b++) {
      let vw = 0;
      let ws = 0;
      for (let s = 0; s < lay.steps; s++) {
        const r = b * lay.steps + s;
        const wr = w === null ? 1 : w[r];
        // A weight of 0 masks the row entirely (its value may be NaN).
        if (wr !== 0) vw += this.rowValue(t, r * trueCols, p, r * lay.cols, lay.cols) * wr;
        ws += wr;
      }
      this.total += vw / lay.steps;
      this.count += w === null ? 1 : ws / lay.steps;
    }
  }

  result(): number {
    return this.count === 0 ? 0 : this.total / this.count;
  }

  reset(): void {
    this.total = 0;
    this.count = 0;
  }
}

export interface ThresholdArgs {
  /** yPred > threshold counts as 1. Defaults to 0.5. */
  threshold?: number;
  name?: string;
}

/** Share of values where `yPred > threshold` equals `yTrue` (0/1) (Keras `BinaryAccuracy`, name 'binary_accuracy'). */
export class BinaryAccuracy extends MeanMetricWrapper {
  readonly direction = 'up' as const;
  protected readonly sparse = false;
  readonly threshold: number;

  constructor(args: ThresholdArgs = {}) {
    super(args.name ?? 'binary_accuracy');
    this.threshold = args.threshold ?? 0.5;
    if (!(this.threshold > 0 && this.threshold < 1)) throw new ValueError(`BinaryAccuracy: threshold must be in (0, 1), got ${this.threshold}`);
  }

  protected rowValue(t: ArrayLike<number>, to: number, p: ArrayLike<number>, po: number, cols: number): number {
    let hits = 0;
    // Keras compares yTrue with the thresholded prediction exactly: a soft label 0.9 never matches.
    for (let c = 0; c < cols; c++) if (t[to + c] === (p[po + c] > this.threshold ? 1 : 0)) hits++;
    return hits / cols;
  }
}

/** Share of rows whose argmax matches the one-hot target's argmax (Keras `CategoricalAccuracy`). */
export class CategoricalAccuracy extends MeanMetricWrapper {
  readonly direction = 'up' as const;
  protected readonly sparse = false;

  constructor(args: { name?: string } = {}) {
    super(args.name ?? 'categorical_accuracy');
  }

  protected rowValue(t: ArrayLike<number>, to: number, p: ArrayLike<number>, po: number, cols: number): number {
    return argmax(t, to, cols) === argmax(p, po, cols) ? 1 : 0;
  }
}

/** Share of rows whose argmax equals the integer class id (Keras `SparseCategoricalAccuracy`). */
export class SparseCategoricalAccuracy extends MeanMetricWrapper {
  readonly direction = 'up' as const;
  protected readonly sparse = true;

  constructor(args: { name?: string } = {}) {
    super(args.name ?? 'sparse_categorical_accuracy');
  }

  protected rowValue(t: ArrayLike<number>, to: number, p: ArrayLike<number>, po: number, cols: number): number {
    return t[to] === argmax(p, po, cols) ? 1 : 0;
  }
}

export interface TopKArgs {
  /** How many of the largest scores count. Defaults to 5. */
  k?: number;
  name?: string;
}

function checkK(name: string, k: number): number {
  if (!Number.isInteger(k) || k < 1) throw new ValueError(`${name}: k must be an integer >= 1, got ${k}`);
  return k;
}

/** Share of rows whose one-hot target is among the k highest scores (Keras `TopKCategoricalAccuracy`, ties count as in). */
export class TopKCategoricalAccuracy extends MeanMetricWrapper {
  readonly direction = 'up' as const;
  protected readonly sparse = false;
  readonly k: number;

  constructor(args: TopKArgs = {}) {
    super(args.name ?? 'top_k_categorical_accuracy');
    this.k = checkK('TopKCategoricalAccuracy', args.k ?? 5);
  }

  protected rowValue(t: ArrayLike<number>, to: number, p: ArrayLike<number>, po: number, cols: number): number {
    return inTopK(p, po, cols, argmax(t, to, cols), this.k) ? 1 : 0;
  }
}

/** Share of rows whose class id is among the k highest scores (Keras `SparseTopKCategoricalAccuracy`). */
export class SparseTopKCategoricalAccuracy extends MeanMetricWrapper {
  readonly direction = 'up' as const;
  protected readonly sparse = true;
  readonly k: number;

  constructor(args: TopKArgs = {}) {
    super(args.name ?? 'sparse_top_k_categorical_accuracy');
    this.k = checkK('SparseTopKCategoricalAccuracy', args.k ?? 5);
  }

  protected rowValue(t: ArrayLike<number>, to: number, p: ArrayLike<number>, po: number, cols: number): number {
    return inTopK(p, po, cols, t[to], this.k) ? 1 : 0;
  }
}

/** Mean of (yPred − yTrue)² (Keras `MeanSquaredError` metric, name 'mean_squared_error'). */
export class MeanSquaredError extends MeanMetricWrapper {
  readonly direction = 'down' as const;
  protected readonly sparse = false;

  constructor(args: { name?: string } = {}) {
    super(args.name ?? 'mean_squared_error');
  }

  protected rowValue(t: ArrayLike<number>, to: number, p: ArrayLike<number>, po: number, cols: number): number {
    let s = 0;
    for (let c = 0; c < cols; c++) s += (p[po + c] - t[to + c]) ** 2;
    return s / cols;
  }
}

/** Mean of |yPred − yTrue| (Keras `MeanAbsoluteError` metric, name 'mean_absolute_error'). */
export class MeanAbsoluteError extends MeanMetricWrapper {
  readonly direction = 'down' as const;
  protected readonly sparse = false;

  constructor(args: { name?: string } = {}) {
    super(args.name ?? 'mean_absolute_error');
  }

  protected rowValue(t: ArrayLike<number>, to: number, p: ArrayLike<number>, po: number, cols: number): number {
    let s = 0;
    for (let c = 0; c < cols; c++) s += Math.abs(p[po + c] - t[to + c]);
    return s / cols;
  }
}

/** sqrt of the running mean of (yPred − yTrue)² (Keras `RootMeanSquaredError`: the root of the mean, not a mean of roots). */
export class RootMeanSquaredError extends MeanSquaredError {
  constructor(args: { name?: string } = {}) {
    super({ name: args.name ?? 'root_mean_squared_error' });
  }

  override result(): number {
    return Math.sqrt(super.result());
  }
}

/**
 * Weighted mean of values (Keras `Mean`), e.g. the epoch loss from batch losses:
 * `lossMean.update(batchLoss, batchSize)`. `values`: a number, an array, or a tensor (one value per
 * sample after averaging the other axes); `sampleWeight`: a number for all, or one per sample.
 */
export class Mean implements Metric {
  readonly name: string;
  readonly direction: Direction | null = null;
  total = 0;
  count = 0;

  constructor(args: { name?: string } = {}) {
    this.name = args.name ?? 'mean';
  }

  update(values: number | ArrayLike<number> | Tensor, sampleWeight?: number | ArrayLike<number> | null): void {
    let perSample: ArrayLike<number>;
    let scalar = false;
    if (typeof values === 'number') {
      perSample = [values];
      scalar = true;
    } else if (values instanceof Tensor) {
      if (values.rank === 0) {
        perSample = values.data;
        scalar = true;
      } else {
        const n = values.shape[0];
        const inner = n === 0 ? 0 : values.size / n;
        const out = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          let s = 0;
          for (let j = 0; j < inner; j++) s += values.data[i * inner + j];
          out[i] = s / inner;
        }
        perSample = out;
      }
    } else perSample = values;
    const n = perSample.length;
    if (sampleWeight === null || sampleWeight === undefined) {
      for (let i = 0; i < n; i++) this.total += perSample[i];
      this.count += scalar ? 1 : n;
      return;
    }
    if (typeof sampleWeight === 'number') {
      for (let i = 0; i < n; i++) this.total += perSample[i] * sampleWeight;
      this.count += sampleWeight * n;
      return;
    }
    if (sampleWeight.length !== n) throw new ValueError(`${this.name}: sampleWeight has ${sampleWeight.length} values for ${n} values; give one per value or a single number`);
    for (let i = 0; i < n; i++) {
      this.total += perSample[i] * sampleWeight[i];
      this.count += sampleWeight[i];
    }
  }

  result(): number {
    return this.count === 0 ? 0 : this.total / this.count;
  }

  reset(): void {
    this.total = 0;
    this.count = 0;
  }
}

// ---------------------------------------------------------------------------------------------
// Confusion-matrix metrics

/** Elements of yTrue/yPred (optionally one column), each with its row's weight. */
function forEachElement(
  name: string,
  yTrue: Tensor,
  yPred: Tensor,
  sampleWeight: SampleWeight,
  classId: number | null,
  fn: (label: boolean, pred: number, weight: number) => void,
): void {
  const lay = layoutOf(name, yPred);
  checkSameSize(name, yTrue, yPred);
  if (classId !== null && (!Number.isInteger(classId) || classId < 0 || classId >= lay.cols)) {
    throw new ValueError(`${name}: classId ${classId} is outside [0, ${lay.cols}) for yPred ${fmtShape(yPred.shape)}`);
  }
  const w = rowWeights(name, sampleWeight, lay);
  const t = yTrue.data;
  const p = yPred.data;
  const c0 = classId ?? 0;
  const c1 = classId === null ? lay.cols : classId + 1;
  for (let r = 0; r < lay.rows; r++) {
    const wr = w === null ? 1 : w[r];
    for (let c = c0; c < c1; c++) fn(t[r * lay.cols + c] !== 0, p[r * lay.cols + c], wr);
  }
}

export interface PrecisionRecallArgs {
  /** yPred > threshold counts as positive (0 for logits). Defaults to 0.5. */
  thresholds?: number;
  /** Only this column of (batch, C) counts. Defaults to all, flattened. */
  classId?: number | null;
  name?: string;
}

function checkThreshold(name: string, t: number): number {
  if (!(t >= 0 && t <= 1)) throw new ValueError(`${name}: threshold values must be in [0, 1], got ${t}`);
  return t;
}

/** tp / (tp + fp) with positives at yPred > threshold (Keras `Precision`, one threshold). */
export class Precision implements Metric {
  readonly name: string;
  readonly direction = 'up' as const;
  readonly thresholds: number;
  readonly classId: number | null;
  truePositives = 0;
  falsePositives = 0;

  constructor(args: PrecisionRecallArgs = {}) {
    this.name = args.name ?? 'precision';
    this.thresholds = checkThreshold('Precision', args.thresholds ?? 0.5);
    this.classId = args.classId ?? null;
  }

  update(yTrue: Tensor, yPred: Tensor, sampleWeight?: SampleWeight): void {
    // Math.fround: Keras compares in float32.
    const th = Math.fround(this.thresholds);
    forEachElement(this.name, yTrue, yPred, sampleWeight, this.classId, (label, pred, w) => {
      if (pred > th) {
        if (label) this.truePositives += w;
        else this.falsePositives += w;
      }
    });
  }

  result(): number {
    const d = this.truePositives + this.falsePositives;
    return d === 0 ? 0 : this.truePositives / d;
  }

  reset(): void {
    this.truePositives = 0;
    this.falsePositives = 0;
  }
}

/** tp / (tp + fn) with positives at yPred > threshold (Keras `Recall`, one threshold). */
export class Recall implements Metric {
  readonly name: string;
  readonly direction = 'up' as const;
  readonly thresholds: number;
  readonly classId: number | null;
  truePositives = 0;
  falseNegatives = 0;

  constructor(args: PrecisionRecallArgs = {}) {
    this.name = args.name ?? 'recall';
    this.thresholds = checkThreshold('Recall', args.thresholds ?? 0.5);
    this.classId = args.classId ?? null;
  }

  update(yTrue: Tensor, yPred: Tensor, sampleWeight?: SampleWeight): void {
    const th = Math.fround(this.thresholds);
    forEachElement(this.name, yTrue, yPred, sampleWeight, this.classId, (label, pred, w) => {
      if (!label) return;
      if (pred > th) this.truePositives += w;
      else this.falseNegatives += w;
    });
  }

  result(): number {
    const d = this.truePositives + this.falseNegatives;
    return d === 0 ? 0 : this.truePositives / d;
  }

  reset(): void {
    this.truePositives = 0;
    this.falseNegatives = 0;
  }
}

export type F1Average = 'micro' | 'macro' | 'weighted';

export interface F1ScoreArgs {
  /**
   * How per-class scores combine into one number. Defaults to 'micro' (one score from the total
   * tp/fp/fn). Porting note: Keras' default `None` returns one score per class; `result()` here
   * must be a number, so use `resultPerClass()` for that. For a single sigmoid output (C = 1) all
   * three averages give the same number.
   */
  average?: F1Average;
  /** yPred > threshold counts as positive; null marks each row's largest value (Keras `threshold=None`). Defaults to 0.5. */
  threshold?: number | null;
  name?: string;
}

/**
 * F1 = 2·P·R / (P + R) (Keras `F1Score` / `FBetaScore` with beta = 1, same epsilons), for binary
 * (C = 1, threshold 0.5) and multi-label or multi-class outputs. (batch, time, C) inputs count
 * every row (Keras accepts 2-D only).
 */
export class F1Score implements Metric {
  readonly name: string;
  readonly direction = 'up' as const;
  readonly average: F1Average;
  readonly threshold: number | null;
  /** Per class (C), or one entry for 'micro'. Empty until the first update. */
  truePositives: Float64Array = new Float64Array(0);
  falsePositives: Float64Array = new Float64Array(0);
  falseNegatives: Float64Array = new Float64Array(0);
  /** Weighted count of true labels per class (the 'weighted' average's weights). */
  intermediateWeights: Float64Array = new Float64Array(0);
  private numClasses: number | null = null;

  constructor(args: F1ScoreArgs = {}) {
    this.name = args.name ?? 'f1_score';
    this.average = args.average ?? 'micro';
    if (!['micro', 'macro', 'weighted'].includes(this.average)) {
      throw new ValueError(`F1Score: average must be 'micro', 'macro' or 'weighted', got ${String(this.average)}`);
    }
    this.threshold = args.threshold === undefined ? 0.5 : args.threshold;
    if (this.threshold !== null && !(this.threshold > 0 && this.threshold <= 1)) {
      throw new ValueError(`F1Score: threshold must verify 0 < threshold <= 1, got ${this.threshold}`);
    }
  }

  update(yTrue: Tensor, yPred: Tensor, sampleWeight?: SampleWeight): void {
    const lay = layoutOf(this.name, yPred);
    checkSameSize(this.name, yTrue, yPred);
    if (this.numClasses === null) {
      this.numClasses = lay.cols;
      const n = this.average === 'micro' ? 1 : lay.cols;
      this.truePositives = new Float64Array(n);
      this.falsePositives = new Float64Array(n);
      this.falseNegatives = new Float64Array(n);
      this.intermediateWeights = new Float64Array(n);
    } else if (this.numClasses !== lay.cols) {
      throw new ValueError(`F1Score: yPred has ${lay.cols} classes but earlier batches had ${this.numClasses}; call reset() between differently shaped outputs`);
    }
    const w = rowWeights(this.name, sampleWeight, lay);
    const t = yTrue.data;
    const p = yPred.data;
    const th = this.threshold === null ? null : Math.fround(this.threshold);
    for (let r = 0; r < lay.rows; r++) {
      const wr = w === null ? 1 : w[r];
      const off = r * lay.cols;
      let rowMax = -Infinity;
      if (th === null) for (let c = 0; c < lay.cols; c++) rowMax = Math.max(rowMax, p[off + c]);
      for (let c = 0; c < lay.cols; c++) {
        const v = p[off + c];
        // threshold null: the row's maximum is positive, unless it is 0 (an all-zero row stays all 0).
        const pred = th === null ? (v >= rowMax && Math.abs(v) > 1e-9 ? 1 : 0) : v > th ? 1 : 0;
        const label = t[off + c];
        const k = this.average === 'micro' ? 0 : c;
        this.truePositives[k] += pred * label * wr;
        this.falsePositives[k] += pred * (1 - label) * wr;
        this.falseNegatives[k] += (1 - pred) * label * wr;
        this.intermediateWeights[k] += label * wr;
      }
    }
  }

  /** The unaveraged scores (Keras `average=None`); one entry for 'micro'. */
  resultPerClass(): number[] {
    const out: number[] = [];
    for (let k = 0; k < this.truePositives.length; k++) {
      const tp = this.truePositives[k];
      const precision = tp / (tp + this.falsePositives[k] + EPSILON);
      const recall = tp / (tp + this.falseNegatives[k] + EPSILON);
      out.push(((precision * recall) / (precision + recall + EPSILON)) * 2);
    }
    return out;
  }

  result(): number {
    const f1 = this.resultPerClass();
    if (f1.length === 0) return 0;
    if (this.average === 'weighted') {
      const total = this.intermediateWeights.reduce((a, b) => a + b, 0);
      return f1.reduce((s, v, k) => s + v * (this.intermediateWeights[k] / (total + EPSILON)), 0);
    }
    return f1.reduce((a, b) => a + b, 0) / f1.length;
  }

  reset(): void {
    this.truePositives.fill(0);
    this.falsePositives.fill(0);
    this.falseNegatives.fill(0);
    this.intermediateWeights.fill(0);
  }
}

export type AUCCurve = 'ROC' | 'PR';
export type AUCSummationMethod = 'interpolation' | 'minoring' | 'majoring';

export interface AUCArgs {
  /** Thresholds evenly spread over [0, 1], ends included. Defaults to 200. */
  numThresholds?: number;
  /** 'ROC' (TPR against FPR) or 'PR' (precision against recall). Defaults to 'ROC'. */
  curve?: AUCCurve;
  /** Riemann sum: 'interpolation' (trapezoids for ROC, Davis & Goadrich for PR), 'minoring', 'majoring'. Defaults to 'interpolation'. */
  summationMethod?: AUCSummationMethod;
  /** Explicit thresholds in [0, 1] (then numThresholds = length + 2). Defaults to none. */
  thresholds?: number[] | null;
  /** yPred are logits: a sigmoid is applied first. Defaults to false. */
  fromLogits?: boolean;
  name?: string;
}

/**
 * Area under the ROC or PR curve from a confusion matrix at fixed thresholds (Keras `AUC`,
 * `multi_label=False`: every element of yPred is one prediction). Thresholds are
 * [−1e-7, 1/(n−1), ..., (n−2)/(n−1), 1 + 1e-7]; a prediction counts as positive at threshold t
 * when it is > t. With the default even thresholds each prediction (clipped to [0, 1]) lands in
 * bucket `max(ceil(p·(n−1)) − 1, 0)` (computed in float32, as Keras does) and TP/FP at threshold i
 * sum the buckets >= i: O(n + N), Keras' `_update_confusion_matrix_variables_optimized`.
 *
 * Not ported: `multi_label`, `num_labels`, `label_weights`.
 */
export class AUC implements Metric {
  readonly name: string;
  readonly direction = 'up' as const;
  readonly numThresholds: number;
  readonly curve: AUCCurve;
  readonly summationMethod: AUCSummationMethod;
  readonly fromLogits: boolean;
  /** All thresholds, the ±epsilon ends included. */
  readonly thresholds: number[];
  private readonly even: boolean;
  // (numThresholds) each. With even thresholds these hold bucket sums until result() folds them.
  private tpBuckets: Float64Array;
  private fpBuckets: Float64Array;
  private totalTrue = 0;
  private totalFalse = 0;

  constructor(args: AUCArgs = {}) {
    this.name = args.name ?? 'auc';
    this.curve = args.curve ?? 'ROC';
    this.summationMethod = args.summationMethod ?? 'interpolation';
    this.fromLogits = args.fromLogits ?? false;
    if (this.curve !== 'ROC' && this.curve !== 'PR') throw new ValueError(`AUC: curve must be 'ROC' or 'PR', got '${String(this.curve)}'`);
    if (!['interpolation', 'minoring', 'majoring'].includes(this.summationMethod)) {
      throw new ValueError(`AUC: summationMethod must be 'interpolation', 'minoring' or 'majoring', got '${String(this.summationMethod)}'`);
    }
    let inner: number[];
    if (args.thresholds !== undefined && args.thresholds !== null) {
      for (const t of args.thresholds) checkThreshold('AUC', t);
      inner = [...args.thresholds].sort((a, b) => a - b);
      this.numThresholds = inner.length + 2;
      this.even = false;
    } else {
      const n = args.numThresholds ?? 200;
      if (!Number.isInteger(n) || n <= 1) throw new ValueError(`AUC: numThresholds must be an integer > 1, got ${n}`);
      this.numThresholds = n;
      inner = [];
      for (let i = 0; i < n - 2; i++) inner.push((i + 1) / (n - 1));
      this.even = true;
    }
    this.thresholds = [0 - EPSILON, ...inner, 1 + EPSILON];
    this.tpBuckets = new Float64Array(this.numThresholds);
    this.fpBuckets = new Float64Array(this.numThresholds);
  }

  update(yTrue: Tensor, yPred: Tensor, sampleWeight?: SampleWeight): void {
    const n = this.numThresholds;
    const ths = this.thresholds.map(Math.fround);
    forEachElement(this.name, yTrue, yPred, sampleWeight, null, (label, raw, w) => {
      const p = this.fromLogits ? 1 / (1 + Math.exp(-raw)) : raw;
      if (label) this.totalTrue += w;
      else this.totalFalse += w;
      if (this.even) {
        const clipped = Math.min(Math.max(p, 0), 1);
        const bucket = Math.max(Math.ceil(Math.fround(Math.fround(clipped) * (n - 1))) - 1, 0);
        if (label) this.tpBuckets[bucket] += w;
        else this.fpBuckets[bucket] += w;
      } else {
        const pf = Math.fround(p);
        for (let i = 0; i < n; i++) {
          if (pf > ths[i]) {
            if (label) this.tpBuckets[i] += w;
            else this.fpBuckets[i] += w;
          }
        }
      }
    });
  }

  /** Confusion counts per threshold: tp, fp, tn, fn (each (numThresholds)). */
  confusion(): { tp: Float64Array; fp: Float64Array; tn: Float64Array; fn: Float64Array } {
    const n = this.numThresholds;
    let tp = this.tpBuckets;
    let fp = this.fpBuckets;
    if (this.even) {
      // Reverse cumulative sums: a prediction above threshold i is above every lower one.
      tp = new Float64Array(n);
      fp = new Float64Array(n);
      let st = 0;
      let sf = 0;
      for (let i = n - 1; i >= 0; i--) {
        st += this.tpBuckets[i];
        sf += this.fpBuckets[i];
        tp[i] = st;
        fp[i] = sf;
      }
    } else {
      tp = tp.slice();
      fp = fp.slice();
    }
    const tn = fp.map((v) => this.totalFalse - v);
    const fn = tp.map((v) => this.totalTrue - v);
    return { tp, fp, tn, fn };
  }

  result(): number {
    const n = this.numThresholds;
    const { tp, fp, tn, fn } = this.confusion();
    const div = (a: number, b: number) => (b === 0 ? 0 : a / b);
    if (this.curve === 'PR' && this.summationMethod === 'interpolation') {
      // Davis & Goadrich: TP and P = TP + FP vary linearly between thresholds; precision does not.
      let auc = 0;
      for (let i = 0; i < n - 1; i++) {
        const dtp = tp[i] - tp[i + 1];
        const pA = tp[i] + fp[i];
        const pB = tp[i + 1] + fp[i + 1];
        const slope = div(dtp, Math.max(pA - pB, 0));
        const intercept = tp[i + 1] - slope * pB;
        const ratio = pA > 0 && pB > 0 ? div(pA, Math.max(pB, 0)) : 1;
        auc += div(slope * (dtp + intercept * Math.log(ratio)), Math.max(tp[i + 1] + fn[i + 1], 0));
      }
      return auc;
    }
    const recall = tp.map((v, i) => div(v, v + fn[i]));
    let x: Float64Array;
    let y: Float64Array;
    if (this.curve === 'ROC') {
      x = fp.map((v, i) => div(v, v + tn[i]));
      y = recall;
    } else {
      x = recall;
      y = tp.map((v, i) => div(v, v + fp[i]));
    }
    let auc = 0;
    for (let i = 0; i < n - 1; i++) {
      const h = this.summationMethod === 'interpolation' ? (y[i] + y[i + 1]) / 2 : this.summationMethod === 'minoring' ? Math.min(y[i], y[i + 1]) : Math.max(y[i], y[i + 1]);
      auc += (x[i] - x[i + 1]) * h;
    }
    return auc;
  }

  reset(): void {
    this.tpBuckets.fill(0);
    this.fpBuckets.fill(0);
    this.totalTrue = 0;
    this.totalFalse = 0;
  }
}

// ---------------------------------------------------------------------------------------------
// Factories (tfjs-style lower-case names) and the resolver

/** Any metric `fit` can update from (yTrue, yPred). */
export type PredictionMetric = Metric & { update(yTrue: Tensor, yPred: Tensor, sampleWeight?: SampleWeight): void };

export const binaryAccuracy = (args?: ThresholdArgs) => new BinaryAccuracy(args);
export const categoricalAccuracy = (args?: { name?: string }) => new CategoricalAccuracy(args);
export const sparseCategoricalAccuracy = (args?: { name?: string }) => new SparseCategoricalAccuracy(args);
export const topKCategoricalAccuracy = (args?: TopKArgs) => new TopKCategoricalAccuracy(args);
export const sparseTopKCategoricalAccuracy = (args?: TopKArgs) => new SparseTopKCategoricalAccuracy(args);
export const precision = (args?: PrecisionRecallArgs) => new Precision(args);
export const recall = (args?: PrecisionRecallArgs) => new Recall(args);
export const f1Score = (args?: F1ScoreArgs) => new F1Score(args);
export const auc = (args?: AUCArgs) => new AUC(args);
export const meanSquaredError = (args?: { name?: string }) => new MeanSquaredError(args);
export const meanAbsoluteError = (args?: { name?: string }) => new MeanAbsoluteError(args);
export const rootMeanSquaredError = (args?: { name?: string }) => new RootMeanSquaredError(args);
export const mean = (args?: { name?: string }) => new Mean(args);

type Factory = (name: string) => PredictionMetric;

/**
 * Names `getMetric` accepts: Keras class names, their snake_case, Keras' aliases (mse, mae, ...),
 * tfjs camelCase, and a few short forms (rmse, f1, topK). As in Keras 3 (`metric_obj.name =
 * identifier`) and tfjs, the metric is logged under the name exactly as given: `metrics: ['mse']`
 * logs `mse` / `val_mse`.
 */
const REGISTRY: Record<string, Factory> = {};
function register(names: string[], f: Factory): void {
  for (const n of names) REGISTRY[n] = f;
}
register(['binary_accuracy', 'BinaryAccuracy', 'binaryAccuracy'], (name) => new BinaryAccuracy({ name }));
register(['categorical_accuracy', 'CategoricalAccuracy', 'categoricalAccuracy'], (name) => new CategoricalAccuracy({ name }));
register(['sparse_categorical_accuracy', 'SparseCategoricalAccuracy', 'sparseCategoricalAccuracy'], (name) => new SparseCategoricalAccuracy({ name }));
register(['top_k_categorical_accuracy', 'TopKCategoricalAccuracy', 'topKCategoricalAccuracy', 'topK'], (name) => new TopKCategoricalAccuracy({ name }));
register(['sparse_top_k_categorical_accuracy', 'SparseTopKCategoricalAccuracy', 'sparseTopKCategoricalAccuracy', 'sparseTopK'], (name) => new SparseTopKCategoricalAccuracy({ name }));
register(['precision', 'Precision'], (name) => new Precision({ name }));
register(['recall', 'Recall'], (name) => new Recall({ name }));
register(['auc', 'AUC'], (name) => new AUC({ name }));
register(['f1_score', 'F1Score', 'f1Score', 'f1'], (name) => new F1Score({ name }));
register(['mse', 'MSE', 'mean_squared_error', 'MeanSquaredError', 'meanSquaredError'], (name) => new MeanSquaredError({ name }));
register(['mae', 'MAE', 'mean_absolute_error', 'MeanAbsoluteError', 'meanAbsoluteError'], (name) => new MeanAbsoluteError({ name }));
register(['rmse', 'RMSE', 'root_mean_squared_error', 'RootMeanSquaredError', 'rootMeanSquaredError'], (name) => new RootMeanSquaredError({ name }));

/**
 * Direction of a metric by its logged name (without `val_`): any name `getMetric` accepts, or
 * undefined if unknown. Used by callbacks in mode 'auto' when the model does not list its metrics.
 */
export function metricDirection(name: string): Direction | undefined {
  const lower = name.toLowerCase();
  // 'ACC', 'Accuracy': Keras picks an accuracy for any casing of these two.
  if (lower === 'accuracy' || lower === 'acc') return 'up';
  const f = Object.prototype.hasOwnProperty.call(REGISTRY, name) ? REGISTRY[name] : undefined;
  return f ? (f(name).direction ?? undefined) : undefined;
}

export type ShapeLike = readonly (number | null)[];

export interface GetMetricOptions {
  /** The compiled loss: a sparse loss means integer targets. */
  loss?: string;
  /** Model output shape, batch axis included: (null, 1), (null, 10), (null, time, 10). */
  outputShape?: ShapeLike;
  /** Target shape, when known (overrides what `loss` implies). */
  targetShape?: ShapeLike;
}

/**
 * Keras 3 `compile_utils.is_binary_or_sparse_categorical`: binary when the output's last axis is
 * 1; sparse when the target has fewer axes than the output, or a last axis of 1 against more than
 * one output column.
 */
export function isBinaryOrSparseCategorical(targetShape: ShapeLike, outputShape: ShapeLike): { isBinary: boolean; isSparseCategorical: boolean } {
  const tLast = targetShape[targetShape.length - 1];
  const pLast = outputShape[outputShape.length - 1];
  return {
    isBinary: pLast === 1,
    isSparseCategorical: targetShape.length < outputShape.length || (tLast === 1 && (pLast ?? 0) > 1),
  };
}

const SPARSE_LOSSES = new Set(['sparse_categorical_crossentropy', 'sparseCategoricalCrossentropy', 'SparseCategoricalCrossentropy']);

/**
 * A metric from its name (Keras 3 `compile_utils.get_metric`). 'accuracy' / 'acc' (any casing) pick
 * binary, sparse categorical or categorical accuracy from the target and output shapes; the target
 * shape comes from `targetShape`, else from `loss` (a sparse loss drops the class axis), else it is
 * taken to equal the output shape. Every name is kept as given, so it is the log key ('mse' logs
 * `mse`, `val_mse`). A metric object is returned as is (logged under its own `name`).
 */
export function getMetric(identifier: string | PredictionMetric, options: GetMetricOptions = {}): PredictionMetric {
  if (typeof identifier !== 'string') {
    if (identifier && typeof identifier === 'object' && typeof identifier.update === 'function' && typeof identifier.result === 'function') return identifier;
    throw new ValueError(`metric must be a name or a metric object with update/result/reset, got ${identifier === null ? 'null' : typeof identifier}`);
  }
  const lower = identifier.toLowerCase();
  if (lower === 'accuracy' || lower === 'acc') {
    const out = options.outputShape;
    if (!out || out.length === 0) {
      throw new ValueError(`metric '${identifier}' needs the model's output shape to choose binary, categorical or sparse categorical accuracy; name one of those instead, or pass outputShape`);
    }
    let target: ShapeLike = options.targetShape ?? out;
    if (!options.targetShape && options.loss !== undefined && SPARSE_LOSSES.has(options.loss)) target = out.slice(0, -1);
    const { isBinary, isSparseCategorical } = isBinaryOrSparseCategorical(target, out);
    if (isBinary) return new BinaryAccuracy({ name: identifier });
    if (isSparseCategorical) return new SparseCategoricalAccuracy({ name: identifier });
    return new CategoricalAccuracy({ name: identifier });
  }
  const f = Object.prototype.hasOwnProperty.call(REGISTRY, identifier) ? REGISTRY[identifier] : undefined;
  if (!f) {
    throw new ValueError(`unknown metric '${identifier}'; expected 'accuracy', 'acc' or one of ${Object.keys(REGISTRY).join(', ')}, or a metric object`);
  }
  return f(identifier);
}
