/**
 * `layers.batchNormalization` and `layers.layerNormalization`: Keras 3 semantics over the last
 * (feature) axis, on (batch, features) or (batch, time, features) — every leading axis is folded
 * into rows for the wasm kernels (`crate/src/kernels/norm.rs`, statistics in f64).
 *
 * Keras 3 behaviour kept (keras/src/layers/normalization/batch_normalization.py):
 * - training AND trainable: batch statistics (biased variance), then
 *   `moving = moving·momentum + batch·(1 − momentum)` (f32); otherwise the moving statistics.
 *   A frozen BatchNormalization (`trainable: false`) runs in inference mode, even in training.
 * - a mask (one entry per row: (batch, time) for (batch, time, features)) leaves masked rows out of
 *   the batch statistics — μ = Σ w x / (Σ w + 1e-7) — but they are still normalized, and the mask
 *   passes through to the next layer.
 * - LayerNormalization (epsilon 1e-3, computed in float32 by Keras 3 too) passes masks through
 *   untouched; each row is normalized on its own.
 */
import { getBackend } from '../engine.js';
import { Tensor, fmtShape } from '../tensor.js';
import { ValueError } from '../wasm/errors.js';
import { ReusableBuffer, WasmBuffer } from '../wasm/memory.js';
import { Initializer, InitializerIdentifier, getInitializer, serializeInitializer } from '../initializers.js';
import { RegularizerIdentifier, getRegularizer, Regularizer } from '../regularizers.js';
import { Constraint, ConstraintIdentifier, getConstraint } from '../constraints.js';
import { Layer, LayerArgs, NodeContext, Shape } from './Layer.js';

/** What both normalization layers share: gamma/beta arguments. */
export interface NormalizationLayerArgs extends LayerArgs {
  /** The feature axis; only the last axis is supported (-1 or rank − 1). Defaults to -1. */
  axis?: number;
  /** Added to the variance. Defaults to 1e-3 (Keras 3 and tfjs, both layers). */
  epsilon?: number;
  /** Add the learned offset `beta`. Defaults to true. */
  center?: boolean;
  /** Multiply by the learned `gamma`. Defaults to true. */
  scale?: boolean;
  /** Defaults to 'zeros'. */
  betaInitializer?: InitializerIdentifier;
  /** Defaults to 'ones'. */
  gammaInitializer?: InitializerIdentifier;
  /** Defaults to none. */
  betaRegularizer?: RegularizerIdentifier | null;
  /** Defaults to none. */
  gammaRegularizer?: RegularizerIdentifier | null;
  /** Defaults to none. */
  betaConstraint?: ConstraintIdentifier | null;
  /** Defaults to none. */
  gammaConstraint?: ConstraintIdentifier | null;
}

export interface BatchNormalizationLayerArgs extends NormalizationLayerArgs {
  /** Momentum of the moving statistics. Defaults to 0.99. */
  momentum?: number;
  /** Defaults to 'zeros'. */
  movingMeanInitializer?: InitializerIdentifier;
  /** Defaults to 'ones'. */
  movingVarianceInitializer?: InitializerIdentifier;
}

export interface LayerNormalizationLayerArgs extends NormalizationLayerArgs {
  /** Keras 3 `rms_scaling`: not supported (throws when true). Defaults to false. */
  rmsScaling?: boolean;
}

export const BATCH_NORMALIZATION_DEFAULTS = {
  axis: -1,
  momentum: 0.99,
  epsilon: 1e-3,
  center: true,
  scale: true,
  betaInitializer: 'zeros',
  gammaInitializer: 'ones',
  movingMeanInitializer: 'zeros',
  movingVarianceInitializer: 'ones',
} as const;

export const LAYER_NORMALIZATION_DEFAULTS = { axis: -1, epsilon: 1e-3, center: true, scale: true, betaInitializer: 'zeros', gammaInitializer: 'ones' } as const;

/** Gradients of an eager `backward` call. */
export interface NormalizationGradients {
  /** dL/dx, the input's shape. */
  dInput: Tensor;
  /** dL/dweights in getWeights() order (non-trainable moving statistics get zeros). */
  grads: Tensor[];
}

