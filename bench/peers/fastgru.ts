// fastgru peers: `fastgru-simd` and `fastgru-scalar`, the built package (dist/) as users get it,
// driven through its public API (copies in and out of wasm memory included in every timing).
import type { Peer, Runner, TaskSpec } from '../lib/types.js';

type Fastgru = typeof import('fastgru');

async function load(): Promise<Fastgru> {
  // The package by its own name: the built dist/, as a user imports it.
  return import('fastgru');
}

function concat(parts: ArrayLike<number>[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Skip the default initializers (orthogonal is a QR): setWeights overwrites every weight. */
const NO_INIT = { kernelInitializer: 'zeros', recurrentInitializer: 'zeros', biasInitializer: 'zeros' } as const;

/**
 * Bp and D: a Sequential model compiled with Keras-default Adam (lr 0.001, β 0.9/0.999,
 * ε 1e-7) and timed through `trainOnBatch`, the whole public training step: forward, fused
 * loss + gradient, backward, one optimizer call over the flat parameter table, and every copy
 * between JS and wasm memory that a user's step pays.
 */
export function trainingRunner(fg: Fastgru, spec: TaskSpec): Runner {
  const { batch: B, time: T, inputSize: D, units: H, data, resetAfter } = spec;
  const gruWeights = [
    new fg.Tensor(data.kernel, [D, 3 * H]),
    new fg.Tensor(data.recurrentKernel, [H, 3 * H]),
    new fg.Tensor(data.bias, resetAfter ? [2, 3 * H] : [3 * H]),
  ];
  let model: InstanceType<Fastgru['Sequential']>;
  let x: InstanceType<Fastgru['Tensor']>;
  let y: InstanceType<Fastgru['Tensor']>;
  if (spec.name === 'Bp') {
    model = fg.sequential({
      layers: [
        fg.layers.gru({ units: H, resetAfter, inputShape: [T, D], ...NO_INIT }),
        fg.layers.dense({ units: 1, ...NO_INIT }),
      ],
    });
    model.setWeights([...gruWeights, new fg.Tensor(data.denseKernel, [H, 1]), new fg.Tensor(data.denseBias, [1])]);
    model.compile({ optimizer: new fg.Adam(), loss: 'mse' });
    x = new fg.Tensor(data.x, [B, T, D]);
    y = new fg.Tensor(data.y, [B, 1]);
  } else {
    const V = spec.vocab!;
    model = fg.sequential({
      layers: [
        fg.layers.embedding({ inputDim: V, outputDim: D, inputShape: [T], embeddingsInitializer: 'zeros', trainable: !spec.freezeEmbedding }),
        fg.layers.gru({ units: H, resetAfter, ...NO_INIT }),
        fg.layers.dense({ units: V, activation: 'softmax', ...NO_INIT }),
      ],
    });
    model.setWeights([new fg.Tensor(data.embeddings!, [V, D]), ...gruWeights, new fg.Tensor(data.denseKernel, [H, V]), new fg.Tensor(data.denseBias, [V])]);
    model.compile({ optimizer: new fg.Adam(), loss: 'sparseCategoricalCrossentropy' });
    x = new fg.Tensor(data.ids!, [B, T]);
    y = new fg.Tensor(data.labels!, [B]);
  }
  let firstLoss: number | null = null;
  return {
    run() {
      const loss = model.trainOnBatch(x, y) as number;
      firstLoss ??= loss;
    },
    check: () => Float32Array.of(firstLoss!, model.testOnBatch(x, y) as number),
    dispose: () => model.dispose(),
  };
}

/**
 * E's model, built as examples/sentiment.ts builds it but reset-before with a sigmoid recurrent
 * activation in both GRUs (the one GRU function tfjs-layers has; the example's own GRUs are
 * reset-after, which the task's reset-after form runs), with the task's initial weights.
 * `rates`: the first GRU's dropout and recurrentDropout (the check passes 0 and 0).
 */
function sentimentModel(fg: Fastgru, spec: TaskSpec, rates: { dropout: number; recurrentDropout: number }, maskZero = true) {
  const { time: T, inputSize: E, units: H, resetAfter } = spec;
  const s = spec.data.sentiment!;
  const gru = { units: H, resetAfter, recurrentActivation: 'sigmoid', ...NO_INIT } as const;
  const model = fg.sequential({
    layers: [
      fg.layers.embedding({ inputDim: spec.vocab!, outputDim: E, maskZero, inputShape: [T], embeddingsInitializer: 'zeros', trainable: !spec.freezeEmbedding }),
      fg.layers.batchNormalization(),
      fg.layers.gru({ ...gru, returnSequences: true, ...rates }),
      fg.layers.batchNormalization(),
      fg.layers.gru(gru),
      fg.layers.dense({ units: 1, activation: 'sigmoid', ...NO_INIT }),
    ],
  });
  // Layer by layer, each in Keras getWeights() order (SentimentTaskData).
  const shapes = (ws: Float32Array[], first: number[]) => ws.map((w, i) => new fg.Tensor(w, i === 0 ? first : i === 1 ? [H, 3 * H] : resetAfter ? [2, 3 * H] : [3 * H]));
  model.layers[0].setWeights([new fg.Tensor(s.embeddings, [spec.vocab!, E])]);
  model.layers[1].setWeights(s.bn1.map((w) => new fg.Tensor(w, [E])));
  model.layers[2].setWeights(shapes(s.gru1, [E, 3 * H]));
  model.layers[3].setWeights(s.bn2.map((w) => new fg.Tensor(w, [H])));
  model.layers[4].setWeights(shapes(s.gru2, [H, 3 * H]));
  model.layers[5].setWeights([new fg.Tensor(s.dense[0], [H, 1]), new fg.Tensor(s.dense[1], [1])]);
  // As the example: Adam(1e-3), binary cross-entropy, accuracy.
  model.compile({ optimizer: new fg.Adam({ learningRate: 1e-3 }), loss: 'binaryCrossentropy', metrics: ['accuracy'] });
  return model;
}

/**
 * E: one epoch of `model.fit` (epochs 1, the example's batch size 32, shuffle off so that every
 * peer sees the same batches, verbose 0) on the example's 2,400 training sentences. The weights
 * move at every run, as in training; the time per epoch does not depend on them.
 */
export function epochRunner(fg: Fastgru, spec: TaskSpec): Runner {
  const s = spec.data.sentiment!;
  const { batch: B, time: T } = spec;
  const model = sentimentModel(fg, spec, s);
  const x = new fg.Tensor(s.ids, [s.samples, T]);
  const y = new fg.Tensor(s.labels, [s.samples, 1]);
  return {
    async run() {
      await model.fit(x, y, { epochs: 1, batchSize: B, shuffle: false, verbose: 0 });
    },
    check() {
      const m = sentimentModel(fg, spec, { dropout: 0, recurrentDropout: 0 }, !spec.checkUnmasked);
      try {
        const batch = (k: number): [InstanceType<Fastgru['Tensor']>, InstanceType<Fastgru['Tensor']>] => [
          new fg.Tensor(s.ids.subarray(k * B * T, (k + 1) * B * T), [B, T]),
          new fg.Tensor(s.labels.subarray(k * B, (k + 1) * B), [B, 1]),
        ];
        const loss = (r: number | number[]) => (Array.isArray(r) ? r[0] : r);
        const first = loss(m.trainOnBatch(...batch(0)));
        return Float32Array.of(first, loss(m.trainOnBatch(...batch(1))));
      } finally {
        m.dispose();
      }
    },
    dispose: () => model.dispose(),
  };
}

function makePeer(kind: 'simd' | 'scalar'): Peer {
  return {
    name: `fastgru-${kind}`,
    tasks: ['A', 'B', 'C', 'Bp', 'D', 'E'],
    async available() {
      try {
        const fg = await load();
        if (kind === 'simd' && !fg.simdSupported()) return 'this engine has no wasm SIMD';
        return null;
      } catch (e) {
        return `dist/fastgru.mjs not loadable (run npm run build): ${(e as Error).message}`;
      }
    },
    async setup(spec: TaskSpec): Promise<Runner> {
      const fg = await load();
      await fg.init({ backend: kind });
      if (spec.name === 'Bp' || spec.name === 'D') return trainingRunner(fg, spec);
      if (spec.name === 'E') return epochRunner(fg, spec);
      const { batch: B, time: T, inputSize: D, units: H, data, resetAfter } = spec;
      const weights = [
        new fg.Tensor(data.kernel, [D, 3 * H]),
        new fg.Tensor(data.recurrentKernel, [H, 3 * H]),
        new fg.Tensor(data.bias, resetAfter ? [2, 3 * H] : [3 * H]),
      ];
      const x = new fg.Tensor(data.x, [B, T, D]);
      if (spec.name === 'A') {
        const gru = fg.layers.gru({ units: H, returnSequences: true, resetAfter, seed: 1 });
        gru.build([B, T, D]);
        gru.setWeights(weights);
        let last: Float32Array | null = null;
        return {
          run() {
            last = (gru.apply(x) as InstanceType<Fastgru['Tensor']>).data as Float32Array;
          },
          check: () => last!,
          dispose: () => gru.dispose(),
        };
      }
      if (spec.name === 'B') {
        const gru = fg.layers.gru({ units: H, resetAfter, seed: 1 });
        const dense = fg.layers.dense({ units: 1, seed: 2 });
        gru.build([B, T, D]);
        gru.setWeights(weights);
        dense.build([B, H]);
        dense.setWeights([new fg.Tensor(data.denseKernel, [H, 1]), new fg.Tensor(data.denseBias, [1])]);
        const y = new fg.Tensor(data.y, [B, 1]);
        let last: Float32Array | null = null;
        return {
          run() {
            const h = gru.apply(x, { training: true }) as InstanceType<Fastgru['Tensor']>;
            const p = dense.apply(h, { training: true });
            const { grad } = fg.lossAndGradient('mse', y, p);
            const gd = dense.backward(grad);
            const gg = gru.backward(gd.dInput);
            last = concat([...gg.grads.map((g) => g.data), ...gd.grads.map((g) => g.data), gg.dInput.data]);
          },
          check: () => last!,
          dispose() {
            gru.dispose();
            dense.dispose();
          },
        };
      }
      // C: one step, the state carried from the previous call.
      const gru = fg.layers.gru({ units: H, returnState: true, resetAfter, seed: 1 });
      gru.build([B, 1, D]);
      gru.setWeights(weights);
      const step = new fg.Tensor(data.x.subarray(0, B * D), [B, 1, D]);
      let h = new fg.Tensor(data.h0, [B, H]);
      return {
        run() {
          h = (gru.apply(step, { initialState: h }) as InstanceType<Fastgru['Tensor']>[])[1];
        },
        check: () => h.data as Float32Array,
        dispose: () => gru.dispose(),
      };
    },
  };
}

export const peers: Peer[] = [makePeer('simd'), makePeer('scalar')];
