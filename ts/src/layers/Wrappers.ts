/**
 * Layers that hold other layers: `TimeDistributed`, `Bidirectional` (Keras 3 wrappers), and the
 * `Wrapper` base they share with `RNN`. A wrapper owns no weight buffer of its own: its weights
 * are its sublayers' weights, in sublayer order (Keras: forward then backward for Bidirectional),
 * and `getWeights` / `setWeights` / `getGradients` / `zeroGradients` / `countParams` / `dispose`
 * delegate. An engine that walks flat buffers walks `sublayers`.
 */
import { Tensor, fmtShape } from '../tensor.js';
import { ValueError } from '../wasm/errors.js';
import { Layer, LayerArgs, NodeContext, Shape } from './Layer.js';
import { cloneLayer, deserializeLayer, registerLayerClass, serializeLayer } from './serialization.js';

/** Base of layers made of sublayers; weights are the sublayers' weights, in order. */
export abstract class Wrapper extends Layer {
  /** The layers whose weights this layer's weights are, in getWeights() order. */
  abstract get sublayers(): Layer[];

  /** Keras sets `trainable` recursively: the wrapper's flag wins at each call. */
  protected syncTrainable(): void {
    for (const s of this.sublayers) s.trainable = this.trainable;
  }

  get weights(): { name: string; shape: number[]; trainable: boolean }[] {
    this.syncTrainable();
    return this.sublayers.flatMap((s) => s.weights);
  }

  getWeights(): Tensor[] {
    this.assertLive();
    return this.sublayers.flatMap((s) => s.getWeights());
  }

  getGradients(): Tensor[] {
    this.assertBuilt('getGradients()');
    return this.sublayers.flatMap((s) => s.getGradients());
  }

  setWeights(weights: (Tensor | Float32Array)[]): void {
    this.assertBuilt('setWeights()');
    const counts = this.sublayers.map((s) => s.weights.length);
    const total = counts.reduce((a, b) => a + b, 0);
    if (weights.length !== total) {
      throw new ValueError(`layer '${this.name}' has ${total} weights (${this.weights.map((w) => `${w.name} ${fmtShape(w.shape)}`).join(', ')}), got ${weights.length}`);
    }
    // Check every shape before writing any, so a bad call leaves the layer as it was.
    const all = this.weights;
    weights.forEach((w, i) => {
      const shape = w instanceof Tensor ? w.shape : [w.length];
      const want = all[i].shape;
      const ok = w instanceof Tensor ? shape.length === want.length && shape.every((d, k) => d === want[k]) : w.length === want.reduce((a, b) => a * b, 1);
      if (!ok) throw new ValueError(`layer '${this.name}': weight ${i} (${all[i].name}) must have shape ${fmtShape(want)}, got ${fmtShape(shape)}`);
    });
    let k = 0;
    this.sublayers.forEach((s, i) => {
      s.setWeights(weights.slice(k, k + counts[i]));
      k += counts[i];
    });
  }

  zeroGradients(): void {
    for (const s of this.sublayers) s.zeroGradients();
  }

  countParams(): number {
    this.assertBuilt('countParams()');
    return this.sublayers.reduce((a, s) => a + s.countParams(), 0);
  }

  releaseTrainingCaches(): void {
    for (const s of this.sublayers) s.releaseTrainingCaches();
  }

  protected disposeBuffers(): void {
    for (const s of this.sublayers) s.dispose();
  }
}

/** Child context for a sublayer: same node id (its own cache map), the given masks. */
export function subContext(ctx: NodeContext, masks: (Tensor | null)[]): NodeContext {
  return { training: ctx.training, masks, node: ctx.node, kwargs: {} };
}

