/**
 * tfjs Layers models in and out (issue 5 item 2), checked with @tensorflow/tfjs 4.22 itself (cpu
 * backend) in this process:
 * - in: `test/fixtures/tfjs-xiaochus/` (model.json + weights.bin written by tfjs' serializer, with
 *   tfjs' own outputs in reference.json), read from a path, a file:// URL and memory;
 * - out: `saveTfjsModel` → `tf.loadLayersModel(tf.io.fromMemory(...))` → same predictions, and
 *   tfjs `model.save` → `loadTfjsModel` → same predictions (GRU-CONVENTIONS.md §1 reset-before,
 *   the only form tfjs has; §2 layout).
 */
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Model, Tensor, UnsupportedLayerError, init, input, layers, loadKerasModel, loadTfjsModel, model, parityReport, saveTfjsModel, sequential, tensor } from '../../ts/src/index.ts';
import type { TfjsModelJson } from '../../ts/src/index.ts';
import { rng } from '../layers/util/numeric.ts';

const DIR = fileURLToPath(new URL('../fixtures/tfjs-xiaochus/', import.meta.url));
const REF = JSON.parse(readFileSync(join(DIR, 'reference.json'), 'utf8'));
const TOL = 1e-5;
const tmp = mkdtempSync(join(tmpdir(), 'fastgru-tfjs-'));

beforeAll(async () => {
  await init();
  await tf.setBackend('cpu');
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function randomData(n: number, seed: number, lo = -1, hi = 1): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => lo + (hi - lo) * r());
}

/** Our model → tfjs (through saveTfjsModel and tf.io.fromMemory) → predictions of both. */
async function viaTfjs(m: Model, x: number[], shape: number[]): Promise<{ ours: Float32Array; theirs: Float32Array; tfModel: tf.LayersModel }> {
  const saved = await saveTfjsModel(m);
  const tfModel = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: saved.modelJson.modelTopology, weightSpecs: saved.weightSpecs as tf.io.WeightsManifestEntry[], weightData: saved.weightData }));
  const theirs = (tfModel.predict(tf.tensor(x, shape)) as tf.Tensor).dataSync() as Float32Array;
  const ours = (m.predict(tensor(x, shape)) as Tensor).data as Float32Array;
  return { ours, theirs, tfModel };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

describe('loadTfjsModel (tfjs-xiaochus: 2× GRU(64) reset-before, hard_sigmoid)', () => {
  const x = () => tensor(REF.input.data, REF.input.shape);

  it('from a path, a file:// URL and memory: matches tfjs reference.json within 1e-5', async () => {
    const json = JSON.parse(readFileSync(join(DIR, 'model.json'), 'utf8')) as TfjsModelJson;
    const bin = new Uint8Array(readFileSync(join(DIR, 'weights.bin')));
    const sources = [join(DIR, 'model.json'), pathToFileURL(join(DIR, 'model.json')).href, { modelJson: json, shards: { 'weights.bin': bin } }, { modelJson: json, weightData: bin }];
    for (const src of sources) {
      const m = await loadTfjsModel(src);
      expect(m.getLayer('gru_1').getConfig().recurrentActivation).toBe('hardSigmoid');
      const [row] = parityReport(m, x(), REF.output.data);
      expect(row.maxAbsDiff).toBeLessThan(TOL);
      m.dispose();
    }
  });

  it('equals the Keras .h5 it was made from (same weights, same function)', async () => {
    const a = await loadTfjsModel(join(DIR, 'model.json'));
    const b = await loadKerasModel(fileURLToPath(new URL('../fixtures/keras/xiaochus-gru.h5', import.meta.url)));
    expect(Array.from((a.predict(x()) as Tensor).data)).toEqual(Array.from((b.predict(x()) as Tensor).data));
    a.dispose();
    b.dispose();
  });
});

