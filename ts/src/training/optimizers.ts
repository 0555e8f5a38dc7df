/**
 * Optimizers with the names, arguments and defaults of Keras 3 (`keras/src/optimizers/*.py`),
 * camelCased. One `applyGradients` is one wasm call (`optimizer_apply`) for every parameter tensor
 * of a model, doing what Keras' `apply_gradients` does: clip (`clipnorm` per tensor |
 * `globalClipnorm` | `clipvalue`), decoupled weight decay on the tensors that take it, then the
 * optimizer's update, all or nothing.
 *
 * Memory: the optimizer owns three wasm buffers, allocated on the first step and reused: the
 * tensor table (one record per `ParamSlot`), an f64 block (hyper-parameters, the returned gradient
 * norm, Nadam's running product) and the state (moments laid out region by region, each region one
 * float per parameter over all slots concatenated). A training loop with fixed slots allocates
 * nothing per step. `dispose()` frees them.
 */
import { getBackend } from '../engine.js';
import { HYPER_COUNT, Hyper, OptimizerKind, ParamFlags, RECORD_WORDS } from '../wasm/abi.js';
import { DisposedError, FastGruError, ValueError } from '../wasm/errors.js';
import type { Backend, WasmBuffer } from '../wasm/memory.js';
import { finiteValuesTrusted, firstNonFinite } from '../tensor.js';
import { LearningRateSchedule, camelKeys, deserialize as deserializeSchedule, serialize as serializeSchedule } from './schedules.js';

/** One parameter tensor the optimizer updates: where its values and gradient live in wasm memory. */
export interface ParamSlot {
  /** `layer/weight`, e.g. 'gru_1/kernel': used in error messages. */
  name: string;
  /** Floats. */
  size: number;
  /** Byte address of the values (f32, `size` of them), updated in place. */
  paramsPtr: number;
  /** Byte address of the gradient (f32, `size`); clipped in place when a clip option is set. */
  gradsPtr: number;
  /** Apply the optimizer's weight decay to this tensor (Keras: not in `exclude_from_weight_decay`). */
  weightDecay: boolean;
}

/** Arguments every optimizer takes (Keras `BaseOptimizer`). */
export interface OptimizerArgs {
  /** A number, or a schedule evaluated at `iterations`. Defaults to 0.01 for SGD, 0.001 otherwise. */
  learningRate?: number | LearningRateSchedule;
  /** Decoupled weight decay `p −= p · weightDecay · lr` before each update. Defaults to null (none); AdamW: 0.004. */
  weightDecay?: number | null;
  /** Scale each tensor's gradient to L2 norm at most this. Defaults to null. */
  clipnorm?: number | null;
  /** Clip every gradient element into [−clipvalue, clipvalue]. Defaults to null. */
  clipvalue?: number | null;
  /** Scale all gradients together to global L2 norm at most this. Defaults to null. */
  globalClipnorm?: number | null;
  /** Defaults to the Keras name ('SGD', 'adam', ...). */
  name?: string;
}

/** f64 block layout: the hyper-parameters, then the two scalars `optimizer_apply` writes. */
const GRAD_NORM = HYPER_COUNT;
const U_PRODUCT = HYPER_COUNT + 1;
const F64_SLOTS = HYPER_COUNT + 2;

function checkNumber(owner: string, arg: string, v: unknown, lo = 0, hi = Infinity): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) {
    const range = hi === Infinity ? `≥ ${lo}` : `in [${lo}, ${hi}]`;
    throw new ValueError(`${owner}: \`${arg}\` must be a finite number ${range}, got ${String(v)}`);
  }
  return v;
}

function optionalNumber(owner: string, arg: string, v: number | null | undefined): number | null {
  return v === undefined || v === null ? null : checkNumber(owner, arg, v);
}

function learningRateArg(owner: string, v: unknown): number | LearningRateSchedule {
  if (v instanceof LearningRateSchedule) return v;
  if (v !== null && typeof v === 'object' && ('className' in v || 'class_name' in v)) return deserializeSchedule(v as { className: string });
  return checkNumber(owner, 'learningRate', v);
}

/** Base of every optimizer (Keras `Optimizer`). */
export abstract class Optimizer {
  /** Keras class name ('Adam'). */
  abstract readonly className: string;
  protected abstract readonly kind: OptimizerKind;
  readonly name: string;
  readonly weightDecay: number | null;
  readonly clipnorm: number | null;
  readonly clipvalue: number | null;
  readonly globalClipnorm: number | null;

