/**
 * Learning-rate schedules with the formulas and argument names of Keras 3
 * (`keras/src/optimizers/schedules/learning_rate_schedule.py`), camelCased. A schedule maps the
 * optimizer's step (Keras `iterations`: 0 before the first update) to a learning rate; pass one as
 * an optimizer's `learningRate`.
 *
 * Porting note: Keras evaluates schedules in the dtype of `initial_learning_rate` (float32 by
 * default); here they are float64, and the kernels round the rate to float32 once.
 */
import { ValueError } from '../wasm/errors.js';

/** Base of every schedule (Keras `LearningRateSchedule`). */
export abstract class LearningRateSchedule {
  /** Keras class name (`ExponentialDecay`). */
  abstract readonly className: string;
  /** The learning rate at optimizer step `step` (≥ 0). */
  abstract call(step: number): number;
  abstract getConfig(): Record<string, unknown>;
}

function positive(cls: string, arg: string, v: number): void {
  if (!(typeof v === 'number' && v > 0 && Number.isFinite(v))) {
    throw new ValueError(`${cls}: argument \`${arg}\` must be > 0. Received: ${arg}=${v}`);
  }
}

function finite(cls: string, arg: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ValueError(`${cls}: argument \`${arg}\` must be a finite number. Received: ${arg}=${String(v)}`);
  return v;
}

function checkStep(cls: string, step: number): void {
  if (typeof step !== 'number' || !(step >= 0) || !Number.isFinite(step)) {
    throw new ValueError(`${cls}: step must be a finite number ≥ 0 (the optimizer's iterations), got ${step}`);
  }
}

// ---------------------------------------------------------------------------------------------

/** Arguments shared by the two decays driven by `step / decaySteps`. */
export interface StepDecayArgs {
  initialLearningRate: number;
  /** Must be > 0. */
  decaySteps: number;
  decayRate: number;
  /** Decay at discrete intervals (`floor(step / decaySteps)`). Defaults to false. */
  staircase?: boolean;
  /** Defaults to the class name ('ExponentialDecay', 'InverseTimeDecay'). */
  name?: string;
}

export type ExponentialDecayArgs = StepDecayArgs;
export type InverseTimeDecayArgs = StepDecayArgs;

/**
 * ExponentialDecay and InverseTimeDecay: the same arguments, checks and config, and the same
 * progress `p = step / decaySteps` (floored with `staircase`); only the formula of `p` differs.
 */
abstract class StepDecay extends LearningRateSchedule {
  readonly initialLearningRate: number;
  readonly decaySteps: number;
  readonly decayRate: number;
  readonly staircase: boolean;
  readonly name: string;

  /** `className` is passed in: a subclass' own fields are not set yet while this runs. */
  constructor(className: string, args: StepDecayArgs) {
    super();
    this.initialLearningRate = finite(className, 'initialLearningRate', args.initialLearningRate);
    positive(className, 'decaySteps', args.decaySteps);
    this.decaySteps = args.decaySteps;
    this.decayRate = finite(className, 'decayRate', args.decayRate);
    this.staircase = args.staircase ?? false;
    this.name = args.name ?? className;
  }

  /** `step / decaySteps`, floored if `staircase`. */
  protected progress(step: number): number {
    checkStep(this.className, step);
    const p = step / this.decaySteps;
    return this.staircase ? Math.floor(p) : p;
  }

  getConfig(): Record<string, unknown> {
    return { initialLearningRate: this.initialLearningRate, decaySteps: this.decaySteps, decayRate: this.decayRate, staircase: this.staircase, name: this.name };
  }
}

/** `initialLearningRate · decayRate^(step / decaySteps)`, the exponent floored if `staircase`. */
export class ExponentialDecay extends StepDecay {
  readonly className = 'ExponentialDecay';

  constructor(args: ExponentialDecayArgs) {
    super('ExponentialDecay', args);
  }

  call(step: number): number {
    return this.initialLearningRate * this.decayRate ** this.progress(step);
  }
}

// ---------------------------------------------------------------------------------------------

export interface PiecewiseConstantDecayArgs {
  /** Strictly increasing step boundaries. */
  boundaries: number[];
  /** One more value than boundaries. */
  values: number[];
  /** Defaults to 'PiecewiseConstant'. */
  name?: string;
}

