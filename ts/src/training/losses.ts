/**
 * Losses fused with their gradients (Keras 3 definitions, `sum_over_batch_size` reduction):
 * one wasm pass returns the mean loss and dL/dyPred, the seed of backward.
 *
 * A row is one prediction vector (the last axis): yPred (B, C) has B rows, a sequence output
 * (B, T, C) has B·T rows. With per-row weights w (sample weights × class weights × mask):
 *
 *     loss = Σ_r w_r · L_r / N        (N = all rows, whatever their weight)
 *
 * which is Keras 3's `reduce_weighted_values` (keras/src/losses/loss.py): sample weights are NOT
 * normalised by their sum, but a mask is first rescaled by N / Σmask (`apply_mask`), so a masked
 * loss is the mean over the valid rows. `rowWeights` builds w that way.
 */
import { getBackend } from '../engine.js';
import { Tensor, fmtShape } from '../tensor.js';
import { LossKind } from '../wasm/abi.js';
import { DisposedError, NonFiniteError, ValueError } from '../wasm/errors.js';
import { Backend, ReusableBuffer } from '../wasm/memory.js';

export type LossName =
  | 'meanSquaredError'
  | 'meanAbsoluteError'
  | 'binaryCrossentropy'
  | 'categoricalCrossentropy'
  | 'sparseCategoricalCrossentropy'
  | 'huber'
  | 'logCosh';

/** Accepted names: tfjs camelCase, Keras 3 snake_case functions and class names, Keras' short aliases. */
const ALIASES: Record<string, LossName> = {
  mse: 'meanSquaredError',
  MSE: 'meanSquaredError',
  mean_squared_error: 'meanSquaredError',
  meanSquaredError: 'meanSquaredError',
  MeanSquaredError: 'meanSquaredError',
  mae: 'meanAbsoluteError',
  MAE: 'meanAbsoluteError',
  mean_absolute_error: 'meanAbsoluteError',
  meanAbsoluteError: 'meanAbsoluteError',
  MeanAbsoluteError: 'meanAbsoluteError',
  bce: 'binaryCrossentropy',
  BCE: 'binaryCrossentropy',
  binary_crossentropy: 'binaryCrossentropy',
  binaryCrossentropy: 'binaryCrossentropy',
  BinaryCrossentropy: 'binaryCrossentropy',
  categorical_crossentropy: 'categoricalCrossentropy',
  categoricalCrossentropy: 'categoricalCrossentropy',
  CategoricalCrossentropy: 'categoricalCrossentropy',
  sparse_categorical_crossentropy: 'sparseCategoricalCrossentropy',
  sparseCategoricalCrossentropy: 'sparseCategoricalCrossentropy',
  SparseCategoricalCrossentropy: 'sparseCategoricalCrossentropy',
  huber: 'huber',
  Huber: 'huber',
  huber_loss: 'huber', // Keras' `Huber` instance name
  huberLoss: 'huber', // tf.losses.huberLoss
  logCosh: 'logCosh',
  log_cosh: 'logCosh',
  LogCosh: 'logCosh',
  logcosh: 'logCosh', // tfjs-layers and Keras' legacy alias
};

/** Keras 3 class names, for `{className, config}` and `getConfig`. */
const CLASS_NAMES: Record<LossName, string> = {
  meanSquaredError: 'MeanSquaredError',
  meanAbsoluteError: 'MeanAbsoluteError',
  binaryCrossentropy: 'BinaryCrossentropy',
  categoricalCrossentropy: 'CategoricalCrossentropy',
  sparseCategoricalCrossentropy: 'SparseCategoricalCrossentropy',
  huber: 'Huber',
  logCosh: 'LogCosh',
};

/** Keras 3 default instance names (`Loss.name`). */
const KERAS_NAMES: Record<LossName, string> = {
  meanSquaredError: 'mean_squared_error',
  meanAbsoluteError: 'mean_absolute_error',
  binaryCrossentropy: 'binary_crossentropy',
  categoricalCrossentropy: 'categorical_crossentropy',
  sparseCategoricalCrossentropy: 'sparse_categorical_crossentropy',
  huber: 'huber_loss',
  logCosh: 'log_cosh',
};

