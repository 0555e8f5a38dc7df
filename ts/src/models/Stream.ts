/**
 * Streaming inference: `model.createStream()` returns a `Stream` that feeds a model one time step
 * at a time and keeps the GRU states between steps, so `stream.step(x_t)` returns what
 * `model.predict` would return for the whole sequence so far (its step t for layers that return
 * sequences, the last step's output for those that do not). Keras users know this as a
 * `stateful` RNN; here the state lives in the stream, not the layer, so any number of streams
 * can run over the same weights, each with its own state.
 *
 * How: `compileStreamPlan` walks the model's graph once and turns each node into one op on
 * (rows, features) buffers: a GRU node is `gru_forward` with T = 1 and the stream's state as
 * h0; Dense, Embedding, LayerNormalization and BatchNormalization (moving statistics) call their
 * kernels directly; Dropout and InputLayer are aliases (inference is the identity). Every buffer a
 * step touches is allocated once per stream, in one wasm block, so a step allocates nothing in
 * wasm and, in JS, only the returned output (`stepInto` not even that).
 *
 * Layers that need the whole sequence (Bidirectional, goBackwards GRUs, pooling over time,
 * Flatten/Reshape) and layers with no streamed form (merges, nested models, RNN(cell)) are refused
 * with a `StreamingError` that lists every one of them.
 */
import { Tensor, fmtShape } from '../tensor.js';
import { DisposedError, ValueError } from '../wasm/errors.js';
import { Backend, WasmBuffer } from '../wasm/memory.js';
import { Activation as ActivationId, GruFlags } from '../wasm/abi.js';
import { Layer } from '../layers/Layer.js';
import { InputLayer } from '../layers/Input.js';
import { GRU } from '../layers/GRU.js';
import { Dense } from '../layers/Dense.js';
import { Embedding } from '../layers/Embedding.js';
import { ActivationLayer, activationForward } from '../layers/Activation.js';
import { Dropout } from '../layers/Dropout.js';
import { Masking } from '../layers/Masking.js';
import { BatchNormalization, LayerNormalization } from '../layers/Normalization.js';
import { TimeDistributed } from '../layers/Wrappers.js';
import type { Node, SymbolicTensor } from './SymbolicTensor.js';

/** A layer of the graph that cannot run step by step, and why. */
export interface UnstreamableLayer {
  name: string;
  className: string;
  reason: string;
}

/** The model has layers that need the whole sequence (or have no streamed form); `layers` lists them all. */
export class StreamingError extends ValueError {
  constructor(
    message: string,
    readonly layers: UnstreamableLayer[] = [],
  ) {
    super(message);
  }
}

export interface StreamArgs {
  /**
   * Independent sequences advanced together by each `step` (rows of its input). Each row has its
   * own state; they only share the kernel calls. Defaults to 1.
   */
  batch?: number;
}

/**
 * The state of a stream, detached from wasm memory: plain numbers and one Float32Array, so it can
 * be posted to a worker (transfer `data.buffer`) or kept to `restore` later, in this stream or in
 * another stream of the same model with the same `batch`.
 */
export interface StreamSnapshot {
  /** Rows of the stream it came from. */
  batch: number;
  /** Units of each GRU node's state, in plan order (so restore can check it fits). */
  units: number[];
  /** Steps taken since the last reset. */
  steps: number;
  /** The GRU states, (batch, units[k]) each, concatenated in plan order. */
  data: Float32Array;
}

// ---- the plan: one op per graph node, on slots of (rows, width) values ------------------

/** A value of the graph at one step: (rows, width) f32, or (rows) i32 token ids. */
interface Slot {
  width: number;
  dtype: 'float32' | 'int32';
  /** Has a time axis in the model (so step t of it is what the stream produces). */
  timed: boolean;
}

