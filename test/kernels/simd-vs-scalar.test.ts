/**
 * STYLE rule 5: the SIMD build against the always-compiled scalar build, through the raw ABI.
 *
 * Both `.wasm` files are loaded as two independent instances in this process; every case gives
 * both the same inputs (same seed) and compares every output and every gradient. The two builds
 * share the exp polynomial and the GEMM blocking, but the SIMD microkernel and activations run
 * four lanes at a time, so they may differ by rounding: we allow 1e-5 absolute + 1e-5 relative.
 * Sizes are ragged on purpose (batch 1..5, time 1..7, input 1..17, units 1..17, most not multiples
 * of the 4-lane vector or of the 8-column microkernel) to hit the masked edge path and the scalar
 * tails. FAST_TEST=1 runs fewer GRU combinations.
 *
 * GRU math and layout: GRU-CONVENTIONS.md §1 (both cell forms) and §2 (Keras [z|r|h] layout).
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadBackend } from '../../ts/src/wasm/loader.ts';
import { rng, uniform } from '../util/random.ts';
import { ALL_LOSS_KINDS, usable } from '../util/backends.ts';
import type { Backend, WasmBuffer } from '../../ts/src/wasm/memory.ts';
import { Activation, GruFlags, LossKind } from '../../ts/src/wasm/abi.ts';

const FAST = !!process.env.FAST_TEST && process.env.FAST_TEST !== '0';
const ATOL = 1e-5;
const RTOL = 1e-5;

// ---------------------------------------------------------------------------------------------
// Helpers (kept in this file: each test file is self-contained).

function int(r: () => number, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}

/** Every element close, or the first offender named with both values. */
function expectClose(what: string, simd: Float32Array, scalar: Float32Array, atol = ATOL, rtol = RTOL): void {
  expect(simd.length, `${what}: lengths`).toBe(scalar.length);
  for (let i = 0; i < simd.length; i++) {
    const a = simd[i];
    const b = scalar[i];
    if (!Number.isFinite(a) || !Number.isFinite(b)) {
      throw new Error(`${what}[${i}] is not finite: simd ${a}, scalar ${b}`);
    }
    const tol = atol + rtol * Math.max(Math.abs(a), Math.abs(b));
    if (Math.abs(a - b) > tol) {
      throw new Error(`${what}[${i}]: simd ${a} vs scalar ${b} (|diff| ${Math.abs(a - b)} > ${tol})`);
    }
  }
}

/** Runs `body` with a list to register buffers in, and frees them all afterwards. */
function withBuffers<T>(b: Backend, body: (own: (buf: WasmBuffer) => WasmBuffer) => T): T {
  const bufs: WasmBuffer[] = [];
  const own = (buf: WasmBuffer): WasmBuffer => {
    bufs.push(buf);
    return buf;
  };
  try {
    return body(own);
  } finally {
    for (const buf of bufs) buf.dispose();
  }
}

function zerosBuf(b: Backend, own: (x: WasmBuffer) => WasmBuffer, n: number): WasmBuffer {
  const buf = own(b.alloc(n));
  buf.fill(0);
  return buf;
}

// ---------------------------------------------------------------------------------------------
// GRU

interface GruCase {
  seed: number;
  batch: number;
  time: number;
  input: number;
  units: number;
  resetAfter: boolean;
  goBackwards: boolean;
  useMask: boolean;
  useH0: boolean;
  useBias: boolean;
  training: boolean;
  /** Pass a y (B, T, H) output; otherwise only y_last / h_last. */
  sequences: boolean;
  activation: Activation;
  recurrentActivation: Activation;
  /** Which backward seeds are given: dy (needs `sequences`), dyLast, dhLast. */
  seedDy: boolean;
  seedDyLast: boolean;
  seedDhLast: boolean;
  /** Weight scale (kernel and recurrent kernel are U(-scale, scale)). */
  scale: number;
  /** Pass recurrent dropout masks (3, B, H) to forward and backward. */
  useRecMask?: boolean;
  /** ONNX cell clip (0 = none). */
  clip?: number;
}

