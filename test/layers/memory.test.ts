/**
 * STYLE rules 4 and 9: a training loop with fixed shapes allocates in its first steps and never
 * again; dispose() gives everything back; typed-array views are rebuilt after wasm memory grows.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Dense, GRU, Tensor, getBackend, init, lossAndGradient, memory } from '../../ts/src/index.ts';

const B = 8;
const T = 6;
const D = 5;
const H = 12;

function seq(n: number, a: number, m = 1): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(a * (i + 1)) * m);
}

/** One SGD step on GRU → Dense → mse; returns the loss. */
function step(gru: GRU, dense: Dense, x: Tensor, y: Tensor, lr = 0.05): number {
  const h = gru.apply(x, { training: true }) as Tensor;
  const pred = dense.apply(h, { training: true });
  const { loss, grad } = lossAndGradient('mse', y, pred);
  const dd = dense.backward(grad);
  const dg = gru.backward(dd.dInput);
  for (const [layer, grads] of [
    [dense, dd.grads],
    [gru, dg.grads],
  ] as const) {
    const ws = layer.getWeights();
    layer.setWeights(ws.map((w, i) => new Tensor(w.data.map((v, k) => v - lr * grads[i].data[k]) as Float32Array, w.shape)));
  }
  return loss;
}

beforeAll(async () => {
  await init();
});

describe('a fixed-shape training loop does not grow memory', () => {
  it('3 epochs × 20 steps: allocatedBytes and wasmMemoryBytes are flat after the first epoch; the loss falls', () => {
    const start = memory();
    const gru = new GRU({ units: H, seed: 1 });
    const dense = new Dense({ units: 3, seed: 2 });
    const batches = Array.from({ length: 4 }, (_, i) => ({
      x: new Tensor(seq(B * T * D, 0.3 + 0.1 * i), [B, T, D]),
      y: new Tensor(seq(B * 3, 0.9 + 0.2 * i, 0.5), [B, 3]),
    }));
    const perEpoch: { allocatedBytes: number; wasmMemoryBytes: number }[] = [];
    const losses: number[] = [];
    for (let epoch = 0; epoch < 3; epoch++) {
      let total = 0;
      for (let s = 0; s < 20; s++) {
        const { x, y } = batches[s % batches.length];
        total += step(gru, dense, x, y);
        // Inference calls in between use their own buffers and must not disturb training ones.
        if (s % 7 === 0) gru.apply(x);
      }
      losses.push(total / 20);
      perEpoch.push(memory());
    }
    expect(perEpoch[1], 'after epoch 2 vs after epoch 1').toEqual(perEpoch[0]);
    expect(perEpoch[2], 'after epoch 3 vs after epoch 1').toEqual(perEpoch[0]);
    expect(perEpoch[0].allocatedBytes).toBeGreaterThan(start.allocatedBytes);
    expect(losses[2]).toBeLessThan(losses[0]);
    gru.dispose();
    dense.dispose();
    expect(memory().allocatedBytes).toBe(start.allocatedBytes);
  });

  it('every step, not only every epoch, leaves allocatedBytes where the first step left it', () => {
    const gru = new GRU({ units: H, seed: 3, resetAfter: false, returnSequences: true });
    const dense = new Dense({ units: 2, seed: 4 });
    const x = new Tensor(seq(B * T * D, 0.5), [B, T, D]);
    const y = new Tensor(seq(B * T * 2, 0.8), [B, T, 2]);
    step(gru, dense, x, y);
    const after1 = memory().allocatedBytes;
    for (let s = 0; s < 10; s++) {
      step(gru, dense, x, y);
      expect(memory().allocatedBytes, `step ${s + 2}`).toBe(after1);
    }
    gru.dispose();
    dense.dispose();
  });
});

describe('dispose() gives everything back', () => {
  it('allocatedBytes returns to its value before the layers were built, after training use', () => {
    const before = memory().allocatedBytes;
    const gru = new GRU({ units: H, seed: 5, returnSequences: true, returnState: true });
    const dense = new Dense({ units: 4, seed: 6, activation: 'softmax' });
    const x = new Tensor(seq(B * T * D, 0.4), [B, T, D]);
    const mask = new Tensor(Float32Array.from({ length: B * T }, (_, i) => (i % 5 === 4 ? 0 : 1)), [B, T]);
    const h0 = new Tensor(seq(B * H, 0.2, 0.3), [B, H]);
    const [out] = gru.apply(x, { training: true, mask, initialState: h0 }) as Tensor[];
    const p = dense.apply(out, { training: true });
    const { grad } = lossAndGradient('categoricalCrossentropy', new Tensor(new Float32Array(p.size).fill(0.25), p.shape), p);
    const dd = dense.backward(grad);
    gru.backward(dd.dInput, null);
    gru.apply(x); // inference buffers too
    dense.apply(out);
    expect(memory().allocatedBytes).toBeGreaterThan(before);
    gru.dispose();
    expect(memory().allocatedBytes).toBeGreaterThan(before);
    dense.dispose();
    expect(memory().allocatedBytes).toBe(before);
  });

  it('a layer that was only built (never applied) also frees everything', () => {
    const before = memory().allocatedBytes;
    const gru = new GRU({ units: 7, seed: 7 });
    gru.build([null, 3, 9]);
    const dense = new Dense({ units: 2, seed: 8 });
    dense.build([null, 7]);
    gru.dispose();
    dense.dispose();
    expect(memory().allocatedBytes).toBe(before);
  });

  it('a failed call leaks nothing either (a loss with out-of-range labels)', () => {
    const before = memory().allocatedBytes;
    expect(() => lossAndGradient('sparseCategoricalCrossentropy', new Tensor(new Int32Array([5]), [1]), new Tensor(new Float32Array([0.5, 0.5]), [1, 2]))).toThrow();
    expect(memory().allocatedBytes).toBe(before);
  });
});

