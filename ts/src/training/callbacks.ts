/**
 * Training callbacks with Keras 3 semantics (`keras/src/callbacks/*.py`) and tfjs names
 * (`onEpochEnd(epoch, logs)`, `CustomCallbackArgs`).
 *
 * The trainer owns the fit loop; it builds one `CallbackList` per `fit` / `evaluate` / `predict`
 * and calls its hooks in this order (Keras `Trainer.fit`):
 *
 *   onTrainBegin
 *     onEpochBegin(e)
 *       onBatchBegin(b) onBatchEnd(b, logs)          ... for every training batch
 *       onTestBegin  onTestBatchBegin/End  onTestEnd  (validation, if any)
 *     onEpochEnd(e, logs)                             logs: loss, metrics, val_loss, val_<metric>
 *   onTrainEnd
 *
 * `logs` is one object shared by every callback of a hook, as in Keras: a callback that adds a key
 * (ReduceLROnPlateau and LearningRateScheduler add `learning_rate`) is seen by those after it,
 * History included (History is appended last).
 *
 * Log keys: training values use the metric's name (`loss`, `accuracy`, `mean_squared_error`, ...),
 * validation values the same name with a `val_` prefix. This is the only style.
 */
import { Tensor } from '../tensor.js';
import { NonFiniteError, ValueError } from '../wasm/errors.js';
import { metricDirection } from './metrics.js';

/** Values logged for one batch or one epoch: `{loss: 0.41, accuracy: 0.8, val_loss: 0.5}`. */
export type Logs = Record<string, number>;

/** A learning-rate schedule: the rate at an optimizer step (Keras `LearningRateSchedule`). */
export interface LearningRateScheduleLike {
  call(step: number): number;
}

/** What callbacks may touch on the model being trained. The trainer's model satisfies it. */
export interface TrainingModel {
  /** Set to true to end `fit` after the current epoch (or batch). */
  stopTraining: boolean;
  /** Copies of the weights, in a fixed order (restoreBestWeights, checkpoints). */
  getWeights(): Tensor[];
  setWeights(weights: Tensor[]): void;
  /** `learningRate` is written by ReduceLROnPlateau and LearningRateScheduler. */
  optimizer: { learningRate: number | LearningRateScheduleLike; iterations?: number } | null;
  /**
   * Compiled metrics with their names as logged (without `val_`) and whether larger is better.
   * Optional: `mode: 'auto'` falls back to the known names of `metrics.ts` (see `resolveMonitorOp`).
   */
  metrics?: readonly { name: string; direction?: 'up' | 'down' }[];
  /** Log names `fit` will produce, `val_` ones included (CSVLogger's header). Optional. */
  metricsNames?: readonly string[];
  /** Set by `CallbackList.setModel` when it holds a History (Keras sets `model.history`). */
  history?: History;
  /** `model.save(target, {includeOptimizer})` (ModelCheckpoint writes `file://` paths through it). Optional. */
  save?(target: string, options?: { includeOptimizer?: boolean }): Promise<unknown>;
}

/** What `fit` tells every callback before training (Keras `set_params`). */
export interface CallbackParams {
  epochs: number;
  /** Batches per epoch, or null if unknown. */
  steps: number | null;
  /** 0 silent, 1 progress bar, 2 one line per epoch; 'auto' means 1. */
  verbose: number | 'auto';
  [key: string]: unknown;
}

type Hook<A extends unknown[]> = (...args: A) => void | Promise<void>;

/**
 * Base class: override the hooks you need. Every hook may be async; the trainer awaits it.
 * `model` and `params` are set by the trainer before `onTrainBegin`.
 */
export class Callback {
  model: TrainingModel | null = null;
  params: CallbackParams | null = null;

  setModel(model: TrainingModel): void {
    this.model = model;
  }

  setParams(params: CallbackParams): void {
    this.params = params;
  }

  async onTrainBegin(_logs?: Logs): Promise<void> {}
  async onTrainEnd(_logs?: Logs): Promise<void> {}
  async onEpochBegin(_epoch: number, _logs?: Logs): Promise<void> {}
  async onEpochEnd(_epoch: number, _logs?: Logs): Promise<void> {}
  /** Before a training batch (Keras `on_train_batch_begin`). */
  async onBatchBegin(_batch: number, _logs?: Logs): Promise<void> {}
  /** After a training batch; `logs` holds the running epoch means so far (Keras `on_train_batch_end`). */
  async onBatchEnd(_batch: number, _logs?: Logs): Promise<void> {}
  async onTestBegin(_logs?: Logs): Promise<void> {}
  async onTestEnd(_logs?: Logs): Promise<void> {}
  async onTestBatchBegin(_batch: number, _logs?: Logs): Promise<void> {}
  async onTestBatchEnd(_batch: number, _logs?: Logs): Promise<void> {}
  async onPredictBegin(_logs?: Logs): Promise<void> {}
  async onPredictEnd(_logs?: Logs): Promise<void> {}
  async onPredictBatchBegin(_batch: number, _logs?: Logs): Promise<void> {}
  async onPredictBatchEnd(_batch: number, _logs?: Logs): Promise<void> {}

  /** The model, or a clear error if the trainer has not set it. */
  protected requireModel(): TrainingModel {
    if (this.model === null) {
      throw new ValueError(`${this.constructor.name}: no model set; pass the callback to fit() (or call setModel(model) first)`);
    }
    return this.model;
  }
}

/** A plain object with some hooks, accepted wherever a callback is (tfjs `CustomCallbackArgs`). */
export interface CustomCallbackArgs {
  onTrainBegin?: Hook<[Logs | undefined]>;
  onTrainEnd?: Hook<[Logs | undefined]>;
  onEpochBegin?: Hook<[number, Logs | undefined]>;
  onEpochEnd?: Hook<[number, Logs | undefined]>;
  onBatchBegin?: Hook<[number, Logs | undefined]>;
  onBatchEnd?: Hook<[number, Logs | undefined]>;
  onTestBegin?: Hook<[Logs | undefined]>;
  onTestEnd?: Hook<[Logs | undefined]>;
  onTestBatchBegin?: Hook<[number, Logs | undefined]>;
  onTestBatchEnd?: Hook<[number, Logs | undefined]>;
  onPredictBegin?: Hook<[Logs | undefined]>;
  onPredictEnd?: Hook<[Logs | undefined]>;
  onPredictBatchBegin?: Hook<[number, Logs | undefined]>;
  onPredictBatchEnd?: Hook<[number, Logs | undefined]>;
}

const HOOK_NAMES = [
  'onTrainBegin',
  'onTrainEnd',
  'onEpochBegin',
  'onEpochEnd',
  'onBatchBegin',
  'onBatchEnd',
  'onTestBegin',
  'onTestEnd',
  'onTestBatchBegin',
  'onTestBatchEnd',
  'onPredictBegin',
  'onPredictEnd',
  'onPredictBatchBegin',
  'onPredictBatchEnd',
] as const;

