/**
 * Keras files in (issue 5 item 3; GRU-CONVENTIONS.md §1 cell forms, §2 Keras layout): the real
 * Keras 2.1.4 `.h5` and Keras 3.9.2 `.keras` files of `test/fixtures/keras/` (see SOURCE.md), and
 * the config converter on Keras 2 / Keras 3 / tfjs style configs.
 *
 * No Keras can run here, so no file has a Keras-computed reference. Expected outputs come from
 * independent implementations of the same weights:
 * - `xiaochus-gru.h5` (reset-before, Keras 2 hard_sigmoid): TensorFlow.js 4.22 (cpu backend). Its
 *   outputs on these very weights are in `test/fixtures/tfjs-xiaochus/reference.json`, made by
 *   `tf.loadLayersModel(tf.io.fromMemory({modelTopology: <the h5's model_config>, ...}))` then
 *   `model.predict(input)`; and live below: the same architecture built with `tf.layers.gru`, weights
 *   set with `setWeights`, on random inputs.
 * - `cdt406-gru_model.keras` (reset-after, sigmoid): `gruReference` below, a float64 JS transcription
 *   of GRU-CONVENTIONS.md §1 (reset-after) and a float64 Dense + softmax, on weights read straight
 *   from the file's `model.weights.h5` paths (`layers/gru/cell/vars/0..2`, ...).
 */
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { GRU, Model, Tensor, UnsupportedLayerError, init, loadKerasModel, loadKerasWeights, model, modelFromKerasConfig, parityReport, tensor } from '../../ts/src/index.ts';
import { H5File } from '../../ts/src/io/h5.ts';
import { ZipReader } from '../../ts/src/io/zip.ts';
import { rng } from '../layers/util/numeric.ts';

const FIX = fileURLToPath(new URL('../fixtures/', import.meta.url));
const H5 = `${FIX}keras/xiaochus-gru.h5`;
const KERAS3 = `${FIX}keras/cdt406-gru_model.keras`;
const REF = JSON.parse(readFileSync(`${FIX}tfjs-xiaochus/reference.json`, 'utf8'));
const TOL = 1e-5;

beforeAll(async () => {
  await init();
  await tf.setBackend('cpu');
});

