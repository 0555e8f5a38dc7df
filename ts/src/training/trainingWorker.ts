/**
 * The worker side of `WorkerTrainer`: rebuilds the model from the artifacts the main thread sent
 * (`loadModel`, so exactly what save/load round-trips: topology, weights, training config,
 * optimizer state), continues the main thread's random streams, runs the ordinary `Trainer.fit`
 * with the portable callbacks plus a `Bridge`, and sends back the state training changed.
 *
 * The bridge is the last callback before History, so it forwards logs the built-ins have
 * completed (ReduceLROnPlateau's `learning_rate`). At every batch boundary it gives the event loop
 * a turn (so pause, resume and abort messages land), waits while paused (on a promise, no
 * busy-wait) and throws an AbortError when aborted: a batch is never cut in half, so the state sent
 * back is always that of a finished batch.
 */
import { init, getBackend } from '../engine.js';
import { loadModel } from '../io/load.js';
import { Dropout } from '../layers/Dropout.js';
import type { Model } from '../models/Model.js';
import { globalRandom } from '../random.js';
import { AbortError, FastGruError } from '../wasm/errors.js';
import { Callback, History, Logs } from './callbacks.js';
import { nextTurn } from './nextTurn.js';
import { leafLayers } from './Trainer.js';
import type { FitArgs, Trainer } from './Trainer.js';
import { callbackState, reviveCallback } from './workerCallbacks.js';
import { FitMessage, FromWorker, ForwardedHook, HookRoutes, ToWorker, TrainingState, packError, unpackData, unpackTensor } from './workerProtocol.js';
import { Endpoint, parentEndpoint } from './workerThreads.js';

/** Pause/abort flags of the running fit, set by messages between batches. */
interface Control {
  paused: boolean;
  aborted: boolean;
  /** Resolves the wait of a paused loop (on resume or abort). */
  wake: (() => void) | null;
  /** Resolves the wait for the main thread's ack of a sync hook. */
  ack: ((stopTraining: boolean) => void) | null;
}

/** Forwards hooks to the main thread and holds the loop at batch boundaries (see the file comment). */
class Bridge extends Callback {
  constructor(
    private readonly port: Endpoint,
    private readonly routes: HookRoutes,
    private readonly control: Control,
  ) {
    super();
  }

  override setParams(params: Record<string, unknown> & { epochs: number; steps: number | null; verbose: number | 'auto' }): void {
    super.setParams(params);
    this.port.post({ type: 'params', params } satisfies FromWorker);
  }

  override async onTrainBegin(logs?: Logs) { await this.forward('onTrainBegin', [logs ?? {}]); await this.boundary(); }
  override async onTrainEnd(logs?: Logs) { await this.forward('onTrainEnd', [logs ?? {}]); }
  override async onEpochBegin(epoch: number, logs?: Logs) { await this.forward('onEpochBegin', [epoch, logs ?? {}]); await this.boundary(); }
  override async onEpochEnd(epoch: number, logs?: Logs) { await this.forward('onEpochEnd', [epoch, logs ?? {}]); }
  override async onBatchBegin(batch: number, logs?: Logs) { await this.forward('onBatchBegin', [batch, logs ?? {}]); }
  override async onBatchEnd(batch: number, logs?: Logs) { await this.forward('onBatchEnd', [batch, logs ?? {}]); await this.boundary(); }
  override async onTestBegin(logs?: Logs) { await this.forward('onTestBegin', [logs ?? {}]); }
  override async onTestEnd(logs?: Logs) { await this.forward('onTestEnd', [logs ?? {}]); }

  private async forward(hook: ForwardedHook, args: [Logs] | [number, Logs]): Promise<void> {
    const route = this.routes[hook];
    if (!route) return;
    const model = this.requireModel();
    const sync = route === 'sync';
    this.port.post({ type: 'event', hook, args, stopTraining: model.stopTraining, sync } satisfies FromWorker);
    if (!sync) return;
    // The main thread's hooks may set model.stopTraining: it comes back with the ack.
    model.stopTraining = await new Promise<boolean>((resolve) => (this.control.ack = resolve));
  }

  /** Between batches: let messages in, hold while paused, stop when aborted. */
  private async boundary(): Promise<void> {
    await nextTurn();
    while (this.control.paused && !this.control.aborted) await new Promise<void>((resolve) => (this.control.wake = resolve));
    if (this.control.aborted) throw new AbortError('fit() was aborted');
  }
}

/** What training changed, as transferable copies. */
function collectState(model: Model, callbacks: { cb: Callback; className: string }[], transfer: Transferable[]): TrainingState {
  const trainer = model.compiledTrainer as Trainer;
  const own = <T extends Float32Array>(a: T): T => {
    const c = a.slice() as T;
    transfer.push(c.buffer);
    return c;
  };
  const opt = trainer.optimizer;
  const layerRandom: Record<string, number[]> = {};
  for (const l of leafLayers(model.layers)) {
    const s = l instanceof Dropout ? l.getRandomState() : null;
    if (s) layerRandom[l.name] = s;
  }
  return {
    weights: model.getWeights().map((t) => own(t.data as Float32Array)),
    optimizer: opt.built ? opt.getWeights().map(own) : null,
    learningRate: typeof opt.learningRate === 'number' ? opt.learningRate : null,
    random: globalRandom().getState(),
    layerRandom,
    callbacks: callbacks.map(({ cb, className }) => callbackState(cb, className, transfer)),
    stopTraining: model.stopTraining,
  };
}