/** Wraps a `CustomCallbackArgs` object (tfjs `CustomCallback`); hooks are called with `this` = the object. */
export class CustomCallback extends Callback {
  constructor(readonly args: CustomCallbackArgs) {
    super();
    for (const key of Object.keys(args)) {
      if (!(HOOK_NAMES as readonly string[]).includes(key)) {
        throw new ValueError(`callback object has an unknown key '${key}'; expected some of ${HOOK_NAMES.join(', ')}`);
      }
      if (typeof (args as Record<string, unknown>)[key] !== 'function') {
        throw new ValueError(`callback object: '${key}' must be a function, got ${typeof (args as Record<string, unknown>)[key]}`);
      }
    }
  }
  override async onTrainBegin(logs?: Logs) { await this.args.onTrainBegin?.(logs); }
  override async onTrainEnd(logs?: Logs) { await this.args.onTrainEnd?.(logs); }
  override async onEpochBegin(epoch: number, logs?: Logs) { await this.args.onEpochBegin?.(epoch, logs); }
  override async onEpochEnd(epoch: number, logs?: Logs) { await this.args.onEpochEnd?.(epoch, logs); }
  override async onBatchBegin(batch: number, logs?: Logs) { await this.args.onBatchBegin?.(batch, logs); }
  override async onBatchEnd(batch: number, logs?: Logs) { await this.args.onBatchEnd?.(batch, logs); }
  override async onTestBegin(logs?: Logs) { await this.args.onTestBegin?.(logs); }
  override async onTestEnd(logs?: Logs) { await this.args.onTestEnd?.(logs); }
  override async onTestBatchBegin(batch: number, logs?: Logs) { await this.args.onTestBatchBegin?.(batch, logs); }
  override async onTestBatchEnd(batch: number, logs?: Logs) { await this.args.onTestBatchEnd?.(batch, logs); }
  override async onPredictBegin(logs?: Logs) { await this.args.onPredictBegin?.(logs); }
  override async onPredictEnd(logs?: Logs) { await this.args.onPredictEnd?.(logs); }
  override async onPredictBatchBegin(batch: number, logs?: Logs) { await this.args.onPredictBatchBegin?.(batch, logs); }
  override async onPredictBatchEnd(batch: number, logs?: Logs) { await this.args.onPredictBatchEnd?.(batch, logs); }
}

/** What `fit({callbacks})` accepts: callbacks, hook objects, or (nested) arrays of them. */
export type CallbackLike = Callback | CustomCallbackArgs;
export type CallbacksArg = CallbackLike | readonly (CallbackLike | readonly CallbackLike[])[];

export interface CallbackListArgs {
  /** Append a History if none is given (Keras `add_history`). Defaults to false. */
  addHistory?: boolean;
  /** Append a ProgbarLogger if none is given (Keras `add_progbar`; fit passes `verbose !== 0`). Defaults to false. */
  addProgbar?: boolean;
  model?: TrainingModel;
  params?: CallbackParams;
}

/**
 * Fans every hook out to its callbacks, in order, awaiting each (Keras `CallbackList`). The same
 * `logs` object goes to all of them. History, then ProgbarLogger, are appended after the user's
 * callbacks, so they see keys the others add.
 */
export class CallbackList extends Callback {
  readonly callbacks: Callback[];
  readonly history: History | null;
  readonly progbar: ProgbarLogger | null;

  constructor(callbacks: CallbacksArg | null | undefined = [], args: CallbackListArgs = {}) {
    super();
    this.callbacks = flattenCallbacks(callbacks ?? []);
    let history = this.callbacks.find((c): c is History => c instanceof History) ?? null;
    let progbar = this.callbacks.find((c): c is ProgbarLogger => c instanceof ProgbarLogger) ?? null;
    if (history === null && args.addHistory) {
      history = new History();
      this.callbacks.push(history);
    }
    if (progbar === null && args.addProgbar) {
      progbar = new ProgbarLogger();
      this.callbacks.push(progbar);
    }
    this.history = history;
    this.progbar = progbar;
    if (args.model) this.setModel(args.model);
    if (args.params) this.setParams(args.params);
  }

  append(callback: CallbackLike): void {
    this.callbacks.push(toCallback(callback));
  }

  override setModel(model: TrainingModel): void {
    super.setModel(model);
    if (this.history) model.history = this.history;
    for (const c of this.callbacks) c.setModel(model);
  }

  override setParams(params: CallbackParams): void {
    super.setParams(params);
    for (const c of this.callbacks) c.setParams(params);
  }

  override async onTrainBegin(logs: Logs = {}) { for (const c of this.callbacks) await c.onTrainBegin(logs); }
  override async onTrainEnd(logs: Logs = {}) { for (const c of this.callbacks) await c.onTrainEnd(logs); }
  override async onEpochBegin(epoch: number, logs: Logs = {}) { for (const c of this.callbacks) await c.onEpochBegin(epoch, logs); }
  override async onEpochEnd(epoch: number, logs: Logs = {}) { for (const c of this.callbacks) await c.onEpochEnd(epoch, logs); }
  override async onBatchBegin(batch: number, logs: Logs = {}) { for (const c of this.callbacks) await c.onBatchBegin(batch, logs); }
  override async onBatchEnd(batch: number, logs: Logs = {}) { for (const c of this.callbacks) await c.onBatchEnd(batch, logs); }
  override async onTestBegin(logs: Logs = {}) { for (const c of this.callbacks) await c.onTestBegin(logs); }
  override async onTestEnd(logs: Logs = {}) { for (const c of this.callbacks) await c.onTestEnd(logs); }
  override async onTestBatchBegin(batch: number, logs: Logs = {}) { for (const c of this.callbacks) await c.onTestBatchBegin(batch, logs); }
  override async onTestBatchEnd(batch: number, logs: Logs = {}) { for (const c of this.callbacks) await c.onTestBatchEnd(batch, logs); }
  override async onPredictBegin(logs: Logs = {}) { for (const c of this.callbacks) await c.onPredictBegin(logs); }
  override async onPredictEnd(logs: Logs = {}) { for (const c of this.callbacks) await c.onPredictEnd(logs); }
  override async onPredictBatchBegin(batch: number, logs: Logs = {}) { for (const c of this.callbacks) await c.onPredictBatchBegin(batch, logs); }
  override async onPredictBatchEnd(batch: number, logs: Logs = {}) { for (const c of this.callbacks) await c.onPredictBatchEnd(batch, logs); }
}

function toCallback(c: CallbackLike): Callback {
  if (c instanceof Callback) return c;
  if (c === null || typeof c !== 'object') throw new ValueError(`callbacks must be Callback instances or objects of hooks, got ${c === null ? 'null' : typeof c}`);
  return new CustomCallback(c);
}

function flattenCallbacks(arg: CallbacksArg): Callback[] {
  const out: Callback[] = [];
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(visit);
    else out.push(toCallback(v as CallbackLike));
  };
  visit(arg);
  return out;
}

/**
 * Records the logs of every epoch (Keras `History`): `history.epoch` = [0, 1, ...],
 * `history.history.loss` = [...], `history.history.val_loss` = [...]. `fit` returns it.
 */
export class History extends Callback {
  epoch: number[] = [];
  history: Record<string, number[]> = {};

  override async onTrainBegin(): Promise<void> {
    // Keras 3 resets only `epoch` here; `fit` makes a new History each time.
    this.epoch = [];
  }

  override async onEpochEnd(epoch: number, logs: Logs = {}): Promise<void> {
    this.epoch.push(epoch);
    for (const [k, v] of Object.entries(logs)) (this.history[k] ??= []).push(v);
    if (this.model) this.model.history = this;
  }
}

// ---------------------------------------------------------------------------------------------
// Monitoring a logged value

export type MonitorMode = 'auto' | 'min' | 'max';

/** `'less'` when smaller is better. */
export type MonitorOp = 'less' | 'greater';

