/**
 * STYLE rule 6: edges are isolated. Every buffer of a call (inputs and outputs) sits in the middle
 * of a larger block whose margins are filled with NaN (the ABI accepts pointers inside a block).
 * After the call:
 *   - every margin is still NaN, bit for bit (no out-of-bounds write),
 *   - every input is unchanged (no write to an input),
 *   - every output is finite (so no out-of-bounds READ either: a kernel that read a NaN margin of
 *     an input, even into a masked-off lane, would carry the NaN into some output), and outputs that
 *     the kernel overwrites start as NaN, so an element it forgot to write stays NaN and fails.
 * Gradient outputs accumulate (`+=`), so their inner region starts at zero.
 * The margins are 5 floats: pointers are 4-byte but not 16-byte aligned, as a slice of a tensor is.
 * Both builds. GRU math: GRU-CONVENTIONS.md §1–2.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadBackend } from '../../ts/src/wasm/loader.ts';
import { rng, uniform } from '../util/random.ts';
import { ALL_LOSS_KINDS, usable } from '../util/backends.ts';
import type { Backend, WasmBuffer } from '../../ts/src/wasm/memory.ts';
import { Activation, GruFlags, LossKind } from '../../ts/src/wasm/abi.ts';

const PAD = 5;
const MASK_PAD_BYTE = 0xa5;
const LABEL_PAD = 0x7fffffff;

type Kind = 'input' | 'overwritten' | 'accumulated';

/** A region of `n` elements with PAD poisoned elements on each side, in its own block. */
class Poisoned {
  readonly block: WasmBuffer;
  readonly initial: Float32Array | Int32Array | Uint8Array;

  constructor(
    readonly name: string,
    readonly b: Backend,
    readonly n: number,
    readonly kind: Kind,
    data: Float32Array | Int32Array | Uint8Array | null,
    readonly dtype: 'float32' | 'int32' | 'uint8' = 'float32',
  ) {
    this.block = b.alloc(n + 2 * PAD, dtype);
    const v = this.block.view();
    v.fill(dtype === 'float32' ? NaN : dtype === 'int32' ? LABEL_PAD : MASK_PAD_BYTE);
    if (kind === 'accumulated') v.fill(0, PAD, PAD + n);
    if (data) {
      expect(data.length).toBe(n);
      v.set(data, PAD);
    }
    this.initial = v.slice(PAD, PAD + n);
  }

  get ptr(): number {
    return this.block.ptr + PAD * (this.dtype === 'uint8' ? 1 : 4);
  }

  inner(): Float32Array | Int32Array | Uint8Array {
    return this.block.view().slice(PAD, PAD + this.n);
  }

  /** The margins survived; inputs are unchanged; outputs are finite. */
  check(what: string): void {
    const v = this.block.view();
    const margins = [...Array.from(v.subarray(0, PAD)), ...Array.from(v.subarray(PAD + this.n))];
    const pad = this.dtype === 'float32' ? NaN : this.dtype === 'int32' ? LABEL_PAD : MASK_PAD_BYTE;
    margins.forEach((m, i) => {
      const ok = Number.isNaN(pad) ? Number.isNaN(m) : m === pad;
      if (!ok) throw new Error(`${what}: ${this.name}: margin element ${i < PAD ? i - PAD : i - PAD + this.n} (relative to the region) was overwritten with ${m}`);
    });
    const inner = v.subarray(PAD, PAD + this.n);
    if (this.kind === 'input') {
      for (let i = 0; i < this.n; i++) {
        if (!Object.is(inner[i], this.initial[i])) throw new Error(`${what}: input ${this.name}[${i}] changed from ${this.initial[i]} to ${inner[i]}`);
      }
    } else {
      for (let i = 0; i < this.n; i++) {
        if (!Number.isFinite(inner[i])) throw new Error(`${what}: output ${this.name}[${i}] = ${inner[i]} after the call (unwritten, or a NaN margin was read)`);
      }
    }
  }

  dispose(): void {
    this.block.dispose();
  }
}

/** Creates regions, runs `body`, checks every region, frees them. */
type RegionFn = (name: string, n: number, kind: Kind, data: Float32Array | Int32Array | Uint8Array | null, dtype?: 'float32' | 'int32' | 'uint8') => Poisoned;

