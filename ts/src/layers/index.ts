/** The `layers` namespace: factory functions with tfjs names. */
import { Dense, DenseLayerArgs } from './Dense.js';
import { GRU, GRULayerArgs } from './GRU.js';

/** A GRU layer (Keras 3 defaults: resetAfter, sigmoid gates, glorotUniform/orthogonal/zeros). */
export function gru(args: GRULayerArgs): GRU {
  return new GRU(args);
}

/** A fully connected layer. */
export function dense(args: DenseLayerArgs): Dense {
  return new Dense(args);
}

// ---- issue 4 part A: embedding, dropout, activation, reshaping, masking, pooling, merging ----
import { Embedding, EmbeddingLayerArgs } from './Embedding.js';
import { Dropout, DropoutLayerArgs, SpatialDropout1D, SpatialDropout1DLayerArgs } from './Dropout.js';
import { ActivationLayer, ActivationLayerArgs } from './Activation.js';
import { Flatten, RepeatVector, RepeatVectorLayerArgs } from './Reshape.js';
import { Masking, MaskingLayerArgs } from './Masking.js';
import { GlobalAveragePooling1D, GlobalMaxPooling1D } from './Pooling.js';
import { Add, Concatenate, ConcatenateLayerArgs } from './Merge.js';
import type { LayerArgs } from './Layer.js';

/** Integer ids → vectors (Keras defaults: RandomUniform(-0.05, 0.05), maskZero false). */
export function embedding(args: EmbeddingLayerArgs): Embedding {
  return new Embedding(args);
}

/** Inverted dropout, active only in training. */
export function dropout(args: DropoutLayerArgs): Dropout {
  return new Dropout(args);
}

/** Dropout of whole channels of (batch, time, channels), one mask per (batch, channel). */
export function spatialDropout1d(args: SpatialDropout1DLayerArgs): SpatialDropout1D {
  return new SpatialDropout1D(args);
}

/** An activation applied element-wise (softmax over the last axis). */
export function activation(args: ActivationLayerArgs): ActivationLayer {
  return new ActivationLayer(args);
}

/** (batch, …) → (batch, product of the rest). */
export function flatten(args: LayerArgs = {}): Flatten {
  return new Flatten(args);
}

/** (batch, features) → (batch, n, features). */
export function repeatVector(args: RepeatVectorLayerArgs): RepeatVector {
  return new RepeatVector(args);
}

/** Masks steps whose features all equal maskValue (default 0). */
export function masking(args: MaskingLayerArgs = {}): Masking {
  return new Masking(args);
}

/** Mean over time (masked steps excluded, as Keras 3). */
export function globalAveragePooling1d(args: LayerArgs = {}): GlobalAveragePooling1D {
  return new GlobalAveragePooling1D(args);
}

/** Max over time (Keras 3: ignores masks). */
export function globalMaxPooling1d(args: LayerArgs = {}): GlobalMaxPooling1D {
  return new GlobalMaxPooling1D(args);
}

/** Joins inputs along an axis (default -1). */
export function concatenate(args: ConcatenateLayerArgs = {}): Concatenate {
  return new Concatenate(args);
}

/** Element-wise sum of inputs. */
export function add(args: LayerArgs = {}): Add {
  return new Add(args);
}