  private _learningRate: number | LearningRateSchedule;
  private _iterations = 0;
  private _disposed = false;
  private backend: Backend | null = null;
  private table: WasmBuffer | null = null;
  private scalars: WasmBuffer | null = null;
  private state: WasmBuffer | null = null;
  private stateLen = 0;
  private slotNames: string[] = [];
  private slotSizes: number[] = [];

  protected constructor(args: OptimizerArgs, defaults: { learningRate: number; name: string; weightDecay?: number | null }) {
    this.name = args.name ?? defaults.name;
    this._learningRate = learningRateArg(this.name, args.learningRate ?? defaults.learningRate);
    this.weightDecay = optionalNumber(this.name, 'weightDecay', args.weightDecay === undefined ? defaults.weightDecay : args.weightDecay);
    this.clipnorm = optionalNumber(this.name, 'clipnorm', args.clipnorm);
    this.clipvalue = optionalNumber(this.name, 'clipvalue', args.clipvalue);
    this.globalClipnorm = optionalNumber(this.name, 'globalClipnorm', args.globalClipnorm);
    const set = [this.clipnorm, this.clipvalue, this.globalClipnorm].filter((v) => v !== null).length;
    if (set > 1) {
      throw new ValueError(
        `${this.name}: only one of \`clipnorm\`, \`clipvalue\` and \`globalClipnorm\` can be set. Received: clipnorm=${this.clipnorm}, clipvalue=${this.clipvalue}, globalClipnorm=${this.globalClipnorm}`,
      );
    }
  }

  /** A number or a schedule. Settable between steps (ReduceLROnPlateau does it). */
  get learningRate(): number | LearningRateSchedule {
    return this._learningRate;
  }

  set learningRate(v: number | LearningRateSchedule) {
    if (typeof v === 'number' && this._learningRate instanceof LearningRateSchedule) {
      // As Keras: a schedule's rate is not assignable; replace the schedule itself instead.
      throw new ValueError(
        `${this.name}: this optimizer was created with a LearningRateSchedule as its learningRate, hence its learning rate is not settable; set optimizer.learningRate to a new schedule instead`,
      );
    }
    this._learningRate = learningRateArg(this.name, v);
  }

  /** Steps applied so far (Keras `iterations`). */
  get iterations(): number {
    return this._iterations;
  }

  /** The learning rate the next step uses: the schedule evaluated at `iterations`. */
  currentLearningRate(): number {
    const lr = this._learningRate;
    if (typeof lr === 'number') return lr;
    const v = lr.call(this._iterations);
    if (!Number.isFinite(v)) throw new ValueError(`${this.name}: the learning rate schedule ${lr.className} gave ${v} at step ${this._iterations}; it must be finite`);
    return v;
  }

  /** Keras-specific hyper-parameters into `h` (indexed by `Hyper`); the common ones are written by the base. */
  protected abstract writeHyper(h: Float64Array): void;

  /** Initial value of every state float (Adagrad: initialAccumulatorValue). */
  protected initialStateValue(): number {
    return 0;
  }

  /** This optimizer's own config entries (besides the common ones). */
  protected abstract ownConfig(): Record<string, unknown>;

  get built(): boolean {
    return this.table !== null;
  }

  private assertLive(): void {
    if (this._disposed) throw new DisposedError(`optimizer '${this.name}' was disposed; create a new optimizer`);
  }

  private fillHyper(h: Float64Array, lr: number): void {
    h.fill(0, 0, HYPER_COUNT);
    h[Hyper.LearningRate] = lr;
    h[Hyper.WeightDecay] = this.weightDecay ?? 0;
    h[Hyper.Clipnorm] = this.clipnorm ?? 0;
    h[Hyper.GlobalClipnorm] = this.globalClipnorm ?? 0;
    h[Hyper.Clipvalue] = this.clipvalue ?? 0;
    this.writeHyper(h);
  }

  private f64(): Float64Array {
    return new Float64Array(this.backend!.memory.buffer, this.scalars!.ptr, F64_SLOTS);
  }