type Op =
  | { kind: 'gru'; layer: GRU; x: number; y: number; mask: number; state: number; d: number; h: number; flags: number; act: number; recAct: number; clip: number; label: string }
  | { kind: 'dense'; layer: Dense; x: number; y: number; kernel: number; bias: number; i: number; o: number; act: number; label: string }
  | { kind: 'embedding'; layer: Embedding; x: number; y: number; mask: number; table: number; v: number; e: number; label: string }
  | { kind: 'layernorm'; x: number; y: number; gamma: number; beta: number; c: number; eps: number; label: string }
  | { kind: 'batchnorm'; x: number; y: number; gamma: number; beta: number; mean: number; variance: number; c: number; eps: number; label: string }
  | { kind: 'activation'; x: number; y: number; act: ActivationId; width: number }
  | { kind: 'masking'; x: number; y: number; mask: number; value: number; width: number };

/** A model compiled for streaming: shared by every stream of it (streams own only buffers). */
export interface StreamPlan {
  backend: Backend;
  slots: Slot[];
  /** Mask slots: each a (rows) u8 buffer. */
  maskCount: number;
  ops: Op[];
  input: number;
  outputs: number[];
  /** Units of each GRU state, in op order. */
  stateUnits: number[];
  inputName: string;
}

function weightAddress(layer: Layer, name: string): number {
  const spec = layer.weightSpecList.find((s) => s.name === name);
  return spec ? layer.bufferPtr('params') + spec.offset * 4 : 0;
}

/**
 * Compiles `plan` (the model's nodes in execution order) between one input and its outputs into
 * streaming ops; throws a StreamingError naming every layer that cannot stream.
 */