function caseName(c: GruCase): string {
  const flags = [
    c.resetAfter ? 'resetAfter' : 'resetBefore',
    c.goBackwards && 'goBackwards',
    c.useMask && 'mask',
    c.useH0 && 'h0',
    !c.useBias && 'noBias',
    c.training ? 'train' : 'infer',
    c.sequences && 'seq',
    c.useRecMask && 'recDrop',
    c.clip && `clip=${c.clip}`,
    `${Activation[c.activation]}/${Activation[c.recurrentActivation]}`,
  ].filter(Boolean);
  return `B=${c.batch} T=${c.time} D=${c.input} H=${c.units} ${flags.join(' ')} (seed ${c.seed})`;
}

interface GruInputs {
  x: Float32Array;
  h0: Float32Array | null;
  mask: Uint8Array | null;
  kernel: Float32Array;
  recurrent: Float32Array;
  bias: Float32Array | null;
  dy: Float32Array | null;
  dyLast: Float32Array | null;
  dhLast: Float32Array | null;
  recMask: Float32Array | null;
}

function gruInputs(c: GruCase): GruInputs {
  const r = rng(c.seed);
  const { batch: B, time: T, input: D, units: H } = c;
  const G = 3 * H;
  let mask: Uint8Array | null = null;
  if (c.useMask) {
    mask = new Uint8Array(B * T);
    for (let i = 0; i < mask.length; i++) mask[i] = r() < 0.7 ? 1 + int(r, 0, 254) : 0;
    // One fully masked row when there are several (Keras: its output stays 0, its state h0).
    if (B > 2) mask.fill(0, B * T - T);
  }
  return {
    x: uniform(r, B * T * D, -1, 1),
    h0: c.useH0 ? uniform(r, B * H, -0.8, 0.8) : null,
    mask,
    kernel: uniform(r, D * G, -c.scale, c.scale),
    recurrent: uniform(r, H * G, -c.scale, c.scale),
    bias: c.useBias ? uniform(r, (c.resetAfter ? 2 : 1) * G, -0.3, 0.3) : null,
    dy: c.training && c.sequences && c.seedDy ? uniform(r, B * T * H, -1, 1) : null,
    dyLast: c.training && c.seedDyLast ? uniform(r, B * H, -1, 1) : null,
    dhLast: c.training && c.seedDhLast ? uniform(r, B * H, -1, 1) : null,
    recMask: c.useRecMask ? recMaskOf(c.seed, B, H) : null,
  };
}

/** Three (B, H) dropout masks at rate 0.4, scaled like Keras': 0 or 1/(1 − 0.4). Own stream. */
function recMaskOf(seed: number, B: number, H: number): Float32Array {
  const r = rng(seed ^ 0x0d2090d2);
  return Float32Array.from({ length: 3 * B * H }, () => (r() < 0.4 ? 0 : 1 / 0.6));
}