/** Keras 3 defaults of the hyper-parameters. */
export const LOSS_DEFAULTS = { fromLogits: false, labelSmoothing: 0, delta: 1.0 } as const;

/** The options a loss is built with (its config). */
export interface LossArgs {
  /** yPred holds logits (raw scores), not probabilities: the stable fused path. Cross-entropies only. Defaults to false. */
  fromLogits?: boolean;
  /**
   * In [0, 1]; binaryCrossentropy and categoricalCrossentropy only (Keras 3 has none for the
   * sparse one). Keras 3 semantics, both forms: BCE targets become t·(1 − s) + s/2, CCE targets
   * t·(1 − s) + s/C. Defaults to 0.
   */
  labelSmoothing?: number;
  /** Huber only: where the loss turns from quadratic to linear, > 0. Defaults to 1.0. */
  delta?: number;
}

/** Per-call weighting, folded into one per-row weight by `rowWeights`. */
export interface LossWeighting {
  /**
   * Per sample (batch,), broadcast over the other leading axes, or per row (the leading shape of
   * yPred, e.g. (batch, time) for a (batch, time, C) output). Not normalised by its sum (Keras).
   * Porting note: Keras 3's loss.py multiplies (batch, time) losses by a (batch,) weight with
   * trailing-axis broadcasting; we read a (batch,) weight as per sample, as tf.keras 2 did.
   */
  sampleWeight?: Tensor | ArrayLike<number> | null;
  /**
   * The leading shape of yPred, e.g. (batch, time) for (batch, time, C): 1 = valid, 0 = padding
   * (booleans allowed). Keras 3 `apply_mask`: rescaled by N / Σmask, so the loss is the mean over
   * the valid rows; an all-zero mask gives loss 0.
   */
  mask?: Tensor | ArrayLike<number | boolean> | null;
}

export interface LossOptions extends LossArgs, LossWeighting {}

/** `{className, config}` as Keras serialises a loss. */
export interface LossConfig {
  className: string;
  config: Record<string, unknown>;
}

export type LossIdentifier = string | LossConfig | LossFunction;

function canonicalName(name: string): LossName {
  const canonical = Object.prototype.hasOwnProperty.call(ALIASES, name) ? ALIASES[name] : undefined;
  if (!canonical) throw new ValueError(`unknown loss '${name}'; expected one of ${Object.keys(ALIASES).join(', ')}`);
  return canonical;
}

function isCrossentropy(n: LossName): boolean {
  return n === 'binaryCrossentropy' || n === 'categoricalCrossentropy' || n === 'sparseCategoricalCrossentropy';
}

/** The kernel's loss id for a name and its options (checks that the options apply). */
export function lossKind(name: string, options: LossArgs = {}): LossKind {
  const canonical = canonicalName(name);
  const logits = options.fromLogits ?? LOSS_DEFAULTS.fromLogits;
  if (logits && !isCrossentropy(canonical)) throw new ValueError(`loss '${name}': fromLogits applies to the cross-entropies only; remove it`);
  switch (canonical) {
    case 'meanSquaredError':
      return LossKind.MeanSquaredError;
    case 'meanAbsoluteError':
      return LossKind.MeanAbsoluteError;
    case 'binaryCrossentropy':
      return logits ? LossKind.BinaryCrossentropyLogits : LossKind.BinaryCrossentropy;
    case 'categoricalCrossentropy':
      return logits ? LossKind.CategoricalCrossentropyLogits : LossKind.CategoricalCrossentropy;
    case 'sparseCategoricalCrossentropy':
      return logits ? LossKind.SparseCategoricalCrossentropyLogits : LossKind.SparseCategoricalCrossentropy;
    case 'huber':
      return LossKind.Huber;
    default:
      return LossKind.LogCosh;
  }
}

