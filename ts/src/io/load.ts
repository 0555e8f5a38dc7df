/**
 * `loadModel(source)`: reads the tfjs Layers format described in `artifacts.ts` and returns a
 * built model with the saved weights, compiled with the saved training config and optimizer state
 * when there is one.
 *
 * Order of checks (cheap and allocation-free first, so a corrupted file fails before any wasm
 * memory is taken): model.json parses and has the fields the loader needs → every shard exists
 * and the byte counts match the manifest → every weight is finite → the topology rebuilds (with
 * initializers skipped: the weights are overwritten next) → every weight the model needs is in the
 * manifest with its shape, and nothing else is → optimizer state matches the rebuilt optimizer.
 * Any failure after the model exists disposes it.
 */
import { Tensor, fmtShape } from '../tensor.js';
import { FastGruError, ValueError } from '../wasm/errors.js';
import { FileFormatError } from './errors.js';
import { withoutInitializers } from '../initializers.js';
import type { Model } from '../models/Model.js';
import type { CompileArgs } from '../training/Trainer.js';
import { asFormatError, fromPythonic, modelFromConfig } from './modelConfig.js';
import { ModelArtifacts, ModelJSON, OPTIMIZER_GROUP, checkModelJSON, decodeWeights, splitWeightData } from './artifacts.js';
import { LoadOptions, LoadSource, fromMemory, loadSourceFor } from './handlers.js';
import { modelWeightNames, topLayers } from './save.js';

/**
 * Loads a model saved by `model.save` (or any tfjs Layers model.json using layers fastgru has):
 * `'file://dir'` / `'file://dir/model.json'` (Node), `'http(s)://.../model.json'`,
 * `{modelJSON, weightData}` (in memory) or a `LoadSource`.
 */
