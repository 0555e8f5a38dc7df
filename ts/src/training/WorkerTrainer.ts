/**
 * `WorkerTrainer`: runs `fit` in a Web Worker (browsers) or a worker_threads Worker (Node), so the
 * page stays responsive, with the same API and the same results as the main-thread trainer: same
 * seed, bit-identical weights, and afterwards the main-thread model has the trained weights, the
 * optimizer state and the random streams as if it had trained itself (`fit` or `trainOnBatch`
 * continue exactly).
 *
 *   const trainer = new WorkerTrainer(model);            // model must be compiled
 *   const history = await trainer.fit(x, y, {epochs: 10, signal, callbacks: {onBatchEnd(b, logs) {...}}});
 *   trainer.pause(); trainer.resume(); trainer.dispose();
 *   // or, with a worker of its own for one fit:
 *   await model.fit(x, y, {worker: true, ...});
 *
 * How: each `fit` sends the model as in-memory artifacts (`modelToArtifacts` with the optimizer:
 * what save/load round-trips), the compiled wasm module, the RNG states, copies of the data, the
 * portable callbacks (`workerCallbacks.ts`); the worker trains (`trainingWorker.ts`) and sends the
 * changed state back as transferred buffers (`workerProtocol.ts`). The main thread only copies
 * buffers at the start and the end and runs the hooks that live here, so it has no long task.
 *
 * Callbacks: hook objects (and History, the progress bar, user Callback subclasses) run here, with
 * the logs the worker posts, in order and awaited; the worker waits for the hooks of a batch before
 * it goes on, so `model.stopTraining = true` in a hook stops after the current batch, as on the
 * main thread. Built-ins that need the weights run in the worker (see `workerCallbacks.ts`); in each
 * hook they run before the ones here.
 *
 * While a worker fit runs, the main-thread model still holds its weights from before the fit:
 * predictions on it, or training it on this thread meanwhile, see those (and the latter is
 * overwritten when the fit settles).
 */
import { getBackend } from '../engine.js';
import { modelToArtifacts } from '../io/save.js';
import { Dropout } from '../layers/Dropout.js';
import { Model, setWorkerFit } from '../models/Model.js';
import { globalRandom } from '../random.js';
import { AbortError, DisposedError, FastGruError, ValueError } from '../wasm/errors.js';
import { Callback, CallbackList, CustomCallback, History, ProgbarLogger, TrainingModel } from './callbacks.js';
import { FitArgs, Trainer, TrainerData, isBatchSource, leafLayers } from './Trainer.js';
import { setCallbackState, splitCallbacks } from './workerCallbacks.js';
import { FORWARDED_HOOKS, FitMessage, FromWorker, HookRoutes, TrainingState, packData, packTensor, unpackError } from './workerProtocol.js';
import { Endpoint, firstExisting, spawnWorker, toWorkerUrl } from './workerThreads.js';

export interface WorkerTrainerArgs {
  /**
   * The worker script: a module that imports `fastgru/worker` (e.g. after registering custom layer
   * classes, see `ts/src/worker.ts`). Defaults to `fastgru-worker.mjs` beside the fastgru bundle.
   */
  workerUrl?: string | URL;
}

/** FitArgs fields that are plain data and go to the worker as they are. */
const PLAIN_ARGS = ['epochs', 'batchSize', 'validationSplit', 'shuffle', 'classWeight', 'initialEpoch', 'validationBatchSize'] as const;

/** The fit in flight: how messages and failures reach its promise. */
interface Running {
  message(m: FromWorker): void;
  fail(e: Error): void;
}

export class WorkerTrainer {
  private readonly workerUrl: string | URL | undefined;
  private endpoint: Promise<Endpoint> | null = null;
  private running: Running | null = null;
  private _paused = false;
  private _disposed = false;

