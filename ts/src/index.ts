/**
 * fastgru: the fastest GRU library for JavaScript. Public exports only.
 */
export { init, getBackend, memory } from './engine.js';
export type { BackendInfo } from './engine.js';
export type { InitOptions, BackendKind } from './wasm/loader.js';
export { simdSupported } from './wasm/loader.js';
export { Tensor, tensor, zeros } from './tensor.js';
export type { NestedArray, TensorDType } from './tensor.js';
export * as layers from './layers/index.js';
export { Layer } from './layers/Layer.js';
export type { LayerArgs, Shape } from './layers/Layer.js';
export { GRU, GRU_DEFAULTS } from './layers/GRU.js';
export type { GRULayerArgs, GRUCallArgs, GRUGradients } from './layers/GRU.js';
export { Dense, DENSE_DEFAULTS } from './layers/Dense.js';
export type { DenseLayerArgs, DenseGradients } from './layers/Dense.js';
export * as initializers from './initializers.js';
export { lossAndGradient } from './training/losses.js';
export type { LossName, LossOptions } from './training/losses.js';
export type { ActivationName } from './activations.js';
export { Activation, LossKind, ABI_VERSION } from './wasm/abi.js';
export {
  FastGruError,
  ValueError,
  NonFiniteError,
  IndexError,
  DisposedError,
  OutOfMemoryError,
  InternalError,
  Status,
} from './wasm/errors.js';
export { BatchNormalization, LayerNormalization, BATCH_NORMALIZATION_DEFAULTS, LAYER_NORMALIZATION_DEFAULTS } from './layers/Normalization.js';
export type { BatchNormalizationLayerArgs, LayerNormalizationLayerArgs, NormalizationLayerArgs, NormalizationGradients } from './layers/Normalization.js';
export { Wrapper, TimeDistributed, Bidirectional } from './layers/Wrappers.js';
export type { TimeDistributedLayerArgs, BidirectionalLayerArgs, MergeMode } from './layers/Wrappers.js';
export { RNN, GRUCell, StackedRNNCells } from './layers/RNN.js';
export type { RNNLayerArgs, GRUCellLayerArgs, StackedRNNCellsArgs } from './layers/RNN.js';
