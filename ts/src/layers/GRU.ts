/**
 * `layers.gru`: a GRU layer with Keras 3 semantics, both cell forms (GRU-CONVENTIONS.md §1),
 * Keras weight layout (§2), masks, initial state, goBackwards, and a gradient entry point
 * (`apply(x, {training: true})` then `backward(dOutput, dState)`).
 */
import { ActivationName, activationId, activationName } from '../activations.js';
import { Tensor, fmtShape } from '../tensor.js';
import { Activation, GruFlags } from '../wasm/abi.js';
import { NonFiniteError, OutOfMemoryError, ValueError } from '../wasm/errors.js';
import { ReusableBuffer, WasmBuffer } from '../wasm/memory.js';
import { InitializerIdentifier, deriveSeed, getInitializer, initializersSuspended, serializeInitializer, Initializer } from '../initializers.js';
import { Layer, LayerArgs, NodeContext, Shape, randomSeed } from './Layer.js';
import { RegularizerIdentifier, getRegularizer } from '../regularizers.js';
import { ConstraintIdentifier, getConstraint } from '../constraints.js';
import { globalRandom } from '../random.js';
import { SymbolicTensor } from '../models/SymbolicTensor.js';

export interface GRULayerArgs extends LayerArgs {
  /** Number of units H (required). */
  units: number;
  /** Candidate activation. Defaults to 'tanh'. */
  activation?: ActivationName | 'hard_sigmoid' | null;
  /** Gate activation. Defaults to 'sigmoid' (Keras 3; tfjs defaults to 'hardSigmoid'). */
  recurrentActivation?: ActivationName | 'hard_sigmoid' | null;
  /** Defaults to true. */
  useBias?: boolean;
  /** Reset gate after the recurrent product (Keras 3 / PyTorch / cuDNN). Defaults to true. */
  resetAfter?: boolean;
  /** Return the whole sequence (batch, time, units) instead of the last output. Defaults to false. */
  returnSequences?: boolean;
  /** Also return the final state: `[output, state]`. Defaults to false. */
  returnState?: boolean;
  /** Process the sequence in reverse, returning outputs in processing order. Defaults to false. */
  goBackwards?: boolean;
  /** Defaults to 'glorotUniform'. */
  kernelInitializer?: InitializerIdentifier;
  /** Defaults to 'orthogonal'. */
  recurrentInitializer?: InitializerIdentifier;
  /** Defaults to 'zeros'. */
  biasInitializer?: InitializerIdentifier;
  /** Seed of the initializers (same seed, same weights, in every runtime). Defaults to one drawn from the global generator (`setSeed`). */
  seed?: number;
  /** Fraction of input features dropped in training, one mask per sequence (Keras 3). Defaults to 0. */
  dropout?: number;
  /** Fraction of state units dropped in training, one mask per sequence (Keras 3). Defaults to 0. */
  recurrentDropout?: number;
  /** Carry the last state of each batch into the next call (same batch size); `resetStates()` clears it. Defaults to false. */
  stateful?: boolean;
  /** Defaults to none. */
  kernelRegularizer?: RegularizerIdentifier | null;
  /** Defaults to none. */
  recurrentRegularizer?: RegularizerIdentifier | null;
  /** Defaults to none. */
  biasRegularizer?: RegularizerIdentifier | null;
  /** Defaults to none. */
  kernelConstraint?: ConstraintIdentifier | null;
  /** Defaults to none. */
  recurrentConstraint?: ConstraintIdentifier | null;
  /** Defaults to none. */
  biasConstraint?: ConstraintIdentifier | null;
  /**
   * ONNX `GRU` `clip`: every gate pre-activation (the input of the activations) is clamped to
   * [−clip, clip], with zero gradient where clamped. Not a Keras option: saveTfjsModel and the
   * PyTorch exporters refuse it; our format and ONNX export keep it. Defaults to null (no clip).
   */
  clip?: number | null;
  /** Accepted for Keras compatibility and ignored: the fused kernel has one implementation. */
  unroll?: boolean;
  /** Accepted for Keras compatibility and ignored. */
  implementation?: number;
}