  /**
   * @param model A compiled model (`model.compile({optimizer, loss})`): the worker trains a copy of
   *   it, with the same optimizer, losses and metrics, and writes the result back into it.
   */
  constructor(
    readonly model: Model,
    args: WorkerTrainerArgs = {},
  ) {
    if (!(model instanceof Model)) throw new ValueError(`WorkerTrainer expects a Model (model() or sequential()), got ${model === null ? 'null' : typeof model}`);
    if (!model.compiledTrainer) throw new ValueError(`WorkerTrainer: model '${model.name}' is not compiled; call model.compile({optimizer, loss}) first`);
    this.workerUrl = args.workerUrl;
  }

  /** True between `pause()` and `resume()`: the worker holds between two batches. */
  get paused(): boolean {
    return this._paused;
  }

  /** True after `dispose()`. */
  get disposed(): boolean {
    return this._disposed;
  }

  /**
   * Holds training after the current batch, without using the CPU, until `resume()`. Paused
   * before a fit, the fit starts paused. `signal` still aborts a paused fit.
   */
  pause(): void {
    this.assertLive();
    this._paused = true;
    if (this.running) void this.post({ type: 'pause' });
  }

  /** Continues a paused fit. */
  resume(): void {
    this.assertLive();
    this._paused = false;
    if (this.running) void this.post({ type: 'resume' });
  }

