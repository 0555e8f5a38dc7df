/**
 * Callbacks (ts/src/training/callbacks.ts) driven by a fake model and scripted logs, checked
 * against Keras 3 semantics. Where Keras' own tests script the same thing, the case is quoted
 * (keras/src/callbacks/early_stopping_test.py, reduce_lr_on_plateau.py, model_checkpoint.py,
 * csv_logger.py, terminate_on_nan.py, utils/progbar.py); other expected numbers are worked by hand
 * from the Keras source, step by step, in the comments.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { Tensor, tensor } from '../../ts/src/index.ts';
import {
  CSVLogger,
  Callback,
  CallbackList,
  EarlyStopping,
  History,
  LearningRateScheduler,
  type Logs,
  ModelCheckpoint,
  Progbar,
  ProgbarLogger,
  ReduceLROnPlateau,
  TerminateOnNaN,
  type TrainingModel,
  formatPath,
  pyExp,
  pyFixed,
  pyRepr,
} from '../../ts/src/training/callbacks.ts';
import { NonFiniteError, ValueError } from '../../ts/src/wasm/errors.ts';

/** Keras' DummyModel (early_stopping_test.py): the "weights" are the epoch they were set at. */
class FakeModel implements TrainingModel {
  stopTraining = false;
  weight = -1;
  optimizer: TrainingModel['optimizer'] = { learningRate: 0.1, iterations: 0 };
  metrics?: { name: string; direction?: 'up' | 'down' }[];
  metricsNames?: string[];
  history?: History;
  getWeights(): Tensor[] {
    return [tensor([this.weight])];
  }
  setWeights(w: Tensor[]): void {
    this.weight = w[0].data[0];
  }
  get lr(): number {
    return this.optimizer!.learningRate as number;
  }
}

/**
 * A minimal fit loop in Keras' order: per epoch set the weights to the epoch number, run `steps`
 * batches, end the epoch with the scripted logs (a copy), stop when model.stopTraining is set.
 */
async function fit(model: FakeModel, callbacks: ConstructorParameters<typeof CallbackList>[0], epochLogs: Logs[], steps = 2, verbose = 0) {
  const list = new CallbackList(callbacks, { addHistory: true, addProgbar: verbose !== 0, model, params: { epochs: epochLogs.length, steps, verbose } });
  model.stopTraining = false;
  await list.onTrainBegin();
  let epochsRun = 0;
  for (let epoch = 0; epoch < epochLogs.length; epoch++) {
    await list.onEpochBegin(epoch);
    model.weight = epoch;
    for (let b = 0; b < steps; b++) {
      await list.onBatchBegin(b);
      await list.onBatchEnd(b, { loss: epochLogs[epoch].loss ?? 0 });
      model.optimizer!.iterations = (model.optimizer!.iterations ?? 0) + 1;
    }
    epochsRun++;
    await list.onEpochEnd(epoch, { ...epochLogs[epoch] });
    if (model.stopTraining) break;
  }
  await list.onTrainEnd();
  return { history: list.history!, epochsRun };
}

const valLosses = (xs: number[]): Logs[] => xs.map((v) => ({ loss: v, val_loss: v }));

afterEach(() => {
  vi.restoreAllMocks();
});

describe('CallbackList and History', () => {
  it('fans every hook out in order, accepts plain hook objects, shares one logs object', async () => {
    const calls: string[] = [];
    class Rec extends Callback {
      override async onTrainBegin() { calls.push('trainBegin'); }
      override async onEpochEnd(e: number, logs?: Logs) { calls.push(`epochEnd${e}`); logs!.added = 1; }
    }
    const model = new FakeModel();
    const { history } = await fit(model, [new Rec(), [{ onEpochBegin: async (e: number) => { calls.push(`obj${e}`); } }]], valLosses([1, 0.5]));
    expect(calls).toEqual(['trainBegin', 'obj0', 'epochEnd0', 'obj1', 'epochEnd1']);
    // History comes last, so it records keys earlier callbacks added (Keras appends it).
    expect(history.epoch).toEqual([0, 1]);
    expect(history.history).toEqual({ loss: [1, 0.5], val_loss: [1, 0.5], added: [1, 1] });
    expect(model.history).toBe(history);
    expect(() => new CallbackList([{ onEpochEndd: () => {} } as never])).toThrow(/unknown key 'onEpochEndd'/);
  });
});

