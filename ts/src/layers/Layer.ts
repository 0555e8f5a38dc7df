/**
 * Base of every layer, built-in or user-written.
 *
 * - Weights: one flat parameter buffer and one flat gradient buffer in wasm memory per layer, laid
 *   out by one (name, shape) table (`weightSpecs`); Keras-style `getWeights`/`setWeights`,
 *   `addWeight`, `countParams`, `trainableWeights`.
 * - Calling: `apply(x)` runs eagerly on `Tensor`s, or, given `SymbolicTensor`s (from `input()`),
 *   records a graph node for a functional `model()`.
 * - Override points for user layers (Keras names): `build(inputShape)`, `call(inputs, {training,
 *   mask})`, `backward(dOutputs, {inputs, outputs})`, `computeOutputShape`, `computeMask`,
 *   `getConfig`. `backward` returns dL/dinputs and adds weight gradients with
 *   `weight.addGradient(g)`: gradients ACCUMULATE; the trainer zeroes them once per step.
 * - The engine calls `forwardNode` / `backwardNode` with a node id: built-in layers keep one
 *   training cache per node, so a layer shared by two nodes of a model trains correctly.
 */
import { getBackend } from '../engine.js';
import { Tensor, finiteValuesTrusted, firstNonFinite, fmtShape } from '../tensor.js';
import { DisposedError, NonFiniteError, ValueError } from '../wasm/errors.js';
import type { Backend, WasmBuffer } from '../wasm/memory.js';
import { InitializerIdentifier, deriveSeed, getInitializer, initializersSuspended, Initializer } from '../initializers.js';
import { Node, SymbolicTensor } from '../models/SymbolicTensor.js';
import { Regularizer, RegularizerIdentifier, getRegularizer } from '../regularizers.js';
import type { Constraint } from '../constraints.js';
import { randomSeed } from '../random.js';

export { randomSeed };

export type Shape = (number | null)[];

export interface LayerArgs {
  /** Defaults to the class name in snake case plus a counter (`gru_1`). */
  name?: string;
  /** Defaults to true. A frozen layer still runs backward (for layers below it) but is not updated. */
  trainable?: boolean;
  /** Input shape without the batch axis (Keras `input_shape`); lets a Sequential build at once. */
  inputShape?: Shape;
  /** Input shape with the batch axis (Keras `batch_input_shape`). */
  batchInputShape?: Shape;
  /** Input dtype for the first layer of a Sequential. Defaults to 'float32'. */
  dtype?: 'float32' | 'int32';
  /** Penalty on the layer's outputs, added to the training loss (Keras `activity_regularizer`). Defaults to none. */
  activityRegularizer?: RegularizerIdentifier | null;
}

/** One weight: Keras name, shape, and where it sits in the flat parameter buffer. */
export interface WeightSpec {
  name: string;
  shape: number[];
  /** In floats. */
  offset: number;
  size: number;
  /** False for statistics such as BatchNormalization's moving mean. */
  trainable: boolean;
  regularizer: Regularizer | null;
  constraint: Constraint | null;
}

/** What `addWeight` and `allocateWeights` accept. */
export interface WeightRequest {
  name: string;
  shape: number[];
  trainable?: boolean;
  regularizer?: Regularizer | null;
  constraint?: Constraint | null;
}

/** Lays out weights back to back; offsets are in floats. */
export function layoutWeights(specs: WeightRequest[]): { specs: WeightSpec[]; total: number } {
  let offset = 0;
  const out = specs.map((s) => {
    const size = s.shape.reduce((a, b) => a * b, 1);
    const w: WeightSpec = { name: s.name, shape: s.shape, offset, size, trainable: s.trainable ?? true, regularizer: s.regularizer ?? null, constraint: s.constraint ?? null };
    offset += size;
    return w;
  });
  return { specs: out, total: offset };
}

const counters = new Map<string, number>();

function uniqueName(prefix: string): string {
  const n = (counters.get(prefix) ?? 0) + 1;
  counters.set(prefix, n);
  return `${prefix}_${n}`;
}

