/**
 * `fit` options against what they mean in Keras 3: masked sequence losses (a padded batch gives
 * the loss of the unpadded sequences), sampleWeight and classWeight (the loss Keras' formula
 * gives), several outputs with per-output losses and lossWeights (log names as Keras:
 * `loss`, `<output>_loss`, `<output>_<metric>`), datasets (async iterables of batches),
 * validationData, and JS heap that does not grow over a long run.
 */
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { beforeAll, describe, expect, it } from 'vitest';
import { Tensor, ValueError, init, input, layers, lossAndGradient, model, optimizers, regularizers, sequential, setSeed, tensor } from '../../ts/src/index.ts';
import type { SymbolicTensor } from '../../ts/src/index.ts';
import { rng, uniform } from '../util/random.ts';

beforeAll(async () => {
  await init();
});

describe('masks reach the loss', () => {
  it('Embedding(maskZero) → GRU(returnSequences) → Dense: padded steps do not count (Keras 3 apply_mask)', () => {
    setSeed(11);
    const ids = input({ shape: [4], dtype: 'int32' });
    const emb = layers.embedding({ inputDim: 6, outputDim: 3, maskZero: true });
    const seq = layers.gru({ units: 4, returnSequences: true }).apply(emb.apply(ids) as SymbolicTensor) as SymbolicTensor;
    const out = layers.dense({ units: 2 }).apply(seq);
    const m = model({ inputs: ids, outputs: out });
    m.compile({ optimizer: 'sgd', loss: 'mse' });
    // Row 0 has 2 real steps then padding (post-padding keeps the real steps' outputs unchanged).
    const x = tensor([[3, 5, 0, 0], [1, 2, 4, 5]], undefined, 'int32');
    const y = new Tensor(uniform(rng(3), 16, -1, 1), [2, 4, 2]);
    const loss = m.testOnBatch(x, y) as number;
    // Keras: mean over the 6 valid steps of the per-step MSE.
    const pred = m.predict(x) as Tensor;
    const mask = [1, 1, 0, 0, 1, 1, 1, 1];
    let s = 0;
    for (let r = 0; r < 8; r++) {
      if (!mask[r]) continue;
      for (let c = 0; c < 2; c++) s += (pred.data[r * 2 + c] - y.data[r * 2 + c]) ** 2 / 2;
    }
    expect(loss).toBeCloseTo(s / 6, 6);
    m.dispose();
  });
});

describe('sample and class weights', () => {
  it('sampleWeight and classWeight weigh each sample as Keras does (Σ w·L / N, not normalised)', () => {
    setSeed(12);
    const m = sequential({ layers: [layers.dense({ units: 3, activation: 'softmax', inputShape: [4] })] });
    m.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy' });
    const x = new Tensor(uniform(rng(4), 20, -1, 1), [5, 4]);
    const y = tensor([0, 2, 1, 2, 0]);
    const sw = tensor([1, 0.5, 2, 0, 1]);
    const pred = m.predict(x) as Tensor;
    const ce = (i: number): number => -Math.log(pred.data[i * 3 + y.data[i]]);
    const expected = [0, 1, 2, 3, 4].reduce((a, i) => a + sw.data[i] * ce(i), 0) / 5;
    expect(m.testOnBatch(x, y, { sampleWeight: sw }) as number).toBeCloseTo(expected, 5);
    const cw = { 0: 1, 1: 3, 2: 0.5 };
    const expectedCw = [0, 1, 2, 3, 4].reduce((a, i) => a + cw[y.data[i] as 0 | 1 | 2] * ce(i), 0) / 5;
    const before = m.getWeights();
    const l = m.trainOnBatch(x, y, { classWeight: cw }) as number;
    expect(l).toBeCloseTo(expectedCw, 5);
    m.setWeights(before);
    expect(() => m.trainOnBatch(x, y, { classWeight: { 0: 1, 1: 1 } })).toThrow(/classWeight has no entry for class 2/);
    m.dispose();
  });
});

describe('several outputs', () => {
  it('per-output losses, lossWeights and Keras log names', async () => {
    setSeed(13);
    const x = input({ shape: [5, 2] });
    const h = layers.gru({ units: 4 }).apply(x) as SymbolicTensor;
    const reg = layers.dense({ units: 1, name: 'reg' }).apply(h);
    const cls = layers.dense({ units: 3, activation: 'softmax', name: 'cls' }).apply(h);
    const m = model({ inputs: x, outputs: [reg, cls] });
    m.compile({ optimizer: 'adam', loss: { reg: 'mse', cls: 'sparseCategoricalCrossentropy' }, lossWeights: { reg: 0.5, cls: 2 }, metrics: { cls: ['accuracy'] } });
    expect(m.metricsNames).toEqual(['loss', 'reg_loss', 'cls_loss', 'cls_accuracy']);
    const xs = new Tensor(uniform(rng(5), 8 * 10, -1, 1), [8, 5, 2]);
    const yReg = new Tensor(uniform(rng(6), 8, -1, 1), [8, 1]);
    const yCls = tensor([0, 1, 2, 0, 1, 2, 0, 1]);
    const [total, lr, lc] = m.testOnBatch(xs, [yReg, yCls]) as number[];
    expect(total).toBeCloseTo(0.5 * lr + 2 * lc, 5);
    const [pReg, pCls] = m.predict(xs) as Tensor[];
    expect(lr).toBeCloseTo(lossAndGradient('mse', yReg, pReg).loss, 6);
    expect(lc).toBeCloseTo(lossAndGradient('sparseCategoricalCrossentropy', yCls, pCls).loss, 6);
    const h2 = await m.fit(xs, { reg: yReg, cls: yCls }, { epochs: 2, batchSize: 4, verbose: 0 });
    expect(Object.keys(h2.history).sort()).toEqual(['cls_accuracy', 'cls_loss', 'loss', 'reg_loss']);
    expect(() => m.compile({ optimizer: 'adam', loss: ['mse'] })).toThrow(/1 entries for 2 outputs/);
    m.dispose();
  });
});