/** (B, T, F) with the time axis reversed. */
export function flipTime(data: ArrayLike<number>, b: number, t: number, f: number): Float32Array {
  const out = new Float32Array(b * t * f);
  for (let i = 0; i < b; i++) {
    for (let s = 0; s < t; s++) {
      const src = (i * t + s) * f;
      const dst = (i * t + (t - 1 - s)) * f;
      for (let k = 0; k < f; k++) out[dst + k] = data[src + k];
    }
  }
  return out;
}

/** Zeros (in place) the steps of (B, T, F) where mask (B, T) is 0. */
export function zeroMaskedSteps(data: Float32Array, mask: ArrayLike<number>, b: number, t: number, f: number): void {
  for (let i = 0; i < b * t; i++) if (mask[i] === 0 || Number.isNaN(mask[i])) data.fill(0, i * f, (i + 1) * f);
}

// ---------------------------------------------------------------------------------------------
// TimeDistributed
// ---------------------------------------------------------------------------------------------

export interface TimeDistributedLayerArgs extends LayerArgs {
  /** The layer applied to every time step (required). */
  layer: Layer;
}

interface TdCache {
  x: Tensor;
  y: Tensor;
  inShape: number[];
  outShape: number[];
}

/**
 * Applies `layer` to every time step of (batch, time, ...): time is folded into the batch
 * ((batch·time, ...)), the layer runs once, and the result is unfolded. Masks pass through (and
 * reach the inner layer folded, (batch·time)).
 *
 * Porting note: Keras 3 and tfjs call the inner layer once per step. For per-row layers (Dense,
 * LayerNormalization, activations) that is the same function; for BatchNormalization inside
 * TimeDistributed the batch statistics here span every step at once, and the moving statistics
 * are updated once per call instead of once per step.
 */
export class TimeDistributed extends Wrapper {
  readonly className = 'TimeDistributed';
  readonly layer: Layer;
  private readonly caches = new Map<number, TdCache>();

  constructor(args: TimeDistributedLayerArgs) {
    super(args, 'time_distributed');
    if (!(args.layer instanceof Layer)) throw new ValueError(`TimeDistributed: 'layer' must be a Layer (e.g. layers.dense({units: 8})), got ${typeof args.layer}`);
    this.layer = args.layer;
    this.supportsMasking = true;
  }

  get sublayers(): Layer[] {
    return [this.layer];
  }

  private innerShape(shape: Shape): Shape {
    if (shape.length < 3) throw new ValueError(`TimeDistributed '${this.name}' expects input (batch, time, ...), got ${fmtShape(shape)}; it needs a time axis`);
    const [b, t] = shape;
    return [b === null || t === null ? null : b * t, ...shape.slice(2)];
  }

  build(inputShape: Shape | Shape[]): void {
    if (Array.isArray(inputShape[0])) throw new ValueError(`TimeDistributed '${this.name}' takes one input`);
    this.layer.ensureBuilt([this.innerShape(inputShape as Shape)]);
  }

  computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shape = inputShape as Shape;
    const inner = this.layer.computeOutputShape(this.innerShape(shape));
    if (Array.isArray(inner[0])) throw new ValueError(`TimeDistributed '${this.name}': the inner layer must have one output`);
    return [shape[0], shape[1], ...(inner as Shape).slice(1)];
  }

  forwardNode(inputs: Tensor[], ctx: NodeContext): Tensor[] {
    this.assertLive();
    this.syncTrainable();
    const x = inputs[0];
    if (x.rank < 3) throw new ValueError(`TimeDistributed '${this.name}' expects input (batch, time, ...), got ${fmtShape(x.shape)}; it needs a time axis`);
    const [b, t] = x.shape;
    const mask = ctx.masks[0] ?? null;
    if (mask && (mask.rank !== 2 || mask.shape[0] !== b || mask.shape[1] !== t)) {
      throw new ValueError(`TimeDistributed '${this.name}': mask must be (batch, time) = ${fmtShape([b, t])}, got ${fmtShape(mask.shape)}`);
    }
    const xr = x.reshape([b * t, ...x.shape.slice(2)]);
    const out = this.layer.forwardNode([xr], subContext(ctx, [mask ? mask.reshape([b * t]) : null]));
    if (out.length !== 1) throw new ValueError(`TimeDistributed '${this.name}': the inner layer must have one output, got ${out.length}`);
    const yr = out[0];
    const y = yr.reshape([b, t, ...yr.shape.slice(1)]);
    if (ctx.training) this.caches.set(ctx.node, { x: xr, y: yr, inShape: [...x.shape], outShape: [...y.shape] });
    return [y];
  }

  maskNode(_inputs: Tensor[], ctx: NodeContext, outputCount: number): (Tensor | null)[] {
    return new Array(outputCount).fill(null).map((_, i) => (i === 0 ? ctx.masks[0] ?? null : null));
  }

  backwardNode(dOutputs: (Tensor | null)[], ctx: NodeContext): (Tensor | null)[] {
    const c = this.caches.get(ctx.node);
    if (!c) throw new ValueError(`TimeDistributed '${this.name}': backward needs a preceding training call`);
    const d = dOutputs[0];
    if (!d) return [null];
    const [b, t] = c.inShape;
    const mask = ctx.masks[0] ?? null;
    const [dx] = this.layer.backwardNode([d.reshape([b * t, ...c.outShape.slice(2)])], subContext(ctx, [mask ? mask.reshape([b * t]) : null]), { inputs: [c.x], outputs: [c.y] });
    return [dx ? dx.reshape(c.inShape) : null];
  }

  releaseTrainingCaches(): void {
    this.caches.clear();
    super.releaseTrainingCaches();
  }

  getConfig(): Record<string, unknown> {
    return { ...this.baseConfig(), layer: serializeLayer(this.layer) };
  }

  static fromConfig(config: Record<string, unknown>): TimeDistributed {
    return new TimeDistributed({ ...(config as unknown as LayerArgs), layer: deserializeLayer(config.layer, 'TimeDistributed.fromConfig layer') });
  }
}

// ---------------------------------------------------------------------------------------------
// Bidirectional
// ---------------------------------------------------------------------------------------------

export type MergeMode = 'concat' | 'sum' | 'mul' | 'ave' | null;

export interface BidirectionalLayerArgs extends LayerArgs {
  /** The recurrent layer to copy for each direction (`layers.gru(...)` or `layers.rnn(...)`) (required). */
  layer: Layer;
  /** How the two directions' outputs combine; null returns both. Defaults to 'concat'. */
  mergeMode?: MergeMode;
  /** A layer for the backward direction (must have goBackwards: true). Defaults to a copy of `layer` with goBackwards: true. */
  backwardLayer?: Layer;
}

interface RecurrentLike {
  returnSequences: boolean;
  returnState: boolean;
  goBackwards: boolean;
}

interface BiCache {
  batch: number;
  time: number;
  units: number;
  /** Both directions' outputs as merged (time order, masked steps zeroed): for 'mul'. */
  y: Tensor;
  yRev: Tensor;
  fStates: number;
  mask: Tensor | null;
}

function recurrentFlags(layer: Layer, where: string): RecurrentLike {
  const c = layer.getConfig();
  if (typeof c.returnSequences !== 'boolean' || typeof c.goBackwards !== 'boolean') {
    throw new ValueError(`${where}: the layer must be recurrent (layers.gru or layers.rnn), got ${layer.className}`);
  }
  return { returnSequences: c.returnSequences as boolean, returnState: (c.returnState as boolean) ?? false, goBackwards: c.goBackwards as boolean };
}

function stripPrefix(name: string, prefix: string): string {
  return name.startsWith(prefix) ? name.slice(prefix.length) : name;
}