export async function loadModel(source: string | ModelArtifacts | LoadSource, options: LoadOptions = {}): Promise<Model> {
  const src = resolveSource(source, options);
  const file = src.file;
  const json = checkModelJSON(await readJSON(src), file);
  const groups = 'weightData' in src && src.weightData instanceof ArrayBuffer
    ? splitWeightData(json, src.weightData, file)
    : await Promise.all(json.weightsManifest.map((g, i) => src.readGroup(g.paths, i, json)));
  const weights = decodeWeights(json, groups, file);

  const topo = (json.modelTopology as Record<string, unknown>).model_config ?? json.modelTopology;
  const { class_name: className, config } = topo as { class_name: string; config: unknown };
  let model: Model;
  try {
    model = withoutInitializers(() => modelFromConfig({ className, config: fromPythonic(config) as Record<string, unknown> }));
  } catch (e) {
    throw asFormatError(e, `${file} modelTopology`, 'The file is corrupted, or uses a layer class fastgru does not have (register custom ones with registerLayerClass before loading)');
  }
  try {
    setModelWeights(model, json, weights, file);
    if (options.compile !== false && json.trainingConfig) compileFromConfig(model, json, weights, file, options.compileArgs ?? {});
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}

function resolveSource(source: string | ModelArtifacts | LoadSource, options: LoadOptions): LoadSource {
  if (typeof source === 'string') return loadSourceFor(source, options);
  if (source && typeof source === 'object') {
    if ('weightData' in source && 'modelJSON' in source) {
      if (!(source.weightData instanceof ArrayBuffer)) throw new ValueError(`loadModel: weightData must be an ArrayBuffer, got ${typeof source.weightData}`);
      return fromMemory(source as ModelArtifacts);
    }
    if (typeof (source as LoadSource).readJSON === 'function') return source as LoadSource;
  }
  throw new ValueError(`loadModel: expected 'file://path', 'http(s)://.../model.json', {modelJSON, weightData} or a LoadSource, got ${source === null ? 'null' : typeof source}`);
}

async function readJSON(src: LoadSource): Promise<unknown> {
  const raw = await src.readJSON();
  if (typeof raw !== 'string' && !(raw instanceof Uint8Array)) return raw;
  let text: string;
  try {
    text = typeof raw === 'string' ? raw : new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw new FileFormatError(`${src.file}: not UTF-8 text; the file is corrupted or is not a model.json (re-save or re-download it)`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FileFormatError(`${src.file}: invalid JSON (${(e as Error).message}, ${text.length} characters); the file is truncated or corrupted: re-save or re-download it`);
  }
}

type Decoded = ReturnType<typeof decodeWeights>;

function setModelWeights(model: Model, json: ModelJSON, weights: Decoded, file: string): void {
  const names = modelWeightNames(model);
  const shapes = topLayers(model).flatMap((l) => l.weights.map((w) => w.shape));
  const values: Tensor[] = [];
  const used = new Set<string>();
  names.forEach((name, i) => {
    const entry = weights.get(`\u0000${name}`);
    if (!entry) {
      const listed = [...weights.values()].filter((w) => w.spec.group !== OPTIMIZER_GROUP).map((w) => w.spec.name);
      throw new FileFormatError(
        `${file}: the model needs weight '${name}' ${fmtShape(shapes[i])}, which weightsManifest does not list (it lists ${listed.length}: ${listed.slice(0, 8).join(', ')}${listed.length > 8 ? ', ...' : ''}); model.json and the weights are from different models, or the file was edited`,
      );
    }
    const want = shapes[i];
    const got = entry.spec.shape;
    if (want.length !== got.length || want.some((d, k) => d !== got[k])) {
      throw new FileFormatError(`${file}: weight '${name}' has shape ${fmtShape(got)} in weightsManifest (${entry.path}), but the model built from modelTopology needs ${fmtShape(want)}; the topology and the weights disagree (corrupted or edited file)`);
    }
    used.add(name);
    values.push(entry.tensor);
  });
  const extra = [...weights.values()].filter((w) => w.spec.group !== OPTIMIZER_GROUP && !used.has(w.spec.name)).map((w) => w.spec.name);
  if (extra.length) {
    throw new FileFormatError(`${file}: weightsManifest lists ${extra.length} weight(s) the model does not have (${extra.slice(0, 8).join(', ')}); model.json and the weights are from different models`);
  }
  // Layer by layer, not model.setWeights: that one snapshots every weight first to roll back a bad
  // list, a full copy a load does not need (on failure the model is disposed).
  let k = 0;
  for (const l of topLayers(model)) {
    const n = l.weights.length;
    if (n) l.setWeights(values.slice(k, k + n));
    k += n;
  }
}

function compileFromConfig(model: Model, json: ModelJSON, weights: Decoded, file: string, extra: LoadOptions['compileArgs'] & object): void {
  const tc = json.trainingConfig as Record<string, unknown>;
  const fix = 'load with {compile: false} and compile the model yourself';
  try {
    const opt = (tc.optimizer_config ?? tc.optimizerConfig) as { class_name?: string; className?: string; config?: Record<string, unknown> } | undefined;
    if (!opt || typeof opt !== 'object') throw new FileFormatError(`'optimizer_config' is missing`);
    const args: CompileArgs = {
      optimizer: { className: String(opt.class_name ?? opt.className), config: opt.config ?? {} },
      loss: tc.loss as CompileArgs['loss'],
      ...extra,
    };
    if (tc.metrics !== null && tc.metrics !== undefined) args.metrics = tc.metrics as CompileArgs['metrics'];
    const lw = tc.loss_weights ?? tc.lossWeights;
    if (lw !== null && lw !== undefined) args.lossWeights = lw as CompileArgs['lossWeights'];
    model.compile(args);
  } catch (e) {
    throw asFormatError(e, `${file} trainingConfig`, fix);
  }
  const state = [...weights.values()].filter((w) => w.spec.group === OPTIMIZER_GROUP);
  if (!state.length) return;
  const trainer = model.compiledTrainer!;
  const saved = json.fastgru?.optimizer;
  const slots = trainer.buildOptimizer();
  if (!saved || !Array.isArray(saved.slots) || saved.slots.length !== slots.length || saved.slots.some((s, i) => s !== slots[i])) {
    throw new FileFormatError(
      `${file}: the saved optimizer state is for weights [${(saved?.slots ?? []).slice(0, 6).join(', ')}], the rebuilt model trains [${slots.slice(0, 6).join(', ')}]; load with {compile: false} to skip the optimizer state`,
    );
  }
  if (state[0].spec.name !== 'optimizer/iterations') throw new FileFormatError(`${file}: the optimizer state must start with 'optimizer/iterations', got '${state[0].spec.name}'`);
  const arrays = state.map((w) => w.tensor.data as Float32Array);
  if (typeof saved.iterations !== 'number' || Math.fround(saved.iterations) !== arrays[0][0]) {
    throw new FileFormatError(`${file}: fastgru.optimizer.iterations (${saved.iterations}) and optimizer/iterations (${arrays[0][0]}) disagree`);
  }
  try {
    trainer.optimizer.setWeights(arrays);
  } catch (e) {
    if (e instanceof FastGruError) throw asFormatError(e, `${file} optimizer state (${state[0].path})`, 'load with {compile: false} to skip it');
    throw e;
  }
}
