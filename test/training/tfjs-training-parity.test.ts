/**
 * Training parity with tfjs-layers 4.22 (an independent implementation of the Keras GRU, its
 * backward and the optimizers): the same initial weights, data and optimizer give the same loss at
 * each of 10 full-batch steps and the same final weights. GRU-CONVENTIONS.md §1 (reset-before form:
 * tfjs has no other) and §2 (Keras layout: kernel (D, 3H), recurrentKernel (H, 3H), bias (3H),
 * gate columns [z | r | h]; Dense kernel (in, out)); the update formulas are Keras 3's
 * (`keras/src/optimizers/{sgd,rmsprop,adam}.py`, `base_optimizer.py` `_clip_by_norm`).
 *
 * Model: GRU(units 8, input 4, time 6, last output) → Dense(1) + mse, or → Dense(3, softmax) +
 * categorical cross-entropy; batch 16, the same full batch at every step.
 *
 * Ours: `layers.gru({resetAfter: false, activation: 'tanh', recurrentActivation: 'sigmoid'})`,
 * `compile({optimizer, loss})`, then `trainOnBatch` ×10 (one case: `fit` with `shuffle: false` and
 * `batchSize` = all the data, 10 epochs, so both training paths are covered).
 *
 * tfjs (made live here by the pure-JS `cpu` backend): the snippet is
 *
 *   await tf.setBackend('cpu');
 *   const m = tf.sequential({ layers: [
 *     tf.layers.gru({ units: 8, inputShape: [6, 4], activation: 'tanh',
 *                     recurrentActivation: 'sigmoid' }),   // tfjs defaults to hardSigmoid
 *     tf.layers.dense({ units: 1 }) ] });
 *   m.setWeights(initial);
 *   const vars = m.trainableWeights.map((w) => w.read());
 *   for (let step = 0; step < 10; step++) {
 *     const { value, grads } = tf.variableGrads(
 *       () => tf.mean(tf.metrics.meanSquaredError(y, m.apply(x))), vars);  // loss before the update
 *     // Keras clipnorm, per tensor: g * clipnorm / max(‖g‖, clipnorm)
 *     optimizer.applyGradients(clip(grads));
 *   }
 *
 * A custom loop, not `model.fit`, because tfjs optimizers have no `clipnorm` (Keras applies it in
 * `BaseOptimizer.apply` before the update; here it is written out with tfjs ops).
 *
 * Optimizer choices that make the two formulas the same function (checked against
 * node_modules/@tensorflow/tfjs-core/dist/optimizers/*.js):
 * - SGD + momentum: tfjs `a = μ·a + g; p −= lr·a` (nesterov: `p −= lr·(g + μ·a)`); Keras
 *   `m = μ·m − lr·g; p += m` (nesterov: `p += μ·m − lr·g`). With a constant lr, m = −lr·a: exact.
 * - RMSprop: tfjs `v = ρ·v + (1−ρ)·g²; mom = μ·mom + lr·g/√(v + ε); p −= mom`, ε INSIDE the root,
 *   as Keras 3: exact for the same ε, so both use Keras' default ε = 1e-7 (tfjs' `epsilon`
 *   argument defaults to the backend's 1e-7 too; it is passed explicitly).
 * - Adam: tfjs adds ε to the bias-corrected root, `p −= lr·m̂ / (√v̂ + ε)`; Keras to the raw root,
 *   `p −= lr·√(1−β₂ᵗ)/(1−β₁ᵗ) · m / (√v + ε)`. A tfjs ε equals a Keras ε of ε·√(1−β₂ᵗ), which
 *   changes every step, so no fixed pair agrees except ε = 0 on both sides (the choice here).
 *   ε = 0 divides by √v = |g|-ish: the tfjs loop asserts no gradient entry is ever exactly 0.
 * - clipnorm is per tensor on both sides (Keras `clipnorm`, not `global_clipnorm`); it is chosen so
 *   that at some steps some tensors are clipped and others are not (the test asserts both occur).
 *   The clip is continuous at ‖g‖ = clipnorm, so float32 disagreeing on a branch cannot matter.
 *
 * Tolerances (both sides float32; they differ in summation order and, for Adam, in the bias
 * correction: tfjs keeps β₁ᵗ, β₂ᵗ as float32 running products and divides in float32, so its step
 * size √(1−β₂ᵗ)/(1−β₁ᵗ) is off by 7e-6 to 1.4e-5 relative at steps 1-10, ours is computed in f64
 * and rounded once):
 * - per-step loss: relative 1e-4 (the brief's bound). Observed worst (PARITY_VERBOSE=1 prints it
 *   per case, identical on both backends): SGD/RMSprop ≤ 2.3e-7, Adam ≤ 2.9e-6 (the bias
 *   correction above: ~1e-5 relative per step on steps of lr = 0.01).
 * - final weights: |Δ| ≤ 5e-6 + 1e-5·|w|. Observed worst |Δ|: SGD 6e-8, RMSprop 2.4e-7, Adam
 *   1.0e-6 (10 steps × lr 0.01 × the 1e-5 step-size difference), at most 0.18 of the allowance.
 *   The negative control shows what the bound catches: a z/r block swap, or Adam with Keras'
 *   default ε = 1e-7 instead of 0 (some gradient entries are ~1e-6, so ε matters: 3.8e-3 off).
 *
 * The last block (ours only) runs callbacks inside a real `fit`: EarlyStopping restoring the best
 * epoch's weights, ReduceLROnPlateau and LearningRateScheduler changing the rate the steps use, and
 * an exponentialDecay schedule as learningRate against a manual per-step rate.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Adam, EarlyStopping, LearningRateScheduler, RMSprop, ReduceLROnPlateau, SGD, init, layers, schedules, sequential, tensor } from '../../ts/src/index.ts';
import type { Logs, Optimizer, Sequential } from '../../ts/src/index.ts';
import { BACKENDS, Tolerance, expectClose, rng, uniform } from '../layers/util/numeric.ts';

const VERBOSE = !!process.env.PARITY_VERBOSE;

const B = 16;
const T = 6;
const D = 4;
const H = 8;
const G = 3 * H;
const STEPS = 10;
/** The brief's bound on |loss_ours − loss_tfjs| / |loss_tfjs| at every step. */
const LOSS_RTOL = 1e-4;
/** Final weights (see the header for the observed worst and why). */
const WEIGHTS: Tolerance = { atol: 5e-6, rtol: 1e-5 };

