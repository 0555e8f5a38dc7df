/** Models and data shared by the io tests (issue 5 item 1). */
import { Model, Tensor, input, layers, model, sequential, tensor } from '../../ts/src/index.ts';
import { rng, uniform } from '../util/random.ts';

export interface Case {
  name: string;
  make: () => Model;
  /** Inputs for predict. */
  x: () => Tensor | Tensor[];
}

const B = 3;
const T = 5;

function floats(shape: number[], seed: number): Tensor {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return new Tensor(uniform(r, n, -1, 1), shape);
}

function ids(shape: number[], vocab: number, seed: number): Tensor {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Int32Array(n);
  const u = uniform(r, n, 0, vocab);
  for (let i = 0; i < n; i++) data[i] = Math.floor(u[i]);
  // Padding (id 0) at the end of the first sequence, for maskZero.
  for (let t = shape[1] - 2; t < shape[1]; t++) data[t] = 0;
  return new Tensor(data, shape);
}

/** The models of the round-trip tests: every layer class, shared layers, initialState, nesting. */
export const CASES: Case[] = [
  {
    name: 'sequential GRU -> Dense',
    make: () => sequential({ layers: [layers.gru({ units: 6, inputShape: [T, 4] }), layers.dense({ units: 2, activation: 'softmax' })] }),
    x: () => floats([B, T, 4], 1),
  },
  {
    name: 'functional two inputs, two outputs, shared GRU',
    make: () => {
      const a = input({ shape: [T, 3], name: 'a' });
      const b = input({ shape: [T, 3], name: 'b' });
      const g = layers.gru({ units: 4, name: 'shared_gru' });
      const ha = g.apply(a) as never;
      const hb = g.apply(b) as never;
      const o1 = layers.dense({ units: 2, name: 'out1' }).apply(ha);
      const o2 = layers.dense({ units: 1, name: 'out2' }).apply(layers.concatenate({ name: 'cat' }).apply([ha, hb]) as never);
      return model({ inputs: [a, b], outputs: [o1 as never, o2 as never], name: 'two_by_two' });
    },
    x: () => [floats([B, T, 3], 2), floats([B, T, 3], 3)],
  },
  {
    name: 'functional GRU with an initialState input',
    make: () => {
      const x = input({ shape: [null, 3], name: 'seq' });
      const h0 = input({ shape: [4], name: 'h0' });
      const y = layers.gru({ units: 4, returnSequences: true, name: 'g0' }).apply(x, { initialState: h0 });
      const z = layers.gru({ units: 5, resetAfter: false, recurrentActivation: 'hardSigmoid', returnState: true, name: 'g1' }).apply(y as never) as never[];
      const out = layers.add({ name: 'sum' }).apply([layers.dense({ units: 5, name: 'proj' }).apply(z[0]) as never, z[1]]);
      return model({ inputs: [x, h0], outputs: out as never, name: 'with_state' });
    },
    x: () => [floats([B, T, 3], 4), floats([B, 4], 5)],
  },
  {
    name: 'embedding(maskZero) -> bidirectional(gru) -> dense',
    make: () =>
      sequential({
        layers: [
          layers.embedding({ inputDim: 11, outputDim: 4, maskZero: true, inputShape: [T], dtype: 'int32' }),
          layers.bidirectional({ layer: layers.gru({ units: 3, returnSequences: true }), mergeMode: 'concat' }),
          layers.globalAveragePooling1d({}),
          layers.dense({ units: 2 }),
        ],
      }),
    x: () => ids([B, T], 11, 6),
  },
  {
    name: 'batchNormalization, layerNormalization, dropout, activation (built by build())',
    make: () => {
      const m = sequential({
        layers: [
          layers.dense({ units: 6, activation: 'relu' }),
          layers.batchNormalization({}),
          layers.dropout({ rate: 0.3 }),
          layers.layerNormalization({}),
          layers.activation({ activation: 'tanh' }),
          layers.dense({ units: 2 }),
        ],
      });
      m.build([null, 7]);
      return m;
    },
    x: () => floats([B, 7], 7),
  },
  {
    name: 'timeDistributed(dense) after masking and a GRU',
    make: () => {
      const x = input({ shape: [T, 4], name: 'frames' });
      const m = layers.masking({ maskValue: 0 }).apply(x);
      const h = layers.gru({ units: 5, returnSequences: true, goBackwards: false }).apply(m as never);
      const y = layers.timeDistributed({ layer: layers.dense({ units: 3 }) }).apply(h as never);
      const f = layers.flatten({}).apply(y as never);
      return model({ inputs: x, outputs: f as never });
    },
    x: () => floats([B, T, 4], 8),
  },
  {
    name: 'rnn(gruCell) and rnn(stacked cells)',
    make: () => {
      const x = input({ shape: [T, 3] });
      const a = layers.rnn({ cell: layers.gruCell({ units: 4 }), returnSequences: true }).apply(x);
      const b = layers.rnn({ cell: [layers.gruCell({ units: 3 }), layers.gruCell({ units: 2, resetAfter: false })] }).apply(a as never);
      const r = layers.repeatVector({ n: 2 }).apply(b as never);
      const p = layers.globalMaxPooling1d({}).apply(r as never);
      return model({ inputs: x, outputs: p as never });
    },
    x: () => floats([B, T, 3], 9),
  },
  {
    name: 'nested models (a functional model and a Sequential used as layers)',
    make: () => {
      const ix = input({ shape: [T, 3], name: 'inner_in' });
      const inner = model({ inputs: ix, outputs: layers.gru({ units: 4, name: 'inner_gru' }).apply(ix) as never, name: 'encoder' });
      const head = sequential({ layers: [layers.dense({ units: 3, inputShape: [4], name: 'head_dense' }), layers.dense({ units: 1, name: 'head_out' })], name: 'head' });
      const x = input({ shape: [T, 3], name: 'outer_in' });
      const y = head.apply(inner.apply(x) as never);
      return model({ inputs: x, outputs: y as never, name: 'outer' });
    },
    x: () => floats([B, T, 3], 10),
  },
];

/** Max |a − b| over two lists of tensors (Infinity when shapes differ). */
export function maxDiff(a: Tensor | Tensor[], b: Tensor | Tensor[]): number {
  const as = Array.isArray(a) ? a : [a];
  const bs = Array.isArray(b) ? b : [b];
  if (as.length !== bs.length) return Infinity;
  let m = 0;
  as.forEach((t, i) => {
    if (t.shape.join() !== bs[i].shape.join()) m = Infinity;
    for (let k = 0; k < t.data.length; k++) m = Math.max(m, Math.abs(t.data[k] - bs[i].data[k]));
  });
  return m;
}

export { tensor };