function checkMode(name: string, mode: string): MonitorMode {
  if (mode === 'auto' || mode === 'min' || mode === 'max') return mode;
  // Keras warns and falls back to auto for an unknown mode.
  console.warn(`${name} mode '${mode}' is unknown, fallback to auto mode.`);
  return 'auto';
}

/**
 * Which way is better for `monitor` (Keras 3 `MonitorCallback._set_monitor_op`): `min` / `max` as
 * given; for `auto`, the name without `val_` is looked up: `loss` is minimised, a compiled metric
 * goes its `direction` ('up' maximised, 'down' minimised).
 *
 * Porting note: Keras only looks at `model.metrics`; when the model does not list its metrics we
 * also know the log names `metrics.ts` produces (`accuracy`, `auc`, `mean_squared_error`, ...).
 * Anything else throws, as in Keras, asking for an explicit mode.
 */
export function resolveMonitorOp(callbackName: string, monitor: string, mode: MonitorMode, model: TrainingModel | null): MonitorOp {
  if (mode === 'min') return 'less';
  if (mode === 'max') return 'greater';
  const name = monitor.startsWith('val_') ? monitor.slice(4) : monitor;
  let op: MonitorOp | null = name === 'loss' ? 'less' : null;
  for (const m of model?.metrics ?? []) {
    if (m.name === name && m.direction) op = m.direction === 'up' ? 'greater' : 'less';
  }
  if (op === null) {
    const known = metricDirection(name);
    if (known) op = known === 'up' ? 'greater' : 'less';
  }
  if (op === null) {
    throw new ValueError(
      `${callbackName} callback received monitor='${monitor}', but cannot tell whether that metric should be maximized or minimized. ` +
        `Pass mode: 'max' to monitor the highest value, or mode: 'min' for the lowest.`,
    );
  }
  return op;
}

/**
 * Base of the callbacks that watch one logged value (Keras 3 `MonitorCallback`): `best` starts at
 * `baseline` (or ±Infinity once the direction is known) and `isImprovement` needs `minDelta` more.
 */
export class MonitorCallback extends Callback {
  readonly monitor: string;
  readonly mode: MonitorMode;
  readonly minDelta: number;
  best: number | null;
  monitorOp: MonitorOp | null = null;

  constructor(monitor: string, mode: string, baseline: number | null | undefined, minDelta: number) {
    super();
    this.monitor = monitor;
    this.mode = checkMode(new.target.name, mode);
    this.best = baseline ?? null;
    this.minDelta = Math.abs(minDelta);
  }

  /** Decided at the first epoch end, when the model's metrics exist (as Keras does). */
  protected setMonitorOp(): void {
    this.monitorOp = resolveMonitorOp(this.constructor.name, this.monitor, this.mode, this.model);
    if (this.best === null) this.best = this.monitorOp === 'less' ? Infinity : -Infinity;
  }

  /** `value` beats `reference` by more than `minDelta` (a null reference is always beaten). */
  isImprovement(value: number, reference: number | null): boolean {
    if (reference === null) return true;
    return this.monitorOp === 'less' ? value + this.minDelta < reference : value - this.minDelta > reference;
  }
}

function cloneWeights(ws: Tensor[]): Tensor[] {
  // Copies: the trainer may reuse or update the arrays it returned.
  return ws.map((w) => w.clone());
}

function printMsg(msg: string): void {
  console.log(msg);
}

// ---------------------------------------------------------------------------------------------
// EarlyStopping

export interface EarlyStoppingArgs {
  /** Logged value to watch. Defaults to 'val_loss'. */
  monitor?: string;
  /** An improvement must beat the best by more than this (absolute value used). Defaults to 0. */
  minDelta?: number;
  /** Epochs without improvement before stopping. Defaults to 0. */
  patience?: number;
  /** 1 prints when stopping and restoring. Defaults to 0. */
  verbose?: number;
  /** 'min', 'max', or 'auto' (from the metric, see `resolveMonitorOp`). Defaults to 'auto'. */
  mode?: MonitorMode;
  /** Training stops unless the model beats this within `patience` epochs. Defaults to none. */
  baseline?: number | null;
  /** At the end of training, set the weights of the best epoch. Defaults to false. */
  restoreBestWeights?: boolean;
  /** Epochs to wait before watching (warm-up). Defaults to 0. */
  startFromEpoch?: number;
}

export const EARLY_STOPPING_DEFAULTS = {
  monitor: 'val_loss',
  minDelta: 0,
  patience: 0,
  verbose: 0,
  mode: 'auto',
  baseline: null,
  restoreBestWeights: false,
  startFromEpoch: 0,
} as const;

/**
 * Stops training when `monitor` has not improved for `patience` epochs (Keras 3
 * `early_stopping.py`, step for step):
 *
 * - `onTrainBegin` resets `wait`, `stoppedEpoch`, `best`, `bestWeights`, `bestEpoch`, so one
 *   instance can serve several `fit` calls.
 * - Each epoch end from `startFromEpoch` on: `wait += 1`; an improvement over `best` (by more than
 *   `minDelta`; the first watched epoch always counts) records best and best weights, and resets
 *   `wait` to 0 only if it also beats `baseline`. Otherwise, once `wait >= patience` (and
 *   epoch > 0), `model.stopTraining = true`.
 * - With `restoreBestWeights`, `onTrainEnd` sets the best epoch's weights whenever they were
 *   recorded, whether or not training stopped early (Keras 3; Keras 2 restored only on a stop).
 * - A missing `monitor` key warns, listing the keys present, and skips the epoch.
 */
export class EarlyStopping extends Callback {
  readonly monitor: string;
  readonly patience: number;
  readonly verbose: number;
  readonly baseline: number | null;
  readonly minDelta: number;
  readonly restoreBestWeights: boolean;
  readonly startFromEpoch: number;
  readonly mode: MonitorMode;
  monitorOp: MonitorOp | null = null;
  wait = 0;
  stoppedEpoch = 0;
  best: number | null = null;
  bestEpoch = 0;
  bestWeights: Tensor[] | null = null;

  constructor(args: EarlyStoppingArgs = {}) {
    super();
    const a = { ...EARLY_STOPPING_DEFAULTS, ...args };
    for (const [k, v] of [['patience', a.patience], ['startFromEpoch', a.startFromEpoch]] as const) {
      if (!Number.isInteger(v) || v < 0) throw new ValueError(`EarlyStopping: ${k} must be an integer >= 0, got ${v}`);
    }
    if (!Number.isFinite(a.minDelta)) throw new ValueError(`EarlyStopping: minDelta must be a finite number, got ${a.minDelta}`);
    this.monitor = a.monitor;
    this.patience = a.patience;
    this.verbose = a.verbose;
    this.baseline = a.baseline ?? null;
    this.minDelta = Math.abs(a.minDelta);
    this.restoreBestWeights = a.restoreBestWeights;
    this.startFromEpoch = a.startFromEpoch;
    this.mode = checkMode('EarlyStopping', a.mode);
  }

  override async onTrainBegin(): Promise<void> {
    this.wait = 0;
    this.stoppedEpoch = 0;
    this.best = null;
    this.bestWeights = null;
    this.bestEpoch = 0;
  }

