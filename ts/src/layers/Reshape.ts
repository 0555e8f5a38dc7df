/**
 * `layers.flatten` and `layers.repeatVector` (Keras 3 keras/src/layers/reshaping/flatten.py,
 * repeat_vector.py). Neither supports masking in Keras 3, so an incoming mask stops here.
 */
import { Tensor, TensorDType, fmtShape } from '../tensor.js';
import { ValueError } from '../wasm/errors.js';
import { Layer, LayerArgs, NodeContext, Shape } from './Layer.js';

function single(shape: Shape | Shape[], who: string): Shape {
  if (Array.isArray(shape[0])) throw new ValueError(`${who} takes one input, got ${shape.length}`);
  return shape as Shape;
}

/** (batch, d1, d2, …) → (batch, d1·d2·…); (batch) → (batch, 1). */
export class Flatten extends Layer {
  readonly className = 'Flatten';

  constructor(args: LayerArgs = {}) {
    super(args, 'flatten');
  }

  computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = single(inputShape, `Flatten '${this.name}'`);
    const rest = s.slice(1);
    return [s[0], rest.some((d) => d === null) ? null : rest.reduce<number>((a, b) => a * (b as number), 1)];
  }

  computeOutputDtype(inputDtypes: TensorDType[]): TensorDType {
    return inputDtypes[0] ?? 'float32';
  }

  forwardNode(inputs: Tensor[], _ctx: NodeContext): Tensor[] {
    this.assertLive();
    const x = inputs[0];
    if (x.rank < 1) throw new ValueError(`Flatten '${this.name}' expects input (batch, …), got a scalar`);
    return [new Tensor(x.data.slice(), [x.shape[0], x.shape[0] === 0 ? 0 : x.size / x.shape[0]])];
  }

  /** dx = dy reshaped to the input's shape. */
  backwardNode(dOutputs: (Tensor | null)[], _ctx: NodeContext, forward: { inputs: Tensor[]; outputs: Tensor[] }): (Tensor | null)[] {
    const dy = dOutputs[0];
    const x = forward.inputs[0];
    if (!dy) return [null];
    if (dy.size !== x.size) throw new ValueError(`Flatten '${this.name}': dOutput must have ${x.size} values, got ${fmtShape(dy.shape)}`);
    return [new Tensor(Float32Array.from(dy.data), x.shape)];
  }

  getConfig(): Record<string, unknown> {
    return this.baseConfig();
  }

  static fromConfig(config: Record<string, unknown>): Flatten {
    return new Flatten(config as LayerArgs);
  }
}

export interface RepeatVectorLayerArgs extends LayerArgs {
  /** Number of repetitions (required). */
  n: number;
}

/** (batch, features) → (batch, n, features). */
export class RepeatVector extends Layer {
  readonly className = 'RepeatVector';
  readonly n: number;

  constructor(args: RepeatVectorLayerArgs) {
    super(args, 'repeat_vector');
    if (!Number.isInteger(args?.n) || args.n < 1) throw new ValueError(`RepeatVector: n must be a positive integer, got ${args?.n}`);
    this.n = args.n;
  }

  build(inputShape: Shape | Shape[]): void {
    const s = single(inputShape, `RepeatVector '${this.name}'`);
    if (s.length !== 2) throw new ValueError(`RepeatVector '${this.name}' expects input (batch, features), got ${fmtShape(s)}`);
  }

  computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = single(inputShape, `RepeatVector '${this.name}'`);
    return [s[0], this.n, s[1]];
  }

  computeOutputDtype(inputDtypes: TensorDType[]): TensorDType {
    return inputDtypes[0] ?? 'float32';
  }

  forwardNode(inputs: Tensor[], _ctx: NodeContext): Tensor[] {
    this.assertLive();
    const x = inputs[0];
    if (x.rank !== 2) throw new ValueError(`RepeatVector '${this.name}' expects input (batch, features), got ${fmtShape(x.shape)}`);
    const [b, f] = x.shape;
    const src = x.data;
    const y = src instanceof Int32Array ? new Int32Array(b * this.n * f) : new Float32Array(b * this.n * f);
    for (let i = 0; i < b; i++) {
      const row = src.subarray(i * f, (i + 1) * f);
      for (let k = 0; k < this.n; k++) y.set(row, (i * this.n + k) * f);
    }
    return [new Tensor(y, [b, this.n, f])];
  }

  /** dx[b, :] = Σₖ dy[b, k, :]. */
  backwardNode(dOutputs: (Tensor | null)[], _ctx: NodeContext, forward: { inputs: Tensor[]; outputs: Tensor[] }): (Tensor | null)[] {
    const dy = dOutputs[0];
    const x = forward.inputs[0];
    if (!dy) return [null];
    const [b, f] = x.shape;
    if (dy.size !== b * this.n * f) throw new ValueError(`RepeatVector '${this.name}': dOutput must have shape ${fmtShape([b, this.n, f])}, got ${fmtShape(dy.shape)}`);
    const g = dy.data;
    const dx = new Float32Array(b * f);
    for (let i = 0; i < b; i++) {
      for (let k = 0; k < this.n; k++) {
        const o = (i * this.n + k) * f;
        for (let j = 0; j < f; j++) dx[i * f + j] += g[o + j];
      }
    }
    return [new Tensor(dx, x.shape)];
  }

  getConfig(): Record<string, unknown> {
    return { ...this.baseConfig(), n: this.n };
  }

  static fromConfig(config: Record<string, unknown>): RepeatVector {
    return new RepeatVector(config as unknown as RepeatVectorLayerArgs);
  }
}