  private describe(names: string[], sizes: number[]): string {
    return `[${names.map((n, i) => `${n} (${sizes[i]})`).join(', ')}]`;
  }

  private static checkSlots(owner: string, slots: ParamSlot[]): void {
    if (!Array.isArray(slots) || slots.length === 0) throw new ValueError(`${owner}: applyGradients needs at least one ParamSlot, got ${Array.isArray(slots) ? 'none' : String(slots)}`);
    slots.forEach((s, i) => {
      const ok = s && typeof s.name === 'string' && Number.isInteger(s.size) && s.size > 0 && Number.isInteger(s.paramsPtr) && s.paramsPtr > 0 && Number.isInteger(s.gradsPtr) && s.gradsPtr > 0 && typeof s.weightDecay === 'boolean';
      if (!ok) {
        throw new ValueError(`${owner}: slot ${i} must be {name: string, size: integer > 0, paramsPtr: address, gradsPtr: address, weightDecay: boolean}, got ${JSON.stringify(s)}`);
      }
    });
  }

  /**
   * Allocates the state for these slots (Keras `optimizer.build(variables)`). `applyGradients` does
   * it on its first call; call it yourself before `setWeights` to load a saved state.
   */
  build(slots: ParamSlot[]): void {
    this.assertLive();
    Optimizer.checkSlots(this.name, slots);
    if (this.built) throw new ValueError(`${this.name}: already built for ${this.describe(this.slotNames, this.slotSizes)}; create a new optimizer for other variables`);
    const b = getBackend();
    const n = slots.reduce((a, s) => a + s.size, 0);
    const table = b.alloc(RECORD_WORDS * slots.length, 'int32');
    let scalars: WasmBuffer | null = null;
    let state: WasmBuffer | null = null;
    try {
      // f64 entries in a float32 block: alloc hands out 16-byte-aligned blocks.
      scalars = b.alloc(2 * F64_SLOTS, 'float32');
      const h = new Float64Array(b.memory.buffer, scalars.ptr, F64_SLOTS);
      this.fillHyper(h, this.currentLearningRate());
      h[GRAD_NORM] = 0;
      h[U_PRODUCT] = 1;
      const len = b.exports.optimizer_state_len(this.kind, scalars.ptr, n);
      state = b.alloc(Math.max(len, 1), 'float32');
      state.fill(this.initialStateValue());
      this.stateLen = len;
    } catch (e) {
      table.dispose();
      scalars?.dispose();
      throw e;
    }
    this.backend = b;
    this.table = table;
    this.scalars = scalars;
    this.state = state;
    this.slotNames = slots.map((s) => s.name);
    this.slotSizes = slots.map((s) => s.size);
  }

  /**
   * One Keras `apply_gradients` step over every slot: clip, weight decay, update; `iterations`
   * then advances. The first call builds the state; later calls must pass slots of the same sizes
   * in the same order. All or nothing: on any error (a non-finite gradient names its slot and
   * element) parameters, gradients, state and `iterations` are unchanged.
   * Returns the global L2 norm of the gradients before clipping.
   */
  applyGradients(slots: ParamSlot[]): { gradNorm: number } {
    this.assertLive();
    if (!this.built) {
      this.build(slots);
    } else {
      Optimizer.checkSlots(this.name, slots);
      const same = slots.length === this.slotSizes.length && slots.every((s, i) => s.size === this.slotSizes[i]);
      if (!same) {
        throw new ValueError(
          `${this.name}: was built for ${this.slotSizes.length} tensors ${this.describe(this.slotNames, this.slotSizes)} but got ${slots.length} ${this.describe(
            slots.map((s) => s.name),
            slots.map((s) => s.size),
          )}; pass the same variables in the same order every step, or create a new optimizer for a different model`,
        );
      }
    }
    const step = this._iterations + 1;
    if (step > 0xffffffff) throw new ValueError(`${this.name}: more than 2^32 − 1 steps`);
    const lr = this.currentLearningRate();
    const b = this.backend!;
    const table = this.table!;
    const words = new Uint32Array(b.memory.buffer, table.ptr, RECORD_WORDS * slots.length);
    slots.forEach((s, i) => {
      words[i * RECORD_WORDS] = s.paramsPtr;
      words[i * RECORD_WORDS + 1] = s.gradsPtr;
      words[i * RECORD_WORDS + 2] = s.size;
      words[i * RECORD_WORDS + 3] = s.weightDecay ? ParamFlags.WeightDecay : 0;
    });
    this.fillHyper(this.f64(), lr);
    const base = this.scalars!.ptr;
    const uProduct = this.kind === OptimizerKind.Nadam ? base + 8 * U_PRODUCT : 0;
    const state = this.stateLen > 0 ? this.state!.ptr : 0;
    try {
      b.run(`${this.name}.applyGradients`, () =>
        b.exports.optimizer_apply(base + 8 * GRAD_NORM, uProduct, state, table.ptr, base, slots.length, this.stateLen, step, this.kind),
      );
    } catch (e) {
      throw this.nameSlots(e, slots);
    }
    this._iterations = step;
    return { gradNorm: this.f64()[GRAD_NORM] };
  }

