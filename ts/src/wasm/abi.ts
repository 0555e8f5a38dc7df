/**
 * One typed binding per export of the wasm module, bound once at load, a comment per argument.
 * Pointers are byte offsets into wasm memory, sizes are element counts, a pointer of 0 means
 * "absent" where the argument says "or 0". Every call that returns a status goes through
 * `Backend.check`. Argument order everywhere: outputs, caches, inputs, weights, sizes.
 */

import { FastGruError } from './errors.js';

/**
 * Must match `crate/src/abi.rs` (`ABI_VERSION`). 2: gru_forward / gru_backward take recMask;
 * loss_forward_backward takes row weights, row losses, hyper-parameters. 3: gru_forward /
 * gru_backward take clip (ONNX cell clip) last.
 */
export const ABI_VERSION = 3;

/** Activation ids. Must match `crate/src/kernels/activations.rs` (`Activation`). */
export enum Activation {
  Linear = 0,
  Tanh = 1,
  Sigmoid = 2,
  /** Keras 2 / tfjs / ONNX: clip(0.2·x + 0.5, 0, 1). */
  HardSigmoid = 3,
  /** Keras 3: relu6(x + 3) / 6. */
  HardSigmoidKeras3 = 4,
  Relu = 5,
  /** Dense only, over the last axis. */
  Softmax = 6,
}

/** Loss ids. Must match `crate/src/kernels/loss.rs` (`LossKind`). */
export enum LossKind {
  MeanSquaredError = 0,
  MeanAbsoluteError = 1,
  BinaryCrossentropy = 2,
  BinaryCrossentropyLogits = 3,
  CategoricalCrossentropy = 4,
  CategoricalCrossentropyLogits = 5,
  SparseCategoricalCrossentropy = 6,
  SparseCategoricalCrossentropyLogits = 7,
  /** Keras `Huber(delta)`: ½e² where |e| ≤ δ, else δ|e| − ½δ²; mean over the last axis. */
  Huber = 8,
  /** Keras `LogCosh`: log(cosh(yPred − yTrue)); mean over the last axis. */
  LogCosh = 9,
}

/** GRU flag bits. Must match `crate/src/abi.rs` (`GRU_RESET_AFTER`, `GRU_GO_BACKWARDS`). */
export const GruFlags = { ResetAfter: 1, GoBackwards: 2 } as const;

/** Distribution ids of `init_random`. Must match `crate/src/abi.rs` (`init_random`). */
export enum Distribution {
  Uniform = 0,
  Normal = 1,
  TruncatedNormal = 2,
}

/** Optimizer ids of `optimizer_apply`. Must match `crate/src/abi.rs` (`OptimizerKind`). */
export enum OptimizerKind {
  Sgd = 0,
  Rmsprop = 1,
  Adam = 2,
  AdamW = 3,
  Adagrad = 4,
  Adadelta = 5,
  Adamax = 6,
  Nadam = 7,
}

/**
 * Indices into the f64 hyper-parameter array of `optimizer_apply` (booleans 0/1, unset clip
 * options 0). Must match `crate/src/abi.rs` (`Hyper`).
 */
export enum Hyper {
  LearningRate = 0,
  WeightDecay = 1,
  Clipnorm = 2,
  GlobalClipnorm = 3,
  Clipvalue = 4,
  Momentum = 5,
  Nesterov = 6,
  Rho = 7,
  Epsilon = 8,
  Centered = 9,
  Beta1 = 10,
  Beta2 = 11,
  Amsgrad = 12,
}

/** Entries of the hyper-parameter array. Must match `crate/src/abi.rs` (`HYPER_COUNT`). */
export const HYPER_COUNT = 13;

/** Flag bits of an `optimizer_apply` tensor record. Must match `crate/src/abi.rs` (`PARAM_WEIGHT_DECAY`). */
export const ParamFlags = { WeightDecay: 1 } as const;

/** u32 words per tensor record: params ptr, grads ptr, length, flags. Must match `crate/src/abi.rs` (`RECORD_WORDS`). */
export const RECORD_WORDS = 4;

type Ptr = number;
type Status = number;

