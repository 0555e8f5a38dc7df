/**
 * Weight initialisers with Keras names and defaults. They run in wasm (seeded, f64 math), so a
 * seed gives the same weights in Node and in every browser, in the SIMD and the scalar build.
 */
import { Distribution } from './wasm/abi.js';
import { ValueError } from './wasm/errors.js';
import type { Backend, WasmBuffer } from './wasm/memory.js';

let suspended = 0;

/**
 * Runs `fn` with every layer initializer skipped (new weights stay zero). Loading a model uses it:
 * the weights are about to be overwritten, so no orthogonal or random init should run for them
 * (issue 5; tfjs#245 / #690). Layers still draw their seeds, so the global generator advances as
 * in a normal build.
 */
export function withoutInitializers<T>(fn: () => T): T {
  suspended++;
  try {
    return fn();
  } finally {
    suspended--;
  }
}

/** True inside `withoutInitializers`: layers skip `Initializer.fill` in `build`. */
export function initializersSuspended(): boolean {
  return suspended > 0;
}

export interface InitializerConfig {
  className: string;
  config: Record<string, unknown>;
}

/** Where to write: `length` floats of `buffer` from element `offset`, holding a tensor of `shape`. */
export interface InitTarget {
  backend: Backend;
  buffer: WasmBuffer;
  offset: number;
  shape: readonly number[];
}