/**
 * `values[0]` while `step ≤ boundaries[0]`, `values[i]` while `boundaries[i−1] < step ≤ boundaries[i]`,
 * `values[last]` after the last boundary.
 */
export class PiecewiseConstantDecay extends LearningRateSchedule {
  readonly className = 'PiecewiseConstantDecay';
  readonly boundaries: number[];
  readonly values: number[];
  readonly name: string;

  constructor(args: PiecewiseConstantDecayArgs) {
    super();
    const { boundaries, values } = args;
    if (!Array.isArray(boundaries) || !Array.isArray(values) || boundaries.length !== values.length - 1) {
      throw new ValueError(
        `PiecewiseConstantDecay: the length of boundaries should be 1 less than the length of values. Received: boundaries of length ${boundaries?.length} and values of length ${values?.length}`,
      );
    }
    boundaries.forEach((b, i) => finite(this.className, `boundaries[${i}]`, b));
    values.forEach((v, i) => finite(this.className, `values[${i}]`, v));
    for (let i = 1; i < boundaries.length; i++) {
      if (!(boundaries[i] > boundaries[i - 1])) throw new ValueError(`PiecewiseConstantDecay: boundaries must be strictly increasing, got ${JSON.stringify(boundaries)}`);
    }
    this.boundaries = [...boundaries];
    this.values = [...values];
    this.name = args.name ?? 'PiecewiseConstant';
  }

  call(step: number): number {
    checkStep(this.className, step);
    const i = this.boundaries.findIndex((b) => step <= b);
    return this.values[i === -1 ? this.values.length - 1 : i];
  }

  getConfig(): Record<string, unknown> {
    return { boundaries: [...this.boundaries], values: [...this.values], name: this.name };
  }
}

// ---------------------------------------------------------------------------------------------

export interface PolynomialDecayArgs {
  initialLearningRate: number;
  /** Must be > 0. */
  decaySteps: number;
  /** Defaults to 0.0001. */
  endLearningRate?: number;
  /** Defaults to 1.0. */
  power?: number;
  /** Restart the decay with the next multiple of decaySteps after it ends. Defaults to false. */
  cycle?: boolean;
  /** Defaults to 'PolynomialDecay'. */
  name?: string;
}

/**
 * `(initial − end) · (1 − step / decaySteps)^power + end`, with step capped at decaySteps; with
 * `cycle`, decaySteps is instead multiplied by `ceil(step / decaySteps)` (1 at step 0).
 */
export class PolynomialDecay extends LearningRateSchedule {
  readonly className = 'PolynomialDecay';
  readonly initialLearningRate: number;
  readonly decaySteps: number;
  readonly endLearningRate: number;
  readonly power: number;
  readonly cycle: boolean;
  readonly name: string;

  constructor(args: PolynomialDecayArgs) {
    super();
    this.initialLearningRate = finite(this.className, 'initialLearningRate', args.initialLearningRate);
    positive(this.className, 'decaySteps', args.decaySteps);
    this.decaySteps = args.decaySteps;
    this.endLearningRate = finite(this.className, 'endLearningRate', args.endLearningRate ?? 0.0001);
    this.power = finite(this.className, 'power', args.power ?? 1.0);
    this.cycle = args.cycle ?? false;
    this.name = args.name ?? 'PolynomialDecay';
  }

  call(step: number): number {
    checkStep(this.className, step);
    let decaySteps = this.decaySteps;
    let s = step;
    if (this.cycle) {
      decaySteps *= step === 0 ? 1 : Math.ceil(step / this.decaySteps);
    } else {
      s = Math.min(s, decaySteps);
    }
    const p = s / decaySteps;
    return (this.initialLearningRate - this.endLearningRate) * (1 - p) ** this.power + this.endLearningRate;
  }

  getConfig(): Record<string, unknown> {
    return {
      initialLearningRate: this.initialLearningRate,
      decaySteps: this.decaySteps,
      endLearningRate: this.endLearningRate,
      power: this.power,
      cycle: this.cycle,
      name: this.name,
    };
  }
}

// ---------------------------------------------------------------------------------------------

/** `initialLearningRate / (1 + decayRate · step / decaySteps)`, the ratio floored if `staircase`. */
export class InverseTimeDecay extends StepDecay {
  readonly className = 'InverseTimeDecay';

  constructor(args: InverseTimeDecayArgs) {
    super('InverseTimeDecay', args);
  }

