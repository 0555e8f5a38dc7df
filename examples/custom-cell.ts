/**
 * The Keras cell API: `layers.rnn({cell: layers.gruCell(...)})` and a stack of cells
 * (`layers.stackedRNNCells({cells})`, or just an array of cells) compute the same numbers as
 * `layers.gru` and a stack of `layers.gru` given the same weights, and train the same way.
 *
 *   npm run example -- custom-cell [--small]
 *
 * In Keras:
 *
 *   rnn = keras.Sequential([keras.Input((T, 2)), layers.RNN(layers.GRUCell(16))])
 *   gru = keras.Sequential([keras.Input((T, 2)), layers.GRU(16)])
 *   rnn.set_weights(gru.get_weights())          # kernel, recurrent_kernel, bias: same names, same shapes
 *   np.abs(rnn.predict(x) - gru.predict(x)).max()
 *
 *   cells = [layers.GRUCell(16), layers.GRUCell(8)]
 *   stacked = keras.Sequential([keras.Input((T, 2)), layers.RNN(layers.StackedRNNCells(cells)), layers.Dense(1)])
 *
 * Here `rnn({cell: gruCell})` runs the same fused GRU kernel as `gru`, so the difference is
 * exactly 0; the stack runs one fused GRU per cell, each output sequence feeding the next cell,
 * which is what StackedRNNCells does step by step.
 *
 * Section 4 writes a cell of its own, as one subclasses `keras.layers.Layer` with `state_size` and
 * `call(inputs, states)` and wraps it in `keras.layers.RNN`: `MGUCell` below extends `RNNCell`,
 * computes one step on Tensors, and gives `backward` for one step; `rnn({cell})` loops over time,
 * backpropagates through time, and handles masks, goBackwards, returnState and stateful.
 *
 * The training task is the "adding problem" (Hochreiter & Schmidhuber 1997): each step carries a
 * random value in [0, 1) and a marker; exactly two steps are marked, and the target is the sum of
 * their two values. Predicting the mean (1) for everything gives MSE = Var = 2/12 ≈ 0.167.
 *
 * In an application, import from 'fastgru' instead of '../ts/src/index.ts'.
 */
import { RNNCell, Tensor, init, layers, optimizers, registerLayerClass, sequential, setSeed } from '../ts/src/index.ts';
import type { CellBackwardContext, CellCallContext, LayerArgs, LayerWeight, Logs, Sequential, Shape } from '../ts/src/index.ts';
import { mulberry32 } from './data.ts';
import { fmtLogs } from './util.ts';
import type { ExampleOptions } from './util.ts';

/** `n` adding-problem sequences of `steps` steps: x (n, steps, 2) = [value, marker], y (n, 1). */
export function addingProblem(n: number, steps: number, seed: number): { x: Tensor; y: Tensor } {
  const rand = mulberry32(seed);
  const x = new Float32Array(n * steps * 2);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    // One marked step in each half, so the GRU must remember the first until it sees the second.
    const a = Math.floor(rand() * (steps / 2));
    const b = Math.floor(steps / 2 + rand() * (steps / 2));
    for (let t = 0; t < steps; t++) {
      const v = rand();
      x[(i * steps + t) * 2] = v;
      if (t === a || t === b) {
        x[(i * steps + t) * 2 + 1] = 1;
        y[i] += v;
      }
    }
  }
  return { x: new Tensor(x, [n, steps, 2]), y: new Tensor(y, [n, 1]) };
}

/** max |a − b| over all entries. */
function maxAbsDiff(a: Tensor, b: Tensor): number {
  if (a.size !== b.size) throw new Error(`shapes differ: ${a.shape} vs ${b.shape}`);
  let m = 0;
  for (let i = 0; i < a.size; i++) m = Math.max(m, Math.abs(a.data[i] - b.data[i]));
  return m;
}

/** (n, k) · (k, m) → (n, m); with `tA`, aᵀ · b for a (k, n) → (n, m); with `tB`, a · bᵀ for b (m, k). */
function matmul(a: ArrayLike<number>, b: ArrayLike<number>, n: number, k: number, m: number, tA = false, tB = false): Float32Array {
  const out = new Float32Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (tA ? a[p * n + i] : a[i * k + p]) * (tB ? b[j * k + p] : b[p * m + j]);
      out[i * m + j] = s;
    }
  }
  return out;
}

const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));

/** What one step of `MGUCell` keeps for its backward. */
interface MGUCache {
  /** The gate f (batch, units). */
  f: Float32Array;
  /** The candidate h̃ (batch, units). */
  hh: Float32Array;
  /** f ⊙ h (batch, units), the input of U_h. */
  fh: Float32Array;
}

