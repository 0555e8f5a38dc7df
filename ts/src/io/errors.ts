/**
 * Errors of the file readers. Every message names the file part (zip entry, header field, pickle
 * opcode and byte offset, tensor name) and says what to do.
 */
import { FastGruError } from '../wasm/errors.js';

/** A file that is not what it claims, is truncated or corrupted, or uses an unsupported variant. */
export class FileFormatError extends FastGruError {}

/**
 * A pickle that would run code (a callable other than the tensor / state-dict ones) when loaded by
 * Python's `pickle` / `torch.load(weights_only=False)`. Nothing was run: the reader refuses it.
 */
export class UnsafePickleError extends FileFormatError {}
