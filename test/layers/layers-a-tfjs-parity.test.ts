/**
 * Forward parity of the part A layers with tfjs-layers 4.22 (pure-JS `cpu` backend, in this
 * file), on the same weights and inputs. The snippet, per layer:
 *
 *   await tf.setBackend('cpu');
 *   const ref = tf.layers.<name>(<same args>);            // e.g. tf.layers.embedding({inputDim, outputDim})
 *   ref.apply(x0); ref.setWeights(ours.getWeights());     // layers with weights
 *   const want = ref.apply(tf.tensor(x)).dataSync();      // inference mode
 *   const mask = ref.computeMask(tf.tensor(x));           // Embedding(maskZero) and Masking
 *
 * Only inference is compared here (tfjs draws its own dropout masks; dropout is checked by
 * statistics in layers-a.test.ts). Masks of merge/pooling layers are NOT compared with tfjs: tfjs
 * differs from Keras 3 there (see layers-a.test.ts, which pins Keras 3 semantics).
 * Tolerance: f32 on both sides; exact for copies, 1e-6 for transcendental activations.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Layer, Tensor, init, layers } from '../../ts/src/index.ts';
import { BACKENDS, expectClose, rng, uniform } from './util/numeric.ts';

const TOL = { atol: 1e-6, rtol: 1e-6 };

function ours(layer: Layer, xs: Tensor[], mask?: (Tensor | null)[]): Float32Array {
  return (layer.apply(xs.length === 1 ? xs[0] : xs, { mask }) as Tensor).data as Float32Array;
}

function theirs(layer: tf.layers.Layer, xs: tf.Tensor[]): Float32Array {
  return (layer.apply(xs.length === 1 ? xs[0] : xs) as tf.Tensor).dataSync() as Float32Array;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe.each(BACKENDS)('tfjs-layers parity, backend %s', (backend) => {
  beforeAll(async () => {
    await init({ backend });
  });

  it('embedding: lookup with the same table, int32 and integer-valued float ids, maskZero mask', () => {
    const V = 11;
    const E = 7;
    const ids = Int32Array.from({ length: 3 * 5 }, (_, i) => (i * 7 + 3) % V);
    ids[4] = 0;
    ids[9] = 0;
    const layer = layers.embedding({ inputDim: V, outputDim: E, maskZero: true });
    layer.build([3, 5]);
    const ref = tf.layers.embedding({ inputDim: V, outputDim: E, maskZero: true });
    ref.apply(tf.zeros([3, 5], 'int32'));
    ref.setWeights(layer.getWeights().map((w) => tf.tensor(w.data as Float32Array, [...w.shape])));
    const x = tf.tensor(ids, [3, 5], 'int32');
    const want = theirs(ref, [x]);
    expectClose('embedding int32', ours(layer, [new Tensor(ids, [3, 5])]), want, { atol: 0, rtol: 0 });
    expectClose('embedding float ids', ours(layer, [new Tensor(Float32Array.from(ids), [3, 5])]), want, { atol: 0, rtol: 0 });
    const m = layer.computeMask(new Tensor(ids, [3, 5]), null)!;
    expect(Array.from(m.data)).toEqual(Array.from((ref.computeMask(x) as tf.Tensor).dataSync()).map(Number));
    layer.dispose();
  });
});

describe('tfjs-layers parity, pure-TS layers', () => {
  beforeAll(async () => {
    await init();
  });
  const B = 3;
  const T = 5;
  const F = 4;
  const x = uniform(rng(1), B * T * F, -3, 3);
  const shape = [B, T, F];

  it.each(['linear', 'tanh', 'sigmoid', 'hardSigmoid', 'relu', 'softmax'] as const)("activation '%s'", (act) => {
    expectClose(act, ours(layers.activation({ activation: act }), [new Tensor(x, shape)]), theirs(tf.layers.activation({ activation: act }), [tf.tensor(x, shape)]), TOL);
  });

  it('dropout and spatialDropout1d at inference are the identity, as tfjs', () => {
    expectClose('dropout', ours(layers.dropout({ rate: 0.5 }), [new Tensor(x, shape)]), theirs(tf.layers.dropout({ rate: 0.5 }), [tf.tensor(x, shape)]), { atol: 0, rtol: 0 });
    expectClose('spatialDropout1d', ours(layers.spatialDropout1d({ rate: 0.5 }), [new Tensor(x, shape)]), theirs(tf.layers.spatialDropout1d({ rate: 0.5 }), [tf.tensor(x, shape)]), { atol: 0, rtol: 0 });
  });

  it('flatten, repeatVector', () => {
    expectClose('flatten', ours(layers.flatten(), [new Tensor(x, shape)]), theirs(tf.layers.flatten(), [tf.tensor(x, shape)]), { atol: 0, rtol: 0 });
    const x2 = x.slice(0, B * F);
    expectClose('repeatVector', ours(layers.repeatVector({ n: 4 }), [new Tensor(x2, [B, F])]), theirs(tf.layers.repeatVector({ n: 4 }), [tf.tensor(x2, [B, F])]), { atol: 0, rtol: 0 });
  });

  it('masking: output and mask (maskValue 0 and 1.5)', () => {
    for (const mv of [0, 1.5]) {
      const xm = x.slice();
      for (const s of [1, 6, 7, 14]) xm.fill(mv, s * F, (s + 1) * F);
      const layer = layers.masking({ maskValue: mv });
      const ref = tf.layers.masking({ maskValue: mv });
      const xt = tf.tensor(xm, shape);
      expectClose(`masking ${mv}`, ours(layer, [new Tensor(xm, shape)]), theirs(ref, [xt]), { atol: 0, rtol: 0 });
      const m = layer.computeMask(new Tensor(xm, shape), null);
      expect(Array.from(m.data)).toEqual(Array.from((ref.computeMask(xt) as tf.Tensor).dataSync()).map(Number));
    }
  });

  it('globalAveragePooling1d and globalMaxPooling1d without a mask', () => {
    expectClose('gap', ours(layers.globalAveragePooling1d(), [new Tensor(x, shape)]), theirs(tf.layers.globalAveragePooling1d(), [tf.tensor(x, shape)]), TOL);
    expectClose('gmp', ours(layers.globalMaxPooling1d(), [new Tensor(x, shape)]), theirs(tf.layers.globalMaxPooling1d(), [tf.tensor(x, shape)]), { atol: 0, rtol: 0 });
  });

  it('concatenate (axis -1 and 1) and add', () => {
    const a = uniform(rng(2), B * T * 2, -1, 1);
    const c = uniform(rng(3), B * 2 * F, -1, 1);
    expectClose(
      'concat -1',
      ours(layers.concatenate(), [new Tensor(x, shape), new Tensor(a, [B, T, 2])]),
      theirs(tf.layers.concatenate(), [tf.tensor(x, shape), tf.tensor(a, [B, T, 2])]),
      { atol: 0, rtol: 0 },
    );
    expectClose(
      'concat 1',
      ours(layers.concatenate({ axis: 1 }), [new Tensor(x, shape), new Tensor(c, [B, 2, F])]),
      theirs(tf.layers.concatenate({ axis: 1 }), [tf.tensor(x, shape), tf.tensor(c, [B, 2, F])]),
      { atol: 0, rtol: 0 },
    );
    const y = uniform(rng(4), B * T * F, -1, 1);
    const z = uniform(rng(5), B * T * F, -1, 1);
    expectClose(
      'add',
      ours(layers.add(), [new Tensor(x, shape), new Tensor(y, shape), new Tensor(z, shape)]),
      theirs(tf.layers.add(), [tf.tensor(x, shape), tf.tensor(y, shape), tf.tensor(z, shape)]),
      TOL,
    );
  });
});

