// The contract between bench/run.ts and every peer (tfjs, onnxruntime-web, fastgru).
// A peer is one library in one configuration; a Runner is that peer set up for one task,
// holding its weights and inputs so that run() times only the work itself.

/**
 * A: GRU forward, full output sequence (B=32, T=64, D=64, H=128).
 * B: one forward+backward of GRU(H, last output) -> Dense(1) -> MSE, gradients of every weight and x.
 * C: one streaming step, B=1, T=1, D=64, H=256, the state carried from the previous call.
 */
export type TaskName = 'A' | 'B' | 'C';

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
  data: TaskData;
}

/** Keras layout throughout (GRU-CONVENTIONS §2): row-vector, gate order [z | r | h]. */
export interface TaskData {
  x: Float32Array; // (B, T, D)
  kernel: Float32Array; // (D, 3H), columns z|r|h
  recurrentKernel: Float32Array; // (H, 3H), columns z|r|h
  bias: Float32Array; // reset-before (3H); reset-after (2, 3H) = [b_x; b_u]
  denseKernel: Float32Array; // (H, 1), task B only (present for all tasks)
  denseBias: Float32Array; // (1)
  y: Float32Array; // (B, 1), MSE targets for task B
  h0: Float32Array; // (B, H), zeros for A and B, random for C
}

/**
 * One configured peer for one task. run() is one timed iteration and must leave no work pending
 * (read results back to JS: dataSync, await session.run, ...).
 *
 * check() returns what the most recent run() computed, in Keras layout, for the cross-peer check.
 * run.ts calls it once, right after the first run() (before warm-up), so for C it is the state
 * after ONE step from h0 — comparable across peers whatever their iteration counts:
 *   A: y (B, T, H)
 *   B: concat(dkernel (D,3H), drecurrentKernel (H,3H), dbias (3H | 2·3H), ddenseKernel (H,1),
 *      ddenseBias (1), dx (B,T,D)), gradients of loss = mean over B of (ŷ − y)²
 *   C: h_1 (B, H)
 */
export interface Runner {
  run(): void | Promise<void>;
  check?(): Float32Array;
  dispose(): void | Promise<void>;
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
