/**
 * `layers.globalAveragePooling1d` and `layers.globalMaxPooling1d`: (batch, steps, features) →
 * (batch, features), channels-last, Keras 3 semantics (keras/src/layers/pooling/):
 *
 * - GlobalAveragePooling1D (global_average_pooling1d.py) supports masking: with a mask it returns
 *   Σ_valid x / (number of valid steps), masked steps excluded; the output mask is None. A row
 *   with no valid step is 0/0 = NaN, as in Keras.
 * - GlobalMaxPooling1D (global_max_pooling1d.py) does NOT: its `call(inputs)` takes no mask and
 *   `supports_masking` stays False, so Keras 3 takes the max over every step, padding included, and
 *   drops the mask. We do the same.
 *   Porting note: tfjs-layers ignores the mask in both layers (its average includes padding).
 */
import { Tensor, fmtShape } from '../tensor.js';
import { ValueError } from '../wasm/errors.js';
import { Layer, LayerArgs, NodeContext, Shape } from './Layer.js';

function checkShape(shape: Shape | Shape[], who: string): Shape {
  const s = shape as Shape;
  if (Array.isArray(s[0]) || s.length !== 3) throw new ValueError(`${who} expects input (batch, steps, features), got ${Array.isArray(s[0]) ? `${s.length} inputs` : fmtShape(s)}`);
  return s;
}

function checkInput(x: Tensor, mask: Tensor | null, who: string): [number, number, number] {
  if (x.rank !== 3) throw new ValueError(`${who} expects input (batch, steps, features), got ${fmtShape(x.shape)}`);
  const [b, t, f] = x.shape;
  if (mask && (mask.size !== b * t)) throw new ValueError(`${who}: mask must be (batch, steps) = ${fmtShape([b, t])}, got ${fmtShape(mask.shape)}`);
  return [b, t, f];
}

abstract class GlobalPooling1D extends Layer {
  build(inputShape: Shape | Shape[]): void {
    checkShape(inputShape, `${this.className} '${this.name}'`);
  }

  computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = checkShape(inputShape, `${this.className} '${this.name}'`);
    return [s[0], s[2]];
  }

  /** Keras: the time axis is gone, so is the mask. */
  computeMask(): null {
    return null;
  }

  getConfig(): Record<string, unknown> {
    return this.baseConfig();
  }
}

export class GlobalAveragePooling1D extends GlobalPooling1D {
  readonly className = 'GlobalAveragePooling1D';

  constructor(args: LayerArgs = {}) {
    super(args, 'global_average_pooling1d');
    this.supportsMasking = true;
  }

  forwardNode(inputs: Tensor[], ctx: NodeContext): Tensor[] {
    this.assertLive();
    const x = inputs[0];
    const mask = ctx.masks[0] ?? null;
    const [b, t, f] = checkInput(x, mask, `GlobalAveragePooling1D '${this.name}'`);
    const src = x.data;
    const m = mask ? mask.data : null;
    const y = new Float32Array(b * f);
    for (let i = 0; i < b; i++) {
      let count = 0;
      const row = y.subarray(i * f, (i + 1) * f);
      for (let s = 0; s < t; s++) {
        if (m && m[i * t + s] === 0) continue;
        count++;
        const o = (i * t + s) * f;
        for (let j = 0; j < f; j++) row[j] += src[o + j];
      }
      // No mask: count = t (Keras' mean). All masked: 0/0 = NaN, as Keras.
      for (let j = 0; j < f; j++) row[j] /= count;
    }
    return [new Tensor(y, [b, f])];
  }