export interface GRUCallArgs {
  [key: string]: unknown;
  /** (batch, units), or a one-element array of it (Keras passes a list of states). */
  initialState?: Tensor | Tensor[] | SymbolicTensor | SymbolicTensor[] | null;
  /** (batch, time); nonzero = valid step. Keras semantics: masked steps carry state and output. */
  mask?: Tensor | null;
  /** Keep what backward() needs. Defaults to false. */
  training?: boolean;
}

export interface GRUGradients {
  /** dL/dx (batch, time, inputDim). */
  dInput: Tensor;
  /** dL/dinitialState (batch, units), or null when no initial state was given. */
  dInitialState: Tensor | null;
  /** dL/dweights in getWeights() order: kernel, recurrentKernel, bias. */
  grads: Tensor[];
}

export const GRU_DEFAULTS = {
  activation: 'tanh',
  recurrentActivation: 'sigmoid',
  useBias: true,
  resetAfter: true,
  returnSequences: false,
  returnState: false,
  goBackwards: false,
  kernelInitializer: 'glorotUniform',
  recurrentInitializer: 'orthogonal',
  biasInitializer: 'zeros',
  dropout: 0,
  recurrentDropout: 0,
  stateful: false,
} as const;

/** What one training forward of one graph node left for backward. */
interface TrainingCache {
  tx: ReusableBuffer;
  tmask: ReusableBuffer;
  cache: ReusableBuffer;
  /** Input dropout mask (batch, inputDim), already scaled by 1/(1 − rate). */
  inputMask: Float32Array | null;
  /** Recurrent dropout masks (3, batch, units) for the z, r, h recurrent products, scaled. */
  recMask: ReusableBuffer;
  pending: {
    batch: number;
    time: number;
    hasMask: boolean;
    /** An initial state went into the kernel (given, or carried by a stateful layer). */
    hasInitialState: boolean;
    /** The initial state was a call input (so it gets a gradient). */
    explicitState: boolean;
    hasRecMask: boolean;
  } | null;
}

/** Keras' dropout mask: 0 with probability `rate`, else 1/(1 − rate). */
function dropoutMask(n: number, rate: number): Float32Array {
  const m = new Float32Array(n);
  const keep = Math.fround(1 / (1 - rate));
  const rng = globalRandom();
  for (let i = 0; i < n; i++) m[i] = rng.uniform() < rate ? 0 : keep;
  return m;
}

function checkRate(rate: number, what: string): number {
  if (!(rate >= 0 && rate < 1)) throw new ValueError(`GRU: ${what} must be in [0, 1), got ${rate}`);
  return rate;
}

export class GRU extends Layer {
  readonly className = 'GRU';
  readonly units: number;
  readonly activation: Activation;
  readonly recurrentActivation: Activation;
  readonly useBias: boolean;
  readonly resetAfter: boolean;
  readonly returnSequences: boolean;
  readonly returnState: boolean;
  readonly goBackwards: boolean;
  readonly kernelInitializer: Initializer;
  readonly recurrentInitializer: Initializer;
  readonly biasInitializer: Initializer;
  readonly seed: number | null;
  readonly dropout: number;
  readonly recurrentDropout: number;
  readonly stateful: boolean;
  readonly clip: number | null;
  private readonly regularizers: (ReturnType<typeof getRegularizer>)[];
  private readonly constraints: (ReturnType<typeof getConstraint>)[];
  private inputDim = 0;
  private packed: WasmBuffer | null = null;
  private packedDirty = true;
  private readonly buf: Record<string, ReusableBuffer> = {};
  /** One training cache per graph node (0 = eager calls), so a shared GRU trains correctly. */
  private readonly caches = new Map<number, TrainingCache>();
  /** Carried state of a stateful layer (batch, units). */
  private states: Float32Array | null = null;
  private statesBatch = 0;