/** Runs pack, forward (with and without a training cache) and backward; returns every output. */
function runGru(b: Backend, c: GruCase, inp: GruInputs): Record<string, Float32Array> {
  const { batch: B, time: T, input: D, units: H } = c;
  const G = 3 * H;
  const e = b.exports;
  const flags = (c.resetAfter ? GruFlags.ResetAfter : 0) | (c.goBackwards ? GruFlags.GoBackwards : 0);
  return withBuffers(b, (own) => {
    const out: Record<string, Float32Array> = {};
    const kernel = own(b.fromArray(inp.kernel));
    const recurrent = own(b.fromArray(inp.recurrent));
    const bias = inp.bias ? own(b.fromArray(inp.bias)) : null;
    const packed = own(b.alloc(e.gru_packed_len(D, H, flags)));
    b.run('gru_pack', () => e.gru_pack(packed.ptr, kernel.ptr, recurrent.ptr, bias ? bias.ptr : 0, D, H, flags));
    out.packed = packed.toFloat32Array();

    const x = own(b.fromArray(inp.x));
    const h0 = inp.h0 ? own(b.fromArray(inp.h0)) : null;
    const mask = inp.mask ? own(b.fromArray(inp.mask)) : null;
    const recMask = inp.recMask ? own(b.fromArray(inp.recMask)) : null;
    const forward = (withCache: boolean): { y: WasmBuffer | null; yLast: WasmBuffer; hLast: WasmBuffer; cache: WasmBuffer | null } => {
      const y = c.sequences ? own(b.alloc(B * T * H)) : null;
      const yLast = own(b.alloc(B * H));
      const hLast = own(b.alloc(B * H));
      const cache = withCache ? own(b.alloc(e.gru_cache_len(B, T, H))) : null;
      b.run('gru_forward', () =>
        e.gru_forward(
          y ? y.ptr : 0,
          yLast.ptr,
          hLast.ptr,
          cache ? cache.ptr : 0,
          x.ptr,
          h0 ? h0.ptr : 0,
          mask ? mask.ptr : 0,
          recMask ? recMask.ptr : 0,
          packed.ptr,
          B,
          T,
          D,
          H,
          flags,
          c.activation,
          c.recurrentActivation,
          c.clip ?? 0,
        ),
      );
      return { y, yLast, hLast, cache };
    };

    const inference = forward(false);
    if (inference.y) out.y = inference.y.toFloat32Array();
    out.yLast = inference.yLast.toFloat32Array();
    out.hLast = inference.hLast.toFloat32Array();
    if (!c.training) return out;

    // The training path (cache kept) must compute exactly what the inference path does.
    const train = forward(true);
    if (train.y) expect(Array.from(train.y.toFloat32Array()), 'y with cache == y without').toEqual(Array.from(out.y));
    expect(Array.from(train.yLast.toFloat32Array()), 'yLast with cache == without').toEqual(Array.from(out.yLast));
    expect(Array.from(train.hLast.toFloat32Array()), 'hLast with cache == without').toEqual(Array.from(out.hLast));
    out.cache = train.cache!.toFloat32Array();

    const dx = zerosBuf(b, own, B * T * D);
    const dh0 = inp.h0 ? zerosBuf(b, own, B * H) : null;
    const dkernel = zerosBuf(b, own, D * G);
    const drecurrent = zerosBuf(b, own, H * G);
    const dbias = inp.bias ? zerosBuf(b, own, inp.bias.length) : null;
    const dy = inp.dy ? own(b.fromArray(inp.dy)) : null;
    const dyLast = inp.dyLast ? own(b.fromArray(inp.dyLast)) : null;
    const dhLast = inp.dhLast ? own(b.fromArray(inp.dhLast)) : null;
    b.run('gru_backward', () =>
      e.gru_backward(
        dx.ptr,
        dh0 ? dh0.ptr : 0,
        dkernel.ptr,
        drecurrent.ptr,
        dbias ? dbias.ptr : 0,
        dy ? dy.ptr : 0,
        dyLast ? dyLast.ptr : 0,
        dhLast ? dhLast.ptr : 0,
        train.cache!.ptr,
        x.ptr,
        mask ? mask.ptr : 0,
        recMask ? recMask.ptr : 0,
        kernel.ptr,
        recurrent.ptr,
        B,
        T,
        D,
        H,
        flags,
        c.activation,
        c.recurrentActivation,
        c.clip ?? 0,
      ),
    );
    out.dx = dx.toFloat32Array();
    if (dh0) out.dh0 = dh0.toFloat32Array();
    out.dkernel = dkernel.toFloat32Array();
    out.drecurrent = drecurrent.toFloat32Array();
    if (dbias) out.dbias = dbias.toFloat32Array();
    return out;
  });
}

function compareGru(simd: Backend, scalar: Backend, c: GruCase, atol = ATOL, rtol = RTOL): void {
  const inp = gruInputs(c);
  const a = runGru(simd, c, inp);
  const s = runGru(scalar, c, inp);
  expect(Object.keys(a).sort()).toEqual(Object.keys(s).sort());
  // The packed weights are copies and zero padding: bit-identical.
  expect(Array.from(a.packed), 'packed weights').toEqual(Array.from(s.packed));
  for (const k of Object.keys(a)) expectClose(`${caseName(c)}: ${k}`, a[k], s[k], atol, rtol);
  // The gradient must not be trivially zero (a kernel that skipped backward would pass above).
  if (c.training && (inp.dy || inp.dyLast || inp.dhLast)) {
    expect(a.dkernel.some((v) => v !== 0) || a.drecurrent.some((v) => v !== 0) || a.dx.some((v) => v !== 0), 'some gradient is nonzero').toBe(true);
  }
}

