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
import { InitializerIdentifier, deriveSeed, getInitializer, serializeInitializer, Initializer } from '../initializers.js';
import { Layer, LayerArgs, Shape, randomSeed } from './Layer.js';

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
  /** Seed of the initializers (same seed, same weights, in every runtime). Defaults to random. */
  seed?: number;
}

export interface GRUCallArgs {
  /** (batch, units), or a one-element array of it (Keras passes a list of states). */
  initialState?: Tensor | Tensor[] | null;
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
} as const;

/** What one training forward left for backward. */
interface PendingForward {
  batch: number;
  time: number;
  hasMask: boolean;
  hasInitialState: boolean;
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
  private inputDim = 0;
  private packed: WasmBuffer | null = null;
  private packedDirty = true;
  private pending: PendingForward | null = null;
  private readonly buf: Record<string, ReusableBuffer> = {};

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
  }

  private get flags(): number {
    return (this.resetAfter ? GruFlags.ResetAfter : 0) | (this.goBackwards ? GruFlags.GoBackwards : 0);
  }

  build(inputShape: Shape): void {
    this.assertLive();
    if (this._built) return;
    if (inputShape.length !== 3) {
      throw new ValueError(`GRU expects input (batch, time, features), got ${fmtShape(inputShape)}; add a time axis (e.g. reshape to (batch, 1, features))`);
    }
    const d = inputShape[2];
    if (d === null || !Number.isInteger(d) || d < 1) throw new ValueError(`GRU: the feature axis must be a known positive size, got ${fmtShape(inputShape)}`);
    const h = this.units;
    this.inputDim = d;
    const specs = [
      { name: 'kernel', shape: [d, 3 * h] },
      { name: 'recurrentKernel', shape: [h, 3 * h] },
    ];
    if (this.useBias) specs.push({ name: 'bias', shape: this.resetAfter ? [2, 3 * h] : [3 * h] });
    this.allocateWeights(specs);
    const seed = this.seed ?? randomSeed();
    const inits = [this.kernelInitializer, this.recurrentInitializer, this.biasInitializer];
    this.weightSpecs.forEach((spec, i) => {
      inits[i].fill({ backend: this.backend!, buffer: this.params!, offset: spec.offset, shape: spec.shape }, deriveSeed(seed, i));
    });
    const backend = this.backend!;
    for (const name of ['x', 'h0', 'y', 'yLast', 'hLast', 'tx', 'cache', 'dy', 'dState', 'dx', 'dh0']) {
      this.buf[name] = new ReusableBuffer(backend);
    }
    this.buf.mask = new ReusableBuffer(backend, 'uint8');
    this.buf.tmask = new ReusableBuffer(backend, 'uint8');
    const packedLen = backend.exports.gru_packed_len(d, h, this.flags);
    if (packedLen === 0) throw new OutOfMemoryError(`GRU '${this.name}': ${d} inputs × ${h} units is too large for wasm32 memory`);
    this.packed = backend.alloc(packedLen);
    this._built = true;
    this.packedDirty = true;
  }

  protected weightsChanged(): void {
    this.packedDirty = true;
    this.pending = null;
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

  /** Checks x, the initial state and the mask; returns (batch, time). */
  private checkInputs(x: Tensor, h0: Tensor | null, mask: Tensor | null): [number, number] {
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

  /**
   * Runs the layer. Returns the output ((batch, units), or (batch, time, units) with
   * returnSequences), or `[output, state]` with returnState.
   */
  apply(x: Tensor, args: GRUCallArgs = {}): Tensor | Tensor[] {
    this.assertLive();
    if (!(x instanceof Tensor)) throw new ValueError(`GRU '${this.name}'.apply expects a Tensor; make one with tensor(array)`);
    if (!this._built) this.build([...x.shape]);
    const h0 = Array.isArray(args.initialState) ? this.singleState(args.initialState) : args.initialState ?? null;
    const mask = args.mask ?? null;
    const [nb, nt] = this.checkInputs(x, h0, mask);
    const h = this.units;
    const training = args.training ?? false;
    const b = this.backend!;
    this.ensurePacked();

    // A training call overwrites what backward() reads, so the previous one is gone from here on;
    // an inference call uses its own buffers and leaves it intact.
    if (training) this.pending = null;
    // Write inputs; allocations happen first, so no view is held across them.
    const xBuf = this.buf[training ? 'tx' : 'x'].get(x.size);
    const maskBuf = mask ? this.buf[training ? 'tmask' : 'mask'].get(nb * nt) : null;
    const h0Buf = h0 ? this.buf.h0.get(nb * h) : null;
    const yBuf = this.returnSequences ? this.buf.y.get(nb * nt * h) : null;
    const yLastBuf = this.buf.yLast.get(nb * h);
    const hLastBuf = this.buf.hLast.get(nb * h);
    let cacheBuf: WasmBuffer | null = null;
    if (training) {
      const cacheLen = b.exports.gru_cache_len(nb, nt, h);
      if (cacheLen === 0 || cacheLen * 4 > 0x7fffffff) {
        throw new OutOfMemoryError(
          `GRU '${this.name}': training on (batch ${nb}, time ${nt}) with ${h} units needs a cache of ${nb} × ${h} × ${5 * nt + 1} floats, more than wasm32 memory holds; use smaller batches or shorter sequences`,
        );
      }
      cacheBuf = this.buf.cache.get(cacheLen);
    }
    xBuf.write(x.data);
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
        0, // recMask: no recurrent dropout
        this.packed!.ptr,
        nb,
        nt,
        this.inputDim,
        h,
        this.flags,
        this.activation,
        this.recurrentActivation,
      ),
    );
    if (training) this.pending = { batch: nb, time: nt, hasMask: mask !== null, hasInitialState: h0 !== null };
    const output = yBuf ? new Tensor(yBuf.toFloat32Array(0, nb * nt * h), [nb, nt, h]) : new Tensor(yLastBuf.toFloat32Array(0, nb * h), [nb, h]);
    if (!this.returnState) return output;
    return [output, new Tensor(hLastBuf.toFloat32Array(0, nb * h), [nb, h])];
  }

  private singleState(states: Tensor[]): Tensor | null {
    if (states.length === 0) return null;
    if (states.length !== 1) throw new ValueError(`GRU '${this.name}' has one state, got ${states.length} initial states`);
    return states[0];
  }

  /**
   * Gradients of the last `apply(x, {training: true})`: `dOutput` is dL/d(output) with the
   * output's shape, `dState` is dL/d(final state) (batch, units) when returnState is used.
   * Weight gradients are also kept in the layer's gradient buffer: overwritten, or added to
   * with `{accumulate: true}`.
   */
  backward(dOutput: Tensor | null, dState: Tensor | null = null, options: { accumulate?: boolean } = {}): GRUGradients {
    this.assertBuilt('backward()');
    const p = this.pending;
    if (!p) throw new ValueError(`GRU '${this.name}': backward() needs a preceding apply(x, {training: true}) with the current weights`);
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
    if (!options.accumulate) this.grads!.fill(0);
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
        this.buf.cache.peek()!.ptr,
        this.buf.tx.peek()!.ptr,
        p.hasMask ? this.buf.tmask.peek()!.ptr : 0,
        0, // recMask: no recurrent dropout
        this.weightPtr('params', 'kernel'),
        this.weightPtr('params', 'recurrentKernel'),
        nb,
        nt,
        d,
        h,
        this.flags,
        this.activation,
        this.recurrentActivation,
      ),
    );
    return {
      dInput: new Tensor(dxBuf.toFloat32Array(0, nb * nt * d), [nb, nt, d]),
      dInitialState: dh0Buf ? new Tensor(dh0Buf.toFloat32Array(0, nb * h), [nb, h]) : null,
      grads: this.tensorsOf('grads'),
    };
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
    };
  }

  static fromConfig(config: Record<string, unknown>): GRU {
    return new GRU(config as unknown as GRULayerArgs);
  }

  protected disposeBuffers(): void {
    for (const b of Object.values(this.buf)) b.dispose();
    this.packed?.dispose();
    this.packed = null;
    this.pending = null;
  }
}