  constructor(args: GRULayerArgs) {
    super(args, 'gru');
    if (!Number.isInteger(args.units) || args.units < 1) {
      throw new ValueError(`GRU: units must be a positive integer, got ${args.units}`);
    }
    this.units = args.units;
    // `null` means linear, as Keras' None; only `undefined` takes the default.
    this.activation = activationId(args.activation === undefined ? GRU_DEFAULTS.activation : args.activation, 'GRU activation', false);
    this.recurrentActivation = activationId(
      args.recurrentActivation === undefined ? GRU_DEFAULTS.recurrentActivation : args.recurrentActivation,
      'GRU recurrentActivation',
      false,
    );
    this.useBias = args.useBias ?? GRU_DEFAULTS.useBias;
    this.resetAfter = args.resetAfter ?? GRU_DEFAULTS.resetAfter;
    this.returnSequences = args.returnSequences ?? GRU_DEFAULTS.returnSequences;
    this.returnState = args.returnState ?? GRU_DEFAULTS.returnState;
    this.goBackwards = args.goBackwards ?? GRU_DEFAULTS.goBackwards;
    this.kernelInitializer = getInitializer(args.kernelInitializer ?? GRU_DEFAULTS.kernelInitializer, 'GRU kernelInitializer');
    this.recurrentInitializer = getInitializer(args.recurrentInitializer ?? GRU_DEFAULTS.recurrentInitializer, 'GRU recurrentInitializer');
    this.biasInitializer = getInitializer(args.biasInitializer ?? GRU_DEFAULTS.biasInitializer, 'GRU biasInitializer');
    this.seed = args.seed ?? null;
    this.dropout = checkRate(args.dropout ?? 0, 'dropout');
    this.recurrentDropout = checkRate(args.recurrentDropout ?? 0, 'recurrentDropout');
    this.stateful = args.stateful ?? false;
    this.clip = args.clip ?? null;
    if (this.clip !== null && !(typeof this.clip === 'number' && this.clip > 0 && Number.isFinite(this.clip))) {
      throw new ValueError(`GRU: clip must be a finite positive number or null, got ${String(args.clip)}`);
    }
    this.regularizers = [
      getRegularizer(args.kernelRegularizer, 'GRU kernelRegularizer'),
      getRegularizer(args.recurrentRegularizer, 'GRU recurrentRegularizer'),
      getRegularizer(args.biasRegularizer, 'GRU biasRegularizer'),
    ];
    this.constraints = [
      getConstraint(args.kernelConstraint, 'GRU kernelConstraint'),
      getConstraint(args.recurrentConstraint, 'GRU recurrentConstraint'),
      getConstraint(args.biasConstraint, 'GRU biasConstraint'),
    ];
    this.supportsMasking = true;
  }

  private get flags(): number {
    return (this.resetAfter ? GruFlags.ResetAfter : 0) | (this.goBackwards ? GruFlags.GoBackwards : 0);
  }

