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
 */
export type TaskName = 'A' | 'B' | 'C' | 'Bp' | 'D';

/** Tasks whose run() is a whole optimizer step; their check() returns losses (see Runner.check). */
export const TRAINING_TASKS: readonly TaskName[] = ['Bp', 'D'];

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
  /** D only: vocabulary = number of classes (Embedding inputDim, Dense units). */
  vocab?: number;
  /**
   * D only: the embedding is not trained (`trainable: false`). Set by run.ts when it computes
   * the check reference for a peer that had to freeze it (Runner.variant), never for timing.
   */
  freezeEmbedding?: boolean;
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