describe('EarlyStopping (Keras 3 early_stopping.py)', () => {
  it('test_early_stopping_patience: stopped_epoch == max(patience, 1) + 2', async () => {
    // losses = [10.0, 9.0, 8.0, 9.0, 8.9, 8.8, 8.7, 8.6, 8.5], monitor='loss', patience in [0, 1, 2, 3]
    for (const patience of [0, 1, 2, 3]) {
      const es = new EarlyStopping({ monitor: 'loss', patience });
      await fit(new FakeModel(), [es], [10.0, 9.0, 8.0, 9.0, 8.9, 8.8, 8.7, 8.6, 8.5].map((loss) => ({ loss })));
      expect(es.stoppedEpoch).toBe(Math.max(patience, 1) + 2);
    }
  });

  it('test_early_stopping_final_weights_when_restoring_model_weights (three scripted runs)', async () => {
    // 1. patience=2, losses [0.2, 0.15, 0.1, 0.11, 0.12] -> weights of epoch 2 restored.
    let model = new FakeModel();
    let es = new EarlyStopping({ monitor: 'val_loss', patience: 2, restoreBestWeights: true });
    let run = await fit(model, [es], valLosses([0.2, 0.15, 0.1, 0.11, 0.12]));
    expect(model.weight).toBe(2);
    expect(run.epochsRun).toBe(5);
    // 2. patience=5, baseline=0.5, losses [0.9, 0.8, 0.7, 0.71, 0.72, 0.73]: nothing beats the
    //    baseline, so wait is never reset: "train for only 5 epochs, and restore the second model" (epoch 2).
    model = new FakeModel();
    es = new EarlyStopping({ monitor: 'val_loss', patience: 5, baseline: 0.5, restoreBestWeights: true });
    run = await fit(model, [es], valLosses([0.9, 0.8, 0.7, 0.71, 0.72, 0.73]));
    expect(run.epochsRun).toBe(5);
    expect(model.weight).toBe(2);
    // 3. Same, but another callback stops at epoch 3: restored anyway (Keras 3 restores in
    //    on_train_end whenever best weights exist).
    model = new FakeModel();
    es = new EarlyStopping({ monitor: 'val_loss', patience: 5, baseline: 0.5, restoreBestWeights: true });
    const stopAt3 = { onEpochEnd: (e: number) => { if (e === 3) model.stopTraining = true; } };
    run = await fit(model, [es, stopAt3], valLosses([0.9, 0.8, 0.7, 0.71, 0.72, 0.73]));
    expect(run.epochsRun).toBe(4);
    expect(model.weight).toBe(2);
    expect(es.stoppedEpoch).toBe(0);
  });

  it('restores the best weights at the end even when patience never ran out', async () => {
    const model = new FakeModel();
    const es = new EarlyStopping({ patience: 10, restoreBestWeights: true });
    await fit(model, [es], valLosses([0.5, 0.3, 0.4, 0.45]));
    expect(es.stoppedEpoch).toBe(0);
    expect(es.bestEpoch).toBe(1);
    expect(model.weight).toBe(1);
  });

  it('minDelta: a gain of at most minDelta is no improvement', async () => {
    // Keras: improvement iff current - min_delta' < best with min_delta' = -|min_delta| (mode min).
    // val_loss 1.0 (best) -> 0.95 (gain 0.05 <= 0.1: wait 1 -> stop with patience 1 at epoch 1).
    const es = new EarlyStopping({ patience: 1, minDelta: 0.1 });
    await fit(new FakeModel(), [es], valLosses([1.0, 0.95, 0.5]));
    expect(es.stoppedEpoch).toBe(1);
    expect(es.best).toBe(1.0);
    // Sign of minDelta is ignored (abs), and a gain > minDelta counts.
    const es2 = new EarlyStopping({ patience: 1, minDelta: -0.1 });
    await fit(new FakeModel(), [es2], valLosses([1.0, 0.85, 0.8]));
    expect(es2.best).toBe(0.85);
    expect(es2.stoppedEpoch).toBe(2);
  });

  it('mode max / auto picks up metric directions; unknown names need a mode', async () => {
    const model = new FakeModel();
    const es = new EarlyStopping({ monitor: 'val_accuracy', patience: 1 });
    await fit(model, [es], [{ val_accuracy: 0.5 }, { val_accuracy: 0.7 }, { val_accuracy: 0.6 }, { val_accuracy: 0.9 }]);
    expect(es.monitorOp).toBe('greater');
    expect(es.stoppedEpoch).toBe(2);
    // early_stopping_test.py test_early_stopping cases: ("auto", "val_mse", "min"), ("auto", "loss", "min"),
    // ("auto", "acc", "max"), ("auto", "f1_score", "max"); "unknown" raises ValueError.
    for (const [monitor, op] of [['val_mse', 'less'], ['loss', 'less'], ['acc', 'greater'], ['f1_score', 'greater']] as const) {
      const e = new EarlyStopping({ monitor });
      await fit(new FakeModel(), [e], [{ [monitor]: 1 }]);
      expect(e.monitorOp, monitor).toBe(op);
    }
    // A model that lists its metrics decides (Keras reads m._direction from model.metrics).
    const custom = new FakeModel();
    custom.metrics = [{ name: 'my_score', direction: 'up' }];
    const e2 = new EarlyStopping({ monitor: 'val_my_score' });
    await fit(custom, [e2], [{ val_my_score: 1 }]);
    expect(e2.monitorOp).toBe('greater');
    await expect(fit(new FakeModel(), [new EarlyStopping({ monitor: 'unknown' })], [{ unknown: 1 }])).rejects.toThrow(/mode: 'max'/);
    // An unknown mode warns and falls back to auto (Keras).
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    expect(new EarlyStopping({ mode: 'best' as never }).mode).toBe('auto');
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/mode 'best' is unknown, fallback to auto/));
  });

  it('startFromEpoch: epochs before it are not watched', async () => {
    // patience 0, start 2: epochs 0-1 ignored, epoch 2 is the first best, epoch 3 worse -> stop at 3.
    const es = new EarlyStopping({ patience: 0, startFromEpoch: 2 });
    const { epochsRun } = await fit(new FakeModel(), [es], valLosses([5, 9, 1, 2, 0.5]));
    expect(epochsRun).toBe(4);
    expect(es.stoppedEpoch).toBe(3);
  });

  it('a missing monitor warns with the available keys and never stops', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const es = new EarlyStopping({ patience: 0 });
    const { epochsRun } = await fit(new FakeModel(), [es], [{ loss: 1 }, { loss: 2 }, { loss: 3 }]);
    expect(epochsRun).toBe(3);
    expect(warn).toHaveBeenCalledWith('Early stopping conditioned on metric `val_loss` which is not available. Available metrics are: loss');
  });

  it('resets in onTrainBegin, so one instance serves two fits; verbose messages', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const es = new EarlyStopping({ patience: 1, verbose: 1, restoreBestWeights: true });
    await fit(new FakeModel(), [es], valLosses([1, 2, 3]));
    expect(es.stoppedEpoch).toBe(1);
    expect(log).toHaveBeenCalledWith('Epoch 2: early stopping');
    expect(log).toHaveBeenCalledWith('Restoring model weights from the end of the best epoch: 1.');
    const model = new FakeModel();
    await fit(model, [es], valLosses([3, 2, 1]));
    expect([es.stoppedEpoch, es.best, es.bestEpoch, model.weight]).toEqual([0, 1, 2, 2]);
  });
});