export function compileStreamPlan(modelName: string, backend: Backend, inputs: SymbolicTensor[], outputs: SymbolicTensor[], plan: Node[]): StreamPlan {
  if (plan.length === 0 || inputs.length === 0) {
    throw new ValueError(`model '${modelName}'.createStream(): the model has no graph yet; give the first layer an inputShape (or call predict once) first`);
  }
  if (inputs.length !== 1) {
    throw new StreamingError(`model '${modelName}'.createStream(): a stream feeds one input, the model has ${inputs.length} (${inputs.map((t) => t.name).join(', ')})`);
  }
  const inp = inputs[0];
  const slots: Slot[] = [];
  const slotOf = new Map<number, number>();
  const maskOf = new Map<number, number>();
  let maskCount = 0;
  const ops: Op[] = [];
  const stateUnits: number[] = [];
  const bad: UnstreamableLayer[] = [];
  const refuse = (l: Layer, reason: string): void => {
    bad.push({ name: l.name, className: l.className, reason });
  };
  const newSlot = (s: Slot): number => slots.push(s) - 1;

  // The input: (batch, time, features) float, or (batch, time) token ids.
  if (inp.dtype === 'int32' && inp.shape.length === 2) {
    slotOf.set(inp.id, newSlot({ width: 1, dtype: 'int32', timed: true }));
  } else if (inp.dtype === 'float32' && inp.shape.length === 3 && inp.shape[2] !== null) {
    slotOf.set(inp.id, newSlot({ width: inp.shape[2], dtype: 'float32', timed: true }));
  } else {
    throw new StreamingError(
      `model '${modelName}'.createStream(): a stream needs an input with a time axis, (batch, time, features) float32 or (batch, time) token ids; input '${inp.name}' is ${fmtShape(inp.shape)} ${inp.dtype}`,
    );
  }
  maskOf.set(inp.id, -1);

  /** A slot for the output of a refused layer: never run, only there so later layers get checked. */
  const placeholder = (t: SymbolicTensor): void => {
    slotOf.set(t.id, newSlot({ width: t.shape[t.shape.length - 1] ?? 1, dtype: t.dtype, timed: t.shape.length === (t.dtype === 'int32' ? 2 : 3) }));
    maskOf.set(t.id, -1);
  };

  /** Width of a float tensor per row and step, or null when its shape has no streamed form. */
  const widthOf = (t: SymbolicTensor, timed: boolean): number | null => {
    const want = timed ? 3 : 2;
    const w = t.shape[t.shape.length - 1];
    return t.shape.length === want && w !== null ? w : null;
  };

  for (const node of plan) {
    const layer = node.layer;
    if (node.inputs.length !== 1) {
      refuse(layer, `takes ${node.inputs.length} inputs; only single-input layers stream`);
      node.outputs.forEach(placeholder);
      continue;
    }
    const src = node.inputs[0];
    const x = slotOf.get(src.id)!;
    const xs = slots[x];
    const inMask = maskOf.get(src.id) ?? -1;
    const out = node.outputs;
    // Per-row layers: TimeDistributed(inner) streams as inner on each step.
    const inner = layer instanceof TimeDistributed ? layer.layer : layer;
    const setOut = (k: number, slot: number, mask: number): void => {
      slotOf.set(out[k].id, slot);
      maskOf.set(out[k].id, mask);
    };
    const floatIn = (): boolean => {
      if (xs.dtype === 'float32') return true;
      refuse(layer, 'gets token ids; put an Embedding first');
      return false;
    };
    if (inner instanceof InputLayer || inner instanceof Dropout) {
      // Inference is the identity (Dropout, SpatialDropout1D): the output is the input's buffer.
      setOut(0, x, inner.supportsMasking ? inMask : -1);
    } else if (layer instanceof GRU) {
      if (layer.goBackwards) refuse(layer, 'goBackwards reads the sequence from its end');
      else if (!xs.timed) refuse(layer, `its input ${fmtShape(src.shape)} has no time axis`);
      else if (floatIn()) {
        const h = layer.units;
        const state = newSlot({ width: h, dtype: 'float32', timed: false });
        stateUnits.push(h);
        const y = newSlot({ width: h, dtype: 'float32', timed: layer.returnSequences });
        ops.push({
          kind: 'gru',
          layer,
          x,
          y,
          mask: inMask,
          state,
          d: xs.width,
          h,
          flags: layer.resetAfter ? GruFlags.ResetAfter : 0,
          act: layer.activation,
          recAct: layer.recurrentActivation,
          clip: layer.clip ?? 0,
          label: `GRU '${layer.name}' stream step`,
        });
        // A GRU's output is its state: `y` holds the new state after each step (the state slot
        // the one before), so a masked step repeats the previous output, as Keras.
        setOut(0, y, layer.returnSequences ? inMask : -1);
        if (out.length > 1) setOut(1, y, -1); // returnState: the state is the output
      }
    } else if (inner instanceof Dense) {
      const w = widthOf(out[0], xs.timed);
      if (w === null) refuse(layer, `output ${fmtShape(out[0].shape)} is not (batch, features) or (batch, time, features)`);
      else if (floatIn()) {
        const y = newSlot({ width: w, dtype: 'float32', timed: xs.timed });
        ops.push({ kind: 'dense', layer: inner, x, y, kernel: weightAddress(inner, 'kernel'), bias: weightAddress(inner, 'bias'), i: xs.width, o: w, act: inner.activation, label: `Dense '${layer.name}' stream step` });
        setOut(0, y, inMask);
      }
    } else if (inner instanceof Embedding && inner === layer) {
      if (xs.dtype !== 'int32' || !xs.timed) refuse(layer, `needs (batch, time) token ids, gets ${fmtShape(src.shape)} ${src.dtype}`);
      else {
        const y = newSlot({ width: inner.outputDim, dtype: 'float32', timed: true });
        const mask = inner.maskZero ? maskCount++ : -1;
        ops.push({ kind: 'embedding', layer: inner, x, y, mask, table: weightAddress(inner, 'embeddings'), v: inner.inputDim, e: inner.outputDim, label: `Embedding '${layer.name}' stream step` });
        setOut(0, y, mask);
      }
    } else if (inner instanceof LayerNormalization || inner instanceof BatchNormalization) {
      const rank = xs.timed ? 3 : 2;
      if (!(inner.axis === -1 || inner.axis === rank - 1)) refuse(layer, `normalizes over axis ${inner.axis}; only the feature axis (-1) streams`);
      else if (floatIn()) {
        const y = newSlot({ width: xs.width, dtype: 'float32', timed: xs.timed });
        const common = { x, y, gamma: weightAddress(inner, 'gamma'), beta: weightAddress(inner, 'beta'), c: xs.width, eps: inner.epsilon, label: `${inner.className} '${layer.name}' stream step` };
        if (inner instanceof LayerNormalization) ops.push({ kind: 'layernorm', ...common });
        else ops.push({ kind: 'batchnorm', ...common, mean: weightAddress(inner, 'movingMean'), variance: weightAddress(inner, 'movingVariance') });
        setOut(0, y, inMask);
      }
    } else if (inner instanceof ActivationLayer) {
      if (floatIn()) {
        const y = newSlot({ width: xs.width, dtype: 'float32', timed: xs.timed });
        ops.push({ kind: 'activation', x, y, act: inner.activation, width: xs.width });
        setOut(0, y, inMask);
      }
    } else if (inner instanceof Masking && inner === layer) {
      if (floatIn()) {
        const y = newSlot({ width: xs.width, dtype: 'float32', timed: xs.timed });
        const mask = maskCount++;
        ops.push({ kind: 'masking', x, y, mask, value: inner.maskValue, width: xs.width });
        setOut(0, y, mask);
      }
    } else {
      refuse(layer, reasonFor(layer));
    }
    // A refused layer still gets placeholder outputs, so the layers after it are checked too and
    // the error lists every offender at once.
    for (const t of out) if (!slotOf.has(t.id)) placeholder(t);
  }
  if (bad.length) {
    throw new StreamingError(
      `model '${modelName}' cannot stream: ${bad.map((b) => `'${b.name}' (${b.className}): ${b.reason}`).join('; ')}. ` +
        'Streams run InputLayer, Embedding, GRU (not goBackwards), Dense, Activation, Dropout, LayerNormalization, BatchNormalization, Masking and TimeDistributed of those; use predict() for the rest',
      bad,
    );
  }
  return { backend, slots, maskCount, ops, input: slotOf.get(inp.id)!, outputs: outputs.map((t) => slotOf.get(t.id)!), stateUnits, inputName: inp.name };
}

