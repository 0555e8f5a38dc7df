/**
 * Model topology as Keras / tfjs Layers config, and back.
 *
 * - `model.getConfig()` (Model.ts, Sequential.ts) gives the tfjs in-memory form (camelCase keys).
 * - `modelFromConfig(config)` rebuilds an identical graph: every built-in layer class is
 *   registered here (`registerLayerClass` adds user classes), shared layers get one call per
 *   inbound node in node order, GRU `initialState` inputs are extra inputs of a node, nested
 *   models and wrappers rebuild through the same registry.
 * - `toPythonic` / `fromPythonic` convert to and from the snake_case form tfjs writes into
 *   `model.json` (`convertTsToPythonic` / `convertPythonicToTs` of tfjs-layers
 *   `serialization_utils.ts`, same rules: keys and string values change case, except `name` and
 *   `className` values and the layer names at the head of `inboundNodes` / `inputLayers` /
 *   `outputLayers` entries).
 */
import { FastGruError, ValueError } from '../wasm/errors.js';
import { FileFormatError } from './errors.js';
import { Layer } from '../layers/Layer.js';
import { InputLayer } from '../layers/Input.js';
import { deserializeLayer, registerLayerClass } from '../layers/serialization.js';
import { Dense } from '../layers/Dense.js';
import { GRU } from '../layers/GRU.js';
import { Embedding } from '../layers/Embedding.js';
import { Dropout, SpatialDropout1D } from '../layers/Dropout.js';
import { ActivationLayer } from '../layers/Activation.js';
import { Flatten, RepeatVector } from '../layers/Reshape.js';
import { Masking } from '../layers/Masking.js';
import { GlobalAveragePooling1D, GlobalMaxPooling1D } from '../layers/Pooling.js';
import { Add, Concatenate } from '../layers/Merge.js';
import { BatchNormalization, LayerNormalization } from '../layers/Normalization.js';
import { Bidirectional, TimeDistributed } from '../layers/Wrappers.js';
import { GRUCell, RNN, StackedRNNCells } from '../layers/RNN.js';
import { Model } from '../models/Model.js';
import { Sequential } from '../models/Sequential.js';
import type { SymbolicTensor } from '../models/SymbolicTensor.js';

let registered = false;

/**
 * Registers every built-in layer class (and the model classes) under its Keras class name. Called
 * by `modelFromConfig`; done lazily, not at import, so bundlers that drop unused modules keep it.
 */
export function registerBuiltinLayers(): void {
  if (registered) return;
  registered = true;
  const classes: [string, { fromConfig(c: Record<string, unknown>): Layer }][] = [
    ['InputLayer', InputLayer],
    ['Dense', Dense],
    ['GRU', GRU],
    ['Embedding', Embedding],
    ['Dropout', Dropout],
    ['SpatialDropout1D', SpatialDropout1D],
    ['Activation', ActivationLayer],
    ['Flatten', Flatten],
    ['RepeatVector', RepeatVector],
    ['Masking', Masking],
    ['GlobalAveragePooling1D', GlobalAveragePooling1D],
    ['GlobalMaxPooling1D', GlobalMaxPooling1D],
    ['Concatenate', Concatenate],
    ['Add', Add],
    ['BatchNormalization', BatchNormalization],
    ['LayerNormalization', LayerNormalization],
    ['TimeDistributed', TimeDistributed],
    ['Bidirectional', Bidirectional],
    ['GRUCell', GRUCell],
    ['StackedRNNCells', StackedRNNCells],
    ['RNN', RNN],
    // Keras 3 names a functional model 'Functional', tfjs and Keras 2 'Model'.
    ['Functional', { fromConfig: (c) => functionalFromConfig(c, 'Functional') }],
    ['Model', { fromConfig: (c) => functionalFromConfig(c, 'Model') }],
    ['Sequential', { fromConfig: (c) => sequentialFromConfig(c) }],
  ];
  for (const [name, cls] of classes) registerLayerClass(name, cls);
}

/**
 * Rebuilds a model from `model.getConfig()` (functional or Sequential), or from
 * `{className, config}`. Weights are freshly initialised: copy them with `setWeights`, or use
 * `loadModel` to read a saved model.
 */
