/**
 * `layers.dense`: y = act(x·kernel + bias) over the last axis, Keras layout kernel (in, units).
 */
import { ActivationName, activationId, activationName } from '../activations.js';
import { Tensor, fmtShape } from '../tensor.js';
import { Activation } from '../wasm/abi.js';
import { ValueError } from '../wasm/errors.js';
import { ReusableBuffer } from '../wasm/memory.js';
import { Initializer, InitializerIdentifier, deriveSeed, getInitializer, initializersSuspended, serializeInitializer } from '../initializers.js';
import { CallArgs, Layer, LayerArgs, NodeContext, Shape, randomSeed } from './Layer.js';
import { SymbolicTensor } from '../models/SymbolicTensor.js';
import { RegularizerIdentifier, getRegularizer } from '../regularizers.js';
import { ConstraintIdentifier, getConstraint } from '../constraints.js';

interface DenseCache {
  tx: ReusableBuffer;
  ty: ReusableBuffer;
  pending: { rows: number; inputShape: number[] } | null;
}

export interface DenseLayerArgs extends LayerArgs {
  /** Output size (required). */
  units: number;
  /** Defaults to 'linear'. */
  activation?: ActivationName | 'hard_sigmoid' | null;
  /** Defaults to true. */
  useBias?: boolean;
  /** Defaults to 'glorotUniform'. */
  kernelInitializer?: InitializerIdentifier;
  /** Defaults to 'zeros'. */
  biasInitializer?: InitializerIdentifier;
  /** Seed of the initializers. Defaults to one drawn from the global generator (`setSeed`). */
  seed?: number;
  /** Defaults to none. */
  kernelRegularizer?: RegularizerIdentifier | null;
  /** Defaults to none. */
  biasRegularizer?: RegularizerIdentifier | null;
  /** Defaults to none. */
  kernelConstraint?: ConstraintIdentifier | null;
  /** Defaults to none. */
  biasConstraint?: ConstraintIdentifier | null;
}

export interface DenseGradients {
  /** dL/dx, the input's shape. */
  dInput: Tensor;
  /** dL/dweights in getWeights() order: kernel, bias. */
  grads: Tensor[];
}

export const DENSE_DEFAULTS = { activation: 'linear', useBias: true, kernelInitializer: 'glorotUniform', biasInitializer: 'zeros' } as const;

export class Dense extends Layer {
  readonly className = 'Dense';
  readonly units: number;
  readonly activation: Activation;
  readonly useBias: boolean;
  readonly kernelInitializer: Initializer;
  readonly biasInitializer: Initializer;
  readonly seed: number | null;
  private inputDim = 0;
  private readonly regularizers: (ReturnType<typeof getRegularizer>)[];
  private readonly constraints: (ReturnType<typeof getConstraint>)[];
  private readonly buf: Record<string, ReusableBuffer> = {};
  /** One training cache per graph node (0 = eager calls). */
  private readonly caches = new Map<number, DenseCache>();

  constructor(args: DenseLayerArgs) {
    super(args, 'dense');
    if (!Number.isInteger(args.units) || args.units < 1) throw new ValueError(`Dense: units must be a positive integer, got ${args.units}`);
    this.units = args.units;
    this.activation = activationId(args.activation === undefined ? DENSE_DEFAULTS.activation : args.activation, 'Dense activation', true);
    this.useBias = args.useBias ?? DENSE_DEFAULTS.useBias;
    this.kernelInitializer = getInitializer(args.kernelInitializer ?? DENSE_DEFAULTS.kernelInitializer, 'Dense kernelInitializer');
    this.biasInitializer = getInitializer(args.biasInitializer ?? DENSE_DEFAULTS.biasInitializer, 'Dense biasInitializer');
    this.seed = args.seed ?? null;
    this.regularizers = [getRegularizer(args.kernelRegularizer, 'Dense kernelRegularizer'), getRegularizer(args.biasRegularizer, 'Dense biasRegularizer')];
    this.constraints = [getConstraint(args.kernelConstraint, 'Dense kernelConstraint'), getConstraint(args.biasConstraint, 'Dense biasConstraint')];
    this.supportsMasking = true;
  }