/**
 * Keras 3 `Bidirectional`: a forward copy (`forward_<name>`) and a backward copy
 * (`backward_<name>`, goBackwards: true) of `layer`, each with its own weights; getWeights()
 * lists the forward weights then the backward ones. With returnSequences the backward outputs
 * are flipped back into input time order before merging, and, as Keras 3 forces
 * `zero_output_for_mask` on both copies, masked steps output zeros. returnState returns
 * `[merged, ...forwardStates, ...backwardStates]`; `initialState` is split in halves (first half
 * forward).
 */
export class Bidirectional extends Wrapper {
  readonly className = 'Bidirectional';
  readonly forwardLayer: Layer;
  readonly backwardLayer: Layer;
  readonly mergeMode: MergeMode;
  readonly returnSequences: boolean;
  readonly returnState: boolean;
  private readonly customBackward: boolean;
  private readonly sourceConfig: { className: string; config: Record<string, unknown> };
  private readonly caches = new Map<number, BiCache>();

  constructor(args: BidirectionalLayerArgs) {
    super(args, 'bidirectional');
    const layer = args.layer;
    if (!(layer instanceof Layer)) throw new ValueError(`Bidirectional: 'layer' must be a recurrent Layer (layers.gru({...})), got ${typeof layer}`);
    const flags = recurrentFlags(layer, 'Bidirectional layer');
    const mode = args.mergeMode === undefined ? 'concat' : args.mergeMode;
    if (mode !== null && !['concat', 'sum', 'mul', 'ave'].includes(mode)) {
      throw new ValueError(`Bidirectional: mergeMode must be 'concat', 'sum', 'mul', 'ave' or null, got '${mode}'`);
    }
    this.mergeMode = mode;
    this.sourceConfig = serializeLayer(layer);
    this.forwardLayer = cloneLayer(layer, { name: `forward_${stripPrefix(layer.name, 'forward_')}` }, 'Bidirectional');
    if (args.backwardLayer) {
      const b = recurrentFlags(args.backwardLayer, 'Bidirectional backwardLayer');
      if (b.returnSequences !== flags.returnSequences || b.returnState !== flags.returnState) {
        throw new ValueError(`Bidirectional: backwardLayer must have the same returnSequences and returnState as layer (${flags.returnSequences}, ${flags.returnState}), got (${b.returnSequences}, ${b.returnState})`);
      }
      if (b.goBackwards === flags.goBackwards) throw new ValueError(`Bidirectional: backwardLayer must have goBackwards ${!flags.goBackwards} (the opposite of layer's)`);
      this.backwardLayer = args.backwardLayer;
      this.customBackward = true;
    } else {
      this.backwardLayer = cloneLayer(layer, { goBackwards: true, name: `backward_${stripPrefix(layer.name, 'backward_')}` }, 'Bidirectional');
      this.customBackward = false;
    }
    this.returnSequences = flags.returnSequences;
    this.returnState = flags.returnState;
    this.supportsMasking = true;
  }

  get sublayers(): Layer[] {
    return [this.forwardLayer, this.backwardLayer];
  }

  protected callInputs<T>(inputs: T[], kwargs: Record<string, unknown>): T[] {
    const s = kwargs.initialState as T | T[] | null | undefined;
    if (inputs.length > 1 || s === undefined || s === null) return inputs;
    const states = Array.isArray(s) ? s : [s];
    if (states.length % 2 !== 0) throw new ValueError(`Bidirectional '${this.name}': initialState must hold the forward states then the backward states (an even count), got ${states.length}`);
    return [...inputs, ...states];
  }

  protected buildShape(shapes: Shape[]): Shape {
    return shapes[0];
  }

  protected alwaysListOutput(): boolean {
    return this.mergeMode === null || this.returnState;
  }

  build(inputShape: Shape | Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    this.forwardLayer.ensureBuilt([shape]);
    this.backwardLayer.ensureBuilt([shape]);
  }

  computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    const f = this.forwardLayer.computeOutputShape(shape);
    const b = this.backwardLayer.computeOutputShape(shape);
    const fl = (this.returnState ? f : [f]) as Shape[];
    const bl = (this.returnState ? b : [b]) as Shape[];
    const out = fl[0];
    const last = out[out.length - 1];
    const merged: Shape[] =
      this.mergeMode === null ? [out, bl[0]] : [this.mergeMode === 'concat' ? [...out.slice(0, -1), last === null ? null : last + (bl[0][bl[0].length - 1] ?? 0)] : out];
    const all = [...merged, ...fl.slice(1), ...bl.slice(1)];
    return all.length === 1 ? all[0] : all;
  }

  forwardNode(inputs: Tensor[], ctx: NodeContext): Tensor[] {
    this.assertLive();
    this.syncTrainable();
    const x = inputs[0];
    const states = inputs.slice(1);
    const half = states.length / 2;
    const mask = ctx.masks[0] ?? null;
    const sub = subContext(ctx, [mask]);
    const fo = this.forwardLayer.forwardNode([x, ...states.slice(0, half)], sub);
    const bo = this.backwardLayer.forwardNode([x, ...states.slice(half)], sub);
    let y = fo[0];
    let yRev = bo[0];
    const [nb, nt] = x.shape;
    if (this.returnSequences) {
      const h = y.shape[2];
      const hb = yRev.shape[2];
      const yd = Float32Array.from(y.data);
      const rd = flipTime(yRev.data, nb, nt, hb);
      if (mask) {
        zeroMaskedSteps(yd, mask.data, nb, nt, h);
        zeroMaskedSteps(rd, mask.data, nb, nt, hb);
      }
      y = new Tensor(yd, y.shape);
      yRev = new Tensor(rd, yRev.shape);
    }
    if (ctx.training) this.caches.set(ctx.node, { batch: nb, time: nt, units: y.shape[y.rank - 1], y, yRev, fStates: fo.length - 1, mask });
    const merged = this.mergeMode === null ? [y, yRev] : [merge(this.mergeMode, y, yRev)];
    return [...merged, ...fo.slice(1), ...bo.slice(1)];
  }

  maskNode(_inputs: Tensor[], ctx: NodeContext, outputCount: number): (Tensor | null)[] {
    const m = this.returnSequences ? ctx.masks[0] ?? null : null;
    const nOut = this.mergeMode === null ? 2 : 1;
    return Array.from({ length: outputCount }, (_, i) => (i < nOut ? m : null));
  }

  backwardNode(dOutputs: (Tensor | null)[], ctx: NodeContext): (Tensor | null)[] {
    const c = this.caches.get(ctx.node);
    if (!c) throw new ValueError(`Bidirectional '${this.name}': backward needs a preceding training call`);
    const nOut = this.mergeMode === null ? 2 : 1;
    let dy: Float32Array | null = null;
    let dr: Float32Array | null = null;
    if (this.mergeMode === null) {
      dy = dOutputs[0] ? Float32Array.from(dOutputs[0].data) : null;
      dr = dOutputs[1] ? Float32Array.from(dOutputs[1].data) : null;
    } else if (dOutputs[0]) {
      [dy, dr] = unmerge(this.mergeMode, dOutputs[0], c.y, c.yRev);
    }
    const seqShape = c.y.shape;
    const hb = c.yRev.shape[c.yRev.rank - 1];
    if (this.returnSequences) {
      if (c.mask) {
        if (dy) zeroMaskedSteps(dy, c.mask.data, c.batch, c.time, c.units);
        if (dr) zeroMaskedSteps(dr, c.mask.data, c.batch, c.time, hb);
      }
      if (dr) dr = flipTime(dr, c.batch, c.time, hb);
    }
    const dStates = dOutputs.slice(nOut);
    const sub = subContext(ctx, [c.mask]);
    const fg = this.forwardLayer.backwardNode([dy ? new Tensor(dy, seqShape) : null, ...dStates.slice(0, c.fStates)], sub, { inputs: [], outputs: [] });
    const bg = this.backwardLayer.backwardNode([dr ? new Tensor(dr, c.yRev.shape) : null, ...dStates.slice(c.fStates)], sub, { inputs: [], outputs: [] });
    const dx = addOrNull(fg[0] ?? null, bg[0] ?? null);
    return [dx, ...fg.slice(1), ...bg.slice(1)];
  }

  releaseTrainingCaches(): void {
    this.caches.clear();
    super.releaseTrainingCaches();
  }

  getConfig(): Record<string, unknown> {
    const c: Record<string, unknown> = { ...this.baseConfig(), layer: this.sourceConfig, mergeMode: this.mergeMode };
    if (this.customBackward) c.backwardLayer = serializeLayer(this.backwardLayer);
    return c;
  }

  static fromConfig(config: Record<string, unknown>): Bidirectional {
    return new Bidirectional({
      ...(config as unknown as LayerArgs),
      layer: deserializeLayer(config.layer, 'Bidirectional.fromConfig layer'),
      mergeMode: config.mergeMode as MergeMode,
      backwardLayer: config.backwardLayer ? deserializeLayer(config.backwardLayer, 'Bidirectional.fromConfig backwardLayer') : undefined,
    });
  }
}

