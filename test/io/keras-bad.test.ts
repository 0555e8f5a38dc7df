/**
 * Bad Keras / tfjs files (issue 5 item 8): wrong magic, truncation, byte flips, unknown layers,
 * shape mismatches and NaN weights each give a typed error naming the file part and what to do;
 * a bounded fuzz run (byte flips and cuts in every fixture) never hangs or throws anything but a
 * FastGruError. `FAST_TEST=1` shrinks the fuzz rounds.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { FastGruError, FileFormatError, NonFiniteError, UnsupportedLayerError, init, layers, loadKerasModel, loadKerasWeights, loadTfjsModel, sequential } from '../../ts/src/index.ts';
import { rng } from '../layers/util/numeric.ts';

const FIX = fileURLToPath(new URL('../fixtures/', import.meta.url));
const H5 = new Uint8Array(readFileSync(`${FIX}keras/xiaochus-gru.h5`));
const KERAS3 = new Uint8Array(readFileSync(`${FIX}keras/cdt406-gru_model.keras`));
const TFJS_JSON = JSON.parse(readFileSync(`${FIX}tfjs-xiaochus/model.json`, 'utf8'));
const TFJS_BIN = new Uint8Array(readFileSync(`${FIX}tfjs-xiaochus/weights.bin`));
const ROUNDS = process.env.FAST_TEST ? 15 : 60;

beforeAll(async () => {
  await init();
});

async function errorOf(p: Promise<unknown>): Promise<Error> {
  try {
    const m = (await p) as { dispose?: () => void } | undefined;
    m?.dispose?.();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

/** Offset of the float32 bytes of `values` inside `bytes` (to corrupt one weight in place). */
function find(bytes: Uint8Array, values: Float32Array): number {
  const pat = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  outer: for (let i = 0; i + pat.length <= bytes.length; i++) {
    for (let k = 0; k < pat.length; k++) if (bytes[i + k] !== pat[k]) continue outer;
    return i;
  }
  return -1;
}