  /**
   * Trains in the worker; takes the FitArgs of `model.fit` (tensors only: datasets cannot be
   * sent to a worker) plus `signal`. Resolves with the History once the main-thread model holds
   * the trained weights and optimizer state. Rejects with an `AbortError` (its `history` the epochs
   * that finished) when `signal` aborts, after writing back the state of the last finished batch;
   * with the worker's error (same class and message) when training fails, also after writing back
   * the state of the last finished step, as a main-thread fit leaves it.
   */
  async fit(x: TrainerData, y: TrainerData, args: FitArgs = {}): Promise<History> {
    this.assertLive();
    if (this.running) throw new ValueError('WorkerTrainer.fit: a fit is already running on this trainer; await it before starting another');
    const signal = args.signal;
    if (signal?.aborted) throw new AbortError('fit() was aborted before it started (the signal was already aborted); nothing was trained');
    const model = this.model;
    const trainer = model.compiledTrainer;
    if (model.disposed) throw new DisposedError(`WorkerTrainer: model '${model.name}' was disposed`);
    if (!trainer) throw new ValueError(`WorkerTrainer: model '${model.name}' is not compiled; call model.compile({optimizer, loss}) first`);
    if (isBatchSource(x) || isBatchSource(args.validationData)) {
      throw new ValueError('WorkerTrainer.fit: datasets (iterables of batches) cannot be sent to a worker; pass tensors, or train on the main thread (fit without worker)');
    }
    if (y === undefined || y === null) throw new ValueError('fit(x, y): targets are missing');
    const backend = getBackend();
    if (!backend.module) throw new ValueError('WorkerTrainer: the wasm backend has no compiled module to send to the worker; load it with init()');

    const { portable, main } = splitCallbacks(args.callbacks);
    const verbose = args.verbose ?? 1;
    const list = new CallbackList(main, { addHistory: true, addProgbar: verbose !== 0 });
    const validation = !!args.validationData || (args.validationSplit ?? 0) > 0;
    list.setModel(mainThreadModel(model, trainer, validation));

    const transfer: Transferable[] = [];
    const { modelJSON, weightData } = modelToArtifacts(model, { includeOptimizer: true });
    transfer.push(weightData);
    const plain: Record<string, unknown> = {};
    for (const k of PLAIN_ARGS) if (args[k] !== undefined) plain[k] = args[k];
    if (args.sampleWeight) plain.sampleWeight = packTensor(args.sampleWeight, transfer);
    if (args.validationData) {
      const v = args.validationData as unknown[];
      if (!Array.isArray(v) || v.length < 2) throw new ValueError('fit(): validationData must be [x, y] or [x, y, sampleWeight]');
      plain.validationData = v.map((d, i) => (i < 2 ? packData(d as TrainerData, transfer) : packTensor(d as never, transfer)));
    }
    const msg: FitMessage = {
      type: 'fit',
      wasm: backend.module,
      backend: backend.kind,
      artifacts: { modelJSON, weightData },
      onNonFinite: trainer.onNonFinite,
      random: globalRandom().getState(),
      layerRandom: layerRandomStates(model),
      x: packData(x, transfer),
      y: packData(y, transfer),
      args: plain,
      callbacks: portable.map((p) => p.spec),
      routes: routesOf(list.callbacks),
      paused: this._paused,
    };

    model.stopTraining = false;
    const endpoint = await this.connect();
    return new Promise<History>((resolve, reject) => {
      let queue: Promise<void> = Promise.resolve();
      let hookError: unknown = null;
      const onAbort = (): void => endpoint.post({ type: 'abort' });
      const settle = (): void => {
        this.running = null;
        signal?.removeEventListener('abort', onAbort);
        endpoint.keepAlive(false);
      };
      const apply = (state: TrainingState | null): void => {
        if (state) applyState(model, trainer, state, portable);
      };
      // Everything from the worker goes through one queue: hooks run in order, each awaited.
      const later = (fn: () => void | Promise<void>): void => {
        queue = queue.then(fn).catch((e) => {
          settle();
          reject(e);
        });
      };
      this.running = {
        message: (m) => {
          switch (m.type) {
            case 'params':
              return later(() => list.setParams({ ...m.params, verbose } as never));
            case 'event':
              return later(async () => {
                if (hookError === null) {
                  model.stopTraining = m.stopTraining;
                  try {
                    await (list[m.hook] as (...a: unknown[]) => Promise<void>).apply(list, m.args);
                  } catch (e) {
                    // As on the main thread, a throwing hook ends fit with its error (after the
                    // worker stops at the next batch boundary and hands its state back).
                    hookError = e;
                    endpoint.post({ type: 'abort' });
                  }
                }
                if (m.sync) endpoint.post({ type: 'ack', stopTraining: model.stopTraining });
              });
            case 'done':
              return later(() => {
                settle();
                apply(m.state);
                if (hookError !== null) reject(hookError);
                else resolve(list.history!);
              });
            case 'failed':
              return later(() => {
                settle();
                apply(m.state);
                const e = unpackError(m.error);
                if (hookError !== null) reject(hookError);
                else if (e instanceof AbortError) reject(new AbortError(`${e.message}; the model keeps the weights and optimizer state of the last finished batch`, list.history));
                else reject(e);
              });
          }
        },
        fail: (e) => {
          settle();
          reject(e);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      endpoint.keepAlive(true);
      endpoint.post(msg, transfer);
      // The worker may have died before this fit listened (a script that failed to load).
      const dead = endpoint.failure();
      if (dead) this.running.fail(workerStopped(dead));
      // An abort while the worker was starting fired no event here.
      else if (signal?.aborted) onAbort();
    });
  }

  /** Terminates the worker. A fit in flight rejects with a DisposedError; the model keeps its weights from before that fit. */
  dispose(): void {
    if (this._disposed) return;
    this._disposed = true;
    this.running?.fail(new DisposedError('WorkerTrainer was disposed during fit; the model keeps the weights it had before this fit'));
    void this.endpoint?.then((e) => e.terminate(), () => {});
    this.endpoint = null;
  }

  private assertLive(): void {
    if (this._disposed) throw new DisposedError('this WorkerTrainer was disposed (its worker is terminated); make a new one');
  }

  private async post(m: unknown): Promise<void> {
    (await this.connect()).post(m);
  }

  /** The worker, started on first use; a new one after a crash. */
  private connect(): Promise<Endpoint> {
    this.endpoint ??= (async () => {
      const url = this.workerUrl !== undefined ? toWorkerUrl(this.workerUrl) : await firstExisting(DEFAULT_WORKER_URLS());
      const endpoint = await spawnWorker(url);
      endpoint.onMessage((m) => this.running?.message(m as FromWorker));
      endpoint.onFailure((e) => {
        // Dead: the next fit starts a new worker.
        this.endpoint = null;
        this.running?.fail(workerStopped(e));
      });
      return endpoint;
    })();
    const pending = this.endpoint;
    pending.catch(() => {
      if (this.endpoint === pending) this.endpoint = null;
    });
    return pending;
  }
}

/**
 * The library's worker script: beside this bundle (dist/fastgru-worker.mjs, for the ESM and the
 * CJS build alike), or, run from the TypeScript sources (tests), the built one in dist/.
 */
const DEFAULT_WORKER_URLS = (): URL[] => [new URL('./fastgru-worker.mjs', import.meta.url), new URL('../../../dist/fastgru-worker.mjs', import.meta.url)];

function workerStopped(e: Error): FastGruError {
  return new FastGruError(`the training worker stopped: ${e.message}; the model keeps the weights it had before this fit`);
}

/** Which hooks the worker forwards, and which it waits for (those of user code, which may stop training). */
function routesOf(callbacks: Callback[]): HookRoutes {
  const routes: HookRoutes = {};
  for (const cb of callbacks) {
    for (const hook of FORWARDED_HOOKS) {
      const overridden = cb instanceof CustomCallback ? typeof cb.args[hook] === 'function' : cb[hook] !== Callback.prototype[hook];
      if (!overridden) continue;
      if (cb instanceof History || cb instanceof ProgbarLogger) routes[hook] ??= 'async';
      else routes[hook] = 'sync';
    }
  }
  return routes;
}

/** What main-thread callbacks see as their model: they can stop training, not touch the weights. */
function mainThreadModel(model: Model, trainer: Trainer, validation: boolean): TrainingModel {
  const inWorker = (what: string) => () => {
    throw new ValueError(`${what} during a worker fit: the weights live in the worker until fit settles. Read them after fit, use a built-in callback (EarlyStopping, ModelCheckpoint) which runs in the worker, or train on the main thread`);
  };
  return {
    get stopTraining() {
      return model.stopTraining;
    },
    set stopTraining(v: boolean) {
      model.stopTraining = v;
    },
    getWeights: inWorker('getWeights()'),
    setWeights: inWorker('setWeights()'),
    get optimizer(): never {
      return inWorker('the optimizer')();
    },
    metrics: trainer.metrics,
    metricsNames: [...trainer.metricsNames, ...(validation ? trainer.metricsNames.map((m) => `val_${m}`) : [])],
  };
}

/** Seeded Dropout layers' own generators, by layer name. */
function layerRandomStates(model: Model): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const l of leafLayers(model.layers)) {
    const s = l instanceof Dropout ? l.getRandomState() : null;
    if (s) out[l.name] = s;
  }
  return out;
}