interface NormCache {
  tx: ReusableBuffer;
  tmask: ReusableBuffer;
  /** BatchNormalization: (C) mean and variance used; LayerNormalization: (N) mean and rstd. */
  s1: ReusableBuffer;
  s2: ReusableBuffer;
  pending: { rows: number; shape: number[]; batchStats: boolean; hasMask: boolean } | null;
}

/** The shared machinery: args, gamma/beta weights, per-node caches, eager backward. */
abstract class NormalizationBase extends Layer {
  readonly axis: number;
  readonly epsilon: number;
  readonly center: boolean;
  readonly scale: boolean;
  readonly betaInitializer: Initializer;
  readonly gammaInitializer: Initializer;
  protected readonly betaRegularizer: Regularizer | null;
  protected readonly gammaRegularizer: Regularizer | null;
  protected readonly betaConstraint: Constraint | null;
  protected readonly gammaConstraint: Constraint | null;
  protected features = 0;
  protected readonly buf: Record<string, ReusableBuffer> = {};
  /** One training cache per graph node (0 = eager calls). */
  protected readonly caches = new Map<number, NormCache>();

  constructor(args: NormalizationLayerArgs, prefix: string, what: string) {
    super(args, prefix);
    this.axis = args.axis ?? -1;
    if (!Number.isInteger(this.axis)) throw new ValueError(`${what}: axis must be an integer, got ${args.axis}`);
    this.epsilon = args.epsilon ?? 1e-3;
    if (!(this.epsilon >= 0) || !Number.isFinite(this.epsilon)) throw new ValueError(`${what}: epsilon must be finite and >= 0, got ${args.epsilon}`);
    this.center = args.center ?? true;
    this.scale = args.scale ?? true;
    this.betaInitializer = getInitializer(args.betaInitializer ?? 'zeros', `${what} betaInitializer`);
    this.gammaInitializer = getInitializer(args.gammaInitializer ?? 'ones', `${what} gammaInitializer`);
    this.betaRegularizer = getRegularizer(args.betaRegularizer, `${what} betaRegularizer`);
    this.gammaRegularizer = getRegularizer(args.gammaRegularizer, `${what} gammaRegularizer`);
    this.betaConstraint = getConstraint(args.betaConstraint, `${what} betaConstraint`);
    this.gammaConstraint = getConstraint(args.gammaConstraint, `${what} gammaConstraint`);
    this.supportsMasking = true;
  }

  /** Checks the axis against the input rank and records the feature size; declares gamma, beta. */
  protected buildAffine(inputShape: Shape | Shape[]): void {
    if (Array.isArray(inputShape[0])) throw new ValueError(`${this.className} '${this.name}' takes one input, got ${inputShape.length}`);
    const shape = inputShape as Shape;
    const rank = shape.length;
    const ax = this.axis < 0 ? this.axis + rank : this.axis;
    if (rank < 2 || ax !== rank - 1) {
      throw new ValueError(
        `${this.className} '${this.name}': only the last axis can be normalized (axis -1 on (batch, ..., features)); got axis ${this.axis} for input ${fmtShape(shape)}. Move the feature axis last`,
      );
    }
    const c = shape[rank - 1];
    if (c === null || !Number.isInteger(c) || c < 1) throw new ValueError(`${this.className} '${this.name}': the feature axis must have a known size, got ${fmtShape(shape)}`);
    this.features = c;
    if (this.scale) this.addWeight('gamma', [c], this.gammaInitializer, { regularizer: this.gammaRegularizer, constraint: this.gammaConstraint });
    if (this.center) this.addWeight('beta', [c], this.betaInitializer, { regularizer: this.betaRegularizer, constraint: this.betaConstraint });
  }

  ensureBuilt(shapes: Shape[]): void {
    const was = this._built;
    super.ensureBuilt(shapes);
    // A layer with center and scale off has no weights, so no allocation picked the backend.
    this.backend ??= getBackend();
    if (!was && this._built) for (const name of ['x', 'y', 'dy', 'dx', 's1', 's2']) this.buf[name] = new ReusableBuffer(this.backend!);
  }

  weightsChanged(): void {
    // The caches hold only this layer's inputs and statistics: a new gamma is read at backward.
  }

  protected cache(node: number): NormCache {
    let c = this.caches.get(node);
    if (!c) {
      const b = this.backend!;
      c = { tx: new ReusableBuffer(b), tmask: new ReusableBuffer(b, 'uint8'), s1: new ReusableBuffer(b), s2: new ReusableBuffer(b), pending: null };
      this.caches.set(node, c);
    }
    return c;
  }