/** ~60 seeded combinations (15 with FAST_TEST). */
function gruCases(): GruCase[] {
  const r = rng(20240611);
  const n = FAST ? 15 : 60;
  const acts = [Activation.Tanh, Activation.Tanh, Activation.Tanh, Activation.Relu, Activation.Linear, Activation.Sigmoid];
  const recActs = [Activation.Sigmoid, Activation.Sigmoid, Activation.HardSigmoid, Activation.HardSigmoidKeras3];
  const cases: GruCase[] = [];
  for (let i = 0; i < n; i++) {
    // Cases 0 and 3 train with H = 1 and D = 1: the transposed GEMMs of the weight gradients
    // then see a (1, B·T) operand, a shape the edge logic must handle.
    const training = i === 0 || i === 3 || r() < 0.75;
    const sequences = r() < 0.6;
    const seedDy = sequences && r() < 0.8;
    let seedDyLast = r() < 0.6;
    const seedDhLast = r() < 0.5;
    if (!seedDy && !seedDyLast && !seedDhLast) seedDyLast = true;
    cases.push({
      seed: 1000 + i,
      batch: int(r, 1, 5),
      time: int(r, 1, 7),
      input: i === 3 ? 1 : int(r, 1, 17),
      // Units: bias towards sizes that are not multiples of 4 or 8 but cover 1 and 17.
      units: i === 0 ? 1 : i === 1 ? 17 : i === 2 ? 8 : int(r, 1, 17),
      resetAfter: i % 2 === 0,
      goBackwards: r() < 0.4,
      useMask: r() < 0.4,
      useH0: r() < 0.5,
      useBias: r() < 0.85,
      training,
      sequences,
      activation: acts[int(r, 0, acts.length - 1)],
      recurrentActivation: recActs[int(r, 0, recActs.length - 1)],
      seedDy,
      seedDyLast,
      seedDhLast,
      scale: 0.6,
      // Not from r: adding it left every other input of the existing cases unchanged.
      useRecMask: i % 3 === 1,
      clip: i % 5 === 2 ? 0.5 : 0,
    });
  }
  return cases;
}

let simd: Backend;
let scalar: Backend;

beforeAll(async () => {
  simd = await loadBackend({ backend: 'simd' });
  scalar = await loadBackend({ backend: 'scalar' });
});

// A kernel trap poisons its instance; reload so that one bug fails one test, not every later one.
afterEach(async () => {
  if (!usable(simd)) simd = await loadBackend({ backend: 'simd' });
  if (!usable(scalar)) scalar = await loadBackend({ backend: 'scalar' });
});

describe('the two builds are what they say', () => {
  it('simd_enabled is 1 in fastgru-simd.wasm and 0 in fastgru.wasm', () => {
    expect(simd.exports.simd_enabled()).toBe(1);
    expect(scalar.exports.simd_enabled()).toBe(0);
    expect(simd.kind).toBe('simd');
    expect(scalar.kind).toBe('scalar');
  });

  it('the two instances have separate memories', () => {
    expect(simd.memory).not.toBe(scalar.memory);
    const a = simd.alloc(4);
    const s = scalar.alloc(4);
    a.write([1, 2, 3, 4]);
    s.write([5, 6, 7, 8]);
    expect(Array.from(a.f32())).toEqual([1, 2, 3, 4]);
    a.dispose();
    s.dispose();
  });
});