  /** dx[b, s, :] = valid(b, s) · dy[b, :] / count(b). */
  backwardNode(dOutputs: (Tensor | null)[], ctx: NodeContext, forward: { inputs: Tensor[]; outputs: Tensor[] }): (Tensor | null)[] {
    const dy = dOutputs[0];
    const x = forward.inputs[0];
    if (!dy) return [null];
    const mask = ctx.masks[0] ?? null;
    const [b, t, f] = checkInput(x, mask, `GlobalAveragePooling1D '${this.name}'`);
    if (dy.size !== b * f) throw new ValueError(`GlobalAveragePooling1D '${this.name}': dOutput must have shape ${fmtShape([b, f])}, got ${fmtShape(dy.shape)}`);
    const m = mask ? mask.data : null;
    const g = dy.data;
    const dx = new Float32Array(x.size);
    for (let i = 0; i < b; i++) {
      let count = t;
      if (m) {
        count = 0;
        for (let s = 0; s < t; s++) if (m[i * t + s] !== 0) count++;
      }
      for (let s = 0; s < t; s++) {
        if (m && m[i * t + s] === 0) continue;
        const o = (i * t + s) * f;
        for (let j = 0; j < f; j++) dx[o + j] = g[i * f + j] / count;
      }
    }
    return [new Tensor(dx, x.shape)];
  }

  static fromConfig(config: Record<string, unknown>): GlobalAveragePooling1D {
    return new GlobalAveragePooling1D(config as LayerArgs);
  }
}

export class GlobalMaxPooling1D extends GlobalPooling1D {
  readonly className = 'GlobalMaxPooling1D';

  constructor(args: LayerArgs = {}) {
    super(args, 'global_max_pooling1d');
    // Keras 3: supports_masking False, the mask is ignored and dropped.
    this.supportsMasking = false;
  }

  forwardNode(inputs: Tensor[], _ctx: NodeContext): Tensor[] {
    this.assertLive();
    const x = inputs[0];
    const [b, t, f] = checkInput(x, null, `GlobalMaxPooling1D '${this.name}'`);
    const src = x.data;
    const y = new Float32Array(b * f).fill(-Infinity);
    for (let i = 0; i < b; i++) {
      for (let s = 0; s < t; s++) {
        const o = (i * t + s) * f;
        for (let j = 0; j < f; j++) {
          const v = src[o + j];
          // NaN wins, as reduce_max.
          if (v > y[i * f + j] || Number.isNaN(v)) y[i * f + j] = v;
        }
      }
    }
    return [new Tensor(y, [b, f])];
  }

  /**
   * The gradient goes to the maximum; ties share it equally (TensorFlow's reduce_max gradient:
   * indicators / count · dy), which matters for repeated padding rows.
   */
  backwardNode(dOutputs: (Tensor | null)[], _ctx: NodeContext, forward: { inputs: Tensor[]; outputs: Tensor[] }): (Tensor | null)[] {
    const dy = dOutputs[0];
    const x = forward.inputs[0];
    if (!dy) return [null];
    const [b, t, f] = checkInput(x, null, `GlobalMaxPooling1D '${this.name}'`);
    if (dy.size !== b * f) throw new ValueError(`GlobalMaxPooling1D '${this.name}': dOutput must have shape ${fmtShape([b, f])}, got ${fmtShape(dy.shape)}`);
    const src = x.data;
    const y = forward.outputs[0].data;
    const g = dy.data;
    const dx = new Float32Array(x.size);
    const ties = new Float32Array(f);
    for (let i = 0; i < b; i++) {
      ties.fill(0);
      for (let s = 0; s < t; s++) {
        const o = (i * t + s) * f;
        for (let j = 0; j < f; j++) if (src[o + j] === y[i * f + j]) ties[j]++;
      }
      for (let s = 0; s < t; s++) {
        const o = (i * t + s) * f;
        for (let j = 0; j < f; j++) if (src[o + j] === y[i * f + j]) dx[o + j] = g[i * f + j] / ties[j];
      }
    }
    return [new Tensor(dx, x.shape)];
  }

  static fromConfig(config: Record<string, unknown>): GlobalMaxPooling1D {
    return new GlobalMaxPooling1D(config as LayerArgs);
  }
}
