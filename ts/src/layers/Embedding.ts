/**
 * `layers.embedding`: integer ids (batch, time, …) → vectors (batch, time, …, outputDim), Keras
 * weight `embeddings` (inputDim, outputDim). The lookup and its gradient (a scatter-add into
 * dEmbeddings, repeated ids accumulating) run in the `embedding_forward` / `embedding_backward`
 * kernels, which check every id against [0, inputDim) before writing anything.
 */
import { Tensor, fmtShape } from '../tensor.js';
import { IndexError, ValueError } from '../wasm/errors.js';
import { ReusableBuffer } from '../wasm/memory.js';
import { Initializer, InitializerIdentifier, RandomUniform, getInitializer, initializersSuspended, serializeInitializer } from '../initializers.js';
import { Layer, LayerArgs, NodeContext, Shape, randomSeed } from './Layer.js';
import { RegularizerIdentifier, getRegularizer } from '../regularizers.js';
import { ConstraintIdentifier, getConstraint } from '../constraints.js';

export interface EmbeddingLayerArgs extends LayerArgs {
  /** Vocabulary size: ids must lie in [0, inputDim) (required). */
  inputDim: number;
  /** Size of each vector (required). */
  outputDim: number;
  /** Defaults to 'uniform': Keras `RandomUniform(-0.05, 0.05)`. */
  embeddingsInitializer?: InitializerIdentifier | 'uniform';
  /** Treat id 0 as padding: the layer emits the mask `ids ≠ 0` for the layers after it. Defaults to false. */
  maskZero?: boolean;
  /** Defaults to none. */
  embeddingsRegularizer?: RegularizerIdentifier | null;
  /** Defaults to none. */
  embeddingsConstraint?: ConstraintIdentifier | null;
  /**
   * Length of the time axis (tfjs). Fills an unknown time axis in output shapes and is checked
   * at call time. Keras 3 deprecated it (and ignores it). Defaults to none.
   */
  inputLength?: number | null;
  /** Seed of the initializer. Defaults to one drawn from the global generator (`setSeed`). */
  seed?: number;
}

export interface EmbeddingGradients {
  /** Always null: ids have no gradient. */
  dInput: null;
  /** dL/dweights in getWeights() order: embeddings. */
  grads: Tensor[];
}

export const EMBEDDING_DEFAULTS = { embeddingsInitializer: 'uniform', maskZero: false } as const;

interface EmbeddingCache {
  /** The ids of the node's last training call, (N) i32. */
  ids: ReusableBuffer;
  pending: { count: number; inputShape: number[] } | null;
}

export class Embedding extends Layer {
  readonly className = 'Embedding';
  readonly inputDim: number;
  readonly outputDim: number;
  readonly embeddingsInitializer: Initializer;
  readonly maskZero: boolean;
  readonly inputLength: number | null;
  readonly seed: number | null;
  private readonly regularizer: ReturnType<typeof getRegularizer>;
  private readonly constraint: ReturnType<typeof getConstraint>;
  private readonly buf: Record<string, ReusableBuffer> = {};
  /** One training cache per graph node (0 = eager calls). */
  private readonly caches = new Map<number, EmbeddingCache>();

  constructor(args: EmbeddingLayerArgs) {
    // Ids are integers: a Sequential that starts with an Embedding takes int32 input.
    super({ ...args, dtype: args.dtype ?? 'int32' }, 'embedding');
    for (const k of ['inputDim', 'outputDim'] as const) {
      if (!Number.isInteger(args[k]) || args[k] < 1) throw new ValueError(`Embedding: ${k} must be a positive integer, got ${args[k]}`);
    }
    if (args.inputDim > 2 ** 31 - 1) throw new ValueError(`Embedding: inputDim must be below 2^31 (ids are int32), got ${args.inputDim}`);
    this.inputDim = args.inputDim;
    this.outputDim = args.outputDim;
    const init = args.embeddingsInitializer ?? EMBEDDING_DEFAULTS.embeddingsInitializer;
    // Keras' 'uniform' is RandomUniform(-0.05, 0.05), our 'randomUniform' default.
    this.embeddingsInitializer = init === 'uniform' ? new RandomUniform() : getInitializer(init, 'Embedding embeddingsInitializer');
    this.maskZero = args.maskZero ?? EMBEDDING_DEFAULTS.maskZero;
    const len = args.inputLength ?? null;
    if (len !== null && (!Number.isInteger(len) || len < 1)) throw new ValueError(`Embedding: inputLength must be a positive integer or null, got ${len}`);
    this.inputLength = len;
    this.seed = args.seed ?? null;
    this.regularizer = getRegularizer(args.embeddingsRegularizer, 'Embedding embeddingsRegularizer');
    this.constraint = getConstraint(args.embeddingsConstraint, 'Embedding embeddingsConstraint');
    // Keras: `supports_masking = mask_zero`.
    this.supportsMasking = this.maskZero;
  }

