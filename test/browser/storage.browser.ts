/**
 * `indexeddb://` and `localstorage://` save/load and `downloads://` saves in Chromium, against dist/ (see dist.browser.ts for
 * how `../../ts/src/index.ts` becomes /dist/fastgru.mjs), and against tfjs 4.22's own handlers: the
 * key layout is tfjs-core's (io/indexed_db.ts, io/local_storage.ts), so each library reads what the
 * other wrote.
 *
 * tfjs side, as run here:
 *   const m = tf.sequential({layers: [tf.layers.dense({units: 3, inputShape: [4], activation: 'tanh'})]});
 *   await m.save('indexeddb://tfjs-dense'); await m.save('localstorage://tfjs-dense');
 *   await tf.loadLayersModel('indexeddb://fastgru-dense')
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import * as fg from '../../ts/src/index.ts';

const X = Float32Array.from({ length: 3 * 6 * 4 }, (_, i) => Math.sin(0.7 * i));

/** A compiled GRU model after a few Adam steps, so there is optimizer state to save. */
function trained(): fg.Sequential {
  fg.setSeed(3);
  const m = fg.sequential({ layers: [fg.layers.gru({ units: 5, inputShape: [6, 4] }), fg.layers.dense({ units: 2 })] });
  m.compile({ optimizer: 'adam', loss: 'mse' });
  const x = fg.tensor(X, [3, 6, 4]);
  const y = fg.tensor(Float32Array.from({ length: 6 }, (_, i) => i / 6), [3, 2]);
  for (let s = 0; s < 3; s++) m.trainOnBatch(x, y);
  x.dispose();
  y.dispose();
  return m;
}

function idb<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((ok, fail) => {
    r.onsuccess = () => ok(r.result);
    r.onerror = () => fail(r.error);
  });
}

/** tfjs' and fastgru's predictions for the same two rows of X agree to 6 decimals. */
function expectSamePredictions(t: tf.LayersModel, m: fg.Model): void {
  const data = X.slice(0, 8);
  const theirs = (t.predict(tf.tensor(data, [2, 4])) as tf.Tensor).dataSync();
  const ours = (m.predict(fg.tensor(data, [2, 4])) as fg.Tensor).data;
  Array.from(ours).forEach((v, i) => expect(v).toBeCloseTo(theirs[i], 6));
}

async function expectSameModel(a: fg.Model, b: fg.Model): Promise<void> {
  const wa = a.getWeights();
  b.getWeights().forEach((w, i) => expect(Array.from(w.data)).toEqual(Array.from(wa[i].data)));
  const x = fg.tensor(X, [3, 6, 4]);
  const pa = a.predict(x) as fg.Tensor;
  const pb = b.predict(x) as fg.Tensor;
  expect(Array.from(pb.data)).toEqual(Array.from(pa.data));
  for (const t of [x, pa, pb]) t.dispose();
}

beforeAll(async () => {
  await fg.init();
  await tf.setBackend('cpu');
});

describe.each(['indexeddb', 'localstorage'] as const)('%s:// save and load', (scheme) => {
  it('round-trips weights, predictions and the optimizer state (training resumes identically)', async () => {
    const url = `${scheme}://fastgru-gru`;
    const m = trained();
    const res = await m.save(url);
    expect(res.weightDataBytes).toBeGreaterThan(0);
    const back = await fg.loadModel(url);
    await expectSameModel(m, back);
    // One more step on each: equal only if the Adam moments and iteration count came back.
    const x = fg.tensor(X, [3, 6, 4]);
    const y = fg.tensor(Float32Array.from({ length: 6 }, (_, i) => 1 - i / 6), [3, 2]);
    expect(back.trainOnBatch(x, y)).toEqual(m.trainOnBatch(x, y));
    await expectSameModel(m, back);
    for (const t of [x, y]) t.dispose();
    m.dispose();
    back.dispose();
  });

  it("uses tfjs' key layout", async () => {
    const m = trained();
    await m.save(`${scheme}://layout`, { includeOptimizer: false });
    if (scheme === 'localstorage') {
      for (const k of ['info', 'model_topology', 'weight_specs', 'weight_data', 'model_metadata']) {
        expect(localStorage.getItem(`tensorflowjs_models/layout/${k}`), k).not.toBeNull();
      }
      expect(JSON.parse(localStorage.getItem('tensorflowjs_models/layout/info')!).weightDataBytes).toBe(4 * m.countParams());
    } else {
      const db = await idb(indexedDB.open('tensorflowjs', 1));
      const tx = db.transaction(['models_store', 'model_info_store'], 'readonly');
      const row = await idb(tx.objectStore('models_store').get('layout'));
      const info = await idb(tx.objectStore('model_info_store').get('layout'));
      db.close();
      expect(Object.keys(row.modelArtifacts).sort()).toEqual(expect.arrayContaining(['modelTopology', 'weightSpecs', 'weightData']));
      expect(row.modelArtifacts.weightData.byteLength).toBe(4 * m.countParams());
      expect(info.modelArtifactsInfo.weightDataBytes).toBe(4 * m.countParams());
    }
    // tfjs lists it.
    expect(Object.keys(await tf.io.listModels())).toContain(`${scheme}://layout`);
    m.dispose();
  });

  it('loads a model tfjs saved there', async () => {
    const t = tf.sequential({ layers: [tf.layers.dense({ units: 3, inputShape: [4], activation: 'tanh' })] });
    await t.save(`${scheme}://tfjs-dense`);
    const m = await fg.loadModel(`${scheme}://tfjs-dense`);
    expectSamePredictions(t, m);
    m.dispose();
    t.dispose();
  });

  it('tfjs loads a model fastgru saved there', async () => {
    fg.setSeed(4);
    const m = fg.sequential({ layers: [fg.layers.dense({ units: 3, inputShape: [4], activation: 'tanh' })] });
    await m.save(`${scheme}://fastgru-dense`, { includeOptimizer: false });
    const t = await tf.loadLayersModel(`${scheme}://fastgru-dense`);
    expectSamePredictions(t, m);
    m.dispose();
    t.dispose();
  });

  it('a missing model names the key and how to save', async () => {
    await expect(fg.loadModel(`${scheme}://nothing-here`)).rejects.toThrow(/no model saved under 'nothing-here'/);
  });
});

