/**
 * BatchNormalization and LayerNormalization, checked three ways:
 *
 * 1. Forward parity with tfjs-layers 4.22 (cpu backend) on identical weights. The snippet:
 *      const l = tf.layers.batchNormalization({momentum: 0.9});   // or layerNormalization({})
 *      l.apply(tf.zeros(shape)); l.setWeights([gamma, beta, movingMean, movingVariance]);
 *      y = l.apply(x, {training});            // three training calls, then l.getWeights()
 *    tfjs updates the moving statistics as `moving − (moving − batch)·(1 − momentum)` with the
 *    biased batch variance: the same numbers as Keras 3's `moving·momentum + batch·(1 − momentum)`.
 * 2. The Keras 3 formulas typed in here (keras/src/layers/normalization/batch_normalization.py):
 *    moving statistics after several training calls; with a mask, μ = Σ w x / (Σ w + 1e-7) and
 *    σ² = Σ w (x − μ)² / (Σ w + 1e-7) over the valid rows only (tfjs ignores masks here, so this
 *    part has no tfjs reference); a frozen layer (trainable: false) normalizes with the moving
 *    statistics even in training and does not update them.
 * 3. Finite differences of every backward through the public API (util/fd.ts), with batch
 *    statistics (the full formula), masks, scale/center off, and the frozen (constant-statistics) case.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchNormalization, LayerNormalization, Tensor, init, layers } from '../../ts/src/index.ts';
import { BACKENDS, expectClose, rng, uniform } from './util/numeric.ts';
import { checkLayerGradients } from './util/fd.ts';

const FWD = { atol: 2e-6, rtol: 2e-5 };

beforeAll(async () => {
  await tf.setBackend('cpu');
});

afterAll(() => {
  tf.disposeVariables();
});

/** gamma, beta, movingMean, movingVariance for C features. */
function bnWeights(r: () => number, c: number): Float32Array[] {
  return [uniform(r, c, 0.5, 1.5), uniform(r, c, -0.5, 0.5), uniform(r, c, -0.3, 0.3), uniform(r, c, 0.5, 1.5)];
}

/** Keras 3 masked moments in float64 (rows of C). */
function kerasMoments(x: Float32Array, mask: ArrayLike<number> | null, c: number): [number[], number[]] {
  const n = x.length / c;
  const w = (r: number) => (mask ? (mask[r] !== 0 ? 1 : 0) : 1);
  let sw = 0;
  for (let r = 0; r < n; r++) sw += w(r);
  const denom = mask ? sw + 1e-7 : n;
  const mean = Array.from({ length: c }, (_, j) => {
    let s = 0;
    for (let r = 0; r < n; r++) s += w(r) * x[r * c + j];
    return s / denom;
  });
  const v = Array.from({ length: c }, (_, j) => {
    let s = 0;
    for (let r = 0; r < n; r++) s += w(r) * (x[r * c + j] - mean[j]) ** 2;
    return s / denom;
  });
  return [mean, v];
}