describe('gru_pack + gru_forward + gru_backward: simd vs scalar on ragged sizes', () => {
  it.each(gruCases().map((c) => [caseName(c), c] as const))('%s', (_name, c) => {
    compareGru(simd, scalar, c);
  });

  it('covers both cell forms, goBackwards, masks, h0, no-cache inference, and H % 4 != 0', () => {
    const cs = gruCases();
    for (const pred of [
      (c: GruCase) => c.resetAfter,
      (c: GruCase) => !c.resetAfter,
      (c: GruCase) => c.goBackwards,
      (c: GruCase) => c.useMask,
      (c: GruCase) => c.useH0,
      (c: GruCase) => !c.training,
      (c: GruCase) => c.training && c.useMask && c.goBackwards,
      (c: GruCase) => c.units % 4 !== 0,
      (c: GruCase) => c.units === 1,
      (c: GruCase) => c.units > 8,
      (c: GruCase) => c.training && c.useRecMask && c.resetAfter && c.units % 8 !== 0,
      (c: GruCase) => c.training && c.useRecMask && !c.resetAfter && c.units % 8 !== 0,
      (c: GruCase) => c.training && (c.clip ?? 0) > 0 && c.units % 4 !== 0,
    ]) {
      expect(cs.some(pred), pred.toString()).toBe(true);
    }
  });
});