function reasonFor(layer: Layer): string {
  switch (layer.className) {
    case 'Bidirectional':
      return 'its backward half needs the whole sequence';
    case 'GlobalAveragePooling1D':
    case 'GlobalMaxPooling1D':
    case 'GlobalAveragePooling2D':
    case 'GlobalMaxPooling2D':
      return 'pools over the whole sequence';
    case 'Flatten':
    case 'Reshape':
    case 'Permute':
    case 'RepeatVector':
      return 'reshapes across the time axis';
    case 'RNN':
      return 'RNN(cell) has no streamed form; use layers.gru';
    default:
      return 'has no streamed form';
  }
}

// ---- wasm heap views, rebuilt only when memory grows ------------------------------------

let heapOf: ArrayBuffer | null = null;
let heapF32 = new Float32Array(0);
let heapI32 = new Int32Array(0);
let heapU8 = new Uint8Array(0);

/** Views of the whole wasm memory; rebuilt when memory.buffer changed (growth detaches them). */
function heap(backend: Backend): void {
  const buf = backend.memory.buffer;
  if (buf === heapOf) return;
  heapOf = buf;
  heapF32 = new Float32Array(buf);
  heapI32 = new Int32Array(buf);
  heapU8 = new Uint8Array(buf);
}

/** What `step` accepts: a Tensor, a typed or plain array of rows × features, or one token id / value. */
export type StreamInput = Tensor | Float32Array | Int32Array | ArrayLike<number> | number;

// ---- the stream ------------------------------------------------------------------------

/**
 * Step-by-step inference over a model (from `model.createStream()`). Each stream has its own GRU
 * states; `reset()` zeroes them, `snapshot()`/`restore()` save and load them, `dispose()` frees
 * the stream's wasm memory. `step` feeds one time step and returns the model's output for it.
 */
export class Stream {
  /** Rows advanced together by each step (independent sequences). */
  readonly batch: number;
  private block: WasmBuffer | null;
  /** Byte address of each slot's (batch, width) buffer. */
  private readonly addr: number[];
  /** Byte address of each mask's (batch) u8 buffer. */
  private readonly maskAddr: number[];
  /** Byte address of the (batch, max units) scratch every GRU op hands the kernel as `yLast`. */
  private readonly scratch: number;
  /** Cached subarray views for the JS ops (activation), rebuilt when memory grows. */
  private views: { of: ArrayBuffer | null; list: Float32Array[] } = { of: null, list: [] };
  private _steps = 0;

