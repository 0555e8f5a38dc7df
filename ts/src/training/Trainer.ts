/**
 * `Trainer`: owns the training loop of a model (Keras `fit`, `evaluate`, `trainOnBatch`,
 * `testOnBatch`); `model.compile(...)` makes one and the model's methods delegate to it.
 *
 * One training step is a handful of wasm calls: the layers' forward kernels, one fused
 * loss-and-gradient call per output, the layers' backward kernels, and ONE optimizer call that
 * clips, decays and updates every parameter tensor (`Optimizer.applyGradients` over a table of
 * the layers' flat parameter and gradient buffers). Nothing is allocated in wasm after the first
 * step of a fixed-shape loop.
 *
 * Non-finite values: a NaN/Inf loss or gradient stops with a `NonFiniteError` naming the step and
 * the first layer whose output went non-finite (or the weight whose gradient did), before any
 * weight is touched; `onNonFinite: 'warn'` skips that update with a warning instead.
 */
import { Tensor } from '../tensor.js';
import { AbortError, FastGruError, NonFiniteError, ValueError } from '../wasm/errors.js';
import type { Layer } from '../layers/Layer.js';
import { ForwardRecord, Model, gatherRows, sliceRows, toTensorList } from '../models/Model.js';
import { Optimizer, OptimizerIdentifier, ParamSlot, getOptimizer } from './optimizers.js';
import { LossFunction, LossIdentifier, getLoss, rowWeights } from './losses.js';
import { Mean, PredictionMetric, getMetric } from './metrics.js';

/** A metric name ('accuracy', 'mse', 'auc', …) or a metric object. */
export type MetricIdentifier = string | PredictionMetric;
import { CallbackList, CallbacksArg, History, Logs } from './callbacks.js';
import { globalRandom } from '../random.js';
import { nextTurn } from './nextTurn.js';

export type { Logs, History };

/** Data for fit/evaluate: one tensor, one per input/output, or keyed by input/output name. */
export type TrainerData = Tensor | Tensor[] | Record<string, Tensor>;

/** One batch from a dataset (`fit` also takes async iterables of these). */
export interface Batch {
  xs: TrainerData;
  ys: TrainerData;
  sampleWeight?: Tensor;
}

export type BatchSource = AsyncIterable<Batch> | Iterable<Batch>;

export interface CompileArgs {
  /** An optimizer instance, or a name ('adam', 'sgd', …) with Keras defaults. */
  optimizer: OptimizerIdentifier;
  /** One loss for every output, one per output, or keyed by output name. */
  loss: LossIdentifier | LossIdentifier[] | Record<string, LossIdentifier>;
  /** Metric names/instances for every output, or keyed by output name. Defaults to none. */
  metrics?: MetricIdentifier[] | Record<string, MetricIdentifier[]>;
  /** Weight of each output's loss in the total. Defaults to 1 each. */
  lossWeights?: number[] | Record<string, number>;
  /**
   * A non-finite loss or gradient: 'error' (default) throws a NonFiniteError naming the layer and
   * the step, weights untouched; 'warn' skips that update and warns.
   */
  onNonFinite?: 'error' | 'warn';
}

/** tfjs' `trainingConfig` in model.json (snake_case keys as tfjs writes them). */
export interface TrainingConfig {
  loss: LossIdentifier | LossIdentifier[] | Record<string, LossIdentifier>;
  metrics: string[] | Record<string, string[]> | null;
  loss_weights: number[] | Record<string, number> | null;
  optimizer_config: { class_name: string; config: Record<string, unknown> };
}

