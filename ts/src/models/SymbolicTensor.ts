/**
 * Symbolic tensors and graph nodes: what `input({shape})` returns and what `layer.apply` returns
 * when given symbolic tensors. They carry shapes only; a `Model` turns the graph they describe
 * into an execution plan.
 */
import type { Layer, Shape } from '../layers/Layer.js';
import { fmtShape } from '../tensor.js';

let nextNodeId = 1;
let nextTensorId = 1;

/** One application of a layer in a graph: which symbolic tensors went in and came out. */
export class Node {
  readonly id = nextNodeId++;
  readonly outputs: SymbolicTensor[] = [];

  constructor(
    readonly layer: Layer,
    readonly inputs: SymbolicTensor[],
    /** Non-tensor call arguments (e.g. `{training}` overrides) kept for every run of the node. */
    readonly kwargs: Record<string, unknown>,
  ) {}
}

/** A placeholder with a shape (batch axis first, `null` = any size) and a dtype. */
export class SymbolicTensor {
  readonly id = nextTensorId++;

  constructor(
    readonly shape: Shape,
    readonly dtype: 'float32' | 'int32',
    /** The node that produces it. */
    readonly node: Node,
    /** Which output of that node. */
    readonly outputIndex: number,
    readonly name: string,
  ) {}

  get rank(): number {
    return this.shape.length;
  }

  get sourceLayer(): Layer {
    return this.node.layer;
  }

  toString(): string {
    return `SymbolicTensor(${this.name}, ${fmtShape(this.shape)}, ${this.dtype})`;
  }
}

export function isSymbolic(x: unknown): x is SymbolicTensor | SymbolicTensor[] {
  return x instanceof SymbolicTensor || (Array.isArray(x) && x.length > 0 && x.every((t) => t instanceof SymbolicTensor));
}