/** Rebuilds the model; a failure says how to train custom layers in a worker. */
async function rebuild(msg: FitMessage): Promise<Model> {
  try {
    return await loadModel(msg.artifacts, { compileArgs: { onNonFinite: msg.onNonFinite } });
  } catch (e) {
    if (!(e instanceof FastGruError)) throw e;
    const Kind = e.constructor as new (m: string) => FastGruError;
    throw new Kind(
      `${e.message} (while rebuilding the model in the training worker: a custom layer class must be registered there too, ` +
        'in a worker module of your own that calls registerLayerClass and imports fastgru/worker, passed as WorkerTrainer({workerUrl}); or train on the main thread)',
    );
  }
}

let backendModule: WebAssembly.Module | null = null;

async function runFit(port: Endpoint, msg: FitMessage, control: Control): Promise<void> {
  let model: Model | null = null;
  const callbacks: { cb: Callback; className: string }[] = [];
  try {
    // The main thread's compiled module: the same build, nothing fetched. One instance per worker.
    if (backendModule !== msg.wasm) {
      await init({ wasmBinary: msg.wasm, backend: msg.backend });
      backendModule = msg.wasm;
    }
    if (getBackend().kind !== msg.backend) throw new FastGruError(`the training worker loaded the ${getBackend().kind} build, the main thread uses ${msg.backend}`);
    model = await rebuild(msg);
    // After the rebuild (which may draw from the generator): continue the main thread's streams.
    globalRandom().setState(msg.random);
    for (const l of leafLayers(model.layers)) {
      const s = msg.layerRandom[l.name];
      if (s && l instanceof Dropout) l.setRandomState(s);
    }
    for (const spec of msg.callbacks) callbacks.push({ cb: reviveCallback(spec), className: spec.className });
    const a = msg.args;
    const args: FitArgs = {
      ...a,
      sampleWeight: a.sampleWeight ? unpackTensor(a.sampleWeight as never) : undefined,
      validationData: a.validationData ? ((a.validationData as never[]).map((d, i) => (i < 2 ? unpackData(d) : unpackTensor(d))) as never) : undefined,
      callbacks: [...callbacks.map((c) => c.cb), new Bridge(port, msg.routes, control), new History()],
      verbose: 0,
      // The bridge yields at every batch boundary.
      yieldEvery: 'never',
    };
    await model.fit(unpackData(msg.x), unpackData(msg.y), args);
    const transfer: Transferable[] = [];
    const state = collectState(model, callbacks, transfer);
    port.post({ type: 'done', state } satisfies FromWorker, transfer);
  } catch (e) {
    const transfer: Transferable[] = [];
    let state: TrainingState | null = null;
    try {
      // Whatever the failure, the model holds the state of its last finished step: hand it back.
      if (model && !model.disposed && model.compiledTrainer) state = collectState(model, callbacks, transfer);
    } catch {
      state = null;
    }
    port.post({ type: 'failed', error: packError(e), state } satisfies FromWorker, transfer);
  } finally {
    model?.dispose();
  }
}

/**
 * Makes this worker serve `WorkerTrainer` fits. The library's worker script
 * (`fastgru/worker`, dist/fastgru-worker.mjs) is just this call; a worker module of your own
 * registers its custom layer classes first, then calls it (see `ts/src/worker.ts`):
 *
 *   import { registerLayerClass, startTrainingWorker } from 'fastgru';
 *   registerLayerClass('MyLayer', MyLayer);
 *   startTrainingWorker();
 *
 * Throws (rejects) when called outside a worker.
 */
export async function startTrainingWorker(): Promise<void> {
  serveTraining(await parentEndpoint());
}

/** Serves fits on `port`. */
function serveTraining(port: Endpoint): void {
  let control: Control | null = null;
  let queue: Promise<void> = Promise.resolve();
  port.onMessage((raw) => {
    const msg = raw as ToWorker;
    switch (msg.type) {
      case 'fit': {
        const c: Control = { paused: msg.paused, aborted: false, wake: null, ack: null };
        control = c;
        queue = queue.then(() => runFit(port, msg, c));
        return;
      }
      case 'ack':
        control?.ack?.(msg.stopTraining);
        if (control) control.ack = null;
        return;
      case 'pause':
        if (control) control.paused = true;
        return;
      case 'resume':
      case 'abort':
        if (!control) return;
        if (msg.type === 'abort') control.aborted = true;
        else control.paused = false;
        control.wake?.();
        control.wake = null;
        return;
    }
  });
}
