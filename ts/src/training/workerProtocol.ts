/**
 * The messages between `WorkerTrainer` (main thread) and the training worker, and how tensors,
 * training state and errors are packed into them.
 *
 *   main                                  worker
 *   fit {wasm module, model artifacts, ─▶ rebuild the model (loadModel), continue the RNGs,
 *        RNG states, data, args,          run Trainer.fit with the portable callbacks + a bridge
 *        portable callbacks, routes}
 *                                     ◀─ event {hook, args}        per hook the main side listens to
 *   ack {stopTraining}                ─▶ (only for `sync` hooks: the worker waits for it)
 *   pause / resume / abort            ─▶ read between batches
 *                                     ◀─ done {state} | failed {error, state}
 *
 * `state` is everything a main-thread fit would have changed: weights, optimizer state (iterations
 * and slots), learning rate, the global and per-layer RNG states, the callbacks' state, and
 * `stopTraining`. Every big buffer is a fresh copy whose ArrayBuffer is transferred.
 */
import { Tensor } from '../tensor.js';
import { AbortError, DisposedError, FastGruError, IndexError, InternalError, NonFiniteError, OutOfMemoryError, ValueError } from '../wasm/errors.js';
import { FileFormatError, UnsafePickleError } from '../io/errors.js';
import type { ModelArtifacts } from '../io/artifacts.js';
import type { Logs } from './callbacks.js';
import type { TrainerData } from './Trainer.js';

/** Hooks of a fit that the worker can forward to the main thread. */
export const FORWARDED_HOOKS = ['onTrainBegin', 'onTrainEnd', 'onEpochBegin', 'onEpochEnd', 'onBatchBegin', 'onBatchEnd', 'onTestBegin', 'onTestEnd'] as const;
export type ForwardedHook = (typeof FORWARDED_HOOKS)[number];

/** Per hook: not sent, sent ('async': the worker goes on), or sent and awaited ('sync'). */
export type HookRoutes = Partial<Record<ForwardedHook, 'async' | 'sync'>>;

/** A tensor as plain data (its own copy of the values). */
export interface PackedTensor {
  data: Float32Array | Int32Array;
  shape: number[];
}

/** `TrainerData` as plain data: one tensor, a list, or a record keyed by name. */
export type PackedData = { tensor: PackedTensor } | { list: PackedTensor[] } | { record: Record<string, PackedTensor> };

/** A portable callback: its class, constructor arguments and state (see `workerCallbacks.ts`). */
export interface CallbackSpec {
  className: string;
  args: Record<string, unknown>;
  state: Record<string, unknown>;
}

/** What training changed, handed back to the main thread (and, for the RNGs, handed in). */
export interface TrainingState {
  /** Every weight, in `model.getWeights()` order. */
  weights: Float32Array[];
  /** `optimizer.getWeights()` (iterations first), or null if the optimizer never stepped. */
  optimizer: Float32Array[] | null;
  /** The optimizer's learning rate when it is a number (ReduceLROnPlateau may lower it). */
  learningRate: number | null;
  /** The global generator (`setSeed`'s): shuffling and unseeded dropout. */
  random: number[];
  /** Seeded Dropout layers' own generators, by layer name. */
  layerRandom: Record<string, number[]>;
  /** The portable callbacks' state, in the order they were sent. */
  callbacks: Record<string, unknown>[];
  stopTraining: boolean;
}

/** An error as plain data: its class name, message and the worker's stack. */
export interface PackedError {
  name: string;
  message: string;
  stack?: string;
}

export interface FitMessage {
  type: 'fit';
  wasm: WebAssembly.Module;
  backend: 'simd' | 'scalar';
  artifacts: ModelArtifacts;
  onNonFinite: 'error' | 'warn';
  random: number[];
  layerRandom: Record<string, number[]>;
  x: PackedData;
  y: PackedData;
  /** The FitArgs that are plain data; tensors packed; callbacks, signal and verbose left out. */
  args: Record<string, unknown>;
  callbacks: CallbackSpec[];
  routes: HookRoutes;
  paused: boolean;
}