  build(inputShape: Shape | Shape[]): void {
    this.assertLive();
    if (this._built) return;
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    if (shape.length !== 3) {
      throw new ValueError(`GRU expects input (batch, time, features), got ${fmtShape(shape)}; add a time axis (e.g. reshape to (batch, 1, features))`);
    }
    const d = shape[2];
    if (d === null || !Number.isInteger(d) || d < 1) throw new ValueError(`GRU: the feature axis must be a known positive size, got ${fmtShape(shape)}`);
    const h = this.units;
    this.inputDim = d;
    const specs = [
      { name: 'kernel', shape: [d, 3 * h], regularizer: this.regularizers[0], constraint: this.constraints[0] },
      { name: 'recurrentKernel', shape: [h, 3 * h], regularizer: this.regularizers[1], constraint: this.constraints[1] },
    ];
    if (this.useBias) specs.push({ name: 'bias', shape: this.resetAfter ? [2, 3 * h] : [3 * h], regularizer: this.regularizers[2], constraint: this.constraints[2] });
    this.allocateWeights(specs);
    const seed = this.seed ?? randomSeed();
    const inits = [this.kernelInitializer, this.recurrentInitializer, this.biasInitializer];
    // A model being loaded skips the init (no orthogonal QR for weights overwritten next).
    if (!initializersSuspended()) this.weightSpecs.forEach((spec, i) => {
      inits[i].fill({ backend: this.backend!, buffer: this.params!, offset: spec.offset, shape: spec.shape }, deriveSeed(seed, i));
    });
    const backend = this.backend!;
    for (const name of ['x', 'h0', 'y', 'yLast', 'hLast', 'dy', 'dState', 'dx', 'dh0']) {
      this.buf[name] = new ReusableBuffer(backend);
    }
    this.buf.mask = new ReusableBuffer(backend, 'uint8');
    const packedLen = backend.exports.gru_packed_len(d, h, this.flags);
    if (packedLen === 0) throw new OutOfMemoryError(`GRU '${this.name}': ${d} inputs × ${h} units is too large for wasm32 memory`);
    this.packed = backend.alloc(packedLen);
    this._built = true;
    this.packedDirty = true;
  }

  weightsChanged(): void {
    this.packedDirty = true;
    for (const c of this.caches.values()) c.pending = null;
  }

  private ensurePacked(): void {
    if (!this.packedDirty) return;
    const b = this.backend!;
    const h = this.units;
    b.run(`GRU '${this.name}' weights`, () =>
      b.exports.gru_pack(this.packed!.ptr, this.weightPtr('params', 'kernel'), this.weightPtr('params', 'recurrentKernel'), this.weightPtr('params', 'bias'), this.inputDim, h, this.flags),
    );
    this.packedDirty = false;
  }

  /**
   * @internal Address of the packed weights (from `gru_pack`, repacked here if the weights changed
   * since): what `models/Stream.ts` hands `gru_forward` for one step.
   */
  packedWeightsPtr(): number {
    this.assertBuilt('streaming');
    this.ensurePacked();
    return this.packed!.ptr;
  }

  private trainingCache(node: number): TrainingCache {
    let c = this.caches.get(node);
    if (!c) {
      const b = this.backend!;
      c = { tx: new ReusableBuffer(b), tmask: new ReusableBuffer(b, 'uint8'), cache: new ReusableBuffer(b), recMask: new ReusableBuffer(b), inputMask: null, pending: null };
      this.caches.set(node, c);
    }
    return c;
  }

  /** Checks x, the initial state and the mask; returns (batch, time). */
  private checkInputs(x: Tensor, h0: Tensor | null, mask: Tensor | null): [number, number] {
    if (!(x instanceof Tensor)) throw new ValueError(`GRU '${this.name}'.apply expects a Tensor; make one with tensor(array)`);
    if (x.rank !== 3) {
      throw new ValueError(`GRU '${this.name}' expects input (batch, time, ${this.inputDim || 'features'}), got ${fmtShape(x.shape)}${x.rank === 2 ? '; add a time axis' : ''}`);
    }
    if (x.dtype !== 'float32') throw new ValueError(`GRU '${this.name}' expects float32 input, got ${x.dtype}; embed token ids first`);
    const [b, t, d] = x.shape;
    if (d !== this.inputDim) {
      throw new ValueError(`GRU '${this.name}' was built for ${this.inputDim} features, got input ${fmtShape(x.shape)}; pass (batch, time, ${this.inputDim}) or use a new layer`);
    }
    if (b < 1 || t < 1) throw new ValueError(`GRU '${this.name}': batch and time must be at least 1, got ${fmtShape(x.shape)}`);
    if (h0 && (h0.rank !== 2 || h0.shape[0] !== b || h0.shape[1] !== this.units)) {
      throw new ValueError(`GRU '${this.name}': initialState must be (batch, units) = ${fmtShape([b, this.units])}, got ${fmtShape(h0.shape)}`);
    }
    if (mask && (mask.rank !== 2 || mask.shape[0] !== b || mask.shape[1] !== t)) {
      throw new ValueError(`GRU '${this.name}': mask must be (batch, time) = ${fmtShape([b, t])}, got ${fmtShape(mask.shape)}`);
    }
    return [b, t];
  }