/** Keras' merge of the two directions, element-wise in f32. */
function merge(mode: Exclude<MergeMode, null>, y: Tensor, r: Tensor): Tensor {
  const a = y.data;
  const b = r.data;
  if (mode === 'concat') {
    const h = y.shape[y.rank - 1];
    const hb = r.shape[r.rank - 1];
    const rows = y.size / h;
    const out = new Float32Array(rows * (h + hb));
    for (let i = 0; i < rows; i++) {
      out.set(a.subarray(i * h, (i + 1) * h), i * (h + hb));
      out.set(b.subarray(i * hb, (i + 1) * hb), i * (h + hb) + h);
    }
    return new Tensor(out, [...y.shape.slice(0, -1), h + hb]);
  }
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) {
    out[i] = mode === 'sum' ? a[i] + b[i] : mode === 'mul' ? a[i] * b[i] : (a[i] + b[i]) / 2;
  }
  return new Tensor(out, y.shape);
}

/** dL/dy and dL/dyRev from dL/dmerged. */
function unmerge(mode: Exclude<MergeMode, null>, d: Tensor, y: Tensor, r: Tensor): [Float32Array, Float32Array] {
  const g = d.data;
  if (mode === 'concat') {
    const h = y.shape[y.rank - 1];
    const hb = r.shape[r.rank - 1];
    const rows = y.size / h;
    const dy = new Float32Array(rows * h);
    const dr = new Float32Array(rows * hb);
    for (let i = 0; i < rows; i++) {
      dy.set(g.subarray(i * (h + hb), i * (h + hb) + h), i * h);
      dr.set(g.subarray(i * (h + hb) + h, (i + 1) * (h + hb)), i * hb);
    }
    return [dy, dr];
  }
  const dy = new Float32Array(g.length);
  const dr = new Float32Array(g.length);
  for (let i = 0; i < g.length; i++) {
    if (mode === 'sum') {
      dy[i] = g[i];
      dr[i] = g[i];
    } else if (mode === 'ave') {
      dy[i] = g[i] / 2;
      dr[i] = g[i] / 2;
    } else {
      dy[i] = g[i] * r.data[i];
      dr[i] = g[i] * y.data[i];
    }
  }
  return [dy, dr];
}

function addOrNull(a: Tensor | null, b: Tensor | null): Tensor | null {
  if (!a) return b;
  if (!b) return a;
  const out = new Float32Array(a.size);
  for (let i = 0; i < out.length; i++) out[i] = a.data[i] + b.data[i];
  return new Tensor(out, a.shape);
}

registerLayerClass('TimeDistributed', TimeDistributed);
registerLayerClass('Bidirectional', Bidirectional);
