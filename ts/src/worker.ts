/**
 * The training worker's script (`dist/fastgru-worker.mjs`, exported as `fastgru/worker`), which
 * `WorkerTrainer` starts as a module worker (browsers) or a worker_threads Worker (Node). It is the
 * library (imported from `./fastgru.mjs`, not bundled twice) plus one call.
 *
 * Custom layers: the worker rebuilds the model from its config, so a layer class of your own must
 * be registered in the worker too. Write a worker module that does that, then starts serving, and
 * pass its URL as `new WorkerTrainer(model, {workerUrl})` (or `fit({worker: {workerUrl}})`):
 *
 *   // my-worker.mjs
 *   import { registerLayerClass, startTrainingWorker } from 'fastgru';
 *   import { MyLayer } from './my-layer.mjs';
 *   registerLayerClass('MyLayer', MyLayer);
 *   startTrainingWorker();
 */
import { startTrainingWorker } from './index.js';

void startTrainingWorker();
