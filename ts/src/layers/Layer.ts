/**
 * Base of every layer: a name, a flat parameter buffer in wasm memory laid out by one
 * (name, shape) table, Keras-style `getWeights`/`setWeights`, `countParams`, `getConfig`, `dispose`.
 */
import { getBackend } from '../engine.js';
import { Tensor, fmtShape } from '../tensor.js';
import { DisposedError, NonFiniteError, ValueError } from '../wasm/errors.js';
import type { Backend, WasmBuffer } from '../wasm/memory.js';

export type Shape = (number | null)[];

export interface LayerArgs {
  /** Defaults to the class name in snake case plus a counter (`gru_1`). */
  name?: string;
  /** Defaults to true. */
  trainable?: boolean;
  /** Input shape without the batch axis (Keras `input_shape`). */
  inputShape?: Shape;
}

/** One weight: Keras name, shape, and where it sits in the flat parameter buffer. */
export interface WeightSpec {
  name: string;
  shape: number[];
  offset: number;
  size: number;
}

/** Lays out weights back to back; offsets are in floats. */
export function layoutWeights(specs: { name: string; shape: number[] }[]): { specs: WeightSpec[]; total: number } {
  let offset = 0;
  const out = specs.map((s) => {
    const size = s.shape.reduce((a, b) => a * b, 1);
    const w = { name: s.name, shape: s.shape, offset, size };
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

export abstract class Layer {
  readonly name: string;
  trainable: boolean;
  readonly inputShape: Shape | null;
  protected _built = false;
  protected _disposed = false;
  protected backend: Backend | null = null;
  /** All weights, flat, in `weightSpecs` order. */
  protected params: WasmBuffer | null = null;
  /** Gradients, same layout as `params`. */
  protected grads: WasmBuffer | null = null;
  protected weightSpecs: WeightSpec[] = [];

  constructor(args: LayerArgs, prefix: string) {
    this.name = args.name ?? uniqueName(prefix);
    this.trainable = args.trainable ?? true;
    this.inputShape = args.inputShape ?? null;
  }

  get built(): boolean {
    return this._built;
  }

  /** Creates the weights for an input of this shape (batch axis included, may be null). */
  abstract build(inputShape: Shape): void;

  abstract getConfig(): Record<string, unknown>;

  /** Keras class name (`GRU`, `Dense`). */
  abstract readonly className: string;

  protected assertLive(): void {
    if (this._disposed) throw new DisposedError(`layer '${this.name}' was disposed; build a new layer`);
  }

  protected assertBuilt(what: string): void {
    this.assertLive();
    if (!this._built) throw new ValueError(`layer '${this.name}': ${what} needs built weights; call build(inputShape) or apply it to an input first`);
  }

  /** Allocates the parameter and gradient buffers for this layout. */
  protected allocateWeights(specs: { name: string; shape: number[] }[]): void {
    const { specs: laid, total } = layoutWeights(specs);
    this.backend = getBackend();
    this.weightSpecs = laid;
    this.params = this.backend.alloc(total);
    this.params.fill(0);
    this.grads = this.backend.alloc(total);
    this.grads.fill(0);
  }

  /** Weight names and shapes, in getWeights() order. */
  get weights(): { name: string; shape: number[] }[] {
    return this.weightSpecs.map((s) => ({ name: `${this.name}/${s.name}`, shape: [...s.shape] }));
  }

  /** Copies of the weights, in Keras order and layout. */
  getWeights(): Tensor[] {
    this.assertBuilt('getWeights()');
    return this.tensorsOf('params');
  }

  /** Copies of each weight's slice of the parameter or gradient buffer, in weightSpecs order. */
  protected tensorsOf(buffer: 'params' | 'grads'): Tensor[] {
    const all = this[buffer]!.f32();
    return this.weightSpecs.map((s) => new Tensor(all.slice(s.offset, s.offset + s.size), s.shape));
  }

  /** Byte address of weight `name` inside the parameter or gradient buffer; 0 if the layer has none. */
  protected weightPtr(buffer: 'params' | 'grads', name: string): number {
    const spec = this.weightSpecs.find((s) => s.name === name);
    return spec ? this[buffer]!.ptr + spec.offset * 4 : 0;
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
      for (let k = 0; k < data.length; k++) {
        if (!Number.isFinite(data[k])) {
          throw new NonFiniteError(`layer '${this.name}': weight ${i} (${spec.name}) has a non-finite value (${data[k]}) at flat index ${k}; weights must be finite`);
        }
      }
      return data;
    });
    const all = this.params!.f32();
    values.forEach((data, i) => all.set(data, this.weightSpecs[i].offset));
    this.weightsChanged();
  }

  /** Called after the parameter buffer changed (e.g. to repack). */
  protected weightsChanged(): void {}

  countParams(): number {
    this.assertBuilt('countParams()');
    return this.weightSpecs.reduce((a, s) => a + s.size, 0);
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
    return c;
  }
}

/** A seed for layers built without one (Keras draws one too). */
export function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 32);
}