function poisonCall(b: Backend, what: string, body: (region: RegionFn) => void): void {
  const regions: Poisoned[] = [];
  const region: RegionFn = (name, n, kind, data, dtype = 'float32') => {
    const p = new Poisoned(name, b, n, kind, data, dtype);
    regions.push(p);
    return p;
  };
  try {
    body(region);
    for (const r of regions) r.check(what);
  } finally {
    for (const r of regions) r.dispose();
  }
}

let backends: Record<'simd' | 'scalar', Backend>;

beforeAll(async () => {
  backends = { simd: await loadBackend({ backend: 'simd' }), scalar: await loadBackend({ backend: 'scalar' }) };
});

afterEach(async () => {
  for (const k of ['simd', 'scalar'] as const) if (!usable(backends[k])) backends[k] = await loadBackend({ backend: k });
});

const BUILDS = ['simd', 'scalar'] as const;

interface GruShape {
  batch: number;
  time: number;
  input: number;
  units: number;
  resetAfter: boolean;
  goBackwards: boolean;
  mask: boolean;
  h0: boolean;
  bias: boolean;
}

const GRU_SHAPES: GruShape[] = [
  { batch: 1, time: 1, input: 2, units: 1, resetAfter: true, goBackwards: false, mask: false, h0: false, bias: true },
  { batch: 3, time: 4, input: 5, units: 7, resetAfter: true, goBackwards: true, mask: true, h0: true, bias: true },
  { batch: 3, time: 4, input: 5, units: 7, resetAfter: false, goBackwards: false, mask: true, h0: true, bias: true },
  { batch: 5, time: 3, input: 9, units: 13, resetAfter: false, goBackwards: true, mask: false, h0: false, bias: false },
  { batch: 2, time: 6, input: 17, units: 9, resetAfter: true, goBackwards: false, mask: true, h0: false, bias: false },
  { batch: 4, time: 2, input: 8, units: 16, resetAfter: false, goBackwards: false, mask: false, h0: true, bias: true },
];

function gruName(s: GruShape): string {
  return `B=${s.batch} T=${s.time} D=${s.input} H=${s.units} ${s.resetAfter ? 'reset-after' : 'reset-before'}${s.goBackwards ? ' goBackwards' : ''}${s.mask ? ' mask' : ''}${s.h0 ? ' h0' : ''}${s.bias ? '' : ' noBias'}`;
}

