// Task specs and their data: identical weights and inputs for every peer, from a seeded PRNG,
// so that two runs (and two machines) time the same numbers.

import * as fs from 'node:fs';
import { buildVocabulary, mulberry32, padSequences, parseSentimentJson, SENTIMENT_SOURCES, textsToSequences, trainValTestSplit } from '../../examples/data.js';
import type { SentimentData } from '../../examples/data.js';
import type { Form, SentimentTaskData, TaskData, TaskName, TaskSpec } from './types.js';

/** The seeded PRNG of every bench input (one copy, in the examples' data helpers). */
export { mulberry32 };

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
  // The sentiment example (not --small): batch 32, maxlen 32, Embedding(2000, 64), GRU(64) twice.
  E: { batch: 32, time: 32, inputSize: 64, units: 64, vocab: 2000 },
};

export const TASK_TITLES: Record<TaskName, string> = {
  A: 'GRU forward, full sequence (B=32, T=64, D=64, H=128)',
  B: 'GRU(128, last) → Dense(1) → MSE, forward + backward (B=32, T=64, D=64)',
  C: 'streaming step, state carried (B=1, D=64, H=256)',
  Bp: "one Adam training step (trainOnBatch) of GRU(128, last) → Dense(1), MSE (B=32, T=64, D=64)",
  D: 'one Adam training step (trainOnBatch) of Embedding(10000, 128) → GRU(256, last) → Dense(10000, softmax), sparse categorical cross-entropy (B=32, T=100)',
  E: "one training epoch (fit, epochs 1, shuffle off) of the sentiment example's model: Embedding(2000, 64, maskZero) → BatchNormalization → GRU(64, sequences, dropout 0.4, recurrentDropout 0.4) → BatchNormalization → GRU(64) → Dense(1, sigmoid), binary cross-entropy, Adam, 2,400 sentences in 75 batches of 32, T=32",
};

/** Short labels for the console and table headings ("Bp" is how B' is typed on a command line). */
export const TASK_LABELS: Record<TaskName, string> = { A: 'A', B: 'B', C: 'C', Bp: "B'", D: 'D', E: 'E' };

const SEED: Record<TaskName, number> = { A: 0xa11ce, B: 0xa11ce, C: 0xc0ffee, Bp: 0xa11ce, D: 0xd0d0, E: 0xe0e0 };

/**
 * Builds the task's data. A and B share one seed, so B's GRU has A's weights and inputs.
 * Weights are uniform ±1/√fan_in (kernel ±0.125 for D=64, recurrent ±0.088 for H=128,
 * ±0.0625 for H=256), x uniform ±1, biases ±0.1: pre-activations stay around ±1, so sigmoid
 * and tanh are far from saturation and the cross-peer check compares meaningful numbers.
 * The two forms share every tensor except the bias: reset-after draws (2, 3H), reset-before (3H).
 */
