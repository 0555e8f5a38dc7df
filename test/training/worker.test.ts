/**
 * Training in a worker (issue 6 item 2) in Node's worker_threads: `WorkerTrainer.fit` and
 * `model.fit({worker: true})` against the same fit on the main thread, run from the same seed.
 * "Same" means bit for bit: weights, losses, optimizer state, the random stream afterwards, and
 * what callbacks saw. Then the worker-only parts: pause/resume, abort, errors crossing back, a
 * crashed or disposed worker, callbacks that cannot cross.
 *
 * The worker runs the built script, dist/fastgru-worker.mjs (`npm install` builds dist/ before
 * `npm test`), while this file runs ts/src: `beforeAll` refuses a dist/ older than the sources.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  AbortError,
  CSVLogger,
  Callback,
  DisposedError,
  EarlyStopping,
  FastGruError,
  LearningRateScheduler,
  ModelCheckpoint,
  NonFiniteError,
  ReduceLROnPlateau,
  Tensor,
  ValueError,
  WorkerTrainer,
  init,
  layers,
  sequential,
  setSeed,
} from '../../ts/src/index.ts';
import type { FitArgs, History, Logs, Sequential } from '../../ts/src/index.ts';
import { globalRandom } from '../../ts/src/random.ts';
import { rng, uniform } from '../util/random.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WORKER = join(ROOT, 'dist/fastgru-worker.mjs');

/** Newest modification time under a directory. */
function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

beforeAll(async () => {
  await init();
  if (!existsSync(WORKER)) throw new Error(`${WORKER} is missing: run \`npm run build:ts\` (the worker runs the built script)`);
  if (statSync(WORKER).mtimeMs < newest(join(ROOT, 'ts/src'))) {
    throw new Error('dist/ is older than ts/src: run `npm run build:ts`, so the worker runs the code under test');
  }
});

const [N, T, D, H] = [40, 6, 3, 8];
const x = new Tensor(uniform(rng(1), N * T * D, -1, 1), [N, T, D]);
const y = new Tensor(uniform(rng(2), N, -1, 1), [N, 1]);

/** GRU → seeded Dropout → unseeded Dropout → Dense, seed 7: the randomness a fit draws, of both kinds. */
function makeModel(optimizer: 'adam' | 'sgd' = 'adam'): Sequential {
  setSeed(7);
  const m = sequential({
    layers: [
      layers.gru({ units: H, inputShape: [T, D], returnSequences: true }),
      layers.dropout({ rate: 0.25, seed: 3 }),
      layers.gru({ units: H }),
      layers.dropout({ rate: 0.2 }),
      layers.dense({ units: 1 }),
    ],
  });
  m.compile({ optimizer, loss: 'mse', metrics: ['mae'] });
  return m;
}

function bits(m: Sequential): string[] {
  return m.getWeights().map((w) => Buffer.from(new Uint32Array((w.data as Float32Array).slice().buffer)).toString('hex'));
}

function optimizerBits(m: Sequential): string[] {
  return m.optimizer!.getWeights().map((w) => Buffer.from(w.slice().buffer).toString('hex'));
}

/** Everything a fit leaves behind that a later fit depends on. */
function snapshot(m: Sequential, h: History | null) {
  return { weights: bits(m), optimizer: optimizerBits(m), random: globalRandom().getState(), history: h?.history ?? null, epochs: h?.epoch ?? null };
}

/** A recorder of every hook call, identical on both threads. */
function recorder(): { calls: unknown[]; hooks: Record<string, (...a: unknown[]) => Promise<void>> } {
  const calls: unknown[] = [];
  const hook = (name: string) => async (...a: unknown[]) => {
    // Async on purpose: the worker must wait for it.
    await new Promise((r) => setTimeout(r, 1));
    calls.push([name, ...a.map((v) => (v && typeof v === 'object' ? { ...(v as Logs) } : v))]);
  };
  const names = ['onTrainBegin', 'onEpochBegin', 'onBatchBegin', 'onBatchEnd', 'onTestBegin', 'onTestEnd', 'onEpochEnd', 'onTrainEnd'];
  return { calls, hooks: Object.fromEntries(names.map((n) => [n, hook(n)])) };
}

