// TensorFlow.js peers: `tfjs-cpu` (pure JS kernels) and `tfjs-wasm` (XNNPACK, SIMD, one thread).
//
// Porting note: tfjs-layers has only the reset-before GRU (Keras reset_after=False = ONNX
// linear_before_reset=0, GRU-CONVENTIONS §1), so a reset-after task variant is Unsupported here.
// tfjs defaults recurrentActivation to hardSigmoid; we pass 'sigmoid' so the function is the
// same as every other peer's.

import * as tf from '@tensorflow/tfjs';
import * as tfwasm from '@tensorflow/tfjs-backend-wasm';
import type { Peer, Runner, TaskName, TaskSpec } from '../lib/types.js';
import { Unsupported } from '../lib/types.js';

type Backend = 'cpu' | 'wasm';

let wasmConfigured = false;

/** Switch the global tfjs engine to `backend` (peers run one at a time, so this is safe). */
async function useBackend(backend: Backend): Promise<void> {
  if (backend === 'wasm' && !wasmConfigured) {
    // Must precede the backend's first initialization. In Node, Emscripten's pthreads are not
    // available to tfjs anyway (WASM_HAS_MULTITHREAD_SUPPORT is false), so this is a statement of
    // intent more than a change; it keeps the peer single-threaded if that ever changes.
    // No setWasmPaths: the Node build (dist/tf-backend-wasm.node.js) finds
    // tfjs-backend-wasm-simd.wasm next to itself via __dirname.
    tfwasm.setThreadsCount(1);
    wasmConfigured = true;
  }
  if (!(await tf.setBackend(backend))) throw new Error(`tf.setBackend('${backend}') failed`);
  await tf.ready();
}

// setWeights overwrites every weight; skip tfjs' default orthogonal init (a slow QR that warns).
const NO_INIT = {
  kernelInitializer: 'zeros',
  recurrentInitializer: 'zeros',
  biasInitializer: 'zeros',
} as const;

function gruArgs(spec: TaskSpec, returnSequences: boolean) {
  return {
    units: spec.units,
    returnSequences,
    recurrentActivation: 'sigmoid' as const, // not tfjs' hardSigmoid default
    ...NO_INIT,
  };
}

function kerasWeights(spec: TaskSpec, dense: boolean): tf.Tensor[] {
  const { inputSize: D, units: H, data } = spec;
  const w = [
    tf.tensor2d(data.kernel, [D, 3 * H]),
    tf.tensor2d(data.recurrentKernel, [H, 3 * H]),
    tf.tensor1d(data.bias),
  ];
  if (dense) w.push(tf.tensor2d(data.denseKernel, [H, 1]), tf.tensor1d(data.denseBias));
  return w;
}

function setWeights(target: { setWeights(w: tf.Tensor[]): void }, w: tf.Tensor[]): void {
  target.setWeights(w); // copies into the layer's variables
  tf.dispose(w);
}

/** A: predict the whole output sequence and read it back. */
function forwardRunner(spec: TaskSpec): Runner {
  const { batch: B, time: T, inputSize: D } = spec;
  const model = tf.sequential({
    layers: [tf.layers.gru({ ...gruArgs(spec, true), inputShape: [T, D] })],
  });
  setWeights(model, kerasWeights(spec, false));
  const x = tf.tensor3d(spec.data.x, [B, T, D]);
  let last: Float32Array | null = null;
  return {
    run() {
      const y = model.predict(x, { batchSize: B }) as tf.Tensor;
      last = y.dataSync() as Float32Array;
      y.dispose();
    },
    check: () => Float32Array.from(last!),
    dispose() {
      x.dispose();
      model.dispose();
    },
  };
}