function snakeCase(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/([A-Z])([A-Z][a-z])/g, '$1_$2').toLowerCase();
}

/** Arguments of `apply` / `call`. */
export interface CallArgs {
  /** Training mode: dropout active, caches kept for backward. Defaults to false. */
  training?: boolean;
  /** One mask per input ((batch, time), nonzero = valid step), or null. */
  mask?: Tensor | (Tensor | null)[] | null;
  [key: string]: unknown;
}

/** What the engine hands a layer for one node of a graph. */
export interface NodeContext {
  training: boolean;
  /** One per input. */
  masks: (Tensor | null)[];
  /** The graph node being run (0 for eager calls): a shared layer keeps one cache per node. */
  node: number;
  /** Static call arguments recorded with the node. */
  kwargs: Record<string, unknown>;
}

/** What a user `backward` receives besides the output gradients. */
export interface BackwardContext {
  inputs: Tensor[];
  outputs: Tensor[];
  masks: (Tensor | null)[];
}

/** A handle on one weight of a layer, for user layers (`this.addWeight(...)`). */
export class LayerWeight {
  constructor(
    private readonly layer: Layer,
    readonly index: number,
  ) {}

  get spec(): WeightSpec {
    return this.layer.weightSpecList[this.index];
  }

  /** Keras name: `layer/weight`. */
  get name(): string {
    return `${this.layer.name}/${this.spec.name}`;
  }

  get shape(): number[] {
    return [...this.spec.shape];
  }

  /** A copy of the current values. */
  read(): Tensor {
    return this.layer.weightTensor('params', this.index);
  }

  /** Replaces the values (shape and finiteness checked). */
  write(values: Tensor | Float32Array): void {
    const all = this.layer.getWeights();
    all[this.index] = values instanceof Tensor ? values : new Tensor(values, this.spec.shape);
    this.layer.setWeights(all);
  }

  /** Adds `g` (same shape) to this weight's gradient. */
  addGradient(g: Tensor | Float32Array): void {
    this.layer.accumulateGradient(this.index, g instanceof Tensor ? g.data as Float32Array : g);
  }

  /** A copy of the current gradient. */
  readGradient(): Tensor {
    return this.layer.weightTensor('grads', this.index);
  }
}

interface PendingWeight extends WeightRequest {
  initializer: Initializer;
}

/**
 * Base of every layer, built-in or user-written (Keras `keras.layers.Layer`).
 *
 * - `apply(x)` runs eagerly on `Tensor`s or, given `SymbolicTensor`s from `input()`, records a
 *   graph node for `model({inputs, outputs})`.
 * - Weights live in one flat parameter buffer (and one gradient buffer) in wasm memory per layer;
 *   `getWeights` / `setWeights` speak Keras names, order and layout.
 * - A user layer subclasses this and overrides `build(inputShape)` (declaring weights with
 *   `this.addWeight(...)`), `call(inputs, {training, mask})`, and for training
 *   `backward(dOutputs, {inputs, outputs})`, which returns dL/dinputs and adds weight gradients
 *   with `weight.addGradient(g)` (gradients accumulate; the trainer zeroes them once per step).
 *   Optional: `computeOutputShape`, `computeMask`, `getConfig` (with `registerLayerClass` for
 *   loading). `test/training/model.test.ts` has complete examples.
 * - `dispose()` frees the layer's wasm memory.
 */
export abstract class Layer {
  readonly name: string;
  trainable: boolean;
  /** Input shape without the batch axis, when given at construction. */
  readonly inputShape: Shape | null;
  /** Input dtype when this layer starts a Sequential. */
  readonly inputDtype: 'float32' | 'int32';
  /** Penalty on the outputs, applied by the trainer. */
  readonly activityRegularizer: Regularizer | null;
  /** True when the layer passes masks through (`computeMask` returns the input mask). */
  supportsMasking = false;
  protected _built = false;
  protected _disposed = false;
  protected backend: Backend | null = null;
  /** All weights, flat, in `weightSpecs` order. */
  protected params: WasmBuffer | null = null;
  /** Gradients, same layout as `params`. */
  protected grads: WasmBuffer | null = null;
  protected weightSpecs: WeightSpec[] = [];
  private pendingWeights: PendingWeight[] = [];
  /** Graph nodes where this layer was applied to symbolic tensors. */
  readonly inboundNodes: Node[] = [];
  /** Output shape(s) of the last build (for `summary()`). */
  protected builtInputShape: Shape | Shape[] | null = null;

