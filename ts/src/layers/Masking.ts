/**
 * `layers.masking`: marks steps whose features all equal `maskValue` as padding (Keras 3
 * keras/src/layers/core/masking.py): mask = any(x ≠ maskValue, last axis), and the output is
 * x · mask, so masked steps read as zeros. The incoming mask is replaced, not combined.
 */
import { Tensor, fmtShape } from '../tensor.js';
import { ValueError } from '../wasm/errors.js';
import { Layer, LayerArgs, NodeContext } from './Layer.js';

export interface MaskingLayerArgs extends LayerArgs {
  /** Steps whose every feature equals this are masked. Defaults to 0. */
  maskValue?: number;
}

export class Masking extends Layer {
  readonly className = 'Masking';
  readonly maskValue: number;

  constructor(args: MaskingLayerArgs = {}) {
    super(args, 'masking');
    this.maskValue = args.maskValue ?? 0;
    if (typeof this.maskValue !== 'number') throw new ValueError(`Masking: maskValue must be a number, got ${typeof this.maskValue}`);
    this.supportsMasking = true;
  }

  /** (…) → 1 where some feature differs from maskValue, over the input's shape without its last axis. */
  private keep(x: Tensor): Float32Array {
    if (x.rank < 2) throw new ValueError(`Masking '${this.name}' expects input (batch, time, features), got ${fmtShape(x.shape)}`);
    const f = x.shape[x.rank - 1];
    const src = x.data;
    const m = new Float32Array(f === 0 ? 0 : x.size / f);
    const v = this.maskValue;
    for (let r = 0; r < m.length; r++) {
      let any = 0;
      for (let j = r * f; j < (r + 1) * f; j++) {
        // `!==` as Keras' not_equal: NaN never equals the mask value, so it is never masked.
        if (src[j] !== v) {
          any = 1;
          break;
        }
      }
      m[r] = any;
    }
    return m;
  }

  computeMask(inputs: Tensor | Tensor[], _mask: Tensor | null | (Tensor | null)[]): Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    return new Tensor(this.keep(x), x.shape.slice(0, -1));
  }

  forwardNode(inputs: Tensor[], _ctx: NodeContext): Tensor[] {
    this.assertLive();
    const x = inputs[0];
    const m = this.keep(x);
    const f = x.shape[x.rank - 1];
    const src = x.data;
    const y = new Float32Array(x.size);
    for (let r = 0; r < m.length; r++) for (let j = r * f; j < (r + 1) * f; j++) y[j] = src[j] * m[r];
    return [new Tensor(y, x.shape)];
  }

  /** dx = dy · mask (masked steps get no gradient). */
  backwardNode(dOutputs: (Tensor | null)[], _ctx: NodeContext, forward: { inputs: Tensor[]; outputs: Tensor[] }): (Tensor | null)[] {
    const dy = dOutputs[0];
    const x = forward.inputs[0];
    if (!dy) return [null];
    if (dy.size !== x.size) throw new ValueError(`Masking '${this.name}': dOutput must have shape ${fmtShape(x.shape)}, got ${fmtShape(dy.shape)}`);
    const m = this.keep(x);
    const f = x.shape[x.rank - 1];
    const g = dy.data;
    const dx = new Float32Array(x.size);
    for (let r = 0; r < m.length; r++) for (let j = r * f; j < (r + 1) * f; j++) dx[j] = g[j] * m[r];
    return [new Tensor(dx, x.shape)];
  }

  getConfig(): Record<string, unknown> {
    return { ...this.baseConfig(), maskValue: this.maskValue };
  }

  static fromConfig(config: Record<string, unknown>): Masking {
    return new Masking(config as MaskingLayerArgs);
  }
}