describe('ReduceLROnPlateau (Keras 3 reduce_lr_on_plateau.py)', () => {
  it('patience, factor, cooldown and minLr, step by step', async () => {
    // patience 2, factor 0.5, cooldown 1, minLr 0.03, lr 0.1, minDelta 1e-4, mode min.
    // epoch: val_loss -> (cooldown, wait) -> lr
    //  0: 1.0  best=1.0 wait 0                     lr 0.1
    //  1: 1.0  no gain: wait 1                      lr 0.1
    //  2: 1.0  wait 2 >= 2: lr 0.05, cooldown 1     lr 0.05
    //  3: 1.0  cooldown 1 -> 0, wait 0; in cooldown? no (0) -> wait 1     lr 0.05
    //  4: 1.0  wait 2: lr max(0.025, 0.03) = 0.03, cooldown 1
    //  5: 1.0  cooldown -> 0, wait 1
    //  6: 1.0  wait 2: lr 0.03 > fround(0.03)? no -> unchanged
    const model = new FakeModel();
    const rl = new ReduceLROnPlateau({ patience: 2, factor: 0.5, cooldown: 1, minLr: 0.03 });
    const seen: number[] = [];
    const { history } = await fit(model, [rl, { onEpochEnd: () => { seen.push(model.lr); } }], valLosses([1, 1, 1, 1, 1, 1, 1]));
    expect(seen).toEqual([0.1, 0.1, 0.05, 0.05, 0.03, 0.03, 0.03]);
    // `learning_rate` is logged with the rate in force during the epoch (before the reduction).
    expect(history.history.learning_rate).toEqual([0.1, 0.1, 0.1, 0.05, 0.05, 0.03, 0.03]);
  });

  it('an improvement resets wait; cooldown suspends waiting', async () => {
    const model = new FakeModel();
    const rl = new ReduceLROnPlateau({ patience: 1, factor: 0.1, cooldown: 2 });
    // 0: best 1.0. 1: 0.9 better. 2: 0.95 wait 1 -> lr 0.01, cooldown 2. 3: cd 2->1, wait 0, no gain,
    // in cooldown: wait stays. 4: cd 1->0, no gain, wait 1 -> lr 0.001.
    const lrs: number[] = [];
    await fit(model, [rl, { onEpochEnd: () => { lrs.push(model.lr); } }], valLosses([1.0, 0.9, 0.95, 0.95, 0.95]));
    expect(lrs[0]).toBe(0.1);
    expect(lrs[1]).toBe(0.1);
    expect(lrs[2]).toBeCloseTo(0.01, 15);
    expect(lrs[3]).toBeCloseTo(0.01, 15);
    expect(lrs[4]).toBeCloseTo(0.001, 15);
  });

  it('throws for a factor >= 1 and for a learning-rate schedule; prints with verbose', async () => {
    expect(() => new ReduceLROnPlateau({ factor: 1 })).toThrow(/factor >= 1.0/);
    const model = new FakeModel();
    model.optimizer = { learningRate: { call: (step: number) => 0.1 / (1 + step) }, iterations: 0 };
    await expect(fit(model, [new ReduceLROnPlateau({ patience: 0 })], valLosses([1, 1]))).rejects.toThrow(/schedule/);
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const m2 = new FakeModel();
    await fit(m2, [new ReduceLROnPlateau({ patience: 0, factor: 0.5, verbose: 1 })], valLosses([1, 1]));
    expect(log).toHaveBeenCalledWith('\nEpoch 2: ReduceLROnPlateau reducing learning rate to 0.05.');
  });
});

