/**
 * Errors of the file readers and writers (our model.json format, Keras `.h5` / `.keras`, tfjs,
 * safetensors, torch.save zips). Every message names the file, the part of it at fault (an HDF5
 * path, a zip entry, a JSON key, a header field, a pickle opcode and byte offset, a tensor name)
 * and what to do.
 */
import { ValueError } from '../wasm/errors.js';

/**
 * A file that is not what it claims: wrong magic, truncated, corrupted, missing a part, or an
 * unsupported variant. Built from a whole message, or from (file, part, problem, fix).
 */
export class FileFormatError extends ValueError {
  /** The file (name or URL, or a description such as 'in-memory .h5'), when known. */
  readonly file: string | null;
  /** The part of the file at fault, when known. */
  readonly part: string | null;

  constructor(message: string);
  constructor(file: string, part: string, problem: string, fix: string);
  constructor(fileOrMessage: string, part?: string, problem?: string, fix?: string) {
    super(part === undefined ? fileOrMessage : `${fileOrMessage}: ${part}: ${problem}. ${fix}`);
    this.file = part === undefined ? null : fileOrMessage;
    this.part = part ?? null;
  }
}

/**
 * A pickle that would run code (a callable other than the tensor / state-dict ones) when loaded by
 * Python's `pickle` / `torch.load(weights_only=False)`. Nothing was run: the reader refuses it.
 */
export class UnsafePickleError extends FileFormatError {}

/** A model that uses layers (or layer options) fastgru does not have. Lists all of them at once. */
export class UnsupportedLayerError extends ValueError {
  constructor(
    readonly file: string,
    /** One entry per problem, e.g. `Conv1D 'conv1d_1'` or `GRU 'gru': activation 'elu'`. */
    readonly layers: string[],
  ) {
    super(
      `${file}: the model uses ${layers.length} layer${layers.length === 1 ? '' : 's'} or option${layers.length === 1 ? '' : 's'} fastgru does not support: ${layers.join('; ')}. ` +
        'Remove or replace them in the original tool and save again, or build the model with fastgru layers and load only the weights.',
    );
  }
}