export function modelFromConfig(config: Record<string, unknown>): Model {
  registerBuiltinLayers();
  if (!isRecord(config)) throw new FileFormatError(`modelFromConfig: expected a model config object, got ${describe(config)}`);
  if (typeof config.className === 'string' && isRecord(config.config)) {
    const cls = config.className;
    if (cls !== 'Sequential' && cls !== 'Functional' && cls !== 'Model') {
      throw new FileFormatError(`modelFromConfig: the top-level class must be Sequential, Functional or Model, got '${cls}'`);
    }
    return cls === 'Sequential' ? sequentialFromConfig(config.config) : functionalFromConfig(config.config, cls);
  }
  return 'inputLayers' in config ? functionalFromConfig(config, 'Functional') : sequentialFromConfig(config);
}

function sequentialFromConfig(config: Record<string, unknown>): Sequential {
  const where = `Sequential '${String(config.name ?? '')}'`;
  if (!Array.isArray(config.layers)) throw new FileFormatError(`${where} config: 'layers' must be a list of {className, config}, got ${describe(config.layers)}`);
  if (config.name !== undefined && typeof config.name !== 'string') throw new FileFormatError(`${where} config: 'name' must be a string`);
  const made: Layer[] = [];
  const seq = new Sequential({ name: config.name as string | undefined });
  try {
    config.layers.forEach((spec, i) => {
      const layer = deserializeLayer(spec, `${where} layers[${i}]`);
      made.push(layer);
      seq.add(layer);
    });
  } catch (e) {
    seq.dispose();
    for (const l of made) l.dispose();
    throw e;
  }
  return seq;
}

type TensorRef = [string, number, number, Record<string, unknown>?];

function functionalFromConfig(config: Record<string, unknown>, className: string): Model {
  const where = `${className} '${String(config.name ?? '')}'`;
  const layerSpecs = config.layers;
  if (!Array.isArray(layerSpecs)) throw new FileFormatError(`${where} config: 'layers' must be a list, got ${describe(layerSpecs)}`);
  if (config.name !== undefined && typeof config.name !== 'string') throw new FileFormatError(`${where} config: 'name' must be a string`);
  const created = new Map<string, Layer>();
  const nodes = new Map<string, TensorRef[][]>();
  const tensors = new Map<string, SymbolicTensor>();
  const key = (name: string, node: number, index: number): string => `${name}\u0000${node}\u0000${index}`;
  try {
    layerSpecs.forEach((spec, i) => {
      if (!isRecord(spec) || typeof spec.className !== 'string' || !isRecord(spec.config)) {
        throw new FileFormatError(`${where} config: layers[${i}] must be {name, className, config, inboundNodes}, got ${describe(spec)}`);
      }
      const name = typeof spec.name === 'string' ? spec.name : spec.config.name;
      if (typeof name !== 'string') throw new FileFormatError(`${where} config: layers[${i}] has no name`);
      if (created.has(name)) throw new FileFormatError(`${where} config: two layers are named '${name}'`);
      const layer = deserializeLayer({ className: spec.className, config: { ...spec.config, name } }, `${where} layer '${name}'`);
      created.set(name, layer);
      if (layer instanceof InputLayer) {
        tensors.set(key(name, 0, 0), layer.output);
        return;
      }
      const inbound = spec.inboundNodes ?? [];
      if (!Array.isArray(inbound) || !inbound.every((n) => Array.isArray(n) && n.length > 0 && n.every(isTensorRef))) {
        throw new FileFormatError(`${where} config: layer '${name}' inboundNodes must be a list of nodes, each a list of [layerName, nodeIndex, tensorIndex, kwargs], got ${describe(inbound)}`);
      }
      nodes.set(name, inbound as TensorRef[][]);
    });
    // Apply every layer to its inbound nodes in node order, as soon as their inputs exist (a shared
    // layer's node 1 may need another layer's output that needs its node 0). Each pass makes
    // progress or stops, so this ends.
    const next = new Map<string, number>([...nodes.keys()].map((n) => [n, 0]));
    for (;;) {
      let progressed = false;
      let remaining = 0;
      for (const [name, list] of nodes) {
        let k = next.get(name)!;
        while (k < list.length) {
          const refs = list[k];
          const ins = refs.map((r) => tensors.get(key(r[0], r[1], r[2])));
          if (ins.some((t) => t === undefined)) break;
          const kwargs = isRecord(refs[0][3]) ? { ...refs[0][3] } : {};
          const layer = created.get(name)!;
          const out = layer.apply((ins.length === 1 ? ins[0] : ins) as SymbolicTensor, kwargs);
          (Array.isArray(out) ? out : [out]).forEach((t, j) => tensors.set(key(name, k, j), t));
          k++;
          progressed = true;
        }
        next.set(name, k);
        remaining += list.length - k;
      }
      if (remaining === 0) break;
      if (!progressed) {
        const stuck = [...nodes].filter(([n, l]) => next.get(n)! < l.length).map(([n, l]) => {
          const missing = l[next.get(n)!].filter((r) => !tensors.has(key(r[0], r[1], r[2]))).map((r) => `${r[0]}[${r[1]}][${r[2]}]`);
          return `'${n}' node ${next.get(n)} needs ${missing.join(', ')}`;
        });
        throw new FileFormatError(`${where} config: the graph cannot be built: ${stuck.slice(0, 5).join('; ')} (unknown layers or a cycle)`);
      }
    }
    const resolve = (list: unknown, what: string): SymbolicTensor[] => {
      if (!Array.isArray(list) || list.length === 0 || !list.every(isTensorRef)) {
        throw new FileFormatError(`${where} config: '${what}' must be a non-empty list of [layerName, nodeIndex, tensorIndex], got ${describe(list)}`);
      }
      return (list as TensorRef[]).map((r) => {
        const t = tensors.get(key(r[0], r[1], r[2]));
        if (!t) throw new FileFormatError(`${where} config: '${what}' names ${r[0]}[${r[1]}][${r[2]}], which the graph does not produce`);
        return t;
      });
    };
    const inputs = resolve(config.inputLayers, 'inputLayers');
    const outputs = resolve(config.outputLayers, 'outputLayers');
    return new Model({ inputs, outputs, name: config.name as string | undefined });
  } catch (e) {
    for (const l of created.values()) l.dispose();
    throw e;
  }
}

