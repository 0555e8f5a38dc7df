/**
 * `layers.dense`: y = act(x·kernel + bias) over the last axis, Keras layout kernel (in, units).
 */
import { ActivationName, activationId, activationName } from '../activations.js';
import { Tensor, fmtShape } from '../tensor.js';
import { Activation } from '../wasm/abi.js';
import { ValueError } from '../wasm/errors.js';
import { ReusableBuffer } from '../wasm/memory.js';
import { Initializer, InitializerIdentifier, deriveSeed, getInitializer, serializeInitializer } from '../initializers.js';
import { Layer, LayerArgs, Shape, randomSeed } from './Layer.js';

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
  /** Seed of the initializers. Defaults to random. */
  seed?: number;
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
  private pending: { rows: number; inputShape: number[] } | null = null;
  private readonly buf: Record<string, ReusableBuffer> = {};

  constructor(args: DenseLayerArgs) {
    super(args, 'dense');
    if (!Number.isInteger(args.units) || args.units < 1) throw new ValueError(`Dense: units must be a positive integer, got ${args.units}`);
    this.units = args.units;
    this.activation = activationId(args.activation === undefined ? DENSE_DEFAULTS.activation : args.activation, 'Dense activation', true);
    this.useBias = args.useBias ?? DENSE_DEFAULTS.useBias;
    this.kernelInitializer = getInitializer(args.kernelInitializer ?? DENSE_DEFAULTS.kernelInitializer, 'Dense kernelInitializer');
    this.biasInitializer = getInitializer(args.biasInitializer ?? DENSE_DEFAULTS.biasInitializer, 'Dense biasInitializer');
    this.seed = args.seed ?? null;
  }

  build(inputShape: Shape): void {
    this.assertLive();
    if (this._built) return;
    const d = inputShape[inputShape.length - 1];
    if (inputShape.length < 2 || d === null || d === undefined || !Number.isInteger(d) || d < 1) {
      throw new ValueError(`Dense expects input (batch, ..., features) with a known feature size, got ${fmtShape(inputShape)}`);
    }
    this.inputDim = d;
    const specs = [{ name: 'kernel', shape: [d, this.units] }];
    if (this.useBias) specs.push({ name: 'bias', shape: [this.units] });
    this.allocateWeights(specs);
    const seed = this.seed ?? randomSeed();
    const inits = [this.kernelInitializer, this.biasInitializer];
    this.weightSpecs.forEach((spec, i) => {
      inits[i].fill({ backend: this.backend!, buffer: this.params!, offset: spec.offset, shape: spec.shape }, deriveSeed(seed, i));
    });
    for (const name of ['x', 'y', 'tx', 'ty', 'dy', 'dx']) this.buf[name] = new ReusableBuffer(this.backend!);
    this._built = true;
  }

  protected weightsChanged(): void {
    this.pending = null;
  }

  /** Runs the layer on (batch, ..., features); keeps what backward() needs when training. */
  apply(x: Tensor, args: { training?: boolean } = {}): Tensor {
    this.assertLive();
    if (!(x instanceof Tensor)) throw new ValueError(`Dense '${this.name}'.apply expects a Tensor; make one with tensor(array)`);
    if (!this._built) this.build([...x.shape]);
    if (x.rank < 2 || x.shape[x.rank - 1] !== this.inputDim) {
      throw new ValueError(`Dense '${this.name}' expects input (batch, ..., ${this.inputDim}), got ${fmtShape(x.shape)}`);
    }
    if (x.dtype !== 'float32') throw new ValueError(`Dense '${this.name}' expects float32 input, got ${x.dtype}`);
    const rows = x.size / this.inputDim;
    if (rows < 1) throw new ValueError(`Dense '${this.name}': empty input ${fmtShape(x.shape)}`);
    const training = args.training ?? false;
    const b = this.backend!;
    // A training call overwrites what backward() reads; an inference call has its own buffers.
    if (training) this.pending = null;
    const xBuf = this.buf[training ? 'tx' : 'x'].get(x.size);
    const yBuf = this.buf[training ? 'ty' : 'y'].get(rows * this.units);
    xBuf.write(x.data);
    b.run(`Dense '${this.name}' forward`, () =>
      b.exports.dense_forward(yBuf.ptr, xBuf.ptr, this.weightPtr('params', 'kernel'), this.weightPtr('params', 'bias'), rows, this.inputDim, this.units, this.activation),
    );
    if (training) this.pending = { rows, inputShape: [...x.shape] };
    return new Tensor(yBuf.toFloat32Array(0, rows * this.units), [...x.shape.slice(0, -1), this.units]);
  }

  /** Gradients of the last training apply; weight gradients overwrite (or add, with accumulate). */
  backward(dOutput: Tensor, options: { accumulate?: boolean } = {}): DenseGradients {
    this.assertBuilt('backward()');
    const p = this.pending;
    if (!p) throw new ValueError(`Dense '${this.name}': backward() needs a preceding apply(x, {training: true}) with the current weights`);
    const outShape = [...p.inputShape.slice(0, -1), this.units];
    if (dOutput.rank !== outShape.length || dOutput.shape.some((v, i) => v !== outShape[i])) {
      throw new ValueError(`Dense '${this.name}': dOutput must have the output's shape ${fmtShape(outShape)}, got ${fmtShape(dOutput.shape)}`);
    }
    const b = this.backend!;
    const dyBuf = this.buf.dy.get(dOutput.size);
    const dxBuf = this.buf.dx.get(p.rows * this.inputDim);
    dyBuf.write(dOutput.data);
    dxBuf.f32().fill(0, 0, p.rows * this.inputDim);
    if (!options.accumulate) this.grads!.fill(0);
    b.run(`Dense '${this.name}' backward`, () =>
      b.exports.dense_backward(
        dxBuf.ptr,
        this.weightPtr('grads', 'kernel'),
        this.weightPtr('grads', 'bias'),
        dyBuf.ptr,
        this.buf.ty.peek()!.ptr,
        this.buf.tx.peek()!.ptr,
        this.weightPtr('params', 'kernel'),
        p.rows,
        this.inputDim,
        this.units,
        this.activation,
      ),
    );
    return {
      dInput: new Tensor(dxBuf.toFloat32Array(0, p.rows * this.inputDim), p.inputShape),
      grads: this.tensorsOf('grads'),
    };
  }

  computeOutputShape(inputShape: Shape): Shape {
    return [...inputShape.slice(0, -1), this.units];
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
    };
  }

  static fromConfig(config: Record<string, unknown>): Dense {
    return new Dense(config as unknown as DenseLayerArgs);
  }

  protected disposeBuffers(): void {
    for (const b of Object.values(this.buf)) b.dispose();
    this.pending = null;
  }
}