  override async onEpochEnd(epoch: number, logs: Logs = {}): Promise<void> {
    const model = this.requireModel();
    if (this.monitorOp === null) this.monitorOp = resolveMonitorOp('EarlyStopping', this.monitor, this.mode, model);
    const current = this.getMonitorValue(logs);
    if (current === undefined || epoch < this.startFromEpoch) return;
    if (this.restoreBestWeights && this.bestWeights === null) {
      // Nothing recorded yet: the current weights are the best so far.
      this.bestWeights = cloneWeights(model.getWeights());
      this.bestEpoch = epoch;
    }
    this.wait += 1;
    if (this.isImprovement(current, this.best)) {
      this.best = current;
      this.bestEpoch = epoch;
      if (this.restoreBestWeights) this.bestWeights = cloneWeights(model.getWeights());
      // Restart the wait only when both the previous best and the baseline are beaten.
      if (this.baseline === null || this.isImprovement(current, this.baseline)) this.wait = 0;
      return;
    }
    if (this.wait >= this.patience && epoch > 0) {
      this.stoppedEpoch = epoch;
      model.stopTraining = true;
    }
  }

  override async onTrainEnd(): Promise<void> {
    if (this.stoppedEpoch > 0 && this.verbose > 0) printMsg(`Epoch ${this.stoppedEpoch + 1}: early stopping`);
    if (this.restoreBestWeights && this.bestWeights !== null) {
      if (this.verbose > 0) printMsg(`Restoring model weights from the end of the best epoch: ${this.bestEpoch + 1}.`);
      this.requireModel().setWeights(this.bestWeights);
    }
  }

  /** The monitored value, or undefined after a warning listing the available keys. */
  getMonitorValue(logs: Logs = {}): number | undefined {
    const v = logs[this.monitor];
    if (v === undefined || v === null) {
      console.warn(`Early stopping conditioned on metric \`${this.monitor}\` which is not available. Available metrics are: ${Object.keys(logs).join(',')}`);
      return undefined;
    }
    return v;
  }

  isImprovement(value: number, reference: number | null): boolean {
    if (reference === null) return true;
    return this.monitorOp === 'less' ? value + this.minDelta < reference : value - this.minDelta > reference;
  }
}

// ---------------------------------------------------------------------------------------------
// Learning rate

function currentLearningRate(model: TrainingModel, who: string): number {
  const opt = model.optimizer;
  if (!opt) throw new ValueError(`${who} needs a model with an optimizer (compile the model first)`);
  const lr = opt.learningRate;
  // A schedule's current rate is its value at the current step (Keras `optimizer.learning_rate`).
  return typeof lr === 'number' ? lr : lr.call(opt.iterations ?? 0);
}

function setLearningRate(model: TrainingModel, lr: number, who: string): void {
  const opt = model.optimizer;
  if (!opt) throw new ValueError(`${who} needs a model with an optimizer (compile the model first)`);
  if (typeof opt.learningRate !== 'number') {
    throw new ValueError(
      `${who} cannot set the learning rate: the optimizer was created with a learning-rate schedule, so its rate is not settable. ` +
        `Give the optimizer a number as learningRate, or drop ${who}.`,
    );
  }
  opt.learningRate = lr;
}

export interface ReduceLROnPlateauArgs {
  /** Logged value to watch. Defaults to 'val_loss'. */
  monitor?: string;
  /** new lr = lr * factor; must be < 1. Defaults to 0.1. */
  factor?: number;
  /** Epochs without improvement before reducing. Defaults to 10. */
  patience?: number;
  /** 1 prints each reduction. Defaults to 0. */
  verbose?: number;
  /** 'min', 'max' or 'auto' (from the metric). Defaults to 'auto'. */
  mode?: MonitorMode;
  /** An improvement must beat the best by more than this. Defaults to 1e-4. */
  minDelta?: number;
  /** Epochs after a reduction during which waiting is suspended. Defaults to 0. */
  cooldown?: number;
  /** Lower bound on the learning rate. Defaults to 0. */
  minLr?: number;
}

export const REDUCE_LR_ON_PLATEAU_DEFAULTS = {
  monitor: 'val_loss',
  factor: 0.1,
  patience: 10,
  verbose: 0,
  mode: 'auto',
  minDelta: 1e-4,
  cooldown: 0,
  minLr: 0,
} as const;

/**
 * Multiplies the learning rate by `factor` when `monitor` has not improved for `patience` epochs
 * (Keras 3 `reduce_lr_on_plateau.py`). Each epoch end logs `learning_rate` (the rate in force
 * during that epoch). In cooldown the counter ticks down and `wait` stays 0; an improvement (by
 * more than `minDelta`) resets `wait`; otherwise `wait` grows and at `patience` the rate becomes
 * `max(lr * factor, minLr)` if lr > minLr (compared in float32, as Keras does), then cooldown
 * starts. `onTrainBegin` resets `wait` and the cooldown, not `best` (Keras 3.x `MonitorCallback`).
 * Throws if the optimizer's learning rate is a schedule, when a reduction is due (as Keras).
 */
export class ReduceLROnPlateau extends MonitorCallback {
  readonly factor: number;
  readonly patience: number;
  readonly verbose: number;
  readonly cooldown: number;
  readonly minLr: number;
  wait = 0;
  cooldownCounter = 0;

  constructor(args: ReduceLROnPlateauArgs = {}) {
    const a = { ...REDUCE_LR_ON_PLATEAU_DEFAULTS, ...args };
    super(a.monitor, a.mode, null, a.minDelta);
    if (!(a.factor < 1)) throw new ValueError(`ReduceLROnPlateau does not support a factor >= 1.0, got factor=${a.factor}; use a factor in (0, 1) such as 0.1`);
    if (!(a.factor > 0)) throw new ValueError(`ReduceLROnPlateau: factor must be > 0 (the rate is multiplied by it), got ${a.factor}`);
    if (!Number.isInteger(a.patience) || a.patience < 0) throw new ValueError(`ReduceLROnPlateau: patience must be an integer >= 0, got ${a.patience}`);
    if (!Number.isInteger(a.cooldown) || a.cooldown < 0) throw new ValueError(`ReduceLROnPlateau: cooldown must be an integer >= 0, got ${a.cooldown}`);
    this.factor = a.factor;
    this.patience = a.patience;
    this.verbose = a.verbose;
    this.cooldown = a.cooldown;
    this.minLr = a.minLr;
  }

  override async onTrainBegin(): Promise<void> {
    this.cooldownCounter = 0;
    this.wait = 0;
  }

  inCooldown(): boolean {
    return this.cooldownCounter > 0;
  }

  override async onEpochEnd(epoch: number, logs: Logs = {}): Promise<void> {
    const model = this.requireModel();
    if (this.monitorOp === null) this.setMonitorOp();
    logs.learning_rate = currentLearningRate(model, 'ReduceLROnPlateau');
    const current = logs[this.monitor];
    if (current === undefined || current === null) {
      console.warn(`Learning rate reduction is conditioned on metric \`${this.monitor}\` which is not available. Available metrics are: ${Object.keys(logs).join(',')}.`);
      return;
    }
    if (this.inCooldown()) {
      this.cooldownCounter -= 1;
      this.wait = 0;
    }
    if (this.isImprovement(current, this.best)) {
      this.best = current;
      this.wait = 0;
    } else if (!this.inCooldown()) {
      this.wait += 1;
      if (this.wait >= this.patience) {
        const oldLr = currentLearningRate(model, 'ReduceLROnPlateau');
        if (oldLr > Math.fround(this.minLr)) {
          const newLr = Math.max(oldLr * this.factor, this.minLr);
          setLearningRate(model, newLr, 'ReduceLROnPlateau');
          if (this.verbose > 0) printMsg(`\nEpoch ${epoch + 1}: ReduceLROnPlateau reducing learning rate to ${newLr}.`);
          this.cooldownCounter = this.cooldown;
          this.wait = 0;
        }
      }
    }
  }
}