const FIT: FitArgs = { epochs: 3, batchSize: 8, verbose: 0, shuffle: true, validationSplit: 0.25 };

describe('same results as the main-thread fit', () => {
  it('bit-identical weights, losses, validation logs, optimizer state and RNG state (shuffle, seeded and unseeded dropout)', async () => {
    const a = makeModel();
    const ha = await a.fit(x, y, FIT);
    const main = snapshot(a, ha);
    a.dispose();

    const b = makeModel();
    const trainer = new WorkerTrainer(b);
    const hb = await trainer.fit(x, y, FIT);
    trainer.dispose();
    const worker = snapshot(b, hb);
    b.dispose();

    expect(Object.keys(worker.history!)).toEqual(['loss', 'mae', 'val_loss', 'val_mae']);
    expect(worker).toEqual(main);
  });

  it('training continues on the main thread after a worker fit exactly as after a main-thread one', async () => {
    const run = async (worker: boolean) => {
      const m = makeModel();
      await m.fit(x, y, { ...FIT, worker });
      // More epochs and a single step on this thread: optimizer moments, iterations and the RNG must carry over.
      const h = await m.fit(x, y, { ...FIT, epochs: 2 });
      m.trainOnBatch(x, y);
      const s = snapshot(m, h);
      m.dispose();
      return s;
    };
    expect(await run(true)).toEqual(await run(false));
  });

  it('hooks on the main thread see the same calls, logs and order, awaited (incl. validation hooks)', async () => {
    const run = async (worker: boolean) => {
      const m = makeModel();
      const r = recorder();
      await m.fit(x, y, { ...FIT, epochs: 2, worker, callbacks: r.hooks });
      m.dispose();
      return r.calls;
    };
    const main = await run(false);
    const worker = await run(true);
    expect(worker).toEqual(main);
    expect(main.map((c) => (c as string[])[0]).slice(0, 4)).toEqual(['onTrainBegin', 'onEpochBegin', 'onBatchBegin', 'onBatchEnd']);
  });

  it('model.stopTraining = true in a main-thread hook stops after that batch, as on the main thread', async () => {
    const run = async (worker: boolean) => {
      const m = makeModel();
      const h = await m.fit(x, y, {
        ...FIT,
        worker,
        callbacks: {
          onBatchEnd(batch: number) {
            if (batch === 1) m.stopTraining = true;
          },
        },
      });
      const s = { ...snapshot(m, h), stopTraining: m.stopTraining };
      m.dispose();
      return s;
    };
    const main = await run(false);
    expect(main.optimizer[0]).toBe(Buffer.from(Float32Array.of(2).buffer).toString('hex'));
    expect(await run(true)).toEqual(main);
  });

  it('EarlyStopping (restoreBestWeights) and ReduceLROnPlateau run in the worker; their state comes back', async () => {
    const run = async (worker: boolean) => {
      const m = makeModel();
      // minDelta 10: only the first epoch counts as an improvement, so both act at epoch 1.
      const es = new EarlyStopping({ monitor: 'loss', minDelta: 10, patience: 2, restoreBestWeights: true });
      const lr = new ReduceLROnPlateau({ monitor: 'val_loss', minDelta: 10, patience: 1, factor: 0.5 });
      const h = await m.fit(x, y, { ...FIT, epochs: 6, worker, callbacks: [lr, es] });
      const s = {
        ...snapshot(m, h),
        learningRate: m.optimizer!.learningRate,
        es: { stoppedEpoch: es.stoppedEpoch, best: es.best, bestEpoch: es.bestEpoch, wait: es.wait, bestWeights: es.bestWeights?.map((t) => Array.from(t.data)) },
        lr: { best: lr.best, wait: lr.wait, cooldownCounter: lr.cooldownCounter },
      };
      m.dispose();
      return s;
    };
    const main = await run(false);
    expect(main.es.stoppedEpoch).toBe(2);
    expect(main.history!.learning_rate).toEqual([0.001, 0.001, 0.0005]);
    expect(await run(true)).toEqual(main);
  });

  it('CSVLogger writes the same file from the worker', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fastgru-worker-'));
    try {
      const run = async (worker: boolean) => {
        const m = makeModel();
        const file = join(dir, `${worker}.csv`);
        await m.fit(x, y, { ...FIT, worker, callbacks: [new CSVLogger(file)] });
        m.dispose();
        return readFileSync(file, 'utf8');
      };
      const main = await run(false);
      expect(main.split('\r\n')[0]).toBe('epoch,loss,mae,val_loss,val_mae');
      expect(await run(true)).toBe(main);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('abort, pause, resume', () => {
  it('an abort stops at the batch boundary, keeps the weights so far, and rejects with AbortError and the partial history', async () => {
    const run = async (worker: boolean) => {
      const m = makeModel();
      const ctl = new AbortController();
      let error: unknown = null;
      let epochSeen = -1;
      try {
        await m.fit(x, y, {
          ...FIT,
          worker,
          signal: ctl.signal,
          callbacks: {
            onBatchEnd(batch: number) {
              if (batch === 2 && epochSeen === 1) ctl.abort();
            },
            onEpochBegin(epoch: number) {
              epochSeen = epoch;
            },
          },
        });
      } catch (e) {
        error = e;
      }
      const h = (error as AbortError).history;
      const s = { ...snapshot(m, h), name: (error as Error).name, isAbort: error instanceof AbortError };
      m.dispose();
      return s;
    };
    const main = await run(false);
    expect(main.isAbort).toBe(true);
    expect(main.name).toBe('AbortError');
    expect(main.epochs).toEqual([0]);
    expect(main.optimizer[0]).toBe(Buffer.from(Float32Array.of(4 + 3).buffer).toString('hex'));
    expect(await run(true)).toEqual(main);
  });

  it('an already-aborted signal rejects before anything is sent', async () => {
    const m = makeModel();
    const before = bits(m);
    const trainer = new WorkerTrainer(m);
    await expect(trainer.fit(x, y, { ...FIT, signal: AbortSignal.abort() })).rejects.toThrow(AbortError);
    expect(bits(m)).toEqual(before);
    trainer.dispose();
    m.dispose();
  });

  it('an abort while training (from outside any hook) rejects and leaves a consistent model', async () => {
    const m = makeModel();
    const ctl = new AbortController();
    const trainer = new WorkerTrainer(m);
    let batches = 0;
    const p = trainer.fit(x, y, { ...FIT, epochs: 1000, signal: ctl.signal, callbacks: { onBatchEnd: () => void batches++ } });
    while (batches < 5) await new Promise((r) => setTimeout(r, 5));
    ctl.abort();
    const e = await p.catch((err) => err);
    expect(e).toBeInstanceOf(AbortError);
    // The state of the last finished batch: iterations match the batches the hooks saw.
    expect(m.optimizer!.iterations).toBe(batches);
    trainer.dispose();
    m.dispose();
  });

  it('pause() holds the worker between batches without changing the result; resume() continues', async () => {
    const a = makeModel();
    await a.fit(x, y, FIT);
    const main = snapshot(a, null);
    a.dispose();

    const m = makeModel();
    const trainer = new WorkerTrainer(m);
    let batches = 0;
    const p = trainer.fit(x, y, {
      ...FIT,
      callbacks: {
        onBatchEnd() {
          batches++;
          if (batches === 3) trainer.pause();
        },
      },
    });
    while (batches < 3) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 300));
    expect(trainer.paused).toBe(true);
    expect(batches).toBe(3);
    trainer.resume();
    expect(trainer.paused).toBe(false);
    await p;
    expect(snapshot(m, null)).toEqual(main);
    trainer.dispose();
    m.dispose();
  });
});

describe('errors', () => {
  it('a NonFiniteError in the worker rejects with the same class and message, after the state of the last good batch', async () => {
    const yBad = new Tensor(Float32Array.from(y.data, (v, i) => (i === 13 ? NaN : v)), y.shape);
    const run = async (worker: boolean) => {
      const m = makeModel();
      const e = await m.fit(x, yBad, { ...FIT, shuffle: false, validationSplit: 0, worker }).catch((err) => err);
      const s = { ...snapshot(m, null), error: [e.constructor.name, e.name, e.message], isNonFinite: e instanceof NonFiniteError };
      m.dispose();
      return s;
    };
    const main = await run(false);
    expect(main.isNonFinite).toBe(true);
    expect(main.error[2]).toMatch(/epoch 1, batch 2/);
    expect(await run(true)).toEqual(main);
  });

  it('a disposed trainer refuses to fit; dispose() during a fit rejects it and keeps the weights from before', async () => {
    const m = makeModel();
    const before = bits(m);
    const t1 = new WorkerTrainer(m);
    t1.dispose();
    await expect(t1.fit(x, y, FIT)).rejects.toThrow(DisposedError);
    expect(() => t1.pause()).toThrow(DisposedError);

    const t2 = new WorkerTrainer(m);
    let batches = 0;
    const p = t2.fit(x, y, { ...FIT, epochs: 1000, callbacks: { onBatchEnd: () => void batches++ } });
    while (batches < 2) await new Promise((r) => setTimeout(r, 5));
    t2.dispose();
    await expect(p).rejects.toThrow(/disposed during fit/);
    expect(bits(m)).toEqual(before);
    m.dispose();
  });

  it('a worker that dies rejects the fit (never hangs); a missing worker script too', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fastgru-worker-'));
    try {
      const crash = join(dir, 'crash.mjs');
      writeFileSync(crash, "import { parentPort } from 'node:worker_threads';\nparentPort.on('message', () => process.exit(3));\n");
      const m = makeModel();
      const t = new WorkerTrainer(m, { workerUrl: crash });
      await expect(t.fit(x, y, FIT)).rejects.toThrow(/training worker stopped: the training worker exited \(code 3\)/);
      t.dispose();
      const missing = new WorkerTrainer(m, { workerUrl: join(dir, 'nope.mjs') });
      await expect(missing.fit(x, y, FIT)).rejects.toThrow(FastGruError);
      missing.dispose();
      m.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('what cannot cross to a worker fails before it starts, saying what to do', async () => {
    const m = makeModel();
    const t = new WorkerTrainer(m);
    await expect(t.fit(x, y, { ...FIT, callbacks: [new LearningRateScheduler((_e, lr) => lr)] })).rejects.toThrow(/LearningRateScheduler holds a function.*schedule instead/);
    await expect(t.fit(x, y, { ...FIT, callbacks: [new ModelCheckpoint({ save: () => {} })] })).rejects.toThrow(/ModelCheckpoint with a save function/);
    class MyStopping extends EarlyStopping {}
    await expect(t.fit(x, y, { ...FIT, callbacks: [new MyStopping()] })).rejects.toThrow(/extends EarlyStopping/);
    const dataset = { async *[Symbol.asyncIterator]() { yield { xs: x, ys: y }; } };
    await expect(m.fit(dataset, { worker: true })).rejects.toThrow(/datasets .* cannot be sent to a worker/);
    expect(() => new WorkerTrainer(sequential({ layers: [layers.dense({ units: 1, inputShape: [2] })] }))).toThrow(ValueError);
    // A Callback subclass runs on the main thread: it can stop training, not read the weights.
    class ReadsWeights extends Callback {
      override async onEpochEnd() {
        this.model!.getWeights();
      }
    }
    await expect(t.fit(x, y, { ...FIT, callbacks: [new ReadsWeights()] })).rejects.toThrow(/the weights live in the worker/);
    t.dispose();
    m.dispose();
  });
});
