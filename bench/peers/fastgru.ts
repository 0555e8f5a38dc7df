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

function makePeer(kind: 'simd' | 'scalar'): Peer {
  return {
    name: `fastgru-${kind}`,
    tasks: ['A', 'B', 'C', 'Bp', 'D'],
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