describe('GRU: gru_pack, gru_forward (training and inference), gru_backward leave NaN margins alone', () => {
  for (const build of BUILDS) {
    for (const s of GRU_SHAPES) {
      it(`${build}: ${gruName(s)}`, () => {
        const b = backends[build];
        const e = b.exports;
        const { batch: B, time: T, input: D, units: H } = s;
        const G = 3 * H;
        const flags = (s.resetAfter ? GruFlags.ResetAfter : 0) | (s.goBackwards ? GruFlags.GoBackwards : 0);
        const r = rng(B * 1000 + T * 100 + D * 10 + H);
        const maskData = new Uint8Array(B * T).map(() => (r() < 0.7 ? 1 : 0));
        const kernelData = uniform(r, D * G, -0.6, 0.6);
        const recurrentData = uniform(r, H * G, -0.6, 0.6);
        const biasData = uniform(r, (s.resetAfter ? 2 : 1) * G, -0.3, 0.3);
        const xData = uniform(r, B * T * D, -1, 1);
        const h0Data = uniform(r, B * H, -0.5, 0.5);
        const dyData = uniform(r, B * T * H, -1, 1);
        const dyLastData = uniform(r, B * H, -1, 1);
        const dhLastData = uniform(r, B * H, -1, 1);
        const packedLen = e.gru_packed_len(D, H, flags);
        const cacheLen = e.gru_cache_len(B, T, H);

        // One set of regions for pack + training forward + backward (the cache flows between them).
        poisonCall(b, `${build} ${gruName(s)} training`, (region) => {
          const kernel = region('kernel', D * G, 'input', kernelData);
          const recurrent = region('recurrentKernel', H * G, 'input', recurrentData);
          const bias = s.bias ? region('bias', biasData.length, 'input', biasData) : null;
          const packed = region('packed', packedLen, 'overwritten', null);
          b.run('gru_pack', () => e.gru_pack(packed.ptr, kernel.ptr, recurrent.ptr, bias ? bias.ptr : 0, D, H, flags));
          packed.check('after gru_pack');

          const x = region('x', B * T * D, 'input', xData);
          const h0 = s.h0 ? region('h0', B * H, 'input', h0Data) : null;
          const mask = s.mask ? region('mask', B * T, 'input', maskData, 'uint8') : null;
          const y = region('y', B * T * H, 'overwritten', null);
          const yLast = region('yLast', B * H, 'overwritten', null);
          const hLast = region('hLast', B * H, 'overwritten', null);
          const cache = region('cache', cacheLen, 'overwritten', null);
          b.run('gru_forward', () =>
            e.gru_forward(y.ptr, yLast.ptr, hLast.ptr, cache.ptr, x.ptr, h0 ? h0.ptr : 0, mask ? mask.ptr : 0, 0, packed.ptr, B, T, D, H, flags, Activation.Tanh, Activation.Sigmoid, 0),
          );
          for (const p of [y, yLast, hLast, cache]) p.check('after gru_forward');

          // Inputs of backward now: the cache and forward outputs are read-only from here on.
          const dy = region('dy', B * T * H, 'input', dyData);
          const dyLast = region('dyLast', B * H, 'input', dyLastData);
          const dhLast = region('dhLast', B * H, 'input', dhLastData);
          const cacheIn = region('cache (as input)', cacheLen, 'input', cache.inner() as Float32Array);
          const dx = region('dx', B * T * D, 'accumulated', null);
          const dh0 = region('dh0', B * H, 'accumulated', null);
          const dkernel = region('dkernel', D * G, 'accumulated', null);
          const drecurrent = region('drecurrentKernel', H * G, 'accumulated', null);
          const dbias = s.bias ? region('dbias', biasData.length, 'accumulated', null) : null;
          b.run('gru_backward', () =>
            e.gru_backward(
              dx.ptr,
              dh0.ptr,
              dkernel.ptr,
              drecurrent.ptr,
              dbias ? dbias.ptr : 0,
              dy.ptr,
              dyLast.ptr,
              dhLast.ptr,
              cacheIn.ptr,
              x.ptr,
              mask ? mask.ptr : 0,
              0,
              kernel.ptr,
              recurrent.ptr,
              B,
              T,
              D,
              H,
              flags,
              Activation.Tanh,
              Activation.Sigmoid,
              0,
            ),
          );
          expect((dkernel.inner() as Float32Array).some((v) => v !== 0), 'dkernel is not all zero').toBe(true);
        });

        // Inference (no cache, no y): the two-slot state path.
        poisonCall(b, `${build} ${gruName(s)} inference`, (region) => {
          const kernel = region('kernel', D * G, 'input', kernelData);
          const recurrent = region('recurrentKernel', H * G, 'input', recurrentData);
          const bias = s.bias ? region('bias', biasData.length, 'input', biasData) : null;
          const packed = region('packed', packedLen, 'overwritten', null);
          b.run('gru_pack', () => e.gru_pack(packed.ptr, kernel.ptr, recurrent.ptr, bias ? bias.ptr : 0, D, H, flags));
          const x = region('x', B * T * D, 'input', xData);
          const h0 = s.h0 ? region('h0', B * H, 'input', h0Data) : null;
          const mask = s.mask ? region('mask', B * T, 'input', maskData, 'uint8') : null;
          const yLast = region('yLast', B * H, 'overwritten', null);
          const hLast = region('hLast', B * H, 'overwritten', null);
          b.run('gru_forward', () =>
            e.gru_forward(0, yLast.ptr, hLast.ptr, 0, x.ptr, h0 ? h0.ptr : 0, mask ? mask.ptr : 0, 0, packed.ptr, B, T, D, H, flags, Activation.Tanh, Activation.Sigmoid, 0),
          );
        });
      });
    }
  }
});