  /** @internal Use `model.createStream()`. */
  constructor(
    private readonly plan: StreamPlan,
    private readonly owner: { name: string; disposed(): boolean; streamDisposed(s: Stream): void },
    args: StreamArgs = {},
  ) {
    const batch = args.batch ?? 1;
    if (!Number.isInteger(batch) || batch < 1) throw new ValueError(`createStream(): batch must be a positive integer, got ${batch}`);
    this.batch = batch;
    // One block: every slot (4-byte values), the GRU scratch (largest state), then the masks.
    let bytes = 0;
    this.addr = plan.slots.map((s) => {
      const a = bytes;
      bytes += batch * s.width * 4;
      return a;
    });
    const maxUnits = Math.max(0, ...plan.stateUnits);
    const scratchAt = bytes;
    bytes += batch * maxUnits * 4;
    const masks: number[] = [];
    for (let k = 0; k < plan.maskCount; k++) {
      masks.push(bytes);
      bytes += (batch + 3) & ~3;
    }
    this.block = plan.backend.alloc(Math.max(1, bytes >> 2));
    const base = this.block.ptr;
    this.addr = this.addr.map((a) => base + a);
    this.maskAddr = masks.map((a) => base + a);
    this.scratch = base + scratchAt;
    this.reset();
  }

  /** Steps taken since creation or the last reset / restore. */
  get steps(): number {
    return this._steps;
  }

  get disposed(): boolean {
    return this.block === null;
  }

  private assertLive(): void {
    if (this.block === null) throw new DisposedError('this stream was disposed; create a new one with model.createStream()');
    if (this.owner.disposed()) throw new DisposedError(`model '${this.owner.name}' was disposed; its streams cannot step`);
  }

  /** Zeroes every GRU state (a fresh sequence). */
  reset(): void {
    this.assertLive();
    heap(this.plan.backend);
    for (const op of this.plan.ops) {
      if (op.kind === 'gru') {
        const a = this.addr[op.state] >> 2;
        heapF32.fill(0, a, a + this.batch * op.h);
      }
    }
    this._steps = 0;
  }

  /**
   * Feeds one time step and returns the model's output for it, (batch, features): the same as
   * `model.predict` on the sequence so far (at this step for sequence outputs). `x` is
   * (features,) or (batch, features) floats, or (batch,) token ids for a model that starts with
   * an Embedding (a single id when batch is 1). Multi-output models: use `stepOutputs`.
   */
  step(x: StreamInput): Tensor {
    if (this.plan.outputs.length !== 1) throw new ValueError(`model '${this.owner.name}' has ${this.plan.outputs.length} outputs; use stream.stepOutputs(x)`);
    this.advance(x);
    return this.output(0);
  }

  /** `step` for models with several outputs: one (batch, features) tensor per output. */
  stepOutputs(x: StreamInput): Tensor[] {
    this.advance(x);
    return this.plan.outputs.map((_, k) => this.output(k));
  }

  /**
   * `step` that writes output `index` into `out` (batch × features floats) instead of returning a
   * new tensor: a step that allocates nothing at all. Returns `out`.
   */
  stepInto(x: StreamInput, out: Float32Array, index = 0): Float32Array {
    const slot = this.plan.slots[this.plan.outputs[index] ?? -1];
    if (!slot) throw new ValueError(`stepInto(): the model has ${this.plan.outputs.length} outputs, no index ${index}`);
    const n = this.batch * slot.width;
    if (!(out instanceof Float32Array) || out.length < n) throw new ValueError(`stepInto(): out must be a Float32Array of at least batch × features = ${n}, got ${out instanceof Float32Array ? out.length : typeof out}`);
    this.advance(x);
    heap(this.plan.backend);
    const a = this.addr[this.plan.outputs[index]] >> 2;
    // A loop, not out.set(heapF32.subarray(...)): subarray would allocate a view every step.
    for (let i = 0; i < n; i++) out[i] = heapF32[a + i];
    return out;
  }

