/**
 * `layers.dropout` and `layers.spatialDropout1d`: inverted dropout, active only in training.
 * Kept values are scaled by 1/(1 − rate) so inference needs no rescaling (Keras 3
 * keras/src/layers/regularization/dropout.py, spatial_dropout.py). Masks come from the global
 * generator (`setSeed` makes them reproducible) or from the layer's own `seed`.
 */
import { Tensor, fmtShape } from '../tensor.js';
import { ValueError } from '../wasm/errors.js';
import { Random, globalRandom } from '../random.js';
import { Layer, LayerArgs, NodeContext, Shape } from './Layer.js';

export interface DropoutLayerArgs extends LayerArgs {
  /** Fraction of the inputs to drop, in [0, 1] (required). */
  rate: number;
  /**
   * Shape of the binary mask, broadcast over the input: one entry per input axis, each 1 (share
   * the mask along that axis), the input's size, or null (= the input's size). E.g.
   * `[null, 1, null]` drops the same features at every time step. Defaults to the input shape.
   */
  noiseShape?: (number | null)[] | null;
  /** Seed of the layer's own mask stream. Defaults to none: masks come from the global generator (`setSeed`). */
  seed?: number | null;
}

export interface SpatialDropout1DLayerArgs extends LayerArgs {
  /** Fraction of the channels to drop, in [0, 1] (required). */
  rate: number;
  /** As `dropout`'s seed. Defaults to none. */
  seed?: number | null;
}

/** The mask each training call of a node drew, expanded to the input's size (0 or 1/(1 − rate)). */
type DropoutCache = { mask: Float32Array | null; shape: number[] };

export class Dropout extends Layer {
  readonly className: string = 'Dropout';
  readonly rate: number;
  readonly noiseShape: (number | null)[] | null;
  readonly seed: number | null;
  /** The layer's own stream when seeded, else null (global generator). */
  private readonly rng: Random | null;
  private readonly caches = new Map<number, DropoutCache>();

  constructor(args: DropoutLayerArgs, prefix = 'dropout') {
    super(args, prefix);
    if (typeof args.rate !== 'number' || !(args.rate >= 0 && args.rate <= 1)) {
      throw new ValueError(`${new.target.name}: rate must be a number in [0, 1], got ${args.rate}`);
    }
    this.rate = args.rate;
    const ns = args.noiseShape ?? null;
    if (ns !== null && (!Array.isArray(ns) || ns.some((d) => d !== null && (!Number.isInteger(d) || d < 1)))) {
      throw new ValueError(`Dropout: noiseShape must be an array of positive integers or nulls, got ${JSON.stringify(ns)}`);
    }
    this.noiseShape = ns ? [...ns] : null;
    this.seed = args.seed ?? null;
    this.rng = this.seed === null ? null : new Random(this.seed);
    this.supportsMasking = true;
  }

  /**
   * @internal The state of the layer's own generator (null when it draws from the global one), so a
   * training worker continues the same masks: see `training/workerState.ts`.
   */
  getRandomState(): number[] | null {
    return this.rng ? this.rng.getState() : null;
  }

  /** @internal Continues the layer's own generator from `getRandomState()`. */
  setRandomState(state: readonly number[]): void {
    this.rng?.setState(state);
  }

  /** The concrete mask shape for an input of `shape`. */
  protected maskShape(shape: readonly number[]): number[] {
    const ns = this.noiseShape;
    if (ns === null) return [...shape];
    if (ns.length !== shape.length) {
      throw new ValueError(`${this.className} '${this.name}': noiseShape ${fmtShape(ns)} has ${ns.length} axes, the input ${fmtShape(shape)} has ${shape.length}`);
    }
    return ns.map((d, i) => {
      const s = d ?? shape[i];
      if (s !== 1 && s !== shape[i]) {
        throw new ValueError(`${this.className} '${this.name}': noiseShape ${fmtShape(ns)} does not broadcast to input ${fmtShape(shape)} (axis ${i}: ${s} vs ${shape[i]}); use 1, null or the input size`);
      }
      return s;
    });
  }

