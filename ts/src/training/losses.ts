/**
 * Losses fused with their gradients (Keras 3 definitions, `sum_over_batch_size` reduction):
 * one wasm pass returns the mean loss and dL/dyPred, the seed of backward.
 */
import { getBackend } from '../engine.js';
import { Tensor, fmtShape } from '../tensor.js';
import { LossKind } from '../wasm/abi.js';
import { ValueError } from '../wasm/errors.js';

export type LossName =
  | 'meanSquaredError'
  | 'meanAbsoluteError'
  | 'binaryCrossentropy'
  | 'categoricalCrossentropy'
  | 'sparseCategoricalCrossentropy';

const ALIASES: Record<string, LossName> = {
  mse: 'meanSquaredError',
  mean_squared_error: 'meanSquaredError',
  meanSquaredError: 'meanSquaredError',
  mae: 'meanAbsoluteError',
  mean_absolute_error: 'meanAbsoluteError',
  meanAbsoluteError: 'meanAbsoluteError',
  binary_crossentropy: 'binaryCrossentropy',
  binaryCrossentropy: 'binaryCrossentropy',
  categorical_crossentropy: 'categoricalCrossentropy',
  categoricalCrossentropy: 'categoricalCrossentropy',
  sparse_categorical_crossentropy: 'sparseCategoricalCrossentropy',
  sparseCategoricalCrossentropy: 'sparseCategoricalCrossentropy',
};

export interface LossOptions {
  /** yPred holds logits (raw scores), not probabilities: the stable fused path. Defaults to false. */
  fromLogits?: boolean;
}

export function lossKind(name: string, options: LossOptions = {}): LossKind {
  const canonical = ALIASES[name];
  if (!canonical) throw new ValueError(`unknown loss '${name}'; expected one of ${Object.keys(ALIASES).join(', ')}`);
  const logits = options.fromLogits ?? false;
  switch (canonical) {
    case 'meanSquaredError':
      return LossKind.MeanSquaredError;
    case 'meanAbsoluteError':
      return LossKind.MeanAbsoluteError;
    case 'binaryCrossentropy':
      return logits ? LossKind.BinaryCrossentropyLogits : LossKind.BinaryCrossentropy;
    case 'categoricalCrossentropy':
      return logits ? LossKind.CategoricalCrossentropyLogits : LossKind.CategoricalCrossentropy;
    default:
      return logits ? LossKind.SparseCategoricalCrossentropyLogits : LossKind.SparseCategoricalCrossentropy;
  }
}

/**
 * Mean loss and dL/dyPred. `yPred` (..., C); `yTrue` the same shape, or for sparse losses the
 * leading shape (...) or (..., 1) of integer class ids.
 */
export function lossAndGradient(name: string, yTrue: Tensor, yPred: Tensor, options: LossOptions = {}): { loss: number; grad: Tensor } {
  const kind = lossKind(name, options);
  const sparse = kind === LossKind.SparseCategoricalCrossentropy || kind === LossKind.SparseCategoricalCrossentropyLogits;
  if (yPred.rank < 1) throw new ValueError(`loss '${name}': yPred must have at least one axis, got a scalar`);
  const cols = yPred.shape[yPred.rank - 1];
  const rows = yPred.size / cols;
  if (sparse) {
    const lead = yPred.shape.slice(0, -1);
    const ok = (yTrue.rank === lead.length && lead.every((d, i) => d === yTrue.shape[i])) || (yTrue.rank === lead.length + 1 && yTrue.shape[yTrue.rank - 1] === 1 && lead.every((d, i) => d === yTrue.shape[i]));
    if (!ok) throw new ValueError(`loss '${name}': class ids must have shape ${fmtShape(lead)} or ${fmtShape([...lead, 1])} for yPred ${fmtShape(yPred.shape)}, got ${fmtShape(yTrue.shape)}`);
    for (let i = 0; i < yTrue.data.length; i++) {
      if (!Number.isInteger(yTrue.data[i])) throw new ValueError(`loss '${name}': class id ${yTrue.data[i]} at index ${i} is not an integer`);
    }
  } else if (yTrue.rank !== yPred.rank || yTrue.shape.some((d, i) => d !== yPred.shape[i])) {
    throw new ValueError(`loss '${name}': yTrue ${fmtShape(yTrue.shape)} and yPred ${fmtShape(yPred.shape)} must have the same shape`);
  }
  const b = getBackend();
  const out = b.alloc(1);
  const grad = b.alloc(yPred.size);
  const pred = b.alloc(yPred.size);
  const target = sparse ? b.alloc(rows, 'int32') : b.alloc(yTrue.size);
  try {
    pred.write(yPred.data);
    target.write(sparse ? Int32Array.from(yTrue.data) : yTrue.data);
    b.run(`loss '${name}'`, () => b.exports.loss_forward_backward(out.ptr, grad.ptr, pred.ptr, target.ptr, rows, cols, kind));
    return { loss: out.f32()[0], grad: new Tensor(grad.toFloat32Array(), yPred.shape) };
  } finally {
    out.dispose();
    grad.dispose();
    pred.dispose();
    target.dispose();
  }
}