  /** Checks x (float32, (..., C)); returns the row count. */
  protected checkInput(x: Tensor): number {
    if (!(x instanceof Tensor)) throw new ValueError(`${this.className} '${this.name}'.apply expects a Tensor; make one with tensor(array)`);
    if (x.rank < 2 || x.shape[x.rank - 1] !== this.features) {
      throw new ValueError(`${this.className} '${this.name}' expects input (batch, ..., ${this.features}), got ${fmtShape(x.shape)}`);
    }
    if (x.dtype !== 'float32') throw new ValueError(`${this.className} '${this.name}' expects float32 input, got ${x.dtype}`);
    const rows = x.size / this.features;
    if (rows < 1) throw new ValueError(`${this.className} '${this.name}': empty input ${fmtShape(x.shape)}`);
    return rows;
  }

  /** Gradients of the node's last training forward; weight gradients ACCUMULATE. Returns [dx]. */
  backwardNode(dOutputs: (Tensor | null)[], ctx: NodeContext): (Tensor | null)[] {
    return this.runBackward(dOutputs[0] ?? null, ctx.node, false);
  }

  private runBackward(dOutput: Tensor | null, node: number, zeroFirst: boolean): (Tensor | null)[] {
    this.assertBuilt('backward()');
    const tc = this.caches.get(node);
    const p = tc?.pending;
    if (!tc || !p) throw new ValueError(`${this.className} '${this.name}': backward() needs a preceding apply(x, {training: true})`);
    if (!dOutput) return [null];
    if (dOutput.rank !== p.shape.length || dOutput.shape.some((v, i) => v !== p.shape[i])) {
      throw new ValueError(`${this.className} '${this.name}': dOutput must have the output's shape ${fmtShape(p.shape)}, got ${fmtShape(dOutput.shape)}`);
    }
    const n = p.rows * this.features;
    const dyBuf = this.buf.dy.get(n);
    const dxBuf = this.buf.dx.get(n);
    dyBuf.write(dOutput.data);
    dxBuf.f32().fill(0, 0, n);
    if (zeroFirst) this.zeroGradients();
    this.kernelBackward(dxBuf, dyBuf, tc, p);
    return [new Tensor(dxBuf.toFloat32Array(0, n), p.shape)];
  }

  protected abstract kernelBackward(dx: WasmBuffer, dy: WasmBuffer, tc: NormCache, p: NonNullable<NormCache['pending']>): void;

  /**
   * Gradients of the last eager `apply(x, {training: true})`: weight gradients overwrite the
   * layer's gradient buffer (or add to it, with `{accumulate: true}`).
   */
  backward(dOutput: Tensor, options: { accumulate?: boolean } = {}): NormalizationGradients {
    const [dx] = this.runBackward(dOutput, 0, !options.accumulate);
    return { dInput: dx!, grads: this.tensorsOf('grads') };
  }

  computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    return inputShape;
  }

  protected affineConfig(): Record<string, unknown> {
    return {
      axis: this.axis,
      epsilon: this.epsilon,
      center: this.center,
      scale: this.scale,
      betaInitializer: serializeInitializer(this.betaInitializer),
      gammaInitializer: serializeInitializer(this.gammaInitializer),
      betaRegularizer: this.betaRegularizer?.toJSON() ?? null,
      gammaRegularizer: this.gammaRegularizer?.toJSON() ?? null,
      betaConstraint: this.betaConstraint?.toJSON() ?? null,
      gammaConstraint: this.gammaConstraint?.toJSON() ?? null,
    };
  }

  protected disposeBuffers(): void {
    for (const b of Object.values(this.buf)) b.dispose();
    for (const c of this.caches.values()) for (const b of [c.tx, c.tmask, c.s1, c.s2]) b.dispose();
    this.caches.clear();
  }
}

/**
 * Keras `BatchNormalization` over the last axis. Weights, in Keras order: `gamma`, `beta`
 * (trainable, when `scale` / `center`), `movingMean`, `movingVariance` (non-trainable).
 */
export class BatchNormalization extends NormalizationBase {
  readonly className = 'BatchNormalization';
  readonly momentum: number;
  readonly movingMeanInitializer: Initializer;
  readonly movingVarianceInitializer: Initializer;

