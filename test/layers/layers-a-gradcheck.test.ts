/**
 * GRU-CONVENTIONS.md §5 ("every backward gets a finite-difference check") for the layers of issue 4
 * part A, through the public API: `layer.apply(x, {training: true, mask})`, then
 * `layer.backwardNode([R], ctx, {inputs, outputs})` (the engine's entry point, node 0 = eager) or,
 * for Embedding, `layer.backward(R)`.
 *
 *   L(θ) = Σ R ⊙ apply(x; θ)                          (float64 sum of the float32 outputs)
 *   fd   = (L(θ + ε e_i) − L(θ − ε e_i)) / ((θ_i + ε) − (θ_i − ε))
 *   pass iff |fd − an| ≤ 3e-4 + 3e-3·|an|            (same allowance as gradcheck.test.ts)
 *
 * Dropout: `setSeed(s)` before every forward makes each evaluation draw the same mask, so L is
 * the smooth function x ↦ Σ R ⊙ x ⊙ mask. Kinks are avoided, not tolerated: relu / hard-sigmoid
 * inputs and max-pool values are kept ≥ 0.05 from a kink or a tie; Masking's masked entries (a
 * step function of x) are checked to get exactly 0 instead.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Layer, Tensor, init, layers, tensor } from '../../ts/src/index.ts';
import type { NodeContext } from '../../ts/src/layers/Layer.ts';
import { setSeed } from '../../ts/src/random.ts';
import { BACKENDS, rng, uniform } from './util/numeric.ts';

const EPS = 1e-2;
const ATOL = 3e-4;
const RTOL = 3e-3;

function ctxOf(masks: (Tensor | null)[]): NodeContext {
  return { training: true, masks, node: 0, kwargs: {} };
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Runs the layer on float inputs with masks; returns the output tensor. */
function run(layer: Layer, xs: Tensor[], masks: (Tensor | null)[], seed?: number): Tensor {
  if (seed !== undefined) setSeed(seed);
  const out = layer.apply(xs.length === 1 ? xs[0] : xs, { training: true, mask: masks });
  return out as Tensor;
}

/**
 * FD check of d(Σ R ⊙ y)/d(every input entry) against backwardNode. `skip(k, i)` excludes entries
 * (checked to have gradient 0 instead).
 */
function checkInputs(layer: Layer, xs: Float32Array[], shapes: number[][], masks: (Tensor | null)[], seed?: number, skip?: (k: number, i: number) => boolean): void {
  const tensors = () => xs.map((x, k) => new Tensor(x, shapes[k]));
  const y0 = run(layer, tensors(), masks, seed);
  const R = uniform(rng(99), y0.size, -1, 1);
  const inputs = tensors();
  const y = run(layer, inputs, masks, seed);
  const grads = layer.backwardNode([new Tensor(R, y.shape)], ctxOf(masks), { inputs, outputs: [y] });
  const bad: string[] = [];
  let checked = 0;
  xs.forEach((x, k) => {
    const an = grads[k]!.data;
    expect(an.length).toBe(x.length);
    for (let i = 0; i < x.length; i++) {
      if (skip?.(k, i)) {
        if (an[i] !== 0) bad.push(`input ${k}[${i}]: masked entry got gradient ${an[i]}`);
        continue;
      }
      const v = x[i];
      x[i] = v + EPS;
      const up = x[i];
      const lp = dot(R, run(layer, tensors(), masks, seed).data);
      x[i] = v - EPS;
      const down = x[i];
      const lm = dot(R, run(layer, tensors(), masks, seed).data);
      x[i] = v;
      const fd = (lp - lm) / (up - down);
      checked++;
      if (!(Math.abs(fd - an[i]) <= ATOL + RTOL * Math.abs(an[i]))) bad.push(`input ${k}[${i}]: fd ${fd.toFixed(6)} vs backward ${an[i].toFixed(6)}`);
    }
  });
  expect(checked).toBeGreaterThan(0);
  expect(bad, bad.slice(0, 10).join('\n')).toEqual([]);
}

/** Values in [lo, hi) at least `gap` away from every point in `kinks`. */
function awayFrom(n: number, seed: number, lo: number, hi: number, kinks: number[], gap = 0.05): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v: number;
    do v = lo + (hi - lo) * r();
    while (kinks.some((k) => Math.abs(v - k) < gap));
    out[i] = v;
  }
  return out;
}

const B = 2;
const T = 4;
const F = 3;
const MASK = tensor([1, 0, 1, 1, 0, 0, 1, 0], [B, T]);

