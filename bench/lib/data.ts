// Task specs and their data: identical weights and inputs for every peer, from a seeded PRNG,
// so that two runs (and two machines) time the same numbers.

import type { Form, TaskData, TaskName, TaskSpec } from './types.js';

/** mulberry32: a 32-bit seeded PRNG, uniform in [0, 1). Small, fast, and the same everywhere. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function uniform(rand: () => number, n: number, limit: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (2 * rand() - 1) * limit;
  return out;
}

export interface TaskShape {
  batch: number;
  time: number;
  inputSize: number;
  units: number;
  /** D: vocabulary size V = number of classes (Embedding inputDim, Dense units). */
  vocab?: number;
}

export const TASK_SHAPES: Record<TaskName, TaskShape> = {
  A: { batch: 32, time: 64, inputSize: 64, units: 128 },
  B: { batch: 32, time: 64, inputSize: 64, units: 128 },
  C: { batch: 1, time: 1, inputSize: 64, units: 256 },
  Bp: { batch: 32, time: 64, inputSize: 64, units: 128 },
  // inputSize is the embedding width E: the GRU sees (B, T, E).
  D: { batch: 32, time: 100, inputSize: 128, units: 256, vocab: 10000 },
};

export const TASK_TITLES: Record<TaskName, string> = {
  A: 'GRU forward, full sequence (B=32, T=64, D=64, H=128)',
  B: 'GRU(128, last) → Dense(1) → MSE, forward + backward (B=32, T=64, D=64)',
  C: 'streaming step, state carried (B=1, D=64, H=256)',
  Bp: "one Adam training step (trainOnBatch) of GRU(128, last) → Dense(1), MSE (B=32, T=64, D=64)",
  D: 'one Adam training step (trainOnBatch) of Embedding(10000, 128) → GRU(256, last) → Dense(10000, softmax), sparse categorical cross-entropy (B=32, T=100)',
};

/** Short labels for the console and table headings ("Bp" is how B' is typed on a command line). */
export const TASK_LABELS: Record<TaskName, string> = { A: 'A', B: 'B', C: 'C', Bp: "B'", D: 'D' };

const SEED: Record<TaskName, number> = { A: 0xa11ce, B: 0xa11ce, C: 0xc0ffee, Bp: 0xa11ce, D: 0xd0d0 };

/**
 * Builds the task's data. A and B share one seed, so B's GRU has A's weights and inputs.
 * Weights are uniform ±1/√fan_in (kernel ±0.125 for D=64, recurrent ±0.088 for H=128,
 * ±0.0625 for H=256), x uniform ±1, biases ±0.1: pre-activations stay around ±1, so sigmoid
 * and tanh are far from saturation and the cross-peer check compares meaningful numbers.
 * The two forms share every tensor except the bias: reset-after draws (2, 3H), reset-before (3H).
 */
export function makeTask(name: TaskName, form: Form): TaskSpec {
  if (name === 'D') return makeTaskD(form);
  const { batch: B, time: T, inputSize: D, units: H } = TASK_SHAPES[name];
  const resetAfter = form === 'after';
  const rand = mulberry32(SEED[name]);
  const x = uniform(rand, B * T * D, 1);
  const kernel = uniform(rand, D * 3 * H, 1 / Math.sqrt(D));
  const recurrentKernel = uniform(rand, H * 3 * H, 1 / Math.sqrt(H));
  const denseKernel = uniform(rand, H, 1 / Math.sqrt(H));
  const denseBias = uniform(rand, 1, 0.1);
  const y = uniform(rand, B, 0.5);
  const h0 = name === 'C' ? uniform(rand, B * H, 0.5) : new Float32Array(B * H);
  // Drawn last so that both forms share everything above.
  const bias = uniform(rand, (resetAfter ? 2 : 1) * 3 * H, 0.1);
  const data: TaskData = { x, kernel, recurrentKernel, bias, denseKernel, denseBias, y, h0 };
  return { name, batch: B, time: T, inputSize: D, units: H, resetAfter, data };
}

/**
 * D's data: Keras-default-sized weights (embeddings uniform ±0.05 as Keras' 'uniform'; GRU and
 * Dense ±1/√fan_in; biases ±0.1), uniform random ids and labels. The loss starts near
 * ln(10000) ≈ 9.2. As for the other tasks, only the GRU bias differs between the two forms.
 */
function makeTaskD(form: Form): TaskSpec {
  const { batch: B, time: T, inputSize: E, units: H, vocab } = TASK_SHAPES.D;
  const V = vocab!;
  const resetAfter = form === 'after';
  const rand = mulberry32(SEED.D);
  const ids = new Int32Array(B * T);
  for (let i = 0; i < ids.length; i++) ids[i] = Math.floor(rand() * V);
  const labels = new Int32Array(B);
  for (let i = 0; i < B; i++) labels[i] = Math.floor(rand() * V);
  const embeddings = uniform(rand, V * E, 0.05);
  const kernel = uniform(rand, E * 3 * H, 1 / Math.sqrt(E));
  const recurrentKernel = uniform(rand, H * 3 * H, 1 / Math.sqrt(H));
  const denseKernel = uniform(rand, H * V, 1 / Math.sqrt(H));
  const denseBias = uniform(rand, V, 0.1);
  const bias = uniform(rand, (resetAfter ? 2 : 1) * 3 * H, 0.1);
  const data: TaskData = {
    x: new Float32Array(0), kernel, recurrentKernel, bias, denseKernel, denseBias,
    y: Float32Array.from(labels), h0: new Float32Array(B * H), ids, embeddings, labels,
  };
  return { name: 'D', batch: B, time: T, inputSize: E, units: H, vocab: V, resetAfter, data };
}

/**
 * Floating-point operations of one run(), counting multiply and add as 2 flops per
 * multiply-accumulate and ignoring element-wise work (gates, activations: O(B·T·H), about 1%):
 *   forward  = 2·B·T·D·3H (input projection x·K) + 2·B·T·H·3H (recurrent projection h·U)
 *   A, C     = forward (C has B=1, T=1)
 *   B        = 3 × forward: backward does two GEMMs per forward GEMM (dX = dY·Wᵀ, dW = Xᵀ·dY);
 *              Dense(1) adds 2·B·H·3, negligible.
 *   Bp       = B (Adam is O(parameters) = 74k, negligible)
 *   D        = 3 × forward (E in place of D) + 3 × 2·B·H·V for Dense(V) (forward, dX, dW);
 *              embedding gather/scatter, softmax and Adam over 3.9M parameters are O(memory)
 *              and not counted, though they are not free.
 */
export function taskFlops(spec: TaskShape & { name: TaskName }): number {
  const { batch: B, time: T, inputSize: D, units: H } = spec;
  const forward = 2 * B * T * D * 3 * H + 2 * B * T * H * 3 * H;
  if (spec.name === 'D') return 3 * forward + 3 * 2 * B * H * spec.vocab!;
  return spec.name === 'B' || spec.name === 'Bp' ? 3 * forward : forward;
}