export interface FitArgs {
  /** Defaults to 1. */
  epochs?: number;
  /** Defaults to 32. */
  batchSize?: number;
  /** Fraction of the samples (the LAST ones, before shuffling, as Keras) kept for validation. Defaults to 0. */
  validationSplit?: number;
  /** [x, y] or [x, y, sampleWeight] evaluated after every epoch (`val_` logs). */
  validationData?: [TrainerData, TrainerData] | [TrainerData, TrainerData, Tensor] | BatchSource;
  /** Shuffle the training samples every epoch (with the global generator: `setSeed`). Defaults to true. */
  shuffle?: boolean;
  /** Loss weight per class id (from the targets: sparse id, one-hot argmax, or rounded binary label). */
  classWeight?: Record<number, number>;
  /** Per-sample loss weights (samples,), or per step (samples, time) for sequence outputs. */
  sampleWeight?: Tensor;
  /** Keras callbacks or objects of hooks. */
  callbacks?: CallbacksArg;
  /** Epoch to start from (for resuming). Defaults to 0. */
  initialEpoch?: number;
  /** 0 silent, 1 progress bar, 2 one line per epoch. Defaults to 1. */
  verbose?: 0 | 1 | 2;
  /**
   * How often to give the event loop a turn (keeps pages responsive): 'auto' (every ~100 ms),
   * 'batch', 'epoch', 'never', or a number of milliseconds. Defaults to 'auto'.
   */
  yieldEvery?: 'auto' | 'batch' | 'epoch' | 'never' | number;
  /** Batches per epoch when `x` is a dataset; defaults to one pass over it. */
  stepsPerEpoch?: number;
  /** Batches of the validation dataset to use; defaults to all. */
  validationSteps?: number;
  /** Batch size of validation. Defaults to batchSize. */
  validationBatchSize?: number;
  /**
   * Cancels training at the next batch boundary: `fit` rejects with an `AbortError` carrying the
   * history so far, and the model keeps the weights of the last finished batch. An already-aborted
   * signal rejects before training starts.
   */
  signal?: AbortSignal;
}

export interface EvaluateArgs {
  /** Defaults to 32. */
  batchSize?: number;
  sampleWeight?: Tensor;
  /** Defaults to 0. */
  verbose?: 0 | 1;
  callbacks?: CallbacksArg;
  /** Return `{loss, accuracy, …}` instead of a list. Defaults to false. */
  returnDict?: boolean;
  steps?: number;
}

export interface PredictArgs {
  /** Defaults to 32. */
  batchSize?: number;
  verbose?: 0 | 1;
}

interface OutputSpec {
  name: string;
  loss: LossFunction;
  /** This output's loss over the epoch (logged as `<name>_loss` with several outputs). */
  lossMean: Mean;
  weight: number;
  metrics: PredictionMetric[];
}

/** True for a dataset (an iterable of batches) rather than tensors. */
export function isBatchSource(x: unknown): x is BatchSource {
  return x !== null && typeof x === 'object' && !(x instanceof Tensor) && !Array.isArray(x) && (Symbol.asyncIterator in (x as object) || Symbol.iterator in (x as object));
}

/** Every layer that owns weights, nested models and wrappers flattened, each once. */
export function leafLayers(layers: Layer[]): Layer[] {
  const out: Layer[] = [];
  const seen = new Set<Layer>();
  const visit = (l: Layer): void => {
    if (seen.has(l)) return;
    seen.add(l);
    const inner = (l as unknown as { sublayers?: Layer[] }).sublayers;
    if (l instanceof Model) l.layers.forEach(visit);
    else if (inner && inner.length) {
      out.push(l);
      inner.forEach(visit);
    } else out.push(l);
  };
  layers.forEach(visit);
  return out;
}

export class Trainer {
  readonly optimizer: Optimizer;
  private readonly outputs: OutputSpec[];
  private readonly lossTracker = new Mean({ name: 'loss' });
  /** `compile({onNonFinite})`: 'error' or 'warn' (a training worker compiles its copy with the same). */
  readonly onNonFinite: 'error' | 'warn';
  private slots: ParamSlot[] | null = null;
  private slotLayers: Layer[] = [];
  private disposed = false;

  constructor(
    readonly model: Model,
    private readonly compileArgs: CompileArgs,
  ) {
    const args = compileArgs;
    if (!args || args.optimizer === undefined) throw new ValueError(`compile() needs an optimizer, e.g. compile({optimizer: 'adam', loss: 'mse'})`);
    if (args.loss === undefined || args.loss === null) throw new ValueError(`compile() needs a loss, e.g. compile({optimizer: 'adam', loss: 'mse'})`);
    this.optimizer = getOptimizer(args.optimizer);
    this.onNonFinite = args.onNonFinite ?? 'error';
    const outs = model.outputs;
    const names = outs.map((t) => t.sourceLayer.name);
    const pick = <T>(v: T | T[] | Record<string, T> | undefined, i: number, what: string, fallback?: T): T => {
      if (v === undefined) {
        if (fallback !== undefined) return fallback;
        throw new ValueError(`compile(): ${what} missing for output '${names[i]}'`);
      }
      if (Array.isArray(v)) {
        if (v.length !== outs.length) throw new ValueError(`compile(): ${what} has ${v.length} entries for ${outs.length} outputs (${names.join(', ')})`);
        return v[i];
      }
      if (typeof v === 'object' && v !== null && !(isPlainIdentifier(v))) {
        const rec = v as Record<string, T>;
        const unknown = Object.keys(rec).filter((k) => !names.includes(k));
        if (unknown.length) throw new ValueError(`compile(): ${what} names unknown outputs ${unknown.join(', ')}; outputs are ${names.join(', ')}`);
        if (!(names[i] in rec)) {
          if (fallback !== undefined) return fallback;
          throw new ValueError(`compile(): ${what} missing for output '${names[i]}'`);
        }
        return rec[names[i]];
      }
      return v as T;
    };
    this.outputs = outs.map((t, i) => {
      const lossId = pick<LossIdentifier>(args.loss as never, i, 'loss');
      const loss = getLoss(lossId);
      const metricIds = Array.isArray(args.metrics) ? args.metrics : args.metrics ? (args.metrics as Record<string, MetricIdentifier[]>)[names[i]] ?? [] : [];
      const metrics = metricIds.map((m) => getMetric(m, { loss: loss.name, outputShape: t.shape }));
      return { name: names[i], loss, lossMean: new Mean({ name: `${names[i]}_loss` }), weight: pick<number>(args.lossWeights as never, i, 'lossWeights', 1), metrics };
    });
  }