type OptKind = 'momentum' | 'nesterov' | 'rmsprop' | 'rmspropMomentum' | 'adam';

interface Case {
  name: string;
  opt: OptKind;
  clipnorm?: number;
  head: 'mse' | 'softmax';
  path: 'trainOnBatch' | 'fit';
}

/** Hyper-parameters shared by both sides (see the header for ε). */
const HP = {
  momentum: { learningRate: 0.1, momentum: 0.9 },
  nesterov: { learningRate: 0.1, momentum: 0.9 },
  rmsprop: { learningRate: 0.01, rho: 0.9, momentum: 0, epsilon: 1e-7 },
  rmspropMomentum: { learningRate: 0.01, rho: 0.9, momentum: 0.5, epsilon: 1e-7 },
  adam: { learningRate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 0 },
} as const;

/** Per-tensor clip threshold: between the smallest and largest tensor gradient norms of this model. */
const CLIP = 0.05;

const CASES: Case[] = [
  { name: 'SGD momentum 0.9', opt: 'momentum', head: 'mse', path: 'trainOnBatch' },
  { name: 'SGD momentum 0.9 + clipnorm', opt: 'momentum', clipnorm: CLIP, head: 'mse', path: 'trainOnBatch' },
  { name: 'SGD nesterov', opt: 'nesterov', head: 'mse', path: 'trainOnBatch' },
  { name: 'SGD nesterov + clipnorm', opt: 'nesterov', clipnorm: CLIP, head: 'mse', path: 'trainOnBatch' },
  { name: 'RMSprop', opt: 'rmsprop', head: 'mse', path: 'trainOnBatch' },
  { name: 'RMSprop + clipnorm', opt: 'rmsprop', clipnorm: CLIP, head: 'mse', path: 'trainOnBatch' },
  { name: 'RMSprop momentum 0.5', opt: 'rmspropMomentum', head: 'mse', path: 'trainOnBatch' },
  { name: 'Adam', opt: 'adam', head: 'mse', path: 'trainOnBatch' },
  { name: 'Adam + clipnorm', opt: 'adam', clipnorm: CLIP, head: 'mse', path: 'trainOnBatch' },
  { name: 'Adam, Dense(3, softmax) + categorical cross-entropy', opt: 'adam', head: 'softmax', path: 'trainOnBatch' },
  { name: 'Adam + clipnorm, softmax + categorical cross-entropy, fit(shuffle: false, batchSize: 16)', opt: 'adam', clipnorm: CLIP, head: 'softmax', path: 'fit' },
  { name: 'SGD nesterov + clipnorm, fit(shuffle: false, batchSize: 16)', opt: 'nesterov', clipnorm: CLIP, head: 'mse', path: 'fit' },
];

