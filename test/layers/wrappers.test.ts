/**
 * TimeDistributed and Bidirectional (Keras 3 wrappers).
 *
 * 1. Forward parity with tfjs-layers 4.22 (cpu backend) on identical weights. tfjs' GRU is
 *    reset-before (GRU-CONVENTIONS.md §1) with a hardSigmoid default, so it is built with
 *    `recurrentActivation: 'sigmoid'` and ours with `resetAfter: false`. The snippet:
 *      const l = tf.layers.bidirectional({layer: tf.layers.gru({units: 5, recurrentActivation:
 *        'sigmoid', returnSequences}), mergeMode});
 *      l.apply(tf.zeros([B, T, D])); l.setWeights([fk, fu, fb, bk, bu, bb]);  // forward, backward
 *      y = l.apply(x);
 *    and `tf.layers.timeDistributed({layer: tf.layers.dense({units: 4, activation: 'tanh'})})`.
 * 2. Masks (no tfjs reference: tfjs carries the previous STATE through masked steps and does not
 *    force zero outputs): a right-padded batch with a mask equals each sequence run unpadded;
 *    padded steps of returnSequences outputs are zeros (Keras 3 forces `zero_output_for_mask`).
 * 3. Finite differences of every backward through the public API (util/fd.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bidirectional, GRU, Tensor, TimeDistributed, init, layers } from '../../ts/src/index.ts';
import { BACKENDS, expectClose, rng, uniform } from './util/numeric.ts';
import { checkLayerGradients } from './util/fd.ts';

const FWD = { atol: 1e-5, rtol: 1e-5 };
const [B, T, D, H] = [3, 5, 4, 5];

beforeAll(async () => {
  await tf.setBackend('cpu');
});

afterAll(() => {
  tf.disposeVariables();
});

/** kernel, recurrentKernel, bias (reset-before) for one direction. */
function gruWeights(r: () => number, d = D, h = H): Float32Array[] {
  return [uniform(r, d * 3 * h, -0.5, 0.5), uniform(r, h * 3 * h, -0.5, 0.5), uniform(r, 3 * h, -0.5, 0.5)];
}

function shapesOf(ws: Float32Array[], d = D, h = H): number[][] {
  return ws.length === 3 ? [[d, 3 * h], [h, 3 * h], [3 * h]] : [];
}

function toTensors(ws: Float32Array[], d = D, h = H): Tensor[] {
  const s = shapesOf(ws, d, h);
  return ws.map((w, i) => new Tensor(w, s[i]));
}