  call(step: number): number {
    return this.initialLearningRate / (1 + this.decayRate * this.progress(step));
  }
}

// ---------------------------------------------------------------------------------------------

export interface CosineDecayArgs {
  initialLearningRate: number;
  /** Steps of the cosine decay (after the warmup). Must be > 0. */
  decaySteps: number;
  /** Final rate as a fraction of the decay's starting rate. Defaults to 0. */
  alpha?: number;
  /** Defaults to 'CosineDecay'. */
  name?: string;
  /** Rate reached at the end of a linear warmup from initialLearningRate; null: no warmup. Defaults to null. */
  warmupTarget?: number | null;
  /** Steps of the warmup. Defaults to 0. */
  warmupSteps?: number;
}

/**
 * Optional linear warmup from `initialLearningRate` to `warmupTarget` over `warmupSteps`, then
 * `start · ((1 − alpha) · 0.5 · (1 + cos(π · s / decaySteps)) + alpha)` with s = min(step − warmupSteps,
 * decaySteps) and start = warmupTarget, or initialLearningRate without warmup.
 */
export class CosineDecay extends LearningRateSchedule {
  readonly className = 'CosineDecay';
  readonly initialLearningRate: number;
  readonly decaySteps: number;
  readonly alpha: number;
  readonly name: string;
  readonly warmupTarget: number | null;
  readonly warmupSteps: number;

  constructor(args: CosineDecayArgs) {
    super();
    this.initialLearningRate = finite(this.className, 'initialLearningRate', args.initialLearningRate);
    positive(this.className, 'decaySteps', args.decaySteps);
    this.decaySteps = args.decaySteps;
    this.alpha = finite(this.className, 'alpha', args.alpha ?? 0);
    this.name = args.name ?? 'CosineDecay';
    this.warmupTarget = args.warmupTarget == null ? null : finite(this.className, 'warmupTarget', args.warmupTarget);
    this.warmupSteps = finite(this.className, 'warmupSteps', args.warmupSteps ?? 0);
    if (this.warmupSteps < 0) throw new ValueError(`CosineDecay: argument \`warmupSteps\` must be ≥ 0. Received: warmupSteps=${this.warmupSteps}`);
  }

  private decay(step: number, from: number): number {
    const cosine = 0.5 * (1 + Math.cos(Math.PI * (step / this.decaySteps)));
    return from * ((1 - this.alpha) * cosine + this.alpha);
  }

  call(step: number): number {
    checkStep(this.className, step);
    if (this.warmupTarget === null) return this.decay(Math.min(step, this.decaySteps), this.initialLearningRate);
    const s = Math.min(step, this.decaySteps + this.warmupSteps);
    if (s < this.warmupSteps) {
      return (this.warmupTarget - this.initialLearningRate) * (s / this.warmupSteps) + this.initialLearningRate;
    }
    return this.decay(s - this.warmupSteps, this.warmupTarget);
  }

  getConfig(): Record<string, unknown> {
    return {
      initialLearningRate: this.initialLearningRate,
      decaySteps: this.decaySteps,
      alpha: this.alpha,
      name: this.name,
      warmupTarget: this.warmupTarget,
      warmupSteps: this.warmupSteps,
    };
  }
}

// ---------------------------------------------------------------------------------------------

export interface CosineDecayRestartsArgs {
  initialLearningRate: number;
  /** Steps of the first period. Must be > 0. */
  firstDecaySteps: number;
  /** Each period is tMul times longer than the one before. Defaults to 2.0. */
  tMul?: number;
  /** Each period starts at mMul times the previous period's starting rate. Defaults to 1.0. */
  mMul?: number;
  /** Minimum rate as a fraction of initialLearningRate. Defaults to 0. */
  alpha?: number;
  /** Defaults to 'SGDRDecay'. */
  name?: string;
}

/**
 * SGDR (Loshchilov & Hutter): in period i (lengths firstDecaySteps · tMulⁱ), with f the fraction
 * of that period done, `initial · ((1 − alpha) · mMulⁱ · 0.5 · (1 + cos(π f)) + alpha)`.
 */
export class CosineDecayRestarts extends LearningRateSchedule {
  readonly className = 'CosineDecayRestarts';
  readonly initialLearningRate: number;
  readonly firstDecaySteps: number;
  readonly tMul: number;
  readonly mMul: number;
  readonly alpha: number;
  readonly name: string;