  /** The kernel names tensors by index ("gradient of tensor 2"); say which weight that is. */
  private nameSlots(e: unknown, slots: ParamSlot[]): unknown {
    if (!(e instanceof FastGruError) || !/\btensor \d+\b/.test(e.message)) return e;
    let msg = e.message.replace(/\btensor (\d+)\b/g, (m, i: string) => (slots[Number(i)] ? `'${slots[Number(i)].name}'` : m));
    if (/non-finite value/.test(msg)) msg += ' (parameters, optimizer state and iterations are unchanged)';
    const Ctor = e.constructor as new (m: string) => FastGruError;
    return new Ctor(msg);
  }

  /** Number of leading scalar weights in getWeights(): iterations (and Nadam's u_product). */
  private scalarWeights(): number {
    return this.kind === OptimizerKind.Nadam ? 2 : 1;
  }

  /**
   * The optimizer state, for saving: `[iterations]`, then for Nadam `[uProduct]` (Keras keeps it as
   * float32 too), then each state region cut per slot (region-major: every slot's first moment,
   * then every slot's second, ..., in build order). Before the first step: only the scalars.
   * Iterations are exact in float32 up to 2^24 steps.
   */
  getWeights(): Float32Array[] {
    this.assertLive();
    const out = [Float32Array.of(this._iterations)];
    if (this.kind === OptimizerKind.Nadam) out.push(Float32Array.of(this.built ? this.f64()[U_PRODUCT] : 1));
    if (!this.built) return out;
    const s = this.state!.f32();
    const n = this.slotSizes.reduce((a, v) => a + v, 0);
    const regions = n === 0 ? 0 : this.stateLen / n;
    for (let r = 0; r < regions; r++) {
      let off = r * n;
      for (const size of this.slotSizes) {
        out.push(s.slice(off, off + size));
        off += size;
      }
    }
    return out;
  }

  /** Restores what getWeights() returned (all checked before anything is written). Needs `build(slots)` first. */
  setWeights(weights: Float32Array[]): void {
    this.assertLive();
    if (!this.built) throw new ValueError(`${this.name}: setWeights needs the state's layout; call build(slots) first (Keras: optimizer.build(variables))`);
    const n = this.slotSizes.reduce((a, v) => a + v, 0);
    const regions = this.stateLen / n;
    const k = this.scalarWeights();
    const expected = k + regions * this.slotSizes.length;
    if (!Array.isArray(weights) || weights.length !== expected) {
      throw new ValueError(`${this.name}: expected ${expected} arrays (${k} scalar${k > 1 ? 's' : ''}, then ${regions} state region(s) × ${this.slotSizes.length} slots), got ${Array.isArray(weights) ? weights.length : String(weights)}`);
    }
    const it = weights[0];
    if (!(it instanceof Float32Array) || it.length !== 1 || !Number.isInteger(it[0]) || it[0] < 0) {
      throw new ValueError(`${this.name}: weights[0] must be Float32Array [iterations] with a whole number ≥ 0`);
    }
    weights.forEach((w, i) => {
      const want = i < k ? 1 : this.slotSizes[(i - k) % this.slotSizes.length];
      if (!(w instanceof Float32Array) || w.length !== want) {
        throw new ValueError(`${this.name}: weights[${i}] must be a Float32Array of ${want} floats, got ${w instanceof Float32Array ? w.length : typeof w}`);
      }
      // loadModel has checked the state as it decoded the file (see withFiniteValues).
      const bad = finiteValuesTrusted() ? -1 : firstNonFinite(w);
      if (bad >= 0) throw new ValueError(`${this.name}: weights[${i}] has a non-finite value (${w[bad]}) at flat index ${bad}`);
    });
    this._iterations = it[0];
    if (this.kind === OptimizerKind.Nadam) this.f64()[U_PRODUCT] = weights[1][0];
    const s = this.state!.f32();
    let off = 0;
    for (const w of weights.slice(k)) {
      s.set(w, off);
      off += w.length;
    }
  }