  protected callInputs<T>(inputs: T[], kwargs: Record<string, unknown>): T[] {
    const s = kwargs.initialState as T | T[] | null | undefined;
    if (inputs.length > 1) return inputs;
    if (s === undefined || s === null) return inputs;
    const states = Array.isArray(s) ? s : [s];
    if (states.length > 1) throw new ValueError(`GRU '${this.name}' has one state, got ${states.length} initial states`);
    return [...inputs, ...states];
  }

  protected buildShape(shapes: Shape[]): Shape {
    return shapes[0];
  }

  /**
   * Runs the layer. Returns the output ((batch, units), or (batch, time, units) with
   * returnSequences), or `[output, state]` with returnState. Given symbolic tensors, records a
   * graph node (`initialState` may then be symbolic too).
   */
  apply(x: SymbolicTensor | SymbolicTensor[], args?: GRUCallArgs): SymbolicTensor | SymbolicTensor[];
  apply(x: Tensor | Tensor[], args?: GRUCallArgs): Tensor | Tensor[];
  apply(x: Tensor | Tensor[] | SymbolicTensor | SymbolicTensor[], args: GRUCallArgs = {}): Tensor | Tensor[] | SymbolicTensor | SymbolicTensor[] {
    this.assertLive();
    if (!(x instanceof Tensor) && !(x instanceof SymbolicTensor) && !Array.isArray(x)) {
      throw new ValueError(`GRU '${this.name}'.apply expects a Tensor; make one with tensor(array)`);
    }
    return super.apply(x as Tensor, args as Record<string, unknown>);
  }