function shapeOf(x: Tensor | ArrayLike<unknown>): readonly number[] {
  return x instanceof Tensor ? x.shape : [x.length];
}

function valuesOf(x: Tensor | ArrayLike<number | boolean>): ArrayLike<number | boolean> {
  return x instanceof Tensor ? x.data : x;
}

/**
 * Per-row weights (N) for yPred of `predShape` from a sample weight and a mask, folded the way
 * Keras 3's `reduce_weighted_values` does (`apply_mask`: mask · N / Σmask, 0 if Σmask = 0; then
 * times the sample weight). Null when neither is given (all ones). Computed in float64.
 */
export function rowWeights(predShape: readonly number[], weighting: LossWeighting, what = 'loss'): Float32Array | null {
  const { sampleWeight, mask } = weighting;
  if (sampleWeight == null && mask == null) return null;
  const lead = predShape.slice(0, -1);
  const n = lead.reduce((a, b) => a * b, 1);
  const batch = lead.length > 0 ? lead[0] : 1;
  const w = new Float64Array(n).fill(1);
  if (sampleWeight != null) {
    const shape = shapeOf(sampleWeight);
    const size = shape.reduce((a, b) => a * b, 1);
    const v = valuesOf(sampleWeight);
    // Per row: the leading shape (or any shape of that size when given as a plain array);
    // per sample: (batch) or (batch, 1).
    const perRow = sampleWeight instanceof Tensor ? sameShape(shape, lead) || (lead.length <= 1 && size === n) : size === n;
    const perSample = !perRow && size === batch && (shape.length === 1 || (shape.length === 2 && shape[1] === 1));
    if (!perRow && !perSample) {
      throw new ValueError(
        `${what}: sampleWeight must have shape ${fmtShape([batch])} (one weight per sample) or ${fmtShape(lead)} (one per row) for yPred ${fmtShape(predShape)}, got ${fmtShape(shape)}`,
      );
    }
    const per = n / batch;
    for (let r = 0; r < n; r++) {
      const k = perRow ? r : Math.floor(r / per);
      const x = Number(v[k]);
      if (!Number.isFinite(x)) throw new NonFiniteError(`${what}: sampleWeight has a non-finite value (${x}) at index ${k}; every weight must be a finite number`);
      w[r] = x;
    }
  }
  if (mask != null) {
    const shape = shapeOf(mask);
    const size = shape.reduce((a, b) => a * b, 1);
    const ok = mask instanceof Tensor ? sameShape(shape, lead) || (lead.length <= 1 && size === n) : size === n;
    if (!ok) throw new ValueError(`${what}: mask must have shape ${fmtShape(lead)} (one value per row) for yPred ${fmtShape(predShape)}, got ${fmtShape(shape)}`);
    const v = valuesOf(mask);
    let valid = 0;
    for (let r = 0; r < n; r++) {
      const m = Number(v[r]);
      if (!Number.isFinite(m)) throw new NonFiniteError(`${what}: mask has a non-finite value (${m}) at index ${r}; use 1 for valid rows and 0 for padding`);
      valid += m;
    }
    // keras/src/losses/loss.py apply_mask: mask *= divide_no_nan(total, valid).
    const scale = valid === 0 ? 0 : n / valid;
    for (let r = 0; r < n; r++) w[r] *= Number(v[r]) * scale;
  }
  return Float32Array.from(w);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * A loss for a training loop: resolves its kind once and keeps its wasm buffers between calls, so
 * a loop with fixed shapes allocates wasm memory on its first step only. `dispose()` frees them.
 */
export class LossFunction {
  /** Canonical (tfjs) name, e.g. 'categoricalCrossentropy'. */
  readonly lossName: LossName;
  /** Keras instance name (`Loss.name`), e.g. 'categorical_crossentropy'. */
  readonly name: string;
  readonly kind: LossKind;
  readonly fromLogits: boolean;
  readonly labelSmoothing: number;
  readonly delta: number;
  /** How errors name this loss: the identifier it was created with. */
  private readonly where: string;
  private readonly backend: Backend;
  private readonly buf: Record<'out' | 'grad' | 'rows' | 'pred' | 'target' | 'weights', ReusableBuffer>;
  private disposed = false;

  constructor(identifier: string, args: LossArgs & { name?: string } = {}) {
    this.lossName = canonicalName(identifier);
    const where = `loss '${identifier}'`;
    this.where = where;
    this.kind = lossKind(identifier, args);
    this.fromLogits = args.fromLogits ?? LOSS_DEFAULTS.fromLogits;
    this.labelSmoothing = args.labelSmoothing ?? LOSS_DEFAULTS.labelSmoothing;
    this.delta = args.delta ?? LOSS_DEFAULTS.delta;
    const smooths = this.lossName === 'binaryCrossentropy' || this.lossName === 'categoricalCrossentropy';
    if (args.labelSmoothing !== undefined) {
      if (!smooths) throw new ValueError(`${where}: labelSmoothing applies to binaryCrossentropy and categoricalCrossentropy only; remove it`);
      if (!(typeof this.labelSmoothing === 'number' && this.labelSmoothing >= 0 && this.labelSmoothing <= 1)) {
        throw new ValueError(`${where}: labelSmoothing must be a number in [0, 1], got ${String(args.labelSmoothing)}`);
      }
    }
    if (args.delta !== undefined) {
      if (this.lossName !== 'huber') throw new ValueError(`${where}: delta applies to huber only; remove it`);
      if (!(typeof this.delta === 'number' && Number.isFinite(this.delta) && this.delta > 0)) throw new ValueError(`${where}: delta must be a finite number > 0, got ${String(args.delta)}`);
    }
    this.name = args.name ?? KERAS_NAMES[this.lossName];
    this.backend = getBackend();
    const b = this.backend;
    this.buf = {
      out: new ReusableBuffer(b),
      grad: new ReusableBuffer(b),
      rows: new ReusableBuffer(b),
      pred: new ReusableBuffer(b),
      target: new ReusableBuffer(b, this.sparse ? 'int32' : 'float32'),
      weights: new ReusableBuffer(b),
    };
  }

  get sparse(): boolean {
    return this.kind === LossKind.SparseCategoricalCrossentropy || this.kind === LossKind.SparseCategoricalCrossentropyLogits;
  }

  /**
   * Mean loss and dL/dyPred. `yPred` (..., C); `yTrue` the same shape, or for the sparse loss the
   * leading shape (...) or (..., 1) of integer class ids. `weights`: one per row (the leading
   * shape of yPred, flattened), already folded by `rowWeights`; null for all ones.
   * `out.grad` (size of yPred) receives the gradient instead of a new array; `out.rowLoss` (one
   * per row) receives the unweighted per-row losses (Keras' reduction "none").
   */
  compute(yTrue: Tensor, yPred: Tensor, weights?: Float32Array | null, out: { grad?: Float32Array; rowLoss?: Float32Array } = {}): { loss: number; grad: Tensor } {
    if (this.disposed) throw new DisposedError(`${this.where} was disposed; create a new LossFunction`);
    const where = this.where;
    this.checkTargets(yTrue, yPred);
    const cols = yPred.shape[yPred.rank - 1];
    const rows = yPred.size / cols;
    if (weights != null && weights.length !== rows) {
      throw new ValueError(`${where}: weights must hold one value per row (${rows} for yPred ${fmtShape(yPred.shape)}), got ${weights.length}; build them with rowWeights()`);
    }
    if (out.grad && out.grad.length !== yPred.size) throw new ValueError(`${where}: out.grad must hold ${yPred.size} values, got ${out.grad.length}`);
    if (out.rowLoss && out.rowLoss.length !== rows) throw new ValueError(`${where}: out.rowLoss must hold ${rows} values (one per row), got ${out.rowLoss.length}`);
    const b = this.backend;
    const res = this.buf.out.get(1);
    const grad = this.buf.grad.get(yPred.size);
    const rowLoss = out.rowLoss ? this.buf.rows.get(rows) : null;
    const pred = this.buf.pred.get(yPred.size);
    const target = this.buf.target.get(this.sparse ? rows : yTrue.size);
    const w = weights != null ? this.buf.weights.get(rows) : null;
    // The buffers may be longer than this call needs (a bigger earlier batch): write from 0.
    pred.write(yPred.data);
    // Setting float values into an Int32Array view converts them (they were checked integral).
    target.write(yTrue.data);
    if (w) w.write(weights!);
    b.run(where, () =>
      b.exports.loss_forward_backward(res.ptr, grad.ptr, rowLoss ? rowLoss.ptr : 0, pred.ptr, target.ptr, w ? w.ptr : 0, rows, cols, this.kind, this.delta, this.labelSmoothing),
    );
    const g = out.grad ?? new Float32Array(yPred.size);
    g.set(grad.f32().subarray(0, yPred.size));
    if (rowLoss && out.rowLoss) out.rowLoss.set(rowLoss.f32().subarray(0, rows));
    return { loss: res.f32()[0], grad: new Tensor(g, yPred.shape) };
  }

  /** @internal Throws a ValueError naming what to fix when yTrue does not fit yPred. */
  checkTargets(yTrue: Tensor, yPred: Tensor): void {
    const where = this.where;
    if (yPred.rank < 1) throw new ValueError(`${where}: yPred must have at least one axis, got a scalar`);
    if (yPred.size === 0) throw new ValueError(`${where}: yPred ${fmtShape(yPred.shape)} is empty; pass at least one row of at least one value`);
    if (this.sparse) {
      const lead = yPred.shape.slice(0, -1);
      const ok = sameShape(yTrue.shape, lead) || (yTrue.rank === lead.length + 1 && yTrue.shape[yTrue.rank - 1] === 1 && lead.every((d, i) => d === yTrue.shape[i]));
      if (!ok) throw new ValueError(`${where}: class ids must have shape ${fmtShape(lead)} or ${fmtShape([...lead, 1])} for yPred ${fmtShape(yPred.shape)}, got ${fmtShape(yTrue.shape)}`);
      if (yTrue.dtype !== 'int32') {
        const d = yTrue.data;
        for (let i = 0; i < d.length; i++) {
          if (!Number.isInteger(d[i])) throw new ValueError(`${where}: class id ${d[i]} at index ${i} is not an integer; pass class ids 0..${yPred.shape[yPred.rank - 1] - 1} (an int32 tensor)`);
        }
      }
    } else if (!sameShape(yTrue.shape, yPred.shape)) {
      const hint =
        this.lossName === 'categoricalCrossentropy' && yTrue.rank === yPred.rank - 1
          ? ': these look like class ids; use sparseCategoricalCrossentropy, or one-hot encode yTrue'
          : '';
      throw new ValueError(`${where}: yTrue ${fmtShape(yTrue.shape)} and yPred ${fmtShape(yPred.shape)} must have the same shape${hint}`);
    }
  }

  /** Keras-style config (snake_case keys as Keras 3 saves them), for `getLoss({className, config})`. */
  getConfig(): Record<string, unknown> {
    const c: Record<string, unknown> = { name: this.name, reduction: 'sum_over_batch_size' };
    if (isCrossentropy(this.lossName)) c.from_logits = this.fromLogits;
    if (this.lossName === 'binaryCrossentropy' || this.lossName === 'categoricalCrossentropy') c.label_smoothing = this.labelSmoothing;
    if (this.lossName === 'huber') c.delta = this.delta;
    return c;
  }

  get className(): string {
    return CLASS_NAMES[this.lossName];
  }

  toJSON(): LossConfig {
    return { className: this.className, config: this.getConfig() };
  }

  static fromConfig(config: LossConfig): LossFunction {
    return getLoss(config);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const b of Object.values(this.buf)) b.dispose();
  }
}