describe('views are never stale after wasm memory grows', () => {
  // First: memory never shrinks, so this must run before the test that grows it by 64 MiB.
  it('memory that grows inside a kernel call (scratch for a large batch) does not corrupt its results', () => {
    const gru = new GRU({ units: 64, seed: 11, returnState: true });
    const xSmall = new Tensor(seq(2 * 50 * 16, 0.37), [2, 50, 16]);
    const [ySmall, hSmall] = (gru.apply(xSmall) as Tensor[]).map((t) => Array.from(t.data));
    // 512 sequences, inference: the JS side writes 1.6 MB of input, but the kernel's input
    // projection scratch is 512·50·192 floats (19.7 MB): memory grows inside gru_forward.
    const rows = 512;
    const big = new Float32Array(rows * 50 * 16);
    for (let r = 0; r < rows; r++) big.set(xSmall.data.subarray((r % 2) * 800, (r % 2) * 800 + 800), r * 800);
    const bytesBefore = memory().wasmMemoryBytes;
    const [yBig, hBig] = gru.apply(new Tensor(big, [rows, 50, 16])) as Tensor[];
    expect(memory().wasmMemoryBytes).toBeGreaterThan(bytesBefore);
    for (const r of [0, 1, 2, 3, 256, 510, 511]) {
      expect(Array.from(yBig.data.subarray(r * 64, r * 64 + 64)), `row ${r}`).toEqual(ySmall.slice((r % 2) * 64, (r % 2) * 64 + 64));
      expect(Array.from(hBig.data.subarray(r * 64, r * 64 + 64)), `state row ${r}`).toEqual(hSmall.slice((r % 2) * 64, (r % 2) * 64 + 64));
    }
    // Training at that size (the cache grows memory again) and backward read the right cache.
    gru.apply(new Tensor(big, [rows, 50, 16]), { training: true });
    const g = gru.backward(new Tensor(new Float32Array(rows * 64).fill(0.01), [rows, 64]));
    expect(g.grads.every((t) => Array.from(t.data).every(Number.isFinite))).toBe(true);
    expect(Array.from(g.dInput.data.subarray(0, 800))).toEqual(Array.from(g.dInput.data.subarray(1600, 2400)));
    gru.dispose();
  });
  it('forward, grow memory through getBackend().alloc, forward and getWeights again: same numbers', () => {
    const gru = new GRU({ units: H, seed: 9, returnSequences: true });
    const dense = new Dense({ units: 3, seed: 10 });
    const x = new Tensor(seq(B * T * D, 0.6), [B, T, D]);
    const out1 = Array.from((gru.apply(x) as Tensor).data);
    const w1 = gru.getWeights().map((w) => Array.from(w.data));
    const d1 = Array.from(dense.apply(new Tensor(seq(B * H, 0.1), [B, H])).data);

    const b = getBackend();
    const bytesBefore = memory().wasmMemoryBytes;
    // More bytes than the whole memory has: it cannot fit in free space, so memory must grow.
    const big = b.alloc(Math.ceil(bytesBefore / 4) + 4 * 2 ** 20);
    big.fill(1);
    expect(memory().wasmMemoryBytes).toBeGreaterThan(bytesBefore);
    big.dispose();

    expect(Array.from((gru.apply(x) as Tensor).data)).toEqual(out1);
    expect(gru.getWeights().map((w) => Array.from(w.data))).toEqual(w1);
    expect(Array.from(dense.apply(new Tensor(seq(B * H, 0.1), [B, H])).data)).toEqual(d1);
    // setWeights after growth writes where the kernels read.
    gru.setWeights(gru.getWeights());
    expect(Array.from((gru.apply(x) as Tensor).data)).toEqual(out1);
    gru.dispose();
    dense.dispose();
  });

});