export function makeTask(name: TaskName, form: Form): TaskSpec {
  if (name === 'D') return makeTaskD(form);
  if (name === 'E') return makeTaskE(form);
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

/** The sentiment example's settings (examples/sentiment.ts, full size): E must stay equal to them. */
export const SENTIMENT = {
  splitSeed: 42, // trainValTestSplit(…, {seed: 42, stratify: labels})
  maxWords: 2000, // buildVocabulary(train texts, {maxWords}) = Embedding inputDim
  maxlen: 32, // padSequences(…, {maxlen}), Keras' pre-padding and pre-truncation
  embedDim: 64,
  units: 64,
  dropout: 0.4,
  recurrentDropout: 0.4,
  batchSize: 32,
  learningRate: 1e-3,
} as const;

let sentimentCache: { ids: Int32Array; labels: Float32Array; samples: number } | null = null;

/**
 * The example's training split as ids and labels, built once per process. The files are read
 * synchronously (makeTask is synchronous) and parsed by examples/data.ts' own parser; the split,
 * vocabulary, tokenisation and padding are the example's calls with its arguments.
 */
export function sentimentTrainingSet(): { ids: Int32Array; labels: Float32Array; samples: number } {
  if (sentimentCache) return sentimentCache;
  const data: SentimentData = { texts: [], labels: [], source: [] };
  for (const src of SENTIMENT_SOURCES) {
    const json = fs.readFileSync(new URL(`../../data/sentiment/${src}.json`, import.meta.url), 'utf8');
    parseSentimentJson(json, src, data);
  }
  const { train } = trainValTestSplit(data.texts.length, { seed: SENTIMENT.splitSeed, stratify: data.labels });
  const vocab = buildVocabulary(train.map((i) => data.texts[i]), { maxWords: SENTIMENT.maxWords });
  const padded = padSequences(textsToSequences(data.texts, vocab), { maxlen: SENTIMENT.maxlen });
  const T = SENTIMENT.maxlen;
  const ids = new Int32Array(train.length * T);
  const labels = new Float32Array(train.length);
  train.forEach((row, k) => {
    ids.set(padded[row], k * T);
    labels[k] = data.labels[row];
  });
  sentimentCache = { ids, labels, samples: train.length };
  return sentimentCache;
}

/**
 * E's data: the example's training split (sentimentTrainingSet) and seeded initial weights in
 * the magnitudes of Keras' defaults (embeddings ±0.05 as 'uniform'; GRU and Dense ±1/√fan_in;
 * biases ±0.1), except BatchNormalization's gamma and beta, drawn around 1 and 0 (±0.1) rather
 * than exactly 1 and 0 so that a swapped gamma/beta fails the loss check. Moving statistics are
 * Keras' 0 and 1 (the training-mode loss does not read them). Only the GRU biases differ between
 * the two forms.
 */
function makeTaskE(form: Form): TaskSpec {
  const { batch: B, time: T, inputSize: E, units: H, vocab } = TASK_SHAPES.E;
  const V = vocab!;
  const resetAfter = form === 'after';
  const { ids, labels, samples } = sentimentTrainingSet();
  const rand = mulberry32(SEED.E);
  const embeddings = uniform(rand, V * E, 0.05);
  const bn = (n: number) => {
    const gamma = uniform(rand, n, 0.1).map((v) => 1 + v);
    return [gamma, uniform(rand, n, 0.1), new Float32Array(n), new Float32Array(n).fill(1)];
  };
  const gru = (D: number) => [uniform(rand, D * 3 * H, 1 / Math.sqrt(D)), uniform(rand, H * 3 * H, 1 / Math.sqrt(H))];
  const bn1 = bn(E);
  const gru1 = gru(E);
  const bn2 = bn(H);
  const gru2 = gru(H);
  const dense = [uniform(rand, H, 1 / Math.sqrt(H)), uniform(rand, 1, 0.1)];
  // Drawn last so that both forms share everything above.
  gru1.push(uniform(rand, (resetAfter ? 2 : 1) * 3 * H, 0.1));
  gru2.push(uniform(rand, (resetAfter ? 2 : 1) * 3 * H, 0.1));
  const sentiment: SentimentTaskData = {
    samples, ids, labels, embeddings, bn1, gru1, bn2, gru2, dense,
    dropout: SENTIMENT.dropout, recurrentDropout: SENTIMENT.recurrentDropout,
  };
  const none = new Float32Array(0);
  const data: TaskData = {
    x: none, kernel: none, recurrentKernel: none, bias: none, denseKernel: none, denseBias: none,
    y: labels, h0: none, sentiment,
  };
  return { name: 'E', batch: B, time: T, inputSize: E, units: H, vocab: V, resetAfter, data };
}

/** E: batches in one epoch of the example's training split (75 = 2400 / 32). */
export function sentimentBatches(): number {
  return Math.ceil(sentimentTrainingSet().samples / TASK_SHAPES.E.batch);
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
 *   E        = 75 batches × 3 × (forward of GRU 1 (D = E = 64) + forward of GRU 2 (D = H = 64)),
 *              every step counted as computed, padded ones included (how many of them a peer
 *              skips under the mask is its business); BatchNormalization, Dense(1) and Adam are
 *              O(B·T·H) or O(parameters) and not counted.
 */
export function taskFlops(spec: TaskShape & { name: TaskName }): number {
  const { batch: B, time: T, inputSize: D, units: H } = spec;
  const forward = 2 * B * T * D * 3 * H + 2 * B * T * H * 3 * H;
  if (spec.name === 'D') return 3 * forward + 3 * 2 * B * H * spec.vocab!;
  if (spec.name === 'E') return sentimentBatches() * 3 * (forward + 2 * B * T * H * 3 * H * 2);
  return spec.name === 'B' || spec.name === 'Bp' ? 3 * forward : forward;
}
