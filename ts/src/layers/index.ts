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
import { BatchNormalization, BatchNormalizationLayerArgs, LayerNormalization, LayerNormalizationLayerArgs } from './Normalization.js';
import { Bidirectional, BidirectionalLayerArgs, TimeDistributed, TimeDistributedLayerArgs } from './Wrappers.js';
import { GRUCell, GRUCellLayerArgs, RNN, RNNLayerArgs, StackedRNNCells, StackedRNNCellsArgs } from './RNN.js';

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

/** Keras 3 BatchNormalization over the last axis (momentum 0.99, epsilon 1e-3; masks leave rows out of the batch statistics). */
export function batchNormalization(args: BatchNormalizationLayerArgs = {}): BatchNormalization {
  return new BatchNormalization(args);
}

/** Keras 3 LayerNormalization over the last axis (epsilon 1e-3). */
export function layerNormalization(args: LayerNormalizationLayerArgs = {}): LayerNormalization {
  return new LayerNormalization(args);
}

/** Applies a layer to every time step of (batch, time, ...). */
export function timeDistributed(args: TimeDistributedLayerArgs): TimeDistributed {
  return new TimeDistributed(args);
}

/** A forward and a backward copy of a recurrent layer, merged (default 'concat'). */
export function bidirectional(args: BidirectionalLayerArgs): Bidirectional {
  return new Bidirectional(args);
}

/** One GRU step (Keras GRUCell); run it over a sequence with `rnn({cell})`. */
export function gruCell(args: GRUCellLayerArgs): GRUCell {
  return new GRUCell(args);
}

/** Cells run one after the other at each step (Keras StackedRNNCells). */
export function stackedRNNCells(args: StackedRNNCellsArgs): StackedRNNCells {
  return new StackedRNNCells(args);
}

/** Keras RNN over a cell: gruCells run the fused GRU kernel, user cells (`RNNCell` subclasses) a per-step loop. */
export function rnn(args: RNNLayerArgs): RNN {
  return new RNN(args);
}
