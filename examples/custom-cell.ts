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
 * The training task is the "adding problem" (Hochreiter & Schmidhuber 1997): each step carries a
 * random value in [0, 1) and a marker; exactly two steps are marked, and the target is the sum of
 * their two values. Predicting the mean (1) for everything gives MSE = Var = 2/12 ≈ 0.167.
 *
 * In an application, import from 'fastgru' instead of '../ts/src/index.ts'.
 */
import { Tensor, init, layers, optimizers, sequential, setSeed } from '../ts/src/index.ts';
import type { Logs, Sequential } from '../ts/src/index.ts';
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

  for (const m of [gru, rnn, reference, stacked, stackedArray]) m.dispose();
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
    epochs,
    seconds,
  };
}
