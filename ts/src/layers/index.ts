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

// ---- part B: normalization, wrappers, the cell API ----
import { BatchNormalization, BatchNormalizationLayerArgs, LayerNormalization, LayerNormalizationLayerArgs } from './Normalization.js';
import { Bidirectional, BidirectionalLayerArgs, TimeDistributed, TimeDistributedLayerArgs } from './Wrappers.js';
import { GRUCell, GRUCellLayerArgs, RNN, RNNLayerArgs, StackedRNNCells, StackedRNNCellsArgs } from './RNN.js';

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

/** Keras RNN over GRU cells (runs the fused GRU kernel). */
export function rnn(args: RNNLayerArgs): RNN {
  return new RNN(args);
}
