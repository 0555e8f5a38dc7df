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
export { Embedding, EMBEDDING_DEFAULTS } from './layers/Embedding.js';
export type { EmbeddingLayerArgs, EmbeddingGradients } from './layers/Embedding.js';
export { Dropout, SpatialDropout1D } from './layers/Dropout.js';
export type { DropoutLayerArgs, SpatialDropout1DLayerArgs } from './layers/Dropout.js';
export { ActivationLayer } from './layers/Activation.js';
export type { ActivationLayerArgs } from './layers/Activation.js';
export { Flatten, RepeatVector } from './layers/Reshape.js';
export type { RepeatVectorLayerArgs } from './layers/Reshape.js';
export { Masking } from './layers/Masking.js';
export type { MaskingLayerArgs } from './layers/Masking.js';
export { GlobalAveragePooling1D, GlobalMaxPooling1D } from './layers/Pooling.js';
export { Concatenate, Add } from './layers/Merge.js';
export type { ConcatenateLayerArgs } from './layers/Merge.js';