/**
 * Sets the learning rate at each epoch begin to `schedule(epoch, lr)` (Keras
 * `LearningRateScheduler`; epoch from 0, lr the current rate), and logs `learning_rate` at each
 * epoch end. The schedule must return a finite number; it may be async.
 */
export class LearningRateScheduler extends Callback {
  constructor(
    readonly schedule: (epoch: number, lr: number) => number | Promise<number>,
    readonly verbose = 0,
  ) {
    super();
    if (typeof schedule !== 'function') throw new ValueError(`LearningRateScheduler expects a function (epoch, lr) => lr, got ${typeof schedule}`);
  }

  override async onEpochBegin(epoch: number): Promise<void> {
    const model = this.requireModel();
    const lr = await this.schedule(epoch, currentLearningRate(model, 'LearningRateScheduler'));
    if (typeof lr !== 'number' || !Number.isFinite(lr)) {
      throw new ValueError(`The output of the schedule function should be a finite number, got ${String(lr)} at epoch ${epoch}`);
    }
    setLearningRate(model, lr, 'LearningRateScheduler');
    if (this.verbose > 0) printMsg(`\nEpoch ${epoch + 1}: LearningRateScheduler setting learning rate to ${lr}.`);
  }

  override async onEpochEnd(_epoch: number, logs: Logs = {}): Promise<void> {
    logs.learning_rate = currentLearningRate(this.requireModel(), 'LearningRateScheduler');
  }
}

// ---------------------------------------------------------------------------------------------
// ModelCheckpoint

export interface ModelCheckpointArgs {
  /**
   * Name handed to `save`, formatted with `epoch` (from 1), `batch` and the logs, Python style:
   * `'ckpt-{epoch:02d}-{val_loss:.2f}'`. Defaults to ''.
   */
  filepath?: string;
  /** Logged value to watch. Defaults to 'val_loss'. */
  monitor?: string;
  /** 1 prints each save decision. Defaults to 0. */
  verbose?: number;
  /** Save only when `monitor` improves. Defaults to false. */
  saveBestOnly?: boolean;
  /** With a `file://` filepath: save without the training config and optimizer state. Defaults to false. */
  saveWeightsOnly?: boolean;
  /** 'min', 'max' or 'auto' (from the metric). Defaults to 'auto'. */
  mode?: MonitorMode;
  /** 'epoch', or save every this many training batches. Defaults to 'epoch'. */
  saveFreq?: 'epoch' | number;
  /** Initial best value for `saveBestOnly`. Defaults to none. */
  initialValueThreshold?: number | null;
  /**
   * Called with copies of the weights at each save; awaited. Defaults to: `model.save(filepath)`
   * when `filepath` starts with `file://`, else keeping them in memory only.
   */
  save?: (epoch: number, weights: Tensor[], logs: Logs, filepath: string) => Promise<void> | void;
}

/**
 * Saves the weights every epoch or every `saveFreq` batches, or only on improvement with
 * `saveBestOnly` (Keras 3 `model_checkpoint.py` decision logic, including: a missing monitored
 * value warns and saves anyway).
 *
 * A save keeps a copy in `bestWeights` (`bestEpoch`, `lastSavedPath`) and hands it to the optional
 * `save` function, which can write it anywhere (file, IndexedDB, ...). Without one, a `file://`
 * filepath is written with `model.save(filepath, {includeOptimizer: !saveWeightsOnly})` (a
 * directory with model.json and weight shards, see io/artifacts.ts).
 *
 * Porting note: the Keras checks on the filepath's extension (`.keras`, `.weights.h5`) do not apply.
 */
export class ModelCheckpoint extends MonitorCallback {
  readonly filepath: string;
  readonly verbose: number;
  readonly saveBestOnly: boolean;
  readonly saveWeightsOnly: boolean;
  readonly saveFreq: 'epoch' | number;
  readonly save: ModelCheckpointArgs['save'];
  /** The weights of the last save: the best ones with `saveBestOnly`. */
  bestWeights: Tensor[] | null = null;
  /** Epoch (from 0) of `bestWeights`. */
  bestEpoch: number | null = null;
  lastSavedPath: string | null = null;
  private batchesSinceLastSave = 0;
  private lastBatchSeen = 0;
  private currentEpoch = 0;

  constructor(args: ModelCheckpointArgs = {}) {
    super(args.monitor ?? 'val_loss', args.mode ?? 'auto', args.initialValueThreshold, 0);
    this.filepath = args.filepath ?? '';
    this.verbose = args.verbose ?? 0;
    this.saveBestOnly = args.saveBestOnly ?? false;
    this.saveWeightsOnly = args.saveWeightsOnly ?? false;
    this.saveFreq = args.saveFreq ?? 'epoch';
    this.save = args.save;
    if (this.saveFreq !== 'epoch' && !(Number.isInteger(this.saveFreq) && this.saveFreq > 0)) {
      throw new ValueError(`ModelCheckpoint: unrecognized saveFreq ${String(this.saveFreq)}; expected 'epoch' or a positive integer number of batches`);
    }
    if (this.save !== undefined && typeof this.save !== 'function') throw new ValueError(`ModelCheckpoint: save must be a function, got ${typeof this.save}`);
  }

  override async onEpochBegin(epoch: number): Promise<void> {
    this.currentEpoch = epoch;
  }

  override async onBatchEnd(batch: number, logs: Logs = {}): Promise<void> {
    if (this.shouldSaveOnBatch(batch)) await this.saveModel(this.currentEpoch, batch, logs);
  }

  override async onEpochEnd(epoch: number, logs: Logs = {}): Promise<void> {
    if (this.monitorOp === null) this.setMonitorOp();
    if (this.saveFreq === 'epoch') await this.saveModel(epoch, null, logs);
  }

  private shouldSaveOnBatch(batch: number): boolean {
    if (this.saveFreq === 'epoch') return false;
    // A batch index that did not grow means a new epoch started (batches count from 0).
    const add = batch <= this.lastBatchSeen ? batch + 1 : batch - this.lastBatchSeen;
    this.batchesSinceLastSave += add;
    this.lastBatchSeen = batch;
    if (this.batchesSinceLastSave >= this.saveFreq) {
      this.batchesSinceLastSave = 0;
      return true;
    }
    return false;
  }

  private shouldSaveModel(epoch: number, logs: Logs, filepath: string): boolean {
    if (!this.saveBestOnly) {
      if (this.verbose > 0) printMsg(`\nEpoch ${epoch + 1}: saving model to ${filepath}`);
      return true;
    }
    if (this.monitorOp === null) this.setMonitorOp();
    const current = logs[this.monitor];
    if (current === undefined || current === null) {
      console.warn(`Can save best model only with ${this.monitor} available. Available metrics are: ${Object.keys(logs).join(',')}`);
      return true;
    }
    const bestStr = this.best === null ? 'None' : pyFixed(this.best, 5);
    if (this.isImprovement(current, this.best)) {
      if (this.verbose > 0) printMsg(`\nEpoch ${epoch + 1}: ${this.monitor} improved from ${bestStr} to ${pyFixed(current, 5)}, saving model to ${filepath}`);
      this.best = current;
      return true;
    }
    if (this.verbose > 0) printMsg(`\nEpoch ${epoch + 1}: ${this.monitor} did not improve from ${bestStr}`);
    return false;
  }