/** Keys of a Keras loss config we read, camelCase or snake_case. */
const CONFIG_KEYS: Record<string, keyof LossArgs | 'name' | 'reduction' | 'ignored'> = {
  from_logits: 'fromLogits',
  fromLogits: 'fromLogits',
  label_smoothing: 'labelSmoothing',
  labelSmoothing: 'labelSmoothing',
  delta: 'delta',
  name: 'name',
  reduction: 'reduction',
  // Keras 3 writes these; only their defaults are supported.
  axis: 'ignored',
  dtype: 'ignored',
  ignore_class: 'ignored',
};

/**
 * A loss from a name ('mse', 'categorical_crossentropy', 'Huber', ...), a Keras
 * `{className, config}` (e.g. `{className: 'Huber', config: {delta: 2}}`), or a LossFunction
 * (returned as is).
 */
export function getLoss(identifier: LossIdentifier): LossFunction {
  if (identifier instanceof LossFunction) return identifier;
  if (typeof identifier === 'string') return new LossFunction(identifier);
  if (identifier === null || typeof identifier !== 'object' || typeof identifier.className !== 'string') {
    throw new ValueError(`getLoss: expected a loss name, {className, config} or a LossFunction, got ${String(identifier)}`);
  }
  const { className } = identifier;
  const config = identifier.config ?? {};
  const args: LossArgs & { name?: string } = {};
  for (const [k, v] of Object.entries(config)) {
    const key = CONFIG_KEYS[k];
    if (key === undefined) throw new ValueError(`getLoss: ${className} config key '${k}' is not supported; supported keys: ${Object.keys(CONFIG_KEYS).join(', ')}`);
    if (v === undefined) continue;
    if (key === 'reduction') {
      if (v !== 'sum_over_batch_size') throw new ValueError(`getLoss: ${className} reduction '${String(v)}' is not supported; fastgru losses reduce with 'sum_over_batch_size' (the Keras default)`);
    } else if (key === 'ignored') {
      const ok = (k === 'axis' && (v === -1 || v === null)) || (k === 'dtype' && (v === null || v === 'float32')) || (k === 'ignore_class' && v === null);
      if (!ok) throw new ValueError(`getLoss: ${className} ${k}=${JSON.stringify(v)} is not supported (only the Keras default)`);
    } else if (key === 'name') {
      args.name = String(v);
    } else {
      (args as Record<string, unknown>)[key] = v;
    }
  }
  // Keras configs carry every hyper-parameter; drop the defaults the loss does not take.
  const name = canonicalName(className);
  if (!isCrossentropy(name) && args.fromLogits === false) delete args.fromLogits;
  if (name !== 'binaryCrossentropy' && name !== 'categoricalCrossentropy' && args.labelSmoothing === 0) delete args.labelSmoothing;
  return new LossFunction(className, args);
}

/**
 * Mean loss and dL/dyPred in one call (allocates and frees its wasm buffers; a training loop
 * should keep a `LossFunction`). `yPred` (..., C); `yTrue` the same shape, or for sparse losses
 * the leading shape (...) or (..., 1) of integer class ids. `sampleWeight` and `mask` as in
 * `LossWeighting`.
 */
export function lossAndGradient(name: string, yTrue: Tensor, yPred: Tensor, options: LossOptions = {}): { loss: number; grad: Tensor } {
  const { sampleWeight, mask, ...args } = options;
  const loss = new LossFunction(name, args);
  try {
    // Errors about the targets first: they are the likelier mistake.
    loss.checkTargets(yTrue, yPred);
    const weights = rowWeights(yPred.shape, { sampleWeight, mask }, `loss '${name}'`);
    return loss.compute(yTrue, yPred, weights);
  } finally {
    loss.dispose();
  }
}
