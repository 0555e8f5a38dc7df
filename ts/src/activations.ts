/**
 * Activation names users know (tfjs camelCase and Keras snake_case) → kernel ids.
 */
import { Activation } from './wasm/abi.js';
import { ValueError } from './wasm/errors.js';

export type ActivationName =
  | 'linear'
  | 'tanh'
  | 'sigmoid'
  | 'hardSigmoid'
  | 'hardSigmoidKeras3'
  | 'relu'
  | 'softmax';

const IDS: Record<string, Activation> = {
  linear: Activation.Linear,
  tanh: Activation.Tanh,
  sigmoid: Activation.Sigmoid,
  // Porting note: tfjs and Keras 2 define hard sigmoid as clip(0.2x + 0.5); Keras 3 changed it to
  // relu6(x + 3) / 6. The camelCase tfjs name keeps tfjs' meaning, the Keras 3 one is explicit.
  hardSigmoid: Activation.HardSigmoid,
  hard_sigmoid_keras2: Activation.HardSigmoid,
  hardSigmoidKeras3: Activation.HardSigmoidKeras3,
  hard_sigmoid: Activation.HardSigmoidKeras3,
  relu: Activation.Relu,
  softmax: Activation.Softmax,
};

const NAMES = new Map<Activation, ActivationName>([
  [Activation.Linear, 'linear'],
  [Activation.Tanh, 'tanh'],
  [Activation.Sigmoid, 'sigmoid'],
  [Activation.HardSigmoid, 'hardSigmoid'],
  [Activation.HardSigmoidKeras3, 'hardSigmoidKeras3'],
  [Activation.Relu, 'relu'],
  [Activation.Softmax, 'softmax'],
]);

/** Resolves a name (or undefined/null → 'linear') to a kernel id; `allowed` limits the choice. */
export function activationId(name: string | null | undefined, where: string, allowSoftmax: boolean): Activation {
  const key = name ?? 'linear';
  const id = IDS[key];
  if (id === undefined || (id === Activation.Softmax && !allowSoftmax)) {
    const options = Object.keys(IDS).filter((k) => allowSoftmax || k !== 'softmax');
    throw new ValueError(`${where}: unknown activation '${key}'; expected one of ${options.map((o) => `'${o}'`).join(', ')}`);
  }
  return id;
}

/** The canonical name of a kernel id (what getConfig reports). */
export function activationName(id: Activation): ActivationName {
  return NAMES.get(id) ?? 'linear';
}