  private output(k: number): Tensor {
    const s = this.plan.outputs[k];
    const w = this.plan.slots[s].width;
    const a = this.addr[s] >> 2;
    return new Tensor(heapF32.slice(a, a + this.batch * w), [this.batch, w]);
  }

  /** Writes x into the input slot; checks its size. */
  private feed(x: StreamInput): void {
    const plan = this.plan;
    const slot = plan.slots[plan.input];
    const n = this.batch * slot.width;
    const a = this.addr[plan.input] >> 2;
    const ids = slot.dtype === 'int32';
    if (typeof x === 'number') {
      if (n !== 1) throw new ValueError(`stream.step(): a single number fits a stream of batch 1 with 1 feature; this one takes ${this.batch} × ${slot.width} values`);
      if (ids && !Number.isInteger(x)) throw new ValueError(`stream.step(): input '${plan.inputName}' holds token ids, got ${x}`);
      if (ids) heapI32[a] = x;
      else heapF32[a] = x;
      return;
    }
    const data = x instanceof Tensor ? x.data : x;
    if (!data || typeof data.length !== 'number') throw new ValueError(`stream.step() expects a Tensor, an array or a number, got ${x === null ? 'null' : typeof x}`);
    if (data.length !== n) {
      const shape = x instanceof Tensor ? fmtShape(x.shape) : `${data.length} values`;
      const want = ids ? `(${this.batch}) token ids` : this.batch === 1 ? `(${slot.width}) or (1, ${slot.width})` : `(${this.batch}, ${slot.width})`;
      throw new ValueError(`stream.step(): input '${plan.inputName}' takes one time step ${want}, got ${shape}; feed steps one at a time (x[:, t])`);
    }
    if (ids) {
      for (let i = 0; i < n; i++) {
        const v = data[i];
        if (!Number.isInteger(v)) throw new ValueError(`stream.step(): input '${plan.inputName}' holds token ids (int32), got the non-integer ${v} at index ${i}`);
        heapI32[a + i] = v;
      }
    } else if (data instanceof Float32Array) {
      heapF32.set(data, a);
    } else {
      for (let i = 0; i < n; i++) heapF32[a + i] = data[i];
    }
  }

  /** Runs every op once for this step. */
  private advance(x: StreamInput): void {
    this.assertLive();
    const { backend, ops } = this.plan;
    backend.assertUsable();
    heap(backend);
    this.feed(x);
    const e = backend.exports;
    const addr = this.addr;
    const rows = this.batch;
    let label = 'stream step';
    try {
      for (let k = 0; k < ops.length; k++) {
        const op = ops[k];
        let status = 0;
        switch (op.kind) {
          case 'gru': {
            label = op.label;
            const packed = op.layer.packedWeightsPtr();
            // h0 = state, hLast = y (the new state and output), yLast = scratch; then the new
            // state is copied back (the kernel's arguments may not alias).
            status = e.gru_forward(0, this.scratch, addr[op.y], 0, addr[op.x], addr[op.state], op.mask >= 0 ? this.maskAddr[op.mask] : 0, 0, packed, rows, 1, op.d, op.h, op.flags, op.act, op.recAct, op.clip);
            if (status === 0) {
              heap(backend);
              heapF32.copyWithin(addr[op.state] >> 2, addr[op.y] >> 2, (addr[op.y] >> 2) + rows * op.h);
            }
            break;
          }
          case 'dense':
            label = op.label;
            status = e.dense_forward(addr[op.y], addr[op.x], op.kernel, op.bias, rows, op.i, op.o, op.act);
            break;
          case 'embedding': {
            label = op.label;
            status = e.embedding_forward(addr[op.y], addr[op.x], op.table, rows, op.v, op.e);
            if (status === 0 && op.mask >= 0) {
              heap(backend);
              const ids = addr[op.x] >> 2;
              const m = this.maskAddr[op.mask];
              for (let r = 0; r < rows; r++) heapU8[m + r] = heapI32[ids + r] !== 0 ? 1 : 0;
            }
            break;
          }
          case 'layernorm':
            label = op.label;
            status = e.layernorm_forward(addr[op.y], 0, 0, addr[op.x], op.gamma, op.beta, rows, op.c, op.eps);
            break;
          case 'batchnorm':
            label = op.label;
            status = e.batchnorm_forward(addr[op.y], 0, 0, addr[op.x], 0, op.gamma, op.beta, op.mean, op.variance, rows, op.c, op.eps);
            break;
          case 'activation': {
            const v = this.slotViews();
            activationForward(op.act, v[op.y], v[op.x], op.width);
            break;
          }
          case 'masking': {
            heap(backend);
            const xa = addr[op.x] >> 2;
            const ya = addr[op.y] >> 2;
            const m = this.maskAddr[op.mask];
            const w = op.width;
            for (let r = 0; r < rows; r++) {
              let keep = 0;
              // `!==` as Keras' not_equal: NaN never equals the mask value.
              for (let j = 0; j < w; j++) if (heapF32[xa + r * w + j] !== op.value) { keep = 1; break; }
              heapU8[m + r] = keep;
              for (let j = 0; j < w; j++) heapF32[ya + r * w + j] = heapF32[xa + r * w + j] * keep;
            }
            break;
          }
        }
        if (status !== 0) backend.check(status, label);
      }
    } catch (err) {
      // A trap poisons the backend exactly as every other kernel call (Backend.run).
      if (err instanceof WebAssembly.RuntimeError) backend.run(label, () => { throw err; });
      throw err;
    }
    heap(backend);
    this._steps++;
  }