/** The raw exports, typed. */
export interface WasmExports {
  memory: WebAssembly.Memory;
  /** Returns ABI_VERSION of the build. */
  abi_version(): number;
  /** 1 in the SIMD build, 0 in the scalar one. */
  simd_enabled(): number;
  /** 0: MR (rows per microkernel), 1: NR (columns per microkernel). */
  gemm_block(which: number): number;
  /** Address of the last error's UTF-8 message. */
  last_error_ptr(): Ptr;
  /** Byte length of that message. */
  last_error_len(): number;
  /** bytes → 16-byte-aligned pointer, 0 if the heap cannot grow. */
  alloc(bytes: number): Ptr;
  /** Frees a pointer from alloc; BadPointer if it is not live. */
  free(ptr: Ptr): Status;
  /** Bytes currently allocated through alloc. */
  allocated_bytes(): number;
  /** (input D, units H, flags) → floats of the packed weights. */
  gru_packed_len(input: number, units: number, flags: number): number;
  /** (batch, time, units) → floats of the training cache. */
  gru_cache_len(batch: number, time: number, units: number): number;
  gru_pack(
    packed: Ptr, // out: (gru_packed_len)
    kernel: Ptr, // (D, 3H) Keras [z|r|h]
    recurrent: Ptr, // (H, 3H)
    bias: Ptr, // (2, 3H) reset-after, (3H) reset-before, or 0
    input: number, // D
    units: number, // H
    flags: number, // GruFlags
  ): Status;
  gru_forward(
    y: Ptr, // out: (B, T, H) or 0
    yLast: Ptr, // out: (B, H)
    hLast: Ptr, // out: (B, H)
    cache: Ptr, // out: (gru_cache_len) when training, else 0
    x: Ptr, // (B, T, D)
    h0: Ptr, // (B, H) or 0
    mask: Ptr, // (B, T) u8, nonzero = valid, or 0
    // (3, B, H) f32 recurrent dropout masks [m_z; m_r; m_h], scaled (0 or 1/(1 − rate)), drawn once
    // per sequence, or 0 = none. Gate k's recurrent matmul reads h_prev ⊙ m_k; the update blend
    // z ⊙ h_prev + (1 − z) ⊙ h̃ keeps the un-dropped h_prev (Keras 3.8+ GRUCell, implementation 1).
    recMask: Ptr,
    packed: Ptr, // from gru_pack
    batch: number,
    time: number,
    input: number,
    units: number,
    flags: number,
    activation: number, // Activation
    recurrentActivation: number, // Activation
    clip: number, // ONNX cell clip: every gate pre-activation clamped to [−clip, clip]; 0 = no clip
  ): Status;
  gru_backward(
    dx: Ptr, // += (B, T, D) or 0
    dh0: Ptr, // += (B, H) or 0
    dkernel: Ptr, // += (D, 3H)
    drecurrent: Ptr, // += (H, 3H)
    dbias: Ptr, // += (2, 3H) / (3H), or 0
    dy: Ptr, // (B, T, H) or 0
    dyLast: Ptr, // (B, H) or 0
    dhLast: Ptr, // (B, H) or 0
    cache: Ptr, // filled by gru_forward
    x: Ptr, // (B, T, D) as given to gru_forward
    mask: Ptr, // as given to gru_forward, or 0
    recMask: Ptr, // (3, B, H) as given to gru_forward, or 0
    kernel: Ptr, // (D, 3H)
    recurrent: Ptr, // (H, 3H)
    batch: number,
    time: number,
    input: number,
    units: number,
    flags: number,
    activation: number,
    recurrentActivation: number,
    clip: number, // as given to gru_forward (gradient 0 through a clamped pre-activation)
  ): Status;
  dense_forward(
    y: Ptr, // out: (N, O)
    x: Ptr, // (N, I)
    w: Ptr, // (I, O)
    b: Ptr, // (O) or 0
    rows: number,
    input: number,
    units: number,
    activation: number,
  ): Status;
  dense_backward(
    dx: Ptr, // += (N, I) or 0
    dw: Ptr, // += (I, O)
    db: Ptr, // += (O) or 0
    dy: Ptr, // (N, O)
    y: Ptr, // (N, O) forward output
    x: Ptr, // (N, I)
    w: Ptr, // (I, O)
    rows: number,
    input: number,
    units: number,
    activation: number,
  ): Status;
  embedding_forward(
    y: Ptr, // out: (N, E)
    ids: Ptr, // (N) i32, each in [0, V) (checked before writing)
    table: Ptr, // (V, E) the `embeddings` weight
    count: number, // N
    vocab: number, // V (inputDim)
    dim: number, // E (outputDim)
  ): Status;
  embedding_backward(
    dtable: Ptr, // += (V, E); repeated ids accumulate
    dy: Ptr, // (N, E)
    ids: Ptr, // (N) i32, as given to embedding_forward
    count: number, // N
    vocab: number, // V
    dim: number, // E
  ): Status;
  /**
   * Mean loss Σ_r w_r·L_r / N (Keras 3 sum_over_batch_size; a row is one prediction vector)
   * and dL/dpred in one pass.
   */
  batchnorm_forward(
    y: Ptr, // out: (N, C)
    batchMean: Ptr, // out: (C) this batch's mean (training), or 0
    batchVar: Ptr, // out: (C) this batch's biased variance (training), or 0
    x: Ptr, // (N, C), features last
    mask: Ptr, // (N) u8, nonzero = row counts in the batch statistics, or 0
    gamma: Ptr, // (C) or 0 (scale: false)
    beta: Ptr, // (C) or 0 (center: false)
    movingMean: Ptr, // (C) (inference), or 0
    movingVar: Ptr, // (C) (inference), or 0
    rows: number, // N
    features: number, // C
    epsilon: number, // f32, >= 0
  ): Status;
  batchnorm_backward(
    dx: Ptr, // += (N, C) or 0
    dgamma: Ptr, // += (C) or 0
    dbeta: Ptr, // += (C) or 0
    dy: Ptr, // (N, C)
    x: Ptr, // (N, C) as given to the forward
    mask: Ptr, // (N) u8 as given to the forward, or 0
    gamma: Ptr, // (C) or 0
    mean: Ptr, // (C) the statistics the forward normalized with
    variance: Ptr, // (C)
    rows: number,
    features: number,
    epsilon: number,
    batchStats: number, // 1: mean/variance were the batch's own (full formula); 0: constants
  ): Status;
  layernorm_forward(
    y: Ptr, // out: (N, C)
    mean: Ptr, // out: (N) per-row mean (training), or 0
    rstd: Ptr, // out: (N) per-row 1/sqrt(var + eps) (training), or 0
    x: Ptr, // (N, C), features last
    gamma: Ptr, // (C) or 0
    beta: Ptr, // (C) or 0
    rows: number,
    features: number,
    epsilon: number, // f32, >= 0
  ): Status;
  layernorm_backward(
    dx: Ptr, // += (N, C) or 0
    dgamma: Ptr, // += (C) or 0
    dbeta: Ptr, // += (C) or 0
    dy: Ptr, // (N, C)
    x: Ptr, // (N, C)
    mean: Ptr, // (N) from the forward
    rstd: Ptr, // (N) from the forward
    gamma: Ptr, // (C) or 0
    rows: number,
    features: number,
  ): Status;
  loss_forward_backward(
    lossOut: Ptr, // out: (1) mean loss
    dpred: Ptr, // out (overwritten): (N, C) or 0
    rowLoss: Ptr, // out: (N) unweighted per-row loss L_r, or 0
    pred: Ptr, // (N, C)
    target: Ptr, // (N, C) f32, or (N) i32 for sparse kinds
    weights: Ptr, // (N) f32 per-row weights (sample × class × rescaled mask), or 0 for ones
    rows: number, // N
    cols: number, // C
    kind: number, // LossKind
    delta: number, // f32, Huber's δ > 0 (read by Huber only)
    labelSmoothing: number, // f32 in [0, 1] for (binary/categorical) cross-entropy, else 0
  ): Status;
  init_random(
    out: Ptr, // out: (n)
    n: number,
    distribution: number, // Distribution
    a: number, // low / mean
    b: number, // high / std
    seedLo: number,
    seedHi: number,
  ): Status;
  init_orthogonal(
    out: Ptr, // out: (rows, cols)
    rows: number,
    cols: number,
    gain: number,
    seedLo: number,
    seedHi: number,
  ): Status;
  /** (kind, hyper, n) → floats of optimizer_apply's state over n parameters; 0 on a bad argument. */
  optimizer_state_len(
    kind: number, // OptimizerKind
    hyper: Ptr, // (HYPER_COUNT) f64, indexed by Hyper
    n: number, // parameters over all tensors
  ): number;
  optimizer_apply(
    gradNorm: Ptr, // out: (1) f64, global L2 norm of all gradients before clipping
    uProduct: Ptr, // in/out: (1) f64 Nadam running product (1.0 before step 1), or 0 for other kinds
    state: Ptr, // in/out: (stateLen) f32, R regions × N params, or 0 when stateLen is 0
    table: Ptr, // (nTensors, RECORD_WORDS) u32: params ptr, grads ptr (clipped in place), length, ParamFlags
    hyper: Ptr, // (HYPER_COUNT) f64, indexed by Hyper
    nTensors: number,
    stateLen: number, // floats of state, from optimizer_state_len
    step: number, // 1-based: Keras iterations + 1
    kind: number, // OptimizerKind
  ): Status;
}