  /** Keras-style config (camelCase keys); a schedule is `{className, config}`. */
  getConfig(): Record<string, unknown> {
    const lr = this._learningRate;
    return {
      name: this.name,
      learningRate: typeof lr === 'number' ? lr : serializeSchedule(lr),
      weightDecay: this.weightDecay,
      clipnorm: this.clipnorm,
      globalClipnorm: this.globalClipnorm,
      clipvalue: this.clipvalue,
      ...this.ownConfig(),
    };
  }

  /** Frees the wasm buffers; later use throws DisposedError. */
  dispose(): void {
    if (this._disposed) return;
    this._disposed = true;
    this.table?.dispose();
    this.scalars?.dispose();
    this.state?.dispose();
    this.table = this.scalars = this.state = null;
  }
}

// ---------------------------------------------------------------------------------------------

export interface SGDArgs extends OptimizerArgs {
  /** Velocity decay; 0 is plain SGD (no state). Defaults to 0. */
  momentum?: number;
  /** Nesterov momentum. Defaults to false. */
  nesterov?: boolean;
}

/** Keras 3 `SGD` (`sgd.py`): `m = momentum·m − lr·g; p += m` (nesterov: `p += momentum·m − lr·g`). */
export class SGD extends Optimizer {
  readonly className = 'SGD';
  protected readonly kind = OptimizerKind.Sgd;
  readonly momentum: number;
  readonly nesterov: boolean;

  constructor(args: SGDArgs = {}) {
    super(args, { learningRate: 0.01, name: 'SGD' });
    // As Keras: "`momentum` must be a float between [0, 1]".
    this.momentum = checkNumber(this.name, 'momentum', args.momentum ?? 0, 0, 1);
    this.nesterov = args.nesterov ?? false;
  }

  protected writeHyper(h: Float64Array): void {
    h[Hyper.Momentum] = this.momentum;
    h[Hyper.Nesterov] = this.nesterov ? 1 : 0;
  }

  protected ownConfig(): Record<string, unknown> {
    return { momentum: this.momentum, nesterov: this.nesterov };
  }

  static fromConfig(config: Record<string, unknown>): SGD {
    return new SGD(argsFromConfig(config));
  }
}

export interface RMSpropArgs extends OptimizerArgs {
  /** Discount of the squared-gradient average. Defaults to 0.9. */
  rho?: number;
  /** Defaults to 0. */
  momentum?: number;
  /** Added inside the square root. Defaults to 1e-7. */
  epsilon?: number;
  /** Normalise by the estimated variance. Defaults to false. */
  centered?: boolean;
}

/** Keras 3 `RMSprop` (`rmsprop.py`). */
export class RMSprop extends Optimizer {
  readonly className = 'RMSprop';
  protected readonly kind = OptimizerKind.Rmsprop;
  readonly rho: number;
  readonly momentum: number;
  readonly epsilon: number;
  readonly centered: boolean;

  constructor(args: RMSpropArgs = {}) {
    super(args, { learningRate: 0.001, name: 'rmsprop' });
    this.rho = checkNumber(this.name, 'rho', args.rho ?? 0.9, 0, 1);
    this.momentum = checkNumber(this.name, 'momentum', args.momentum ?? 0);
    this.epsilon = checkNumber(this.name, 'epsilon', args.epsilon ?? 1e-7);
    this.centered = args.centered ?? false;
  }

  protected writeHyper(h: Float64Array): void {
    h[Hyper.Rho] = this.rho;
    h[Hyper.Momentum] = this.momentum;
    h[Hyper.Epsilon] = this.epsilon;
    h[Hyper.Centered] = this.centered ? 1 : 0;
  }

  protected ownConfig(): Record<string, unknown> {
    return { rho: this.rho, momentum: this.momentum, epsilon: this.epsilon, centered: this.centered };
  }