/** Writes what the worker's training changed into the main-thread model, as if it had trained here. */
function applyState(model: Model, trainer: Trainer, state: TrainingState, portable: { instance: Callback }[]): void {
  if (model.disposed) throw new DisposedError(`model '${model.name}' was disposed during its worker fit; the trained weights are dropped`);
  model.setWeights(state.weights);
  // A recompiled model has a new optimizer: the old one's state does not belong to it.
  if (model.compiledTrainer === trainer) {
    const opt = trainer.optimizer;
    if (state.optimizer) {
      trainer.buildOptimizer();
      opt.setWeights(state.optimizer);
    }
    if (state.learningRate !== null && typeof opt.learningRate === 'number') opt.learningRate = state.learningRate;
  }
  globalRandom().setState(state.random);
  for (const l of leafLayers(model.layers)) {
    const s = state.layerRandom[l.name];
    if (s && l instanceof Dropout) l.setRandomState(s);
  }
  portable.forEach((p, i) => setCallbackState(p.instance, state.callbacks[i]));
  model.stopTraining = state.stopTraining;
}

// `model.fit(x, y, {worker: true})`: a WorkerTrainer for one fit, its worker terminated after.
setWorkerFit(async (model, x, y, args) => {
  const trainer = new WorkerTrainer(model, typeof args.worker === 'object' ? args.worker : {});
  try {
    return await trainer.fit(x, y, args);
  } finally {
    trainer.dispose();
  }
});