interface Data {
  x: Float32Array; // (B, T, D)
  y: Float32Array; // (B, O): regression targets, or one-hot rows
  /** gru kernel (D, 3H), recurrentKernel (H, 3H), bias (3H); dense kernel (H, O), bias (O). */
  weights: Float32Array[];
  outputs: number;
}

function makeData(head: Case['head'], seed: number): Data {
  const r = rng(seed);
  const O = head === 'mse' ? 1 : 3;
  const weights = [uniform(r, D * G, -0.5, 0.5), uniform(r, H * G, -0.5, 0.5), uniform(r, G, -0.5, 0.5), uniform(r, H * O, -0.5, 0.5), uniform(r, O, -0.1, 0.1)];
  const x = uniform(r, B * T * D, -1, 1);
  let y: Float32Array;
  if (head === 'mse') y = uniform(r, B, -1, 1);
  else {
    y = new Float32Array(B * O);
    for (let b = 0; b < B; b++) y[b * O + Math.min(O - 1, Math.floor(r() * O))] = 1;
  }
  return { x, y, weights, outputs: O };
}

const SHAPES = (O: number): number[][] => [[D, G], [H, G], [G], [H, O], [O]];

interface Run {
  losses: number[];
  weights: Float32Array[];
}

interface TfjsRun extends Run {
  /** Per step, per tensor: was the clip active (‖g‖ > clipnorm)? */
  clipped: boolean[][];
  minAbsGrad: number;
}

function tfjsOptimizer(kind: OptKind): tf.Optimizer {
  switch (kind) {
    case 'momentum':
      return tf.train.momentum(HP.momentum.learningRate, HP.momentum.momentum, false);
    case 'nesterov':
      return tf.train.momentum(HP.nesterov.learningRate, HP.nesterov.momentum, true);
    case 'rmsprop':
    case 'rmspropMomentum': {
      const h = HP[kind];
      return tf.train.rmsprop(h.learningRate, h.rho, h.momentum, h.epsilon, false);
    }
    case 'adam':
      return tf.train.adam(HP.adam.learningRate, HP.adam.beta1, HP.adam.beta2, HP.adam.epsilon);
  }
}

function ourOptimizer(kind: OptKind, clipnorm: number | undefined): Optimizer {
  const clip = clipnorm === undefined ? {} : { clipnorm };
  switch (kind) {
    case 'momentum':
      return new SGD({ ...HP.momentum, nesterov: false, ...clip });
    case 'nesterov':
      return new SGD({ ...HP.nesterov, nesterov: true, ...clip });
    case 'rmsprop':
    case 'rmspropMomentum':
      return new RMSprop({ ...HP[kind], ...clip });
    case 'adam':
      return new Adam({ ...HP.adam, ...clip });
  }
}