  static fromConfig(config: Record<string, unknown>): RMSprop {
    return new RMSprop(argsFromConfig(config));
  }
}

export interface AdamArgs extends OptimizerArgs {
  /** Decay of the first moment. Defaults to 0.9. */
  beta1?: number;
  /** Decay of the second moment. Defaults to 0.999. */
  beta2?: number;
  /** Added outside the square root. Defaults to 1e-7. */
  epsilon?: number;
  /** Use the running maximum of the second moment. Defaults to false. */
  amsgrad?: boolean;
}

/** Keras 3 `Adam` (`adam.py`). */
export class Adam extends Optimizer {
  readonly className: string = 'Adam';
  protected readonly kind: OptimizerKind = OptimizerKind.Adam;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly amsgrad: boolean;

  constructor(args: AdamArgs = {}, defaults: { name: string; weightDecay?: number | null } = { name: 'adam' }) {
    super(args, { learningRate: 0.001, ...defaults });
    this.beta1 = checkNumber(this.name, 'beta1', args.beta1 ?? 0.9, 0, 1);
    this.beta2 = checkNumber(this.name, 'beta2', args.beta2 ?? 0.999, 0, 1);
    this.epsilon = checkNumber(this.name, 'epsilon', args.epsilon ?? 1e-7);
    this.amsgrad = args.amsgrad ?? false;
  }

  protected writeHyper(h: Float64Array): void {
    h[Hyper.Beta1] = this.beta1;
    h[Hyper.Beta2] = this.beta2;
    h[Hyper.Epsilon] = this.epsilon;
    h[Hyper.Amsgrad] = this.amsgrad ? 1 : 0;
  }

  protected ownConfig(): Record<string, unknown> {
    return { beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon, amsgrad: this.amsgrad };
  }

  static fromConfig(config: Record<string, unknown>): Adam {
    return new Adam(argsFromConfig(config));
  }
}

/** Keras 3 `AdamW` (`adamw.py`): Adam with a required decoupled weight decay. */
export class AdamW extends Adam {
  readonly className: string = 'AdamW';
  protected readonly kind: OptimizerKind = OptimizerKind.AdamW;

  /** `weightDecay` defaults to 0.004 and must be > 0 (Keras raises for None). */
  constructor(args: AdamArgs = {}) {
    super(args, { name: 'adamw', weightDecay: 0.004 });
    if (this.weightDecay === null || this.weightDecay <= 0) {
      throw new ValueError(`${this.name}: AdamW needs \`weightDecay\` > 0 (defaults to 0.004), got ${this.weightDecay}; use Adam for no weight decay`);
    }
  }

  static fromConfig(config: Record<string, unknown>): AdamW {
    return new AdamW(argsFromConfig(config));
  }
}

export interface AdagradArgs extends OptimizerArgs {
  /** Starting value of the accumulators. Defaults to 0.1. */
  initialAccumulatorValue?: number;
  /** Added inside the square root. Defaults to 1e-7. */
  epsilon?: number;
}

/** Keras 3 `Adagrad` (`adagrad.py`). */
export class Adagrad extends Optimizer {
  readonly className = 'Adagrad';
  protected readonly kind = OptimizerKind.Adagrad;
  readonly initialAccumulatorValue: number;
  readonly epsilon: number;

  constructor(args: AdagradArgs = {}) {
    super(args, { learningRate: 0.001, name: 'adagrad' });
    this.initialAccumulatorValue = checkNumber(this.name, 'initialAccumulatorValue', args.initialAccumulatorValue ?? 0.1);
    this.epsilon = checkNumber(this.name, 'epsilon', args.epsilon ?? 1e-7);
  }

  protected writeHyper(h: Float64Array): void {
    h[Hyper.Epsilon] = this.epsilon;
  }

  protected initialStateValue(): number {
    return this.initialAccumulatorValue;
  }

  protected ownConfig(): Record<string, unknown> {
    return { initialAccumulatorValue: this.initialAccumulatorValue, epsilon: this.epsilon };
  }

  static fromConfig(config: Record<string, unknown>): Adagrad {
    return new Adagrad(argsFromConfig(config));
  }
}

export interface AdadeltaArgs extends OptimizerArgs {
  /** Decay of both running averages. Defaults to 0.95. */
  rho?: number;
  /** Defaults to 1e-7. */
  epsilon?: number;
}

