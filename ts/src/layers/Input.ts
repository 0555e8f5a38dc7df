/**
 * `input({shape})`: the symbolic entry point of a functional model (Keras `keras.Input`).
 */
import { fmtShape } from '../tensor.js';
import { ValueError } from '../wasm/errors.js';
import { Node, SymbolicTensor } from '../models/SymbolicTensor.js';
import { Layer, Shape } from './Layer.js';

export interface InputArgs {
  /** Shape without the batch axis; `null` for a free axis (e.g. time). */
  shape?: Shape;
  /** Shape with the batch axis (instead of `shape`). */
  batchShape?: Shape;
  /** Fixed batch size. Defaults to any (null). */
  batchSize?: number | null;
  /** 'float32' (default) or 'int32' (token ids). */
  dtype?: 'float32' | 'int32';
  name?: string;
}

/** The layer behind an `input()`: no weights, no computation. */
export class InputLayer extends Layer {
  readonly className = 'InputLayer';
  readonly batchShape: Shape;
  readonly dtype: 'float32' | 'int32';
  readonly output: SymbolicTensor;

  constructor(args: InputArgs) {
    super({ name: args.name }, 'input');
    const batchShape = args.batchShape ?? (args.shape ? [args.batchSize ?? null, ...args.shape] : null);
    if (!batchShape) throw new ValueError('input() needs a shape (without the batch axis), e.g. input({shape: [null, 8]}) for (batch, time, 8)');
    for (const d of batchShape) {
      if (d !== null && (!Number.isInteger(d) || d < 1)) throw new ValueError(`input(): every axis must be a positive integer or null, got ${fmtShape(batchShape)}`);
    }
    this.batchShape = batchShape;
    this.dtype = args.dtype ?? 'float32';
    if (this.dtype !== 'float32' && this.dtype !== 'int32') throw new ValueError(`input(): dtype must be 'float32' or 'int32', got '${String(this.dtype)}'`);
    const node = new Node(this, [], {});
    this.output = new SymbolicTensor(batchShape, this.dtype, node, 0, this.name);
    node.outputs.push(this.output);
    this.inboundNodes.push(node);
    this._built = true;
  }

  getConfig(): Record<string, unknown> {
    return { name: this.name, batchShape: this.batchShape, dtype: this.dtype };
  }

  /** Also reads tfjs / Keras 2's `batchInputShape` (Keras 3 and fastgru write `batchShape`). */
  static fromConfig(config: Record<string, unknown>): InputLayer {
    const c = { ...config } as InputArgs & { batchInputShape?: Shape };
    if (c.batchShape === undefined && c.batchInputShape !== undefined) c.batchShape = c.batchInputShape;
    delete c.batchInputShape;
    return new InputLayer(c);
  }
}

/** A symbolic input: `const x = input({shape: [null, 8]})` for (batch, time, 8). */
export function input(args: InputArgs): SymbolicTensor {
  return new InputLayer(args).output;
}