const REQUIRED: (keyof WasmExports)[] = [
  'memory', 'abi_version', 'simd_enabled', 'gemm_block', 'last_error_ptr', 'last_error_len', 'alloc', 'free',
  'allocated_bytes', 'gru_packed_len', 'gru_cache_len', 'gru_pack', 'gru_forward', 'gru_backward', 'dense_forward',
  'dense_backward', 'embedding_forward', 'embedding_backward', 'loss_forward_backward', 'init_random', 'init_orthogonal', 'optimizer_state_len', 'optimizer_apply',
  'batchnorm_forward', 'batchnorm_backward', 'layernorm_forward', 'layernorm_backward',
];

/** Checks that an instance has every export and the right ABI version. */
export function bindExports(instance: WebAssembly.Instance): WasmExports {
  const e = instance.exports as unknown as WasmExports;
  const missing = REQUIRED.filter((k) => !(k in (e as object)));
  if (missing.length > 0) {
    throw new FastGruError(`fastgru: the .wasm lacks exports ${missing.join(', ')}: it is not a fastgru build, or a stale one; rebuild with \`npm run build\``);
  }
  const v = e.abi_version();
  if (v !== ABI_VERSION) {
    throw new FastGruError(`fastgru: the .wasm has ABI version ${v} but this JS expects ${ABI_VERSION}; rebuild with \`npm run build\` so both come from the same sources`);
  }
  return e;
}
