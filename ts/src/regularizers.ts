/**
 * Weight regularizers (Keras `l1`, `l2`, `l1l2`): a penalty added to the training loss and its
 * gradient added to the weight's gradient, once per step, by the trainer.
 */
import { ValueError } from './wasm/errors.js';

export interface RegularizerConfig {
  className: string;
  config: Record<string, unknown>;
}

/** penalty = l1 · Σ|w| + l2 · Σw² (Keras `L1L2`). */
export class Regularizer {
  readonly className: string = 'L1L2';

  constructor(
    readonly l1 = 0,
    readonly l2 = 0,
  ) {
    if (!(l1 >= 0) || !(l2 >= 0) || !Number.isFinite(l1) || !Number.isFinite(l2)) {
      throw new ValueError(`regularizer factors must be finite and non-negative, got l1=${l1}, l2=${l2}`);
    }
  }

  /**
   * The penalty of `w`; when `grad` is given, adds d(penalty)/dw into it. Sums in float64, as the
   * penalty is one scalar added to the loss.
   */
  apply(w: Float32Array, grad: Float32Array | null, offset = 0, size = w.length): number {
    let s1 = 0;
    let s2 = 0;
    const { l1, l2 } = this;
    for (let i = offset; i < offset + size; i++) {
      const v = w[i];
      s1 += Math.abs(v);
      s2 += v * v;
    }
    if (grad) {
      const twoL2 = 2 * l2;
      for (let i = offset; i < offset + size; i++) {
        const v = w[i];
        grad[i] += l1 * Math.sign(v) + twoL2 * v;
      }
    }
    return l1 * s1 + l2 * s2;
  }

  getConfig(): Record<string, unknown> {
    return { l1: this.l1, l2: this.l2 };
  }

  toJSON(): RegularizerConfig {
    return { className: this.className, config: this.getConfig() };
  }
}

/** Keras `l1(0.01)`. */
export function l1(factor = 0.01): Regularizer {
  return new Regularizer(factor, 0);
}

/** Keras `l2(0.01)`. */
export function l2(factor = 0.01): Regularizer {
  return new Regularizer(0, factor);
}

/** Keras `l1_l2(l1=0.01, l2=0.01)`. */
export function l1l2(args: { l1?: number; l2?: number } = {}): Regularizer {
  return new Regularizer(args.l1 ?? 0.01, args.l2 ?? 0.01);
}

export type RegularizerIdentifier = Regularizer | 'l1' | 'l2' | 'l1l2' | 'l1_l2' | RegularizerConfig;

/** Resolves a name (Keras default factor 0.01), a `{className, config}` or an instance; null passes through. */
export function getRegularizer(id: RegularizerIdentifier | null | undefined, where: string): Regularizer | null {
  if (id === null || id === undefined) return null;
  if (id instanceof Regularizer) return id;
  if (typeof id === 'string') {
    if (id === 'l1') return l1();
    if (id === 'l2') return l2();
    if (id === 'l1l2' || id === 'l1_l2') return l1l2();
    throw new ValueError(`${where}: unknown regularizer '${id}'; expected 'l1', 'l2', 'l1l2' or regularizers.l2(factor)`);
  }
  const c = id.config ?? {};
  switch (id.className) {
    case 'L1':
      return new Regularizer(Number(c.l1 ?? 0.01), 0);
    case 'L2':
      return new Regularizer(0, Number(c.l2 ?? 0.01));
    case 'L1L2':
      return new Regularizer(Number(c.l1 ?? 0), Number(c.l2 ?? 0));
    default:
      throw new ValueError(`${where}: unknown regularizer class '${id.className}'; expected L1, L2 or L1L2`);
  }
}