export abstract class Initializer {
  abstract readonly className: string;
  /** Fills the target; `seed` is used when the initializer has no seed of its own. */
  abstract fill(target: InitTarget, seed: number): void;
  abstract getConfig(): Record<string, unknown>;
  toJSON(): InitializerConfig {
    return { className: this.className, config: this.getConfig() };
  }
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Keras' fans: 2-D (in, out); higher ranks treat leading axes as the receptive field. */
export function computeFans(shape: readonly number[]): [number, number] {
  if (shape.length === 0) return [1, 1];
  if (shape.length === 1) return [shape[0], shape[0]];
  if (shape.length === 2) return [shape[0], shape[1]];
  const receptive = size(shape.slice(0, -2));
  return [shape[shape.length - 2] * receptive, shape[shape.length - 1] * receptive];
}

function ptrAt(t: InitTarget): number {
  return t.buffer.ptr + t.offset * 4;
}

function random(t: InitTarget, dist: Distribution, a: number, b: number, seed: number): void {
  const n = size(t.shape);
  const s = seed >>> 0;
  const hi = Math.floor(seed / 2 ** 32) >>> 0;
  t.backend.run('initializer', () => t.backend.exports.init_random(ptrAt(t), n, dist, a, b, s, hi));
}

export class Zeros extends Initializer {
  readonly className = 'Zeros';
  fill(t: InitTarget): void {
    t.buffer.f32().fill(0, t.offset, t.offset + size(t.shape));
  }
  getConfig(): Record<string, unknown> {
    return {};
  }
}

export class Ones extends Initializer {
  readonly className = 'Ones';
  fill(t: InitTarget): void {
    t.buffer.f32().fill(1, t.offset, t.offset + size(t.shape));
  }
  getConfig(): Record<string, unknown> {
    return {};
  }
}

export class Constant extends Initializer {
  readonly className = 'Constant';
  readonly value: number;
  constructor(args: { value?: number } = {}) {
    super();
    this.value = args.value ?? 0;
    if (!Number.isFinite(this.value)) throw new ValueError(`Constant initializer: value must be finite, got ${this.value}`);
  }
  fill(t: InitTarget): void {
    t.buffer.f32().fill(this.value, t.offset, t.offset + size(t.shape));
  }
  getConfig(): Record<string, unknown> {
    return { value: this.value };
  }
}

abstract class Seeded extends Initializer {
  readonly seed: number | null;
  constructor(seed?: number | null) {
    super();
    this.seed = seed ?? null;
  }
  protected pick(seed: number): number {
    return this.seed ?? seed;
  }
}

export class RandomUniform extends Seeded {
  readonly className = 'RandomUniform';
  readonly minval: number;
  readonly maxval: number;
  /** Defaults to U(-0.05, 0.05) as Keras. */
  constructor(args: { minval?: number; maxval?: number; seed?: number } = {}) {
    super(args.seed);
    this.minval = args.minval ?? -0.05;
    this.maxval = args.maxval ?? 0.05;
  }
  fill(t: InitTarget, seed: number): void {
    random(t, Distribution.Uniform, this.minval, this.maxval, this.pick(seed));
  }
  getConfig(): Record<string, unknown> {
    return { minval: this.minval, maxval: this.maxval, seed: this.seed };
  }
}

export class RandomNormal extends Seeded {
  readonly className: string = 'RandomNormal';
  protected readonly distribution: Distribution = Distribution.Normal;
  readonly mean: number;
  readonly stddev: number;
  /** Defaults to N(0, 0.05²) as Keras. */
  constructor(args: { mean?: number; stddev?: number; seed?: number } = {}) {
    super(args.seed);
    this.mean = args.mean ?? 0;
    this.stddev = args.stddev ?? 0.05;
  }
  fill(t: InitTarget, seed: number): void {
    random(t, this.distribution, this.mean, this.stddev, this.pick(seed));
  }
  getConfig(): Record<string, unknown> {
    return { mean: this.mean, stddev: this.stddev, seed: this.seed };
  }
}

/** N(mean, stddev²) redrawn beyond two standard deviations (Keras `TruncatedNormal`). */
export class TruncatedNormal extends RandomNormal {
  readonly className: string = 'TruncatedNormal';
  protected readonly distribution: Distribution = Distribution.TruncatedNormal;
}

export type FanMode = 'fanIn' | 'fanOut' | 'fanAvg';
export type VarianceDistribution = 'uniform' | 'truncatedNormal' | 'normal';

export class VarianceScaling extends Seeded {
  className = 'VarianceScaling';
  readonly scale: number;
  readonly mode: FanMode;
  readonly distribution: VarianceDistribution;
  constructor(args: { scale?: number; mode?: FanMode; distribution?: VarianceDistribution; seed?: number } = {}) {
    super(args.seed);
    this.scale = args.scale ?? 1;
    this.mode = args.mode ?? 'fanIn';
    this.distribution = args.distribution ?? 'truncatedNormal';
    if (!(this.scale > 0)) throw new ValueError(`VarianceScaling: scale must be positive, got ${this.scale}`);
  }
  fill(t: InitTarget, seed: number): void {
    const [fanIn, fanOut] = computeFans(t.shape);
    const n = this.mode === 'fanIn' ? fanIn : this.mode === 'fanOut' ? fanOut : (fanIn + fanOut) / 2;
    const variance = this.scale / Math.max(1, n);
    const s = this.pick(seed);
    if (this.distribution === 'uniform') {
      const limit = Math.sqrt(3 * variance);
      random(t, Distribution.Uniform, -limit, limit, s);
    } else if (this.distribution === 'normal') {
      random(t, Distribution.Normal, 0, Math.sqrt(variance), s);
    } else {
      // Keras: the std of a N(0,1) truncated at ±2 is 0.8796…, so scale up to keep the variance.
      random(t, Distribution.TruncatedNormal, 0, Math.sqrt(variance) / 0.8796256610342398, s);
    }
  }
  getConfig(): Record<string, unknown> {
    return { scale: this.scale, mode: this.mode, distribution: this.distribution, seed: this.seed };
  }
}

/** A named VarianceScaling preset (GlorotUniform = scale 1, fanAvg, uniform; …). */
export type VariancePreset = new (args?: { seed?: number }) => VarianceScaling;

function variance(className: string, scale: number, mode: FanMode, distribution: VarianceDistribution): VariancePreset {
  return class extends VarianceScaling {
    constructor(args: { seed?: number } = {}) {
      super({ scale, mode, distribution, seed: args.seed });
      this.className = className;
    }
    getConfig(): Record<string, unknown> {
      return { seed: this.seed };
    }
  };
}

export const GlorotUniform = variance('GlorotUniform', 1, 'fanAvg', 'uniform');
export const GlorotNormal = variance('GlorotNormal', 1, 'fanAvg', 'truncatedNormal');
export const HeUniform = variance('HeUniform', 2, 'fanIn', 'uniform');
export const HeNormal = variance('HeNormal', 2, 'fanIn', 'truncatedNormal');
export const LecunUniform = variance('LecunUniform', 1, 'fanIn', 'uniform');
export const LecunNormal = variance('LecunNormal', 1, 'fanIn', 'truncatedNormal');

export class Orthogonal extends Seeded {
  readonly className = 'Orthogonal';
  readonly gain: number;
  /** Keras `Orthogonal`; gain defaults to 1. Runs a Householder QR in wasm. */
  constructor(args: { gain?: number; seed?: number } = {}) {
    super(args.seed);
    this.gain = args.gain ?? 1;
  }
  fill(t: InitTarget, seed: number): void {
    if (t.shape.length < 2) throw new ValueError(`Orthogonal initializer needs a matrix, got shape (${t.shape.join(', ')})`);
    const rows = size(t.shape.slice(0, -1));
    const cols = t.shape[t.shape.length - 1];
    const s = this.pick(seed);
    t.backend.run('Orthogonal initializer', () => t.backend.exports.init_orthogonal(ptrAt(t), rows, cols, this.gain, s >>> 0, Math.floor(s / 2 ** 32) >>> 0));
  }
  getConfig(): Record<string, unknown> {
    return { gain: this.gain, seed: this.seed };
  }
}

const BY_NAME: Record<string, () => Initializer> = {
  zeros: () => new Zeros(),
  ones: () => new Ones(),
  glorotUniform: () => new GlorotUniform(),
  glorotNormal: () => new GlorotNormal(),
  heUniform: () => new HeUniform(),
  heNormal: () => new HeNormal(),
  lecunUniform: () => new LecunUniform(),
  lecunNormal: () => new LecunNormal(),
  orthogonal: () => new Orthogonal(),
  randomUniform: () => new RandomUniform(),
  randomNormal: () => new RandomNormal(),
  truncatedNormal: () => new TruncatedNormal(),
};

const BY_CLASS: Record<string, (config: Record<string, unknown>) => Initializer> = {
  Zeros: () => new Zeros(),
  Ones: () => new Ones(),
  Constant: (c) => new Constant(c as { value?: number }),
  RandomUniform: (c) => new RandomUniform(c as { minval?: number }),
  RandomNormal: (c) => new RandomNormal(c as { mean?: number }),
  TruncatedNormal: (c) => new TruncatedNormal(c as { mean?: number }),
  VarianceScaling: (c) => new VarianceScaling(c as { scale?: number }),
  GlorotUniform: (c) => new GlorotUniform(c as { seed?: number }),
  GlorotNormal: (c) => new GlorotNormal(c as { seed?: number }),
  HeUniform: (c) => new HeUniform(c as { seed?: number }),
  HeNormal: (c) => new HeNormal(c as { seed?: number }),
  LecunUniform: (c) => new LecunUniform(c as { seed?: number }),
  LecunNormal: (c) => new LecunNormal(c as { seed?: number }),
  Orthogonal: (c) => new Orthogonal(c as { gain?: number }),
};

/**
 * An initializer by name ('glorotUniform', 'orthogonal', 'zeros', ...: camelCase or Keras'
 * snake_case), as a `{className, config}` object, or an instance.
 */
export type InitializerIdentifier = string | Initializer | InitializerConfig;

/** Resolves 'glorotUniform' (or snake_case 'glorot_uniform'), {className, config} or an instance. */
export function getInitializer(id: InitializerIdentifier | string, where: string): Initializer {
  if (id instanceof Initializer) return id;
  if (typeof id === 'string') {
    const camel = id.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    const make = BY_NAME[camel];
    if (!make) throw new ValueError(`${where}: unknown initializer '${id}'; expected one of ${Object.keys(BY_NAME).join(', ')}`);
    return make();
  }
  const make = BY_CLASS[id.className];
  if (!make) throw new ValueError(`${where}: unknown initializer class '${id.className}'; expected one of ${Object.keys(BY_CLASS).join(', ')}`);
  return make(id.config ?? {});
}

/** The serialisable form getConfig() reports. */
export function serializeInitializer(init: Initializer): InitializerConfig {
  return init.toJSON();
}

/** Mixes a layer seed with a weight index, so kernel and recurrent kernel differ (SplitMix32-ish). */
export function deriveSeed(seed: number, index: number): number {
  let z = (Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(index + 1, 0xc2b2ae35)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x7feb352d) >>> 0;
  z = Math.imul(z ^ (z >>> 15), 0x846ca68b) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}