/**
 * A user-defined cell: the minimal gated unit (Zhou et al. 2016, arXiv 1603.09420), one gate:
 *
 *   f  = σ(x·K_f + h·U_f + b_f)
 *   h̃  = tanh(x·K_h + (f ⊙ h)·U_h + b_h)
 *   h' = (1 − f) ⊙ h + f ⊙ h̃                 output and new state: h'
 *
 * Weights: `kernel` (D, 2H) = [K_f | K_h], `recurrentGate` U_f (H, H), `recurrentCandidate` U_h
 * (H, H), `bias` (2H) = [b_f | b_h]. `test/layers/rnn-custom-cell.test.ts` checks its backward
 * by finite differences through time.
 */
export class MGUCell extends RNNCell<MGUCache> {
  readonly className = 'MGUCell';
  readonly units: number;
  /** Keras `state_size`: one state of `units`. The output size defaults to it. */
  readonly stateSize: number;
  private kernel!: LayerWeight;
  private recurrentGate!: LayerWeight;
  private recurrentCandidate!: LayerWeight;
  private bias!: LayerWeight;

  constructor(args: LayerArgs & { units: number }) {
    super(args);
    this.units = args.units;
    this.stateSize = args.units;
  }

  /** `inputShape` is one step's: (batch, features). */
  build(inputShape: Shape | Shape[]): void {
    const d = (inputShape as Shape)[1] as number;
    const h = this.units;
    this.kernel = this.addWeight('kernel', [d, 2 * h]);
    this.recurrentGate = this.addWeight('recurrentGate', [h, h], 'orthogonal');
    this.recurrentCandidate = this.addWeight('recurrentCandidate', [h, h], 'orthogonal');
    this.bias = this.addWeight('bias', [2 * h], 'zeros');
  }

  /** One step: x (batch, D), states [h (batch, H)] → [h', [h']]. */
  call(x: Tensor, [state]: Tensor[], { cache }: CellCallContext<MGUCache>): [Tensor, Tensor[]] {
    const [nb, d] = x.shape;
    const n = this.units;
    const h = state.data;
    const bias = this.bias.read().data;
    const xa = matmul(x.data, this.kernel.read().data, nb, d, 2 * n); // (B, 2H): [x·K_f | x·K_h]
    const uf = matmul(h, this.recurrentGate.read().data, nb, n, n);
    const f = new Float32Array(nb * n);
    const fh = new Float32Array(nb * n);
    for (let i = 0; i < nb * n; i++) {
      const [b, j] = [Math.floor(i / n), i % n];
      f[i] = sigmoid(xa[b * 2 * n + j] + uf[i] + bias[j]);
      fh[i] = f[i] * h[i];
    }
    const uh = matmul(fh, this.recurrentCandidate.read().data, nb, n, n);
    const hh = new Float32Array(nb * n);
    const out = new Float32Array(nb * n);
    for (let i = 0; i < nb * n; i++) {
      const [b, j] = [Math.floor(i / n), i % n];
      hh[i] = Math.tanh(xa[b * 2 * n + n + j] + uh[i] + bias[n + j]);
      out[i] = (1 - f[i]) * h[i] + f[i] * hh[i];
    }
    // What backward needs beyond the step's input, states and outputs (which it is given anyway).
    Object.assign(cache, { f, hh, fh });
    const y = new Tensor(out, [nb, n]);
    return [y, [y]];
  }