describe('saveTfjsModel → tf.loadLayersModel', () => {
  it('the loaded xiaochus model goes back to tfjs with the same predictions; a file:// save loads back exactly', async () => {
    const m = await loadTfjsModel(join(DIR, 'model.json'));
    const data = randomData(3 * 12, 1, 0, 1);
    const { ours, theirs } = await viaTfjs(m, data, [3, 12, 1]);
    expect(maxAbsDiff(ours, theirs)).toBeLessThan(TOL);
    const out = join(tmp, 'xiaochus');
    await saveTfjsModel(m, pathToFileURL(out).href);
    const back = await loadTfjsModel(join(out, 'model.json'));
    const w0 = m.getWeights();
    back.getWeights().forEach((w, i) => expect(Array.from(w.data)).toEqual(Array.from(w0[i].data)));
    m.dispose();
    back.dispose();
  });

  it('a functional model (Bidirectional GRU, BatchNormalization, TimeDistributed Dense, GRU, Dense): both directions agree within 1e-5', async () => {
    const x = input({ shape: [9, 5], name: 'x' });
    let h = layers.bidirectional({ layer: layers.gru({ units: 7, resetAfter: false, returnSequences: true, recurrentActivation: 'hardSigmoid', name: 'g1' }), name: 'bi' }).apply(x) as never;
    h = layers.batchNormalization({ name: 'bn' }).apply(h) as never;
    h = layers.timeDistributed({ layer: layers.dense({ units: 6, activation: 'tanh', name: 'td_dense' }), name: 'td' }).apply(h) as never;
    h = layers.gru({ units: 5, resetAfter: false, goBackwards: true, name: 'g2' }).apply(h) as never;
    const y = layers.dense({ units: 3, activation: 'softmax', name: 'out' }).apply(h) as never;
    const m = model({ inputs: x, outputs: y, name: 'func' });
    // Non-trivial BatchNormalization statistics and random weights everywhere.
    m.setWeights(m.getWeights().map((w, i) => new Tensor(Float32Array.from(randomData(w.size, 100 + i, -0.6, 0.6), (v) => (w.shape.length === 1 && /moving_?[vV]ariance/.test(m.weights[i].name) ? 0.5 + Math.abs(v) : v)), w.shape)));
    const data = randomData(4 * 9 * 5, 2);
    const { ours, theirs, tfModel } = await viaTfjs(m, data, [4, 9, 5]);
    expect(maxAbsDiff(ours, theirs)).toBeLessThan(TOL);

    // tfjs → ours: tfjs' own serializer writes the artifacts.
    let art: tf.io.ModelArtifacts | null = null;
    await tfModel.save(tf.io.withSaveHandler(async (a) => {
      art = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
    const a = art! as tf.io.ModelArtifacts;
    const back = await loadTfjsModel({ modelJson: { modelTopology: a.modelTopology as Record<string, unknown>, weightsManifest: [{ paths: ['w.bin'], weights: a.weightSpecs! }] }, shards: { 'w.bin': new Uint8Array(a.weightData as ArrayBuffer) } });
    const again = (back.predict(tensor(data, [4, 9, 5])) as Tensor).data;
    expect(maxAbsDiff(again, theirs)).toBeLessThan(TOL);
    m.dispose();
    back.dispose();
    tfModel.dispose();
  });

  it('a Sequential with Embedding, Masking-free GRU stack and Dropout round-trips through tfjs', async () => {
    const m = sequential({
      layers: [
        layers.embedding({ inputDim: 30, outputDim: 6, inputShape: [8], name: 'emb' }),
        layers.gru({ units: 4, resetAfter: false, returnSequences: true, recurrentActivation: 'sigmoid', name: 'ga' }),
        layers.dropout({ rate: 0.3, name: 'drop' }),
        layers.gru({ units: 4, resetAfter: false, name: 'gb' }),
        layers.dense({ units: 2, name: 'd' }),
      ],
      name: 'seq',
    });
    const ids = Array.from({ length: 3 * 8 }, (_, i) => (i * 7) % 30);
    const saved = await saveTfjsModel(m);
    const tfModel = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: saved.modelJson.modelTopology, weightSpecs: saved.weightSpecs as tf.io.WeightsManifestEntry[], weightData: saved.weightData }));
    const theirs = (tfModel.predict(tf.tensor(ids, [3, 8], 'int32')) as tf.Tensor).dataSync();
    const ours = (m.predict(tensor(ids, [3, 8], 'int32')) as Tensor).data;
    expect(maxAbsDiff(ours, theirs)).toBeLessThan(TOL);
    m.dispose();
    tfModel.dispose();
  });

  it('refuses what tfjs cannot represent: reset-after GRU, Keras 3 hard sigmoid', async () => {
    const m = sequential({ layers: [layers.gru({ units: 3, inputShape: [4, 2], returnSequences: true, name: 'ra' }), layers.gru({ units: 2, resetAfter: false, recurrentActivation: 'hardSigmoidKeras3', name: 'k3' })] });
    let err: unknown;
    try {
      await saveTfjsModel(m);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UnsupportedLayerError);
    expect((err as UnsupportedLayerError).layers).toEqual([expect.stringMatching(/GRU 'ra': reset_after=True/), expect.stringMatching(/GRU 'k3': recurrentActivation 'hardSigmoidKeras3'/)]);
    m.dispose();
  });
});
