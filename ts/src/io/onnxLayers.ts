/**
 * Two small layers the ONNX importer puts around a GRU to give ONNX `sequence_lens` semantics
 * (GRU-CONVENTIONS.md §4, "Masking differs") and ONNX's time order for a reverse GRU's Y.
 *
 * ONNX `sequence_lens` [B]: row b runs steps 0 … len_b − 1 only; `Y` is 0 from step len_b on and
 * `Y_h` is the state after step len_b − 1 (forward) or after step 0 (reverse, which starts at
 * step len_b − 1). Our GRU with a (B, T) mask of 1 for t < len_b computes the same states: masked
 * steps carry the state, so forward ends on the last valid step, and `goBackwards` reads t = T−1
 * down to 0, carrying the initial state through the padding before it reaches step len_b − 1. Its
 * outputs differ: a forward GRU's output on masked steps is the carried last output, so
 * `OnnxSequenceOutput` zeroes them; a backward GRU's output is in processing order, 0 before
 * the first valid step, so `OnnxSequenceOutput({reverse: true})` flips it into input time.
 *
 * - `OnnxLengthMask`: (x (B, T, F), lengths (B) int) or x with constant `lengths` → x unchanged,
 *   carrying the mask t < lengths[b].
 * - `OnnxSequenceOutput`: y (B, T, H) → y flipped in time (`reverse`), with the steps the incoming
 *   mask marks as padding set to 0; it ends the mask (an ONNX node after the GRU sees zeros, not padding).
 */
import { Tensor, fmtShape } from '../tensor.js';
import { ValueError } from '../wasm/errors.js';
import { Layer, LayerArgs, NodeContext, Shape } from '../layers/Layer.js';
import { flipTime, zeroMaskedSteps } from '../layers/Wrappers.js';
import { registerLayerClass } from '../layers/serialization.js';

export interface OnnxLengthMaskArgs extends LayerArgs {
  /** Constant lengths, one per batch row (an ONNX `sequence_lens` initializer). Defaults to null: the lengths are the layer's second input. */
  lengths?: number[] | null;
}

export class OnnxLengthMask extends Layer {
  readonly className = 'OnnxLengthMask';
  readonly lengths: number[] | null;

  constructor(args: OnnxLengthMaskArgs = {}) {
    super(args, 'onnx_length_mask');
    this.lengths = args.lengths ? [...args.lengths] : null;
    if (this.lengths && !this.lengths.every((v) => Number.isInteger(v) && v >= 0)) throw new ValueError(`OnnxLengthMask: lengths must be non-negative integers, got [${this.lengths.join(', ')}]`);
  }

  protected buildShape(shapes: Shape[]): Shape {
    return shapes[0];
  }

  computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
  }

  /** (B, T): 1 for t < length[b]. */
  private mask(inputs: Tensor[]): Tensor {
    const x = inputs[0];
    if (x.rank !== 3) throw new ValueError(`OnnxLengthMask '${this.name}' expects (batch, time, features), got ${fmtShape(x.shape)}`);
    const [nb, nt] = x.shape;
    const lens = this.lengths ?? (inputs[1] ? [...inputs[1].data] : null);
    if (!lens) throw new ValueError(`OnnxLengthMask '${this.name}': no lengths (give the lengths (batch) as the second input, or lengths in the config)`);
    if (lens.length !== nb) throw new ValueError(`OnnxLengthMask '${this.name}': ${lens.length} sequence lengths for a batch of ${nb}${this.lengths ? ' (the ONNX sequence_lens initializer fixes the batch size)' : ''}`);
    const m = new Float32Array(nb * nt);
    lens.forEach((len, b) => {
      if (!(Number.isInteger(len) && len >= 0 && len <= nt)) throw new ValueError(`OnnxLengthMask '${this.name}': sequence length ${len} of row ${b} is not in [0, ${nt}]`);
      m.fill(1, b * nt, b * nt + len);
    });
    return new Tensor(m, [nb, nt]);
  }

  forwardNode(inputs: Tensor[], _ctx: NodeContext): Tensor[] {
    this.assertLive();
    this.mask(inputs);
    return [inputs[0]];
  }

  maskNode(inputs: Tensor[], _ctx: NodeContext, outputCount: number): (Tensor | null)[] {
    return [this.mask(inputs), ...new Array(Math.max(0, outputCount - 1)).fill(null)];
  }

  backwardNode(dOutputs: (Tensor | null)[], _ctx: NodeContext, forward: { inputs: Tensor[]; outputs: Tensor[] }): (Tensor | null)[] {
    return [dOutputs[0] ?? null, ...forward.inputs.slice(1).map(() => null)];
  }

  getConfig(): Record<string, unknown> {
    return { ...this.baseConfig(), lengths: this.lengths };
  }

  static fromConfig(config: Record<string, unknown>): OnnxLengthMask {
    return new OnnxLengthMask(config as OnnxLengthMaskArgs);
  }
}