/** B: loss and gradients of every weight and of x; no optimizer update. */
function trainRunner(spec: TaskSpec): Runner {
  const { batch: B, time: T, inputSize: D } = spec;
  const model = tf.sequential({
    layers: [
      tf.layers.gru({ ...gruArgs(spec, false), inputShape: [T, D] }),
      tf.layers.dense({ units: 1, kernelInitializer: 'zeros', biasInitializer: 'zeros' }),
    ],
  });
  setWeights(model, kerasWeights(spec, true));
  // x as a Variable so variableGrads returns dx along with the weight gradients.
  const x = tf.variable(tf.tensor3d(spec.data.x, [B, T, D]), true);
  const y = tf.tensor2d(spec.data.y, [B, 1]);
  // Order of Runner.check() for B: kernel, recurrentKernel, bias, dense kernel, dense bias, x.
  const vars = [...model.trainableWeights.map((w) => w.read() as tf.Variable), x];
  const loss = () =>
    tf.losses.meanSquaredError(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar;
  let last: Float32Array[] = [];
  return {
    run() {
      const out = tf.tidy(() => {
        const { value, grads } = tf.variableGrads(loss, vars);
        return [value, ...vars.map((v) => grads[v.name])];
      });
      last = out.slice(1).map((g) => g.dataSync() as Float32Array);
      out[0].dataSync();
      tf.dispose(out);
    },
    check() {
      const n = last.reduce((s, g) => s + g.length, 0);
      const flat = new Float32Array(n);
      let off = 0;
      for (const g of last) {
        flat.set(g, off);
        off += g.length;
      }
      return flat;
    },
    dispose() {
      tf.dispose([x, y]);
      model.dispose();
    },
  };
}

/**
 * Porting note: Keras 3 (and fastgru) add Adam's ε to √v and fold both bias corrections into the
 * step size, lr·√(1−β₂ᵗ)/(1−β₁ᵗ) · m / (√v + ε); tfjs (like PyTorch) adds ε to the corrected
 * √v̂ = √v / √(1−β₂ᵗ). The two agree when ε_tfjs = ε_keras / √(1−β₂ᵗ). At the first step (the one the
 * cross-check compares) that is 1e-7 / √0.001 ≈ 3.2e-6; with tfjs' default 1e-7 instead, every
 * weight whose gradient is below ~3e-6 takes a full ±lr step in tfjs and a smaller one in Keras,
 * and the loss after one step differs by ~2e-3 relative on Bp. ε does not change the work done.
 */
const ADAM_EPSILON_STEP1 = 1e-7 / Math.sqrt(1 - 0.999);

/**
 * Bp and D: `model.trainOnBatch` with `tf.train.adam` (lr 0.001, β 0.9/0.999: Keras' defaults;
 * ε see above), the public training step of tfjs-layers. Its promise resolves
 * after the loss has been read back, so nothing is pending when run() returns.
 *
 * Porting note: the gradient of the gather inside Embedding is UnsortedSegmentSum, which
 * tfjs-backend-wasm does not have at all, and which tfjs-cpu implements as one masked
 * multiply-and-sum over the whole (B·T, E) gradient per segment: 10000 segments, ~4·10⁹
 * multiply-adds and 10000 temporary tensors per step (one such call on D's shapes did not finish
 * in 10 minutes on this machine). So both tfjs backends run D with the embedding frozen
 * (`trainable: false`: the gather's gradient is then never built) and say so (Runner.variant).
 */
function trainOnBatchRunner(spec: TaskSpec): Runner {
  const { batch: B, time: T, inputSize: D, units: H, data } = spec;
  const freeze = spec.name === 'D';
  let model: tf.Sequential;
  let x: tf.Tensor;
  if (spec.name === 'Bp') {
    model = tf.sequential({
      layers: [
        tf.layers.gru({ ...gruArgs(spec, false), inputShape: [T, D] }),
        tf.layers.dense({ units: 1, kernelInitializer: 'zeros', biasInitializer: 'zeros' }),
      ],
    });
    setWeights(model, kerasWeights(spec, true));
    x = tf.tensor3d(data.x, [B, T, D]);
  } else {
    const V = spec.vocab!;
    model = tf.sequential({
      layers: [
        tf.layers.embedding({ inputDim: V, outputDim: D, inputLength: T, embeddingsInitializer: 'zeros', trainable: !freeze }),
        tf.layers.gru(gruArgs(spec, false)),
        tf.layers.dense({ units: V, activation: 'softmax', kernelInitializer: 'zeros', biasInitializer: 'zeros' }),
      ],
    });
    // Layer by layer: a model lists trainable weights first, so a frozen embedding would come last.
    setWeights(model.layers[0], [tf.tensor2d(data.embeddings!, [V, D])]);
    setWeights(model.layers[1], kerasWeights(spec, false));
    setWeights(model.layers[2], [tf.tensor2d(data.denseKernel, [H, V]), tf.tensor1d(data.denseBias)]);
    // tfjs-layers' Embedding takes the ids as any dtype and casts them to int32 itself.
    x = tf.tensor2d(data.ids!, [B, T], 'int32');
  }
  const optimizer = tf.train.adam(0.001, 0.9, 0.999, ADAM_EPSILON_STEP1);
  model.compile({
    optimizer,
    loss: spec.name === 'Bp' ? 'meanSquaredError' : 'sparseCategoricalCrossentropy',
  });
  const y = tf.tensor2d(data.y, [B, 1]);
  let firstLoss: number | null = null;
  return {
    async run() {
      const loss = (await model.trainOnBatch(x, y)) as number;
      firstLoss ??= loss;
    },
    async check() {
      const t = model.evaluate(x, y, { batchSize: B }) as tf.Scalar;
      const after = (await t.data())[0];
      t.dispose();
      return Float32Array.of(firstLoss!, after);
    },
    dispose() {
      tf.dispose([x, y]);
      model.dispose(); // not the optimizer: a model only owns one it was given by name
      optimizer.dispose();
    },
    variant: freeze ? { note: 'embedding frozen', spec: { freezeEmbedding: true } } : undefined,
  };
}

/**
 * E's model in tfjs-layers: the sentiment example's layers, reset-before with a sigmoid recurrent
 * activation (what fastgru runs in E's reset-before form), with the task's initial weights.
 * `rates`: the first GRU's dropout and recurrentDropout (the check passes 0 and 0).
 *
 * Porting note: the embedding is frozen (`trainable: false`), as in D: tfjs-backend-wasm has no
 * UnsortedSegmentSum, the gradient of Embedding's gather, so tfjs-wasm cannot train it at all;
 * tfjs-cpu is frozen too so that both tfjs rows time the same model.
 *
 * Porting note: tfjs-layers' BatchNormalization passes the mask on (supportsMasking) but leaves
 * it out of its batch statistics: padded steps count in the mean and variance, where Keras 3 (and
 * fastgru) weight them 0. So the masked model is a slightly different function in tfjs (first
 * batch's loss 0.70783 against fastgru's 0.70945 on E's weights, 2.3e-3 relative; without the
 * BatchNormalization layers the masked losses agree to 1e-7). The work per batch is the same, so
 * the timed model keeps the mask, and check() compares the model without maskZero.
 *
 * recurrentDropout: tfjs-layers' GRUCell applies it on both backends (it is layer code over
 * generic ops): one mask per sequence on h_{t−1}, used in the three recurrent products and in the
 * blend z·h_{t−1}; fastgru (Keras ≥ 3.8) draws three masks, one per product, and blends the
 * un-dropped state. Same work, different noise; the check runs with both rates at 0.
 */
function sentimentModel(spec: TaskSpec, rates: { dropout: number; recurrentDropout: number }, maskZero = true): { model: tf.Sequential; optimizer: tf.Optimizer } {
  const { time: T, inputSize: E, units: H } = spec;
  const s = spec.data.sentiment!;
  const model = tf.sequential({
    layers: [
      tf.layers.embedding({ inputDim: spec.vocab!, outputDim: E, inputLength: T, maskZero, embeddingsInitializer: 'zeros', trainable: false }),
      tf.layers.batchNormalization(),
      tf.layers.gru({ ...gruArgs(spec, true), ...rates }),
      tf.layers.batchNormalization(),
      tf.layers.gru(gruArgs(spec, false)),
      tf.layers.dense({ units: 1, activation: 'sigmoid', kernelInitializer: 'zeros', biasInitializer: 'zeros' }),
    ],
  });
  // Layer by layer: a model lists trainable weights first, so the frozen embedding would come last.
  const gruW = (w: Float32Array[], D: number) => [tf.tensor2d(w[0], [D, 3 * H]), tf.tensor2d(w[1], [H, 3 * H]), tf.tensor1d(w[2])];
  setWeights(model.layers[0], [tf.tensor2d(s.embeddings, [spec.vocab!, E])]);
  setWeights(model.layers[1], s.bn1.map((w) => tf.tensor1d(w)));
  setWeights(model.layers[2], gruW(s.gru1, E));
  setWeights(model.layers[3], s.bn2.map((w) => tf.tensor1d(w)));
  setWeights(model.layers[4], gruW(s.gru2, H));
  setWeights(model.layers[5], [tf.tensor2d(s.dense[0], [H, 1]), tf.tensor1d(s.dense[1])]);
  // As the example: Adam(1e-3) (ε: see ADAM_EPSILON_STEP1), binary cross-entropy, accuracy.
  const optimizer = tf.train.adam(1e-3, 0.9, 0.999, ADAM_EPSILON_STEP1);
  model.compile({ optimizer, loss: 'binaryCrossentropy', metrics: ['accuracy'] });
  return { model, optimizer };
}

/**
 * E: one epoch of `model.fit` (epochs 1, batch size 32, shuffle off, verbose 0) on the example's
 * 2,400 training sentences, or, with `batches` set, `fit` on the first `batches` batches only: a
 * peer too slow to time whole epochs (run.ts scales its times by the Runner.extrapolated factor).
 */
function epochRunner(spec: TaskSpec, batches?: number): Runner {
  const s = spec.data.sentiment!;
  const { batch: B, time: T } = spec;
  const total = Math.ceil(s.samples / B);
  const n = batches === undefined ? s.samples : Math.min(s.samples, batches * B);
  const { model, optimizer } = sentimentModel(spec, s);
  const x = tf.tensor2d(s.ids.subarray(0, n * T), [n, T], 'int32');
  const y = tf.tensor2d(s.labels.subarray(0, n), [n, 1]);
  const partial = batches !== undefined && batches < total;
  return {
    async run() {
      await model.fit(x, y, { epochs: 1, batchSize: B, shuffle: false, verbose: 0 });
    },
    async check() {
      // Unmasked (Runner.variant below): see the porting note on BatchNormalization above.
      const m = sentimentModel(spec, { dropout: 0, recurrentDropout: 0 }, false);
      try {
        const losses: number[] = [];
        for (let k = 0; k < 2; k++) {
          const bx = tf.tensor2d(s.ids.subarray(k * B * T, (k + 1) * B * T), [B, T], 'int32');
          const by = tf.tensor2d(s.labels.subarray(k * B, (k + 1) * B), [B, 1]);
          const r = await m.model.trainOnBatch(bx, by);
          losses.push(Array.isArray(r) ? r[0] : r);
          tf.dispose([bx, by]);
        }
        return Float32Array.from(losses);
      } finally {
        m.model.dispose();
        m.optimizer.dispose();
      }
    },
    dispose() {
      tf.dispose([x, y]);
      model.dispose();
      optimizer.dispose();
    },
    variant: { note: 'embedding frozen', spec: { freezeEmbedding: true, checkUnmasked: true } },
    extrapolated: partial ? { factor: total / batches!, note: `time of ${batches} of ${total} batches × ${(total / batches!).toFixed(2)}` } : undefined,
  };
}

/**
 * C: one GRU step on a 1-step input, the state carried in a tensor and read back every call.
 * Uses tf.layers.gruCell directly, the cheapest per-call path tfjs-layers offers (a GRU layer
 * with initialState goes through the RNN time loop machinery and is slower); so this is the
 * fairest per-step number for tfjs.
 */
function streamRunner(spec: TaskSpec): Runner {
  const { batch: B, inputSize: D, units: H } = spec;
  const cell = tf.layers.gruCell({ units: H, recurrentActivation: 'sigmoid', ...NO_INIT });
  cell.build([B, D]);
  setWeights(cell, kerasWeights(spec, false));
  const x = tf.tensor2d(spec.data.x, [B, D]);
  let h: tf.Tensor = tf.tensor2d(spec.data.h0, [B, H]);
  let last: Float32Array | null = null;
  return {
    run() {
      const [hn] = cell.call([x, h], {}) as tf.Tensor[];
      last = hn.dataSync() as Float32Array;
      h.dispose();
      h = hn;
    },
    check: () => Float32Array.from(last!),
    dispose() {
      tf.dispose([x, h]);
      // Layer.dispose() refuses a layer never used through apply(); free its variables directly.
      for (const w of cell.weights) w.dispose();
    },
  };
}

/**
 * E: batches per timed run, by backend; undefined = the whole epoch. Set where a whole epoch
 * takes longer than ~2 minutes on this machine, so that the row costs minutes, not a quarter of
 * an hour: tfjs-cpu took 127 s for one epoch (75 batches) when this was written, tfjs-wasm 13 s.
 * Every batch has the same shape (B=32, T=32, padded), so 15 batches × 5 is one epoch's work.
 */
const E_BATCHES: Record<Backend, number | undefined> = { cpu: 15, wasm: undefined };

function tfjsPeer(backend: Backend): Peer {
  const tasks: TaskName[] = ['A', 'B', 'C', 'Bp', 'D', 'E'];
  return {
    name: `tfjs-${backend}`,
    tasks,
    async available() {
      try {
        await useBackend(backend);
        return null;
      } catch (e) {
        return `tfjs ${backend} backend failed to initialize: ${(e as Error).message}`;
      }
    },
    async setup(spec) {
      if (spec.resetAfter) throw new Unsupported('tfjs-layers GRU is reset-before only');
      await useBackend(backend);
      if (spec.name === 'A') return forwardRunner(spec);
      if (spec.name === 'B') return trainRunner(spec);
      if (spec.name === 'Bp' || spec.name === 'D') return trainOnBatchRunner(spec);
      if (spec.name === 'E') return epochRunner(spec, E_BATCHES[backend]);
      return streamRunner(spec);
    },
  };
}

/** Versions actually loaded, for the report. */
export const versions: Record<string, string> = {
  '@tensorflow/tfjs': tf.version.tfjs,
  '@tensorflow/tfjs-backend-wasm': tfwasm.version_wasm,
};

export const peers: Peer[] = [tfjsPeer('cpu'), tfjsPeer('wasm')];
