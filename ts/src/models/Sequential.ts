/**
 * `sequential({layers})` / `model.add(layer)`: a plain stack, built as a functional graph as soon
 * as the input shape is known (from the first layer's `inputShape`, an `input()` added first,
 * `build(shape)`, or the first data it sees).
 */
import { Tensor, fmtShape } from '../tensor.js';
import { ValueError } from '../wasm/errors.js';
import { Layer, Shape } from '../layers/Layer.js';
import { InputLayer, input } from '../layers/Input.js';
import { SymbolicTensor } from './SymbolicTensor.js';
import { ForwardRecord, Model } from './Model.js';

export interface SequentialArgs {
  layers?: (Layer | SymbolicTensor)[];
  name?: string;
}

/**
 * A plain stack of layers (Keras `keras.Sequential`, tfjs `tf.sequential`): make one with
 * {@link sequential}`({layers})` or grow it with `add` / `pop`. It is built as a functional graph as
 * soon as the input shape is known: from the first layer's `inputShape`, an `input()` added first,
 * `build(shape)`, or the first data it sees. Everything else is {@link Model}'s.
 */
export class Sequential extends Model {
  readonly className: string = 'Sequential';
  private stack: Layer[] = [];
  private declaredInput: SymbolicTensor | null = null;
  private graphBuilt = false;

  constructor(args: SequentialArgs = {}) {
    super({ name: args.name, _deferred: true }, 'sequential');
    this._built = false;
    for (const l of args.layers ?? []) this.add(l);
  }

  /** Appends a layer (or, first, an `input()` giving the input shape). */
  add(layer: Layer | SymbolicTensor): void {
    this.assertLive();
    if (layer instanceof SymbolicTensor) {
      if (this.stack.length || this.declaredInput) throw new ValueError(`sequential '${this.name}': an input() can only be added first`);
      if (!(layer.sourceLayer instanceof InputLayer)) throw new ValueError(`sequential '${this.name}': add() takes layers or an input(); got the output of layer '${layer.sourceLayer.name}'`);
      this.declaredInput = layer;
      return;
    }
    if (!(layer instanceof Layer)) throw new ValueError(`sequential '${this.name}': add() expects a Layer, got ${layer === null ? 'null' : typeof layer}`);
    if (layer instanceof InputLayer) {
      if (this.stack.length || this.declaredInput) throw new ValueError(`sequential '${this.name}': an InputLayer can only be added first`);
      this.declaredInput = layer.output;
      return;
    }
    if (this.stack.includes(layer)) throw new ValueError(`sequential '${this.name}': layer '${layer.name}' is already in the stack`);
    if (this.stack.some((l) => l.name === layer.name)) throw new ValueError(`sequential '${this.name}': a layer named '${layer.name}' is already in the stack; layer names must be unique`);
    this.stack.push(layer);
    if (this.graphBuilt) {
      const out = this._outputs[0];
      const y = layer.apply(out);
      if (Array.isArray(y)) throw new ValueError(`sequential '${this.name}': layer '${layer.name}' returns ${y.length} outputs; a Sequential layer must return one (use the functional model() API)`);
      this.initGraph(this._inputs, y);
    } else if (this.declaredInput || (this.stack.length === 1 && layer.inputShape)) {
      this.buildGraph(this.declaredInput ? this.declaredInput.shape : [null, ...layer.inputShape!], this.declaredInput ? this.declaredInput.dtype : layer.inputDtype);
    }
  }

  /** Removes the last layer. */
  pop(): void {
    this.assertLive();
    if (!this.stack.length) throw new ValueError(`sequential '${this.name}' has no layers to pop`);
    this.stack.pop();
    if (this.graphBuilt) {
      if (!this.stack.length) {
        this.graphBuilt = false;
        this._built = false;
        return;
      }
      const shape = this._inputs[0].shape;
      this.graphBuilt = false;
      this.buildGraph(shape, this._inputs[0].dtype);
    }
  }

  get layers(): Layer[] {
    return [...this.stack];
  }

  /** Builds with this input shape (batch axis included), as Keras `build(input_shape)`. */
  build(inputShape?: Shape | Shape[]): void {
    this.assertLive();
    if (this.graphBuilt) return;
    const shape = inputShape as Shape | undefined;
    if (!shape) throw new ValueError(`sequential '${this.name}': build() needs the input shape (batch axis included), e.g. build([null, 20, 8])`);
    this.buildGraph(shape, this.stack[0]?.inputDtype ?? 'float32');
  }

  private buildGraph(shape: Shape, dtype: 'float32' | 'int32'): void {
    if (!this.stack.length) throw new ValueError(`sequential '${this.name}' has no layers; add() some first`);
    const x = this.declaredInput && this.declaredInput.shape === shape ? this.declaredInput : input({ batchShape: shape, dtype, name: `${this.name}_input` });
    let y: SymbolicTensor = x;
    for (const l of this.stack) {
      const out = l.apply(y);
      if (Array.isArray(out)) throw new ValueError(`sequential '${this.name}': layer '${l.name}' returns ${out.length} outputs; a Sequential layer must return one (use the functional model() API)`);
      y = out;
    }
    this.initGraph(x, y);
    this.graphBuilt = true;
  }

  runForward(xs: Tensor[], training: boolean): ForwardRecord {
    this.assertLive();
    if (!this.graphBuilt) {
      if (xs.length !== 1 || !(xs[0] instanceof Tensor)) throw new ValueError(`sequential '${this.name}' takes one input Tensor, got ${xs.length}`);
      this.buildGraph([null, ...xs[0].shape.slice(1)], xs[0].dtype);
    }
    return super.runForward(xs, training);
  }

  summary(lineLength?: number, positions?: number[], printFn?: (line: string) => void): void {
    if (!this.graphBuilt) {
      throw new ValueError(`sequential '${this.name}' is not built yet: give the first layer an inputShape, add(input({shape})) first, call build(shape), or run it on data`);
    }
    super.summary(lineLength, positions, printFn);
  }

  get inputs(): SymbolicTensor[] {
    if (!this.graphBuilt) throw new ValueError(`sequential '${this.name}' has no input shape yet (${fmtShape([])}); give the first layer an inputShape`);
    return super.inputs;
  }

  /**
   * `{name, layers: [{className, config}]}`. When the input shape came from an `input()` or from
   * `build` / data rather than the first layer's `inputShape`, an `InputLayer` entry comes first
   * (Keras 3 style), so `modelFromConfig` builds the same graph at once.
   */
  getConfig(): Record<string, unknown> {
    const layers = this.stack.map((l) => ({ className: l.className, config: l.getConfig() }));
    const first = this.stack[0];
    if (this.graphBuilt && (this.declaredInput || !first?.inputShape)) {
      const inputLayer = this._inputs[0].sourceLayer;
      layers.unshift({ className: inputLayer.className, config: inputLayer.getConfig() });
    }
    return { name: this.name, layers };
  }

  dispose(): void {
    if (this._disposed) return;
    if (!this.graphBuilt) for (const l of this.stack) l.dispose();
    super.dispose();
  }
}

/** Keras `keras.Sequential([...])` / tfjs `tf.sequential({layers})`. */
export function sequential(args: SequentialArgs = {}): Sequential {
  return new Sequential(args);
}