describe('bad files give typed errors naming the part', () => {
  it('wrong magic', async () => {
    const e = await errorOf(loadKerasModel(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9])));
    expect(e).toBeInstanceOf(FileFormatError);
    expect(e.message).toMatch(/signature.*neither HDF5.*nor a zip/);
    const w = await errorOf(loadKerasWeights(sequential({ layers: [layers.dense({ units: 1, inputShape: [2] })] }), KERAS3));
    expect(w).toBeInstanceOf(FileFormatError);
    expect(w.message).toMatch(/not an HDF5 file.*\.keras file is a zip/);
  });

  it('truncated .h5 and .keras', async () => {
    for (const cut of [100, 4000, H5.length >> 1]) {
      const e = await errorOf(loadKerasModel(H5.slice(0, cut)));
      expect(e).toBeInstanceOf(FileFormatError);
    }
    // h5py puts some group metadata after the data, so a cut anywhere is caught by the superblock
    // walk or by the dataset bounds check ("runs past the end of the file").
    const t = await errorOf(loadKerasModel(H5.slice(0, H5.length >> 1)));
    expect(t.message).toMatch(/truncated/);
    const z = await errorOf(loadKerasModel(KERAS3.slice(0, KERAS3.length - 200)));
    expect(z).toBeInstanceOf(FileFormatError);
    expect(z.message).toMatch(/end of central directory|truncated/);
  });

  it('a flipped byte inside a .keras entry fails its CRC', async () => {
    const b = KERAS3.slice();
    b[Math.floor(b.length / 2)] ^= 0x40;
    const e = await errorOf(loadKerasModel(b));
    expect(e).toBeInstanceOf(FileFormatError);
    expect(e.message).toMatch(/zip entry 'model\.weights\.h5' fails its CRC-32 check/);
  });

  it('unknown layers are listed', async () => {
    const json = structuredClone(TFJS_JSON);
    json.modelTopology.config.layers[2].class_name = 'AlphaDropout';
    const e = await errorOf(loadTfjsModel({ modelJson: json, weightData: TFJS_BIN }));
    expect(e).toBeInstanceOf(UnsupportedLayerError);
    expect((e as UnsupportedLayerError).layers).toEqual([`AlphaDropout 'dropout_1'`]);
  });

  it('shape mismatch: weights into a model of other sizes, and a reset-after config over reset-before weights', async () => {
    const m = sequential({ layers: [layers.gru({ units: 32, returnSequences: true, inputShape: [12, 1], name: 'gru_1', resetAfter: false }), layers.gru({ units: 64, name: 'gru_2', resetAfter: false }), layers.dense({ units: 1, name: 'dense_1' })] });
    const e = await errorOf(loadKerasWeights(m, H5));
    expect(e).toBeInstanceOf(FileFormatError);
    expect(e.message).toMatch(/model_weights\/gru_1\/gru_1\/kernel:0: has shape \(1, 192\), layer 'gru_1' weight gru_1\/kernel needs \(1, 96\)/);
    m.dispose();
    const json = structuredClone(TFJS_JSON);
    json.modelTopology.config.layers[0].config.reset_after = true;
    const r = await errorOf(loadTfjsModel({ modelJson: json, weightData: TFJS_BIN }));
    expect(r.message).toMatch(/gru_1\/bias.*reset-before \(bias \(3H\)\) but the config made it reset-after/);
  });

  it('NaN weights (h5 and tfjs) name the weight', async () => {
    const tf = await loadTfjsModel({ modelJson: TFJS_JSON, weightData: TFJS_BIN });
    const bias = tf.getLayer('dense_1').getWeights()[1].data as Float32Array;
    tf.dispose();
    const h5 = H5.slice();
    const at = find(h5, bias);
    expect(at).toBeGreaterThan(0);
    new DataView(h5.buffer).setFloat32(at, NaN, true);
    const e = await errorOf(loadKerasModel(h5));
    expect(e).toBeInstanceOf(NonFiniteError);
    expect(e.message).toMatch(/model_weights\/dense_1\/dense_1\/bias:0: value NaN.*layer 'dense_1'/);
    const bin = TFJS_BIN.slice();
    new DataView(bin.buffer).setFloat32(bin.length - 4, NaN, true);
    const t = await errorOf(loadTfjsModel({ modelJson: TFJS_JSON, weightData: bin }));
    expect(t).toBeInstanceOf(NonFiniteError);
    expect(t.message).toMatch(/dense_1\/bias/);
  });

  it('a missing or short tfjs shard', async () => {
    const e = await errorOf(loadTfjsModel({ modelJson: TFJS_JSON, shards: {} }));
    expect(e.message).toMatch(/shard weights\.bin: is missing/);
    const s = await errorOf(loadTfjsModel({ modelJson: TFJS_JSON, weightData: TFJS_BIN.slice(0, 1000) }));
    expect(s).toBeInstanceOf(FileFormatError);
    expect(s.message).toMatch(/truncated or missing/);
  });
});

describe('fuzz: byte flips and cuts never hang or escape as untyped errors', () => {
  const fixtures: [string, Uint8Array, (b: Uint8Array) => Promise<unknown>][] = [
    ['xiaochus-gru.h5', H5, (b) => loadKerasModel(b)],
    ['cdt406-gru_model.keras', KERAS3, (b) => loadKerasModel(b)],
    ['tfjs model.json', new TextEncoder().encode(JSON.stringify(TFJS_JSON)), (b) => loadTfjsModel({ modelJson: JSON.parse(new TextDecoder().decode(b)), weightData: TFJS_BIN })],
  ];
  for (const [name, bytes, load] of fixtures) {
    it(name, async () => {
      const r = rng(name.length * 7919);
      let failed = 0;
      for (let round = 0; round < ROUNDS; round++) {
        const b = bytes.slice(0, r() < 0.2 ? Math.floor(r() * bytes.length) : bytes.length);
        const flips = 1 + Math.floor(r() * 4);
        // Mostly in the first 4 KB, where the headers and directories are.
        for (let k = 0; k < flips && b.length; k++) b[Math.floor(r() * Math.min(b.length, r() < 0.7 ? 4096 : b.length))] ^= 1 + Math.floor(r() * 255);
        try {
          const m = (await load(b)) as { dispose(): void };
          m.dispose();
        } catch (e) {
          failed++;
          // JSON.parse of the flipped tfjs text is the test's own step, not the loader's.
          if (e instanceof SyntaxError && name.startsWith('tfjs')) continue;
          if (!(e instanceof FastGruError)) throw new Error(`${name} round ${round}: untyped ${(e as Error)?.name}: ${(e as Error)?.message}`);
        }
      }
      expect(failed).toBeGreaterThan(0);
    }, 60_000);
  }
});
