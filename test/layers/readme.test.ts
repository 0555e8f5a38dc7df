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