describe('datasets', () => {
  it('fit takes an async iterable of batches, re-iterated every epoch; validationData takes one too', async () => {
    setSeed(14);
    const m = sequential({ layers: [layers.gru({ units: 4, inputShape: [3, 2] }), layers.dense({ units: 1 })] });
    m.compile({ optimizer: optimizers.adam({ learningRate: 0.01 }), loss: 'mse' });
    const rand = rng(7);
    const batches = Array.from({ length: 4 }, () => ({ xs: new Tensor(uniform(rand, 8 * 6, -1, 1), [8, 3, 2]), ys: new Tensor(uniform(rand, 8, -1, 1), [8, 1]) }));
    let passes = 0;
    const source = {
      async *[Symbol.asyncIterator]() {
        passes++;
        for (const b of batches) yield b;
      },
    };
    const seenBatches: number[] = [];
    const h = await m.fit(source, { epochs: 3, verbose: 0, validationData: source, callbacks: [{ onBatchEnd: (b: number) => void seenBatches.push(b) }] });
    expect(passes).toBe(6); // 3 training passes + 3 validation passes
    expect(seenBatches).toEqual([0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3]);
    expect((h.history.val_loss as number[]).length).toBe(3);
    const limited = await m.fit(source, { epochs: 1, stepsPerEpoch: 2, verbose: 0, callbacks: [{ onBatchEnd: (b: number) => void seenBatches.push(100 + b) }] });
    expect(seenBatches.slice(-2)).toEqual([100, 101]);
    expect(limited.history.loss.length).toBe(1);
    await expect(m.fit({ async *[Symbol.asyncIterator]() {} }, { verbose: 0 })).rejects.toThrow(/yielded no batches/);
    m.dispose();
  });

  it('bad fit arguments are clear errors', async () => {
    const m = sequential({ layers: [layers.dense({ units: 1, inputShape: [2] })] });
    m.compile({ optimizer: 'sgd', loss: 'mse' });
    const x = tensor([[1, 2], [3, 4]]);
    await expect(m.fit(x, tensor([[1], [2], [3]]), { verbose: 0 })).rejects.toThrow(/same number of samples; got 2, 3/);
    await expect(m.fit(x, tensor([[1], [2]]), { verbose: 0, batchSize: 0 })).rejects.toThrow(ValueError);
    await expect(m.fit(x, tensor([[1], [2]]), { verbose: 0, validationSplit: 0.9 })).rejects.toThrow(/leaves 0 for training/);
    m.dispose();
  });
});

describe('JS heap over a long run', () => {
  it('retained JS heap does not grow from epoch 3 to epoch 30', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    setSeed(15);
    const m = sequential({ layers: [layers.gru({ units: 8, inputShape: [20, 16], dropout: 0.1 }), layers.dense({ units: 1 })] });
    m.compile({ optimizer: 'adam', loss: 'mse', metrics: ['mae'] });
    const x = new Tensor(uniform(rng(8), 64 * 20 * 16, -1, 1), [64, 20, 16]);
    const y = new Tensor(uniform(rng(9), 64, -1, 1), [64, 1]);
    const heap: number[] = [];
    await m.fit(x, y, {
      epochs: 30,
      batchSize: 8,
      verbose: 0,
      callbacks: [
        {
          onEpochEnd: (epoch: number) => {
            if (epoch === 2 || epoch === 29) {
              gc();
              heap.push(process.memoryUsage().heapUsed);
            }
          },
        },
      ],
    });
    // 27 epochs × 8 batches: keeping even one input batch (8 × 20 × 16 floats, 10 KB) per batch
    // would retain 2.2 MB. History keeps 2 numbers per epoch; V8's own code and feedback growth
    // from late optimisation is a few hundred KB at most.
    expect(heap[1] - heap[0]).toBeLessThan(700_000);
    m.dispose();
  });
});