/** Keras 3 `Adadelta` (`adadelta.py`); note Keras' default learning rate 0.001 (the paper uses 1.0). */
export class Adadelta extends Optimizer {
  readonly className = 'Adadelta';
  protected readonly kind = OptimizerKind.Adadelta;
  readonly rho: number;
  readonly epsilon: number;

  constructor(args: AdadeltaArgs = {}) {
    super(args, { learningRate: 0.001, name: 'adadelta' });
    this.rho = checkNumber(this.name, 'rho', args.rho ?? 0.95, 0, 1);
    this.epsilon = checkNumber(this.name, 'epsilon', args.epsilon ?? 1e-7);
  }

  protected writeHyper(h: Float64Array): void {
    h[Hyper.Rho] = this.rho;
    h[Hyper.Epsilon] = this.epsilon;
  }

  protected ownConfig(): Record<string, unknown> {
    return { rho: this.rho, epsilon: this.epsilon };
  }

  static fromConfig(config: Record<string, unknown>): Adadelta {
    return new Adadelta(argsFromConfig(config));
  }
}

export interface AdamaxArgs extends OptimizerArgs {
  /** Defaults to 0.9. */
  beta1?: number;
  /** Decay of the infinity norm. Defaults to 0.999. */
  beta2?: number;
  /** Defaults to 1e-7. */
  epsilon?: number;
}

/** Keras 3 `Adamax` (`adamax.py`). */
export class Adamax extends Optimizer {
  readonly className = 'Adamax';
  protected readonly kind = OptimizerKind.Adamax;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;

  constructor(args: AdamaxArgs = {}) {
    super(args, { learningRate: 0.001, name: 'adamax' });
    this.beta1 = checkNumber(this.name, 'beta1', args.beta1 ?? 0.9, 0, 1);
    this.beta2 = checkNumber(this.name, 'beta2', args.beta2 ?? 0.999, 0, 1);
    this.epsilon = checkNumber(this.name, 'epsilon', args.epsilon ?? 1e-7);
  }

  protected writeHyper(h: Float64Array): void {
    h[Hyper.Beta1] = this.beta1;
    h[Hyper.Beta2] = this.beta2;
    h[Hyper.Epsilon] = this.epsilon;
  }

  protected ownConfig(): Record<string, unknown> {
    return { beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon };
  }

  static fromConfig(config: Record<string, unknown>): Adamax {
    return new Adamax(argsFromConfig(config));
  }
}

export type NadamArgs = AdamaxArgs;

/** Keras 3 `Nadam` (`nadam.py`; momentum schedule β₁(1 − 0.5·0.96ᵗ), as Keras 3, not Keras 2's 0.96^(0.004t)). */
export class Nadam extends Optimizer {
  readonly className = 'Nadam';
  protected readonly kind = OptimizerKind.Nadam;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;

  constructor(args: NadamArgs = {}) {
    super(args, { learningRate: 0.001, name: 'nadam' });
    this.beta1 = checkNumber(this.name, 'beta1', args.beta1 ?? 0.9, 0, 1);
    this.beta2 = checkNumber(this.name, 'beta2', args.beta2 ?? 0.999, 0, 1);
    this.epsilon = checkNumber(this.name, 'epsilon', args.epsilon ?? 1e-7);
  }

  protected writeHyper(h: Float64Array): void {
    h[Hyper.Beta1] = this.beta1;
    h[Hyper.Beta2] = this.beta2;
    h[Hyper.Epsilon] = this.epsilon;
  }

  protected ownConfig(): Record<string, unknown> {
    return { beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon };
  }

  static fromConfig(config: Record<string, unknown>): Nadam {
    return new Nadam(argsFromConfig(config));
  }
}

// ---------------------------------------------------------------------------------------------