  build(inputShape: Shape | Shape[]): void {
    this.assertLive();
    if (this._built) return;
    if (Array.isArray(inputShape[0])) throw new ValueError(`Dense '${this.name}' takes one input, got ${inputShape.length}`);
    inputShape = inputShape as Shape;
    const d = inputShape[inputShape.length - 1];
    if (inputShape.length < 2 || d === null || d === undefined || !Number.isInteger(d) || d < 1) {
      throw new ValueError(`Dense expects input (batch, ..., features) with a known feature size, got ${fmtShape(inputShape)}`);
    }
    this.inputDim = d;
    const specs = [{ name: 'kernel', shape: [d, this.units], regularizer: this.regularizers[0], constraint: this.constraints[0] }];
    if (this.useBias) specs.push({ name: 'bias', shape: [this.units], regularizer: this.regularizers[1], constraint: this.constraints[1] });
    this.allocateWeights(specs);
    const seed = this.seed ?? randomSeed();
    const inits = [this.kernelInitializer, this.biasInitializer];
    // A model being loaded skips the init: its weights are overwritten next.
    if (!initializersSuspended()) this.weightSpecs.forEach((spec, i) => {
      inits[i].fill({ backend: this.backend!, buffer: this.params!, offset: spec.offset, shape: spec.shape }, deriveSeed(seed, i));
    });
    for (const name of ['x', 'y', 'dy', 'dx']) this.buf[name] = new ReusableBuffer(this.backend!);
    this._built = true;
  }

  weightsChanged(): void {
    for (const c of this.caches.values()) c.pending = null;
  }

  /** Runs the layer on (batch, ..., features); keeps what backward() needs when training. */
  apply(x: SymbolicTensor, args?: CallArgs): SymbolicTensor;
  apply(x: Tensor, args?: CallArgs): Tensor;
  apply(x: Tensor | SymbolicTensor, args: CallArgs = {}): Tensor | SymbolicTensor {
    this.assertLive();
    if (!(x instanceof Tensor) && !(x instanceof SymbolicTensor) && !Array.isArray(x)) throw new ValueError(`Dense '${this.name}'.apply expects a Tensor; make one with tensor(array)`);
    return super.apply(x as Tensor, args) as Tensor;
  }

  private trainingCache(node: number): DenseCache {
    let c = this.caches.get(node);
    if (!c) {
      c = { tx: new ReusableBuffer(this.backend!), ty: new ReusableBuffer(this.backend!), pending: null };
      this.caches.set(node, c);
    }
    return c;
  }

  forwardNode(inputs: Tensor[], ctx: NodeContext): Tensor[] {
    this.assertLive();
    const x = inputs[0];
    if (x.rank < 2 || x.shape[x.rank - 1] !== this.inputDim) {
      throw new ValueError(`Dense '${this.name}' expects input (batch, ..., ${this.inputDim}), got ${fmtShape(x.shape)}`);
    }
    if (x.dtype !== 'float32') throw new ValueError(`Dense '${this.name}' expects float32 input, got ${x.dtype}`);
    const rows = x.size / this.inputDim;
    if (rows < 1) throw new ValueError(`Dense '${this.name}': empty input ${fmtShape(x.shape)}`);
    const b = this.backend!;
    // A training call overwrites what backward() reads for its node; inference has its own buffers.
    const tc = ctx.training ? this.trainingCache(ctx.node) : null;
    if (tc) tc.pending = null;
    const xBuf = tc ? tc.tx.get(x.size) : this.buf.x.get(x.size);
    const yBuf = tc ? tc.ty.get(rows * this.units) : this.buf.y.get(rows * this.units);
    xBuf.write(x.data);
    b.run(`Dense '${this.name}' forward`, () =>
      b.exports.dense_forward(yBuf.ptr, xBuf.ptr, this.weightPtr('params', 'kernel'), this.weightPtr('params', 'bias'), rows, this.inputDim, this.units, this.activation),
    );
    if (tc) tc.pending = { rows, inputShape: [...x.shape] };
    return [new Tensor(yBuf.toFloat32Array(0, rows * this.units), [...x.shape.slice(0, -1), this.units])];
  }

