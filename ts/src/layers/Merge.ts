/**
 * Merge layers with several inputs: `layers.concatenate` and `layers.add`, with Keras 3 mask rules
 * (keras/src/layers/merging/concatenate.py, base_merge.py):
 *
 * - Concatenate: no mask on any input → none. Otherwise each input's mask (an unmasked input
 *   counts as all-valid) is broadcast over that input's last axis, the broadcast masks are
 *   concatenated along `axis`, and the output mask is `any` over the last axis. Along the feature
 *   axis that is an OR in which an unmasked input makes every step valid; along the time axis it
 *   is the masks laid end to end.
 * - Add: any input without a mask → none; else the OR of the masks.
 *
 * Porting note: tfjs-layers differs on both: its Concatenate reduces with `all` (AND) instead of
 * `any`, and its Add/Merge ANDs the masks (skipping the last one) instead of ORing them.
 */
import { Tensor, fmtShape } from '../tensor.js';
import { ValueError } from '../wasm/errors.js';
import { Layer, LayerArgs, NodeContext, Shape } from './Layer.js';

abstract class Merge extends Layer {
  constructor(args: LayerArgs, prefix: string) {
    super(args, prefix);
    this.supportsMasking = true;
  }

  /** Always a list of shapes, even for one input. */
  protected buildShape(shapes: Shape[]): Shape[] {
    return shapes;
  }

  protected shapes(inputShape: Shape | Shape[]): Shape[] {
    if (!Array.isArray(inputShape[0])) throw new ValueError(`${this.className} '${this.name}' must be called on a list of inputs, got one input ${fmtShape(inputShape as Shape)}`);
    return inputShape as Shape[];
  }

  /** Output mask from the inputs and one mask (or null) per input. */
  protected abstract mergeMask(inputs: Tensor[], masks: (Tensor | null)[]): Tensor | null;

  computeMask(inputs: Tensor | Tensor[], mask: Tensor | null | (Tensor | null)[]): Tensor | null {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    const masks = Array.isArray(mask) ? mask : [mask];
    while (masks.length < list.length) masks.push(null);
    return this.mergeMask(list, masks);
  }

  maskNode(inputs: Tensor[], ctx: NodeContext, outputCount: number): (Tensor | null)[] {
    const m = this.mergeMask(inputs, inputs.map((_, i) => ctx.masks[i] ?? null));
    return new Array(outputCount).fill(m);
  }

  getConfig(): Record<string, unknown> {
    return this.baseConfig();
  }
}

export interface ConcatenateLayerArgs extends LayerArgs {
  /** Axis to join along (negative counts from the end; 0, the batch axis, is not allowed). Defaults to -1. */
  axis?: number;
}

export class Concatenate extends Merge {
  readonly className = 'Concatenate';
  readonly axis: number;

  constructor(args: ConcatenateLayerArgs = {}) {
    super(args, 'concatenate');
    const axis = args.axis ?? -1;
    if (!Number.isInteger(axis)) throw new ValueError(`Concatenate: axis must be an integer, got ${axis}`);
    this.axis = axis;
  }

  /** The positive axis for inputs of `rank`. */
  private resolveAxis(rank: number): number {
    const a = this.axis < 0 ? this.axis + rank : this.axis;
    if (a < 1 || a >= rank) throw new ValueError(`Concatenate '${this.name}': axis ${this.axis} is out of range for inputs of rank ${rank} (the batch axis 0 cannot be joined)`);
    return a;
  }

  /** Checks the shapes agree off the axis; returns the axis. */
  private check(shapes: readonly (readonly (number | null)[])[]): number {
    if (shapes.length < 1) throw new ValueError(`Concatenate '${this.name}' needs at least one input`);
    const rank = shapes[0].length;
    const a = this.resolveAxis(rank);
    for (const s of shapes) {
      const ok = s.length === rank && s.every((d, i) => i === a || d === null || shapes[0][i] === null || d === shapes[0][i]);
      if (!ok) {
        throw new ValueError(`Concatenate '${this.name}' needs inputs of equal shape except on axis ${this.axis}, got ${shapes.map((x) => fmtShape(x)).join(', ')}`);
      }
    }
    return a;
  }