  constructor(args: BatchNormalizationLayerArgs = {}) {
    super(args, 'batch_normalization', 'BatchNormalization');
    this.momentum = args.momentum ?? BATCH_NORMALIZATION_DEFAULTS.momentum;
    if (!Number.isFinite(this.momentum)) throw new ValueError(`BatchNormalization: momentum must be finite, got ${args.momentum}`);
    this.movingMeanInitializer = getInitializer(args.movingMeanInitializer ?? 'zeros', 'BatchNormalization movingMeanInitializer');
    this.movingVarianceInitializer = getInitializer(args.movingVarianceInitializer ?? 'ones', 'BatchNormalization movingVarianceInitializer');
  }

  build(inputShape: Shape | Shape[]): void {
    this.buildAffine(inputShape);
    this.addWeight('movingMean', [this.features], this.movingMeanInitializer, { trainable: false });
    this.addWeight('movingVariance', [this.features], this.movingVarianceInitializer, { trainable: false });
  }

  forwardNode(inputs: Tensor[], ctx: NodeContext): Tensor[] {
    this.assertLive();
    const x = inputs[0];
    const rows = this.checkInput(x);
    const c = this.features;
    const mask = ctx.masks[0] ?? null;
    if (mask) {
      // Keras: "The mask provided should be one dimension less than the inputs."
      const want = x.shape.slice(0, -1);
      if (mask.rank !== want.length || mask.shape.some((d, i) => d !== want[i])) {
        throw new ValueError(`BatchNormalization '${this.name}': mask must have the input's shape without the feature axis ${fmtShape(want)}, got ${fmtShape(mask.shape)}`);
      }
    }
    // Keras: `if training and self.trainable` — a frozen layer normalizes with the moving statistics.
    const batchStats = ctx.training && this.trainable;
    const tc = ctx.training ? this.cache(ctx.node) : null;
    if (tc) tc.pending = null;
    const b = this.backend!;
    const n = rows * c;
    const xBuf = (tc ? tc.tx : this.buf.x).get(n);
    const yBuf = this.buf.y.get(n);
    const maskBuf = batchStats && mask ? tc!.tmask.get(rows) : null;
    const meanBuf = tc ? tc.s1.get(c) : null;
    const varBuf = tc ? tc.s2.get(c) : null;
    xBuf.write(x.data);
    if (maskBuf) {
      const m = maskBuf.view() as Uint8Array;
      const src = mask!.data;
      for (let i = 0; i < rows; i++) m[i] = src[i] !== 0 && !Number.isNaN(src[i]) ? 1 : 0;
    }
    const movingMean = this.weightPtr('params', 'movingMean');
    const movingVar = this.weightPtr('params', 'movingVariance');
    b.run(`BatchNormalization '${this.name}' forward`, () =>
      b.exports.batchnorm_forward(
        yBuf.ptr,
        batchStats ? meanBuf!.ptr : 0,
        batchStats ? varBuf!.ptr : 0,
        xBuf.ptr,
        maskBuf ? maskBuf.ptr : 0,
        this.weightPtr('params', 'gamma'),
        this.weightPtr('params', 'beta'),
        batchStats ? 0 : movingMean,
        batchStats ? 0 : movingVar,
        rows,
        c,
        this.epsilon,
      ),
    );
    const params = this.params!.f32();
    const mo = this.weightSpecs.find((s) => s.name === 'movingMean')!.offset;
    const vo = this.weightSpecs.find((s) => s.name === 'movingVariance')!.offset;
    if (batchStats) {
      // Keras: moving = moving·momentum + batch·(1 − momentum), in float32.
      const m = Math.fround(this.momentum);
      const rest = Math.fround(1 - m);
      const bm = meanBuf!.f32();
      const bv = varBuf!.f32();
      for (let j = 0; j < c; j++) {
        params[mo + j] = Math.fround(Math.fround(params[mo + j] * m) + Math.fround(bm[j] * rest));
        params[vo + j] = Math.fround(Math.fround(params[vo + j] * m) + Math.fround(bv[j] * rest));
      }
    } else if (tc) {
      // Training call of a frozen layer: backward treats the moving statistics as constants.
      meanBuf!.write(params.subarray(mo, mo + c));
      varBuf!.write(params.subarray(vo, vo + c));
    }
    if (tc) tc.pending = { rows, shape: [...x.shape], batchStats, hasMask: maskBuf !== null };
    return [new Tensor(yBuf.toFloat32Array(0, n), [...x.shape])];
  }

