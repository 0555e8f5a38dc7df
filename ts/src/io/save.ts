/**
 * `model.save(target, {includeOptimizer})` / `saveModel`: writes the tfjs Layers format described in
 * `artifacts.ts` to a file directory, or hands it to a save handler.
 */
import { ValueError } from '../wasm/errors.js';
import type { Layer } from '../layers/Layer.js';
import { Model, SaveHandlerLike, setModelSaver } from '../models/Model.js';
import { toPythonic } from './modelConfig.js';
import {
  FASTGRU_VERSION,
  FORMAT_VERSION,
  ModelArtifacts,
  ModelJSON,
  NamedWeight,
  OPTIMIZER_GROUP,
  WeightsManifestEntry,
  encodeWeights,
  shard,
} from './artifacts.js';
import { SaveArtifacts, SaveHandler, SaveResult, saveHandlerFor } from './handlers.js';

export interface SaveOptions {
  /**
   * Also write `trainingConfig` (loss, metrics, optimizer config) and the optimizer state
   * (moments, iterations) so that training resumes exactly. Defaults to true.
   */
  includeOptimizer?: boolean;
}

/**
 * Manifest names of the model's weights, in `model.getWeights()` order: `<layer>/<weight>` for each
 * top-level layer (`gru_1/kernel`; a wrapper's or nested model's weights keep their inner name
 * under the top-level one: `bidirectional_1/forward_gru_1/kernel`). A repeated name gets `_1`,
 * `_2`, ... (the loader computes the same names from the rebuilt model).
 */
export function modelWeightNames(model: Model): string[] {
  const names: string[] = [];
  const seen = new Map<string, number>();
  for (const l of topLayers(model)) {
    for (const w of l.weights) {
      let name = w.name.startsWith(`${l.name}/`) ? w.name : `${l.name}/${w.name}`;
      const n = seen.get(name) ?? 0;
      seen.set(name, n + 1);
      if (n > 0) name = `${name}_${n}`;
      names.push(name);
    }
  }
  return names;
}

/** The layers `model.getWeights()` walks, in its order. */
export function topLayers(model: Model): Layer[] {
  return model.layers;
}

/** The model as `{modelJSON, weightData}` plus its shards (what every save target writes). */
export function modelToArtifacts(model: Model, options: SaveOptions = {}): SaveArtifacts {
  if (!(model instanceof Model)) throw new ValueError(`save: expected a Model (model() or sequential()), got ${model === null ? 'null' : typeof model}`);
  if (model.disposed) throw new ValueError(`save: model '${model.name}' was disposed`);
  if (!model.built) {
    throw new ValueError(`save: model '${model.name}' is not built yet, so it has no weights; give the first layer an inputShape, call build(shape), or run it on data first`);
  }
  const includeOptimizer = options.includeOptimizer ?? true;
  const names = modelWeightNames(model);
  const values = topLayers(model).flatMap((l) => l.getWeights());
  if (values.length !== names.length) throw new ValueError(`save: model '${model.name}' reports ${names.length} weight names for ${values.length} weights; a layer's weights and getWeights() disagree`);
  const weights: NamedWeight[] = values.map((t, i) => ({ name: names[i], shape: [...t.shape], data: t.data as Float32Array }));
  const modelBytes = encodeWeights(weights);
  const modelShards = shard(modelBytes, 'group1');
  const manifest: WeightsManifestEntry[] = [{ paths: modelShards.paths, weights: weights.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' })) }];
  const shards = modelShards.parts.map((bytes, i) => ({ path: modelShards.paths[i], bytes }));
  const json: ModelJSON = {
    format: 'layers-model',
    generatedBy: `fastgru ${FASTGRU_VERSION}`,
    convertedBy: null,
    modelTopology: {
      class_name: model.className === 'Sequential' ? 'Sequential' : 'Functional',
      config: toPythonic(model.getConfig()),
      keras_version: `fastgru ${FASTGRU_VERSION}`,
      backend: 'fastgru.wasm',
    },
    weightsManifest: manifest,
    fastgru: { formatVersion: FORMAT_VERSION },
  };
  let optBytes: Uint8Array | null = null;
  const trainer = model.compiledTrainer;
  if (includeOptimizer && trainer) {
    json.trainingConfig = trainer.trainingConfig() as unknown as Record<string, unknown>;
    const opt = trainer.optimizer;
    const slots = opt.built ? trainer.buildOptimizer() : [];
    json.fastgru!.optimizer = { className: opt.className, iterations: opt.iterations, slots };
    if (opt.built) {
      const state = opt.getWeights();
      // Leading scalars of optimizer.getWeights(): iterations, and Nadam's u_product.
      const scalars = opt.className === 'Nadam' ? 2 : 1;
      const named: NamedWeight[] = state.map((data, i) => {
        if (i === 0) return { name: 'optimizer/iterations', shape: [], data };
        if (i < scalars) return { name: 'optimizer/u_product', shape: [], data };
        const k = i - scalars;
        return { name: `optimizer/state${Math.floor(k / slots.length)}/${slots[k % slots.length]}`, shape: [data.length], data };
      });
      optBytes = encodeWeights(named);
      const optShards = shard(optBytes, 'optimizer');
      manifest.push({ paths: optShards.paths, weights: named.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32', group: OPTIMIZER_GROUP })) });
      optShards.parts.forEach((bytes, i) => shards.push({ path: optShards.paths[i], bytes }));
    }
  }
  const weightData = new Uint8Array(modelBytes.length + (optBytes?.length ?? 0));
  weightData.set(modelBytes, 0);
  if (optBytes) weightData.set(optBytes, modelBytes.length);
  return { modelJSON: json, weightData: weightData.buffer, shards };
}

/** `model.save(target)`: `'file://dir'` (Node) or a save handler (`withSaveHandler(fn)`). */
export async function saveModel(model: Model, target: string | SaveHandler | SaveHandlerLike, options: SaveOptions = {}): Promise<SaveResult> {
  const handler: SaveHandler = typeof target === 'string' ? saveHandlerFor(target) : (target as SaveHandler);
  if (!handler || typeof handler.save !== 'function') {
    throw new ValueError(`save: target must be a URL string ('file://dir') or a handler with save(artifacts), e.g. withSaveHandler(fn); got ${target === null ? 'null' : typeof target}`);
  }
  return handler.save(modelToArtifacts(model, options));
}

export type { ModelArtifacts };

setModelSaver(saveModel as (m: Model, t: string | SaveHandlerLike, o: SaveOptions) => Promise<SaveResult>);