/** A model from the input to one layer's output (shares the layers: do not dispose it). */
function upTo(m: Model, layer: string): Model {
  const nodes = m.getLayer(layer).inboundNodes;
  return model({ inputs: m.inputs, outputs: nodes[nodes.length - 1].outputs[0] });
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('Keras 2.1.4 full-model .h5 (xiaochus-gru.h5)', () => {
  it('converts the config: reset-before (no reset_after key), Keras 2 hard_sigmoid', async () => {
    const m = await loadKerasModel(H5);
    expect(m.layers.map((l) => `${l.className}:${l.name}`)).toEqual(['GRU:gru_1', 'GRU:gru_2', 'Dropout:dropout_1', 'Dense:dense_1']);
    const g = m.getLayer('gru_1') as GRU;
    expect(g.resetAfter).toBe(false);
    expect(g.getConfig().recurrentActivation).toBe('hardSigmoid');
    expect(g.getConfig().returnSequences).toBe(true);
    expect(g.getWeights().map((w) => w.shape)).toEqual([[1, 192], [64, 192], [192]]);
    m.dispose();
  });

  it('matches tfjs reference.json (same weights) within 1e-5: output and each GRU', async () => {
    const m = await loadKerasModel(H5);
    const x = tensor(REF.input.data, REF.input.shape);
    const [row] = parityReport(m, x, REF.output.data);
    expect(row.output).toBe('dense_1');
    expect(row.maxAbsDiff).toBeLessThan(TOL);
    for (const name of ['gru_1', 'gru_2']) {
      const y = upTo(m, name).predict(x) as Tensor;
      expect(y.shape).toEqual(REF.recurrent_layer_outputs[name].output.shape);
      expect(maxAbsDiff(y.data, REF.recurrent_layer_outputs[name].output.data)).toBeLessThan(TOL);
      if (process.env.PARITY_VERBOSE) console.log(`xiaochus .h5 ${name} vs tfjs:`, maxAbsDiff(y.data, REF.recurrent_layer_outputs[name].output.data));
    }
    m.dispose();
  });

  it('matches tfjs-layers built live with the same weights on random inputs', async () => {
    const m = await loadKerasModel(H5);
    const w = m.getWeights().map((t) => tf.tensor(Array.from(t.data), [...t.shape]));
    const ref = tf.sequential({
      layers: [
        tf.layers.gru({ units: 64, returnSequences: true, inputShape: [12, 1], recurrentActivation: 'hardSigmoid' }),
        tf.layers.gru({ units: 64, recurrentActivation: 'hardSigmoid' }),
        tf.layers.dense({ units: 1, activation: 'sigmoid' }),
      ],
    });
    ref.setWeights(w);
    const r = rng(5);
    const data = Array.from({ length: 5 * 12 }, () => r() * 1.2 - 0.1);
    const want = (ref.predict(tf.tensor(data, [5, 12, 1])) as tf.Tensor).dataSync();
    const [row] = parityReport(m, tensor(data, [5, 12, 1]), want);
    expect(row.maxAbsDiff).toBeLessThan(TOL);
    m.dispose();
  });

  it('loadKerasWeights reads the full file\'s model_weights into a model built from its config', async () => {
    const h5 = await H5File.open(readFileSync(H5), 'xiaochus-gru.h5');
    const attrs = h5.attrs('');
    expect(attrs.keras_version).toBe('2.1.4');
    // Fixed-length strings come back without their NUL padding.
    expect(h5.stringList('model_weights', 'layer_names')).toEqual(['gru_1', 'gru_2', 'dropout_1', 'dense_1']);
    const m = modelFromKerasConfig(attrs.model_config, { kerasVersion: '2.1.4' });
    await loadKerasWeights(m, `file://${H5}`);
    const [row] = parityReport(m, tensor(REF.input.data, REF.input.shape), REF.output.data);
    expect(row.maxAbsDiff).toBeLessThan(TOL);
    m.dispose();
  });
});

// ---- float64 reference (GRU-CONVENTIONS.md §1, reset-after) ----------------------------------

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

/** Keras reset-after GRU, float64: x (B, T, D), K (D, 3H), U (H, 3H), b (2, 3H) → all h_t (B, T, H). */
function gruReference(x: number[][][], K: Float32Array, U: Float32Array, b: Float32Array, H: number): number[][][] {
  const D = x[0][0].length;
  return x.map((seq) => {
    let h = new Array(H).fill(0);
    return seq.map((xt) => {
      const gx = new Array(3 * H).fill(0).map((_, j) => b[j] + xt.reduce((s, v, d) => s + v * K[d * 3 * H + j], 0));
      const gu = new Array(3 * H).fill(0).map((_, j) => b[3 * H + j] + h.reduce((s, v, k) => s + v * U[k * 3 * H + j], 0));
      void D;
      const z = h.map((_, j) => sigmoid(gx[j] + gu[j]));
      const r = h.map((_, j) => sigmoid(gx[H + j] + gu[H + j]));
      const hh = h.map((_, j) => Math.tanh(gx[2 * H + j] + r[j] * gu[2 * H + j]));
      h = h.map((hp, j) => z[j] * hp + (1 - z[j]) * hh[j]);
      return h;
    });
  });
}

describe('Keras 3.9.2 .keras zip (cdt406-gru_model.keras)', () => {
  it('converts the config: Keras 3 InputLayer, reset_after true, sigmoid', async () => {
    const m = await loadKerasModel(KERAS3);
    expect(m.layers.map((l) => `${l.className}:${l.name}`)).toEqual(['GRU:gru', 'GRU:gru_1', 'Dense:dense']);
    const g = m.getLayer('gru') as GRU;
    expect(g.resetAfter).toBe(true);
    expect(g.getWeights()[2].shape).toEqual([2, 96]);
    expect(m.inputs[0].shape).toEqual([null, 4, 1]);
    m.dispose();
  });

  it('matches a float64 reset-after GRU (§1) on the file\'s weights within 1e-5', async () => {
    const zip = new ZipReader(new Uint8Array(readFileSync(KERAS3)), 'cdt406');
    expect(zip.entries.map((e) => e.name).sort()).toEqual(['config.json', 'metadata.json', 'model.weights.h5']);
    const h5 = await H5File.open(await zip.read('model.weights.h5'), 'model.weights.h5');
    const v = (p: string) => h5.dataset(p).data;
    const r = rng(11);
    const B = 3;
    const x = Array.from({ length: B }, () => Array.from({ length: 4 }, () => [r() * 4 - 2]));
    const h1 = gruReference(x, v('layers/gru/cell/vars/0'), v('layers/gru/cell/vars/1'), v('layers/gru/cell/vars/2'), 32);
    const h2 = gruReference(h1, v('layers/gru_1/cell/vars/0'), v('layers/gru_1/cell/vars/1'), v('layers/gru_1/cell/vars/2'), 16);
    const W = v('layers/dense/vars/0');
    const bd = v('layers/dense/vars/1');
    const expected = h2.flatMap((seq) => {
      const h = seq[seq.length - 1];
      const logits = [0, 1, 2].map((c) => bd[c] + h.reduce((s, hv, k) => s + hv * W[k * 3 + c], 0));
      const mx = Math.max(...logits);
      const e = logits.map((l) => Math.exp(l - mx));
      const sum = e.reduce((a, b) => a + b, 0);
      return e.map((q) => q / sum);
    });
    const m = await loadKerasModel(new Uint8Array(readFileSync(KERAS3)));
    const xs = tensor(x.flat(2), [B, 4, 1]);
    const [row] = parityReport(m, xs, expected);
    expect(row.maxAbsDiff).toBeLessThan(TOL);
    const seq = upTo(m, 'gru').predict(xs) as Tensor;
    expect(maxAbsDiff(seq.data, h1.flat(2))).toBeLessThan(TOL);
    if (process.env.PARITY_VERBOSE) console.log('cdt406 .keras vs float64 §1:', row, 'gru sequence', maxAbsDiff(seq.data, h1.flat(2)));
    m.dispose();
  });

  it('loadKerasWeights reads the Keras 3 .weights.h5 layout', async () => {
    const zip = new ZipReader(new Uint8Array(readFileSync(KERAS3)), 'cdt406');
    const config = JSON.parse(new TextDecoder().decode(await zip.read('config.json')));
    const a = modelFromKerasConfig(config);
    await loadKerasWeights(a, await zip.read('model.weights.h5'));
    const b = await loadKerasModel(KERAS3);
    const x = tensor([0.3, -1, 2, 0.5, 0, 0.1, -0.2, 1], [2, 4, 1]);
    expect(Array.from((a.predict(x) as Tensor).data)).toEqual(Array.from((b.predict(x) as Tensor).data));
    a.dispose();
    b.dispose();
  });
});

// ---- the converter on configs --------------------------------------------------------------

const gruCfg = (extra: Record<string, unknown>) => ({ class_name: 'GRU', config: { name: 'g', units: 3, return_sequences: false, ...extra } });

describe('modelFromKerasConfig', () => {
  it('hard_sigmoid means Keras 2 / tfjs clip(0.2x + 0.5) there, and Keras 3 relu6(x + 3) / 6 in Keras 3', () => {
    const seq = (ver: string) =>
      modelFromKerasConfig({ class_name: 'Sequential', config: { name: 's', layers: [gruCfg({ batch_input_shape: [null, 5, 2], recurrent_activation: 'hard_sigmoid', activation: 'hard_sigmoid' })] } }, { kerasVersion: ver });
    for (const [ver, want] of [['2.2.4', 'hardSigmoid'], ['tfjs-layers 4.22.0', 'hardSigmoid'], ['3.9.2', 'hardSigmoidKeras3']]) {
      const m = seq(ver);
      const c = m.getLayer('g').getConfig();
      expect([ver, c.recurrentActivation, c.activation]).toEqual([ver, want, want]);
      m.dispose();
    }
  });

  it('a missing reset_after is reset-before (Keras 2.1/2.2); an explicit one is kept', () => {
    for (const [extra, want] of [[{}, false], [{ reset_after: true }, true], [{ reset_after: false }, false]] as const) {
      const m = modelFromKerasConfig({ class_name: 'Sequential', config: [gruCfg({ ...extra, batch_input_shape: [null, 4, 2] })] });
      expect((m.getLayer('g') as GRU).resetAfter).toBe(want);
      m.dispose();
    }
  });

  it('builds a Keras 2 functional graph: Embedding(mask_zero) → Bidirectional(GRU) + Masking / BatchNormalization / Concatenate / Dense', () => {
    const n = (name: string, node = 0) => [[[name, node, 0, {}]]];
    const cfg = {
      class_name: 'Model',
      config: {
        name: 'f',
        layers: [
          { name: 'ids', class_name: 'InputLayer', config: { batch_input_shape: [null, 6], dtype: 'int32', name: 'ids' }, inbound_nodes: [] },
          { name: 'feats', class_name: 'InputLayer', config: { batch_input_shape: [null, 6, 2], dtype: 'float32', name: 'feats' }, inbound_nodes: [] },
          { name: 'emb', class_name: 'Embedding', config: { name: 'emb', input_dim: 20, output_dim: 4, mask_zero: true }, inbound_nodes: n('ids') },
          { name: 'bi', class_name: 'Bidirectional', config: { name: 'bi', merge_mode: 'concat', layer: gruCfg({ name: 'gb', units: 5, return_sequences: true, reset_after: true, recurrent_activation: 'sigmoid' }) }, inbound_nodes: n('emb') },
          { name: 'mask', class_name: 'Masking', config: { name: 'mask', mask_value: 0 }, inbound_nodes: n('feats') },
          { name: 'g2', class_name: 'GRU', config: { name: 'g2', units: 3, return_sequences: true, reset_after: false, go_backwards: false }, inbound_nodes: n('mask') },
          { name: 'cat', class_name: 'Concatenate', config: { name: 'cat', axis: -1 }, inbound_nodes: [[['bi', 0, 0, {}], ['g2', 0, 0, {}]]] },
          { name: 'bn', class_name: 'BatchNormalization', config: { name: 'bn', axis: -1, momentum: 0.9, epsilon: 0.01 }, inbound_nodes: n('cat') },
          { name: 'pool', class_name: 'GlobalAveragePooling1D', config: { name: 'pool' }, inbound_nodes: n('bn') },
          { name: 'out', class_name: 'Dense', config: { name: 'out', units: 2, activation: 'softmax' }, inbound_nodes: n('pool') },
        ],
        input_layers: [['ids', 0, 0], ['feats', 0, 0]],
        output_layers: [['out', 0, 0]],
      },
    };
    const m = modelFromKerasConfig(cfg, { kerasVersion: '2.3.1' });
    expect(m.layers.map((l) => l.className)).toEqual(['Embedding', 'Bidirectional', 'Masking', 'GRU', 'Concatenate', 'BatchNormalization', 'GlobalAveragePooling1D', 'Dense']);
    const y = m.predict([tensor([1, 2, 3, 0, 0, 0, 4, 5, 6, 7, 8, 9], [2, 6], 'int32'), tensor(new Float32Array(24).fill(0.5), [2, 6, 2])]) as Tensor;
    expect(y.shape).toEqual([2, 2]);
    m.dispose();
  });

  it('builds a Keras 3 functional graph (keras tensors, initial_state kwarg)', () => {
    const kt = (layer: string, node = 0, t = 0) => ({ class_name: '__keras_tensor__', config: { shape: null, dtype: 'float32', keras_history: [layer, node, t] } });
    const cfg = {
      module: 'keras',
      class_name: 'Functional',
      config: {
        name: 'k3',
        layers: [
          { module: 'keras.layers', class_name: 'InputLayer', name: 'x', config: { batch_shape: [null, 7, 3], dtype: 'float32', name: 'x' }, inbound_nodes: [] },
          { module: 'keras.layers', class_name: 'InputLayer', name: 'h0', config: { batch_shape: [null, 4], dtype: 'float32', name: 'h0' }, inbound_nodes: [] },
          { module: 'keras.layers', class_name: 'GRU', name: 'enc', config: { name: 'enc', units: 4, return_state: true, reset_after: true, activation: 'tanh', recurrent_activation: 'hard_sigmoid' }, inbound_nodes: [{ args: [kt('x')], kwargs: { initial_state: [kt('h0')], training: false } }] },
          { module: 'keras.layers', class_name: 'Add', name: 'sum', config: { name: 'sum' }, inbound_nodes: [{ args: [[kt('enc', 0, 0), kt('enc', 0, 1)]], kwargs: {} }] },
        ],
        input_layers: [['x', 0, 0], ['h0', 0, 0]],
        output_layers: [['sum', 0, 0]],
      },
    };
    const m = modelFromKerasConfig(cfg);
    expect((m.getLayer('enc') as GRU).getConfig().recurrentActivation).toBe('hardSigmoidKeras3');
    const y = m.predict([tensor(new Float32Array(2 * 7 * 3).fill(0.1), [2, 7, 3]), tensor(new Float32Array(8).fill(0.2), [2, 4])]) as Tensor;
    expect(y.shape).toEqual([2, 4]);
    m.dispose();
  });

  it('lists every unknown layer and option in one typed error', () => {
    const cfg = {
      class_name: 'Sequential',
      config: {
        name: 's',
        layers: [
          { class_name: 'Conv1D', config: { name: 'conv', filters: 3, batch_input_shape: [null, 5, 2] } },
          { class_name: 'LSTM', config: { name: 'lstm', units: 3 } },
          gruCfg({ activation: 'elu' }),
        ],
      },
    };
    let err: unknown;
    try {
      modelFromKerasConfig(cfg);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UnsupportedLayerError);
    expect((err as UnsupportedLayerError).layers).toEqual([`Conv1D 'conv'`, `LSTM 'lstm'`, expect.stringContaining(`GRU 'g': activation "elu"`)]);
    expect((err as Error).message).toMatch(/3 layers or options fastgru does not support/);
  });
});