describe('GEMM-heavy GRU (D=64, H=128, B=32, T=8): simd vs scalar', () => {
  for (const resetAfter of [true, false]) {
    it(`${resetAfter ? 'reset-after' : 'reset-before'}, training, mask, h0`, () => {
      const c: GruCase = {
        seed: resetAfter ? 77 : 78,
        batch: 32,
        time: 8,
        input: 64,
        units: 128,
        resetAfter,
        goBackwards: !resetAfter,
        useMask: true,
        useH0: true,
        useBias: true,
        training: true,
        sequences: true,
        activation: Activation.Tanh,
        recurrentActivation: Activation.Sigmoid,
        seedDy: true,
        seedDyLast: true,
        seedDhLast: true,
        // Glorot-sized weights for these fans, so gates are not saturated.
        scale: 0.15,
      };
      // Sums over B·T = 256 terms: a looser absolute tolerance for the weight gradients.
      compareGru(simd, scalar, c, 1e-4, 1e-5);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Dense

function runDense(b: Backend, rows: number, input: number, units: number, act: Activation, useBias: boolean, seed: number): Record<string, Float32Array> {
  const r = rng(seed);
  const xs = uniform(r, rows * input, -1.5, 1.5);
  const ws = uniform(r, input * units, -0.7, 0.7);
  const bs = uniform(r, units, -0.3, 0.3);
  const dys = uniform(r, rows * units, -1, 1);
  const e = b.exports;
  return withBuffers(b, (own) => {
    const x = own(b.fromArray(xs));
    const w = own(b.fromArray(ws));
    const bias = useBias ? own(b.fromArray(bs)) : null;
    const y = own(b.alloc(rows * units));
    b.run('dense_forward', () => e.dense_forward(y.ptr, x.ptr, w.ptr, bias ? bias.ptr : 0, rows, input, units, act));
    const dy = own(b.fromArray(dys));
    const dx = zerosBuf(b, own, rows * input);
    const dw = zerosBuf(b, own, input * units);
    const db = useBias ? zerosBuf(b, own, units) : null;
    b.run('dense_backward', () => e.dense_backward(dx.ptr, dw.ptr, db ? db.ptr : 0, dy.ptr, y.ptr, x.ptr, w.ptr, rows, input, units, act));
    const out: Record<string, Float32Array> = { y: y.toFloat32Array(), dx: dx.toFloat32Array(), dw: dw.toFloat32Array() };
    if (db) out.db = db.toFloat32Array();
    return out;
  });
}

const ALL_ACTIVATIONS = [
  Activation.Linear,
  Activation.Tanh,
  Activation.Sigmoid,
  Activation.HardSigmoid,
  Activation.HardSigmoidKeras3,
  Activation.Relu,
  Activation.Softmax,
];

describe('dense_forward + dense_backward: simd vs scalar for each activation', () => {
  const sizes: [number, number, number][] = [
    [1, 1, 1],
    [3, 5, 7],
    [4, 8, 8],
    [9, 17, 13],
    [2, 3, 17],
    [33, 16, 9],
  ];
  for (const act of ALL_ACTIVATIONS) {
    it(`${Activation[act]} (id ${act})`, () => {
      sizes.forEach(([n, i, o], k) => {
        const useBias = k % 3 !== 1;
        const a = runDense(simd, n, i, o, act, useBias, 500 + 31 * act + k);
        const s = runDense(scalar, n, i, o, act, useBias, 500 + 31 * act + k);
        for (const name of Object.keys(a)) expectClose(`${Activation[act]} N=${n} I=${i} O=${o} ${name}`, a[name], s[name]);
        if (act === Activation.Softmax) {
          for (let row = 0; row < n; row++) {
            const sum = a.y.subarray(row * o, (row + 1) * o).reduce((p, q) => p + q, 0);
            expect(sum).toBeCloseTo(1, 5);
          }
        }
      });
    });
  }
});

describe('a weight gradient whose Xᵀ has one row (input or units = 1) does not trap', () => {
  // dW = Xᵀ·dpre: with one input feature Xᵀ is a (1, N) view whose elements are contiguous, which
  // gemm() takes for row-major and hands to gemm_packed with lda = 1 < k.
  for (const act of [Activation.Linear, Activation.Tanh]) {
    it(`dense_backward with input = 1 and 5 rows (${Activation[act]})`, () => {
      const a = runDense(simd, 5, 1, 3, act, true, 4242);
      const s = runDense(scalar, 5, 1, 3, act, true, 4242);
      for (const name of Object.keys(a)) expectClose(`N=5 I=1 O=3 ${name}`, a[name], s[name]);
    });
  }
  const base: Omit<GruCase, 'input' | 'units' | 'resetAfter' | 'seed'> = {
    batch: 2,
    time: 3,
    goBackwards: false,
    useMask: false,
    useH0: false,
    useBias: true,
    training: true,
    sequences: false,
    activation: Activation.Tanh,
    recurrentActivation: Activation.Sigmoid,
    seedDy: false,
    seedDyLast: true,
    seedDhLast: false,
    scale: 0.6,
  };
  for (const resetAfter of [true, false]) {
    it(`gru_backward with D = 1 (${resetAfter ? 'reset-after' : 'reset-before'})`, () => {
      compareGru(simd, scalar, { ...base, seed: 31, input: 1, units: 5, resetAfter });
    });
    it(`gru_backward with H = 1 (${resetAfter ? 'reset-after' : 'reset-before'})`, () => {
      compareGru(simd, scalar, { ...base, seed: 32, input: 4, units: 1, resetAfter });
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Losses

const LOSS_KINDS = ALL_LOSS_KINDS;

function lossInputs(kind: LossKind, rows: number, cols: number, seed: number): { pred: Float32Array; target: Float32Array | Int32Array } {
  const r = rng(seed);
  const sparse = kind === LossKind.SparseCategoricalCrossentropy || kind === LossKind.SparseCategoricalCrossentropyLogits;
  const logits = kind === LossKind.BinaryCrossentropyLogits || kind === LossKind.CategoricalCrossentropyLogits || kind === LossKind.SparseCategoricalCrossentropyLogits;
  let pred: Float32Array;
  if (logits || kind === LossKind.MeanSquaredError || kind === LossKind.MeanAbsoluteError || kind === LossKind.Huber || kind === LossKind.LogCosh) {
    pred = uniform(r, rows * cols, -3, 3);
  } else if (kind === LossKind.BinaryCrossentropy) {
    pred = uniform(r, rows * cols, 0.02, 0.98);
  } else {
    // Probabilities per row (softmax outputs).
    pred = uniform(r, rows * cols, 0.05, 1);
    for (let i = 0; i < rows; i++) {
      const row = pred.subarray(i * cols, (i + 1) * cols);
      const s = row.reduce((a, b) => a + b, 0);
      row.forEach((v, j) => (row[j] = v / s));
    }
  }
  let target: Float32Array | Int32Array;
  if (sparse) {
    target = Int32Array.from({ length: rows }, () => int(r, 0, cols - 1));
  } else if (kind === LossKind.CategoricalCrossentropy || kind === LossKind.CategoricalCrossentropyLogits) {
    target = new Float32Array(rows * cols);
    for (let i = 0; i < rows; i++) target[i * cols + int(r, 0, cols - 1)] = 1;
  } else if (kind === LossKind.BinaryCrossentropy || kind === LossKind.BinaryCrossentropyLogits) {
    target = uniform(r, rows * cols, 0, 1).map((v) => (v < 0.5 ? 0 : 1));
  } else {
    target = uniform(r, rows * cols, -2, 2);
  }
  return { pred, target };
}

/** Kinds that take label smoothing (loss.rs `LossKind::smooths`). */
const SMOOTHS = [LossKind.BinaryCrossentropy, LossKind.BinaryCrossentropyLogits, LossKind.CategoricalCrossentropy, LossKind.CategoricalCrossentropyLogits];

/** `options`: per-row weights (some zero), per-row losses, δ = 0.7 for Huber, smoothing 0.2. */
function runLoss(b: Backend, kind: LossKind, rows: number, cols: number, seed: number, withGrad: boolean, options = false): { loss: number; dpred: Float32Array | null; rowLoss: Float32Array | null } {
  const { pred, target } = lossInputs(kind, rows, cols, seed);
  const weights = uniform(rng(seed + 1), rows, -0.5, 2).map((v) => Math.max(v, 0));
  const e = b.exports;
  return withBuffers(b, (own) => {
    const out = own(b.alloc(1));
    const dpred = withGrad ? own(b.alloc(rows * cols)) : null;
    const rowLoss = options ? own(b.alloc(rows)) : null;
    const p = own(b.fromArray(pred));
    const t = own(b.fromArray(target));
    const w = options ? own(b.fromArray(weights)) : null;
    const delta = options && kind === LossKind.Huber ? 0.7 : 1;
    const smoothing = options && SMOOTHS.includes(kind) ? 0.2 : 0;
    b.run('loss', () => e.loss_forward_backward(out.ptr, dpred ? dpred.ptr : 0, rowLoss ? rowLoss.ptr : 0, p.ptr, t.ptr, w ? w.ptr : 0, rows, cols, kind, delta, smoothing));
    return { loss: out.f32()[0], dpred: dpred ? dpred.toFloat32Array() : null, rowLoss: rowLoss ? rowLoss.toFloat32Array() : null };
  });
}

describe('loss_forward_backward: simd vs scalar for each loss kind', () => {
  const sizes: [number, number][] = [
    [1, 1],
    [1, 2],
    [3, 5],
    [8, 4],
    [7, 17],
    [2, 33],
  ];
  for (const kind of LOSS_KINDS) {
    it(`${LossKind[kind]} (id ${kind})`, () => {
      sizes.forEach(([n, c], k) => {
        if (c === 1 && (kind === LossKind.CategoricalCrossentropy || kind === LossKind.SparseCategoricalCrossentropy)) return;
        const a = runLoss(simd, kind, n, c, 900 + 17 * kind + k, true);
        const s = runLoss(scalar, kind, n, c, 900 + 17 * kind + k, true);
        const what = `${LossKind[kind]} N=${n} C=${c}`;
        expect(Number.isFinite(a.loss), `${what}: loss finite`).toBe(true);
        expectClose(`${what}: loss`, new Float32Array([a.loss]), new Float32Array([s.loss]));
        expectClose(`${what}: dpred`, a.dpred!, s.dpred!);
        // Without a dpred buffer the loss is the same (scratch path).
        const noGrad = runLoss(simd, kind, n, c, 900 + 17 * kind + k, false);
        expect(noGrad.loss, `${what}: loss without dpred`).toBe(a.loss);
        // With weights, per-row losses and the kind's hyper-parameter.
        const ao = runLoss(simd, kind, n, c, 900 + 17 * kind + k, true, true);
        const so = runLoss(scalar, kind, n, c, 900 + 17 * kind + k, true, true);
        expectClose(`${what} (options): loss`, new Float32Array([ao.loss]), new Float32Array([so.loss]));
        expectClose(`${what} (options): dpred`, ao.dpred!, so.dpred!);
        expectClose(`${what} (options): row_loss`, ao.rowLoss!, so.rowLoss!);
      });
    });
  }
});