  build(inputShape: Shape | Shape[]): void {
    this.check(this.shapes(inputShape));
  }

  computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shapes = this.shapes(inputShape);
    const a = this.check(shapes);
    const out = [...shapes[0]];
    out[a] = shapes.some((s) => s[a] === null) ? null : shapes.reduce((n, s) => n + (s[a] as number), 0);
    return out;
  }

  forwardNode(inputs: Tensor[], _ctx: NodeContext): Tensor[] {
    this.assertLive();
    const a = this.check(inputs.map((t) => t.shape));
    const outer = inputs[0].shape.slice(0, a).reduce((p, d) => p * d, 1);
    const inner = inputs[0].shape.slice(a + 1).reduce((p, d) => p * d, 1);
    const widths = inputs.map((t) => t.shape[a] * inner);
    const total = widths.reduce((p, w) => p + w, 0);
    const y = new Float32Array(outer * total);
    for (let o = 0; o < outer; o++) {
      let off = o * total;
      inputs.forEach((t, k) => {
        const w = widths[k];
        const src = t.data;
        for (let j = 0; j < w; j++) y[off + j] = src[o * w + j];
        off += w;
      });
    }
    const shape = [...inputs[0].shape];
    shape[a] = total / inner;
    return [new Tensor(y, shape)];
  }

  /** Splits dy back into the inputs' slices. */
  backwardNode(dOutputs: (Tensor | null)[], _ctx: NodeContext, forward: { inputs: Tensor[]; outputs: Tensor[] }): (Tensor | null)[] {
    const dy = dOutputs[0];
    const inputs = forward.inputs;
    if (!dy) return inputs.map(() => null);
    const a = this.check(inputs.map((t) => t.shape));
    const outer = inputs[0].shape.slice(0, a).reduce((p, d) => p * d, 1);
    const inner = inputs[0].shape.slice(a + 1).reduce((p, d) => p * d, 1);
    const widths = inputs.map((t) => t.shape[a] * inner);
    const total = widths.reduce((p, w) => p + w, 0);
    if (dy.size !== outer * total) throw new ValueError(`Concatenate '${this.name}': dOutput must have ${outer * total} values, got ${fmtShape(dy.shape)}`);
    const g = dy.data;
    const dxs = inputs.map((t) => new Float32Array(t.size));
    for (let o = 0; o < outer; o++) {
      let off = o * total;
      dxs.forEach((dx, k) => {
        const w = widths[k];
        for (let j = 0; j < w; j++) dx[o * w + j] = g[off + j];
        off += w;
      });
    }
    return dxs.map((dx, k) => new Tensor(dx, inputs[k].shape));
  }

  /** Keras 3 `Concatenate.compute_mask` (see the file header); shape = output shape without its last axis. */
  protected mergeMask(inputs: Tensor[], masks: (Tensor | null)[]): Tensor | null {
    if (masks.every((m) => m === null)) return null;
    const a = this.check(inputs.map((t) => t.shape));
    const rank = inputs[0].rank;
    const last = rank - 1;
    for (const [k, m] of masks.entries()) {
      const want = inputs[k].size / (inputs[k].shape[last] || 1);
      if (m && m.size !== want) throw new ValueError(`Concatenate '${this.name}': mask ${k} must have shape ${fmtShape(inputs[k].shape.slice(0, -1))}, got ${fmtShape(m.shape)}`);
    }
    if (a === last) {
      // OR over the inputs; an unmasked input (with features) counts as all valid.
      const shape = inputs[0].shape.slice(0, -1);
      const n = shape.reduce((p, d) => p * d, 1);
      const out = new Float32Array(n);
      inputs.forEach((t, k) => {
        if (t.shape[last] === 0) return;
        const m = masks[k];
        if (!m) out.fill(1);
        else for (let i = 0; i < n; i++) if (m.data[i] !== 0) out[i] = 1;
      });
      return new Tensor(out, shape);
    }
    // Joined along an earlier axis: the masks (all-valid for unmasked inputs) laid end to end.
    const outer = inputs[0].shape.slice(0, a).reduce((p, d) => p * d, 1);
    const inner = inputs[0].shape.slice(a + 1, last).reduce((p, d) => p * d, 1);
    const features = inputs[0].shape[last];
    const widths = inputs.map((t) => t.shape[a] * inner);
    const total = widths.reduce((p, w) => p + w, 0);
    const out = new Float32Array(outer * total);
    for (let o = 0; o < outer; o++) {
      let off = o * total;
      inputs.forEach((_, k) => {
        const w = widths[k];
        const m = masks[k];
        for (let j = 0; j < w; j++) out[off + j] = features > 0 && (!m || m.data[o * w + j] !== 0) ? 1 : 0;
        off += w;
      });
    }
    const shape = inputs[0].shape.slice(0, -1);
    shape[a] = total / inner;
    return new Tensor(out, shape);
  }

  getConfig(): Record<string, unknown> {
    return { ...this.baseConfig(), axis: this.axis };
  }

  static fromConfig(config: Record<string, unknown>): Concatenate {
    return new Concatenate(config as ConcatenateLayerArgs);
  }
}