  /** A mask of the input's size: 0 with probability `rate`, else 1/(1 − rate), shared along the noise shape's 1-axes. */
  private drawMask(shape: readonly number[]): Float32Array {
    const ms = this.maskShape(shape);
    const small = new Float32Array(ms.reduce((a, b) => a * b, 1));
    const keep = Math.fround(1 / (1 - this.rate));
    const rng = this.rng ?? globalRandom();
    for (let i = 0; i < small.length; i++) small[i] = rng.uniform() < this.rate ? 0 : keep;
    const size = shape.reduce((a, b) => a * b, 1);
    if (small.length === size) return small;
    // Broadcast: walk the input's multi-index once, tracking the mask offset (stride 0 on 1-axes).
    const rank = shape.length;
    const strides = new Array<number>(rank);
    let s = 1;
    for (let a = rank - 1; a >= 0; a--) {
      strides[a] = ms[a] === 1 ? 0 : s;
      s *= ms[a];
    }
    const idx = new Array<number>(rank).fill(0);
    const full = new Float32Array(size);
    let off = 0;
    for (let i = 0; i < size; i++) {
      full[i] = small[off];
      for (let a = rank - 1; a >= 0; a--) {
        idx[a]++;
        off += strides[a];
        if (idx[a] < shape[a]) break;
        off -= strides[a] * shape[a];
        idx[a] = 0;
      }
    }
    return full;
  }

  forwardNode(inputs: Tensor[], ctx: NodeContext): Tensor[] {
    this.assertLive();
    const x = inputs[0];
    this.checkInput(x);
    const src = x.data;
    if (!ctx.training) return [new Tensor(Float32Array.from(src), x.shape)];
    const mask = this.rate > 0 ? this.drawMask(x.shape) : null;
    this.caches.set(ctx.node, { mask, shape: [...x.shape] });
    const y = new Float32Array(src.length);
    if (mask) for (let i = 0; i < y.length; i++) y[i] = src[i] * mask[i];
    else y.set(src);
    return [new Tensor(y, x.shape)];
  }

  protected checkInput(_x: Tensor): void {}

  /** dx = dy ⊙ mask of the node's last training call. */
  backwardNode(dOutputs: (Tensor | null)[], ctx: NodeContext, _forward?: { inputs: Tensor[]; outputs: Tensor[] }): (Tensor | null)[] {
    this.assertLive();
    const c = this.caches.get(ctx.node);
    if (!c) throw new ValueError(`${this.className} '${this.name}': backward needs a preceding apply(x, {training: true})`);
    const dy = dOutputs[0];
    if (!dy) return [null];
    if (dy.rank !== c.shape.length || dy.shape.some((d, i) => d !== c.shape[i])) {
      throw new ValueError(`${this.className} '${this.name}': dOutput must have the output's shape ${fmtShape(c.shape)}, got ${fmtShape(dy.shape)}`);
    }
    const g = dy.data;
    const dx = new Float32Array(g.length);
    if (c.mask) for (let i = 0; i < dx.length; i++) dx[i] = g[i] * c.mask[i];
    else dx.set(g);
    return [new Tensor(dx, c.shape)];
  }

  releaseTrainingCaches(): void {
    this.caches.clear();
  }

  getConfig(): Record<string, unknown> {
    return { ...this.baseConfig(), rate: this.rate, noiseShape: this.noiseShape, seed: this.seed };
  }

  static fromConfig(config: Record<string, unknown>): Dropout {
    return new Dropout(config as unknown as DropoutLayerArgs);
  }
}

/** Drops whole channels: one mask entry per (batch, channel), shared over time (noise shape (B, 1, C)). */
export class SpatialDropout1D extends Dropout {
  readonly className: string = 'SpatialDropout1D';

  constructor(args: SpatialDropout1DLayerArgs) {
    super({ ...args, noiseShape: null }, 'spatial_dropout1d');
  }

  build(inputShape: Shape | Shape[]): void {
    const s = inputShape as Shape;
    if (Array.isArray(s[0]) || s.length !== 3) throw new ValueError(`SpatialDropout1D '${this.name}' expects input (batch, time, channels), got ${fmtShape(s as Shape)}`);
  }

  protected checkInput(x: Tensor): void {
    if (x.rank !== 3) throw new ValueError(`SpatialDropout1D '${this.name}' expects input (batch, time, channels), got ${fmtShape(x.shape)}`);
  }

  protected maskShape(shape: readonly number[]): number[] {
    return [shape[0], 1, shape[2]];
  }

  getConfig(): Record<string, unknown> {
    return { ...this.baseConfig(), rate: this.rate, seed: this.seed };
  }

  static fromConfig(config: Record<string, unknown>): SpatialDropout1D {
    return new SpatialDropout1D(config as unknown as SpatialDropout1DLayerArgs);
  }
}