  protected kernelBackward(dx: WasmBuffer, dy: WasmBuffer, tc: NormCache, p: NonNullable<NormCache['pending']>): void {
    const b = this.backend!;
    b.run(`BatchNormalization '${this.name}' backward`, () =>
      b.exports.batchnorm_backward(
        dx.ptr,
        this.weightPtr('grads', 'gamma'),
        this.weightPtr('grads', 'beta'),
        dy.ptr,
        tc.tx.peek()!.ptr,
        p.hasMask ? tc.tmask.peek()!.ptr : 0,
        this.weightPtr('params', 'gamma'),
        tc.s1.peek()!.ptr,
        tc.s2.peek()!.ptr,
        p.rows,
        this.features,
        this.epsilon,
        p.batchStats ? 1 : 0,
      ),
    );
  }

  getConfig(): Record<string, unknown> {
    return {
      ...this.baseConfig(),
      ...this.affineConfig(),
      momentum: this.momentum,
      movingMeanInitializer: serializeInitializer(this.movingMeanInitializer),
      movingVarianceInitializer: serializeInitializer(this.movingVarianceInitializer),
    };
  }

  static fromConfig(config: Record<string, unknown>): BatchNormalization {
    return new BatchNormalization(config as BatchNormalizationLayerArgs);
  }
}

/** Keras `LayerNormalization` over the last axis. Weights, in Keras order: `gamma`, `beta`. */
export class LayerNormalization extends NormalizationBase {
  readonly className = 'LayerNormalization';

  constructor(args: LayerNormalizationLayerArgs = {}) {
    super(args, 'layer_normalization', 'LayerNormalization');
    if (args.rmsScaling) throw new ValueError(`LayerNormalization: rmsScaling is not supported; use rmsScaling: false (the default)`);
  }

  build(inputShape: Shape | Shape[]): void {
    this.buildAffine(inputShape);
  }

  forwardNode(inputs: Tensor[], ctx: NodeContext): Tensor[] {
    this.assertLive();
    const x = inputs[0];
    const rows = this.checkInput(x);
    const c = this.features;
    const n = rows * c;
    const tc = ctx.training ? this.cache(ctx.node) : null;
    if (tc) tc.pending = null;
    const b = this.backend!;
    const xBuf = (tc ? tc.tx : this.buf.x).get(n);
    const yBuf = this.buf.y.get(n);
    const meanBuf = tc ? tc.s1.get(rows) : null;
    const rstdBuf = tc ? tc.s2.get(rows) : null;
    xBuf.write(x.data);
    b.run(`LayerNormalization '${this.name}' forward`, () =>
      b.exports.layernorm_forward(
        yBuf.ptr,
        meanBuf ? meanBuf.ptr : 0,
        rstdBuf ? rstdBuf.ptr : 0,
        xBuf.ptr,
        this.weightPtr('params', 'gamma'),
        this.weightPtr('params', 'beta'),
        rows,
        c,
        this.epsilon,
      ),
    );
    if (tc) tc.pending = { rows, shape: [...x.shape], batchStats: false, hasMask: false };
    return [new Tensor(yBuf.toFloat32Array(0, n), [...x.shape])];
  }

  protected kernelBackward(dx: WasmBuffer, dy: WasmBuffer, tc: NormCache, p: NonNullable<NormCache['pending']>): void {
    const b = this.backend!;
    b.run(`LayerNormalization '${this.name}' backward`, () =>
      b.exports.layernorm_backward(
        dx.ptr,
        this.weightPtr('grads', 'gamma'),
        this.weightPtr('grads', 'beta'),
        dy.ptr,
        tc.tx.peek()!.ptr,
        tc.s1.peek()!.ptr,
        tc.s2.peek()!.ptr,
        this.weightPtr('params', 'gamma'),
        p.rows,
        this.features,
      ),
    );
  }

  getConfig(): Record<string, unknown> {
    return { ...this.baseConfig(), ...this.affineConfig(), rmsScaling: false };
  }

  static fromConfig(config: Record<string, unknown>): LayerNormalization {
    return new LayerNormalization(config as LayerNormalizationLayerArgs);
  }
}