export interface OnnxSequenceOutputArgs extends LayerArgs {
  /** Flip the time axis (a `goBackwards` GRU's output → input time order). Defaults to false. */
  reverse?: boolean;
}

export class OnnxSequenceOutput extends Layer {
  readonly className = 'OnnxSequenceOutput';
  readonly reverse: boolean;

  constructor(args: OnnxSequenceOutputArgs = {}) {
    super(args, 'onnx_sequence_output');
    this.reverse = args.reverse ?? false;
  }

  private apply3(y: Tensor, mask: Tensor | null, backward: boolean): Tensor {
    if (y.rank !== 3) throw new ValueError(`OnnxSequenceOutput '${this.name}' expects (batch, time, units), got ${fmtShape(y.shape)}`);
    const [nb, nt, h] = y.shape;
    // Forward: flip, then zero the padding (input time); backward: the transpose of that.
    let d: Float32Array = Float32Array.from(y.data);
    if (this.reverse && !backward) d = flipTime(d, nb, nt, h);
    if (mask) zeroMaskedSteps(d, mask.data, nb, nt, h);
    if (this.reverse && backward) d = flipTime(d, nb, nt, h);
    return new Tensor(d, y.shape);
  }

  forwardNode(inputs: Tensor[], ctx: NodeContext): Tensor[] {
    this.assertLive();
    return [this.apply3(inputs[0], ctx.masks[0] ?? null, false)];
  }

  maskNode(_inputs: Tensor[], _ctx: NodeContext, outputCount: number): (Tensor | null)[] {
    return new Array(outputCount).fill(null);
  }

  backwardNode(dOutputs: (Tensor | null)[], ctx: NodeContext): (Tensor | null)[] {
    return [dOutputs[0] ? this.apply3(dOutputs[0], ctx.masks[0] ?? null, true) : null];
  }

  getConfig(): Record<string, unknown> {
    return { ...this.baseConfig(), reverse: this.reverse };
  }

  static fromConfig(config: Record<string, unknown>): OnnxSequenceOutput {
    return new OnnxSequenceOutput(config as OnnxSequenceOutputArgs);
  }
}

registerLayerClass('OnnxLengthMask', OnnxLengthMask);
registerLayerClass('OnnxSequenceOutput', OnnxSequenceOutput);

export interface OnnxAffineArgs extends LayerArgs {
  /** Per-feature factors (length F, or 1 for all), or null for 1. Defaults to null. */
  scale?: number[] | null;
  /** Per-feature offsets added after the scale (length F, or 1), or null for 0. Defaults to null. */
  offset?: number[] | null;
}

/**
 * ONNX `Mul` / `Div` / `Add` / `Sub` of a graph tensor and a constant that is a scalar or varies
 * along the feature (last) axis only: y = x · scale + offset over the last axis. Masks pass through.
 */
export class OnnxAffine extends Layer {
  readonly className = 'OnnxAffine';
  readonly scale: number[] | null;
  readonly offset: number[] | null;

  constructor(args: OnnxAffineArgs = {}) {
    super(args, 'onnx_affine');
    this.scale = args.scale ? [...args.scale] : null;
    this.offset = args.offset ? [...args.offset] : null;
    this.supportsMasking = true;
  }

  private check(x: Tensor): number {
    const f = x.shape[x.rank - 1];
    for (const [what, v] of [['scale', this.scale], ['offset', this.offset]] as const) {
      if (v && v.length !== 1 && v.length !== f) throw new ValueError(`OnnxAffine '${this.name}': ${what} has ${v.length} values for ${f} features (${fmtShape(x.shape)})`);
    }
    return f;
  }

  forwardNode(inputs: Tensor[], _ctx: NodeContext): Tensor[] {
    this.assertLive();
    const x = inputs[0];
    const f = this.check(x);
    const y = new Float32Array(x.size);
    const s = this.scale;
    const o = this.offset;
    for (let i = 0; i < x.size; i++) {
      const j = i % f;
      y[i] = x.data[i] * (s ? s[s.length === 1 ? 0 : j] : 1) + (o ? o[o.length === 1 ? 0 : j] : 0);
    }
    return [new Tensor(y, x.shape)];
  }

  /** dx = dy · scale. */
  backwardNode(dOutputs: (Tensor | null)[], _ctx: NodeContext): (Tensor | null)[] {
    const dy = dOutputs[0];
    if (!dy) return [null];
    const f = this.check(dy);
    const s = this.scale;
    return [new Tensor(Float32Array.from(dy.data, (g, i) => g * (s ? s[s.length === 1 ? 0 : i % f] : 1)), dy.shape)];
  }

  getConfig(): Record<string, unknown> {
    return { ...this.baseConfig(), scale: this.scale, offset: this.offset };
  }

  static fromConfig(config: Record<string, unknown>): OnnxAffine {
    return new OnnxAffine(config as OnnxAffineArgs);
  }
}

registerLayerClass('OnnxAffine', OnnxAffine);
