/**
 * One typed binding per export of the wasm module, bound once at load, a comment per argument.
 * Pointers are byte offsets into wasm memory, sizes are element counts, a pointer of 0 means
 * "absent" where the argument says "or 0". Every call that returns a status goes through
 * `Backend.check`. Argument order everywhere: outputs, caches, inputs, weights, sizes.
 */

import { FastGruError } from './errors.js';

/** Must match `crate/src/abi.rs` (`ABI_VERSION`). */
export const ABI_VERSION = 1;

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
}

/** GRU flag bits. Must match `crate/src/abi.rs` (`GRU_RESET_AFTER`, `GRU_GO_BACKWARDS`). */
export const GruFlags = { ResetAfter: 1, GoBackwards: 2 } as const;

/** Distribution ids of `init_random`. Must match `crate/src/abi.rs` (`init_random`). */
export enum Distribution {
  Uniform = 0,
  Normal = 1,
  TruncatedNormal = 2,
}

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
    packed: Ptr, // from gru_pack
    batch: number,
    time: number,
    input: number,
    units: number,
    flags: number,
    activation: number, // Activation
    recurrentActivation: number, // Activation
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
    kernel: Ptr, // (D, 3H)
    recurrent: Ptr, // (H, 3H)
    batch: number,
    time: number,
    input: number,
    units: number,
    flags: number,
    activation: number,
    recurrentActivation: number,
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
    pred: Ptr, // (N, C)
    target: Ptr, // (N, C) f32, or (N) i32 for sparse kinds
    rows: number,
    cols: number,
    kind: number, // LossKind
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
}

const REQUIRED: (keyof WasmExports)[] = [
  'memory', 'abi_version', 'simd_enabled', 'gemm_block', 'last_error_ptr', 'last_error_len', 'alloc', 'free',
  'allocated_bytes', 'gru_packed_len', 'gru_cache_len', 'gru_pack', 'gru_forward', 'gru_backward', 'dense_forward',
  'dense_backward', 'loss_forward_backward', 'init_random', 'init_orthogonal',
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