describe('Dense: dense_forward and dense_backward leave NaN margins alone', () => {
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [3, 5, 7],
    [9, 17, 13],
    [4, 8, 8],
    [2, 3, 17],
  ];
  const acts = [Activation.Linear, Activation.Tanh, Activation.Sigmoid, Activation.Relu, Activation.HardSigmoidKeras3, Activation.Softmax];
  for (const build of BUILDS) {
    for (const act of acts) {
      it(`${build}: ${Activation[act]}`, () => {
        const b = backends[build];
        const e = b.exports;
        shapes.forEach(([n, i, o], k) => {
          const r = rng(77 + k + 13 * act);
          const useBias = k % 2 === 0;
          const what = `${build} ${Activation[act]} N=${n} I=${i} O=${o}${useBias ? '' : ' noBias'}`;
          poisonCall(b, what, (region) => {
            const x = region('x', n * i, 'input', uniform(r, n * i, -1.5, 1.5));
            const w = region('kernel', i * o, 'input', uniform(r, i * o, -0.7, 0.7));
            const bias = useBias ? region('bias', o, 'input', uniform(r, o, -0.3, 0.3)) : null;
            const y = region('y', n * o, 'overwritten', null);
            b.run('dense_forward', () => e.dense_forward(y.ptr, x.ptr, w.ptr, bias ? bias.ptr : 0, n, i, o, act));
            y.check(`${what} after dense_forward`);
            const yIn = region('y (as input)', n * o, 'input', y.inner() as Float32Array);
            const dy = region('dy', n * o, 'input', uniform(r, n * o, -1, 1));
            const dx = region('dx', n * i, 'accumulated', null);
            const dw = region('dkernel', i * o, 'accumulated', null);
            const db = useBias ? region('dbias', o, 'accumulated', null) : null;
            b.run('dense_backward', () => e.dense_backward(dx.ptr, dw.ptr, db ? db.ptr : 0, dy.ptr, yIn.ptr, x.ptr, w.ptr, n, i, o, act));
          });
        });
      });
    }
  }
});

describe('Losses: loss_forward_backward leaves NaN margins alone', () => {
  const kinds = ALL_LOSS_KINDS;
  const shapes: [number, number][] = [
    [1, 2],
    [3, 5],
    [7, 17],
    [4, 8],
  ];
  for (const build of BUILDS) {
    for (const kind of kinds) {
      it(`${build}: ${LossKind[kind]}`, () => {
        const b = backends[build];
        const e = b.exports;
        const sparse = kind === LossKind.SparseCategoricalCrossentropy || kind === LossKind.SparseCategoricalCrossentropyLogits;
        shapes.forEach(([n, c], k) => {
          const r = rng(300 + k + 7 * kind);
          const what = `${build} ${LossKind[kind]} N=${n} C=${c}`;
          // Probabilities in (0, 1) suit every kind (logit kinds take any real).
          const predData = uniform(r, n * c, 0.05, 0.95);
          const target = sparse ? Int32Array.from({ length: n }, () => Math.floor(r() * c)) : uniform(r, n * c, 0, 1);
          const weightData = uniform(r, n, 0, 2);
          for (const withGrad of [true, false]) {
            // With a dpred buffer also the per-row losses and weights (each pointer is optional).
            poisonCall(b, `${what}${withGrad ? ' (dpred, row_loss, weights)' : ' (no dpred)'}`, (region) => {
              const pred = region('prediction', n * c, 'input', predData);
              const t = sparse ? region('labels', n, 'input', target, 'int32') : region('target', n * c, 'input', target);
              const w = withGrad ? region('weights', n, 'input', weightData) : null;
              const out = region('loss', 1, 'overwritten', null);
              const dpred = withGrad ? region('dprediction', n * c, 'overwritten', null) : null;
              const rows = withGrad ? region('row_loss', n, 'overwritten', null) : null;
              b.run('loss', () => e.loss_forward_backward(out.ptr, dpred ? dpred.ptr : 0, rows ? rows.ptr : 0, pred.ptr, t.ptr, w ? w.ptr : 0, n, c, kind, 1, 0));
            });
          }
        });
      });
    }
  }
});

describe('the poison check itself can fail', () => {
  it('a write into a margin is caught', () => {
    const b = backends.simd;
    expect(() =>
      poisonCall(b, 'self-test', (region) => {
        const p = region('y', 4, 'overwritten', null);
        const v = p.block.f32();
        v.fill(1, PAD, PAD + 5); // one element past the end
      }),
    ).toThrow(/margin element 4/);
  });
  it('an unwritten output element is caught', () => {
    const b = backends.simd;
    expect(() =>
      poisonCall(b, 'self-test', (region) => {
        const p = region('y', 4, 'overwritten', null);
        p.block.f32().fill(1, PAD, PAD + 3);
      }),
    ).toThrow(/y\[3\] = NaN/);
  });
});
