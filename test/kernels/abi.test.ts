/**
 * STYLE rules 8 and 10: the boundary between `crate/src/abi.rs` and `ts/src/wasm/*.ts`.
 *
 * Each boundary constant is defined once per side ("must match X"); this file checks both ways:
 *   1. by reading the Rust sources and comparing names and values with the TS enums, and
 *   2. by behaviour: each Status is provoked from a real kernel call, each Activation / LossKind /
 *      GruFlags id is run and compared with a float64 JS reference of what its name says
 *      (GRU equations: GRU-CONVENTIONS.md §1, Keras layout §2; loss definitions: Keras 3).
 * Also: error messages name the argument, the allocator's bookkeeping, and the loader's choices.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadBackend, simdSupported as loaderSimdSupported, WASM_FILES } from '../../ts/src/wasm/loader.ts';
import type { Backend, WasmBuffer } from '../../ts/src/wasm/memory.ts';
import { usable } from '../util/backends.ts';
import { Activation, Distribution, GruFlags, HYPER_COUNT, Hyper, LossKind, OptimizerKind, ParamFlags, RECORD_WORDS } from '../../ts/src/wasm/abi.ts';
import {
  ABI_VERSION,
  DisposedError,
  FastGruError,
  IndexError,
  NonFiniteError,
  OutOfMemoryError,
  Status,
  ValueError,
  getBackend,
  init,
  simdSupported,
} from '../../ts/src/index.ts';

const src = (path: string): string => readFileSync(fileURLToPath(new URL(`../../${path}`, import.meta.url)), 'utf8');

/** `Name = 3,` entries of a Rust `enum Name { ... }`. */
function rustEnum(text: string, name: string): Record<string, number> {
  const m = new RegExp(`pub enum ${name}\\s*\\{([\\s\\S]*?)\\n\\}`).exec(text);
  if (!m) throw new Error(`enum ${name} not found`);
  const out: Record<string, number> = {};
  for (const e of m[1].matchAll(/^\s*(\w+)\s*=\s*(-?\d+)\s*,/gm)) out[e[1]] = Number(e[2]);
  return out;
}

/** The numeric members of a TS enum object. */
function tsEnum(e: Record<string, string | number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(e)) if (typeof v === 'number') out[k] = v;
  return out;
}

function lastError(b: Backend): string {
  const e = b.exports;
  return new TextDecoder().decode(new Uint8Array(e.memory.buffer, e.last_error_ptr(), e.last_error_len()).slice());
}

let backends: Record<'simd' | 'scalar', Backend>;

beforeAll(async () => {
  backends = { simd: await loadBackend({ backend: 'simd' }), scalar: await loadBackend({ backend: 'scalar' }) };
});

afterEach(async () => {
  for (const k of ['simd', 'scalar'] as const) if (!usable(backends[k])) backends[k] = await loadBackend({ backend: k });
});

const BUILDS = ['simd', 'scalar'] as const;

// ---------------------------------------------------------------------------------------------