  /**
   * One step back: dL/dh' arrives twice (as the output and as the new state); returns dL/dx and
   * dL/dh, and adds this step's weight gradients (they accumulate over the steps).
   */
  backward(dOutput: Tensor, [dState]: Tensor[], { input, states, cache }: CellBackwardContext<MGUCache>): [Tensor, Tensor[]] {
    const [nb, d] = input.shape;
    const n = this.units;
    const h = states[0].data;
    const { f, hh, fh } = cache;
    const uG = this.recurrentGate.read().data;
    const uC = this.recurrentCandidate.read().data;
    const da = new Float32Array(nb * 2 * n); // (B, 2H): pre-activation gradients [f | h̃]
    const dah = new Float32Array(nb * n);
    const dh = new Float32Array(nb * n);
    for (let i = 0; i < nb * n; i++) {
      const dOut = dOutput.data[i] + dState.data[i];
      dh[i] = dOut * (1 - f[i]);
      dah[i] = dOut * f[i] * (1 - hh[i] * hh[i]);
    }
    const dfh = matmul(dah, uC, nb, n, n, false, true); // (B, H) = dah · U_hᵀ
    for (let i = 0; i < nb * n; i++) {
      const [b, j] = [Math.floor(i / n), i % n];
      const dOut = dOutput.data[i] + dState.data[i];
      const df = dOut * (hh[i] - h[i]) + dfh[i] * h[i];
      dh[i] += dfh[i] * f[i];
      da[b * 2 * n + j] = df * f[i] * (1 - f[i]);
      da[b * 2 * n + n + j] = dah[i];
    }
    const daf = new Float32Array(nb * n);
    for (let i = 0; i < nb * n; i++) daf[i] = da[Math.floor(i / n) * 2 * n + (i % n)];
    const dhGate = matmul(daf, uG, nb, n, n, false, true);
    for (let i = 0; i < nb * n; i++) dh[i] += dhGate[i];
    this.kernel.addGradient(matmul(input.data, da, d, nb, 2 * n, true));
    this.recurrentGate.addGradient(matmul(h, daf, n, nb, n, true));
    this.recurrentCandidate.addGradient(matmul(fh, dah, n, nb, n, true));
    const db = new Float32Array(2 * n);
    for (let i = 0; i < da.length; i++) db[i % (2 * n)] += da[i];
    this.bias.addGradient(db);
    const dx = matmul(da, this.kernel.read().data, nb, 2 * n, d, false, true);
    return [new Tensor(dx, [nb, d]), [new Tensor(dh, [nb, n])]];
  }

  getConfig(): Record<string, unknown> {
    return { ...super.getConfig(), units: this.units };
  }

  static fromConfig(config: Record<string, unknown>): MGUCell {
    return new MGUCell(config as unknown as LayerArgs & { units: number });
  }
}

// Lets getConfig / fromConfig, bidirectional() and loadModel rebuild the cell by its class name.
registerLayerClass('MGUCell', MGUCell);