describe('LearningRateScheduler', () => {
  it('sets schedule(epoch, lr) at each epoch begin and logs learning_rate', async () => {
    // Keras docstring: keep lr for epochs < 10, then lr * exp(-0.1); SGD lr 0.01, 15 epochs ->
    // round(lr, 5) == 0.00607 (= 0.01 · e^-0.5).
    const model = new FakeModel();
    model.optimizer = { learningRate: 0.01 };
    const sched = new LearningRateScheduler((epoch, lr) => (epoch < 10 ? lr : lr * Math.exp(-0.1)));
    const { history } = await fit(model, [sched], Array.from({ length: 15 }, () => ({ loss: 1 })));
    expect(Math.round(model.lr * 1e5) / 1e5).toBe(0.00607);
    expect(history.history.learning_rate[9]).toBe(0.01);
    expect(history.history.learning_rate[14]).toBeCloseTo(0.01 * Math.exp(-0.5), 12);
    await expect(fit(new FakeModel(), [new LearningRateScheduler(() => NaN)], [{ loss: 1 }])).rejects.toThrow(/finite number, got NaN/);
  });
});

describe('ModelCheckpoint', () => {
  it('saveBestOnly keeps the best weights and calls save only on improvement', async () => {
    const saved: [number, number, string][] = [];
    const model = new FakeModel();
    const ck = new ModelCheckpoint({
      filepath: 'ckpt-{epoch:02d}-{val_loss:.2f}',
      saveBestOnly: true,
      save: (epoch, weights, _logs, path) => { saved.push([epoch, weights[0].data[0], path]); },
    });
    await fit(model, [ck], valLosses([0.5, 0.4, 0.45, 0.3, 0.35]));
    expect(saved).toEqual([[0, 0, 'ckpt-01-0.50'], [1, 1, 'ckpt-02-0.40'], [3, 3, 'ckpt-04-0.30']]);
    expect(ck.bestWeights![0].data[0]).toBe(3);
    expect(ck.bestEpoch).toBe(3);
    // Copies: the model moving on does not change what was kept.
    expect(model.weight).toBe(4);
  });

  it('saves every epoch without saveBestOnly, every N batches with saveFreq, and warns (then saves) without the monitor', async () => {
    const epochs: number[] = [];
    await fit(new FakeModel(), [new ModelCheckpoint({ save: (e) => { epochs.push(e); } })], valLosses([1, 2, 3]));
    expect(epochs).toEqual([0, 1, 2]);
    // 3 batches per epoch, saveFreq 2: saves after global batches 2, 4, 6 -> (epoch, batch) (0,1), (1,0), (1,2).
    const saves: string[] = [];
    await fit(new FakeModel(), [new ModelCheckpoint({ filepath: 'e{epoch}b{batch}', saveFreq: 2, save: (_e, _w, _l, p) => { saves.push(p); } })], valLosses([1, 2]), 3);
    expect(saves).toEqual(['e1b2', 'e2b1', 'e2b3']);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const ck = new ModelCheckpoint({ saveBestOnly: true, monitor: 'val_acc' });
    await fit(new FakeModel(), [ck], [{ loss: 1 }]);
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/^Can save best model only with val_acc available/));
    expect(ck.bestEpoch).toBe(0);
  });

  it('formatPath follows Python str.format for the specs Keras paths use', () => {
    expect(formatPath('{epoch:02d}-{val_loss:.2f}', { epoch: 3, val_loss: 0.12345 })).toBe('03-0.12');
    expect(formatPath('w-{loss}', { loss: 1e-5 })).toBe('w-1e-05');
    expect(() => formatPath('{nope}', { epoch: 1 })).toThrow(/no value for 'nope'/);
  });
});