  forwardNode(inputs: Tensor[], ctx: NodeContext): Tensor[] {
    this.assertLive();
    const x = inputs[0];
    let h0 = inputs[1] ?? null;
    const explicitState = h0 !== null;
    const mask = ctx.masks[0] ?? null;
    const [nb, nt] = this.checkInputs(x, h0, mask);
    const h = this.units;
    const training = ctx.training;
    const b = this.backend!;
    this.ensurePacked();
    if (this.stateful && !h0) {
      if (this.states && this.statesBatch !== nb) {
        throw new ValueError(`GRU '${this.name}' is stateful and holds states for batch ${this.statesBatch}, got batch ${nb}; use a fixed batch size or call resetStates()`);
      }
      if (this.states) h0 = new Tensor(this.states, [nb, h]);
    }

    // A training call overwrites what backward() reads for this node; an inference call uses its
    // own buffers and leaves every node's training cache intact.
    const tc = training ? this.trainingCache(ctx.node) : null;
    if (tc) tc.pending = null;
    // Allocations first, so no view is held across them.
    const xBuf = tc ? tc.tx.get(x.size) : this.buf.x.get(x.size);
    const maskBuf = mask ? (tc ? tc.tmask : this.buf.mask).get(nb * nt) : null;
    const h0Buf = h0 ? this.buf.h0.get(nb * h) : null;
    const yBuf = this.returnSequences ? this.buf.y.get(nb * nt * h) : null;
    const yLastBuf = this.buf.yLast.get(nb * h);
    const hLastBuf = this.buf.hLast.get(nb * h);
    const useRecDropout = tc !== null && this.recurrentDropout > 0;
    const recMaskBuf = useRecDropout ? tc!.recMask.get(3 * nb * h) : null;
    let cacheBuf: WasmBuffer | null = null;
    if (tc) {
      const cacheLen = b.exports.gru_cache_len(nb, nt, h);
      if (cacheLen === 0 || cacheLen * 4 > 0x7fffffff) {
        throw new OutOfMemoryError(
          `GRU '${this.name}': training on (batch ${nb}, time ${nt}) with ${h} units needs a cache of ${nb} × ${h} × ${5 * nt + 1} floats, more than wasm32 memory holds; use smaller batches or shorter sequences`,
        );
      }
      cacheBuf = tc.cache.get(cacheLen);
    }
    xBuf.write(x.data);
    if (tc) {
      // Keras 3 GRUCell: masks drawn once per sequence and reused at every step. Input: one mask,
      // `inputs * dp_mask`. Recurrent (Keras ≥ 3.8, keras-team/keras#20656): three masks, one per
      // gate's recurrent product; the blend keeps the un-dropped state (see kernels/gru.rs).
      // Porting note: with recurrentDropout > 0 Keras also draws three input masks (one per
      // gate); here the input projection is one fused GEMM, so one input mask serves all gates.
      tc.inputMask = this.dropout > 0 ? dropoutMask(nb * this.inputDim, this.dropout) : null;
      if (tc.inputMask) scaleSteps(xBuf.f32(), tc.inputMask, nb, nt, this.inputDim);
      if (recMaskBuf) recMaskBuf.write(dropoutMask(3 * nb * h, this.recurrentDropout));
    }
    if (h0Buf) h0Buf.write(h0!.data);
    if (maskBuf) {
      const m = maskBuf.view() as Uint8Array;
      const src = mask!.data;
      for (let i = 0; i < src.length; i++) {
        if (Number.isNaN(src[i])) throw new NonFiniteError(`GRU '${this.name}': mask has NaN at flat index ${i}; use 1 for valid steps and 0 for padding`);
        m[i] = src[i] !== 0 ? 1 : 0;
      }
    }
    b.run(`GRU '${this.name}' forward`, () =>
      b.exports.gru_forward(
        yBuf ? yBuf.ptr : 0,
        yLastBuf.ptr,
        hLastBuf.ptr,
        cacheBuf ? cacheBuf.ptr : 0,
        xBuf.ptr,
        h0Buf ? h0Buf.ptr : 0,
        maskBuf ? maskBuf.ptr : 0,
        recMaskBuf ? recMaskBuf.ptr : 0,
        this.packed!.ptr,
        nb,
        nt,
        this.inputDim,
        h,
        this.flags,
        this.activation,
        this.recurrentActivation,
        this.clip ?? 0,
      ),
    );
    if (tc) tc.pending = { batch: nb, time: nt, hasMask: mask !== null, hasInitialState: h0Buf !== null, explicitState, hasRecMask: recMaskBuf !== null };
    const output = yBuf ? new Tensor(yBuf.toFloat32Array(0, nb * nt * h), [nb, nt, h]) : new Tensor(yLastBuf.toFloat32Array(0, nb * h), [nb, h]);
    const needState = this.returnState || this.stateful;
    const state = needState ? new Tensor(hLastBuf.toFloat32Array(0, nb * h), [nb, h]) : null;
    if (this.stateful) {
      this.states = state!.data as Float32Array;
      this.statesBatch = nb;
    }
    return this.returnState ? [output, state!] : [output];
  }

  maskNode(_inputs: Tensor[], ctx: NodeContext, outputCount: number): (Tensor | null)[] {
    const out: (Tensor | null)[] = [this.returnSequences ? ctx.masks[0] ?? null : null];
    while (out.length < outputCount) out.push(null);
    return out;
  }

  /**
   * Gradients of the node's last training forward. Weight gradients ACCUMULATE into the layer's
   * gradient buffer. Returns [dx, dInitialState (when one was given)].
   */
  backwardNode(dOutputs: (Tensor | null)[], ctx: NodeContext): (Tensor | null)[] {
    return this.runBackward(dOutputs, ctx.node, false);
  }