describe('finite differences, pure-TS layers', () => {
  beforeAll(async () => {
    await init();
  });

  it.each(['linear', 'tanh', 'sigmoid', 'hardSigmoid', 'hardSigmoidKeras3', 'relu', 'softmax'] as const)("activation '%s'", (act) => {
    const x = awayFrom(B * T * F, 1, -4, 4, [0, -2.5, 2.5, -3, 3]);
    checkInputs(layers.activation({ activation: act }), [x], [[B, T, F]], [null]);
  });

  it('dropout (rate 0.4, mask fixed by setSeed) and noiseShape [null, 1, null]', () => {
    checkInputs(layers.dropout({ rate: 0.4 }), [uniform(rng(2), B * T * F, -1, 1)], [[B, T, F]], [null], 1234);
    checkInputs(layers.dropout({ rate: 0.4, noiseShape: [null, 1, null] }), [uniform(rng(3), B * T * F, -1, 1)], [[B, T, F]], [null], 77);
  });

  it('spatialDropout1d (rate 0.5)', () => {
    checkInputs(layers.spatialDropout1d({ rate: 0.5 }), [uniform(rng(4), B * T * F, -1, 1)], [[B, T, F]], [null], 5);
  });

  it('flatten and repeatVector', () => {
    checkInputs(layers.flatten(), [uniform(rng(5), B * T * F, -1, 1)], [[B, T, F]], [null]);
    checkInputs(layers.repeatVector({ n: 3 }), [uniform(rng(6), B * F, -1, 1)], [[B, F]], [null]);
  });

  it('masking: valid entries by fd, masked steps get exactly 0', () => {
    const x = uniform(rng(7), B * T * F, -1, 1);
    const maskedSteps = [1, 4, 5, 7];
    for (const s of maskedSteps) x.fill(0, s * F, (s + 1) * F);
    checkInputs(layers.masking(), [x], [[B, T, F]], [null], undefined, (_k, i) => maskedSteps.includes(Math.floor(i / F)));
  });

  it('globalAveragePooling1d without and with a mask', () => {
    checkInputs(layers.globalAveragePooling1d(), [uniform(rng(8), B * T * F, -1, 1)], [[B, T, F]], [null]);
    checkInputs(layers.globalAveragePooling1d(), [uniform(rng(9), B * T * F, -1, 1)], [[B, T, F]], [MASK]);
  });

  it('globalMaxPooling1d (distinct values, gaps ≥ 0.1)', () => {
    // A shuffled ladder: every value distinct and 0.1 apart, so ±ε never changes the argmax.
    const n = B * T * F;
    const x = Float32Array.from({ length: n }, (_, i) => (i * 0.1) - 1);
    const r = rng(10);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [x[i], x[j]] = [x[j], x[i]];
    }
    checkInputs(layers.globalMaxPooling1d(), [x], [[B, T, F]], [null]);
  });

  it('concatenate on axis -1 and axis 1, add of three inputs', () => {
    checkInputs(layers.concatenate(), [uniform(rng(11), B * T * 2, -1, 1), uniform(rng(12), B * T * F, -1, 1)], [[B, T, 2], [B, T, F]], [null, null]);
    checkInputs(layers.concatenate({ axis: 1 }), [uniform(rng(13), B * 1 * F, -1, 1), uniform(rng(14), B * T * F, -1, 1)], [[B, 1, F], [B, T, F]], [null, null]);
    const xs = [15, 16, 17].map((s) => uniform(rng(s), B * T * F, -1, 1));
    checkInputs(layers.add(), xs, [[B, T, F], [B, T, F], [B, T, F]], [null, null, null]);
  });
});

describe.each(BACKENDS)('finite differences, embedding (wasm kernel), backend %s', (backend) => {
  beforeAll(async () => {
    await init({ backend });
  });

  it('d/dembeddings with repeated ids; gradients accumulate across calls', () => {
    const V = 5;
    const E = 3;
    const ids = tensor([[1, 3, 1, 0], [4, 1, 3, 3]], undefined, 'int32');
    const layer = layers.embedding({ inputDim: V, outputDim: E });
    layer.build([2, 4]);
    const w = uniform(rng(20), V * E, -1, 1);
    layer.setWeights([new Tensor(w, [V, E])]);
    const R = uniform(rng(21), 2 * 4 * E, -1, 1);
    const loss = () => dot(R, (layer.apply(ids) as Tensor).data);
    layer.apply(ids, { training: true });
    const { dInput, grads } = layer.backward(new Tensor(R, [2, 4, E]));
    expect(dInput).toBeNull();
    const an = grads[0].data;
    const bad: string[] = [];
    for (let i = 0; i < w.length; i++) {
      const v = w[i];
      w[i] = v + EPS;
      const up = w[i];
      layer.setWeights([new Tensor(w, [V, E])]);
      const lp = loss();
      w[i] = v - EPS;
      const down = w[i];
      layer.setWeights([new Tensor(w, [V, E])]);
      const lm = loss();
      w[i] = v;
      layer.setWeights([new Tensor(w, [V, E])]);
      const fd = (lp - lm) / (up - down);
      if (!(Math.abs(fd - an[i]) <= ATOL + RTOL * Math.abs(an[i]))) bad.push(`embeddings[${i}]: fd ${fd} vs ${an[i]}`);
    }
    expect(bad, bad.join('\n')).toEqual([]);
    // Row 2 is never looked up: exactly zero.
    expect(Array.from(an.slice(2 * E, 3 * E))).toEqual([0, 0, 0]);
    // backwardNode accumulates (the trainer zeroes): a second pass doubles the gradient.
    layer.apply(ids, { training: true });
    const out = layer.backwardNode([new Tensor(R, [2, 4, E])], ctxOf([null]), { inputs: [ids], outputs: [] });
    expect(out).toEqual([null]);
    const twice = layer.getGradients()[0].data;
    for (let i = 0; i < an.length; i++) expect(twice[i]).toBeCloseTo(2 * an[i], 6);
    layer.dispose();
  });
});