  /** Log names in evaluate() order: loss, then per-output losses (several outputs), then metrics. */
  get metricsNames(): string[] {
    const multi = this.outputs.length > 1;
    const names = ['loss'];
    if (multi) for (const o of this.outputs) names.push(`${o.name}_loss`);
    for (const o of this.outputs) for (const m of o.metrics) names.push(multi ? `${o.name}_${m.name}` : m.name);
    return names;
  }

  /** The compiled metrics as callbacks see them. */
  get metrics(): { name: string }[] {
    return this.metricsNames.map((name) => ({ name }));
  }

  private assertLive(): void {
    if (this.disposed) throw new ValueError('this trainer was disposed (the model was recompiled or disposed); call compile() again');
  }

  /** The optimizer's table of trainable tensors (built at the first step, after the model is built). */
  private paramSlots(): ParamSlot[] {
    if (this.slots) return this.slots;
    const layers = leafLayers(this.model.layers).filter((l) => l.built && l.trainable && this.model.trainable);
    const slots: ParamSlot[] = [];
    for (const l of layers) {
      for (const s of l.weightSpecList) {
        if (!s.trainable) continue;
        slots.push({ name: `${l.name}/${s.name}`, size: s.size, paramsPtr: l.bufferPtr('params') + s.offset * 4, gradsPtr: l.bufferPtr('grads') + s.offset * 4, weightDecay: true });
      }
    }
    this.slots = slots;
    this.slotLayers = layers;
    return slots;
  }

  // ---- one step --------------------------------------------------------------------------

  /**
   * Per-row loss weights for output k: sample weights × class weights (null = all ones). Sample
   * weights, one per sample or one per row, are spread over the rows by the losses' `rowWeights`.
   */
  private rowWeights(k: number, yTrue: Tensor, yPred: Tensor, sampleWeight: Tensor | null, classWeight: Record<number, number> | null): Float32Array | null {
    if (!sampleWeight && !classWeight) return null;
    const cols = yPred.shape[yPred.rank - 1];
    const rows = yPred.size / cols;
    // The flat values, so a per-row weight may come in any shape of that size, as before.
    const w = sampleWeight ? rowWeights(yPred.shape, { sampleWeight: sampleWeight.data }, `sampleWeight of output '${this.outputs[k].name}'`)! : new Float32Array(rows).fill(1);
    if (classWeight) {
      const y = yTrue.data;
      const sparse = yTrue.size === rows;
      for (let r = 0; r < rows; r++) {
        let cls: number;
        if (sparse) cls = cols === 1 ? Math.round(y[r]) : y[r];
        else {
          cls = 0;
          for (let c = 1; c < cols; c++) if (y[r * cols + c] > y[r * cols + cls]) cls = c;
        }
        const cw = classWeight[cls];
        if (cw === undefined) throw new ValueError(`classWeight has no entry for class ${cls}; give a weight for every class (${Object.keys(classWeight).join(', ')} given)`);
        w[r] *= cw;
      }
    }
    return w;
  }

