/**
 * exportOnnx of graphs beyond one input → one output (issue 5: "export our models to ONNX that
 * onnxruntime runs with the same outputs"): returnState, initial states as inputs, several inputs
 * and outputs, goBackwards sequences, every Bidirectional mergeMode, Concatenate / Add, shared layers.
 * GRU-CONVENTIONS.md §4 (Keras → ONNX) and §3 (ONNX layout).
 *
 * Outside truth: onnxruntime-web 1.22 runs the exported bytes on the same feeds; every output is
 * compared with our `predict`.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Tensor, compareOutputs, exportOnnx, importOnnx, init, input, layers, model, setSeed, tensor } from '../../ts/src/index.ts';
import { rand, runOrt } from './onnx-helpers.ts';

beforeAll(async () => {
  await init();
});

const T = 5;
const Bn = 3;

type M = ReturnType<typeof model>;
interface Case {
  name: string;
  make: () => M;
  feeds: () => Tensor[];
  /** ONNX input names in model.inputs order. */
  inputNames: string[];
  /** Also read back through importOnnx: the same outputs. */
  reimport?: boolean;
}

const cases: Case[] = [
  {
    name: 'GRU returnSequences + returnState → [Dense(y), state]; Bidirectional(sum, returnState) → [merged, h_fwd, h_bwd]',
    make: () => {
      const x = input({ shape: [T, 4] });
      const [y, h] = layers.gru({ units: 6, returnSequences: true, returnState: true }).apply(x) as never[];
      const [m2, hf, hb] = layers.bidirectional({ layer: layers.gru({ units: 5, returnState: true, resetAfter: false }), mergeMode: 'sum' }).apply(y) as never[];
      return model({ inputs: x, outputs: [layers.dense({ units: 2 }).apply(y) as never, h, m2, hf, hb] });
    },
    feeds: () => [rand([Bn, T, 4], 31)],
    inputNames: ['input'],
    reimport: true,
  },
  {
    name: 'ids + features + initial state inputs: Embedding ‖ features → goBackwards GRU (sequences, initialState) → [sequence, Dense(last)]',
    make: () => {
      const ids = input({ shape: [T], dtype: 'int32', name: 'ids' });
      const feats = input({ shape: [T, 3], name: 'feats' });
      const h0 = input({ shape: [4], name: 'h0' });
      const e = layers.embedding({ inputDim: 9, outputDim: 5 }).apply(ids) as never;
      const c = layers.concatenate().apply([e, feats]) as never;
      const s = layers.gru({ units: 4, returnSequences: true, goBackwards: true }).apply(c, { initialState: h0 }) as never;
      const last = layers.gru({ units: 3, recurrentActivation: 'hardSigmoid' }).apply(s) as never;
      return model({ inputs: [ids, feats, h0], outputs: [s, layers.dense({ units: 2, activation: 'softmax' }).apply(last) as never] });
    },
    feeds: () => [tensor(Int32Array.from({ length: Bn * T }, (_, i) => (i * 4 + 1) % 9), [Bn, T], 'int32'), rand([Bn, T, 3], 32), rand([Bn, 4], 33, 0.8)],
    inputNames: ['ids', 'feats', 'h0'],
  },
  {
    name: 'Bidirectional mergeMode null / ave / mul with initial states, a shared Dense and Add',
    make: () => {
      const x = input({ shape: [T, 3], name: 'x' });
      const hf = input({ shape: [4], name: 'hf' });
      const hb = input({ shape: [4], name: 'hb' });
      const [yf, yb] = layers.bidirectional({ layer: layers.gru({ units: 4, returnSequences: true }), mergeMode: null }).apply(x, { initialState: [hf, hb] }) as never[];
      const ave = layers.bidirectional({ layer: layers.gru({ units: 4, returnSequences: true }), mergeMode: 'ave' }).apply(x) as never;
      const mul = layers.bidirectional({ layer: layers.gru({ units: 4 }), mergeMode: 'mul' }).apply(x) as never;
      const shared = layers.dense({ units: 3, activation: 'tanh' });
      const sum = layers.add().apply([shared.apply(yf) as never, shared.apply(yb) as never, shared.apply(ave) as never]) as never;
      return model({ inputs: [x, hf, hb], outputs: [sum, mul] });
    },
    feeds: () => [rand([Bn, T, 3], 34), rand([Bn, 4], 35, 0.8), rand([Bn, 4], 36, 0.8)],
    inputNames: ['x', 'hf', 'hb'],
  },
];

describe('exportOnnx: several inputs and outputs, returnState, initial states — onnxruntime-web agrees', () => {
  it.each(cases)('$name', async (c) => {
    setSeed(5);
    const m = c.make();
    // Non-trivial biases, so that a lost or misplaced bias shows.
    m.setWeights(m.getWeights().map((w, i) => (w.rank === 1 || (w.rank === 2 && w.shape[0] === 2) ? rand([...w.shape], 400 + i, 0.3) : w)));
    const xs = c.feeds();
    const ours = [m.predict(xs.length === 1 ? xs[0] : xs)].flat() as Tensor[];
    const bytes = await exportOnnx(m);
    const ref = await runOrt(bytes, Object.fromEntries(c.inputNames.map((n, i) => [n, xs[i]])));
    const names = ours.length === 1 ? ['output'] : ours.map((_, i) => `output_${i}`);
    expect(Object.keys(ref).sort()).toEqual([...names].sort());
    const diffs = ours.map((t, i) => {
      expect(ref[names[i]].shape).toEqual(t.shape);
      expect(new Set(Array.from(t.data)).size).toBeGreaterThan(t.size / 4);
      return compareOutputs(t, ref[names[i]]).maxAbsDiff;
    });
    console.log(`export ${c.name}: ${bytes.length} B, max |Δ| per output vs ORT ${diffs.map((d) => d.toExponential(2)).join(', ')}`);
    for (const d of diffs) expect(d).toBeLessThanOrEqual(1e-5);
    if (c.reimport) {
      const back = (await importOnnx(bytes)).run(Object.fromEntries(c.inputNames.map((n, i) => [n, xs[i]])));
      names.forEach((n, i) => expect(compareOutputs(back[n], ours[i]).maxAbsDiff).toBeLessThanOrEqual(1e-6));
    }
  });
});
