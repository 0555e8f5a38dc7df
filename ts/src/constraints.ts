/**
 * Weight constraints (Keras `maxNorm`, `nonNeg`, `unitNorm`, `minMaxNorm`): projections applied to
 * a weight right after each optimizer update. Norms run over `axis` (Keras default 0: for a
 * kernel (in, out), the norm of each output unit's incoming weights).
 */
import { ValueError } from './wasm/errors.js';

/** Keras `backend.epsilon()`. */
const EPSILON = 1e-7;

export interface ConstraintConfig {
  className: string;
  config: Record<string, unknown>;
}

export abstract class Constraint {
  abstract readonly className: string;
  /** Projects `w[offset .. offset + size)`, a tensor of `shape`, in place. */
  abstract apply(w: Float32Array, shape: readonly number[], offset?: number): void;
  abstract getConfig(): Record<string, unknown>;
  toJSON(): ConstraintConfig {
    return { className: this.className, config: this.getConfig() };
  }
}

/** Calls `scale(norm)` per slice along `axis` and multiplies the slice by the factor it returns. */
function rescaleAlongAxis(w: Float32Array, shape: readonly number[], offset: number, axis: number, factor: (norm: number) => number): void {
  const rank = shape.length;
  const ax = axis < 0 ? axis + rank : axis;
  if (rank === 0) return;
  if (ax < 0 || ax >= rank) throw new ValueError(`constraint axis ${axis} is out of range for a weight of rank ${rank}`);
  const n = shape[ax];
  const inner = shape.slice(ax + 1).reduce((a, b) => a * b, 1);
  const outer = shape.slice(0, ax).reduce((a, b) => a * b, 1);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = offset + o * n * inner + i;
      let s = 0;
      for (let k = 0; k < n; k++) s += w[base + k * inner] ** 2;
      const f = factor(Math.sqrt(s));
      for (let k = 0; k < n; k++) w[base + k * inner] = Math.fround(w[base + k * inner] * f);
    }
  }
}

/** w · clip(‖w‖, 0, maxValue) / (ε + ‖w‖). */
export class MaxNorm extends Constraint {
  readonly className = 'MaxNorm';
  readonly maxValue: number;
  readonly axis: number;
  constructor(args: { maxValue?: number; axis?: number } = {}) {
    super();
    this.maxValue = args.maxValue ?? 2;
    this.axis = args.axis ?? 0;
  }
  apply(w: Float32Array, shape: readonly number[], offset = 0): void {
    rescaleAlongAxis(w, shape, offset, this.axis, (norm) => Math.min(norm, this.maxValue) / (EPSILON + norm));
  }
  getConfig(): Record<string, unknown> {
    return { maxValue: this.maxValue, axis: this.axis };
  }
}

/** w · (w ≥ 0). */
export class NonNeg extends Constraint {
  readonly className = 'NonNeg';
  apply(w: Float32Array, shape: readonly number[], offset = 0): void {
    const n = shape.reduce((a, b) => a * b, 1);
    for (let i = offset; i < offset + n; i++) if (!(w[i] >= 0)) w[i] = 0;
  }
  getConfig(): Record<string, unknown> {
    return {};
  }
}

/** w / (ε + ‖w‖). */
export class UnitNorm extends Constraint {
  readonly className = 'UnitNorm';
  readonly axis: number;
  constructor(args: { axis?: number } = {}) {
    super();
    this.axis = args.axis ?? 0;
  }
  apply(w: Float32Array, shape: readonly number[], offset = 0): void {
    rescaleAlongAxis(w, shape, offset, this.axis, (norm) => 1 / (EPSILON + norm));
  }
  getConfig(): Record<string, unknown> {
    return { axis: this.axis };
  }
}

/** w · (rate · clip(‖w‖, min, max) + (1 − rate) · ‖w‖) / (ε + ‖w‖). */
export class MinMaxNorm extends Constraint {
  readonly className = 'MinMaxNorm';
  readonly minValue: number;
  readonly maxValue: number;
  readonly rate: number;
  readonly axis: number;
  constructor(args: { minValue?: number; maxValue?: number; rate?: number; axis?: number } = {}) {
    super();
    this.minValue = args.minValue ?? 0;
    this.maxValue = args.maxValue ?? 1;
    this.rate = args.rate ?? 1;
    this.axis = args.axis ?? 0;
    if (this.minValue > this.maxValue) throw new ValueError(`minMaxNorm: minValue ${this.minValue} exceeds maxValue ${this.maxValue}`);
  }
  apply(w: Float32Array, shape: readonly number[], offset = 0): void {
    rescaleAlongAxis(w, shape, offset, this.axis, (norm) => {
      const desired = this.rate * Math.min(Math.max(norm, this.minValue), this.maxValue) + (1 - this.rate) * norm;
      return desired / (EPSILON + norm);
    });
  }
  getConfig(): Record<string, unknown> {
    return { minValue: this.minValue, maxValue: this.maxValue, rate: this.rate, axis: this.axis };
  }
}

export const maxNorm = (args?: { maxValue?: number; axis?: number }): Constraint => new MaxNorm(args);
export const nonNeg = (): Constraint => new NonNeg();
export const unitNorm = (args?: { axis?: number }): Constraint => new UnitNorm(args);
export const minMaxNorm = (args?: { minValue?: number; maxValue?: number; rate?: number; axis?: number }): Constraint => new MinMaxNorm(args);

export type ConstraintIdentifier = Constraint | 'maxNorm' | 'nonNeg' | 'unitNorm' | 'minMaxNorm' | ConstraintConfig;

export function getConstraint(id: ConstraintIdentifier | null | undefined, where: string): Constraint | null {
  if (id === null || id === undefined) return null;
  if (id instanceof Constraint) return id;
  const name = typeof id === 'string' ? id.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()) : id.className;
  const config = typeof id === 'string' ? {} : id.config ?? {};
  switch (name.charAt(0).toLowerCase() + name.slice(1)) {
    case 'maxNorm':
      return new MaxNorm(config);
    case 'nonNeg':
      return new NonNeg();
    case 'unitNorm':
      return new UnitNorm(config);
    case 'minMaxNorm':
      return new MinMaxNorm(config);
    default:
      throw new ValueError(`${where}: unknown constraint '${typeof id === 'string' ? id : id.className}'; expected maxNorm, nonNeg, unitNorm or minMaxNorm`);
  }
}