  build(inputShape: Shape | Shape[]): void {
    this.assertLive();
    if (this._built) return;
    if (Array.isArray(inputShape[0])) throw new ValueError(`Embedding '${this.name}' takes one input, got ${inputShape.length}`);
    this.allocateWeights([{ name: 'embeddings', shape: [this.inputDim, this.outputDim], regularizer: this.regularizer, constraint: this.constraint }]);
    const spec = this.weightSpecs[0];
    const seed = this.seed ?? randomSeed();
    // A model being loaded skips the init: its weights are overwritten next.
    if (!initializersSuspended()) this.embeddingsInitializer.fill({ backend: this.backend!, buffer: this.params!, offset: spec.offset, shape: spec.shape }, seed);
    this.buf.ids = new ReusableBuffer(this.backend!, 'int32');
    this.buf.y = new ReusableBuffer(this.backend!);
    this.buf.dy = new ReusableBuffer(this.backend!);
    this._built = true;
  }

  computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = [...(inputShape as Shape)];
    if (this.inputLength !== null && s.length >= 2 && s[1] === null) s[1] = this.inputLength;
    return [...s, this.outputDim];
  }

  computeOutputDtype(_inputDtypes: ('float32' | 'int32')[]): 'float32' {
    return 'float32';
  }

  /** Keras: `ids ≠ 0` with maskZero (the incoming mask is dropped), else none. */
  computeMask(inputs: Tensor | Tensor[], _mask: Tensor | null | (Tensor | null)[]): Tensor | null {
    if (!this.maskZero) return null;
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const src = x.data;
    const m = new Float32Array(src.length);
    for (let i = 0; i < src.length; i++) m[i] = src[i] !== 0 ? 1 : 0;
    return new Tensor(m, x.shape);
  }

  private trainingCache(node: number): EmbeddingCache {
    let c = this.caches.get(node);
    if (!c) {
      c = { ids: new ReusableBuffer(this.backend!, 'int32'), pending: null };
      this.caches.set(node, c);
    }
    return c;
  }

  /** The position of flat index `i` in a tensor of `shape`, as `[b, t, …]`. */
  private static position(shape: readonly number[], i: number): string {
    const idx: number[] = [];
    for (let a = shape.length - 1; a >= 0; a--) {
      idx.unshift(i % shape[a]);
      i = Math.floor(i / shape[a]);
    }
    return `[${idx.join(', ')}]`;
  }

  /** The error for the first id outside [0, inputDim) (found again in JS, on the error path only). */
  private idError(x: Tensor): IndexError {
    const d = x.data;
    for (let i = 0; i < d.length; i++) {
      if (!(d[i] >= 0 && d[i] < this.inputDim)) {
        return new IndexError(
          `Embedding '${this.name}': id ${d[i]} at position ${Embedding.position(x.shape, i)} of input ${fmtShape(x.shape)} is outside [0, ${this.inputDim}); ids must be in [0, inputDim): raise inputDim or fix the data`,
        );
      }
    }
    return new IndexError(`Embedding '${this.name}': an id of input ${fmtShape(x.shape)} is outside [0, ${this.inputDim})`);
  }

  forwardNode(inputs: Tensor[], ctx: NodeContext): Tensor[] {
    this.assertLive();
    const x = inputs[0];
    if (!(x instanceof Tensor)) throw new ValueError(`Embedding '${this.name}'.apply expects a Tensor of ids; make one with tensor(ids, shape, 'int32')`);
    if (x.rank < 1 || x.size < 1) throw new ValueError(`Embedding '${this.name}' expects ids (batch, time), got ${fmtShape(x.shape)}`);
    if (this.inputLength !== null && x.rank >= 2 && x.shape[1] !== this.inputLength) {
      throw new ValueError(`Embedding '${this.name}' was declared with inputLength ${this.inputLength}, got ids ${fmtShape(x.shape)}`);
    }
    const n = x.size;
    const e = this.outputDim;
    const b = this.backend!;
    // A training call overwrites what backward reads for its node; inference has its own buffers.
    const tc = ctx.training ? this.trainingCache(ctx.node) : null;
    if (tc) tc.pending = null;
    const idsBuf = tc ? tc.ids.get(n) : this.buf.ids.get(n);
    const yBuf = this.buf.y.get(n * e);
    const src = x.data;
    if (src instanceof Int32Array) {
      idsBuf.write(src);
    } else {
      // Float ids must be integers; out-of-range ones (even beyond int32) are the kernel's to report,
      // so anything outside int32 is written as -1 (which it rejects).
      const ids = idsBuf.view() as Int32Array;
      for (let i = 0; i < n; i++) {
        const v = src[i];
        if (!Number.isInteger(v) && !Number.isNaN(v) && Number.isFinite(v)) {
          throw new ValueError(`Embedding '${this.name}': ids must be integers, got ${v} at position ${Embedding.position(x.shape, i)}; round the ids or pass an int32 tensor`);
        }
        ids[i] = v >= 0 && v <= 2147483647 ? v : -1;
      }
    }
    try {
      b.run(`Embedding '${this.name}' forward`, () => b.exports.embedding_forward(yBuf.ptr, idsBuf.ptr, this.weightPtr('params', 'embeddings'), n, this.inputDim, e));
    } catch (err) {
      if (err instanceof IndexError) throw this.idError(x);
      throw err;
    }
    if (tc) tc.pending = { count: n, inputShape: [...x.shape] };
    return [new Tensor(yBuf.toFloat32Array(0, n * e), [...x.shape, e])];
  }

  /** Adds dL/dEmbeddings of the node's last training call (scatter-add). Returns [null]: ids have no gradient. */
  backwardNode(dOutputs: (Tensor | null)[], ctx: NodeContext, _forward?: { inputs: Tensor[]; outputs: Tensor[] }): (Tensor | null)[] {
    this.assertBuilt('backward()');
    const tc = this.caches.get(ctx.node);
    const p = tc?.pending;
    if (!tc || !p) throw new ValueError(`Embedding '${this.name}': backward() needs a preceding apply(ids, {training: true})`);
    const dOutput = dOutputs[0];
    if (!dOutput) return [null];
    const outShape = [...p.inputShape, this.outputDim];
    if (dOutput.rank !== outShape.length || dOutput.shape.some((v, i) => v !== outShape[i])) {
      throw new ValueError(`Embedding '${this.name}': dOutput must have the output's shape ${fmtShape(outShape)}, got ${fmtShape(dOutput.shape)}`);
    }
    const b = this.backend!;
    const dyBuf = this.buf.dy.get(dOutput.size);
    dyBuf.write(dOutput.data);
    b.run(`Embedding '${this.name}' backward`, () =>
      b.exports.embedding_backward(this.weightPtr('grads', 'embeddings'), dyBuf.ptr, tc.ids.peek()!.ptr, p.count, this.inputDim, this.outputDim),
    );
    return [null];
  }

  /** Gradients of the last eager training apply; the weight gradient overwrites (or adds, with accumulate). */
  backward(dOutput: Tensor, options: { accumulate?: boolean } = {}): EmbeddingGradients {
    this.assertBuilt('backward()');
    if (!this.caches.get(0)?.pending) throw new ValueError(`Embedding '${this.name}': backward() needs a preceding apply(ids, {training: true})`);
    if (!options.accumulate) this.zeroGradients();
    this.backwardNode([dOutput], { training: true, masks: [null], node: 0, kwargs: {} });
    return { dInput: null, grads: this.tensorsOf('grads') };
  }

  releaseTrainingCaches(): void {
    for (const c of this.caches.values()) c.pending = null;
  }

  getConfig(): Record<string, unknown> {
    return {
      ...this.baseConfig(),
      inputDim: this.inputDim,
      outputDim: this.outputDim,
      embeddingsInitializer: serializeInitializer(this.embeddingsInitializer),
      embeddingsRegularizer: this.regularizer?.toJSON() ?? null,
      embeddingsConstraint: this.constraint?.toJSON() ?? null,
      maskZero: this.maskZero,
      inputLength: this.inputLength,
      seed: this.seed,
    };
  }

  static fromConfig(config: Record<string, unknown>): Embedding {
    return new Embedding(config as unknown as EmbeddingLayerArgs);
  }

  protected disposeBuffers(): void {
    for (const b of Object.values(this.buf)) b.dispose();
    for (const c of this.caches.values()) c.ids.dispose();
    this.caches.clear();
  }
}
