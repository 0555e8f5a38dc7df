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
