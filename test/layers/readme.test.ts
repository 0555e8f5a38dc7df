// The README's usage snippet, verbatim in behaviour, so the README cannot drift from the API.
import { describe, expect, it } from 'vitest';
import { init, layers, tensor, lossAndGradient, Tensor } from '../../ts/src/index.ts';

describe('README usage', () => {
  it('runs as written and gives shapes the README states', async () => {
    await init();
    const gru = layers.gru({ units: 64, seed: 1 });
    const head = layers.dense({ units: 1, seed: 2 });
    const x = tensor([[[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]]);
    const y = head.apply(gru.apply(x) as Tensor);
    expect(y.shape).toEqual([1, 1]);
    const h = gru.apply(x, { training: true }) as Tensor;
    const p = head.apply(h, { training: true });
    const { loss, grad } = lossAndGradient('mse', tensor([[1]]), p);
    expect(loss).toBeCloseTo((p.data[0] - 1) ** 2, 6);
    const { dInput, grads } = gru.backward(head.backward(grad).dInput);
    expect(dInput.shape).toEqual([1, 3, 2]);
    expect(grads.map((g) => g.shape)).toEqual([[2, 192], [64, 192], [2, 192]]);
    gru.dispose();
    head.dispose();
  });
});

describe('README: train a model', () => {
  it('runs as written', async () => {
    const { init, setSeed, sequential, layers, optimizers, callbacks, tensor } = await import('../../ts/src/index.ts');
    await init();
    setSeed(42);
    const model = sequential({
      layers: [
        layers.embedding({ inputDim: 100, outputDim: 16, maskZero: true, inputShape: [6] }),
        layers.gru({ units: 32, dropout: 0.1, recurrentDropout: 0.1 }),
        layers.dense({ units: 2, activation: 'softmax' }),
      ],
    });
    model.compile({ optimizer: optimizers.adam({ learningRate: 0.01, clipnorm: 1 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    const lines: string[] = [];
    model.summary(undefined, undefined, (l) => lines.push(l));
    expect(lines.join('\n')).toMatch(/Total params: 6,466/); // 100·16 + (3·32·(16 + 32) + 2·96) + (32·2 + 2), as Keras counts
    const x = tensor([[0, 0, 5, 9, 3, 7], [0, 4, 8, 8, 2, 6], [1, 2, 3, 4, 5, 6], [0, 0, 0, 9, 9, 9]], undefined, 'int32');
    const y = tensor([1, 0, 1, 0]);
    const history = await model.fit(x, y, {
      epochs: 20,
      batchSize: 2,
      validationData: [x, y],
      callbacks: [callbacks.earlyStopping({ monitor: 'val_loss', patience: 3, restoreBestWeights: true })],
      verbose: 0,
    });
    const losses = history.history.loss as number[];
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
    const [loss, accuracy] = (await model.evaluate(x, y)) as number[];
    expect(loss).toBeLessThan(losses[0]);
    expect(accuracy).toBeGreaterThanOrEqual(0.75);
    const probabilities = model.predict(x) as Tensor;
    expect(probabilities.shape).toEqual([4, 2]);
    model.dispose();
  });
});