describe('downloads:// save', () => {
  /**
   * Runs `fn` with anchor clicks caught: each download's file name and bytes are recorded and the
   * click is not passed on (no real download in the test profile).
   */
  async function catchDownloads(fn: () => Promise<unknown>): Promise<{ name: string; bytes: ArrayBuffer }[]> {
    const seen: { name: string; bytes: Promise<ArrayBuffer> }[] = [];
    const original = HTMLAnchorElement.prototype.dispatchEvent;
    HTMLAnchorElement.prototype.dispatchEvent = function (this: HTMLAnchorElement, e: Event): boolean {
      if (e.type !== 'click' || !this.download) return original.call(this, e);
      seen.push({ name: this.download, bytes: fetch(this.href).then((r) => r.arrayBuffer()) });
      return true;
    };
    try {
      await fn();
    } finally {
      HTMLAnchorElement.prototype.dispatchEvent = original;
    }
    return Promise.all(seen.map(async (s) => ({ name: s.name, bytes: await s.bytes })));
  }

  it('downloads <name>.json and <name>.weights.bin; they load back with the optimizer state', async () => {
    const m = trained();
    let res: fg.SaveResult | undefined;
    const files = await catchDownloads(async () => (res = await m.save('downloads://my-gru')));
    expect(files.map((f) => f.name)).toEqual(['my-gru.json', 'my-gru.weights.bin']);
    expect(res!.files).toEqual(['my-gru.json', 'my-gru.weights.bin']);
    const modelJSON = JSON.parse(new TextDecoder().decode(files[0].bytes));
    expect(modelJSON.weightsManifest.map((g: { paths: string[] }) => g.paths)).toEqual([['./my-gru.weights.bin']]);
    expect(files[1].bytes.byteLength).toBe(res!.weightDataBytes);
    const back = await fg.loadModel(fg.fromMemory({ modelJSON, weightData: files[1].bytes }));
    await expectSameModel(m, back);
    const x = fg.tensor(X, [3, 6, 4]);
    const y = fg.tensor(Float32Array.from({ length: 6 }, (_, i) => 1 - i / 6), [3, 2]);
    expect(back.trainOnBatch(x, y)).toEqual(m.trainOnBatch(x, y));
    for (const t of [x, y]) t.dispose();
    m.dispose();
    back.dispose();
  });

  it("downloads:// alone names the files model.*, and tfjs' io.browserFiles loads them", async () => {
    fg.setSeed(5);
    const m = fg.sequential({ layers: [fg.layers.dense({ units: 3, inputShape: [4], activation: 'tanh' })] });
    const files = await catchDownloads(() => m.save('downloads://', { includeOptimizer: false }));
    expect(files.map((f) => f.name)).toEqual(['model.json', 'model.weights.bin']);
    const t = await tf.loadLayersModel(tf.io.browserFiles(files.map((f) => new File([f.bytes], f.name))));
    expectSamePredictions(t, m);
    m.dispose();
    t.dispose();
  });

  it('is save-only', async () => {
    await expect(fg.loadModel('downloads://my-gru')).rejects.toThrow(/save-only/);
  });
});