describe.each(BACKENDS)('normalization layers, backend %s', (backend) => {
  beforeAll(async () => {
    await init({ backend });
  });

  describe('tfjs parity (forward, moving statistics)', () => {
    it.each([
      ['(batch, features)', [6, 5]],
      ['(batch, time, features)', [3, 4, 5]],
    ] as const)('batchNormalization %s: inference, training, and moving statistics after 3 training calls', (_n, shape) => {
      const r = rng(11);
      const c = shape[shape.length - 1];
      const w = bnWeights(r, c);
      const ours = layers.batchNormalization({ momentum: 0.9 });
      const theirs = tf.layers.batchNormalization({ momentum: 0.9 });
      const size = shape.reduce((a, b) => a * b, 1);
      ours.apply(new Tensor(new Float32Array(size), [...shape]));
      tf.tidy(() => {
        theirs.apply(tf.zeros([...shape]));
      });
      ours.setWeights(w);
      theirs.setWeights(w.map((v) => tf.tensor1d(v)));
      expect(ours.weights.map((v) => v.name.split('/')[1])).toEqual(['gamma', 'beta', 'movingMean', 'movingVariance']);
      expect(ours.weights.map((v) => v.trainable)).toEqual([true, true, false, false]);
      for (const training of [false, true, true, true, false]) {
        const x = uniform(r, size, -1, 2);
        const y = ours.apply(new Tensor(x, [...shape]), { training }) as Tensor;
        const ref = tf.tidy(() => (theirs.apply(tf.tensor(x, [...shape]), { training }) as tf.Tensor).dataSync());
        expectClose(`y (training ${training})`, y.data, ref, FWD);
      }
      const tw = theirs.getWeights().map((t) => t.dataSync());
      ours.getWeights().forEach((t, i) => expectClose(`weight ${i}`, t.data, tw[i], { atol: 1e-6, rtol: 1e-6 }));
      ours.dispose();
      theirs.dispose();
    });

    it.each([
      ['(batch, features)', [6, 5]],
      ['(batch, time, features)', [3, 4, 7]],
    ] as const)('layerNormalization %s', (_n, shape) => {
      const r = rng(12);
      const c = shape[shape.length - 1];
      const size = shape.reduce((a, b) => a * b, 1);
      const w = [uniform(r, c, 0.5, 1.5), uniform(r, c, -0.5, 0.5)];
      const ours = layers.layerNormalization({});
      const theirs = tf.layers.layerNormalization({});
      ours.apply(new Tensor(new Float32Array(size), [...shape]));
      tf.tidy(() => {
        theirs.apply(tf.zeros([...shape]));
      });
      ours.setWeights(w);
      theirs.setWeights(w.map((v) => tf.tensor1d(v)));
      const x = uniform(r, size, -2, 3);
      const y = ours.apply(new Tensor(x, [...shape]), { training: true }) as Tensor;
      const ref = tf.tidy(() => (theirs.apply(tf.tensor(x, [...shape])) as tf.Tensor).dataSync());
      expectClose('y', y.data, ref, FWD);
      expect(ours.getConfig().epsilon).toBe(1e-3);
      expect((theirs.getConfig() as { epsilon: number }).epsilon).toBe(1e-3);
      ours.dispose();
      theirs.dispose();
    });
  });

  describe('Keras 3 formulas', () => {
    it('moving statistics follow moving·momentum + batch·(1 − momentum) (f32) over several training calls', () => {
      const r = rng(21);
      const [b, t, c] = [4, 3, 5];
      const layer = layers.batchNormalization({ momentum: 0.8 });
      layer.apply(new Tensor(new Float32Array(b * t * c), [b, t, c]));
      let mm = Array.from({ length: c }, () => 0);
      let mv = Array.from({ length: c }, () => 1);
      const m = Math.fround(0.8);
      const rest = Math.fround(1 - m);
      for (let step = 0; step < 4; step++) {
        const x = uniform(r, b * t * c, -1, 3);
        layer.apply(new Tensor(x, [b, t, c]), { training: true });
        const [mean, v] = kerasMoments(x, null, c);
        mm = mm.map((p, j) => Math.fround(Math.fround(p * m) + Math.fround(Math.fround(mean[j]) * rest)));
        mv = mv.map((p, j) => Math.fround(Math.fround(p * m) + Math.fround(Math.fround(v[j]) * rest)));
      }
      const w = layer.getWeights();
      expectClose('movingMean', w[2].data, mm, { atol: 1e-6, rtol: 1e-6 });
      expectClose('movingVariance', w[3].data, mv, { atol: 1e-6, rtol: 1e-6 });
      // Inference uses them.
      const x = uniform(r, b * t * c, -1, 1);
      const y = layer.apply(new Tensor(x, [b, t, c])) as Tensor;
      const want = Array.from(x, (v, i) => (v - mm[i % c]) / Math.sqrt(mv[i % c] + 1e-3));
      expectClose('inference y', y.data, want, { atol: 1e-5, rtol: 1e-5 });
      layer.dispose();
    });

    it('a mask leaves masked steps out of the batch statistics (Σ w + 1e-7), but they are still normalized and the mask passes on', () => {
      const r = rng(22);
      const [b, t, c] = [3, 4, 2];
      const x = uniform(r, b * t * c, -1, 2);
      const maskData = Float32Array.from([1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1]);
      // Poison the masked steps: they must not reach the statistics.
      for (let i = 0; i < b * t; i++) if (maskData[i] === 0) x.fill(50, i * c, (i + 1) * c);
      const mask = new Tensor(maskData, [b, t]);
      const layer = layers.batchNormalization({ momentum: 0 });
      const y = layer.apply(new Tensor(x, [b, t, c]), { training: true, mask }) as Tensor;
      const [mean, v] = kerasMoments(x, maskData, c);
      const w = layer.getWeights();
      expectClose('batch mean (momentum 0)', w[2].data, mean, { atol: 1e-6, rtol: 1e-6 });
      expectClose('batch variance (momentum 0)', w[3].data, v, { atol: 1e-6, rtol: 1e-6 });
      const want = Array.from(x, (xv, i) => (xv - mean[i % c]) / Math.sqrt(v[i % c] + 1e-3));
      expectClose('y (masked steps normalized too)', y.data, want, { atol: 2e-5, rtol: 2e-5 });
      const out = layer.maskNode([new Tensor(x, [b, t, c])], { training: true, masks: [mask], node: 0, kwargs: {} }, 1);
      expect(out[0]).toBe(mask);
      layer.dispose();
    });

    it('trainable: false runs in inference mode even when training, and keeps the moving statistics', () => {
      const r = rng(23);
      const layer = layers.batchNormalization({ trainable: false });
      const x = uniform(r, 6 * 3, -1, 2);
      const yTrain = layer.apply(new Tensor(x, [6, 3]), { training: true }) as Tensor;
      const yInf = layer.apply(new Tensor(x, [6, 3])) as Tensor;
      expect(Array.from(yTrain.data)).toEqual(Array.from(yInf.data));
      expect(Array.from(layer.getWeights()[2].data)).toEqual([0, 0, 0]);
      expect(layer.trainableWeights).toEqual([]);
      layer.dispose();
    });
  });

  describe('finite differences through the public API', () => {
    type Case = { name: string; make: () => BatchNormalization | LayerNormalization; shape: number[]; mask?: number[]; frozen?: boolean };
    const cases: Case[] = [
      { name: 'batchNormalization (batch, features)', make: () => layers.batchNormalization({}), shape: [6, 3] },
      { name: 'batchNormalization (batch, time, features)', make: () => layers.batchNormalization({}), shape: [2, 3, 3] },
      { name: 'batchNormalization with a mask', make: () => layers.batchNormalization({}), shape: [2, 4, 3], mask: [1, 1, 0, 1, 0, 1, 1, 0] },
      { name: 'batchNormalization, center and scale off', make: () => layers.batchNormalization({ center: false, scale: false }), shape: [5, 2] },
      { name: 'batchNormalization frozen (moving statistics are constants)', make: () => layers.batchNormalization({ trainable: false }), shape: [4, 3], frozen: true },
      { name: 'layerNormalization (batch, features)', make: () => layers.layerNormalization({}), shape: [3, 5] },
      { name: 'layerNormalization (batch, time, features)', make: () => layers.layerNormalization({}), shape: [2, 3, 4] },
      { name: 'layerNormalization, center and scale off', make: () => layers.layerNormalization({ center: false, scale: false }), shape: [3, 4] },
    ];
    it.each(cases.map((c) => [c.name, c] as const))('%s', (_n, k) => {
      const r = rng(31);
      const layer = k.make();
      const size = k.shape.reduce((a, b) => a * b, 1);
      const x = new Tensor(uniform(r, size, -1, 1), k.shape);
      layer.apply(x);
      const c = k.shape[k.shape.length - 1];
      const n = layer.getWeights().length;
      if (layer instanceof BatchNormalization && n > 2) layer.setWeights(bnWeights(r, c));
      else if (n === 2) layer.setWeights([uniform(r, c, 0.5, 1.5), uniform(r, c, -0.5, 0.5)]);
      const mask = k.mask ? new Tensor(Float32Array.from(k.mask), k.shape.slice(0, -1)) : null;
      checkLayerGradients(k.name, layer, [x], [mask], (ins) => [layer.apply(ins[0], { training: true, mask }) as Tensor]);
      layer.dispose();
    });

    it('backward accumulates weight gradients (the trainer zeroes them once per step)', () => {
      const r = rng(32);
      const layer = layers.batchNormalization({});
      const x = new Tensor(uniform(r, 12, -1, 1), [4, 3]);
      const d = new Tensor(uniform(r, 12, -1, 1), [4, 3]);
      layer.apply(x, { training: true });
      const once = layer.backward(d).grads.map((g) => Array.from(g.data));
      const twice = layer.backward(d, { accumulate: true }).grads.map((g) => Array.from(g.data));
      twice.slice(0, 2).forEach((g, i) => g.forEach((v, j) => expect(v).toBeCloseTo(2 * once[i][j], 5)));
      layer.dispose();
    });
  });

  it('getConfig / fromConfig round trip', () => {
    const bn = layers.batchNormalization({ momentum: 0.9, epsilon: 1e-4, center: false, gammaInitializer: 'glorotUniform', gammaRegularizer: 'l2' });
    const bn2 = BatchNormalization.fromConfig(bn.getConfig());
    expect(bn2.getConfig()).toEqual(bn.getConfig());
    const ln = layers.layerNormalization({ epsilon: 1e-5, scale: false, name: 'ln_x' });
    const ln2 = LayerNormalization.fromConfig(ln.getConfig());
    expect(ln2.getConfig()).toEqual(ln.getConfig());
    expect(ln.getConfig()).toMatchObject({ axis: -1, epsilon: 1e-5, center: true, scale: false, rmsScaling: false });
  });

  it('only the last axis is supported, with a clear error', () => {
    const bn = layers.batchNormalization({ axis: 1 });
    expect(() => bn.apply(new Tensor(new Float32Array(24), [2, 3, 4]))).toThrow(/only the last axis/);
    expect(() => layers.layerNormalization({ rmsScaling: true })).toThrow(/rmsScaling/);
  });
});
