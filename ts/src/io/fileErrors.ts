/**
 * Typed errors of the file readers (Keras `.h5` / `.keras`, tfjs `model.json`). Every message names
 * the file, the part of it (an HDF5 path, a zip entry, a JSON key) and what to do.
 */
import { ValueError } from '../wasm/errors.js';

/** A file that is not what it claims to be: wrong magic, truncated, corrupted, or missing a part. */
export class FileFormatError extends ValueError {
  constructor(
    /** The file (name or URL, or a description such as 'in-memory .h5'). */
    readonly file: string,
    /** The part of the file at fault: an HDF5 path, zip entry or JSON key. */
    readonly part: string,
    problem: string,
    fix: string,
  ) {
    super(`${file}: ${part}: ${problem}. ${fix}`);
  }
}

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