/** Keras' defaults of each optimizer, by class name. */
export const OPTIMIZER_DEFAULTS = {
  SGD: { learningRate: 0.01, momentum: 0, nesterov: false },
  RMSprop: { learningRate: 0.001, rho: 0.9, momentum: 0, epsilon: 1e-7, centered: false },
  Adam: { learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, amsgrad: false },
  AdamW: { learningRate: 0.001, weightDecay: 0.004, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, amsgrad: false },
  Adagrad: { learningRate: 0.001, initialAccumulatorValue: 0.1, epsilon: 1e-7 },
  Adadelta: { learningRate: 0.001, rho: 0.95, epsilon: 1e-7 },
  Adamax: { learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
  Nadam: { learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
} as const;

const BY_NAME: Record<string, { fromConfig(c: Record<string, unknown>): Optimizer }> = {
  sgd: SGD,
  rmsprop: RMSprop,
  adam: Adam,
  adamw: AdamW,
  adagrad: Adagrad,
  adadelta: Adadelta,
  adamax: Adamax,
  nadam: Nadam,
};

/** Config → constructor args: Keras snake_case keys accepted, a schedule config deserialized. */
function argsFromConfig(config: Record<string, unknown>): Record<string, unknown> {
  const c = camelKeys(config ?? {});
  // Keras options fastgru does not implement: refuse rather than silently train differently.
  if (c.useEma === true) throw new ValueError('optimizer config: useEma (exponential moving average of weights) is not supported');
  if (c.gradientAccumulationSteps != null) throw new ValueError('optimizer config: gradientAccumulationSteps is not supported');
  if (c.lossScaleFactor != null) throw new ValueError('optimizer config: lossScaleFactor is not supported');
  for (const k of ['useEma', 'emaMomentum', 'emaOverwriteFrequency', 'gradientAccumulationSteps', 'lossScaleFactor']) delete c[k];
  if (c.learningRate !== undefined) c.learningRate = learningRateArg('optimizer config', c.learningRate);
  return c;
}

export type OptimizerIdentifier = string | Optimizer | { className: string; config?: Record<string, unknown> };

/**
 * An optimizer from an instance (returned as is), a name ('sgd', 'rmsprop', 'adam', 'adamw',
 * 'adagrad', 'adadelta', 'adamax', 'nadam'; case-insensitive, Keras defaults) or
 * `{className, config}` (as `serialize` returns; Keras' `class_name` accepted too).
 */
export function getOptimizer(identifier: OptimizerIdentifier): Optimizer {
  if (identifier instanceof Optimizer) return identifier;
  const choices = Object.keys(BY_NAME).map((n) => `'${n}'`).join(', ');
  if (typeof identifier === 'string') {
    const cls = BY_NAME[identifier.toLowerCase()];
    if (!cls) throw new ValueError(`unknown optimizer '${identifier}'; expected an Optimizer, {className, config}, or one of ${choices}`);
    return cls.fromConfig({});
  }
  if (identifier !== null && typeof identifier === 'object') {
    const o = identifier as { className?: unknown; class_name?: unknown; config?: Record<string, unknown> };
    const name = o.className ?? o.class_name;
    const cls = typeof name === 'string' ? BY_NAME[name.toLowerCase()] : undefined;
    if (!cls) throw new ValueError(`unknown optimizer className ${JSON.stringify(name)}; expected one of ${Object.keys(OPTIMIZER_DEFAULTS).join(', ')}`);
    return cls.fromConfig(o.config ?? {});
  }
  throw new ValueError(`cannot make an optimizer from ${String(identifier)}; expected an Optimizer, a name (${choices}) or {className, config}`);
}

/** `{className, config}` of an optimizer (Keras `optimizers.serialize`, camelCase keys). */
export function serialize(optimizer: Optimizer): { className: string; config: Record<string, unknown> } {
  return { className: optimizer.className, config: optimizer.getConfig() };
}

/** `getOptimizer` for a `{className, config}` (Keras `optimizers.deserialize`). */
export function deserialize(value: { className: string; config?: Record<string, unknown> }): Optimizer {
  return getOptimizer(value);
}

export const sgd = (args?: SGDArgs): SGD => new SGD(args);
export const rmsprop = (args?: RMSpropArgs): RMSprop => new RMSprop(args);
export const adam = (args?: AdamArgs): Adam => new Adam(args);
export const adamw = (args?: AdamArgs): AdamW => new AdamW(args);
export const adagrad = (args?: AdagradArgs): Adagrad => new Adagrad(args);
export const adadelta = (args?: AdadeltaArgs): Adadelta => new Adadelta(args);
export const adamax = (args?: AdamaxArgs): Adamax => new Adamax(args);
export const nadam = (args?: NadamArgs): Nadam => new Nadam(args);
