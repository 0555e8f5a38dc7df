// The contract between bench/run.ts and every peer (tfjs, onnxruntime-web, fastgru).
// A peer is one library in one configuration; a Runner is that peer set up for one task,
// holding its weights and inputs so that run() times only the work itself.

/**
 * A: GRU forward, full output sequence (B=32, T=64, D=64, H=128).
 * B: one forward+backward of GRU(H, last output) -> Dense(1) -> MSE, gradients of every weight and x.
 * C: one streaming step, B=1, T=1, D=64, H=256, the state carried from the previous call.
 * Bp (B'): one full training step, `trainOnBatch` with Adam, of B's model on B's data.
 * D: one `trainOnBatch` with Adam of Embedding(10000, 128) -> GRU(256, last) -> Dense(10000,
 *    softmax), sparse categorical cross-entropy, B=32, T=100.
 * E: one training epoch (`fit`, epochs 1, shuffle off) of the `sentiment` example's model,
 *    Embedding(2000, 64, maskZero) -> BatchNormalization -> GRU(64, sequences, dropout 0.4,
 *    recurrentDropout 0.4) -> BatchNormalization -> GRU(64) -> Dense(1, sigmoid), binary
 *    cross-entropy, on its 2,400 training sentences (75 batches of 32, T=32).
 */
export type TaskName = 'A' | 'B' | 'C' | 'Bp' | 'D' | 'E';

/** Tasks whose run() trains (steps or an epoch); their check() returns losses (see Runner.check). */
export const TRAINING_TASKS: readonly TaskName[] = ['Bp', 'D', 'E'];

/** Which of the two GRU functions (GRU-CONVENTIONS §1). */
export type Form = 'after' | 'before';

export interface TaskSpec {
  name: TaskName;
  batch: number;
  time: number;
  inputSize: number;
  units: number;
  /** true: reset-after (Keras reset_after=True, ONNX linear_before_reset=1); false: reset-before. */
  resetAfter: boolean;
  /** D: vocabulary = number of classes (Embedding inputDim, Dense units); E: Embedding inputDim. */
  vocab?: number;
  /**
   * D and E: the embedding is not trained (`trainable: false`). Set by run.ts when it computes
   * the check reference for a peer that had to freeze it (Runner.variant), never for timing.
   */
  freezeEmbedding?: boolean;
  /**
   * E only: check() builds its models without `maskZero` (the timed model keeps it). Set by a
   * peer whose masked model computes a different function (tfjs: BatchNormalization ignores the
   * mask in its batch statistics), through Runner.variant, so that the check compares the rest.
   */
  checkUnmasked?: boolean;
  data: TaskData;
}

/** Keras layout throughout (GRU-CONVENTIONS §2): row-vector, gate order [z | r | h]. */
export interface TaskData {
  x: Float32Array; // (B, T, D)
  kernel: Float32Array; // (D, 3H), columns z|r|h
  recurrentKernel: Float32Array; // (H, 3H), columns z|r|h
  bias: Float32Array; // reset-before (3H); reset-after (2, 3H) = [b_x; b_u]
  denseKernel: Float32Array; // (H, 1) for B and Bp (present for A, C too); (H, V) for D
  denseBias: Float32Array; // (1); (V) for D
  y: Float32Array; // (B, 1), MSE targets for B and Bp; D: the class ids as floats (B, 1)
  h0: Float32Array; // (B, H), zeros for A, B, Bp, D, random for C
  /** D only: token ids (B, T) in [0, V); the GRU input is embeddings[ids], so x is empty. */
  ids?: Int32Array;
  /** D only: (V, E) with E = inputSize. */
  embeddings?: Float32Array;
  /** D only: the target class ids (B), the same numbers as y. */
  labels?: Int32Array;
  /** E only: the sentiment example's data and initial weights (the fields above are empty). */
  sentiment?: SentimentTaskData;
}