describe('JS allocation per batch', () => {
  /**
   * Bytes of JS heap one `fit` batch allocates: the median rise of `heapUsed` from one onBatchEnd
   * to the next, over 120 batches, leaving out the intervals a GC ran in (the heap fell). Data
   * moves through reused gather buffers and wasm memory, so it must not depend on the batch's size.
   */
  async function bytesPerBatch(B: number, T: number, D: number, dropout: number): Promise<number> {
    setSeed(17);
    const n = B * 40;
    const m = sequential({ layers: [layers.gru({ units: 16, inputShape: [T, D], dropout, recurrentDropout: dropout, returnSequences: true }), layers.gru({ units: 8 }), layers.dense({ units: 1 })] });
    m.compile({ optimizer: 'adam', loss: 'mse', metrics: ['mae'] });
    const x = new Tensor(uniform(rng(18), n * T * D, -1, 1), [n, T, D]);
    const y = new Tensor(uniform(rng(19), n, -1, 1), [n, 1]);
    const rises: number[] = [];
    let last = 0;
    const onBatchEnd = (): void => {
      const used = process.memoryUsage().heapUsed;
      if (last && used > last) rises.push(used - last);
      last = used;
    };
    await m.fit(x, y, { epochs: 3, batchSize: B, verbose: 0, yieldEvery: 'never', callbacks: [{ onBatchEnd }] });
    m.dispose();
    rises.sort((a, b) => a - b);
    return rises[rises.length >> 1];
  }

  it('is a few tens of KB of bookkeeping, the same for 8 × 10 × 4 and 64 × 80 × 32 batches (O(1) objects, no per-element JS)', async () => {
    const small = await bytesPerBatch(8, 10, 4, 0.2);
    const large = await bytesPerBatch(64, 80, 32, 0.2); // 512× the data: 655 KB of inputs per batch
    // Measured 36 KB and 46 KB (Node 20): tensors' headers, logs, closures. One copy of the large
    // batch's inputs in JS would add 655 KB; per-row bookkeeping (loss row weights, metric rows) 10 KB.
    expect(small).toBeLessThan(80_000);
    expect(large).toBeLessThan(small + 40_000);
  });
});

describe('wrappers train', () => {
  it('bidirectional and timeDistributed inside fit: every wrapped weight is updated by the optimizer', async () => {
    setSeed(16);
    const m = sequential({
      layers: [
        layers.embedding({ inputDim: 20, outputDim: 4, maskZero: true, inputShape: [5] }),
        layers.bidirectional({ layer: layers.gru({ units: 3, returnSequences: true }) }),
        layers.timeDistributed({ layer: layers.dense({ units: 2 }) }),
        layers.globalAveragePooling1d(),
        layers.dense({ units: 1 }),
      ],
    });
    m.compile({ optimizer: 'adam', loss: 'mse' });
    const x = tensor([[0, 3, 4, 5, 6], [1, 2, 3, 0, 0], [7, 8, 9, 10, 11], [0, 0, 12, 13, 14]], undefined, 'int32');
    const y = tensor([[0.5], [-0.5], [1], [0]]);
    const before = m.getWeights();
    expect(before.length).toBe(1 + 6 + 2 + 2); // embeddings; 2 × (kernel, recurrentKernel, bias); 2 dense layers
    await m.fit(x, y, { epochs: 2, batchSize: 2, verbose: 0 });
    const after = m.getWeights();
    after.forEach((w, i) => {
      const moved = Array.from(w.data).some((v, k) => v !== before[i].data[k]);
      expect(moved, `weight ${i} ${m.weights[i].name} should have moved`).toBe(true);
    });
    m.dispose();
  });
});

describe('weight regularizers', () => {
  it('an l2 kernel penalty is in the loss and its gradient 2·l2·w in the SGD update (Keras L2)', () => {
    setSeed(17);
    const m = sequential({ layers: [layers.dense({ units: 1, useBias: false, kernelRegularizer: regularizers.l2(0.1), inputShape: [2] })] });
    m.compile({ optimizer: optimizers.sgd({ learningRate: 0.5 }), loss: 'mse' });
    const x = tensor([[1, 2], [3, -1]]);
    const y = tensor([[1], [0]]);
    const [w0, w1] = Array.from(m.getWeights()[0].data);
    const pred = [w0 + 2 * w1, 3 * w0 - w1];
    const mse = ((pred[0] - 1) ** 2 + pred[1] ** 2) / 2;
    const loss = m.trainOnBatch(x, y) as number;
    expect(loss).toBeCloseTo(mse + 0.1 * (w0 * w0 + w1 * w1), 5);
    // d(mse)/dw = (2/N) Σ (pred − y) x;  d(penalty)/dw = 2 · 0.1 · w.
    const g0 = (pred[0] - 1) * 1 + pred[1] * 3 + 0.2 * w0;
    const g1 = (pred[0] - 1) * 2 + pred[1] * -1 + 0.2 * w1;
    const after = Array.from(m.getWeights()[0].data);
    expect(after[0]).toBeCloseTo(w0 - 0.5 * g0, 5);
    expect(after[1]).toBeCloseTo(w1 - 0.5 * g1, 5);
    m.dispose();
  });
});