  /** Name of the first layer whose output holds a non-finite value, for error messages. */
  private firstNonFinite(rec: ForwardRecord): string | null {
    for (const l of this.model.layers) {
      for (const node of l.inboundNodes) {
        for (const t of node.outputs) {
          const v = rec.values.get(t.id);
          if (!v) continue;
          const d = v.data;
          for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) return `layer '${l.name}' (${l.className}) output, flat index ${i}`;
        }
      }
    }
    return null;
  }

  /** Regularizer penalties of every weight that has one; adds their gradients when `withGrad`. */
  private regularization(withGrad: boolean): number {
    let penalty = 0;
    for (const l of leafLayers(this.model.layers)) {
      if (!l.built) continue;
      const specs = l.weightSpecList.filter((s) => s.regularizer);
      if (!specs.length) continue;
      const params = l.weightTensorsView('params');
      const grads = withGrad ? l.weightTensorsView('grads') : null;
      for (const s of specs) penalty += s.regularizer!.apply(params, grads, s.offset, s.size);
    }
    return penalty;
  }

  /** `runStep` with the step named in every error (`epoch 3, batch 7 (iteration 87): ...`). */
  private step(xs: Tensor[], ys: Tensor[], train: boolean, sampleWeight: Tensor | null, classWeight: Record<number, number> | null, where: string): { total: number; perOutput: number[]; record: ForwardRecord | null } {
    try {
      return this.runStep(xs, ys, train, sampleWeight, classWeight, where);
    } catch (e) {
      if (e instanceof FastGruError && !e.message.startsWith(where)) {
        const Kind = e.constructor as new (m: string) => FastGruError;
        e = new Kind(`${where}: ${e.message}`);
      }
      // A kernel refusing a non-finite value (an overflowing layer, a NaN in the data) is the same
      // event as a non-finite loss: with 'warn' the step is skipped, nothing was updated.
      if (e instanceof NonFiniteError && train && this.onNonFinite === 'warn') {
        console.warn(`${e.message}; this update was skipped`);
        return { total: NaN, perOutput: this.outputs.map(() => NaN), record: null };
      }
      throw e;
    }
  }

  /** Forward + loss on one batch; with `train`, backward and the optimizer step too. Returns per-output losses. */
  private runStep(xs: Tensor[], ys: Tensor[], train: boolean, sampleWeight: Tensor | null, classWeight: Record<number, number> | null, where: string): { total: number; perOutput: number[]; record: ForwardRecord } {
    if (ys.length !== this.outputs.length) {
      throw new ValueError(`the model has ${this.outputs.length} output(s) (${this.outputs.map((o) => o.name).join(', ')}), got ${ys.length} target tensor(s)`);
    }
    const model = this.model;
    if (train) model.zeroGradients();
    const rec = model.runForward(xs, train);
    const perOutput: number[] = [];
    const dOutputs: Tensor[] = [];
    rec.outputs.forEach((yPred, k) => {
      const o = this.outputs[k];
      const yTrue = ys[k];
      if (yTrue.shape[0] !== yPred.shape[0]) throw new ValueError(`output '${o.name}': ${yTrue.shape[0]} targets for ${yPred.shape[0]} samples`);
      const sw = this.rowWeights(k, yTrue, yPred, sampleWeight, classWeight);
      const mask = sequenceMask(rec.outputMasks[k], yPred);
      // Keras 3 `apply_mask`: a mask makes the loss the mean over valid steps; weights are not normalised.
      const weights = mask || sw ? rowWeights(yPred.shape, { sampleWeight: sw, mask }, `loss of output '${o.name}'`) : null;
      const { loss, grad } = o.loss.compute(yTrue, yPred, weights);
      perOutput.push(loss);
      if (o.weight !== 1) {
        const g = grad.data as Float32Array;
        for (let i = 0; i < g.length; i++) g[i] *= o.weight;
      }
      dOutputs.push(grad);
    });
    let total = perOutput.reduce((a, l, k) => a + this.outputs[k].weight * l, 0);
    // Weight penalties join the loss in one pass; in training that pass also adds their gradients
    // (backward accumulates, so they may go in before it). activityPenalty is 0 outside training.
    total += rec.activityPenalty + this.regularization(train);
    if (!Number.isFinite(total)) {
      const culprit = this.firstNonFinite(rec);
      const msg = `${where}: the loss is ${total}${culprit ? `; the first non-finite value is in ${culprit}` : ' (every layer output is finite: check the targets and sample weights)'}. Lower the learning rate, add clipnorm, or check the data for NaN`;
      if (this.onNonFinite === 'warn' || !train) {
        if (train) console.warn(`${msg}; this update was skipped`);
        return { total, perOutput, record: rec };
      }
      throw new NonFiniteError(msg + '; the weights are unchanged');
    }
    if (train) {
      model.runBackward(rec, dOutputs);
      const slots = this.paramSlots();
      try {
        if (slots.length) this.optimizer.applyGradients(slots);
      } catch (e) {
        if (e instanceof NonFiniteError) {
          const msg = `${where}: a non-finite gradient: ${e.message}. Lower the learning rate or add clipnorm/clipvalue; the weights are unchanged`;
          if (this.onNonFinite === 'warn') {
            console.warn(`${msg} (update skipped)`);
            return { total, perOutput, record: rec };
          }
          throw new NonFiniteError(msg);
        }
        throw e;
      }
      for (const l of this.slotLayers) {
        const constrained = l.weightSpecList.filter((s) => s.constraint && s.trainable);
        if (constrained.length) {
          const view = l.weightTensorsView('params');
          for (const s of constrained) s.constraint!.apply(view, s.shape, s.offset);
        }
        l.weightsChanged();
      }
    }
    return { total, perOutput, record: rec };
  }

  private updateMetrics(ys: Tensor[], rec: ForwardRecord | null, sampleWeight: Tensor | null, total: number, perOutput: number[], batch: number): void {
    // A skipped step (onNonFinite: 'warn') counts in no metric.
    if (!rec) return;
    this.lossTracker.update(total, batch);
    this.outputs.forEach((o, k) => {
      if (this.outputs.length > 1) o.lossMean.update(perOutput[k], batch);
      if (!o.metrics.length) return;
      const w = withMask(this.rowWeights(k, ys[k], rec.outputs[k], sampleWeight, null), rec.outputMasks[k], rec.outputs[k]);
      for (const m of o.metrics) m.update(ys[k], rec.outputs[k], w);
    });
  }

  private resetMetrics(): void {
    this.lossTracker.reset();
    for (const o of this.outputs) {
      o.lossMean.reset();
      for (const m of o.metrics) m.reset();
    }
  }

  private currentLogs(prefix = ''): Logs {
    const logs: Logs = { [`${prefix}loss`]: this.lossTracker.result() };
    const multi = this.outputs.length > 1;
    for (const o of this.outputs) {
      if (multi) logs[`${prefix}${o.name}_loss`] = o.lossMean.result();
      for (const m of o.metrics) logs[`${prefix}${multi ? `${o.name}_` : ''}${m.name}`] = m.result();
    }
    return logs;
  }

  // ---- public API ------------------------------------------------------------------------

  trainOnBatch(x: TrainerData, y: TrainerData, args: { sampleWeight?: Tensor; classWeight?: Record<number, number> } = {}): number | number[] {
    this.assertLive();
    const xs = this.inputsOf(x);
    const ys = this.targetsOf(y);
    this.resetMetrics();
    const r = this.step(xs, ys, true, args.sampleWeight ?? null, args.classWeight ?? null, `trainOnBatch (iteration ${this.optimizer.iterations + 1})`);
    this.updateMetrics(ys, r.record, args.sampleWeight ?? null, r.total, r.perOutput, xs[0].shape[0]);
    return this.resultList();
  }

  testOnBatch(x: TrainerData, y: TrainerData, args: { sampleWeight?: Tensor } = {}): number | number[] {
    this.assertLive();
    const xs = this.inputsOf(x);
    const ys = this.targetsOf(y);
    this.resetMetrics();
    const r = this.step(xs, ys, false, args.sampleWeight ?? null, null, 'testOnBatch');
    this.updateMetrics(ys, r.record, args.sampleWeight ?? null, r.total, r.perOutput, xs[0].shape[0]);
    return this.resultList();
  }

  private resultList(): number | number[] {
    const logs = this.currentLogs();
    const list = this.metricsNames.map((n) => logs[n]);
    return list.length === 1 ? list[0] : list;
  }

  private inputsOf(x: TrainerData): Tensor[] {
    return toTensorList(x, () => this.model.inputs.map((t) => t.name), 'x');
  }

  private targetsOf(y: TrainerData): Tensor[] {
    return toTensorList(y, () => this.outputs.map((o) => o.name), 'y');
  }

  async evaluate(x: TrainerData | BatchSource, y?: TrainerData, args: EvaluateArgs = {}): Promise<number | number[]> {
    this.assertLive();
    const logs = await this.runEvaluation(x, y, args.batchSize ?? 32, args.sampleWeight ?? null, '', args.steps);
    if (args.returnDict) return logs as unknown as number[];
    const list = this.metricsNames.map((n) => logs[n]);
    return list.length === 1 ? list[0] : list;
  }

  private async runEvaluation(x: TrainerData | BatchSource, y: TrainerData | undefined, batchSize: number, sampleWeight: Tensor | null, prefix: string, steps?: number): Promise<Logs> {
    this.resetMetrics();
    if (isBatchSource(x)) {
      let i = 0;
      for await (const b of x as AsyncIterable<Batch>) {
        if (steps !== undefined && i >= steps) break;
        const xs = this.inputsOf(b.xs);
        const ys = this.targetsOf(b.ys);
        const r = this.step(xs, ys, false, b.sampleWeight ?? null, null, `evaluate batch ${i}`);
        this.updateMetrics(ys, r.record, b.sampleWeight ?? null, r.total, r.perOutput, xs[0].shape[0]);
        i++;
      }
      if (i === 0) throw new ValueError('evaluate(): the dataset yielded no batches');
      return this.currentLogs(prefix);
    }
    if (y === undefined) throw new ValueError('evaluate(x, y): targets are missing');
    const xs = this.inputsOf(x);
    const ys = this.targetsOf(y);
    const n = checkSampleCounts(xs, ys, sampleWeight);
    checkBatchSize(batchSize);
    for (let s = 0; s < n; s += batchSize) {
      const e = Math.min(n, s + batchSize);
      const bx = xs.map((t) => sliceRows(t, s, e));
      const by = ys.map((t) => sliceRows(t, s, e));
      const bw = sampleWeight ? sliceRows(sampleWeight, s, e) : null;
      const r = this.step(bx, by, false, bw, null, `evaluate batch ${s / batchSize}`);
      this.updateMetrics(by, r.record, bw, r.total, r.perOutput, e - s);
    }
    return this.currentLogs(prefix);
  }

  async fit(x: TrainerData | BatchSource, yOrArgs?: TrainerData | FitArgs, maybeArgs?: FitArgs): Promise<History> {
    this.assertLive();
    const dataset = isBatchSource(x);
    const y = dataset ? undefined : (yOrArgs as TrainerData | undefined);
    const args: FitArgs = (dataset ? (yOrArgs as FitArgs) : maybeArgs) ?? {};
    const signal = args.signal;
    if (signal?.aborted) throw new AbortError('fit() was aborted before it started (the signal was already aborted); nothing was trained');
    const epochs = args.epochs ?? 1;
    const initialEpoch = args.initialEpoch ?? 0;
    const batchSize = args.batchSize ?? 32;
    const verbose = args.verbose ?? 1;
    if (!Number.isInteger(epochs) || epochs < 0) throw new ValueError(`fit(): epochs must be a non-negative integer, got ${epochs}`);
    if (!Number.isInteger(initialEpoch) || initialEpoch < 0) throw new ValueError(`fit(): initialEpoch must be a non-negative integer, got ${initialEpoch}`);
    checkBatchSize(batchSize);
    const split = args.validationSplit ?? 0;
    if (!(split >= 0 && split < 1)) throw new ValueError(`fit(): validationSplit must be in [0, 1), got ${split}`);

    let xs: Tensor[] = [];
    let ys: Tensor[] = [];
    let sw: Tensor | null = args.sampleWeight ?? null;
    let n = 0;
    let validation: { x: TrainerData | BatchSource; y?: TrainerData; sw: Tensor | null } | null = null;
    if (!dataset) {
      if (y === undefined) throw new ValueError('fit(x, y): targets are missing');
      xs = this.inputsOf(x as TrainerData);
      ys = this.targetsOf(y);
      n = checkSampleCounts(xs, ys, sw);
      if (split > 0) {
        if (args.validationData) throw new ValueError('fit(): give validationSplit or validationData, not both');
        const nTrain = Math.floor(n * (1 - split));
        if (nTrain < 1 || nTrain >= n) throw new ValueError(`fit(): validationSplit ${split} of ${n} samples leaves ${nTrain} for training and ${n - nTrain} for validation; both need at least one`);
        validation = { x: xs.map((t) => sliceRows(t, nTrain, n)), y: ys.map((t) => sliceRows(t, nTrain, n)), sw: sw ? sliceRows(sw, nTrain, n) : null };
        xs = xs.map((t) => sliceRows(t, 0, nTrain));
        ys = ys.map((t) => sliceRows(t, 0, nTrain));
        sw = sw ? sliceRows(sw, 0, nTrain) : null;
        n = nTrain;
      }
    } else if (split > 0) {
      throw new ValueError('fit(): validationSplit needs tensors; with a dataset give validationData');
    }
    if (args.validationData) {
      const v = args.validationData;
      if (isBatchSource(v)) validation = { x: v, sw: null };
      else {
        if (!Array.isArray(v) || v.length < 2) throw new ValueError('fit(): validationData must be [x, y], [x, y, sampleWeight] or a dataset');
        validation = { x: v[0], y: v[1], sw: (v[2] as Tensor | undefined) ?? null };
      }
    }
    const steps = dataset ? args.stepsPerEpoch ?? null : Math.ceil(n / batchSize);
    const callbacks = new CallbackList(args.callbacks ?? [], { addHistory: true, addProgbar: verbose !== 0 });
    const model = this.model;
    model.stopTraining = false;
    const names = [...this.metricsNames, ...(validation ? this.metricsNames.map((m) => `val_${m}`) : [])];
    callbacks.setModel({
      get stopTraining() {
        return model.stopTraining;
      },
      set stopTraining(v: boolean) {
        model.stopTraining = v;
      },
      getWeights: () => model.getWeights(),
      setWeights: (w: Tensor[]) => model.setWeights(w),
      optimizer: this.optimizer,
      metrics: this.metrics,
      metricsNames: names,
      save: (target: string, options?: { includeOptimizer?: boolean }) => model.save(target, options),
    });
    callbacks.setParams({ epochs, steps, verbose, batchSize, samples: dataset ? null : n });

    const yieldMode = args.yieldEvery ?? 'auto';
    const yieldMs = typeof yieldMode === 'number' ? yieldMode : yieldMode === 'auto' ? 100 : yieldMode === 'batch' ? 0 : Infinity;
    let lastYield = Date.now();
    const maybeYield = async (endOfEpoch: boolean): Promise<void> => {
      if (yieldMode === 'never') return;
      if (yieldMode === 'epoch' ? endOfEpoch : Date.now() - lastYield >= yieldMs) {
        await nextTurn();
        lastYield = Date.now();
      }
    };

    // Gather buffers for shuffled batches: allocated once per fit, reused by every batch.
    const gatherBufs = [...xs, ...ys].map((t) => (t.dtype === 'int32' ? new Int32Array(Math.min(batchSize, n) * (t.size / Math.max(1, t.shape[0]))) : new Float32Array(Math.min(batchSize, n) * (t.size / Math.max(1, t.shape[0])))));
    const swBuf = sw ? new Float32Array(Math.min(batchSize, n) * (sw.size / sw.shape[0])) : null;
    const order = new Int32Array(n);
    const shuffle = args.shuffle ?? true;
    const classWeight = args.classWeight ?? null;

    await callbacks.onTrainBegin();
    for (let epoch = initialEpoch; epoch < epochs; epoch++) {
      this.resetMetrics();
      await callbacks.onEpochBegin(epoch);
      let batchIndex = 0;
      const runBatch = async (bx: Tensor[], by: Tensor[], bw: Tensor | null): Promise<void> => {
        await callbacks.onBatchBegin(batchIndex, { batch: batchIndex, size: bx[0].shape[0] });
        const r = this.step(bx, by, true, bw, classWeight, `epoch ${epoch + 1}, batch ${batchIndex + 1} (iteration ${this.optimizer.iterations + 1})`);
        this.updateMetrics(by, r.record, bw, r.total, r.perOutput, bx[0].shape[0]);
        await callbacks.onBatchEnd(batchIndex, this.currentLogs());
        batchIndex++;
        await maybeYield(false);
        if (signal?.aborted) {
          throw new AbortError(`fit() was aborted after epoch ${epoch + 1}, batch ${batchIndex} (iteration ${this.optimizer.iterations}); the model keeps the weights of that batch`, callbacks.history);
        }
      };
      if (dataset) {
        for await (const b of x as AsyncIterable<Batch>) {
          await runBatch(this.inputsOf(b.xs), this.targetsOf(b.ys), b.sampleWeight ?? null);
          if (model.stopTraining || (args.stepsPerEpoch !== undefined && batchIndex >= args.stepsPerEpoch)) break;
        }
        if (batchIndex === 0) throw new ValueError('fit(): the dataset yielded no batches; a dataset must be re-iterable (each epoch iterates it again)');
      } else {
        for (let i = 0; i < n; i++) order[i] = i;
        if (shuffle) globalRandom().shuffle(order);
        for (let s = 0; s < n && !model.stopTraining; s += batchSize) {
          const e = Math.min(n, s + batchSize);
          let bx: Tensor[];
          let by: Tensor[];
          let bw: Tensor | null;
          if (shuffle) {
            bx = xs.map((t, k) => gatherRows(t, order, s, e, gatherBufs[k]));
            by = ys.map((t, k) => gatherRows(t, order, s, e, gatherBufs[xs.length + k]));
            bw = sw ? gatherRows(sw, order, s, e, swBuf!) : null;
          } else {
            bx = xs.map((t) => sliceRows(t, s, e));
            by = ys.map((t) => sliceRows(t, s, e));
            bw = sw ? sliceRows(sw, s, e) : null;
          }
          await runBatch(bx, by, bw);
        }
      }
      const logs = this.currentLogs();
      if (validation && !model.stopTraining) {
        await callbacks.onTestBegin();
        Object.assign(logs, await this.runEvaluation(validation.x, validation.y, args.validationBatchSize ?? batchSize, validation.sw, 'val_', args.validationSteps));
        await callbacks.onTestEnd(logs);
      }
      await callbacks.onEpochEnd(epoch, logs);
      await maybeYield(true);
      if (model.stopTraining) break;
    }
    await callbacks.onTrainEnd();
    return callbacks.history!;
  }

  /**
   * What `model.save` writes as `trainingConfig` (tfjs `getTrainingConfig`): loss(es), metric names,
   * loss weights and `optimizer_config` `{class_name, config}`; all JSON. A metric object is saved
   * by its `name`. The learning rate is the current one (after ReduceLROnPlateau, say).
   */
  trainingConfig(): TrainingConfig {
    const loss = (v: unknown): unknown => {
      if (typeof v === 'string') return v;
      if (v instanceof LossFunction) return v.toJSON();
      if (Array.isArray(v)) return v.map(loss);
      if (v && typeof v === 'object' && !('className' in v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, loss(x)]));
      return v;
    };
    const metric = (m: MetricIdentifier): string => (typeof m === 'string' ? m : m.name);
    const ms = this.compileArgs.metrics;
    const metrics = ms === undefined ? null : Array.isArray(ms) ? ms.map(metric) : Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, v.map(metric)]));
    return {
      loss: loss(this.compileArgs.loss) as TrainingConfig['loss'],
      metrics,
      loss_weights: this.compileArgs.lossWeights ?? null,
      optimizer_config: { class_name: this.optimizer.className, config: this.optimizer.getConfig() },
    };
  }

  /**
   * Builds the optimizer state for the model's trainable weights now (Keras `optimizer.build`), so
   * a saved state can be loaded with `optimizer.setWeights`. Returns the slot names in state order.
   */
  buildOptimizer(): string[] {
    this.assertLive();
    const slots = this.paramSlots();
    if (!this.optimizer.built && slots.length) this.optimizer.build(slots);
    return slots.map((s) => s.name);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.optimizer.dispose();
    for (const o of this.outputs) o.loss.dispose();
  }
}