  /** Gradients of the node's last training forward; weight gradients ACCUMULATE. Returns [dx]. */
  backwardNode(dOutputs: (Tensor | null)[], ctx: NodeContext): (Tensor | null)[] {
    return this.runBackward(dOutputs, ctx.node, false);
  }

  private runBackward(dOutputs: (Tensor | null)[], node: number, zeroGradientsFirst: boolean): (Tensor | null)[] {
    this.assertBuilt('backward()');
    const tc = this.caches.get(node);
    const p = tc?.pending;
    if (!tc || !p) throw new ValueError(`Dense '${this.name}': backward() needs a preceding apply(x, {training: true}) with the current weights`);
    const outShape = [...p.inputShape.slice(0, -1), this.units];
    const dOutput = dOutputs[0];
    if (!dOutput) return [null];
    if (dOutput.rank !== outShape.length || dOutput.shape.some((v, i) => v !== outShape[i])) {
      throw new ValueError(`Dense '${this.name}': dOutput must have the output's shape ${fmtShape(outShape)}, got ${fmtShape(dOutput.shape)}`);
    }
    const b = this.backend!;
    const dyBuf = this.buf.dy.get(dOutput.size);
    const dxBuf = this.buf.dx.get(p.rows * this.inputDim);
    dyBuf.write(dOutput.data);
    dxBuf.f32().fill(0, 0, p.rows * this.inputDim);
    if (zeroGradientsFirst) this.zeroGradients();
    b.run(`Dense '${this.name}' backward`, () =>
      b.exports.dense_backward(
        dxBuf.ptr,
        this.weightPtr('grads', 'kernel'),
        this.weightPtr('grads', 'bias'),
        dyBuf.ptr,
        tc.ty.peek()!.ptr,
        tc.tx.peek()!.ptr,
        this.weightPtr('params', 'kernel'),
        p.rows,
        this.inputDim,
        this.units,
        this.activation,
      ),
    );
    return [new Tensor(dxBuf.toFloat32Array(0, p.rows * this.inputDim), p.inputShape)];
  }

  /** Gradients of the last eager training apply; weight gradients overwrite (or add, with accumulate). */
  backward(dOutput: Tensor, options: { accumulate?: boolean } = {}): DenseGradients {
    this.assertBuilt('backward()');
    if (!this.caches.get(0)?.pending) throw new ValueError(`Dense '${this.name}': backward() needs a preceding apply(x, {training: true}) with the current weights`);
    const [dx] = this.runBackward([dOutput], 0, !options.accumulate);
    return { dInput: dx!, grads: this.tensorsOf('grads') };
  }

  computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return [...(inputShape as Shape).slice(0, -1), this.units];
  }

  getConfig(): Record<string, unknown> {
    return {
      ...this.baseConfig(),
      units: this.units,
      activation: activationName(this.activation),
      useBias: this.useBias,
      kernelInitializer: serializeInitializer(this.kernelInitializer),
      biasInitializer: serializeInitializer(this.biasInitializer),
      seed: this.seed,
      kernelRegularizer: this.regularizers[0]?.toJSON() ?? null,
      biasRegularizer: this.regularizers[1]?.toJSON() ?? null,
      kernelConstraint: this.constraints[0]?.toJSON() ?? null,
      biasConstraint: this.constraints[1]?.toJSON() ?? null,
    };
  }

  static fromConfig(config: Record<string, unknown>): Dense {
    return new Dense(config as unknown as DenseLayerArgs);
  }

  protected disposeBuffers(): void {
    for (const b of Object.values(this.buf)) b.dispose();
    for (const c of this.caches.values()) {
      c.tx.dispose();
      c.ty.dispose();
    }
    this.caches.clear();
  }
}