  private runBackward(dOutputs: (Tensor | null)[], node: number, zeroGradientsFirst: boolean): (Tensor | null)[] {
    this.assertBuilt('backward()');
    const tc = this.caches.get(node);
    const p = tc?.pending;
    if (!tc || !p) throw new ValueError(`GRU '${this.name}': backward() needs a preceding apply(x, {training: true}) with the current weights`);
    const dOutput = dOutputs[0] ?? null;
    const dState = dOutputs[1] ?? null;
    const { batch: nb, time: nt } = p;
    const h = this.units;
    const d = this.inputDim;
    const outShape = this.returnSequences ? [nb, nt, h] : [nb, h];
    if (dOutput && (dOutput.rank !== outShape.length || dOutput.shape.some((v, i) => v !== outShape[i]))) {
      throw new ValueError(`GRU '${this.name}': dOutput must have the output's shape ${fmtShape(outShape)}, got ${fmtShape(dOutput.shape)}`);
    }
    if (dState && (dState.rank !== 2 || dState.shape[0] !== nb || dState.shape[1] !== h)) {
      throw new ValueError(`GRU '${this.name}': dState must be (batch, units) = ${fmtShape([nb, h])}, got ${fmtShape(dState.shape)}`);
    }
    const b = this.backend!;
    const dyBuf = dOutput ? this.buf.dy.get(dOutput.size) : null;
    const dStateBuf = dState ? this.buf.dState.get(nb * h) : null;
    const dxBuf = this.buf.dx.get(nb * nt * d);
    const dh0Buf = p.hasInitialState ? this.buf.dh0.get(nb * h) : null;
    if (dyBuf) dyBuf.write(dOutput!.data);
    if (dStateBuf) dStateBuf.write(dState!.data);
    dxBuf.f32().fill(0, 0, nb * nt * d);
    if (dh0Buf) dh0Buf.f32().fill(0, 0, nb * h);
    if (zeroGradientsFirst) this.zeroGradients();
    const dyPtr = dyBuf && this.returnSequences ? dyBuf.ptr : 0;
    const dyLastPtr = dyBuf && !this.returnSequences ? dyBuf.ptr : 0;
    b.run(`GRU '${this.name}' backward`, () =>
      b.exports.gru_backward(
        dxBuf.ptr,
        dh0Buf ? dh0Buf.ptr : 0,
        this.weightPtr('grads', 'kernel'),
        this.weightPtr('grads', 'recurrentKernel'),
        this.weightPtr('grads', 'bias'),
        dyPtr,
        dyLastPtr,
        dStateBuf ? dStateBuf.ptr : 0,
        tc.cache.peek()!.ptr,
        tc.tx.peek()!.ptr,
        p.hasMask ? tc.tmask.peek()!.ptr : 0,
        p.hasRecMask ? tc.recMask.peek()!.ptr : 0,
        this.weightPtr('params', 'kernel'),
        this.weightPtr('params', 'recurrentKernel'),
        nb,
        nt,
        d,
        h,
        this.flags,
        this.activation,
        this.recurrentActivation,
        this.clip ?? 0,
      ),
    );
    const dx = dxBuf.toFloat32Array(0, nb * nt * d);
    if (tc.inputMask) scaleSteps(dx, tc.inputMask, nb, nt, d);
    const out: (Tensor | null)[] = [new Tensor(dx, [nb, nt, d])];
    // A stateful layer's carried state is not an input: truncated backpropagation, as Keras.
    if (p.explicitState) out.push(new Tensor(dh0Buf!.toFloat32Array(0, nb * h), [nb, h]));
    return out;
  }

  /**
   * Gradients of the last eager `apply(x, {training: true})`: `dOutput` is dL/d(output) with the
   * output's shape, `dState` is dL/d(final state) (batch, units) when returnState is used.
   * Weight gradients are also kept in the layer's gradient buffer: overwritten, or added to
   * with `{accumulate: true}`.
   */
  backward(dOutput: Tensor | null, dState: Tensor | null = null, options: { accumulate?: boolean } = {}): GRUGradients {
    this.assertBuilt('backward()');
    const p = this.caches.get(0)?.pending;
    if (!p) throw new ValueError(`GRU '${this.name}': backward() needs a preceding apply(x, {training: true}) with the current weights`);
    const [dx, dh0] = this.runBackward([dOutput, dState], 0, !options.accumulate);
    return { dInput: dx!, dInitialState: dh0 ?? null, grads: this.tensorsOf('grads') };
  }