/** The reference: tfjs-layers' GRU + Dense, the custom loop of the header. */
function tfjsRun(c: Case, d: Data): TfjsRun {
  const O = d.outputs;
  const m = tf.sequential({
    layers: [
      tf.layers.gru({ units: H, inputShape: [T, D], activation: 'tanh', recurrentActivation: 'sigmoid' }),
      tf.layers.dense({ units: O, activation: c.head === 'softmax' ? 'softmax' : 'linear' }),
    ],
  });
  const init = d.weights.map((w, i) => tf.tensor(w, SHAPES(O)[i]));
  m.setWeights(init);
  tf.dispose(init);
  const vars = m.trainableWeights.map((w) => w.read() as tf.Variable);
  expect(vars.map((v) => v.name.split('/').pop())).toEqual(['kernel', 'recurrent_kernel', 'bias', 'kernel', 'bias']);
  const x = tf.tensor3d(d.x, [B, T, D]);
  const y = tf.tensor2d(d.y, [B, O]);
  const opt = tfjsOptimizer(c.opt);
  const losses: number[] = [];
  const clipped: boolean[][] = [];
  let minAbsGrad = Infinity;
  for (let step = 0; step < STEPS; step++) {
    const { value, grads } = tf.variableGrads(() => {
      const p = m.apply(x, { training: true }) as tf.Tensor;
      // tfjs-layers' own Keras losses: mse = mean over the last axis; categorical cross-entropy =
      // normalise the rows, clip to [1e-7, 1 − 1e-7], −Σ y·log p. Then the batch mean (Keras
      // `sum_over_batch_size`).
      const perSample = c.head === 'mse' ? tf.metrics.meanSquaredError(y, p) : tf.metrics.categoricalCrossentropy(y, p);
      return tf.mean(perSample) as tf.Scalar;
    }, vars);
    losses.push(value.dataSync()[0]);
    const stepClipped: boolean[] = [];
    const update: tf.NamedTensorMap = {};
    for (const v of vars) {
      const g = grads[v.name];
      const gd = g.dataSync();
      for (let i = 0; i < gd.length; i++) minAbsGrad = Math.min(minAbsGrad, Math.abs(gd[i]));
      if (c.clipnorm === undefined) {
        update[v.name] = g;
        continue;
      }
      // Keras `_clip_by_norm`: g · clipnorm / max(‖g‖₂, clipnorm), per tensor.
      const norm = tf.norm(g);
      stepClipped.push(norm.dataSync()[0] > c.clipnorm);
      update[v.name] = tf.div(tf.mul(g, c.clipnorm), tf.maximum(norm, c.clipnorm));
      norm.dispose();
    }
    clipped.push(stepClipped);
    opt.applyGradients(update);
    tf.dispose([value, ...Object.values(grads), ...Object.values(update)]);
  }
  const weights = vars.map((v) => Float32Array.from(v.dataSync()));
  tf.dispose([x, y]);
  opt.dispose();
  m.dispose();
  return { losses, weights, clipped, minAbsGrad };
}

function ourModel(d: Data, head: Case['head']): Sequential {
  const m = sequential({
    layers: [
      layers.gru({ units: H, inputShape: [T, D], resetAfter: false, activation: 'tanh', recurrentActivation: 'sigmoid' }),
      layers.dense({ units: d.outputs, activation: head === 'softmax' ? 'softmax' : 'linear' }),
    ],
  });
  m.setWeights(d.weights.map((w, i) => tensor(w, SHAPES(d.outputs)[i])));
  return m;
}

async function ourRun(c: Case, d: Data): Promise<Run> {
  const m = ourModel(d, c.head);
  try {
    m.compile({ optimizer: ourOptimizer(c.opt, c.clipnorm), loss: c.head === 'mse' ? 'mse' : 'categoricalCrossentropy' });
    const x = tensor(d.x, [B, T, D]);
    const y = tensor(d.y, [B, d.outputs]);
    let losses: number[];
    if (c.path === 'fit') {
      // One batch per epoch, in order: each epoch's logged loss is that batch's loss before its update.
      const h = await m.fit(x, y, { epochs: STEPS, batchSize: B, shuffle: false, verbose: 0 });
      losses = h.history.loss as number[];
    } else {
      losses = [];
      for (let step = 0; step < STEPS; step++) losses.push(m.trainOnBatch(x, y) as number);
    }
    expect(m.optimizer!.iterations).toBe(STEPS);
    return { losses, weights: m.getWeights().map((w) => Float32Array.from(w.data)) };
  } finally {
    m.dispose();
  }
}

function maxRelative(a: number[], b: number[]): number {
  return Math.max(...a.map((v, i) => Math.abs(v - b[i]) / Math.abs(b[i])));
}

const NAMES = ['gru/kernel', 'gru/recurrentKernel', 'gru/bias', 'dense/kernel', 'dense/bias'];

beforeAll(async () => {
  await tf.setBackend('cpu');
});

afterAll(() => {
  tf.disposeVariables();
});