/**
 * E: the `sentiment` example's training split, tokenised, numbered and padded exactly as
 * examples/sentiment.ts does (bench/lib/data.ts), and seeded initial weights of its six layers,
 * each layer's list in Keras `getWeights()` order (which fastgru and tfjs-layers share).
 */
export interface SentimentTaskData {
  samples: number; // N, training sentences (2400)
  ids: Int32Array; // (N, T) word ids, pre-padded with 0 (masked: Embedding maskZero)
  labels: Float32Array; // (N, 1), 0 negative | 1 positive
  embeddings: Float32Array; // (V, E)
  bn1: Float32Array[]; // gamma, beta, movingMean, movingVariance: each (E)
  gru1: Float32Array[]; // kernel (E, 3H), recurrentKernel (H, 3H), bias (3H) | (2, 3H); z|r|h
  bn2: Float32Array[]; // gamma, beta, movingMean, movingVariance: each (H)
  gru2: Float32Array[]; // kernel (H, 3H), recurrentKernel (H, 3H), bias (3H) | (2, 3H)
  dense: Float32Array[]; // kernel (H, 1), bias (1)
  /** The first GRU's rates, as in the example (0.4, 0.4); the check runs with both at 0. */
  dropout: number;
  recurrentDropout: number;
}

/**
 * One configured peer for one task. run() is one timed iteration and must leave no work pending
 * (read results back to JS: dataSync, await session.run, ...). For Bp and D, run() is one
 * trainOnBatch: the weights move at every call, as in training.
 *
 * check() returns what the most recent run() computed, in Keras layout, for the cross-peer check.
 * run.ts calls it once, right after the first run() (before warm-up), so for C it is the state
 * after ONE step from h0 — comparable across peers whatever their iteration counts:
 *   A: y (B, T, H)
 *   B: concat(dkernel (D,3H), drecurrentKernel (H,3H), dbias (3H | 2·3H), ddenseKernel (H,1),
 *      ddenseBias (1), dx (B,T,D)), gradients of loss = mean over B of (ŷ − y)²
 *   C: h_1 (B, H)
 *   Bp, D: [loss returned by the first trainOnBatch (initial weights),
 *           loss on the same batch after that one Adam update (a forward pass, no training)].
 *          The second number costs one forward pass inside check(), which may therefore be
 *          async (tfjs' evaluate). Both peers start from the same weights, so the second number
 *          checks the gradients and the optimizer, not just the forward pass.
 *   E: not what run() computed (an epoch with random dropout masks, which no two libraries
 *      draw alike) but a separate model from the initial weights with dropout and
 *      recurrentDropout at 0 (and without maskZero if TaskSpec.checkUnmasked): [loss of the
 *      first trainOnBatch on batch 0, loss of the second trainOnBatch on batch 1 (after one Adam
 *      update)], i.e. the first two batches of the epoch.
 */
export interface Runner {
  run(): void | Promise<void>;
  check?(): Float32Array | Promise<Float32Array>;
  dispose(): void | Promise<void>;
  /**
   * Set when the peer ran a variant of the task (tfjs-wasm trains D with a frozen embedding):
   * the note is shown next to the peer in the report, and the check reference is computed for
   * the same variant (the task spec with these fields changed).
   */
  variant?: { note: string; spec: Partial<TaskSpec> };
  /**
   * Set when run() does only part of the task because the whole is too slow to time (tfjs-cpu
   * on E: a fixed number of an epoch's batches): run.ts multiplies every time by `factor`
   * (work of the task ÷ work of one run()) and reports the note, so the row says it is extrapolated.
   */
  extrapolated?: { factor: number; note: string };
}

export interface Peer {
  name: string;
  tasks: TaskName[];
  /** null if the peer can run here, else the reason it cannot (printed and recorded). */
  available(): Promise<string | null>;
  /** Reject (throw) with a reason to mark one task variant unavailable, e.g. tfjs + reset-after. */
  setup(task: TaskSpec): Promise<Runner>;
}

/** Thrown by setup() for a task variant the peer does not implement (reported, not an error). */
export class Unsupported extends Error {
  override name = 'Unsupported';
}