  /** Clears the carried state of a stateful layer, or sets it to `states` (batch, units). */
  resetStates(states?: Tensor | null): void {
    this.assertLive();
    if (!this.stateful) throw new ValueError(`GRU '${this.name}' is not stateful; build it with stateful: true to carry states between calls`);
    if (states) {
      if (states.rank !== 2 || states.shape[1] !== this.units) throw new ValueError(`GRU '${this.name}': states must be (batch, ${this.units}), got ${fmtShape(states.shape)}`);
      this.states = Float32Array.from(states.data);
      this.statesBatch = states.shape[0];
    } else {
      this.states = null;
      this.statesBatch = 0;
    }
  }

  /** The carried state of a stateful layer (a copy), or null. */
  getStates(): Tensor | null {
    return this.states ? new Tensor(this.states.slice(), [this.statesBatch, this.units]) : null;
  }

  /** Output shape for an input shape (batch axis included). */
  computeOutputShape(inputShape: Shape): Shape | Shape[] {
    const [b, t] = inputShape;
    const out: Shape = this.returnSequences ? [b, t, this.units] : [b, this.units];
    return this.returnState ? [out, [b, this.units]] : out;
  }

  getConfig(): Record<string, unknown> {
    return {
      ...this.baseConfig(),
      units: this.units,
      activation: activationName(this.activation),
      recurrentActivation: activationName(this.recurrentActivation),
      useBias: this.useBias,
      resetAfter: this.resetAfter,
      returnSequences: this.returnSequences,
      returnState: this.returnState,
      goBackwards: this.goBackwards,
      kernelInitializer: serializeInitializer(this.kernelInitializer),
      recurrentInitializer: serializeInitializer(this.recurrentInitializer),
      biasInitializer: serializeInitializer(this.biasInitializer),
      seed: this.seed,
      dropout: this.dropout,
      recurrentDropout: this.recurrentDropout,
      stateful: this.stateful,
      kernelRegularizer: this.regularizers[0]?.toJSON() ?? null,
      recurrentRegularizer: this.regularizers[1]?.toJSON() ?? null,
      biasRegularizer: this.regularizers[2]?.toJSON() ?? null,
      kernelConstraint: this.constraints[0]?.toJSON() ?? null,
      recurrentConstraint: this.constraints[1]?.toJSON() ?? null,
      biasConstraint: this.constraints[2]?.toJSON() ?? null,
      // Only when set: files without it stay what Keras and tfjs read.
      ...(this.clip !== null ? { clip: this.clip } : {}),
    };
  }

  static fromConfig(config: Record<string, unknown>): GRU {
    return new GRU(config as unknown as GRULayerArgs);
  }

  protected disposeBuffers(): void {
    for (const b of Object.values(this.buf)) b.dispose();
    for (const c of this.caches.values()) {
      c.tx.dispose();
      c.tmask.dispose();
      c.cache.dispose();
      c.recMask.dispose();
    }
    this.caches.clear();
    this.packed?.dispose();
    this.packed = null;
  }
}

/** x[b, t, :] *= m[b, :] for every step: one dropout mask per sequence. */
function scaleSteps(x: Float32Array, m: Float32Array, nb: number, nt: number, d: number): void {
  for (let bi = 0; bi < nb; bi++) {
    const mo = bi * d;
    for (let t = 0; t < nt; t++) {
      const xo = (bi * nt + t) * d;
      for (let k = 0; k < d; k++) x[xo + k] *= m[mo + k];
    }
  }
}