/** The tfjs reference of each case, computed once and shared by both of our backends. */
const references = new Map<string, { data: Data; ref: TfjsRun }>();
function reference(c: Case): { data: Data; ref: TfjsRun } {
  let r = references.get(c.name);
  if (!r) {
    const data = makeData(c.head, 4000 + (c.head === 'mse' ? 0 : 1));
    r = { data, ref: tfjsRun(c, data) };
    references.set(c.name, r);
  }
  return r;
}

describe.each(BACKENDS)('training parity with tfjs-layers (reset-before GRU, Keras optimizers), backend %s', (backend) => {
  beforeAll(async () => {
    await init({ backend });
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s: 10 steps, same losses and final weights', async (_name, c) => {
    const { data, ref } = reference(c);
    // ε = 0 (Adam) needs every gradient entry nonzero (see the header).
    expect(ref.minAbsGrad).toBeGreaterThan(0);
    if (c.clipnorm !== undefined) {
      // Both regimes occur: clipped and unclipped tensors.
      const flat = ref.clipped.flat();
      expect(flat.some((v) => v), 'some tensor is clipped at some step').toBe(true);
      expect(flat.some((v) => !v), 'some tensor is not clipped at some step').toBe(true);
    }
    // The loss goes down: the comparison is over a real training run.
    expect(ref.losses[STEPS - 1]).toBeLessThan(ref.losses[0]);
    const got = await ourRun(c, data);
    const rel = maxRelative(got.losses, ref.losses);
    if (VERBOSE) console.log(`[${backend}] ${c.name}: max relative loss difference ${rel.toExponential(2)}; losses ${ref.losses[0].toFixed(5)} -> ${ref.losses[STEPS - 1].toFixed(5)}`);
    expect(got.losses).toHaveLength(STEPS);
    expect(rel, `losses ours ${got.losses.join(', ')} vs tfjs ${ref.losses.join(', ')}`).toBeLessThan(LOSS_RTOL);
    got.weights.forEach((w, k) => expectClose(`[${backend}] ${c.name} final ${NAMES[k]}`, w, ref.weights[k], WEIGHTS));
  });

  it('negative control: a z/r block swap in the GRU weights or the other epsilon placement is caught', async () => {
    const c = CASES.find((k) => k.opt === 'adam' && k.head === 'mse' && !k.clipnorm)!;
    const { data, ref } = reference(c);
    // (a) z and r exchanged in all three GRU weights (a classic conversion slip, §4).
    const swap = (a: Float32Array, rows: number): Float32Array => {
      const out = a.slice();
      for (let row = 0; row < rows; row++) {
        for (let j = 0; j < H; j++) {
          out[row * G + j] = a[row * G + H + j];
          out[row * G + H + j] = a[row * G + j];
        }
      }
      return out;
    };
    const swapped = { ...data, weights: [swap(data.weights[0], D), swap(data.weights[1], H), swap(data.weights[2], 1), data.weights[3], data.weights[4]] };
    const bad = await ourRun(c, swapped);
    expect(maxRelative(bad.losses, ref.losses)).toBeGreaterThan(100 * LOSS_RTOL);
    // (b) Adam with Keras' default ε = 1e-7 against tfjs' ε = 0: gradient entries of ~1e-6 make ε
    // visible (weights 3.8e-3 off, ~700× the allowance), so an ε placement slip cannot hide under WEIGHTS.
    const m = ourModel(data, 'mse');
    try {
      m.compile({ optimizer: new Adam({ ...HP.adam, epsilon: 1e-7 }), loss: 'mse' });
      const x = tensor(data.x, [B, T, D]);
      const y = tensor(data.y, [B, 1]);
      for (let s = 0; s < STEPS; s++) m.trainOnBatch(x, y);
      const w = m.getWeights().map((t) => t.data);
      let worst = 0;
      w.forEach((a, k) => a.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - ref.weights[k][j]) / (WEIGHTS.atol + WEIGHTS.rtol * Math.abs(ref.weights[k][j]))))));
      expect(worst).toBeGreaterThan(100);
    } finally {
      m.dispose();
    }
  });
});

/**
 * Callbacks inside a real `fit` (ours only; the callbacks' Keras semantics are unit-tested on a fake
 * model in callbacks.test.ts). The model and data are the mse case's above; full-batch SGD with
 * momentum, `shuffle: false`, so every run is deterministic and can be replayed step by step with
 * `trainOnBatch`. The validation targets are y/2: training on y first brings val_loss down, then
 * overshoots it, so the best validation epoch lies strictly inside the run.
 */
