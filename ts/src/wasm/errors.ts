/**
 * Typed errors. Every message says what was expected, what was got, and how to fix it.
 */
import type { History } from '../training/callbacks.js';

/** Status codes returned by every export. Must match `crate/src/status.rs` (`Status`). */
export enum Status {
  Ok = 0,
  InvalidArgument = 1,
  ShapeMismatch = 2,
  NonFinite = 3,
  OutOfMemory = 4,
  IndexOutOfRange = 5,
  BadPointer = 6,
}

/** Base class of every error fastgru throws on purpose. */
export class FastGruError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A shape, size, dtype or option that does not fit (Keras' `ValueError`). */
export class ValueError extends FastGruError {}


/** A NaN or an infinity in data, weights or gradients. */
export class NonFiniteError extends FastGruError {}

/** A token id or class label outside its range. */
export class IndexError extends FastGruError {}

/** Use of a tensor, layer or buffer after `dispose()`. */
export class DisposedError extends FastGruError {}

/** The wasm heap could not grow. */
export class OutOfMemoryError extends FastGruError {}

/** Something that should never happen inside the kernels (a bug: please report it). */
export class InternalError extends FastGruError {}

/**
 * `fit` was cancelled through its `signal`. Named 'AbortError', as the DOMException `fetch` throws,
 * so `e.name === 'AbortError'` checks work. Training stopped at a batch boundary: the model keeps
 * the weights (and optimizer state) of the last finished batch, and `history` holds the epochs
 * that finished.
 */
export class AbortError extends FastGruError {
  constructor(
    message: string,
    /** The epochs that finished before the abort (a `History`; null if training never began). */
    readonly history: History | null = null,
  ) {
    super(message);
  }
}

/** Turns a kernel status and its detail message into the matching error. */
export function errorFromStatus(status: number, op: string, detail: string): FastGruError {
  const msg = `${op}: ${detail || `failed with status ${status}`}`;
  switch (status) {
    case Status.InvalidArgument:
    case Status.ShapeMismatch:
      return new ValueError(msg);
    case Status.NonFinite:
      return new NonFiniteError(msg);
    case Status.OutOfMemory:
      return new OutOfMemoryError(msg);
    case Status.IndexOutOfRange:
      return new IndexError(msg);
    case Status.BadPointer:
      return new DisposedError(`${msg} (a buffer was used after it was disposed, or memory was corrupted)`);
    default:
      return new InternalError(`${msg} (unknown status ${status}; the .wasm and the JS are from different builds?)`);
  }
}