  constructor(args: LayerArgs = {}, prefix?: string) {
    this.name = args.name ?? uniqueName(prefix ?? snakeCase(this.constructor.name));
    this.trainable = args.trainable ?? true;
    this.inputShape = args.inputShape ?? (args.batchInputShape ? args.batchInputShape.slice(1) : null);
    this.inputDtype = args.dtype ?? 'float32';
    this.activityRegularizer = getRegularizer(args.activityRegularizer, `layer '${this.name}' activityRegularizer`);
  }

  /** Keras class name (`GRU`, `Dense`); also the key `fromConfig` registries use. */
  abstract readonly className: string;

  get built(): boolean {
    return this._built;
  }

  get disposed(): boolean {
    return this._disposed;
  }

  // ---- override points -------------------------------------------------------------------

  /** Creates the weights for an input of this shape (batch axis included, may be null). */
  build(_inputShape: Shape | Shape[]): void {}

  /**
   * Forward pass on concrete tensors: `call(inputs, {training, mask}: CallArgs)` returns a Tensor
   * or an array of Tensors. (Typed loosely, as `backward` is, so that `RNNCell` can declare Keras'
   * cell form `call(input, states, context)`.)
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  call(_inputs: Tensor | Tensor[], ..._rest: any[]): unknown {
    throw new ValueError(`layer '${this.name}' (${this.className}) has no call(); a user layer must implement call(inputs, {training, mask})`);
  }

  /**
   * Gradients of the last training `call`: given dL/doutputs, returns dL/dinputs (a Tensor, an
   * array for several inputs, null for inputs without a gradient such as token ids) and adds
   * weight gradients with `weight.addGradient`.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  backward(_dOutputs: Tensor | Tensor[] | null, ..._rest: any[]): unknown {
    throw new ValueError(
      `layer '${this.name}' (${this.className}) cannot be trained: it has no backward(). Implement backward(dOutputs, {inputs, outputs}) returning dL/dinputs, or set trainable: false on every layer below it`,
    );
  }

  /** Output shape(s) for input shape(s) (batch axis included). Defaults to the input shape. */
  computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    return inputShape;
  }

  /** Output mask(s) for the inputs and their masks. Defaults to passing the mask through when `supportsMasking`. */
  computeMask(_inputs: Tensor | Tensor[], mask: Tensor | null | (Tensor | null)[]): Tensor | null | (Tensor | null)[] {
    return this.supportsMasking ? mask : null;
  }

  /** Output dtype(s). Defaults to float32. */
  computeOutputDtype(_inputDtypes: ('float32' | 'int32')[]): 'float32' | 'int32' {
    return 'float32';
  }

  getConfig(): Record<string, unknown> {
    return this.baseConfig();
  }

  // ---- calling ---------------------------------------------------------------------------

  /**
   * The tensors a call consumes, main inputs first. Layers with tensor-valued call arguments
   * (GRU `initialState`) append them, so a graph node records them as inputs.
   */
  protected callInputs<T>(inputs: T[], _kwargs: Record<string, unknown>): T[] {
    return inputs;
  }

  /** The shape `build` receives, from the shapes of every call input. */
  protected buildShape(shapes: Shape[]): Shape | Shape[] {
    return shapes.length === 1 ? shapes[0] : shapes;
  }

  /** Builds once, then allocates the weights `build` requested with `addWeight`. */
  ensureBuilt(shapes: Shape[]): void {
    this.assertLive();
    if (this._built) return;
    const shape = this.buildShape(shapes);
    if (this.inputShape) {
      const main = (Array.isArray(shape[0]) || shape[0] === undefined ? (shape as Shape[])[0] : (shape as Shape)) ?? [];
      const expected = this.inputShape;
      const got = main.slice(1);
      if (Array.isArray(main) && !Array.isArray(main[0]) && (got.length !== expected.length || got.some((d, i) => expected[i] !== null && d !== null && d !== expected[i]))) {
        throw new ValueError(`layer '${this.name}' was declared with inputShape ${fmtShape(expected)}, got input ${fmtShape(main as Shape)}`);
      }
    }
    this.build(shape);
    this.finalizeWeights();
    this.builtInputShape = shape;
    this._built = true;
  }

  /**
   * Runs the layer. Given `Tensor`s it computes now; given `SymbolicTensor`s (from `input()`) it
   * records a graph node and returns symbolic outputs for `model({inputs, outputs})`.
   */
  apply(inputs: SymbolicTensor | SymbolicTensor[], kwargs?: CallArgs): SymbolicTensor | SymbolicTensor[];
  apply(inputs: Tensor | Tensor[], kwargs?: CallArgs): Tensor | Tensor[];
  apply(inputs: Tensor | Tensor[] | SymbolicTensor | SymbolicTensor[], kwargs: CallArgs = {}): Tensor | Tensor[] | SymbolicTensor | SymbolicTensor[] {
    this.assertLive();
    const list = (Array.isArray(inputs) ? inputs : [inputs]) as unknown[];
    if (list.length === 0) throw new ValueError(`layer '${this.name}'.apply needs at least one input`);
    const symbolic = list.filter((t) => t instanceof SymbolicTensor).length;
    if (symbolic > 0) {
      if (symbolic !== list.length) throw new ValueError(`layer '${this.name}'.apply got a mix of symbolic and concrete tensors; pass all symbolic (to build a model) or all concrete (to compute)`);
      return this.applySymbolic(list as SymbolicTensor[], kwargs, Array.isArray(inputs));
    }
    for (const t of list) {
      if (!(t instanceof Tensor)) throw new ValueError(`layer '${this.name}'.apply expects a Tensor; make one with tensor(array) (or pass symbolic tensors from input()) or symbolic tensors from input(), got ${t === null ? 'null' : typeof t}`);
    }
    const all = this.callInputs(list as Tensor[], kwargs).filter((t): t is Tensor => t !== null && t !== undefined);
    this.ensureBuilt(all.map((t) => [...t.shape]));
    const masks = normalizeMasks(kwargs.mask, list.length);
    while (masks.length < all.length) masks.push(null);
    const out = this.forwardNode(all, { training: kwargs.training ?? false, masks, node: 0, kwargs });
    return out.length === 1 && !this.alwaysListOutput() ? out[0] : out;
  }

  /** True when `apply` returns an array even for a single output. */
  protected alwaysListOutput(): boolean {
    return false;
  }

  private applySymbolic(list: SymbolicTensor[], kwargs: CallArgs, _wasList: boolean): SymbolicTensor | SymbolicTensor[] {
    const all = this.callInputs(list, kwargs).filter((t): t is SymbolicTensor => t instanceof SymbolicTensor);
    const shapes = all.map((t) => t.shape);
    this.ensureBuilt(shapes);
    const raw = this.computeOutputShape(this.buildShape(shapes));
    const outShapes = isShapeList(raw) ? raw : [raw as Shape];
    const staticKwargs: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(kwargs)) {
      if (v instanceof SymbolicTensor || (Array.isArray(v) && v.some((e) => e instanceof SymbolicTensor)) || k === 'mask') continue;
      staticKwargs[k] = v;
    }
    const node = new Node(this, all, staticKwargs);
    const dtype = this.computeOutputDtype(all.map((t) => t.dtype));
    outShapes.forEach((s, i) => node.outputs.push(new SymbolicTensor(s, dtype, node, i, outShapes.length === 1 ? this.name : `${this.name}:${i}`)));
    this.inboundNodes.push(node);
    return node.outputs.length === 1 && !this.alwaysListOutput() ? node.outputs[0] : [...node.outputs];
  }

  /** The engine's forward: runs `call` by default. */
  forwardNode(inputs: Tensor[], ctx: NodeContext): Tensor[] {
    const x = inputs.length === 1 ? inputs[0] : inputs;
    const mask = ctx.masks.length <= 1 ? ctx.masks[0] ?? null : ctx.masks;
    const out = this.call(x, { ...ctx.kwargs, training: ctx.training, mask });
    const list: unknown[] = Array.isArray(out) ? out : [out];
    for (const t of list) {
      if (!(t instanceof Tensor)) throw new ValueError(`layer '${this.name}'.call must return a Tensor or an array of Tensors`);
    }
    return list as Tensor[];
  }

  /** The engine's mask propagation: runs `computeMask` by default. */
  maskNode(inputs: Tensor[], ctx: NodeContext, outputCount: number): (Tensor | null)[] {
    const x = inputs.length === 1 ? inputs[0] : inputs;
    const mask = ctx.masks.length <= 1 ? ctx.masks[0] ?? null : ctx.masks;
    const m = this.computeMask(x, mask);
    const list = Array.isArray(m) ? m : [m];
    while (list.length < outputCount) list.push(list.length === 1 ? list[0] : null);
    return list.slice(0, outputCount);
  }

  /**
   * The engine's backward: dL/doutputs (null = no gradient reaches that output) to dL/dinputs
   * (null = none). Weight gradients accumulate. Runs the user `backward` by default, with zeros in
   * place of missing output gradients.
   */
  backwardNode(dOutputs: (Tensor | null)[], ctx: NodeContext, forward: { inputs: Tensor[]; outputs: Tensor[] }): (Tensor | null)[] {
    const filled = dOutputs.map((d, i) => d ?? new Tensor(new Float32Array(forward.outputs[i].size), forward.outputs[i].shape));
    const r = this.backward(filled.length === 1 ? filled[0] : filled, { inputs: forward.inputs, outputs: forward.outputs, masks: ctx.masks });
    const list = r === null || r === undefined ? [] : Array.isArray(r) ? r : [r];
    const out: (Tensor | null)[] = forward.inputs.map((_, i) => (list[i] instanceof Tensor ? (list[i] as Tensor) : null));
    out.forEach((g, i) => {
      if (g && g.size !== forward.inputs[i].size) {
        throw new ValueError(`layer '${this.name}'.backward returned a gradient of shape ${fmtShape(g.shape)} for input ${i} of shape ${fmtShape(forward.inputs[i].shape)}`);
      }
    });
    return out;
  }

  /** Forgets training caches of every node (the engine calls it after a step's backward). */
  releaseTrainingCaches(): void {}

  // ---- weights ---------------------------------------------------------------------------

  /**
   * Declares a weight inside `build` (Keras `add_weight`). Returns a handle; the buffer is
   * allocated and initialised when `build` returns.
   */
  addWeight(
    name: string,
    shape: number[],
    initializer: InitializerIdentifier = 'glorotUniform',
    options: { trainable?: boolean; regularizer?: Regularizer | null; constraint?: Constraint | null } = {},
  ): LayerWeight {
    this.assertLive();
    if (this.params) throw new ValueError(`layer '${this.name}': addWeight('${name}') must be called inside build()`);
    if (!shape.every((d) => Number.isInteger(d) && d >= 0)) throw new ValueError(`layer '${this.name}': weight '${name}' shape must hold non-negative integers, got ${fmtShape(shape)}`);
    if (this.pendingWeights.some((w) => w.name === name)) throw new ValueError(`layer '${this.name}' already has a weight named '${name}'`);
    this.pendingWeights.push({ name, shape: [...shape], initializer: getInitializer(initializer, `layer '${this.name}' weight '${name}'`), ...options });
    return new LayerWeight(this, this.pendingWeights.length - 1);
  }

  /** Allocates the weights `addWeight` declared and runs their initializers. */
  private finalizeWeights(): void {
    if (this.pendingWeights.length === 0 || this.params) return;
    const pending = this.pendingWeights;
    this.allocateWeights(pending);
    const seed = this.layerSeed();
    // A model being loaded skips the init: its weights are overwritten next.
    if (initializersSuspended()) return;
    this.weightSpecs.forEach((spec, i) => {
      pending[i].initializer.fill({ backend: this.backend!, buffer: this.params!, offset: spec.offset, shape: spec.shape }, deriveSeed(seed, i));
    });
  }

  /** Seed of the initializers of `addWeight` weights. */
  protected layerSeed(): number {
    return randomSeed();
  }

  /** Allocates the parameter and gradient buffers for this layout (zero-filled). */
  protected allocateWeights(specs: WeightRequest[]): void {
    const { specs: laid, total } = layoutWeights(specs);
    this.backend = getBackend();
    this.weightSpecs = laid;
    this.params = this.backend.alloc(total);
    this.params.fill(0);
    this.grads = this.backend.alloc(total);
    this.grads.fill(0);
  }

  /** The weight table (engine use: optimizer slots, regularizers, constraints). */
  get weightSpecList(): readonly WeightSpec[] {
    return this.weightSpecs;
  }

  /** Weight names and shapes, in getWeights() order. */
  get weights(): { name: string; shape: number[]; trainable: boolean }[] {
    return this.weightSpecs.map((s) => ({ name: `${this.name}/${s.name}`, shape: [...s.shape], trainable: s.trainable && this.trainable }));
  }

  /** Names and shapes of the weights an optimizer updates. */
  get trainableWeights(): { name: string; shape: number[] }[] {
    return this.weights.filter((w) => w.trainable);
  }

  /** Names and shapes of the weights it does not (frozen layers, moving statistics). */
  get nonTrainableWeights(): { name: string; shape: number[] }[] {
    return this.weights.filter((w) => !w.trainable);
  }

  /** Copies of the weights, in Keras order and layout. */
  getWeights(): Tensor[] {
    this.assertLive();
    if (!this._built) return [];
    return this.tensorsOf('params');
  }

  /** Copies of the current weight gradients, in getWeights() order. */
  getGradients(): Tensor[] {
    this.assertBuilt('getGradients()');
    return this.tensorsOf('grads');
  }

  /** Copies of each weight's slice of the parameter or gradient buffer, in weightSpecs order. */
  protected tensorsOf(buffer: 'params' | 'grads'): Tensor[] {
    if (!this[buffer]) return [];
    const all = this[buffer]!.f32();
    return this.weightSpecs.map((s) => new Tensor(all.slice(s.offset, s.offset + s.size), s.shape));
  }

  /** @internal A copy of one weight or its gradient. */
  weightTensor(buffer: 'params' | 'grads', index: number): Tensor {
    this.assertBuilt('reading a weight');
    const s = this.weightSpecs[index];
    return new Tensor(this[buffer]!.f32().slice(s.offset, s.offset + s.size), s.shape);
  }

  /** @internal A fresh view of the whole parameter or gradient buffer (do not keep it across calls). */
  weightTensorsView(buffer: 'params' | 'grads'): Float32Array {
    this.assertBuilt('weightTensorsView');
    return this[buffer]!.f32();
  }

  /** @internal Adds into one weight's gradient. */
  accumulateGradient(index: number, g: Float32Array): void {
    this.assertBuilt('addGradient()');
    const s = this.weightSpecs[index];
    if (g.length !== s.size) throw new ValueError(`layer '${this.name}': gradient of '${s.name}' must have ${s.size} values ${fmtShape(s.shape)}, got ${g.length}`);
    const all = this.grads!.f32();
    for (let i = 0; i < s.size; i++) all[s.offset + i] += g[i];
  }

  /** Byte address of weight `name` inside the parameter or gradient buffer; 0 if the layer has none. */
  protected weightPtr(buffer: 'params' | 'grads', name: string): number {
    const spec = this.weightSpecs.find((s) => s.name === name);
    return spec ? this[buffer]!.ptr + spec.offset * 4 : 0;
  }

  /** @internal Byte address of the whole parameter / gradient buffer (engine use). */
  bufferPtr(buffer: 'params' | 'grads'): number {
    this.assertBuilt('bufferPtr');
    return this[buffer] ? this[buffer]!.ptr : 0;
  }

  /** Sets every gradient to zero (the trainer does it once per step). */
  zeroGradients(): void {
    if (this.grads) this.grads.fill(0);
  }

  /**
   * Replaces the weights (Keras order and layout). Every shape and value is checked before any is
   * written, so a bad call leaves the layer as it was.
   */
  setWeights(weights: (Tensor | Float32Array)[]): void {
    this.assertBuilt('setWeights()');
    if (weights.length !== this.weightSpecs.length) {
      throw new ValueError(
        `layer '${this.name}' has ${this.weightSpecs.length} weights (${this.weightSpecs.map((s) => `${s.name} ${fmtShape(s.shape)}`).join(', ')}), got ${weights.length}`,
      );
    }
    const values = weights.map((w, i) => {
      const spec = this.weightSpecs[i];
      const data = w instanceof Tensor ? w.data : w;
      const shape = w instanceof Tensor ? w.shape : [data.length];
      const sameShape = w instanceof Tensor ? shape.length === spec.shape.length && shape.every((d, k) => d === spec.shape[k]) : data.length === spec.size;
      if (!sameShape) {
        throw new ValueError(`layer '${this.name}': weight ${i} (${spec.name}) must have shape ${fmtShape(spec.shape)}, got ${fmtShape(shape)}`);
      }
      const k = finiteValuesTrusted() ? -1 : firstNonFinite(data);
      if (k >= 0) throw new NonFiniteError(`layer '${this.name}': weight ${i} (${spec.name}) has a non-finite value (${data[k]}) at flat index ${k}; weights must be finite`);
      return data;
    });
    const all = this.params!.f32();
    values.forEach((data, i) => all.set(data, this.weightSpecs[i].offset));
    this.weightsChanged();
  }

  /** Called after the parameter buffer changed outside the layer's own calls (e.g. to repack). */
  weightsChanged(): void {}

  countParams(): number {
    this.assertBuilt('countParams()');
    return this.weightSpecs.reduce((a, s) => a + s.size, 0);
  }

  // ---- lifetime --------------------------------------------------------------------------

  protected assertLive(): void {
    if (this._disposed) throw new DisposedError(`layer '${this.name}' was disposed; build a new layer`);
  }

  protected assertBuilt(what: string): void {
    this.assertLive();
    if (!this._built) throw new ValueError(`layer '${this.name}': ${what} needs built weights; call build(inputShape) or apply it to an input first`);
  }

  /** Frees every wasm buffer the layer owns; later use throws `DisposedError`. */
  dispose(): void {
    if (this._disposed) return;
    this._disposed = true;
    this.params?.dispose();
    this.grads?.dispose();
    this.params = null;
    this.grads = null;
    this.disposeBuffers();
  }

  protected disposeBuffers(): void {}

  /** Shared fields of getConfig(). */
  protected baseConfig(): Record<string, unknown> {
    const c: Record<string, unknown> = { name: this.name, trainable: this.trainable };
    if (this.inputShape) c.inputShape = this.inputShape;
    if (this.inputDtype !== 'float32') c.dtype = this.inputDtype;
    if (this.activityRegularizer) c.activityRegularizer = this.activityRegularizer.toJSON();
    return c;
  }

  toString(): string {
    return `${this.className}(${this.name})`;
  }
}

function isShapeList(s: Shape | Shape[]): s is Shape[] {
  return s.length > 0 && Array.isArray(s[0]);
}

/** One mask per input from the `mask` call argument. */
export function normalizeMasks(mask: CallArgs['mask'], count: number): (Tensor | null)[] {
  if (mask === undefined || mask === null) return new Array(count).fill(null);
  if (mask instanceof Tensor) return [mask, ...new Array(Math.max(0, count - 1)).fill(null)];
  if (Array.isArray(mask)) return Array.from({ length: count }, (_, i) => mask[i] ?? null);
  throw new ValueError(`mask must be a Tensor, an array of Tensors or null, got ${typeof mask}`);
}