describe('constants: the Rust and TS definitions agree (read from the sources)', () => {
  it('ABI_VERSION (abi.rs) == ABI_VERSION (abi.ts) == abi_version() of both builds', () => {
    const m = /pub const ABI_VERSION: u32 = (\d+);/.exec(src('crate/src/abi.rs'));
    expect(m).not.toBeNull();
    expect(ABI_VERSION).toBe(Number(m![1]));
    for (const k of BUILDS) expect(backends[k].exports.abi_version()).toBe(ABI_VERSION);
  });

  it('Status (status.rs) == Status (errors.ts)', () => {
    const rust = rustEnum(src('crate/src/status.rs'), 'Status');
    expect(Object.keys(rust).length).toBe(7);
    expect(tsEnum(Status as unknown as Record<string, number>)).toEqual(rust);
  });

  it('Activation (activations.rs) == Activation (abi.ts)', () => {
    const rust = rustEnum(src('crate/src/kernels/activations.rs'), 'Activation');
    expect(Object.keys(rust).length).toBe(7);
    expect(tsEnum(Activation as unknown as Record<string, number>)).toEqual(rust);
  });

  it('LossKind (loss.rs) == LossKind (abi.ts)', () => {
    const rust = rustEnum(src('crate/src/kernels/loss.rs'), 'LossKind');
    expect(Object.keys(rust).length).toBe(10);
    expect(tsEnum(LossKind as unknown as Record<string, number>)).toEqual(rust);
  });

  it('GRU flag bits (abi.rs) == GruFlags (abi.ts)', () => {
    const text = src('crate/src/abi.rs');
    const bit = (name: string): number => Number(new RegExp(`pub const ${name}: u32 = (\\d+);`).exec(text)![1]);
    expect(GruFlags).toEqual({ ResetAfter: bit('GRU_RESET_AFTER'), GoBackwards: bit('GRU_GO_BACKWARDS') });
  });

  it('init_random distribution ids (abi.rs) == Distribution (abi.ts)', () => {
    const text = src('crate/src/abi.rs');
    const rust: Record<string, number> = {};
    for (const m of text.matchAll(/(\d+) => Distribution::(\w+),/g)) rust[m[2]] = Number(m[1]);
    expect(Object.keys(rust).length).toBe(3);
    expect(tsEnum(Distribution as unknown as Record<string, number>)).toEqual(rust);
  });

  it('gemm_block(0) = MR = 4 and gemm_block(1) = NR = 8 (kernels/mod.rs) in both builds', () => {
    const text = src('crate/src/kernels/mod.rs');
    const mr = Number(/pub const MR: usize = (\d+);/.exec(text)![1]);
    const nr = Number(/pub const NR: usize = (\d+);/.exec(text)![1]);
    expect([mr, nr]).toEqual([4, 8]);
    for (const k of BUILDS) {
      expect(backends[k].exports.gemm_block(0)).toBe(4);
      expect(backends[k].exports.gemm_block(1)).toBe(8);
    }
  });

  it('OptimizerKind, Hyper, HYPER_COUNT, ParamFlags, RECORD_WORDS (abi.rs) == abi.ts', () => {
    const text = src('crate/src/abi.rs');
    const kinds = rustEnum(text, 'OptimizerKind');
    expect(Object.keys(kinds).length).toBe(8);
    expect(tsEnum(OptimizerKind as unknown as Record<string, number>)).toEqual(kinds);
    const hyper = rustEnum(text, 'Hyper');
    expect(tsEnum(Hyper as unknown as Record<string, number>)).toEqual(hyper);
    const konst = (name: string): number => Number(new RegExp(`pub const ${name}: \\w+ = (\\d+);`).exec(text)![1]);
    expect(HYPER_COUNT).toBe(konst('HYPER_COUNT'));
    expect(Object.keys(hyper).length).toBe(HYPER_COUNT);
    expect(Object.values(hyper).sort((a, b) => a - b)).toEqual(Array.from({ length: HYPER_COUNT }, (_, i) => i));
    expect(ParamFlags).toEqual({ WeightDecay: konst('PARAM_WEIGHT_DECAY') });
    expect(RECORD_WORDS).toBe(konst('RECORD_WORDS'));
  });

  it('optimizer ids and hyper-parameter indices mean what they say (optimizer_apply, both builds)', () => {
    // SGD with momentum 0.5, lr 0.1 on p = 1, g = 1, two steps: m = −0.1, p = 0.9; m = −0.15, p = 0.75.
    // A momentum read from another index, or another kind, gives other numbers.
    for (const k of BUILDS) {
      const b = backends[k];
      const e = b.exports;
      const run = (kind: OptimizerKind, set: Partial<Record<Hyper, number>>, steps: number, init = 0): { p: number; norm: number; state: number[] } => {
        const p = b.fromArray(new Float32Array([1]));
        const g = b.fromArray(new Float32Array([1]));
        const f64 = b.alloc(2 * (HYPER_COUNT + 2));
        const hv = new Float64Array(b.memory.buffer, f64.ptr, HYPER_COUNT + 2);
        hv.fill(0);
        for (const [i, v] of Object.entries(set)) hv[Number(i)] = v as number;
        hv[HYPER_COUNT + 1] = 1;
        const len = e.optimizer_state_len(kind, f64.ptr, 1);
        const st = b.alloc(Math.max(1, len));
        st.fill(init);
        const table = b.alloc(RECORD_WORDS, 'int32');
        new Uint32Array(b.memory.buffer, table.ptr, RECORD_WORDS).set([p.ptr, g.ptr, 1, ParamFlags.WeightDecay]);
        for (let t = 1; t <= steps; t++) {
          b.run('optimizer_apply', () => e.optimizer_apply(f64.ptr + 8 * HYPER_COUNT, kind === OptimizerKind.Nadam ? f64.ptr + 8 * (HYPER_COUNT + 1) : 0, len ? st.ptr : 0, table.ptr, f64.ptr, 1, len, t, kind));
        }
        const out = { p: p.f32()[0], norm: new Float64Array(b.memory.buffer, f64.ptr, HYPER_COUNT + 2)[HYPER_COUNT], state: Array.from(st.f32().slice(0, len)) };
        [p, g, f64, st, table].forEach((x) => x.dispose());
        return out;
      };
      const sgd = run(OptimizerKind.Sgd, { [Hyper.LearningRate]: 0.1, [Hyper.Momentum]: 0.5 }, 2);
      expect(sgd.p).toBeCloseTo(0.75, 6);
      expect(sgd.state).toEqual([Math.fround(-0.15)]);
      expect(sgd.norm).toBe(1);
      // Nesterov: p += m·μ − lr·g: 1 + (−0.05 − 0.1) = 0.85.
      expect(run(OptimizerKind.Sgd, { [Hyper.LearningRate]: 0.1, [Hyper.Momentum]: 0.5, [Hyper.Nesterov]: 1 }, 1).p).toBeCloseTo(0.85, 6);
      // Weight decay: p − p·wd·lr − lr·g = 1 − 0.05 − 0.1.
      expect(run(OptimizerKind.Sgd, { [Hyper.LearningRate]: 0.1, [Hyper.WeightDecay]: 0.5 }, 1).p).toBeCloseTo(0.85, 6);
      // Clips: value 0.25 → g = 0.25; norm / global norm 0.5 → g = 0.5.
      expect(run(OptimizerKind.Sgd, { [Hyper.LearningRate]: 1, [Hyper.Clipvalue]: 0.25 }, 1).p).toBeCloseTo(0.75, 6);
      expect(run(OptimizerKind.Sgd, { [Hyper.LearningRate]: 1, [Hyper.Clipnorm]: 0.5 }, 1).p).toBeCloseTo(0.5, 6);
      expect(run(OptimizerKind.Sgd, { [Hyper.LearningRate]: 1, [Hyper.GlobalClipnorm]: 0.5 }, 1).p).toBeCloseTo(0.5, 6);
      // RMSprop, rho 0.5, eps 0: v = 0.5, p = 1 − 0.1/√0.5; centered: a = 0.5, d = 0.25 → 1 − 0.1/0.5.
      expect(run(OptimizerKind.Rmsprop, { [Hyper.LearningRate]: 0.1, [Hyper.Rho]: 0.5 }, 1).p).toBeCloseTo(1 - 0.1 / Math.sqrt(0.5), 6);
      expect(run(OptimizerKind.Rmsprop, { [Hyper.LearningRate]: 0.1, [Hyper.Rho]: 0.5, [Hyper.Centered]: 1 }, 1).p).toBeCloseTo(0.8, 6);
      // Adam / AdamW / Adamax first step with g = 1 moves by lr (eps 0); AdamW also decays.
      const adamHp = { [Hyper.LearningRate]: 0.1, [Hyper.Beta1]: 0.9, [Hyper.Beta2]: 0.999 };
      expect(run(OptimizerKind.Adam, adamHp, 1).p).toBeCloseTo(0.9, 6);
      expect(run(OptimizerKind.Adam, { ...adamHp, [Hyper.Amsgrad]: 1 }, 1).state.length).toBe(3);
      expect(run(OptimizerKind.AdamW, { ...adamHp, [Hyper.WeightDecay]: 0.5 }, 1).p).toBeCloseTo(0.85, 6);
      expect(run(OptimizerKind.Adamax, adamHp, 1).p).toBeCloseTo(0.9, 6);
      // Nadam's m̂ has two terms: u₂·m/(1 − u₁u₂) + (1 − u₁)·g/(1 − u₁), u_t = 0.9(1 − 0.5·0.96ᵗ), m = 0.1.
      const [u1, u2] = [0.9 * (1 - 0.5 * 0.96), 0.9 * (1 - 0.5 * 0.96 ** 2)];
      expect(run(OptimizerKind.Nadam, adamHp, 1).p).toBeCloseTo(1 - 0.1 * ((u2 * 0.1) / (1 - u1 * u2) + 1), 6);
      // Adagrad: acc = 0.1 + 1 (accumulators filled by the caller), p = 1 − 0.1/√1.1.
      expect(run(OptimizerKind.Adagrad, { [Hyper.LearningRate]: 0.1 }, 1, 0.1).p).toBeCloseTo(1 - 0.1 / Math.sqrt(1.1), 6);
      // Adadelta, rho 0.5, eps 1e-6: Δ = −√1e-6/√0.5 · 1.
      expect(run(OptimizerKind.Adadelta, { [Hyper.LearningRate]: 1, [Hyper.Rho]: 0.5, [Hyper.Epsilon]: 1e-6 }, 1).p).toBeCloseTo(1 - 1e-3 / Math.sqrt(0.5 + 1e-6), 6);
      // Two clip options, an unknown kind, a non-finite hyper-parameter: refused, naming them.
      expect(() => run(OptimizerKind.Sgd, { [Hyper.Clipnorm]: 1, [Hyper.Clipvalue]: 1 }, 1)).toThrow(/only one of clipnorm, globalClipnorm and clipvalue/);
      expect(() => run(8 as OptimizerKind, {}, 1)).toThrow(/unknown optimizer kind 8/);
      expect(() => run(OptimizerKind.Sgd, { [Hyper.LearningRate]: NaN }, 1)).toThrow(/hyper-parameter 0 is NaN/);
      expect(() => run(OptimizerKind.Sgd, { [Hyper.LearningRate]: 0.1 }, 0)).not.toThrow();
    }
  });

  it('simd_enabled() is 1 in the SIMD build and 0 in the scalar one', () => {
    expect(backends.simd.exports.simd_enabled()).toBe(1);
    expect(backends.scalar.exports.simd_enabled()).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Provoking each status. `call` returns the raw status; the detail is read right after.

interface Provoked {
  status: number;
  message: string;
}

/** A tiny harness: allocate, call, read the status and message, free. */
function provoke(b: Backend, body: (alloc: (data: Float32Array | Int32Array | Uint8Array | number, dtype?: 'float32' | 'int32' | 'uint8') => WasmBuffer) => number): Provoked {
  const bufs: WasmBuffer[] = [];
  const alloc = (data: Float32Array | Int32Array | Uint8Array | number, dtype: 'float32' | 'int32' | 'uint8' = 'float32'): WasmBuffer => {
    const buf = typeof data === 'number' ? b.alloc(data, dtype) : b.fromArray(data);
    if (typeof data === 'number') buf.fill(0);
    bufs.push(buf);
    return buf;
  };
  try {
    const status = body(alloc);
    return { status, message: lastError(b) };
  } finally {
    for (const buf of bufs) buf.dispose();
  }
}

const ones = (n: number): Float32Array => new Float32Array(n).fill(0.5);

/** A GRU forward with B=2, T=3, D=4, H=5 whose x can be replaced. */
function gruForward(b: Backend, alloc: (d: Float32Array | Uint8Array | number, t?: 'float32' | 'uint8') => WasmBuffer, opts: { x?: Float32Array; flags?: number; act?: number; recAct?: number; mask?: Uint8Array; recMask?: Float32Array; clip?: number } = {}): number {
  const [B, T, D, H] = [2, 3, 4, 5];
  const e = b.exports;
  const flags = opts.flags ?? GruFlags.ResetAfter;
  const packed = alloc(Math.max(1, e.gru_packed_len(D, H, GruFlags.ResetAfter)));
  const st = e.gru_pack(packed.ptr, alloc(ones(D * 3 * H)).ptr, alloc(ones(H * 3 * H)).ptr, 0, D, H, GruFlags.ResetAfter);
  expect(st).toBe(Status.Ok);
  const x = alloc(opts.x ?? ones(B * T * D));
  const mask = opts.mask ? alloc(opts.mask) : null;
  const recMask = opts.recMask ? alloc(opts.recMask) : null;
  return e.gru_forward(0, alloc(B * H).ptr, alloc(B * H).ptr, 0, x.ptr, 0, mask ? mask.ptr : 0, recMask ? recMask.ptr : 0, packed.ptr, B, T, D, H, flags, opts.act ?? Activation.Tanh, opts.recAct ?? Activation.Sigmoid, opts.clip ?? 0);
}

describe('Status values, provoked from the kernels, and messages that name the argument', () => {
  for (const k of BUILDS) {
    describe(k, () => {
      it('Ok = 0 for a good call, and the previous error detail is cleared', () => {
        const b = backends[k];
        const bad = provoke(b, (alloc) => b.exports.dense_forward(alloc(4).ptr, alloc(ones(4)).ptr, alloc(ones(4)).ptr, 0, 2, 2, 2, 99));
        expect(bad.status).not.toBe(0);
        const good = provoke(b, (alloc) => b.exports.dense_forward(alloc(4).ptr, alloc(ones(4)).ptr, alloc(ones(4)).ptr, 0, 2, 2, 2, Activation.Linear));
        expect(good).toEqual({ status: Status.Ok, message: '' });
      });

      it('InvalidArgument: an unknown activation id, naming the argument and the id', () => {
        const b = backends[k];
        const r = provoke(b, (alloc) => b.exports.dense_forward(alloc(4).ptr, alloc(ones(4)).ptr, alloc(ones(4)).ptr, 0, 2, 2, 2, 99));
        expect(r.status).toBe(Status.InvalidArgument);
        expect(r.status).toBe(1);
        expect(r.message).toMatch(/dense activation: unknown activation id 99 \(expected 0..=6\)/);
      });

      it('InvalidArgument: a size of 0, an unknown loss id, overlapping output and input', () => {
        const b = backends[k];
        const zero = provoke(b, (alloc) => b.exports.dense_forward(alloc(4).ptr, alloc(ones(4)).ptr, alloc(ones(4)).ptr, 0, 0, 2, 2, 0));
        expect(zero.status).toBe(Status.InvalidArgument);
        expect(zero.message).toMatch(/every size must be at least 1/);
        const loss = provoke(b, (alloc) => b.exports.loss_forward_backward(alloc(1).ptr, 0, 0, alloc(ones(4)).ptr, alloc(ones(4)).ptr, 0, 2, 2, 42, 1, 0));
        expect(loss.status).toBe(Status.InvalidArgument);
        expect(loss.message).toMatch(/unknown loss id 42/);
        const overlap = provoke(b, (alloc) => {
          const shared = alloc(ones(8));
          return b.exports.dense_forward(shared.ptr, shared.ptr + 4, alloc(ones(4)).ptr, 0, 2, 2, 2, 0);
        });
        expect(overlap.status).toBe(Status.InvalidArgument);
        expect(overlap.message).toMatch(/x and y overlap|y and x overlap/);
      });

      it('ShapeMismatch: a buffer smaller than its shape, naming the argument and the byte counts', () => {
        const b = backends[k];
        // x (N=3, I=4) needs 48 bytes; give it 11 floats (44 bytes).
        const r = provoke(b, (alloc) => b.exports.dense_forward(alloc(15).ptr, alloc(ones(11)).ptr, alloc(ones(20)).ptr, 0, 3, 4, 5, 0));
        expect(r.status).toBe(Status.ShapeMismatch);
        expect(r.status).toBe(2);
        expect(r.message).toMatch(/^x: needs 48 bytes from offset 0 but its buffer has 44 left/);
        // The same for a GRU cache one float short.
        const c = provoke(b, (alloc) => {
          const e = b.exports;
          const [B, T, D, H] = [2, 3, 4, 5];
          const packed = alloc(e.gru_packed_len(D, H, 1));
          e.gru_pack(packed.ptr, alloc(ones(D * 3 * H)).ptr, alloc(ones(H * 3 * H)).ptr, 0, D, H, 1);
          const cache = alloc(e.gru_cache_len(B, T, H) - 1);
          return e.gru_forward(0, alloc(B * H).ptr, alloc(B * H).ptr, cache.ptr, alloc(ones(B * T * D)).ptr, 0, 0, 0, packed.ptr, B, T, D, H, 1, 1, 2, 0);
        });
        expect(c.status).toBe(Status.ShapeMismatch);
        expect(c.message).toMatch(/^cache: needs \d+ bytes/);
      });

      it('NonFinite: a NaN in x, naming x, the value and its flat index', () => {
        const b = backends[k];
        const x = ones(2 * 3 * 4);
        x[7] = NaN;
        const r = provoke(b, (alloc) => gruForward(b, alloc, { x }));
        expect(r.status).toBe(Status.NonFinite);
        expect(r.status).toBe(3);
        expect(r.message).toMatch(/^x has a non-finite value \(NaN\) at flat index 7/);
        x[7] = 0.5;
        x[23] = -Infinity;
        const r2 = provoke(b, (alloc) => gruForward(b, alloc, { x }));
        expect(r2.status).toBe(Status.NonFinite);
        expect(r2.message).toMatch(/^x has a non-finite value \(-inf\) at flat index 23/);
      });

      it('recurrentDropoutMask: (3, B, H) floats or 0; a short or non-finite one is refused by name', () => {
        const b = backends[k];
        const n = 3 * 2 * 5; // 3 gates × B=2 × H=5
        expect(provoke(b, (alloc) => gruForward(b, alloc, { recMask: new Float32Array(n).fill(1 / 0.7) })).status).toBe(Status.Ok);
        const short = provoke(b, (alloc) => gruForward(b, alloc, { recMask: new Float32Array(n - 1).fill(1) }));
        expect(short.status).toBe(Status.ShapeMismatch);
        expect(short.message).toMatch(/^recurrentDropoutMask: needs 120 bytes/);
        const nan = new Float32Array(n).fill(1);
        nan[11] = NaN;
        const bad = provoke(b, (alloc) => gruForward(b, alloc, { recMask: nan }));
        expect(bad.status).toBe(Status.NonFinite);
        expect(bad.message).toMatch(/^recurrentDropoutMask has a non-finite value \(NaN\) at flat index 11/);
      });

      it('NonFinite: a non-finite weight is refused by gru_pack, naming the weight', () => {
        const b = backends[k];
        const r = provoke(b, (alloc) => {
          const u = ones(5 * 15);
          u[3] = Infinity;
          return b.exports.gru_pack(alloc(b.exports.gru_packed_len(4, 5, 1)).ptr, alloc(ones(4 * 15)).ptr, alloc(u).ptr, 0, 4, 5, 1);
        });
        expect(r.status).toBe(Status.NonFinite);
        expect(r.message).toMatch(/^recurrentKernel has a non-finite value \(inf\) at flat index 3/);
      });

      it('IndexOutOfRange: a sparse label equal to the class count, naming the label and its row', () => {
        const b = backends[k];
        const r = provoke(b, (alloc) =>
          b.exports.loss_forward_backward(alloc(1).ptr, alloc(6).ptr, 0, alloc(ones(6)).ptr, alloc(new Int32Array([0, 3])).ptr, 0, 2, 3, LossKind.SparseCategoricalCrossentropyLogits, 1, 0),
        );
        expect(r.status).toBe(Status.IndexOutOfRange);
        expect(r.status).toBe(5);
        expect(r.message).toMatch(/label 3 at row 1 is outside \[0, 3\)/);
        const neg = provoke(b, (alloc) =>
          b.exports.loss_forward_backward(alloc(1).ptr, 0, 0, alloc(ones(6)).ptr, alloc(new Int32Array([-1, 0])).ptr, 0, 2, 3, LossKind.SparseCategoricalCrossentropy, 1, 0),
        );
        expect(neg.status).toBe(Status.IndexOutOfRange);
        expect(neg.message).toMatch(/label -1 at row 0/);
      });

      it('BadPointer: free twice, free of a pointer not from alloc, a freed buffer passed to a kernel', () => {
        const b = backends[k];
        const e = b.exports;
        const p = e.alloc(64);
        expect(p).not.toBe(0);
        expect(p % 16).toBe(0);
        expect(e.free(p)).toBe(Status.Ok);
        expect(e.free(p)).toBe(Status.BadPointer);
        expect(Status.BadPointer).toBe(6);
        expect(lastError(b)).toMatch(new RegExp(`^free: ${p} is not a live allocation \\(freed twice, or not from alloc\\)`));
        const q = e.alloc(64);
        expect(e.free(q + 16)).toBe(Status.BadPointer);
        expect(e.free(12345)).toBe(Status.BadPointer);
        expect(e.free(q)).toBe(Status.Ok);
        const r = provoke(b, (alloc) => {
          // y and the kernel first: a later alloc could reuse x's freed address.
          const y = alloc(4);
          const w = alloc(ones(4));
          const x = alloc(ones(4));
          const ptr = x.ptr;
          x.dispose();
          return e.dense_forward(y.ptr, ptr, w.ptr, 0, 2, 2, 2, 0);
        });
        expect(r.status).toBe(Status.BadPointer);
        expect(r.message).toMatch(/^x: pointer \d+ is not inside a live allocation/);
      });

      it('BadPointer: a null required pointer and a misaligned f32 pointer, naming the argument', () => {
        const b = backends[k];
        const e = b.exports;
        const nul = provoke(b, (alloc) => e.dense_forward(alloc(4).ptr, alloc(ones(4)).ptr, 0, 0, 2, 2, 2, 0));
        expect(nul.status).toBe(Status.BadPointer);
        expect(nul.message).toMatch(/^kernel: null pointer/);
        const mis = provoke(b, (alloc) => e.dense_forward(alloc(4).ptr, alloc(ones(5)).ptr + 2, alloc(ones(4)).ptr, 0, 2, 2, 2, 0));
        expect(mis.status).toBe(Status.BadPointer);
        expect(mis.message).toMatch(/^x: pointer \d+ is not 4-byte aligned/);
      });

      it('NonFinite from dense_forward names the input that holds it (x, kernel, bias), else the overflow', () => {
        // dense_forward checks its (N, O) product, not each input up front, and names the culprit
        // only when the product is non-finite: the messages must be the same as an up-front check's.
        const b = backends[k];
        const e = b.exports;
        const withBad = (n: number, at: number, v: number) => {
          const a = ones(n);
          a[at] = v;
          return a;
        };
        const cases: [string, (alloc: (d: Float32Array | number) => WasmBuffer) => number, RegExp][] = [
          ['x', (alloc) => e.dense_forward(alloc(6).ptr, alloc(withBad(4, 3, NaN)).ptr, alloc(ones(6)).ptr, alloc(ones(3)).ptr, 2, 2, 3, Activation.Relu), /^x has a non-finite value \(NaN\) at flat index 3/],
          ['kernel', (alloc) => e.dense_forward(alloc(6).ptr, alloc(ones(4)).ptr, alloc(withBad(6, 5, -Infinity)).ptr, alloc(ones(3)).ptr, 2, 2, 3, Activation.Sigmoid), /^kernel has a non-finite value \(-inf\) at flat index 5/],
          ['bias', (alloc) => e.dense_forward(alloc(6).ptr, alloc(ones(4)).ptr, alloc(ones(6)).ptr, alloc(withBad(3, 1, Infinity)).ptr, 2, 2, 3, Activation.Tanh), /^bias has a non-finite value \(inf\) at flat index 1/],
          ['overflow', (alloc) => e.dense_forward(alloc(6).ptr, alloc(new Float32Array([3e38, 3e38, 1, 1])).ptr, alloc(new Float32Array(6).fill(2)).ptr, 0, 2, 2, 3, Activation.Linear), /^Dense output \(the computation overflowed/],
        ];
        for (const [what, call, message] of cases) {
          const r = provoke(b, call);
          expect(r.status, what + ': ' + r.message).toBe(Status.NonFinite);
          expect(r.message, what).toMatch(message);
        }
      });

      it('the TS side maps each status to its typed error, with the kernel message', () => {
        const b = backends[k];
        const e = b.exports;
        const run = (f: (alloc: (d: Float32Array | Int32Array | number) => WasmBuffer) => number): unknown => {
          try {
            provoke(b, (alloc) => {
              b.run('op', () => f(alloc));
              return 0;
            });
          } catch (err) {
            return err;
          }
          return null;
        };
        const inv = run((alloc) => e.dense_forward(alloc(4).ptr, alloc(ones(4)).ptr, alloc(ones(4)).ptr, 0, 2, 2, 2, 99));
        expect(inv).toBeInstanceOf(ValueError);
        expect((inv as Error).message).toMatch(/^op: dense activation: unknown activation id 99/);
        expect(run((alloc) => e.dense_forward(alloc(4).ptr, alloc(ones(3)).ptr, alloc(ones(4)).ptr, 0, 2, 2, 2, 0))).toBeInstanceOf(ValueError);
        const x = ones(4);
        x[2] = NaN;
        expect(run((alloc) => e.dense_forward(alloc(4).ptr, alloc(x).ptr, alloc(ones(4)).ptr, 0, 2, 2, 2, 0))).toBeInstanceOf(NonFiniteError);
        expect(run((alloc) => e.loss_forward_backward(alloc(1).ptr, 0, 0, alloc(ones(4)).ptr, alloc(new Int32Array([0, 2])).ptr, 0, 2, 2, 7, 1, 0))).toBeInstanceOf(IndexError);
        expect(run(() => e.free(12345))).toBeInstanceOf(DisposedError);
      });
    });
  }

  it('OutOfMemory = 4: a kernel whose scratch cannot be allocated returns it (scalar build)', async () => {
    // dense_forward packs W (I, 1) into 8·I floats: with I = 2^26 + 8 that is more than 2 GiB,
    // beyond what wasm32 can address in one allocation. x and W share one 256 MiB zero block.
    const b = await loadBackend({ backend: 'scalar' });
    const e = b.exports;
    const I = 2 ** 26 + 8;
    const big = b.alloc(I);
    const y = b.alloc(1);
    const status = e.dense_forward(y.ptr, big.ptr, big.ptr, 0, 1, I, 1, Activation.Linear);
    expect(status).toBe(Status.OutOfMemory);
    expect(status).toBe(4);
    expect(lastError(b)).toMatch(/could not allocate \d+ MiB of scratch/);
    expect(() => b.run('dense', () => e.dense_forward(y.ptr, big.ptr, big.ptr, 0, 1, I, 1, Activation.Linear))).toThrow(OutOfMemoryError);
    big.dispose();
    y.dispose();
    // The instance stays usable after an OutOfMemory status.
    const z = b.fromArray(new Float32Array([1, 2]));
    expect(Array.from(z.f32())).toEqual([1, 2]);
    z.dispose();
  });

  it('OutOfMemory: alloc returns 0 when the heap cannot grow, and says so in the detail', async () => {
    // Node 20 lets a wasm32 memory reach 4 GiB, so one 3.9 GiB block may fit in a fresh
    // instance; a second cannot.
    const b = await loadBackend({ backend: 'scalar' });
    const e = b.exports;
    const big = 3.9 * 2 ** 30;
    const first = e.alloc(big);
    const second = e.alloc(big);
    expect(second).toBe(0);
    expect(lastError(b)).toMatch(/^alloc: could not allocate \d+ bytes; the wasm heap cannot grow further/);
    if (first !== 0) {
      // The heap is now full: the TS side reports it as an OutOfMemoryError with the sizes.
      expect(() => b.alloc(64 * 2 ** 20)).toThrow(OutOfMemoryError);
      expect(() => b.alloc(64 * 2 ** 20)).toThrow(/cannot allocate 256\.0 MiB: the wasm heap is at \d+ MiB and cannot grow/);
      expect(e.free(first)).toBe(Status.Ok);
    }
  });

  it('OutOfMemory: alloc of 2^32 − 1 bytes (a size no Layout can hold) also records why it returned 0', () => {
    const b = backends.scalar;
    const e = b.exports;
    // Clear the detail with a good call first.
    provoke(b, (alloc) => e.dense_forward(alloc(1).ptr, alloc(ones(1)).ptr, alloc(ones(1)).ptr, 0, 1, 1, 1, 0));
    expect(lastError(b)).toBe('');
    expect(e.alloc(0xffffffff)).toBe(0);
    expect(lastError(b)).toMatch(/^alloc: could not allocate 4294967295 bytes/);
  });

  it('Backend.alloc refuses a length whose byte count does not fit wasm32, instead of a short block', () => {
    // 2^30 + 4 floats are 2^32 + 16 bytes: passed to alloc(bytes: usize) they wrap to 16.
    const b = backends.scalar;
    const before = b.allocatedBytes();
    let buf: WasmBuffer | null = null;
    let error: unknown = null;
    try {
      buf = b.alloc(2 ** 30 + 4);
    } catch (err) {
      error = err;
    }
    const got = b.allocatedBytes() - before;
    buf?.dispose();
    expect(buf === null ? 'threw' : `returned a buffer of length ${buf.length} backed by ${got} bytes`).toBe('threw');
    expect(error).toBeInstanceOf(FastGruError);
  });
});

// ---------------------------------------------------------------------------------------------
// The ids mean what their names say.

describe('Activation ids: dense_forward with an identity kernel computes the named function', () => {
  const xs = [-7, -3.5, -2.5, -1, -0.3, 0, 0.2, 0.9, 2.5, 3, 4, 9];
  const expected: Record<number, (x: number) => number> = {
    [Activation.Linear]: (x) => x,
    [Activation.Tanh]: Math.tanh,
    [Activation.Sigmoid]: (x) => 1 / (1 + Math.exp(-x)),
    [Activation.HardSigmoid]: (x) => Math.min(1, Math.max(0, 0.2 * x + 0.5)),
    [Activation.HardSigmoidKeras3]: (x) => Math.min(6, Math.max(0, x + 3)) / 6,
    [Activation.Relu]: (x) => Math.max(0, x),
  };
  for (const k of BUILDS) {
    for (const [id, f] of Object.entries(expected)) {
      it(`${k}: ${Activation[Number(id)]} = ${id}`, () => {
        const b = backends[k];
        // (N, 1) · [[1]]: y = act(x). Twelve rows also exercise the 4-lane body and the tail.
        const x = b.fromArray(Float32Array.from(xs));
        const w = b.fromArray(new Float32Array([1]));
        const y = b.alloc(xs.length);
        b.run('dense_forward', () => b.exports.dense_forward(y.ptr, x.ptr, w.ptr, 0, xs.length, 1, 1, Number(id)));
        const got = Array.from(y.f32());
        got.forEach((v, i) => expect(v, `${Activation[Number(id)]}(${xs[i]})`).toBeCloseTo(f(xs[i]), 6));
        [x, w, y].forEach((t) => t.dispose());
      });
    }
    it(`${k}: Softmax = 6 over the last axis in Dense; the GRU refuses 6 for either activation`, () => {
      const b = backends[k];
      const e = b.exports;
      const rows = [
        [1, 2, 3, 4, 5],
        [-1, 0, 1, 0, -1],
      ];
      const x = b.fromArray(Float32Array.from(rows.flat()));
      const w = b.fromArray(Float32Array.from({ length: 25 }, (_, i) => (i % 6 === 0 ? 1 : 0)));
      const y = b.alloc(10);
      b.run('dense_forward', () => e.dense_forward(y.ptr, x.ptr, w.ptr, 0, 2, 5, 5, Activation.Softmax));
      const got = y.toFloat32Array();
      rows.forEach((row, r) => {
        const s = row.reduce((a, v) => a + Math.exp(v), 0);
        row.forEach((v, j) => expect(got[r * 5 + j]).toBeCloseTo(Math.exp(v) / s, 6));
      });
      [x, w, y].forEach((t) => t.dispose());
      const a = provoke(b, (alloc) => gruForward(b, alloc, { act: Activation.Softmax }));
      expect(a.status).toBe(Status.InvalidArgument);
      expect(a.message).toMatch(/gru activation: unknown activation id 6 \(expected 0..=5\)/);
      const r = provoke(b, (alloc) => gruForward(b, alloc, { recAct: Activation.Softmax }));
      expect(r.status).toBe(Status.InvalidArgument);
      expect(r.message).toMatch(/gru recurrentActivation: unknown activation id 6/);
      expect(provoke(b, (alloc) => gruForward(b, alloc, { act: -1 })).status).toBe(Status.InvalidArgument);
      expect(provoke(b, (alloc) => gruForward(b, alloc, { act: 7 })).status).toBe(Status.InvalidArgument);
      // clip: 0 (none) or a finite positive bound.
      for (const bad of [-1, NaN, Infinity]) {
        const c = provoke(b, (alloc) => gruForward(b, alloc, { clip: bad }));
        expect(c.status).toBe(Status.InvalidArgument);
        expect(c.message).toMatch(/gru clip: expected 0 \(no clip\) or a finite positive bound, got/);
      }
      expect(provoke(b, (alloc) => gruForward(b, alloc, { clip: 0.5 })).status).toBe(Status.Ok);
    });
  }
});

/** Keras 3 definitions in float64 (sum_over_batch_size reduction). */
function refLoss(kind: LossKind, pred: number[], target: number[], rows: number, cols: number): number {
  const eps = 1e-7;
  const clip = (p: number): number => Math.min(1 - eps, Math.max(eps, p));
  const row = (a: number[], i: number): number[] => a.slice(i * cols, (i + 1) * cols);
  let total = 0;
  for (let i = 0; i < rows; i++) {
    const p = row(pred, i);
    switch (kind) {
      case LossKind.MeanSquaredError:
        total += p.reduce((s, v, j) => s + (v - target[i * cols + j]) ** 2, 0) / cols;
        break;
      case LossKind.MeanAbsoluteError:
        total += p.reduce((s, v, j) => s + Math.abs(v - target[i * cols + j]), 0) / cols;
        break;
      case LossKind.BinaryCrossentropy:
        total += p.reduce((s, v, j) => {
          const t = target[i * cols + j];
          const q = clip(v);
          return s - (t * Math.log(q + eps) + (1 - t) * Math.log(1 - q + eps));
        }, 0) / cols;
        break;
      case LossKind.BinaryCrossentropyLogits:
        total += p.reduce((s, x, j) => {
          const t = target[i * cols + j];
          return s + Math.max(x, 0) - x * t + Math.log1p(Math.exp(-Math.abs(x)));
        }, 0) / cols;
        break;
      case LossKind.CategoricalCrossentropy: {
        const sum = p.reduce((a, b) => a + b, 0);
        total -= p.reduce((s, v, j) => s + target[i * cols + j] * Math.log(clip(v / sum)), 0);
        break;
      }
      case LossKind.CategoricalCrossentropyLogits: {
        const lse = Math.log(p.reduce((a, v) => a + Math.exp(v), 0));
        total -= p.reduce((s, v, j) => s + target[i * cols + j] * (v - lse), 0);
        break;
      }
      case LossKind.SparseCategoricalCrossentropy: {
        const pc = p.map(clip);
        total -= Math.log(pc[target[i]] / pc.reduce((a, b) => a + b, 0));
        break;
      }
      case LossKind.SparseCategoricalCrossentropyLogits: {
        const lse = Math.log(p.reduce((a, v) => a + Math.exp(v), 0));
        total -= p[target[i]] - lse;
        break;
      }
      case LossKind.Huber: // δ = 1
        total += p.reduce((s, v, j) => {
          const e = Math.abs(v - target[i * cols + j]);
          return s + (e <= 1 ? 0.5 * e * e : e - 0.5);
        }, 0) / cols;
        break;
      case LossKind.LogCosh:
        total += p.reduce((s, v, j) => s + Math.log(Math.cosh(v - target[i * cols + j])), 0) / cols;
        break;
    }
  }
  return total / rows;
}

describe('LossKind ids: each kind computes the Keras 3 loss of its name', () => {
  const rows = 3;
  const cols = 4;
  const probs = [0.1, 0.2, 0.3, 0.4, 0.7, 0.1, 0.15, 0.05, 0.25, 0.25, 0.25, 0.25];
  const logits = [1.5, -0.5, 0.3, 2.0, -1.0, 0.0, 0.5, -2.5, 3.0, 1.0, -1.0, 0.2];
  const oneHot = [0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0];
  const binary = [1, 0, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1];
  const real = [0.5, -1, 2, 0, 1, 1, -0.5, 0.3, 0, 0, 0.2, 0.1];
  const labels = [3, 0, 1];
  const cases: [LossKind, number[], number[]][] = [
    [LossKind.MeanSquaredError, logits, real],
    [LossKind.MeanAbsoluteError, logits, real],
    [LossKind.BinaryCrossentropy, probs, binary],
    [LossKind.BinaryCrossentropyLogits, logits, binary],
    [LossKind.CategoricalCrossentropy, probs, oneHot],
    [LossKind.CategoricalCrossentropyLogits, logits, oneHot],
    [LossKind.SparseCategoricalCrossentropy, probs, labels],
    [LossKind.SparseCategoricalCrossentropyLogits, logits, labels],
    [LossKind.Huber, logits, real],
    [LossKind.LogCosh, logits, real],
  ];
  for (const k of BUILDS) {
    for (const [kind, pred, target] of cases) {
      it(`${k}: ${LossKind[kind]} = ${kind}`, () => {
        const b = backends[k];
        const sparse = kind === LossKind.SparseCategoricalCrossentropy || kind === LossKind.SparseCategoricalCrossentropyLogits;
        const out = b.alloc(1);
        const p = b.fromArray(Float32Array.from(pred));
        const t = b.fromArray(sparse ? Int32Array.from(target) : Float32Array.from(target));
        b.run('loss', () => b.exports.loss_forward_backward(out.ptr, 0, 0, p.ptr, t.ptr, 0, rows, cols, kind, 1, 0));
        const ref = refLoss(kind, Array.from(Float32Array.from(pred)), target, rows, cols);
        expect(Math.abs(out.f32()[0] - ref), `${LossKind[kind]}: ${out.f32()[0]} vs ${ref}`).toBeLessThan(1e-5 * Math.max(1, Math.abs(ref)));
        [out, p, t].forEach((x) => x.dispose());
      });
    }
  }
  it('sparse kinds read int32 labels; dense kinds refuse a non-finite target, naming it', () => {
    const b = backends.simd;
    const r = provoke(b, (alloc) => {
      const t = Float32Array.from(real);
      t[5] = NaN;
      return b.exports.loss_forward_backward(alloc(1).ptr, 0, 0, alloc(Float32Array.from(logits)).ptr, alloc(t).ptr, 0, rows, cols, LossKind.MeanSquaredError, 1, 0);
    });
    expect(r.status).toBe(Status.NonFinite);
    expect(r.message).toMatch(/^target has a non-finite value \(NaN\) at flat index 5/);
  });
  it('weights, row_loss, delta and label_smoothing are checked, naming the argument', () => {
    const b = backends.simd;
    const call = (o: { w?: Float32Array; rowsLen?: number; kind?: LossKind; delta?: number; s?: number }) =>
      provoke(b, (alloc) =>
        b.exports.loss_forward_backward(
          alloc(1).ptr,
          0,
          o.rowsLen ? alloc(o.rowsLen).ptr : 0,
          alloc(Float32Array.from(probs)).ptr,
          alloc(Float32Array.from(binary)).ptr,
          o.w ? alloc(o.w).ptr : 0,
          rows,
          cols,
          o.kind ?? LossKind.BinaryCrossentropy,
          o.delta ?? 1,
          o.s ?? 0,
        ),
      );
    const w = new Float32Array([1, NaN, 1]);
    expect(call({ w }).status).toBe(Status.NonFinite);
    expect(call({ w }).message).toMatch(/^weights has a non-finite value \(NaN\) at flat index 1/);
    expect(call({ w: new Float32Array(2) }).status).toBe(Status.ShapeMismatch);
    expect(call({ rowsLen: 2 }).message).toMatch(/^row_loss: needs 12 bytes/);
    expect(call({ kind: LossKind.Huber, delta: 0 }).message).toMatch(/huber: delta must be a finite number > 0, got 0/);
    expect(call({ s: 1.5 }).message).toMatch(/label_smoothing must be in \[0, 1\], got 1.5/);
    expect(call({ kind: LossKind.MeanSquaredError, s: 0.1 }).message).toMatch(/only binary and categorical cross-entropy smooth labels; pass 0/);
    expect(call({ rowsLen: 3, w: new Float32Array([1, 0, 2]), s: 0.1 }).status).toBe(Status.Ok);
  });
});

/** Float64 GRU, Keras layout [z|r|h] (GRU-CONVENTIONS.md §1–2); y in processing order. */
function refGru(x: number[], h0: number[] | null, B: number, T: number, D: number, H: number, K: number[], U: number[], bias: number[], resetAfter: boolean, goBackwards: boolean): { y: number[]; hLast: number[] } {
  const G = 3 * H;
  const sig = (v: number): number => 1 / (1 + Math.exp(-v));
  const y: number[] = new Array(B * T * H).fill(0);
  const hLast: number[] = [];
  const bx = bias.slice(0, G);
  const bu = resetAfter ? bias.slice(G, 2 * G) : new Array(G).fill(0);
  for (let b = 0; b < B; b++) {
    let h = h0 ? h0.slice(b * H, (b + 1) * H) : new Array(H).fill(0);
    for (let s = 0; s < T; s++) {
      const t = goBackwards ? T - 1 - s : s;
      const xp = bx.map((v, j) => v + Array.from({ length: D }, (_, d) => x[(b * T + t) * D + d] * K[d * G + j]).reduce((a, c) => a + c, 0));
      const hU = (vec: number[], j: number): number => vec.reduce((a, v, i) => a + v * U[i * G + j], 0);
      const next: number[] = [];
      for (let j = 0; j < H; j++) {
        const z = sig(xp[j] + hU(h, j) + bu[j]);
        const r = (jj: number): number => sig(xp[H + jj] + hU(h, H + jj) + bu[H + jj]);
        let hh: number;
        if (resetAfter) {
          hh = Math.tanh(xp[2 * H + j] + r(j) * (hU(h, 2 * H + j) + bu[2 * H + j]));
        } else {
          const rh = h.map((v, i) => r(i) * v);
          hh = Math.tanh(xp[2 * H + j] + hU(rh, 2 * H + j));
        }
        next.push(z * h[j] + (1 - z) * hh);
      }
      h = next;
      for (let j = 0; j < H; j++) y[(b * T + s) * H + j] = h[j];
    }
    hLast.push(...h);
  }
  return { y, hLast };
}

describe('GruFlags: ResetAfter and GoBackwards mean what they say; unknown bits are refused', () => {
  const [B, T, D, H] = [2, 3, 2, 3];
  const G = 3 * H;
  const seq = (n: number, a: number, m: number): number[] => Array.from({ length: n }, (_, i) => Math.fround(Math.sin(a * (i + 1)) * m));
  const K = seq(D * G, 1.3, 0.6);
  const U = seq(H * G, 2.1, 0.6);
  const x = seq(B * T * D, 0.7, 1);
  const h0 = seq(B * H, 3.3, 0.5);
  for (const k of BUILDS) {
    for (const flags of [0, GruFlags.ResetAfter, GruFlags.GoBackwards, GruFlags.ResetAfter | GruFlags.GoBackwards]) {
      const resetAfter = (flags & GruFlags.ResetAfter) !== 0;
      const goBackwards = (flags & GruFlags.GoBackwards) !== 0;
      it(`${k}: flags ${flags} = ${resetAfter ? 'reset-after' : 'reset-before'}${goBackwards ? ' + goBackwards' : ''}`, () => {
        const b = backends[k];
        const e = b.exports;
        const bias = seq(resetAfter ? 2 * G : G, 0.9, 0.3);
        const ref = refGru(x, h0, B, T, D, H, K, U, bias, resetAfter, goBackwards);
        // The other form on the same numbers must differ: otherwise this test could not tell them apart.
        const other = refGru(x, h0, B, T, D, H, K, U, resetAfter ? bias : [...bias, ...new Array(G).fill(0)], !resetAfter, goBackwards);
        expect(Math.max(...ref.hLast.map((v, i) => Math.abs(v - other.hLast[i])))).toBeGreaterThan(1e-3);
        const r = provoke(b, (alloc) => {
          const packed = alloc(e.gru_packed_len(D, H, flags));
          expect(e.gru_pack(packed.ptr, alloc(Float32Array.from(K)).ptr, alloc(Float32Array.from(U)).ptr, alloc(Float32Array.from(bias)).ptr, D, H, flags)).toBe(0);
          const y = alloc(B * T * H);
          const hLast = alloc(B * H);
          const st = e.gru_forward(y.ptr, alloc(B * H).ptr, hLast.ptr, 0, alloc(Float32Array.from(x)).ptr, alloc(Float32Array.from(h0)).ptr, 0, 0, packed.ptr, B, T, D, H, flags, Activation.Tanh, Activation.Sigmoid, 0);
          expect(st).toBe(0);
          y.f32().forEach((v, i) => expect(v, `y[${i}]`).toBeCloseTo(ref.y[i], 5));
          hLast.f32().forEach((v, i) => expect(v, `hLast[${i}]`).toBeCloseTo(ref.hLast[i], 5));
          return st;
        });
        expect(r.status).toBe(0);
      });
    }
    it(`${k}: an unknown flag bit is InvalidArgument naming the bits`, () => {
      const b = backends[k];
      for (const flags of [4, 8, 1 | 16, 0x80000000]) {
        const r = provoke(b, (alloc) => gruForward(b, alloc, { flags }));
        expect(r.status, `flags ${flags}`).toBe(Status.InvalidArgument);
        expect(r.message).toMatch(/gru flags: unknown bits in 0x[0-9a-f]+/);
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------

describe('allocator bookkeeping', () => {
  for (const k of BUILDS) {
    it(`${k}: allocated_bytes returns to its start value after free; kernels leave it alone`, () => {
      const b = backends[k];
      const e = b.exports;
      const start = e.allocated_bytes();
      const ptrs = [1, 7, 100, 4096, 1 << 20].map((n) => e.alloc(n));
      expect(e.allocated_bytes()).toBe(start + 1 + 7 + 100 + 4096 + (1 << 20));
      for (const p of ptrs) expect(p % 16).toBe(0);
      // A kernel's own scratch is not counted and is gone after the call.
      const st = provoke(b, (alloc) => gruForward(b, alloc));
      expect(st.status).toBe(0);
      for (const p of ptrs) expect(e.free(p)).toBe(0);
      expect(e.allocated_bytes()).toBe(start);
      // alloc(0) hands out a 1-byte block, not a null or a shared pointer.
      const z1 = e.alloc(0);
      const z2 = e.alloc(0);
      expect(z1).not.toBe(0);
      expect(z1).not.toBe(z2);
      e.free(z1);
      e.free(z2);
      expect(e.allocated_bytes()).toBe(start);
    });
  }
});

// ---------------------------------------------------------------------------------------------

describe('loader', () => {
  const wasmFile = (name: string): Uint8Array => readFileSync(fileURLToPath(new URL(`../../wasm/${name}`, import.meta.url)));

  it('simdSupported() is true on Node 20, and the index re-exports the loader function', () => {
    expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(20);
    expect(simdSupported()).toBe(true);
    expect(simdSupported).toBe(loaderSimdSupported);
  });

  it('picks the SIMD build by default, the scalar build when forced', async () => {
    expect((await loadBackend()).kind).toBe('simd');
    expect((await loadBackend({ backend: 'auto' })).kind).toBe('simd');
    const scalar = await loadBackend({ backend: 'scalar' });
    expect(scalar.kind).toBe('scalar');
    expect(scalar.exports.simd_enabled()).toBe(0);
    expect(await init()).toEqual({ backend: 'simd', abiVersion: ABI_VERSION });
    expect(getBackend().kind).toBe('simd');
    expect(await init({ backend: 'scalar' })).toEqual({ backend: 'scalar', abiVersion: ABI_VERSION });
    expect(getBackend().kind).toBe('scalar');
  });

  it('init with a bad backend option rejects with a message naming the value and the choices', async () => {
    await expect(init({ backend: 'gpu' as never })).rejects.toThrow(/init\(\{ backend \}\) must be 'auto', 'simd' or 'scalar', got "gpu"/);
    await expect(init({ backend: 'SIMD' as never })).rejects.toThrow(/got "SIMD"/);
  });

  it('init with a bad backend option throws a typed ValueError (STYLE rule 13)', async () => {
    const err = await init({ backend: 'gpu' as never }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValueError);
  });

  it('init with wasmBinary works (Uint8Array, ArrayBuffer, WebAssembly.Module) and reports the build it got', async () => {
    const simdBytes = wasmFile(WASM_FILES.simd);
    const scalarBytes = wasmFile(WASM_FILES.scalar);
    expect(await init({ wasmBinary: simdBytes })).toEqual({ backend: 'simd', abiVersion: ABI_VERSION });
    expect(await init({ wasmBinary: new Uint8Array(scalarBytes) })).toEqual({ backend: 'scalar', abiVersion: ABI_VERSION });
    const ab = scalarBytes.buffer.slice(scalarBytes.byteOffset, scalarBytes.byteOffset + scalarBytes.byteLength);
    expect((await init({ wasmBinary: ab as ArrayBuffer })).backend).toBe('scalar');
    const mod = await WebAssembly.compile(simdBytes as unknown as BufferSource);
    expect((await init({ wasmBinary: mod })).backend).toBe('simd');
    // The module loaded that way computes.
    const b = getBackend();
    const x = b.fromArray(new Float32Array([2]));
    const w = b.fromArray(new Float32Array([3]));
    const y = b.alloc(1);
    b.run('dense', () => b.exports.dense_forward(y.ptr, x.ptr, w.ptr, 0, 1, 1, 1, Activation.Linear));
    expect(y.f32()[0]).toBe(6);
    [x, w, y].forEach((t) => t.dispose());
  });

  it('init with wasmPath (relative to the working directory) works', async () => {
    const cwdRelative = fileURLToPath(new URL(`../../wasm/${WASM_FILES.scalar}`, import.meta.url));
    expect((await init({ wasmPath: cwdRelative })).backend).toBe('scalar');
  });

  it('a .wasm that is not a fastgru build is refused with a clear message', async () => {
    const empty = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
    await expect(init({ wasmBinary: empty })).rejects.toThrow(/lacks exports .*abi_version.*rebuild with `npm run build`/);
    await expect(init({ wasmPath: '/nonexistent/fastgru.wasm' })).rejects.toThrow(/cannot find fastgru.*\/nonexistent\/fastgru\.wasm/);
  });
});
