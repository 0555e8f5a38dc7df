/**
 * Resuming training from a saved model (issue 5 item 1): a model saved with its optimizer state,
 * loaded and trained N more steps, has the same weights bit for bit as the run that never stopped
 * (setSeed, shuffle: false). ModelCheckpoint writes file:// paths through model.save.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Model, ModelCheckpoint, Tensor, init, layers, loadModel, optimizers, sequential, setSeed, withSaveHandler } from '../../ts/src/index.ts';
import type { ModelArtifacts } from '../../ts/src/index.ts';
import { rng, uniform } from '../util/random.ts';

let dir: string;
beforeAll(async () => {
  await init();
  dir = mkdtempSync(join(tmpdir(), 'fastgru-resume-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const N = 16;
const T = 6;
const x = new Tensor(uniform(rng(11), N * T * 3, -1, 1), [N, T, 3]);
const y = new Tensor(uniform(rng(12), N * 2, -1, 1), [N, 2]);

function bits(m: Model): string[] {
  return m.getWeights().map((w) => Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength).toString('hex'));
}

async function save(m: Model): Promise<ModelArtifacts> {
  let a: ModelArtifacts | null = null;
  await m.save(withSaveHandler((art) => {
    a = art;
  }));
  return a!;
}

const OPTIMIZERS: [string, () => optimizers.Optimizer][] = [
  ['Adam', () => new optimizers.Adam({ learningRate: 0.01 })],
  ['Adam (amsgrad, clipnorm)', () => new optimizers.Adam({ learningRate: 0.01, amsgrad: true, clipnorm: 1 })],
  ['RMSprop (momentum)', () => new optimizers.RMSprop({ learningRate: 0.01, momentum: 0.9 })],
  ['SGD (nesterov)', () => new optimizers.SGD({ learningRate: 0.05, momentum: 0.9, nesterov: true })],
];

describe('resume training from a save', () => {
  for (const [name, makeOpt] of OPTIMIZERS) {
    it(`${name}: save after 2 epochs, load, 2 more epochs = 4 uninterrupted epochs, bit for bit`, async () => {
      setSeed(42);
      const m = sequential({ layers: [layers.gru({ units: 5, inputShape: [T, 3] }), layers.dense({ units: 2 })] });
      m.compile({ optimizer: makeOpt(), loss: 'mse' });
      await m.fit(x, y, { epochs: 2, batchSize: 4, shuffle: false, verbose: 0 });
      const art = await save(m);
      expect(art.modelJSON.fastgru?.optimizer?.iterations).toBe(8);
      await m.fit(x, y, { epochs: 2, batchSize: 4, shuffle: false, verbose: 0 });

      const back = await loadModel(art);
      expect(back.optimizer!.iterations).toBe(8);
      expect(back.optimizer!.className).toBe(m.optimizer!.className);
      await back.fit(x, y, { epochs: 2, batchSize: 4, shuffle: false, verbose: 0 });
      expect(back.optimizer!.iterations).toBe(16);
      expect(bits(back)).toEqual(bits(m));
      // Without the optimizer state a fresh Adam starts over: the weights differ.
      if (name === 'Adam') {
        const fresh = await loadModel(art, { compile: false });
        fresh.compile({ optimizer: makeOpt(), loss: 'mse' });
        await fresh.fit(x, y, { epochs: 2, batchSize: 4, shuffle: false, verbose: 0 });
        expect(bits(fresh)).not.toEqual(bits(m));
        fresh.dispose();
      }
      m.dispose();
      back.dispose();
    });
  }

  it('a stateful GRU with Adam resumes bit for bit too (states are not saved, as Keras: reset at save)', async () => {
    setSeed(7);
    const make = (): Model => sequential({ layers: [layers.gru({ units: 4, stateful: true, batchInputShape: [4, T, 3] }), layers.dense({ units: 2 })] });
    const m = make();
    m.compile({ optimizer: 'adam', loss: 'mse' });
    const gru = m.layers[0] as unknown as { resetStates(): void };
    for (let i = 0; i < 3; i++) m.trainOnBatch(new Tensor(x.data.slice(i * 4 * T * 3, (i + 1) * 4 * T * 3), [4, T, 3]), new Tensor(y.data.slice(i * 8, (i + 1) * 8), [4, 2]));
    gru.resetStates();
    const art = await save(m);
    const back = await loadModel(art);
    for (const model of [m, back]) {
      for (let i = 0; i < 4; i++) model.trainOnBatch(new Tensor(x.data.slice(i * 4 * T * 3, (i + 1) * 4 * T * 3), [4, T, 3]), new Tensor(y.data.slice(i * 8, (i + 1) * 8), [4, 2]));
    }
    expect(bits(back)).toEqual(bits(m));
    m.dispose();
    back.dispose();
  });

  it('ModelCheckpoint writes file:// checkpoints through model.save, which load and resume', async () => {
    setSeed(9);
    const m = sequential({ layers: [layers.gru({ units: 4, inputShape: [T, 3] }), layers.dense({ units: 2 })] });
    m.compile({ optimizer: 'adam', loss: 'mse' });
    const path = join(dir, 'ckpt-{epoch:02d}');
    await m.fit(x, y, { epochs: 2, batchSize: 8, shuffle: false, verbose: 0, callbacks: [new ModelCheckpoint({ filepath: `file://${path}`, monitor: 'loss' })] });
    expect(readdirSync(dir).filter((f) => f.startsWith('ckpt-')).sort()).toEqual(['ckpt-01', 'ckpt-02']);
    const back = await loadModel(`file://${join(dir, 'ckpt-02')}`);
    expect(bits(back)).toEqual(bits(m));
    expect(back.optimizer!.iterations).toBe(4);
    await m.fit(x, y, { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 });
    await back.fit(x, y, { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 });
    expect(bits(back)).toEqual(bits(m));
    // saveWeightsOnly: no training config, so the loaded model is not compiled.
    await m.fit(x, y, { epochs: 1, batchSize: 8, shuffle: false, verbose: 0, callbacks: [new ModelCheckpoint({ filepath: `file://${join(dir, 'weights-only')}`, monitor: 'loss', saveWeightsOnly: true })] });
    const w = await loadModel(`file://${join(dir, 'weights-only')}`);
    expect(w.optimizer).toBeNull();
    expect(bits(w)).toEqual(bits(m));
    m.dispose();
    back.dispose();
    w.dispose();
  });
});