describe('callbacks inside fit (integration)', () => {
  const d = makeData('mse', 4000);
  const x = tensor(d.x, [B, T, D]);
  const y = tensor(d.y, [B, 1]);
  const yVal = tensor(d.y.map((v) => v / 2), [B, 1]);
  const sgd = (learningRate = 0.1): SGD => new SGD({ learningRate, momentum: 0.9 });
  const snapshot = (m: Sequential): Float32Array[] => m.getWeights().map((w) => Float32Array.from(w.data));

  beforeAll(async () => {
    await init();
  });

  /** Replays `lrs.length` full-batch steps with trainOnBatch, setting the rate before each: the losses. */
  function replay(lrs: number[]): { losses: number[]; weights: Float32Array[] } {
    const m = ourModel(d, 'mse');
    try {
      m.compile({ optimizer: sgd(lrs[0]), loss: 'mse' });
      const losses = lrs.map((lr) => {
        m.optimizer!.learningRate = lr;
        return m.trainOnBatch(x, y) as number;
      });
      return { losses, weights: snapshot(m) };
    } finally {
      m.dispose();
    }
  }

  it('EarlyStopping({restoreBestWeights}) stops `patience` epochs after the best val_loss and restores that epoch\'s weights', async () => {
    const m = ourModel(d, 'mse');
    try {
      m.compile({ optimizer: sgd(), loss: 'mse' });
      const atEpochEnd: Float32Array[][] = [];
      const es = new EarlyStopping({ monitor: 'val_loss', patience: 3, restoreBestWeights: true });
      const h = await m.fit(x, y, {
        epochs: 60,
        batchSize: B,
        shuffle: false,
        verbose: 0,
        validationData: [x, yVal],
        callbacks: [{ onEpochEnd: () => void atEpochEnd.push(snapshot(m)) }, es],
      });
      const val = h.history.val_loss;
      const best = val.indexOf(Math.min(...val));
      if (VERBOSE) console.log(`EarlyStopping: val_loss ${val.map((v) => v.toFixed(4)).join(' ')}; best epoch ${best}`);
      expect(best).toBeGreaterThan(0);
      expect(es.bestEpoch).toBe(best);
      // Keras: wait counts epochs since the best; training stops at epoch best + patience.
      expect(val).toHaveLength(best + 3 + 1);
      expect(es.stoppedEpoch).toBe(best + 3);
      const restored = snapshot(m);
      restored.forEach((w, k) => expect(Array.from(w), `weight ${k} is the best epoch's`).toEqual(Array.from(atEpochEnd[best][k])));
      expect(restored.some((w, k) => w.some((v, j) => v !== atEpochEnd[val.length - 1][k][j])), 'the last epoch had other weights').toBe(true);
      // And the restored model scores the best val_loss again.
      expect(await m.evaluate(x, yVal, { batchSize: B })).toBeCloseTo(val[best], 7);
    } finally {
      m.dispose();
    }
  });

  it('ReduceLROnPlateau lowers model.optimizer.learningRate, and the lowered rate is the one the steps use', async () => {
    const m = ourModel(d, 'mse');
    try {
      m.compile({ optimizer: sgd(), loss: 'mse' });
      const inForce: number[] = [];
      const reduce = new ReduceLROnPlateau({ monitor: 'val_loss', factor: 0.5, patience: 2, minDelta: 0 });
      const h = await m.fit(x, y, {
        epochs: 16,
        batchSize: B,
        shuffle: false,
        verbose: 0,
        validationData: [x, yVal],
        callbacks: [{ onEpochBegin: () => void inForce.push(m.optimizer!.learningRate as number) }, reduce],
      });
      // Expected rates from the Keras rule, worked on the logged val_loss (minDelta 0, cooldown 0).
      const val = h.history.val_loss;
      const expected: number[] = [];
      let lr = 0.1;
      let best = Infinity;
      let wait = 0;
      for (const v of val) {
        expected.push(lr);
        if (v < best) {
          best = v;
          wait = 0;
        } else if (++wait >= 2) {
          lr *= 0.5;
          wait = 0;
        }
      }
      if (VERBOSE) console.log(`ReduceLROnPlateau: rates ${inForce.join(' ')}`);
      expect(inForce).toEqual(expected);
      expect(h.history.learning_rate).toEqual(expected);
      expect(m.optimizer!.learningRate).toBeLessThan(0.1 / 2); // reduced at least twice
      const r = replay(expected);
      expect(h.history.loss).toEqual(r.losses);
      expect(snapshot(m).map((w) => Array.from(w))).toEqual(r.weights.map((w) => Array.from(w)));
    } finally {
      m.dispose();
    }
  });

  it('LearningRateScheduler sets the rate at each epoch begin; the steps use it', async () => {
    const m = ourModel(d, 'mse');
    try {
      m.compile({ optimizer: sgd(), loss: 'mse' });
      const h = await m.fit(x, y, {
        epochs: 8,
        batchSize: B,
        shuffle: false,
        verbose: 0,
        callbacks: [new LearningRateScheduler((epoch, lr) => (epoch < 3 ? lr : lr * 0.7))],
      });
      const expected = [0.1, 0.1, 0.1];
      while (expected.length < 8) expected.push(expected[expected.length - 1] * 0.7);
      expect(h.history.learning_rate).toEqual(expected);
      expect(m.optimizer!.learningRate).toBe(expected[7]);
      const r = replay(expected);
      expect(h.history.loss).toEqual(r.losses);
      expect(snapshot(m).map((w) => Array.from(w))).toEqual(r.weights.map((w) => Array.from(w)));
      // The schedule mattered: a constant rate gives other losses.
      expect(replay(new Array(8).fill(0.1)).losses.slice(3)).not.toEqual(r.losses.slice(3));
    } finally {
      m.dispose();
    }
  });

  it('an exponentialDecay schedule as learningRate gives the losses of a manual per-step rate (Adam, 4 batches per epoch)', async () => {
    // Keras: the rate of step k (0-based, `iterations` before the update) is schedule(k) =
    // 0.01 · 0.5^(k / 3) here, a new rate at every batch, not every epoch.
    const rate = (k: number): number => 0.01 * Math.pow(0.5, k / 3);
    const batch = 4;
    const epochs = 3;
    const steps = (B / batch) * epochs;
    const m = ourModel(d, 'mse');
    try {
      m.compile({ optimizer: new Adam({ learningRate: schedules.exponentialDecay({ initialLearningRate: 0.01, decaySteps: 3, decayRate: 0.5 }) }), loss: 'mse' });
      const batchLosses: number[] = [];
      let sum = 0;
      const h = await m.fit(x, y, {
        epochs,
        batchSize: batch,
        shuffle: false,
        verbose: 0,
        callbacks: [
          {
            onEpochBegin: () => void (sum = 0),
            // logs.loss is the running mean over the epoch's batches (equal sizes): recover each batch's loss.
            onBatchEnd: (i: number, logs?: Logs) => {
              const loss = logs!.loss * (i + 1) - sum;
              sum += loss;
              batchLosses.push(loss);
            },
          },
        ],
      });
      expect(m.optimizer!.iterations).toBe(steps);

      const manual = ourModel(d, 'mse');
      try {
        manual.compile({ optimizer: new Adam({ learningRate: 0.01 }), loss: 'mse' });
        const losses: number[] = [];
        for (let k = 0; k < steps; k++) {
          const s = (k % (B / batch)) * batch;
          manual.optimizer!.learningRate = rate(k);
          losses.push(manual.trainOnBatch(tensor(d.x.slice(s * T * D, (s + batch) * T * D), [batch, T, D]), tensor(d.y.slice(s, s + batch), [batch, 1])) as number);
        }
        if (VERBOSE) console.log(`exponentialDecay: step losses ${losses.map((v) => v.toFixed(5)).join(' ')}`);
        batchLosses.forEach((l, k) => expect(l, `step ${k}`).toBeCloseTo(losses[k], 6));
        for (let e = 0; e < epochs; e++) {
          const mean = losses.slice(e * 4, e * 4 + 4).reduce((a, v) => a + v, 0) / 4;
          expect(h.history.loss[e]).toBeCloseTo(mean, 6);
        }
        // Same rates, same arithmetic: the weights agree bit for bit.
        expect(snapshot(m).map((w) => Array.from(w))).toEqual(snapshot(manual).map((w) => Array.from(w)));
      } finally {
        manual.dispose();
      }
    } finally {
      m.dispose();
    }
  });
});