describe.each(BACKENDS)('wrappers, backend %s', (backend) => {
  beforeAll(async () => {
    await init({ backend });
  });

  describe('tfjs parity (forward)', () => {
    it('timeDistributed(dense)', () => {
      const r = rng(1);
      const ours = layers.timeDistributed({ layer: layers.dense({ units: 4, activation: 'tanh' }) });
      const theirs = tf.layers.timeDistributed({ layer: tf.layers.dense({ units: 4, activation: 'tanh' }) });
      ours.apply(new Tensor(new Float32Array(B * T * D), [B, T, D]));
      tf.tidy(() => {
        theirs.apply(tf.zeros([B, T, D]));
      });
      const w = [uniform(r, D * 4, -1, 1), uniform(r, 4, -0.5, 0.5)];
      ours.setWeights([new Tensor(w[0], [D, 4]), new Tensor(w[1], [4])]);
      theirs.setWeights([tf.tensor2d(w[0], [D, 4]), tf.tensor1d(w[1])]);
      const x = uniform(r, B * T * D, -1, 1);
      const y = ours.apply(new Tensor(x, [B, T, D])) as Tensor;
      expect(y.shape).toEqual([B, T, 4]);
      const ref = tf.tidy(() => (theirs.apply(tf.tensor3d(x, [B, T, D])) as tf.Tensor).dataSync());
      expectClose('y', y.data, ref, FWD);
      expect(ours.computeOutputShape([null, T, D])).toEqual([null, T, 4]);
      ours.dispose();
      theirs.dispose();
    });

    const modes = ['concat', 'sum', 'mul', 'ave', null] as const;
    it.each(modes.flatMap((m) => [true, false].map((seq) => [`${m} returnSequences ${seq}`, m, seq] as const)))('bidirectional(gru) %s', (_n, mergeMode, returnSequences) => {
      const r = rng(2);
      const ours = layers.bidirectional({ layer: layers.gru({ units: H, resetAfter: false, returnSequences }), mergeMode });
      const theirs = tf.layers.bidirectional({ layer: tf.layers.gru({ units: H, recurrentActivation: 'sigmoid', returnSequences }) as tf.RNN, mergeMode: mergeMode ?? undefined });
      if (mergeMode === null) (theirs as unknown as { mergeMode: null }).mergeMode = null;
      ours.apply(new Tensor(new Float32Array(B * T * D), [B, T, D]));
      tf.tidy(() => {
        theirs.apply(tf.zeros([B, T, D]));
      });
      const w = [...gruWeights(r), ...gruWeights(r)];
      ours.setWeights([...toTensors(w.slice(0, 3)), ...toTensors(w.slice(3))]);
      theirs.setWeights(w.map((v, i) => tf.tensor(v, shapesOf(w.slice(0, 3))[i % 3])));
      const x = uniform(r, B * T * D, -1, 1);
      const y = ours.apply(new Tensor(x, [B, T, D]));
      const ys = Array.isArray(y) ? y : [y];
      const refs = tf.tidy(() => {
        const o = theirs.apply(tf.tensor3d(x, [B, T, D])) as tf.Tensor | tf.Tensor[];
        return (Array.isArray(o) ? o : [o]).map((t) => t.dataSync());
      });
      expect(ys.length).toBe(refs.length);
      ys.forEach((t, i) => expectClose(`output ${i}`, t.data, refs[i], FWD));
      const want = ours.computeOutputShape([B, T, D]);
      const shapes = ys.map((t) => [...t.shape]);
      expect(shapes.length === 1 ? shapes[0] : shapes).toEqual(want);
      ours.dispose();
      theirs.dispose();
    });

    it('bidirectional returnState: [merged, forward state, backward state]', () => {
      const r = rng(3);
      const ours = layers.bidirectional({ layer: layers.gru({ units: H, resetAfter: false, returnSequences: true, returnState: true }) });
      const theirs = tf.layers.bidirectional({ layer: tf.layers.gru({ units: H, recurrentActivation: 'sigmoid', returnSequences: true, returnState: true }) as tf.RNN });
      ours.apply(new Tensor(new Float32Array(B * T * D), [B, T, D]));
      tf.tidy(() => {
        theirs.apply(tf.zeros([B, T, D]));
      });
      const w = [...gruWeights(r), ...gruWeights(r)];
      ours.setWeights(toTensors(w.slice(0, 3)).concat(toTensors(w.slice(3))));
      theirs.setWeights(w.map((v, i) => tf.tensor(v, shapesOf(w.slice(0, 3))[i % 3])));
      const x = uniform(r, B * T * D, -1, 1);
      const ys = ours.apply(new Tensor(x, [B, T, D])) as Tensor[];
      const refs = tf.tidy(() => (theirs.apply(tf.tensor3d(x, [B, T, D])) as tf.Tensor[]).map((t) => t.dataSync()));
      expect(ys.map((t) => t.shape)).toEqual([[B, T, 2 * H], [B, H], [B, H]]);
      ys.forEach((t, i) => expectClose(`output ${i}`, t.data, refs[i], FWD));
      ours.dispose();
      theirs.dispose();
    });
  });

  describe('Keras structure', () => {
    it('forward_/backward_ copies with their own weights, forward weights first; the backward copy has goBackwards', () => {
      const g = layers.gru({ units: 3, name: 'enc' });
      const bi = layers.bidirectional({ layer: g });
      bi.apply(new Tensor(new Float32Array(2 * 3 * 2), [2, 3, 2]));
      expect(bi.weights.map((w) => w.name)).toEqual([
        'forward_enc/kernel',
        'forward_enc/recurrentKernel',
        'forward_enc/bias',
        'backward_enc/kernel',
        'backward_enc/recurrentKernel',
        'backward_enc/bias',
      ]);
      expect((bi.backwardLayer as GRU).goBackwards).toBe(true);
      expect((bi.forwardLayer as GRU).goBackwards).toBe(false);
      expect(bi.countParams()).toBe(2 * g.units * 3 * (2 + 3 + 2));
      const w = bi.getWeights();
      expect(w[0].data).not.toEqual(w[3].data);
      bi.dispose();
    });

    it('a padded batch with a mask equals each sequence run unpadded (masked outputs are zeros)', () => {
      const r = rng(4);
      const lengths = [5, 3, 1];
      for (const returnSequences of [true, false]) {
        const bi = layers.bidirectional({ layer: layers.gru({ units: H, returnSequences }) });
        bi.apply(new Tensor(new Float32Array(B * T * D), [B, T, D]));
        bi.setWeights([...toTensors(gruWeights(r)), ...toTensors(gruWeights(r))].map((t, i) => (i % 3 === 2 ? new Tensor(uniform(r, 6 * H, -0.5, 0.5), [2, 3 * H]) : t)));
        const x = uniform(r, B * T * D, -1, 1);
        const mask = new Tensor(Float32Array.from(lengths.flatMap((len) => Array.from({ length: T }, (_, t) => (t < len ? 1 : 0)))), [B, T]);
        // Padding holds garbage: it must not matter.
        for (let b = 0; b < B; b++) for (let t = lengths[b]; t < T; t++) x.fill(7, (b * T + t) * D, (b * T + t + 1) * D);
        const y = bi.apply(new Tensor(x, [B, T, D]), { mask }) as Tensor;
        const F = 2 * H;
        lengths.forEach((len, b) => {
          const xb = x.slice(b * T * D, (b * T + len) * D);
          const yb = bi.apply(new Tensor(xb, [1, len, D])) as Tensor;
          if (returnSequences) {
            expectClose(`row ${b} valid steps`, y.data.slice(b * T * F, (b * T + len) * F), yb.data, { atol: 1e-6, rtol: 1e-6 });
            expect(Array.from(y.data.slice((b * T + len) * F, (b + 1) * T * F)).every((v) => v === 0)).toBe(true);
          } else {
            expectClose(`row ${b}`, y.data.slice(b * F, (b + 1) * F), yb.data, { atol: 1e-6, rtol: 1e-6 });
          }
        });
        bi.dispose();
      }
    });

    it('initialState is split in halves, the first for the forward layer', () => {
      const r = rng(5);
      const bi = layers.bidirectional({ layer: layers.gru({ units: H, returnSequences: true }), mergeMode: null });
      const x = new Tensor(uniform(r, B * T * D, -1, 1), [B, T, D]);
      const h0f = new Tensor(uniform(r, B * H, -1, 1), [B, H]);
      const h0b = new Tensor(uniform(r, B * H, -1, 1), [B, H]);
      const [yf, yb] = bi.apply(x, { initialState: [h0f, h0b] }) as Tensor[];
      const f = bi.forwardLayer as GRU;
      const b = bi.backwardLayer as GRU;
      expectClose('forward', yf.data, (f.apply(x, { initialState: h0f }) as Tensor).data, { atol: 0, rtol: 0 });
      const rev = b.apply(x, { initialState: h0b }) as Tensor;
      // The backward layer's outputs come back in input time order.
      for (let i = 0; i < B; i++) {
        for (let t = 0; t < T; t++) {
          const got = yb.data.slice((i * T + t) * H, (i * T + t + 1) * H);
          const want = rev.data.slice((i * T + (T - 1 - t)) * H, (i * T + (T - t)) * H);
          expect(Array.from(got)).toEqual(Array.from(want));
        }
      }
      bi.dispose();
    });

    it('getConfig / fromConfig round trip', () => {
      const bi = layers.bidirectional({ layer: layers.gru({ units: 4, returnSequences: true, name: 'g' }), mergeMode: 'ave', name: 'bi' });
      const bi2 = Bidirectional.fromConfig(bi.getConfig());
      expect(bi2.getConfig()).toEqual(bi.getConfig());
      expect(bi2.mergeMode).toBe('ave');
      const td = layers.timeDistributed({ layer: layers.dense({ units: 3, name: 'd' }), name: 'td' });
      expect(TimeDistributed.fromConfig(td.getConfig()).getConfig()).toEqual(td.getConfig());
    });
  });

  describe('finite differences through the public API', () => {
    const x0 = (r: () => number) => new Tensor(uniform(r, 2 * 3 * 3, -1, 1), [2, 3, 3]);
    const mask = new Tensor(Float32Array.from([1, 1, 0, 1, 0, 0]), [2, 3]);

    it('timeDistributed(dense) and timeDistributed(layerNormalization)', () => {
      const r = rng(6);
      for (const inner of [layers.dense({ units: 2, activation: 'tanh' }), layers.layerNormalization({})]) {
        const td = layers.timeDistributed({ layer: inner });
        const x = x0(r);
        td.apply(x);
        if (inner.className === 'LayerNormalization') td.setWeights([new Tensor(uniform(r, 3, 0.5, 1.5), [3]), new Tensor(uniform(r, 3, -0.5, 0.5), [3])]);
        // LayerNormalization over 3 features has rows with a small variance, so a large curvature:
        // a smaller step keeps the central difference's truncation error down.
        const eps = inner.className === 'LayerNormalization' ? 2e-3 : 1e-2;
        checkLayerGradients(`timeDistributed(${inner.className})`, td, [x], [mask], (ins) => [td.apply(ins[0], { training: true, mask }) as Tensor], { eps });
        td.dispose();
      }
    });

    const cases = [
      { name: 'concat, returnSequences, mask', mergeMode: 'concat', returnSequences: true, mask: true },
      { name: 'mul, last output', mergeMode: 'mul', returnSequences: false, mask: false },
      { name: 'sum, returnSequences', mergeMode: 'sum', returnSequences: true, mask: false },
      { name: 'ave, mask', mergeMode: 'ave', returnSequences: false, mask: true },
      { name: 'null, returnState, initial states, mask', mergeMode: null, returnSequences: true, mask: true, state: true },
    ] as const;
    it.each(cases.map((c) => [c.name, c] as const))('bidirectional(gru) %s', (_n, c) => {
      const r = rng(7);
      const bi = layers.bidirectional({ layer: layers.gru({ units: 2, returnSequences: c.returnSequences, returnState: 'state' in c }), mergeMode: c.mergeMode });
      const x = x0(r);
      const m = c.mask ? mask : null;
      const states = 'state' in c ? [new Tensor(uniform(r, 4, -0.5, 0.5), [2, 2]), new Tensor(uniform(r, 4, -0.5, 0.5), [2, 2])] : [];
      bi.apply(x);
      bi.setWeights(bi.getWeights().map((w) => new Tensor(uniform(r, w.size, -0.5, 0.5), w.shape)));
      checkLayerGradients(`bidirectional ${c.name}`, bi, [x, ...states], [m, ...states.map(() => null)], (ins) => {
        const out = bi.apply(ins[0], { training: true, mask: m, ...(ins.length > 1 ? { initialState: ins.slice(1) } : {}) });
        return Array.isArray(out) ? out : [out];
      });
      bi.dispose();
    });
  });
});
