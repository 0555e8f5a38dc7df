/**
 * Part A layers: mask behaviour as Keras 3 (each case cites its Keras file), dropout statistics,
 * Embedding's IndexError, output shapes, getConfig/fromConfig round trips.
 *
 * Keras 3 sources (keras-team/keras, keras/src/layers/):
 * - core/embedding.py: `supports_masking = mask_zero`; `compute_mask` = not_equal(inputs, 0).
 * - core/masking.py: mask = any(x != mask_value, axis=-1); output = x * mask.
 * - pooling/global_average_pooling1d.py: supports_masking; sum(where(mask, x, 0)) / sum(mask);
 *   compute_mask → None.
 * - pooling/global_max_pooling1d.py: `call(inputs)` has no mask, supports_masking stays False:
 *   max over all steps, and layer.py drops the mask (with a warning).
 * - merging/concatenate.py: masks broadcast to each input, concatenated on `axis`, any(axis=-1);
 *   None when every mask is None; an unmasked input counts as all True.
 * - merging/base_merge.py (Add): None if any mask is None, else logical_or.
 * - regularization/dropout.py, spatial_dropout.py: supports_masking (inherited); inverted dropout;
 *   SpatialDropout1D noise shape (batch, 1, channels).
 * - activations/activation.py: supports_masking. reshaping/flatten.py, repeat_vector.py: no masking.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ActivationLayer,
  Add,
  Concatenate,
  Dropout,
  Embedding,
  Flatten,
  GlobalAveragePooling1D,
  GlobalMaxPooling1D,
  IndexError,
  Layer,
  Masking,
  RepeatVector,
  SpatialDropout1D,
  Tensor,
  ValueError,
  init,
  layers,
  tensor,
} from '../../ts/src/index.ts';
import type { NodeContext } from '../../ts/src/layers/Layer.ts';
import { setSeed } from '../../ts/src/random.ts';
import { rng, uniform } from './util/numeric.ts';

beforeAll(async () => {
  await init();
});

const ctx = (masks: (Tensor | null)[]): NodeContext => ({ training: false, masks, node: 0, kwargs: {} });
const arr = (t: Tensor | null) => (t ? Array.from(t.data) : null);

describe('masks as Keras 3', () => {
  it('embedding maskZero: mask = ids ≠ 0, flows out through maskNode; no maskZero: no mask', () => {
    const ids = tensor([[3, 0, 1], [0, 0, 2]], undefined, 'int32');
    const e = layers.embedding({ inputDim: 4, outputDim: 2, maskZero: true });
    e.apply(ids);
    expect(e.supportsMasking).toBe(true);
    expect(arr(e.maskNode([ids], ctx([null]), 1)[0])).toEqual([1, 0, 1, 0, 0, 1]);
    expect(e.maskNode([ids], ctx([null]), 1)[0]!.shape).toEqual([2, 3]);
    const plain = layers.embedding({ inputDim: 4, outputDim: 2 });
    expect(plain.supportsMasking).toBe(false);
    expect(plain.maskNode([ids], ctx([null]), 1)).toEqual([null]);
  });

  it('masking: any feature ≠ maskValue; masked steps zeroed', () => {
    const x = tensor([[[1, 2], [5, 5], [0, 5]]]);
    const m = layers.masking({ maskValue: 5 });
    expect(arr(m.apply(x) as Tensor)).toEqual([1, 2, 0, 0, 0, 5]);
    expect(arr(m.maskNode([x], ctx([null]), 1)[0])).toEqual([1, 0, 1]);
  });

  it('globalAveragePooling1d: masked steps excluded, mask consumed, all-masked row is NaN (0/0) as Keras', () => {
    const x = tensor([[[1, 10], [3, 30], [100, 100]], [[1, 1], [2, 2], [3, 3]]]);
    const mask = tensor([[1, 1, 0], [0, 0, 0]]);
    const g = layers.globalAveragePooling1d();
    const y = g.apply(x, { mask }) as Tensor;
    expect(Array.from(y.data.slice(0, 2))).toEqual([2, 20]);
    expect(Array.from(y.data.slice(2)).every(Number.isNaN)).toBe(true);
    expect(arr(g.apply(x) as Tensor)).toEqual([104 / 3, 140 / 3, 2, 2].map(Math.fround));
    expect(g.supportsMasking).toBe(true);
    expect(g.maskNode([x], ctx([mask]), 1)).toEqual([null]);
  });

  it('globalMaxPooling1d ignores the mask (padding included) and drops it, as Keras 3', () => {
    const x = tensor([[[1, -5], [3, -7], [100, -1]]]);
    const g = layers.globalMaxPooling1d();
    expect(arr(g.apply(x, { mask: tensor([[1, 1, 0]]) }) as Tensor)).toEqual([100, -1]);
    expect(g.supportsMasking).toBe(false);
    expect(g.maskNode([x], ctx([tensor([[1, 1, 0]])]), 1)).toEqual([null]);
  });

  it('concatenate: none → none; feature axis: OR, an unmasked input makes every step valid; time axis: end to end', () => {
    const a = new Tensor(new Float32Array(1 * 3 * 2), [1, 3, 2]);
    const b = new Tensor(new Float32Array(1 * 3 * 1), [1, 3, 1]);
    const ma = tensor([[1, 0, 0]]);
    const mb = tensor([[0, 1, 0]]);
    const c = layers.concatenate();
    expect(c.maskNode([a, b], ctx([null, null]), 1)).toEqual([null]);
    expect(arr(c.maskNode([a, b], ctx([ma, mb]), 1)[0])).toEqual([1, 1, 0]);
    expect(arr(c.maskNode([a, b], ctx([ma, null]), 1)[0])).toEqual([1, 1, 1]);
    const t = layers.concatenate({ axis: 1 });
    const a2 = new Tensor(new Float32Array(1 * 3 * 2), [1, 3, 2]);
    const b2 = new Tensor(new Float32Array(1 * 2 * 2), [1, 2, 2]);
    const m = t.maskNode([a2, b2], ctx([ma, null]), 1)[0]!;
    expect(arr(m)).toEqual([1, 0, 0, 1, 1]);
    expect(m.shape).toEqual([1, 5]);
  });

  it('add: any unmasked input → none; else OR', () => {
    const a = new Tensor(new Float32Array(3 * 2), [1, 3, 2]);
    const add = layers.add();
    expect(add.maskNode([a, a], ctx([tensor([[1, 0, 0]]), null]), 1)).toEqual([null]);
    expect(arr(add.maskNode([a, a], ctx([tensor([[1, 0, 0]]), tensor([[0, 0, 1]])]), 1)[0])).toEqual([1, 0, 1]);
  });

  it('dropout, spatialDropout1d, activation pass the mask; flatten and repeatVector drop it', () => {
    const x = new Tensor(new Float32Array(6), [1, 3, 2]);
    const m = tensor([[1, 0, 1]]);
    for (const l of [layers.dropout({ rate: 0.5 }), layers.spatialDropout1d({ rate: 0.5 }), layers.activation({ activation: 'relu' })]) {
      expect(l.maskNode([x], ctx([m]), 1)[0]).toBe(m);
    }
    expect(layers.flatten().maskNode([x], ctx([m]), 1)).toEqual([null]);
    expect(layers.repeatVector({ n: 2 }).maskNode([new Tensor(new Float32Array(2), [1, 2])], ctx([m]), 1)).toEqual([null]);
  });
});

describe('dropout statistics', () => {
  const N = 200_000;
  const x = new Tensor(new Float32Array(N).fill(2), [100, 2000]);

  it('drops ≈ rate (5 standard errors), scales kept values by 1/(1 − rate), inactive at inference', () => {
    for (const rate of [0.1, 0.3, 0.75]) {
      const d = layers.dropout({ rate });
      const y = (d.apply(x, { training: true }) as Tensor).data;
      const kept = Math.fround(2 * Math.fround(1 / (1 - rate)));
      let zeros = 0;
      let other = 0;
      for (const v of y) {
        if (v === 0) zeros++;
        else if (v !== kept) other++;
      }
      expect(other).toBe(0);
      expect(Math.abs(zeros / N - rate)).toBeLessThan(5 * Math.sqrt((rate * (1 - rate)) / N));
      expect(Array.from((d.apply(x) as Tensor).data.slice(0, 5))).toEqual([2, 2, 2, 2, 2]);
      expect(arr(d.apply(x, { training: false }) as Tensor)!.every((v) => v === 2)).toBe(true);
    }
  });

  it('rate 0 is the identity and rate 1 drops everything', () => {
    expect(arr(layers.dropout({ rate: 0 }).apply(x, { training: true }) as Tensor)!.every((v) => v === 2)).toBe(true);
    expect(arr(layers.dropout({ rate: 1 }).apply(x, { training: true }) as Tensor)!.every((v) => v === 0)).toBe(true);
    expect(() => layers.dropout({ rate: 1.5 })).toThrow(ValueError);
  });

  it('reproducible under setSeed; a layer seed gives its own reproducible stream', () => {
    const d = layers.dropout({ rate: 0.5 });
    setSeed(42);
    const a = arr(d.apply(x, { training: true }) as Tensor);
    const a2 = arr(d.apply(x, { training: true }) as Tensor);
    setSeed(42);
    expect(arr(d.apply(x, { training: true }) as Tensor)).toEqual(a);
    expect(a2).not.toEqual(a);
    const s1 = arr(layers.dropout({ rate: 0.5, seed: 7 }).apply(x, { training: true }) as Tensor);
    setSeed(1);
    expect(arr(layers.dropout({ rate: 0.5, seed: 7 }).apply(x, { training: true }) as Tensor)).toEqual(s1);
  });

  it('noiseShape [null, 1, null] and spatialDropout1d share one mask per (batch, channel) over time', () => {
    const x3 = new Tensor(uniform(rng(3), 8 * 50 * 6, 1, 2), [8, 50, 6]);
    for (const l of [layers.dropout({ rate: 0.5, noiseShape: [null, 1, null] }), layers.spatialDropout1d({ rate: 0.5 })]) {
      const y = (l.apply(x3, { training: true }) as Tensor).data;
      let dropped = 0;
      for (let b = 0; b < 8; b++) {
        for (let c = 0; c < 6; c++) {
          const z = y[(b * 50) * 6 + c] === 0;
          if (z) dropped++;
          for (let t = 0; t < 50; t++) expect(y[(b * 50 + t) * 6 + c] === 0).toBe(z);
        }
      }
      expect(dropped).toBeGreaterThan(5);
      expect(dropped).toBeLessThan(43);
    }
    expect(() => layers.dropout({ rate: 0.5, noiseShape: [null, 3, null] }).apply(x3, { training: true })).toThrow(/does not broadcast/);
    expect(() => layers.spatialDropout1d({ rate: 0.5 }).apply(new Tensor(new Float32Array(4), [2, 2]))).toThrow(/\(batch, time, channels\)/);
  });

  it('an inference call leaves the training cache of its node intact', () => {
    const d = layers.dropout({ rate: 0.5 });
    const y = d.apply(x, { training: true }) as Tensor;
    d.apply(x);
    const c: NodeContext = { training: true, masks: [null], node: 0, kwargs: {} };
    const [dx] = d.backwardNode([new Tensor(new Float32Array(N).fill(1), x.shape)], c, { inputs: [x], outputs: [y] });
    for (let i = 0; i < 1000; i++) expect(dx!.data[i] * 2).toBe(y.data[i]);
  });
});

describe('embedding', () => {
  it('out-of-range ids: IndexError naming the id, its position and the valid range', () => {
    const e = layers.embedding({ inputDim: 10, outputDim: 3 });
    const bad = (ids: number[][], dtype: 'int32' | 'float32' = 'int32') => () => e.apply(tensor(ids, undefined, dtype));
    expect(bad([[1, 2, 3], [4, 5, 10]])).toThrow(IndexError);
    expect(bad([[1, 2, 3], [4, 5, 10]])).toThrow(/id 10 at position \[1, 2\] of input \(2, 3\) is outside \[0, 10\)/);
    expect(bad([[-1, 2]])).toThrow(/id -1 at position \[0, 0\]/);
    expect(bad([[1, 2 ** 33]], 'float32')).toThrow(/id 8589934592 at position \[0, 1\]/);
    expect(bad([[1, 2.5]], 'float32')).toThrow(ValueError);
    // The layer still works afterwards.
    expect((e.apply(tensor([[9]], undefined, 'int32')) as Tensor).shape).toEqual([1, 1, 3]);
  });

  it('shapes, dtype, defaults: RandomUniform(-0.05, 0.05), int32 input dtype, inputLength', () => {
    const e = layers.embedding({ inputDim: 1000, outputDim: 8, inputLength: 5 });
    expect(e.computeOutputShape([null, null])).toEqual([null, 5, 8]);
    expect(e.computeOutputDtype(['int32'])).toBe('float32');
    expect(e.inputDtype).toBe('int32');
    e.build([null, 5]);
    const w = e.getWeights()[0];
    expect(w.shape).toEqual([1000, 8]);
    expect(e.weights[0].name).toBe(`${e.name}/embeddings`);
    expect(Math.max(...Array.from(w.data).map(Math.abs))).toBeLessThanOrEqual(0.05);
    expect(e.getConfig().embeddingsInitializer).toMatchObject({ className: 'RandomUniform', config: { minval: -0.05, maxval: 0.05 } });
    expect(() => e.apply(tensor([[1, 2]], undefined, 'int32'))).toThrow(/inputLength 5/);
  });
});

describe('output shapes and getConfig/fromConfig round trips', () => {
  it('computeOutputShape', () => {
    expect(layers.flatten().computeOutputShape([null, 3, 4])).toEqual([null, 12]);
    expect(layers.flatten().computeOutputShape([null, null, 4])).toEqual([null, null]);
    expect(layers.repeatVector({ n: 3 }).computeOutputShape([null, 4])).toEqual([null, 3, 4]);
    expect(layers.globalAveragePooling1d().computeOutputShape([null, 7, 4])).toEqual([null, 4]);
    expect(layers.globalMaxPooling1d().computeOutputShape([2, null, 4])).toEqual([2, 4]);
    expect(layers.concatenate().computeOutputShape([[null, 3, 4], [null, 3, 2]])).toEqual([null, 3, 6]);
    expect(layers.concatenate({ axis: 1 }).computeOutputShape([[null, 3, 4], [null, null, 4]])).toEqual([null, null, 4]);
    expect(layers.add().computeOutputShape([[null, 3, 4], [null, 3, 4]])).toEqual([null, 3, 4]);
    expect(layers.embedding({ inputDim: 3, outputDim: 5 }).computeOutputShape([null, 7])).toEqual([null, 7, 5]);
    expect(() => layers.concatenate().computeOutputShape([[null, 3, 4], [null, 2, 2]])).toThrow(ValueError);
    expect(() => layers.add().computeOutputShape([[null, 3, 4], [null, 3, 2]])).toThrow(ValueError);
  });

  type WithConfig = { new (...a: never[]): Layer; fromConfig(c: Record<string, unknown>): Layer };
  const cases: [string, Layer, WithConfig][] = [
    ['Embedding', new Embedding({ inputDim: 7, outputDim: 3, maskZero: true, inputLength: 4, embeddingsInitializer: 'glorotUniform', embeddingsRegularizer: 'l2', embeddingsConstraint: 'nonNeg' as never }), Embedding as unknown as WithConfig],
    ['Dropout', new Dropout({ rate: 0.3, noiseShape: [null, 1, 5], seed: 9 }), Dropout as unknown as WithConfig],
    ['SpatialDropout1D', new SpatialDropout1D({ rate: 0.2 }), SpatialDropout1D as unknown as WithConfig],
    ['Activation', new ActivationLayer({ activation: 'hardSigmoidKeras3' }), ActivationLayer as unknown as WithConfig],
    ['Flatten', new Flatten(), Flatten as unknown as WithConfig],
    ['RepeatVector', new RepeatVector({ n: 4 }), RepeatVector as unknown as WithConfig],
    ['Masking', new Masking({ maskValue: -1 }), Masking as unknown as WithConfig],
    ['GlobalAveragePooling1D', new GlobalAveragePooling1D(), GlobalAveragePooling1D as unknown as WithConfig],
    ['GlobalMaxPooling1D', new GlobalMaxPooling1D({ trainable: false }), GlobalMaxPooling1D as unknown as WithConfig],
    ['Concatenate', new Concatenate({ axis: 1 }), Concatenate as unknown as WithConfig],
    ['Add', new Add(), Add as unknown as WithConfig],
  ];
  it.each(cases)('%s', (className, layer, cls) => {
    expect(layer.className).toBe(className);
    const c = layer.getConfig();
    const back = cls.fromConfig(JSON.parse(JSON.stringify(c)));
    expect(back.className).toBe(className);
    expect(back.getConfig()).toEqual(c);
  });
});