export async function run(options: ExampleOptions = {}): Promise<Record<string, number>> {
  const { small = false, log = console.log } = options;
  await init();
  setSeed(3);
  const steps = small ? 10 : 30;
  const data = addingProblem(small ? 512 : 4096, steps, 1);
  // Held out: fresh sequences for comparing outputs and for the test error.
  const heldOut = addingProblem(256, steps, 2);
  const probe = heldOut.x;

  // ---- 1. one cell: rnn({cell: gruCell}) is gru ------------------------------------------------
  const gru = sequential({ layers: [layers.gru({ units: 16, inputShape: [steps, 2] })] });
  const rnn = sequential({ layers: [layers.rnn({ cell: layers.gruCell({ units: 16 }), inputShape: [steps, 2] })] });
  // Same weight names and shapes (kernel (2, 48), recurrentKernel (16, 48), bias (2, 48)), so the
  // weights copy across as they are.
  rnn.setWeights(gru.getWeights());
  const cellDiff = maxAbsDiff(rnn.predict(probe) as Tensor, gru.predict(probe) as Tensor);
  log(`rnn({cell: gruCell(16)}) vs gru(16), same weights: max |difference| = ${cellDiff}`);

  // ---- 2. stacked cells: rnn({cell: stackedRNNCells}) is gru(returnSequences) → gru -------------
  const units = small ? [8, 4] : [32, 16];
  const stackedGru = (): Sequential =>
    sequential({
      layers: [
        layers.gru({ units: units[0], returnSequences: true, inputShape: [steps, 2] }),
        layers.gru({ units: units[1] }),
        layers.dense({ units: 1 }),
      ],
    });
  const stackedCells = (asArray: boolean): Sequential => {
    const cells = units.map((u) => layers.gruCell({ units: u }));
    return sequential({
      layers: [
        // An array of cells is shorthand for stackedRNNCells({cells}), as in Keras.
        layers.rnn({ cell: asArray ? cells : layers.stackedRNNCells({ cells }), inputShape: [steps, 2] }),
        layers.dense({ units: 1 }),
      ],
    });
  };
  const reference = stackedGru();
  const stacked = stackedCells(false);
  const stackedArray = stackedCells(true);
  // Weight order: cell 0's kernel, recurrentKernel, bias, then cell 1's, then the Dense: the same
  // list the two-GRU model gives.
  stacked.setWeights(reference.getWeights());
  stackedArray.setWeights(reference.getWeights());
  const stackDiff = maxAbsDiff(stacked.predict(probe) as Tensor, reference.predict(probe) as Tensor);
  const arrayDiff = maxAbsDiff(stackedArray.predict(probe) as Tensor, reference.predict(probe) as Tensor);
  log(`rnn({cell: stackedRNNCells([gruCell(${units[0]}), gruCell(${units[1]})])}) vs gru → gru: max |difference| = ${stackDiff}`);
  log(`rnn({cell: [gruCell(${units[0]}), gruCell(${units[1]})]}) vs gru → gru: max |difference| = ${arrayDiff}`);

  // ---- 3. train the stacked cells, and the GRU stack from the same start -----------------------
  const epochs = options.epochs ?? (small ? 3 : 15);
  const train = async (m: Sequential, logEpochs: boolean): Promise<number[]> => {
    m.compile({ optimizer: optimizers.adam({ learningRate: 3e-3 }), loss: 'mse' });
    // shuffle: false so both models see the same batches in the same order; nothing else is random.
    const h = await m.fit(data.x, data.y, {
      epochs,
      batchSize: 64,
      shuffle: false,
      verbose: 0,
      callbacks: logEpochs ? { onEpochEnd: (e: number, logs?: Logs) => log(`epoch ${e + 1}/${epochs}  ${fmtLogs(logs ?? {})}`) } : [],
    });
    return h.history.loss as number[];
  };
  const started = Date.now();
  const cellLosses = await train(stacked, true);
  const seconds = (Date.now() - started) / 1000;
  const gruLosses = await train(reference, false);
  const trainedDiff = maxAbsDiff(stacked.predict(probe) as Tensor, reference.predict(probe) as Tensor);
  const testLoss = (await stacked.evaluate(heldOut.x, heldOut.y)) as number;
  const lossDiff = Math.max(...cellLosses.map((l, i) => Math.abs(l - gruLosses[i])));
  log(`trained ${epochs} epochs in ${seconds.toFixed(1)} s: mse ${cellLosses[0].toFixed(4)} → ${cellLosses[epochs - 1].toFixed(4)} ` +
    `(predicting the mean: ${(2 / 12).toFixed(4)}); held-out mse ${testLoss.toFixed(4)}`);
  log(`after training the same way: loss curves differ by at most ${lossDiff}, predictions by at most ${trainedDiff}`);

  // ---- 4. a user-defined cell: rnn({cell: new MGUCell(...)}), alone and under a gruCell -------
  const mgu = sequential({ layers: [layers.rnn({ cell: new MGUCell({ units: units[1] }), inputShape: [steps, 2] }), layers.dense({ units: 1 })] });
  // A mixed stack: the gruCell runs the fused kernel over the whole sequence, the MGU a JS loop.
  const mixed = sequential({
    layers: [layers.rnn({ cell: [layers.gruCell({ units: units[0] }), new MGUCell({ units: units[1] })], inputShape: [steps, 2] }), layers.dense({ units: 1 })],
  });
  log(`rnn({cell: new MGUCell(${units[1]})}): ${mgu.countParams()} weights; rnn({cell: [gruCell(${units[0]}), new MGUCell(${units[1]})]}): ${mixed.countParams()}`);
  const userStarted = Date.now();
  const userLosses = await train(mgu, false);
  const userSeconds = (Date.now() - userStarted) / 1000;
  const mixedLosses = await train(mixed, false);
  const userTestLoss = (await mgu.evaluate(heldOut.x, heldOut.y)) as number;
  const mixedTestLoss = (await mixed.evaluate(heldOut.x, heldOut.y)) as number;
  log(`MGUCell trained ${epochs} epochs in ${userSeconds.toFixed(1)} s: mse ${userLosses[0].toFixed(4)} → ${userLosses[epochs - 1].toFixed(4)}; held-out mse ${userTestLoss.toFixed(4)}`);
  log(`gruCell → MGUCell: mse ${mixedLosses[0].toFixed(4)} → ${mixedLosses[epochs - 1].toFixed(4)}; held-out mse ${mixedTestLoss.toFixed(4)}`);

  for (const m of [gru, rnn, reference, stacked, stackedArray, mgu, mixed]) m.dispose();
  return {
    cellMaxDiff: cellDiff,
    stackedMaxDiff: stackDiff,
    arrayMaxDiff: arrayDiff,
    trainedMaxDiff: trainedDiff,
    lossCurveMaxDiff: lossDiff,
    firstLoss: cellLosses[0],
    lastLoss: cellLosses[cellLosses.length - 1],
    testLoss,
    meanPredictorLoss: 2 / 12,
    userCellFirstLoss: userLosses[0],
    userCellLastLoss: userLosses[userLosses.length - 1],
    userCellTestLoss: userTestLoss,
    mixedFirstLoss: mixedLosses[0],
    mixedLastLoss: mixedLosses[mixedLosses.length - 1],
    epochs,
    seconds,
  };
}