  constructor(args: CosineDecayRestartsArgs) {
    super();
    this.initialLearningRate = finite(this.className, 'initialLearningRate', args.initialLearningRate);
    positive(this.className, 'firstDecaySteps', args.firstDecaySteps);
    this.firstDecaySteps = args.firstDecaySteps;
    this.tMul = args.tMul ?? 2.0;
    positive(this.className, 'tMul', this.tMul);
    this.mMul = finite(this.className, 'mMul', args.mMul ?? 1.0);
    this.alpha = finite(this.className, 'alpha', args.alpha ?? 0);
    this.name = args.name ?? 'SGDRDecay';
  }

  call(step: number): number {
    checkStep(this.className, step);
    const t = this.tMul;
    let fraction = step / this.firstDecaySteps;
    let restart: number;
    if (t === 1) {
      restart = Math.floor(fraction);
      fraction -= restart;
    } else {
      // Keras' closed form: periods 1, t, t², … (in units of firstDecaySteps) end at (1 − tⁱ)/(1 − t).
      const ends = (i: number): number => (1 - t ** i) / (1 - t);
      restart = Math.floor(Math.log(1 - fraction * (1 - t)) / Math.log(t));
      // Porting note: the logarithms can land a hair on the wrong side of a restart (Keras, in
      // float32, more so); move to the period that really contains the step. NaN (shrinking periods
      // that have all ended, tMul < 1) stays NaN, as in Keras.
      if (Number.isFinite(restart)) {
        while (restart > 0 && ends(restart) > fraction) restart--;
        while (ends(restart + 1) <= fraction) restart++;
      }
      fraction = (fraction - ends(restart)) / t ** restart;
    }
    const cosine = 0.5 * this.mMul ** restart * (1 + Math.cos(Math.PI * fraction));
    return this.initialLearningRate * ((1 - this.alpha) * cosine + this.alpha);
  }

  getConfig(): Record<string, unknown> {
    return {
      initialLearningRate: this.initialLearningRate,
      firstDecaySteps: this.firstDecaySteps,
      tMul: this.tMul,
      mMul: this.mMul,
      alpha: this.alpha,
      name: this.name,
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Factories (tfjs style) and (de)serialization

export const exponentialDecay = (args: ExponentialDecayArgs): ExponentialDecay => new ExponentialDecay(args);
export const piecewiseConstantDecay = (args: PiecewiseConstantDecayArgs): PiecewiseConstantDecay => new PiecewiseConstantDecay(args);
export const polynomialDecay = (args: PolynomialDecayArgs): PolynomialDecay => new PolynomialDecay(args);
export const inverseTimeDecay = (args: InverseTimeDecayArgs): InverseTimeDecay => new InverseTimeDecay(args);
export const cosineDecay = (args: CosineDecayArgs): CosineDecay => new CosineDecay(args);
export const cosineDecayRestarts = (args: CosineDecayRestartsArgs): CosineDecayRestarts => new CosineDecayRestarts(args);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const CLASSES: Record<string, new (args: any) => LearningRateSchedule> = {
  ExponentialDecay,
  PiecewiseConstantDecay,
  PolynomialDecay,
  InverseTimeDecay,
  CosineDecay,
  CosineDecayRestarts,
};

/** `{className, config}` of a schedule (Keras `schedules.serialize`, camelCase keys). */
export function serialize(schedule: LearningRateSchedule): { className: string; config: Record<string, unknown> } {
  return { className: schedule.className, config: schedule.getConfig() };
}

/** `beta_1` → `beta1`, `initial_learning_rate` → `initialLearningRate`: Keras' snake_case keys accepted. */
export function camelKeys(config: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config)) out[k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase())] = v;
  return out;
}

/** A schedule from `{className, config}` (Keras `schedules.deserialize`; snake_case keys accepted). */
export function deserialize(value: { className?: string; class_name?: string; config?: Record<string, unknown> }): LearningRateSchedule {
  const name = value?.className ?? value?.class_name;
  const cls = name === undefined ? undefined : CLASSES[name];
  if (!cls) {
    throw new ValueError(`unknown learning rate schedule ${JSON.stringify(name)}; expected one of ${Object.keys(CLASSES).join(', ')}`);
  }
  return new cls(camelKeys(value.config ?? {}));
}