  private async saveModel(epoch: number, batch: number | null, logs: Logs): Promise<void> {
    const filepath = this.getFilePath(epoch, batch, logs);
    if (!this.shouldSaveModel(epoch, logs, filepath)) return;
    const weights = cloneWeights(this.requireModel().getWeights());
    this.bestWeights = weights;
    this.bestEpoch = epoch;
    this.lastSavedPath = filepath;
    if (this.save) {
      await this.save(epoch, cloneWeights(weights), { ...logs }, filepath);
    } else if (filepath.startsWith('file://')) {
      const model = this.requireModel();
      if (typeof model.save !== 'function') throw new ValueError(`ModelCheckpoint: '${filepath}' needs a model with save(); pass a save function instead`);
      await model.save(filepath, { includeOptimizer: !this.saveWeightsOnly });
    }
  }

  private getFilePath(epoch: number, batch: number | null, logs: Logs): string {
    const values: Record<string, number> = { ...logs, epoch: epoch + 1 };
    if (batch !== null && !('batch' in logs)) values.batch = batch + 1;
    return formatPath(this.filepath, values);
  }
}

/** Fills `{name}`, `{name:02d}`, `{name:.3f}`, `{name:.2e}` (the Python format subset Keras paths use). */
export function formatPath(pattern: string, values: Record<string, number>): string {
  return pattern.replace(/\{([^{}:]+)(?::([^{}]*))?\}/g, (_m, key: string, spec: string | undefined) => {
    const v = values[key];
    if (v === undefined) {
      throw new ValueError(`failed to format the checkpoint filepath '${pattern}': no value for '${key}'; available: ${Object.keys(values).join(', ')}`);
    }
    if (!spec) return key === 'epoch' || key === 'batch' ? String(v) : pyRepr(v); // ints stay ints, logs are Python floats
    const m = /^(0?)(\d*)(?:\.(\d+))?([dfe])$/.exec(spec);
    if (!m) throw new ValueError(`checkpoint filepath '${pattern}': unsupported format spec ':${spec}' (supported: d, .Nf, .Ne with an optional zero-padded width)`);
    const [, zero, width, prec, kind] = m;
    let s: string;
    if (kind === 'd') s = String(Math.trunc(v));
    else if (kind === 'f') s = pyFixed(v, prec === undefined ? 6 : Number(prec));
    else s = pyExp(v, prec === undefined ? 6 : Number(prec));
    const w = width ? Number(width) : 0;
    if (s.length < w) {
      if (zero && /^-?\d/.test(s)) {
        const neg = s.startsWith('-');
        s = (neg ? '-' : '') + (neg ? s.slice(1) : s).padStart(w - (neg ? 1 : 0), '0');
      } else s = s.padStart(w, ' ');
    }
    return s;
  });
}

// ---------------------------------------------------------------------------------------------
// TerminateOnNaN

/**
 * Stops training when a batch's `loss` is NaN or ±Infinity (Keras `TerminateOnNaN`): prints
 * `Batch N: Invalid loss, terminating training` and sets `model.stopTraining`; with
 * `raiseError: true` it throws a `NonFiniteError` instead (then `onTrainEnd` is not reached).
 */
export class TerminateOnNaN extends Callback {
  readonly raiseError: boolean;

  constructor(args: { raiseError?: boolean } = {}) {
    super();
    this.raiseError = args.raiseError ?? false;
  }

  override async onBatchEnd(batch: number, logs: Logs = {}): Promise<void> {
    const loss = logs.loss;
    if (loss === undefined || loss === null || Number.isFinite(loss)) return;
    if (this.raiseError) throw new NonFiniteError(`NaN or Inf loss encountered at batch ${batch}. Loss value: ${loss}. Terminating training immediately.`);
    printMsg(`Batch ${batch}: Invalid loss, terminating training`);
    this.requireModel().stopTraining = true;
  }
}

// ---------------------------------------------------------------------------------------------
// CSVLogger

interface NodeFs {
  existsSync(p: string): boolean;
  readFileSync(p: string, enc: 'utf8'): string;
  openSync(p: string, flags: string): number;
  writeSync(fd: number, s: string): number;
  closeSync(fd: number): void;
}

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}

/** Node's fs, loaded at run time so that browser bundles never see an import of it. */
async function loadFs(): Promise<NodeFs> {
  const p = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const builtin = p?.getBuiltinModule?.('node:fs') as NodeFs | undefined;
  if (builtin) return builtin;
  // A computed specifier keeps bundlers from resolving (and polyfilling) node:fs.
  const spec = ['node', 'fs'].join(':');
  return (await import(/* @vite-ignore */ spec)) as NodeFs;
}

export interface CSVLoggerArgs {
  /** Between fields. Defaults to ','. */
  separator?: string;
  /** Append to an existing file (its header is kept) instead of overwriting. Defaults to false. */
  append?: boolean;
}

/**
 * Streams one CSV row per epoch to a file (Keras `CSVLogger`), Node only: the header is `epoch`
 * then the sorted log keys of the first epoch (plus `val_` names from `model.metricsNames` not yet
 * seen); missing values are written `NA`; numbers as Python's `str(float)` writes them (`0.5`,
 * `1e-05`, `nan`). Rows end in `\r\n`, as Python's csv module writes them.
 */
export class CSVLogger extends Callback {
  readonly filename: string;
  readonly separator: string;
  readonly append: boolean;
  keys: string[] | null = null;
  private fs: NodeFs | null = null;
  private fd: number | null = null;
  private appendHeader = true;
  private headerWritten = false;

  constructor(filename: string, args: CSVLoggerArgs = {}) {
    super();
    if (!isNode()) {
      throw new ValueError(`CSVLogger writes a file and needs Node.js; in a browser, collect the logs with History or an onEpochEnd callback instead`);
    }
    if (typeof filename !== 'string' || filename.length === 0) throw new ValueError(`CSVLogger needs a filename, got ${JSON.stringify(filename)}`);
    this.filename = filename;
    this.separator = args.separator ?? ',';
    this.append = args.append ?? false;
  }

  override async onTrainBegin(): Promise<void> {
    this.fs ??= await loadFs();
    const fs = this.fs;
    this.appendHeader = true;
    if (this.append && fs.existsSync(this.filename)) {
      const firstLine = fs.readFileSync(this.filename, 'utf8').split('\n', 1)[0];
      this.appendHeader = firstLine.length === 0;
    }
    this.closeFile();
    this.fd = fs.openSync(this.filename, this.append ? 'a' : 'w');
    this.keys = null;
    this.headerWritten = false;
  }

  override async onEpochEnd(epoch: number, logs: Logs = {}): Promise<void> {
    if (this.fd === null || this.fs === null) throw new ValueError(`CSVLogger: onEpochEnd before onTrainBegin; pass the logger to fit()`);
    if (this.keys === null) {
      this.keys = Object.keys(logs).sort();
      for (const name of this.model?.metricsNames ?? []) {
        if (name.startsWith('val_') && !this.keys.includes(name)) this.keys.push(name);
      }
    }
    let out = '';
    if (!this.headerWritten) {
      if (this.appendHeader) out += this.row(['epoch', ...this.keys]);
      this.headerWritten = true;
    }
    out += this.row([String(epoch), ...this.keys.map((k) => (k in logs ? pyRepr(logs[k]) : 'NA'))]);
    this.fs.writeSync(this.fd, out);
  }