describe('TerminateOnNaN', () => {
  it('stops on a NaN or Inf batch loss; raiseError throws NonFiniteError', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const model = new FakeModel();
    const { epochsRun } = await fit(model, [new TerminateOnNaN()], [{ loss: 1 }, { loss: NaN }, { loss: 1 }]);
    expect(epochsRun).toBe(2);
    expect(log).toHaveBeenCalledWith('Batch 0: Invalid loss, terminating training');
    const cb = new TerminateOnNaN({ raiseError: true });
    cb.setModel(new FakeModel());
    await expect(cb.onBatchEnd(4, { loss: Infinity })).rejects.toThrow(NonFiniteError);
    await expect(cb.onBatchEnd(4, { loss: 0.3 })).resolves.toBeUndefined();
  });
});

describe('CSVLogger', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fastgru-csv-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes epoch + sorted keys, Python float text, NA for missing values, \\r\\n rows', async () => {
    const file = join(dir, 'log.csv');
    const model = new FakeModel();
    model.metricsNames = ['loss', 'val_loss', 'val_acc'];
    await fit(model, [new CSVLogger(file)], [{ val_loss: 0.5, loss: 1e-5 }, { val_loss: 0.25, loss: 3 }]);
    // Keras: keys = sorted(logs) + expected val_ names not logged yet; values via str(float).
    expect(readFileSync(file, 'utf8')).toBe('epoch,loss,val_loss,val_acc\r\n0,1e-05,0.5,NA\r\n1,3.0,0.25,NA\r\n');
  });

  it('append keeps the existing header; a separator may be chosen', async () => {
    const file = join(dir, 'append.csv');
    writeFileSync(file, 'epoch;loss\r\n0;1.0\r\n');
    await fit(new FakeModel(), [new CSVLogger(file, { append: true, separator: ';' })], [{ loss: 0.5 }]);
    expect(readFileSync(file, 'utf8')).toBe('epoch;loss\r\n0;1.0\r\n0;0.5\r\n');
  });

  it('refuses to construct outside Node', () => {
    const saved = globalThis.process.versions;
    Object.defineProperty(globalThis.process, 'versions', { value: {}, configurable: true });
    try {
      expect(() => new CSVLogger('x.csv')).toThrow(/needs Node\.js/);
    } finally {
      Object.defineProperty(globalThis.process, 'versions', { value: saved, configurable: true });
    }
  });
});

