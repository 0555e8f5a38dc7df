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
export { lossAndGradient, LossFunction, getLoss, rowWeights, LOSS_DEFAULTS } from './training/losses.js';
export type { LossName, LossOptions, LossArgs, LossWeighting, LossConfig, LossIdentifier } from './training/losses.js';
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
  AbortError,
  Status,
} from './wasm/errors.js';
export { setSeed } from './random.js';
export { input, InputLayer } from './layers/Input.js';
export type { InputArgs } from './layers/Input.js';
export { LayerWeight } from './layers/Layer.js';
export type { CallArgs, NodeContext, BackwardContext, WeightSpec } from './layers/Layer.js';
// Types that public signatures mention, exported so that the API reference (npm run docs) can show them.
export type { Node } from './models/SymbolicTensor.js';
export type { TypedData } from './tensor.js';
export type { Backend, WasmBuffer, DType } from './wasm/memory.js';
export type { MetricIdentifier } from './training/Trainer.js';
export type { SaveHandlerLike } from './models/Model.js';
export type { LayerClass } from './layers/serialization.js';
export { SymbolicTensor } from './models/SymbolicTensor.js';
export { Model, model } from './models/Model.js';
export type { ModelArgs } from './models/Model.js';
export { Sequential, sequential } from './models/Sequential.js';
export type { SequentialArgs } from './models/Sequential.js';
export { Trainer } from './training/Trainer.js';
// ---- issue 6 item 2: training in a worker (ts/src/training/WorkerTrainer.ts; the worker script is ts/src/worker.ts) ----
export { WorkerTrainer } from './training/WorkerTrainer.js';
export { startTrainingWorker } from './training/trainingWorker.js';
export type { WorkerTrainerArgs } from './training/WorkerTrainer.js';
export type { ModelFitArgs } from './models/Model.js';
export type { CompileArgs, FitArgs, EvaluateArgs, PredictArgs, TrainerData, Batch, BatchSource } from './training/Trainer.js';
export * as regularizers from './regularizers.js';
export * as constraints from './constraints.js';
export * as callbacks from './training/callbacks.js';
export * as metrics from './training/metrics.js';
export {
  Callback,
  CallbackList,
  CustomCallback,
  History,
  EarlyStopping,
  ReduceLROnPlateau,
  LearningRateScheduler,
  ModelCheckpoint,
  TerminateOnNaN,
  CSVLogger,
  ProgbarLogger,
  Progbar,
} from './training/callbacks.js';
export type { Logs, TrainingModel, CallbackParams, CustomCallbackArgs, CallbacksArg, EarlyStoppingArgs, ReduceLROnPlateauArgs, ModelCheckpointArgs } from './training/callbacks.js';
export { getMetric, Mean } from './training/metrics.js';
export type { Metric, PredictionMetric } from './training/metrics.js';
export * as optimizers from './training/optimizers.js';
export { Optimizer, SGD, RMSprop, Adam, AdamW, Adagrad, Adadelta, Adamax, Nadam, getOptimizer, OPTIMIZER_DEFAULTS } from './training/optimizers.js';
export type { ParamSlot, OptimizerArgs, OptimizerIdentifier, SGDArgs, RMSpropArgs, AdamArgs, AdagradArgs, AdadeltaArgs, AdamaxArgs, NadamArgs } from './training/optimizers.js';
export * as schedules from './training/schedules.js';
export { LearningRateSchedule } from './training/schedules.js';
export { OptimizerKind } from './wasm/abi.js';
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
export { BatchNormalization, LayerNormalization, BATCH_NORMALIZATION_DEFAULTS, LAYER_NORMALIZATION_DEFAULTS } from './layers/Normalization.js';
export type { BatchNormalizationLayerArgs, LayerNormalizationLayerArgs, NormalizationLayerArgs, NormalizationGradients } from './layers/Normalization.js';
export { Wrapper, TimeDistributed, Bidirectional } from './layers/Wrappers.js';
export type { TimeDistributedLayerArgs, BidirectionalLayerArgs, MergeMode } from './layers/Wrappers.js';
export { RNN, GRUCell, StackedRNNCells } from './layers/RNN.js';
export type { RNNLayerArgs, GRUCellLayerArgs, StackedRNNCellsArgs, AnyCell } from './layers/RNN.js';
export { RNNCell } from './layers/RNNCell.js';
export type { CellCallContext, CellBackwardContext } from './layers/RNNCell.js';
// ---- issue 5 item 4: PyTorch files (safetensors, torch.save zips) ----
export { FileFormatError, UnsafePickleError, UnsupportedLayerError } from './io/errors.js';
export { readSafetensors, readSafetensorsMetadata, writeSafetensors, exportTorchSafetensors } from './io/safetensors.js';
export { loadTorchCheckpoint, loadTorchStateDict, findStateDict } from './io/torch.js';
export type { TorchSource, LoadTorchOptions } from './io/torch.js';
export { loadTorchGRU, loadTorchLinear, loadTorchEmbedding, loadTorchWeights, torchNameMap, torchStateDict, torchGRUToKeras, kerasGRUToTorch } from './io/torchMap.js';
export type { TorchNameMap, TorchTarget, StateDict, TorchGRUOptions, TorchLoadOptions, TorchLoadReport } from './io/torchMap.js';
export { parityReport, compareOutputs } from './io/parity.js';
export type { ParityReport, ParityEntry, ParityRow, ExpectedOutput } from './io/parity.js';
// ---- issue 5: Keras and tfjs files (ts/src/io/keras.ts, tfjs.ts, h5.ts, zip.ts) ----
export { modelFromKerasConfig, loadKerasModel, loadKerasWeights } from './io/keras.js';
export type { FileSource, KerasConfigOptions, LoadKerasOptions } from './io/keras.js';
export { loadTfjsModel, saveTfjsModel } from './io/tfjs.js';
export type { TfjsArtifacts, TfjsModelJson, TfjsManifestGroup, TfjsWeightSpec, TfjsSaveResult } from './io/tfjs.js';
// ---- issue 5 item 1: our own format (tfjs Layers model.json + shards, with optimizer state) ----
export { modelFromConfig, registerBuiltinLayers } from './io/modelConfig.js';
export { registerLayerClass } from './layers/serialization.js';
export { saveModel, modelToArtifacts, modelWeightNames } from './io/save.js';
export type { SaveOptions } from './io/save.js';
export { loadModel } from './io/load.js';
export { withSaveHandler, fromMemory } from './io/handlers.js';
export type { SaveResult, SaveHandler, SaveArtifacts, LoadSource, LoadOptions } from './io/handlers.js';
export { SHARD_BYTES, OPTIMIZER_GROUP } from './io/artifacts.js';
export type { ModelArtifacts, ModelJSON, WeightsManifestEntry, WeightSpecJSON } from './io/artifacts.js';
export { withoutInitializers } from './initializers.js';
export type { TrainingConfig } from './training/Trainer.js';
// ---- issue 6 item 3: streaming inference (ts/src/models/Stream.ts) ----
export { Stream, StreamingError } from './models/Stream.js';
export type { StreamArgs, StreamSnapshot, StreamInput, UnstreamableLayer } from './models/Stream.js';
// ---- issue 5 item 5: ONNX import / export (ts/src/io/onnx.ts, onnxProto.ts) ----
export { loadOnnxModel, importOnnx, extractOnnxGRUs, exportOnnx } from './io/onnx.js';
export type { OnnxSource, LoadOnnxOptions, OnnxImport, OnnxIOSpec, OnnxGRU } from './io/onnx.js';
