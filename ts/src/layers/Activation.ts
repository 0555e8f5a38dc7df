/**
 * `layers.activation`: applies one of the activations of `activations.ts` element-wise (softmax
 * over the last axis), with its backward. Pure TS: one O(n) Float32Array pass each way.
 */
import { ActivationName, activationId, activationName } from '../activations.js';
import { Tensor, fmtShape } from '../tensor.js';
import { Activation as ActivationId } from '../wasm/abi.js';
import { ValueError } from '../wasm/errors.js';
import { Layer, LayerArgs, NodeContext } from './Layer.js';

export interface ActivationLayerArgs extends LayerArgs {
  /** Name of the activation (required): 'linear', 'tanh', 'sigmoid', 'hardSigmoid' (tfjs / Keras 2 clip(0.2x + 0.5)), 'hardSigmoidKeras3' / 'hard_sigmoid' (Keras 3 relu6(x + 3) / 6), 'relu', 'softmax'. */
  activation: ActivationName | 'hard_sigmoid';
}

/** y = act(x); softmax normalises each run of `last` values (max-shifted, as Keras). */
export function activationForward(id: ActivationId, y: Float32Array, x: ArrayLike<number>, last: number): void {
  const n = y.length;
  switch (id) {
    case ActivationId.Linear:
      for (let i = 0; i < n; i++) y[i] = x[i];
      break;
    case ActivationId.Tanh:
      for (let i = 0; i < n; i++) y[i] = Math.tanh(x[i]);
      break;
    case ActivationId.Sigmoid:
      for (let i = 0; i < n; i++) y[i] = 1 / (1 + Math.exp(-x[i]));
      break;
    case ActivationId.HardSigmoid:
      for (let i = 0; i < n; i++) y[i] = Math.min(1, Math.max(0, 0.2 * x[i] + 0.5));
      break;
    case ActivationId.HardSigmoidKeras3:
      for (let i = 0; i < n; i++) y[i] = Math.min(6, Math.max(0, x[i] + 3)) / 6;
      break;
    case ActivationId.Relu:
      for (let i = 0; i < n; i++) y[i] = Math.max(0, x[i]);
      break;
    case ActivationId.Softmax:
      for (let r = 0; r < n; r += last) {
        let m = -Infinity;
        for (let j = r; j < r + last; j++) m = Math.max(m, x[j]);
        let s = 0;
        for (let j = r; j < r + last; j++) s += Math.exp(x[j] - m);
        for (let j = r; j < r + last; j++) y[j] = Math.exp(x[j] - m) / s;
      }
      break;
    default:
      throw new ValueError(`unknown activation id ${id}`);
  }
}

/**
 * dx = dy ⊙ act'(x), from the forward's input x and output y. Kinks take the one-sided value
 * (relu'(0) = 0, hard sigmoids' slope only strictly inside the linear piece); softmax:
 * dx = y ⊙ (dy − Σⱼ dyⱼ yⱼ) per row.
 */
export function activationBackward(id: ActivationId, dx: Float32Array, dy: ArrayLike<number>, x: ArrayLike<number>, y: ArrayLike<number>, last: number): void {
  const n = dx.length;
  switch (id) {
    case ActivationId.Linear:
      for (let i = 0; i < n; i++) dx[i] = dy[i];
      break;
    case ActivationId.Tanh:
      for (let i = 0; i < n; i++) dx[i] = dy[i] * (1 - y[i] * y[i]);
      break;
    case ActivationId.Sigmoid:
      for (let i = 0; i < n; i++) dx[i] = dy[i] * y[i] * (1 - y[i]);
      break;
    case ActivationId.HardSigmoid:
      for (let i = 0; i < n; i++) dx[i] = x[i] > -2.5 && x[i] < 2.5 ? 0.2 * dy[i] : 0;
      break;
    case ActivationId.HardSigmoidKeras3:
      for (let i = 0; i < n; i++) dx[i] = x[i] > -3 && x[i] < 3 ? dy[i] / 6 : 0;
      break;
    case ActivationId.Relu:
      for (let i = 0; i < n; i++) dx[i] = x[i] > 0 ? dy[i] : 0;
      break;
    case ActivationId.Softmax:
      for (let r = 0; r < n; r += last) {
        let dot = 0;
        for (let j = r; j < r + last; j++) dot += dy[j] * y[j];
        for (let j = r; j < r + last; j++) dx[j] = y[j] * (dy[j] - dot);
      }
      break;
    default:
      throw new ValueError(`unknown activation id ${id}`);
  }
}

/** Keras `Activation` (class name kept in `className`; exported as `ActivationLayer` because `Activation` is the kernel-id enum). */
export class ActivationLayer extends Layer {
  readonly className = 'Activation';
  readonly activation: ActivationId;

  constructor(args: ActivationLayerArgs) {
    super(args, 'activation');
    if (!args || args.activation === undefined) throw new ValueError(`Activation: the activation name is required, e.g. activation({activation: 'relu'})`);
    this.activation = activationId(args.activation, 'Activation', true);
    this.supportsMasking = true;
  }

  forwardNode(inputs: Tensor[], _ctx: NodeContext): Tensor[] {
    this.assertLive();
    const x = inputs[0];
    if (this.activation === ActivationId.Softmax && x.rank < 1) throw new ValueError(`Activation '${this.name}': softmax needs at least one axis, got ${fmtShape(x.shape)}`);
    const y = new Float32Array(x.size);
    activationForward(this.activation, y, x.data, x.shape[x.rank - 1] ?? 1);
    return [new Tensor(y, x.shape)];
  }

  /** Stateless: uses the node's forward input and output. */
  backwardNode(dOutputs: (Tensor | null)[], _ctx: NodeContext, forward: { inputs: Tensor[]; outputs: Tensor[] }): (Tensor | null)[] {
    const dy = dOutputs[0];
    if (!dy) return [null];
    const x = forward.inputs[0];
    if (dy.size !== x.size) throw new ValueError(`Activation '${this.name}': dOutput must have shape ${fmtShape(x.shape)}, got ${fmtShape(dy.shape)}`);
    const dx = new Float32Array(x.size);
    activationBackward(this.activation, dx, dy.data, x.data, forward.outputs[0].data, x.shape[x.rank - 1] ?? 1);
    return [new Tensor(dx, x.shape)];
  }

  getConfig(): Record<string, unknown> {
    return { ...this.baseConfig(), activation: activationName(this.activation) };
  }

  static fromConfig(config: Record<string, unknown>): ActivationLayer {
    return new ActivationLayer(config as unknown as ActivationLayerArgs);
  }
}