/** The output's mask when it covers the output's rows (a (batch, time) mask of a sequence output). */
function sequenceMask(mask: Tensor | null, yPred: Tensor): Tensor | null {
  if (!mask) return null;
  const rows = yPred.size / yPred.shape[yPred.rank - 1];
  return mask.size === rows && yPred.rank >= 3 ? mask : null;
}

/** Row weights with a sequence mask folded in (masked steps weigh 0), as Keras feeds metrics. */
function withMask(w: Float32Array | null, mask: Tensor | null, yPred: Tensor): Float32Array | null {
  if (!mask) return w;
  const rows = yPred.size / yPred.shape[yPred.rank - 1];
  if (mask.size !== rows) return w;
  const out = w ? Float32Array.from(w) : new Float32Array(rows).fill(1);
  const m = mask.data;
  for (let r = 0; r < rows; r++) if (m[r] === 0) out[r] = 0;
  return out;
}

function isPlainIdentifier(v: unknown): boolean {
  return typeof v === 'object' && v !== null && ('className' in v || typeof (v as { compute?: unknown }).compute === 'function' || typeof (v as { update?: unknown }).update === 'function');
}

function checkBatchSize(batchSize: number): void {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new ValueError(`batchSize must be a positive integer, got ${batchSize}`);
}

function checkSampleCounts(xs: Tensor[], ys: Tensor[], sw: Tensor | null): number {
  const all = [...xs, ...ys];
  if (!all.length) throw new ValueError('no data');
  for (const t of all) {
    if (!(t instanceof Tensor)) throw new ValueError(`data must be Tensors, got ${t === null ? 'null' : typeof t}`);
    if (t.rank < 1) throw new ValueError('data tensors need a sample axis first, got a scalar');
  }
  const n = all[0].shape[0];
  const counts = all.map((t) => t.shape[0]);
  if (counts.some((c) => c !== n)) throw new ValueError(`every input and target needs the same number of samples; got ${counts.join(', ')}`);
  if (sw && sw.shape[0] !== n) throw new ValueError(`sampleWeight has ${sw.shape[0]} samples for ${n}`);
  if (n === 0) throw new ValueError('no samples');
  return n;
}