  /** (batch, width) views of every slot, cached until memory grows (for the JS-side ops). */
  private slotViews(): Float32Array[] {
    const buf = this.plan.backend.memory.buffer;
    if (this.views.of !== buf) {
      this.views = { of: buf, list: this.plan.slots.map((s, i) => new Float32Array(buf, this.addr[i], this.batch * s.width)) };
    }
    return this.views.list;
  }

  /** The GRU states as a detached, transferable object (see StreamSnapshot). */
  snapshot(): StreamSnapshot {
    this.assertLive();
    heap(this.plan.backend);
    const total = this.plan.stateUnits.reduce((a, h) => a + this.batch * h, 0);
    const data = new Float32Array(total);
    let off = 0;
    for (const op of this.plan.ops) {
      if (op.kind !== 'gru') continue;
      const a = this.addr[op.state] >> 2;
      data.set(heapF32.subarray(a, a + this.batch * op.h), off);
      off += this.batch * op.h;
    }
    return { batch: this.batch, units: [...this.plan.stateUnits], steps: this._steps, data };
  }

  /** Loads states saved by `snapshot()` (of this stream or another of the same model and batch). */
  restore(snapshot: StreamSnapshot): void {
    this.assertLive();
    const units = this.plan.stateUnits;
    const ok =
      snapshot &&
      snapshot.batch === this.batch &&
      Array.isArray(snapshot.units) &&
      snapshot.units.length === units.length &&
      snapshot.units.every((u, i) => u === units[i]) &&
      snapshot.data instanceof Float32Array &&
      snapshot.data.length === units.reduce((a, h) => a + this.batch * h, 0);
    if (!ok) {
      const got = snapshot && snapshot.data instanceof Float32Array ? `batch ${snapshot.batch}, units [${snapshot.units}], ${snapshot.data.length} values` : typeof snapshot;
      throw new ValueError(`stream.restore(): the snapshot does not fit this stream (batch ${this.batch}, GRU units [${units.join(', ')}]), got ${got}; restore snapshots of the same model and batch`);
    }
    heap(this.plan.backend);
    let off = 0;
    for (const op of this.plan.ops) {
      if (op.kind !== 'gru') continue;
      heapF32.set(snapshot.data.subarray(off, off + this.batch * op.h), this.addr[op.state] >> 2);
      off += this.batch * op.h;
    }
    this._steps = snapshot.steps ?? 0;
  }

  /** Frees the stream's wasm memory. Safe to call twice. */
  dispose(): void {
    if (this.block === null) return;
    this.block.dispose();
    this.block = null;
    this.views = { of: null, list: [] };
    this.owner.streamDisposed(this);
  }
}