/** Element-wise sum of inputs of one shape. */
export class Add extends Merge {
  readonly className = 'Add';

  constructor(args: LayerArgs = {}) {
    super(args, 'add');
  }

  private check(shapes: readonly (readonly (number | null)[])[]): void {
    if (shapes.length < 1) throw new ValueError(`Add '${this.name}' needs at least one input`);
    for (const s of shapes) {
      const ok = s.length === shapes[0].length && s.every((d, i) => d === null || shapes[0][i] === null || d === shapes[0][i]);
      // Porting note: Keras also broadcasts size-1 axes and mixed ranks; we require equal shapes.
      if (!ok) throw new ValueError(`Add '${this.name}' needs inputs of one shape, got ${shapes.map((x) => fmtShape(x)).join(', ')}`);
    }
  }

  build(inputShape: Shape | Shape[]): void {
    this.check(this.shapes(inputShape));
  }

  computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shapes = this.shapes(inputShape);
    this.check(shapes);
    return shapes[0].map((d, i) => d ?? shapes.find((s) => s[i] !== null)?.[i] ?? null);
  }

  forwardNode(inputs: Tensor[], _ctx: NodeContext): Tensor[] {
    this.assertLive();
    this.check(inputs.map((t) => t.shape));
    const y = Float32Array.from(inputs[0].data);
    for (let k = 1; k < inputs.length; k++) {
      const src = inputs[k].data;
      for (let i = 0; i < y.length; i++) y[i] += src[i];
    }
    return [new Tensor(y, inputs[0].shape)];
  }

  /** Every input receives dy. */
  backwardNode(dOutputs: (Tensor | null)[], _ctx: NodeContext, forward: { inputs: Tensor[]; outputs: Tensor[] }): (Tensor | null)[] {
    const dy = dOutputs[0];
    const inputs = forward.inputs;
    if (!dy) return inputs.map(() => null);
    if (dy.size !== inputs[0].size) throw new ValueError(`Add '${this.name}': dOutput must have shape ${fmtShape(inputs[0].shape)}, got ${fmtShape(dy.shape)}`);
    return inputs.map((t) => new Tensor(Float32Array.from(dy.data), t.shape));
  }

  /** Keras 3 `Merge.compute_mask`: none if any input is unmasked, else the OR. */
  protected mergeMask(inputs: Tensor[], masks: (Tensor | null)[]): Tensor | null {
    if (masks.length === 0 || masks.some((m) => m === null)) return null;
    const first = masks[0]!;
    const out = new Float32Array(first.size);
    for (const m of masks as Tensor[]) {
      if (m.size !== first.size) throw new ValueError(`Add '${this.name}': masks of different shapes ${fmtShape(first.shape)} and ${fmtShape(m.shape)}`);
      for (let i = 0; i < out.length; i++) if (m.data[i] !== 0) out[i] = 1;
    }
    void inputs;
    return new Tensor(out, first.shape);
  }

  static fromConfig(config: Record<string, unknown>): Add {
    return new Add(config as LayerArgs);
  }
}