function isTensorRef(r: unknown): boolean {
  return (
    Array.isArray(r) &&
    (r.length === 3 || r.length === 4) &&
    typeof r[0] === 'string' &&
    Number.isInteger(r[1]) &&
    (r[1] as number) >= 0 &&
    Number.isInteger(r[2]) &&
    (r[2] as number) >= 0 &&
    (r.length === 3 || r[3] === null || isRecord(r[3]))
  );
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function describe(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

// ---- tfjs' pythonic conversion -----------------------------------------------------------------

/** tfjs `toSnakeCase`. */
function toSnakeCase(name: string): string {
  const intermediate = name.replace(/(.)([A-Z][a-z0-9]+)/g, '$1_$2');
  const insecure = intermediate.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
  return insecure[0] !== '_' ? insecure : `private${insecure}`;
}

/** tfjs `toCamelCase`. */
function toCamelCase(id: string): string {
  if (id.length <= 1 || id.indexOf('_') === -1) return id;
  return id.replace(/[_]+(\w|$)/g, (_m, p1: string) => p1.toUpperCase());
}

function isNameItem(key: string | undefined, index: number, value: unknown): boolean {
  return (key === 'inboundNodes' || key === 'outputLayers' || key === 'inputLayers') && index === 0 && typeof value === 'string';
}

/** tfjs `convertTsToPythonic`: a camelCase config as `model.json` holds it. */
export function toPythonic(value: unknown, key?: string): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return toSnakeCase(value);
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) return value.map((item, i) => (isNameItem(key, i, item) ? item : toPythonic(item, key)));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out[toSnakeCase(k)] = (k === 'name' || k === 'className') && typeof v === 'string' ? v : toPythonic(v, k);
  }
  return out;
}

/** tfjs `convertPythonicToTs`: the inverse of `toPythonic`. */
export function fromPythonic(value: unknown, key?: string): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return toCamelCase(value);
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) return value.map((item, i) => (isNameItem(key, i, item) ? item : fromPythonic(item, key)));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (k === 'name' && typeof v === 'string') {
      out[k] = v;
    } else {
      const tsKey = toCamelCase(k);
      out[tsKey] = fromPythonic(v, tsKey);
    }
  }
  return out;
}

/** Rethrows `e` as a FileFormatError prefixed with `where` (typed errors keep their message). */
export function asFormatError(e: unknown, where: string, fix: string): FastGruError {
  if (e instanceof FileFormatError) return new FileFormatError(`${where}: ${e.message}`);
  const msg = e instanceof Error ? e.message : String(e);
  // Non-fastgru errors (a TypeError from a config of the wrong shape) become FormatErrors too: a
  // corrupted file must never surface as a crash.
  if (e instanceof ValueError || !(e instanceof FastGruError)) return new FileFormatError(`${where}: ${msg}. ${fix}`);
  const Ctor = e.constructor as new (m: string) => FastGruError;
  return new Ctor(`${where}: ${msg}`);
}