describe('ProgbarLogger and Progbar', () => {
  /** A clock that advances by `step` seconds per reading. */
  function clock(step: number): () => number {
    let t = 0;
    return () => (t += step);
  }

  it('verbose 1 on a TTY: Epoch header, \\r redraws with ETA, final line with time per step', async () => {
    let out = '';
    const logger = new ProgbarLogger({ write: (s) => (out += s), isTTY: true, now: clock(0.5) });
    await fit(new FakeModel(), [logger], [{ loss: 0.42131, accuracy: 0.8 }, { loss: 0.3, accuracy: 0.9 }], 4, 1);
    // Clock (Keras progbar.py arithmetic): bar made at t=0.5; batch ends at t=1.0, 1.5, 2.0, 2.5;
    // epoch end at 3.0. Step time ignores step 1 once past it: (t - 1.0)/(current - 1).
    // Step 1: floor(30·1/4) = 7 -> 6 '=' + '>' + 23 '.'; ETA = (1.0-0.5)/1 · 3 = 1.5 -> '1s'.
    // Step 4 (not final yet, as ProgbarLogger passes finalize=False): full bar, ETA 0s.
    // Final: elapsed 3.0-0.5 = 2.5 -> '%.0f' -> '2' (round half even); (3.0-1.0)/3 = 667ms/step.
    // Values: the logs as given, '%.4f'.
    const epoch1 =
      'Epoch 1/2\n' +
      '\r1/4 [======>.......................] - ETA: 1s - loss: 0.4213' +
      '\r2/4 [==============>...............] - ETA: 1s - loss: 0.4213' +
      '\r3/4 [=====================>........] - ETA: 0s - loss: 0.4213' +
      '\r4/4 [==============================] - ETA: 0s - loss: 0.4213' +
      '\r4/4 [==============================] - 2s 667ms/step - loss: 0.4213 - accuracy: 0.8000\n';
    expect(out.startsWith(epoch1)).toBe(true);
    expect(out.slice(epoch1.length)).toMatch(/^Epoch 2\/2\n\r1\/4 \[======>\.+\] - ETA: 1s - loss: 0\.3000/);
  });

  it('not a TTY: one line per epoch; verbose 2 prints the Keras one-line summary', async () => {
    let out = '';
    await fit(new FakeModel(), [new ProgbarLogger({ write: (s) => (out += s), isTTY: false, now: clock(0.25) })], [{ loss: 0.5 }, { loss: 0.25 }], 3, 1);
    // Bar at t=0.25, batches at 0.5, 0.75, 1.0, end at 1.25: elapsed 1.0 -> '1s'; (1.25-0.5)/2 = 375ms/step.
    expect(out).toBe(
      'Epoch 1/2\n3/3 [==============================] - 1s 375ms/step - loss: 0.5000\n' +
        'Epoch 2/2\n3/3 [==============================] - 1s 375ms/step - loss: 0.2500\n',
    );
    let out2 = '';
    await fit(new FakeModel(), [new ProgbarLogger({ write: (s) => (out2 += s), now: clock(0.25) })], [{ loss: 2e-4 }], 3, 2);
    // One epoch: no 'Epoch 1/1' header (Keras prints it only when epochs > 1). Verbose 2 skips batch
    // updates, so the step time is (0.5-0.25)/3 = 83ms; values <= 1e-3 print as '%.4e'.
    expect(out2).toBe('3/3 - 0s - 83ms/step - loss: 2.0000e-04\n');
  });

  it('an unknown step count shows "n/Unknown" and the final line uses the steps seen', () => {
    let out = '';
    const bar = new Progbar({ target: null, write: (s) => (out += s), isTTY: true, now: clock(0.01), interval: 0 });
    bar.update(5, { loss: 1 });
    // Keras '%7d/Unknown'; no ETA without a target; (0.02 - 0.01)/5 = 2ms per step.
    expect(out).toBe('\r      5/Unknown - 0s 2ms/step - loss: 1.0000');
  });

  it('Python number formatting helpers', () => {
    expect([pyRepr(0.1), pyRepr(3), pyRepr(1e-5), pyRepr(1.5e-7), pyRepr(1e16), pyRepr(123456.789), pyRepr(NaN), pyRepr(-Infinity)]).toEqual([
      '0.1', '3.0', '1e-05', '1.5e-07', '1e+16', '123456.789', 'nan', '-inf',
    ]);
    expect(pyExp(0.000123456, 4)).toBe('1.2346e-04');
    // f'{2.5:.0f}' == '2', f'{0.125:.2f}' == '0.12', f'{-2.5:.0f}' == '-2' (exact ties to even).
    expect([pyFixed(2.5, 0), pyFixed(0.125, 2), pyFixed(-2.5, 0), pyFixed(1.005, 2)]).toEqual(['2', '0.12', '-2', '1.00']);
  });
});

describe('errors', () => {
  it('callbacks used without a model say how to fix it', async () => {
    const es = new EarlyStopping();
    await expect(es.onEpochEnd(0, { val_loss: 1 })).rejects.toThrow(ValueError);
    await expect(es.onEpochEnd(0, { val_loss: 1 })).rejects.toThrow(/pass the callback to fit\(\)/);
    expect(() => new EarlyStopping({ patience: -1 })).toThrow(/patience must be an integer >= 0/);
    expect(() => new ModelCheckpoint({ saveFreq: 0 })).toThrow(/saveFreq/);
  });
});