  override async onTrainEnd(): Promise<void> {
    this.closeFile();
  }

  private row(fields: string[]): string {
    // Python csv (excel dialect, minimal quoting): quote fields holding the separator, a quote or a newline.
    const quote = (f: string) => (f.includes(this.separator) || /["\r\n]/.test(f) ? `"${f.replace(/"/g, '""')}"` : f);
    return fields.map(quote).join(this.separator) + '\r\n';
  }

  private closeFile(): void {
    if (this.fd !== null && this.fs !== null) this.fs.closeSync(this.fd);
    this.fd = null;
  }
}

// ---------------------------------------------------------------------------------------------
// Progress bar

export interface ProgbarArgs {
  /** Total steps, or null if unknown. */
  target: number | null;
  /** Bar width in characters. Defaults to 30. */
  width?: number;
  /** 1 bar, 2 one line when done, 0 silent. Defaults to 1. */
  verbose?: number;
  /** Minimum seconds between redraws of the bar. Defaults to 0.05. */
  interval?: number;
  /** Name of a step in the time per step. Defaults to 'step'. */
  unitName?: string;
  /** Where text goes. Defaults to process.stdout.write in Node, console.log lines in a browser. */
  write?: (text: string) => void;
  /** Redraw one line with `\r` (a terminal) or print finished lines only. Defaults to process.stdout.isTTY. */
  isTTY?: boolean;
  /** Clock in seconds. Defaults to performance.now() / 1000. */
  now?: () => number;
}

function defaultWrite(): (text: string) => void {
  const out = (globalThis as { process?: { stdout?: { write?: (s: string) => unknown } } }).process?.stdout;
  if (out && typeof out.write === 'function') return (s) => void out.write!(s);
  // No stdout (a browser): console.log adds its own newline, and only whole lines reach here.
  return (s) => console.log(s.replace(/\n$/, ''));
}

function defaultIsTTY(): boolean {
  const out = (globalThis as { process?: { stdout?: { isTTY?: boolean } } }).process?.stdout;
  return out?.isTTY === true;
}

/**
 * A Keras-style progress bar:
 *
 *   verbose 1, running:  `12/40 [=======>......................] - ETA: 3s - loss: 0.4213 - accuracy: 0.8100`
 *   verbose 1, done:     `40/40 [==============================] - 2s 50ms/step - loss: 0.4213 - accuracy: 0.8100`
 *   verbose 2, done:     `40/40 - 2s - 50ms/step - loss: 0.4213 - accuracy: 0.8100`
 *
 * On a terminal the verbose-1 line is redrawn in place with `\r` (at most every `interval`
 * seconds); elsewhere (pipes, CI logs, browsers) only the finished line is printed. Values print
 * with 4 decimals, or as `1.2340e-05` when |value| <= 1e-3, as Keras does.
 *
 * Porting note: the bar is Keras 2's `[====>...]` (ASCII, no colour codes) rather than Keras 3's
 * coloured `━` bar; and the values shown are the logs as given (the trainer's running means),
 * where Keras 3 averages batch logs once more.
 */
export class Progbar {
  target: number | null;
  readonly width: number;
  readonly verbose: number;
  readonly interval: number;
  readonly unitName: string;
  private readonly write: (text: string) => void;
  private readonly isTTY: boolean;
  private readonly now: () => number;
  private readonly start: number;
  private lastUpdate = -Infinity;
  private timeAfterFirstStep: number | null = null;
  private prevWidth = 0;
  private values = new Map<string, number>();

  constructor(args: ProgbarArgs) {
    this.target = args.target;
    this.width = args.width ?? 30;
    this.verbose = args.verbose ?? 1;
    this.interval = args.interval ?? 0.05;
    this.unitName = args.unitName ?? 'step';
    this.write = args.write ?? defaultWrite();
    this.isTTY = args.isTTY ?? defaultIsTTY();
    this.now = args.now ?? (() => performance.now() / 1000);
    this.start = this.now();
  }

  /** Step `current` (from 1) is done; `values` are shown as given. */
  update(current: number, values: Logs | null = null, finalize?: boolean): void {
    const done = finalize ?? (this.target !== null && current >= this.target);
    for (const [k, v] of Object.entries(values ?? {})) if (typeof v === 'number') this.values.set(k, v);
    const now = this.now();
    const perStep = this.stepDuration(current, now);
    if (this.verbose === 1) {
      if (!done && (!this.isTTY || now - this.lastUpdate < this.interval)) return;
      const hasTarget = this.target !== null && this.target > 0;
      let bar: string;
      if (hasTarget) {
        const target = this.target as number;
        const digits = Math.floor(Math.log10(target)) + 1;
        bar = `${String(current).padStart(digits)}/${target} [`;
        const progWidth = Math.floor((this.width * current) / target);
        if (progWidth > 0) bar += '='.repeat(Math.min(progWidth, this.width) - 1) + (current < target ? '>' : '=');
        bar += '.'.repeat(Math.max(0, this.width - progWidth)) + ']';
      } else {
        bar = `${String(current).padStart(7)}/Unknown`;
      }
      let info: string;
      if (hasTarget && !done) {
        info = ` - ETA: ${formatEta(perStep * ((this.target as number) - current))}`;
      } else {
        info = ` - ${pyFixed(now - this.start, 0)}s${formatStepTime(perStep, this.unitName)}`;
      }
      info += this.formatValues(true);
      const line = bar + info;
      let message = line;
      if (this.isTTY) {
        message = '\r' + line + ' '.repeat(Math.max(0, this.prevWidth - line.length));
        this.prevWidth = line.length;
      }
      if (done) message += '\n';
      this.write(message);
    } else if (this.verbose === 2 && done && this.target !== null && this.target > 0) {
      const digits = Math.floor(Math.log10(this.target)) + 1;
      let info = `${String(current).padStart(digits)}/${this.target} - ${pyFixed(now - this.start, 0)}s -${formatStepTime(perStep, this.unitName)}`;
      info += this.formatValues(false);
      this.write(info + '\n');
    }
    this.lastUpdate = now;
  }

  private formatValues(useAbs: boolean): string {
    let s = '';
    for (const [k, v] of this.values) {
      // Keras' verbose-2 line compares the signed value (a quirk kept for identical output).
      const big = useAbs ? Math.abs(v) > 1e-3 : v > 1e-3;
      s += ` - ${k}: ${big ? pyFixed(v, 4) : pyExp(v, 4)}`;
    }
    return s;
  }

  /** Seconds per step, leaving out the first step (compilation, warm-up) once there are more (Keras). */
  private stepDuration(current: number, now: number): number {
    if (!current) return 0;
    const t = this.timeAfterFirstStep !== null && current > 1 ? (now - this.timeAfterFirstStep) / (current - 1) : (now - this.start) / current;
    if (current === 1) this.timeAfterFirstStep = now;
    return t;
  }
}

function formatEta(eta: number): string {
  const two = (n: number) => String(Math.floor(n)).padStart(2, '0');
  if (eta > 3600) return `${Math.floor(eta / 3600)}:${two((eta % 3600) / 60)}:${two(eta % 60)}`;
  if (eta > 60) return `${Math.floor(eta / 60)}:${two(eta % 60)}`;
  return `${Math.floor(eta)}s`;
}

function formatStepTime(perStep: number, unit: string): string {
  if (perStep >= 1 || perStep === 0) return ` ${pyFixed(perStep, 0)}s/${unit}`;
  if (perStep >= 1e-3) return ` ${pyFixed(perStep * 1e3, 0)}ms/${unit}`;
  return ` ${pyFixed(perStep * 1e6, 0)}us/${unit}`;
}

export interface ProgbarLoggerArgs {
  /** See `ProgbarArgs.write`. */
  write?: (text: string) => void;
  /** See `ProgbarArgs.isTTY`. */
  isTTY?: boolean;
  /** See `ProgbarArgs.now`. */
  now?: () => number;
  /** Bar width. Defaults to 30. */
  width?: number;
}

/**
 * Prints training progress (Keras `ProgbarLogger`): `Epoch 3/20` (when there is more than one
 * epoch), then a bar per epoch for `verbose: 1`, or one line per epoch for `verbose: 2`.
 * `fit` adds one when `verbose !== 0`. Validation inside `fit` is silent; `evaluate` and
 * `predict` get their own bar.
 */
export class ProgbarLogger extends Callback {
  seen = 0;
  progbar: Progbar | null = null;
  target: number | null = null;
  verbose = 1;
  epochs = 1;
  private calledInFit = false;

  constructor(readonly args: ProgbarLoggerArgs = {}) {
    super();
  }

  override setParams(params: CallbackParams): void {
    super.setParams(params);
    this.verbose = params.verbose === 'auto' ? 1 : params.verbose;
    this.epochs = params.epochs;
    this.target = params.steps ?? null;
  }

  override async onTrainBegin(): Promise<void> {
    this.calledInFit = true;
  }

  override async onTestBegin(): Promise<void> {
    if (!this.calledInFit) this.resetProgbar();
  }

  override async onPredictBegin(): Promise<void> {
    this.resetProgbar();
  }

  override async onEpochBegin(epoch: number): Promise<void> {
    this.resetProgbar();
    if (this.verbose && this.epochs > 1) this.writeLine(`Epoch ${epoch + 1}/${this.epochs}`);
  }

  override async onBatchEnd(batch: number, logs?: Logs): Promise<void> {
    this.updateProgbar(batch, logs);
  }

  override async onTestBatchEnd(batch: number, logs?: Logs): Promise<void> {
    if (!this.calledInFit) this.updateProgbar(batch, logs);
  }

  override async onPredictBatchEnd(batch: number): Promise<void> {
    this.updateProgbar(batch, undefined);
  }

  override async onEpochEnd(_epoch: number, logs?: Logs): Promise<void> {
    this.finalizeProgbar(logs);
  }

  override async onTestEnd(logs?: Logs): Promise<void> {
    if (!this.calledInFit) this.finalizeProgbar(logs);
  }

  override async onPredictEnd(): Promise<void> {
    this.finalizeProgbar(undefined);
  }

  private writeLine(s: string): void {
    (this.args.write ?? defaultWrite())(s + '\n');
  }

  private resetProgbar(): void {
    this.seen = 0;
    this.progbar = null;
  }

  private getProgbar(): Progbar {
    this.progbar ??= new Progbar({
      target: this.target,
      verbose: this.verbose,
      unitName: 'step',
      write: this.args.write,
      isTTY: this.args.isTTY,
      now: this.args.now,
      width: this.args.width,
    });
    return this.progbar;
  }

  private updateProgbar(batch: number, logs?: Logs): void {
    const bar = this.getProgbar();
    this.seen = batch + 1;
    if (this.verbose === 1) bar.update(this.seen, logs ?? null, false);
  }

  private finalizeProgbar(logs?: Logs): void {
    const bar = this.getProgbar();
    if (this.target === null) {
      this.target = this.seen;
      bar.target = this.seen;
    }
    bar.update(this.target, logs ?? null, true);
  }
}

// ---------------------------------------------------------------------------------------------
// Python number formatting (so logs, CSV files and bars read exactly as Keras writes them)

function nonFinite(x: number): string | null {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  return null;
}

/** Python `f"{x:.{digits}f}"`: exact ties round to even (`2.5` -> `2`), where toFixed rounds up. */
export function pyFixed(x: number, digits: number): string {
  const nf = nonFinite(x);
  if (nf !== null) return nf;
  if (Math.abs(x) >= 1e21) return BigInt(Math.round(x)).toString() + (digits > 0 ? '.' + '0'.repeat(digits) : '');
  const p = 10 ** digits;
  const scaled = x * p;
  if (Math.abs(scaled % 1) === 0.5 && scaled / p === x) {
    const lo = Math.floor(scaled);
    const even = lo % 2 === 0 ? lo : lo + 1;
    return (even / p).toFixed(digits);
  }
  return x.toFixed(digits);
}

/** Python `f"{x:.{digits}e}"`: at least two exponent digits (`1.2340e-05`). */
export function pyExp(x: number, digits: number): string {
  const nf = nonFinite(x);
  if (nf !== null) return nf;
  const [mant, exp] = x.toExponential(digits).split('e');
  const sign = exp.startsWith('-') ? '-' : '+';
  return `${mant}e${sign}${exp.replace(/^[+-]/, '').padStart(2, '0')}`;
}

/** Python `repr(float(x))` / `str(float(x))`: shortest round-trip digits, `1e-05`, `3.0`, `nan`. */
export function pyRepr(x: number): string {
  const nf = nonFinite(x);
  if (nf !== null) return nf;
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mant, expStr] = x.toExponential().split('e');
  const exp = Number(expStr);
  const neg = mant.startsWith('-');
  const digits = mant.replace('-', '').replace('.', '');
  let body: string;
  if (exp >= -5 + 1 && exp < 16) {
    // Fixed notation (Python uses it for 1e-4 <= |x| < 1e16).
    if (exp >= 0) {
      const intPart = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
      const frac = digits.slice(exp + 1);
      body = `${intPart}.${frac || '0'}`;
    } else {
      body = `0.${'0'.repeat(-exp - 1)}${digits}`;
    }
  } else {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    body = `${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  return (neg ? '-' : '') + body;
}

// ---- tfjs-style factories (`callbacks.earlyStopping({...})`) --------------------------------

/** `new EarlyStopping(args)`. */
export const earlyStopping = (args?: EarlyStoppingArgs): EarlyStopping => new EarlyStopping(args);
/** `new ReduceLROnPlateau(args)`. */
export const reduceLROnPlateau = (args?: ReduceLROnPlateauArgs): ReduceLROnPlateau => new ReduceLROnPlateau(args);
/** `new LearningRateScheduler(schedule, verbose)`. */
export const learningRateScheduler = (...args: ConstructorParameters<typeof LearningRateScheduler>): LearningRateScheduler => new LearningRateScheduler(...args);
/** `new ModelCheckpoint(args)`. */
export const modelCheckpoint = (args?: ModelCheckpointArgs): ModelCheckpoint => new ModelCheckpoint(args);
/** `new TerminateOnNaN()`. */
export const terminateOnNaN = (args?: { raiseError?: boolean }): TerminateOnNaN => new TerminateOnNaN(args);
/** `new CSVLogger(filename, args)` (Node only). */
export const csvLogger = (filename: string, args?: CSVLoggerArgs): CSVLogger => new CSVLogger(filename, args);
