/**
 * Where each callback of a worker `fit` runs.
 *
 * - Built-in callbacks that need the weights or the optimizer and hold only configuration
 *   (EarlyStopping, ReduceLROnPlateau, TerminateOnNaN, CSVLogger, ModelCheckpoint without a save
 *   function) are PORTABLE: sent as {className, args, state}, rebuilt and run inside the worker,
 *   and their state (best value, wait counters, best weights, ...) is copied back into the
 *   caller's instance when `fit` settles, so reading `earlyStopping.stoppedEpoch` or
 *   `checkpoint.bestWeights` afterwards works as after a main-thread fit.
 * - Everything else runs on the MAIN thread with the logs the worker posts: hook objects,
 *   History, ProgbarLogger, and user subclasses of Callback (their `this.model` can stop training
 *   but not read weights, which live in the worker until `fit` settles).
 * - What can do neither fails before the worker starts: a function-based LearningRateScheduler, a
 *   ModelCheckpoint with a save function, a subclass of a portable callback (its code cannot be sent).
 */
import { ValueError } from '../wasm/errors.js';
import { Callback, CSVLogger, CallbackList, CallbacksArg, EarlyStopping, LearningRateScheduler, ModelCheckpoint, ReduceLROnPlateau, TerminateOnNaN } from './callbacks.js';
import type { CallbackSpec } from './workerProtocol.js';
import { packValue, unpackValue } from './workerProtocol.js';

interface Portable {
  cls: abstract new (...args: never[]) => Callback;
  /** The constructor arguments, read back from the instance's configuration fields. */
  args(cb: Callback): Record<string, unknown>;
  make(args: Record<string, unknown>): Callback;
  /** Fields a fit changes and a later fit or the user reads (copied both ways). */
  state: string[];
  /** Throws when this instance cannot run in a worker. */
  check?(cb: Callback): void;
}

const pick = (cb: Callback, keys: string[]): Record<string, unknown> => Object.fromEntries(keys.map((k) => [k, (cb as unknown as Record<string, unknown>)[k]]));

const PORTABLE: Record<string, Portable> = {
  EarlyStopping: {
    cls: EarlyStopping,
    args: (cb) => pick(cb, ['monitor', 'minDelta', 'patience', 'verbose', 'mode', 'baseline', 'restoreBestWeights', 'startFromEpoch']),
    make: (a) => new EarlyStopping(a),
    state: ['monitorOp', 'wait', 'stoppedEpoch', 'best', 'bestEpoch', 'bestWeights'],
  },
  ReduceLROnPlateau: {
    cls: ReduceLROnPlateau,
    args: (cb) => pick(cb, ['monitor', 'factor', 'patience', 'verbose', 'mode', 'minDelta', 'cooldown', 'minLr']),
    make: (a) => new ReduceLROnPlateau(a),
    // `best` survives between fits (Keras 3 MonitorCallback), so it goes in and comes back.
    state: ['monitorOp', 'best', 'wait', 'cooldownCounter'],
  },
  TerminateOnNaN: {
    cls: TerminateOnNaN,
    args: (cb) => pick(cb, ['raiseError']),
    make: (a) => new TerminateOnNaN(a),
    state: [],
  },
  CSVLogger: {
    cls: CSVLogger,
    args: (cb) => pick(cb, ['filename', 'separator', 'append']),
    make: (a) => new CSVLogger(a.filename as string, a),
    // Not its file descriptor: the worker opens and closes the file itself.
    state: ['keys'],
  },
  ModelCheckpoint: {
    cls: ModelCheckpoint,
    args: (cb) => ({ ...pick(cb, ['filepath', 'monitor', 'verbose', 'saveBestOnly', 'saveWeightsOnly', 'mode', 'saveFreq']) }),
    make: (a) => new ModelCheckpoint(a),
    state: ['monitorOp', 'best', 'bestWeights', 'bestEpoch', 'lastSavedPath', 'batchesSinceLastSave', 'lastBatchSeen', 'currentEpoch'],
    check: (cb) => {
      if ((cb as ModelCheckpoint).save !== undefined) {
        throw new ValueError(
          "ModelCheckpoint with a save function cannot run in a training worker (a function cannot be sent to it). Give it a 'file://' filepath (Node) or no save function " +
            'and read checkpoint.bestWeights after fit, or train on the main thread (fit without worker)',
        );
      }
    },
  },
};

/** The portable entry for this exact class, or null. */
function portableOf(cb: Callback): [string, Portable] | null {
  for (const [name, p] of Object.entries(PORTABLE)) {
    if (cb.constructor === p.cls) return [name, p];
    if (cb instanceof p.cls) {
      throw new ValueError(`callback ${cb.constructor.name} extends ${name}: a subclass's code cannot be sent to a training worker. Use ${name} itself, or train on the main thread (fit without worker)`);
    }
  }
  return null;
}

/** The callbacks of a worker fit, split: sent to the worker (with their specs), or kept here. */
export function splitCallbacks(arg: CallbacksArg | undefined): { portable: { instance: Callback; spec: CallbackSpec }[]; main: Callback[] } {
  const all = new CallbackList(arg ?? []).callbacks;
  const portable: { instance: Callback; spec: CallbackSpec }[] = [];
  const main: Callback[] = [];
  for (const cb of all) {
    if (cb instanceof LearningRateScheduler) {
      throw new ValueError(
        'LearningRateScheduler holds a function, which cannot be sent to a training worker. Give the optimizer a schedule instead ' +
          '(e.g. adam({learningRate: schedules.exponentialDecay({...})}), which runs in the worker), or train on the main thread (fit without worker)',
      );
    }
    const p = portableOf(cb);
    if (!p) {
      main.push(cb);
      continue;
    }
    const [className, entry] = p;
    entry.check?.(cb);
    portable.push({ instance: cb, spec: { className, args: entry.args(cb), state: callbackState(cb, className, []) } });
  }
  return { portable, main };
}

/** Rebuilds a portable callback inside the worker, with the state it had on the main thread. */
export function reviveCallback(spec: CallbackSpec): Callback {
  const entry = PORTABLE[spec.className];
  if (!entry) throw new ValueError(`the training worker does not know the callback '${spec.className}'`);
  const cb = entry.make(spec.args);
  setCallbackState(cb, spec.state);
  return cb;
}

/** The state fields of a portable callback, best weights packed for transfer. */
export function callbackState(cb: Callback, className: string, transfer: Transferable[]): Record<string, unknown> {
  const entry = PORTABLE[className];
  const fields = cb as unknown as Record<string, unknown>;
  return Object.fromEntries(entry.state.map((k) => [k, packValue(fields[k], transfer)]));
}

/** Writes state from `callbackState` into an instance (the worker's copy, or the caller's). */
export function setCallbackState(cb: Callback, state: Record<string, unknown>): void {
  const fields = cb as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(state)) fields[k] = unpackValue(v);
}

/** The class name a portable callback is sent under. */
export function portableName(cb: Callback): string {
  return portableOf(cb)![0];
}