export type ToWorker = FitMessage | { type: 'ack'; stopTraining: boolean } | { type: 'pause' } | { type: 'resume' } | { type: 'abort' };

export type FromWorker =
  | { type: 'params'; params: Record<string, unknown> }
  | { type: 'event'; hook: ForwardedHook; args: [Logs] | [number, Logs]; stopTraining: boolean; sync: boolean }
  | { type: 'done'; state: TrainingState }
  | { type: 'failed'; error: PackedError; state: TrainingState | null };

// ---- tensors and data ---------------------------------------------------------------------------

/** A copy of the tensor's values (only its own range, even when it views a bigger buffer). */
export function packTensor(t: Tensor, transfer: Transferable[]): PackedTensor {
  if (!(t instanceof Tensor)) throw new ValueError(`WorkerTrainer.fit: data must be Tensors, got ${t === null ? 'null' : typeof t}`);
  const data = t.data.slice();
  transfer.push(data.buffer);
  return { data, shape: [...t.shape] };
}

export function unpackTensor(p: PackedTensor): Tensor {
  return new Tensor(p.data, p.shape);
}

/** Copies `x` or `y` into transferable buffers; the caller's tensors stay valid. */
export function packData(d: TrainerData, transfer: Transferable[]): PackedData {
  if (d instanceof Tensor) return { tensor: packTensor(d, transfer) };
  if (Array.isArray(d)) return { list: d.map((t) => packTensor(t, transfer)) };
  if (d && typeof d === 'object') return { record: Object.fromEntries(Object.entries(d).map(([k, t]) => [k, packTensor(t, transfer)])) };
  throw new ValueError(`WorkerTrainer.fit: x and y must be a Tensor, an array of Tensors or an object of Tensors, got ${d === null ? 'null' : typeof d}`);
}

export function unpackData(p: PackedData): TrainerData {
  if ('tensor' in p) return unpackTensor(p.tensor);
  if ('list' in p) return p.list.map(unpackTensor);
  return Object.fromEntries(Object.entries(p.record).map(([k, t]) => [k, unpackTensor(t)]));
}

/** A state value with any `Tensor[]` (best weights) packed; other values must be plain data. */
export function packValue(v: unknown, transfer: Transferable[]): unknown {
  if (Array.isArray(v) && v.length && v.every((t) => t instanceof Tensor)) return { tensors: v.map((t: Tensor) => packTensor(t, transfer)) };
  return v;
}

export function unpackValue(v: unknown): unknown {
  if (v && typeof v === 'object' && 'tensors' in v && Array.isArray((v as { tensors: unknown }).tensors)) return (v as { tensors: PackedTensor[] }).tensors.map(unpackTensor);
  return v;
}

// ---- errors -------------------------------------------------------------------------------------

/** The classes an error may come back as (by name); anything else becomes an Error with its message. */
const ERROR_CLASSES: Record<string, new (message: string) => Error> = {
  FastGruError,
  ValueError,
  NonFiniteError,
  IndexError,
  DisposedError,
  OutOfMemoryError,
  InternalError,
  AbortError,
  FileFormatError,
  UnsafePickleError,
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
};

export function packError(e: unknown): PackedError {
  if (e instanceof Error) return { name: e.name, message: e.message, stack: e.stack };
  return { name: 'Error', message: String(e) };
}

/** The same class (matched by name) and message, with the worker's stack kept below this thread's. */
export function unpackError(p: PackedError): Error {
  const Kind = ERROR_CLASSES[p.name] ?? Error;
  const e = new Kind(p.message);
  if (!(p.name in ERROR_CLASSES)) e.name = p.name;
  if (p.stack) e.stack = `${e.stack ?? `${p.name}: ${p.message}`}\n    --- in the training worker ---\n${p.stack.split('\n').slice(1).join('\n')}`;
  return e;
}
