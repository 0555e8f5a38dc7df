/**
 * TensorFlow.js Layers models in and out.
 *
 * - `loadTfjsModel(source)`: a `model.json` (topology + weights manifest) and its binary shards,
 *   as `tf.LayersModel.save` or tfjs-converter write them. Shards are found relative to model.json
 *   (`file://` or a plain path in Node, fetch for http(s)), or given in memory. The topology goes
 *   through the Keras converter (`keras.ts`) with tfjs semantics: `hard_sigmoid` = clip(0.2x + 0.5).
 *   Weight dtypes: float32, int32, and tfjs-converter's quantized uint8 / uint16 / float16.
 * - `saveTfjsModel(model, target?)`: `model.json` + `weights.bin` that `tf.loadLayersModel` reads.
 *   Only what tfjs-layers has can be written: its GRU is reset-before only (GRU-CONVENTIONS.md §1)
 *   and knows one hard sigmoid (Keras 2's), so reset-after GRUs and Keras 3's hard sigmoid are
 *   refused with `UnsupportedLayerError`, as are layers tfjs would rebuild differently.
 *   Initializers, regularizers and constraints are not written (tfjs uses its defaults; the
 *   weights are what matter for inference).
 */
import { Tensor } from '../tensor.js';
import { Layer } from '../layers/Layer.js';
import { InputLayer } from '../layers/Input.js';
import { GRU } from '../layers/GRU.js';
import { Bidirectional, TimeDistributed } from '../layers/Wrappers.js';
import { Model } from '../models/Model.js';
import { Sequential } from '../models/Sequential.js';
import { Node } from '../models/SymbolicTensor.js';
import { FileFormatError, UnsupportedLayerError } from './errors.js';
import { withoutInitializers } from '../initializers.js';
import { FileSource, FileWeight, LoadKerasOptions, WeightTable, assignWeights, guarded, modelFromKerasConfig, readSource } from './keras.js';

type Json = Record<string, unknown>;

/** One entry of a tfjs weights manifest. */
export interface TfjsWeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32' | string;
  quantization?: { dtype: 'uint8' | 'uint16' | 'float16'; scale?: number; min?: number };
}

/** One group of the manifest: the weights stored, back to back, in the concatenation of `paths`. */
export interface TfjsManifestGroup {
  paths: string[];
  weights: TfjsWeightSpec[];
}

/** A tfjs `model.json` (Layers format). */
export interface TfjsModelJson {
  modelTopology: Json;
  weightsManifest: TfjsManifestGroup[];
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  [key: string]: unknown;
}

/** A tfjs model held in memory: the model.json and either each shard by path or all weights concatenated. */
export interface TfjsArtifacts {
  modelJson: TfjsModelJson;
  /** Shard bytes by their manifest path (e.g. 'weights.bin' / 'group1-shard1of1.bin'). */
  shards?: Record<string, Uint8Array | ArrayBuffer>;
  /** All shards concatenated in manifest order (tfjs `weightData`). */
  weightData?: Uint8Array | ArrayBuffer;
}

function isNodeRuntime(): boolean {
  return typeof process !== 'undefined' && !!process.versions?.node;
}

/** Resolves a shard path against the model.json location (URL or plain path). */
async function resolveShard(base: string, path: string): Promise<string> {
  if (/^[a-z]+:\/\//i.test(base)) return new URL(path, base).href;
  const p = await import('node:path');
  return p.join(p.dirname(base), path);
}

function float16(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** Decodes the weights of one manifest group from its concatenated bytes. */
function decodeGroup(group: TfjsManifestGroup, bytes: Uint8Array, file: string, into: FileWeight[]): void {
  let off = 0;
  for (const w of group.weights) {
    const part = `weightsManifest ${w.name} (${group.paths.join(' + ')})`;
    if (!Array.isArray(w.shape) || !w.shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new FileFormatError(file, part, `has an invalid shape ${JSON.stringify(w.shape)}`, 'The model.json is corrupted; re-save the model');
    }
    const n = w.shape.reduce((a, b) => a * b, 1);
    const q = w.quantization;
    const itemSize = q ? (q.dtype === 'uint8' ? 1 : 2) : w.dtype === 'float32' || w.dtype === 'int32' ? 4 : 0;
    if (!itemSize || (q && !['uint8', 'uint16', 'float16'].includes(q.dtype))) {
      throw new FileFormatError(file, part, `has dtype ${q ? `quantized ${q.dtype}` : w.dtype}; fastgru reads float32, int32 and quantized uint8 / uint16 / float16`, 'Convert the model without that option');
    }
    if (off + n * itemSize > bytes.length) {
      throw new FileFormatError(file, part, `needs ${n * itemSize} bytes at offset ${off}, but the shards hold ${bytes.length} bytes in all; a shard is truncated or missing`, 'Copy all the .bin files next to model.json again');
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset + off, n * itemSize);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      if (!q) data[i] = w.dtype === 'int32' ? view.getInt32(i * 4, true) : view.getFloat32(i * 4, true);
      else if (q.dtype === 'float16') data[i] = float16(view.getUint16(i * 2, true));
      else data[i] = (q.dtype === 'uint8' ? view.getUint8(i) : view.getUint16(i * 2, true)) * (q.scale ?? 1) + (q.min ?? 0);
    }
    into.push({ part, shape: [...w.shape], data });
    off += n * itemSize;
  }
  if (off !== bytes.length) {
    throw new FileFormatError(file, `shards ${group.paths.join(' + ')}`, `hold ${bytes.length} bytes, the manifest describes ${off}`, 'The shards do not belong to this model.json, or one is corrupted');
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function u8(b: Uint8Array | ArrayBuffer): Uint8Array {
  return b instanceof Uint8Array ? b : new Uint8Array(b);
}

/** Groups weights by their layer (first name component), moving tfjs' moving statistics last. */
function tableOf(weights: FileWeight[], names: string[]): WeightTable {
  const table: WeightTable = new Map();
  const rank = (n: string) => (/\/moving_(mean|variance)$/.test(n) ? 1 : 0);
  const order = names.map((n, i) => i).sort((a, b) => {
    const la = names[a].split('/')[0];
    const lb = names[b].split('/')[0];
    return la === lb ? rank(names[a]) - rank(names[b]) || a - b : a - b;
  });
  for (const i of order) {
    const layer = names[i].split('/')[0];
    if (!table.has(layer)) table.set(layer, []);
    table.get(layer)!.push(weights[i]);
  }
  return table;
}

/**
 * Loads a tfjs Layers model: `model.json` by path or URL (shards are read next to it), or the
 * artifacts in memory. The topology is converted by `modelFromKerasConfig` with tfjs semantics.
 */
export async function loadTfjsModel(source: FileSource | TfjsArtifacts, options: LoadKerasOptions = {}): Promise<Model> {
  let file = typeof source === 'string' ? source : source instanceof URL ? source.href : 'in-memory tfjs model';
  return guarded(() => file, 'model', () => loadTfjs(source, options, (f) => (file = f)));
}

async function loadTfjs(source: FileSource | TfjsArtifacts, options: LoadKerasOptions, setFile: (f: string) => void): Promise<Model> {
  let json: TfjsModelJson;
  let file: string;
  let readShard: (path: string) => Promise<Uint8Array>;
  let whole: Uint8Array | null = null;
  if (typeof source === 'object' && source !== null && 'modelJson' in source) {
    json = source.modelJson;
    file = 'in-memory tfjs model';
    if (source.weightData) whole = u8(source.weightData);
    readShard = async (p) => {
      const s = source.shards?.[p];
      if (!s) throw new FileFormatError(file, `shard ${p}`, `is missing (given: ${Object.keys(source.shards ?? {}).join(', ') || 'none'})`, 'Pass every shard listed in weightsManifest, or weightData');
      return u8(s);
    };
  } else {
    const { bytes, name } = await readSource(source as FileSource, 'model.json');
    file = name;
    setFile(name);
    try {
      json = JSON.parse(new TextDecoder().decode(bytes));
    } catch (e) {
      throw new FileFormatError(name, 'model.json', `is not valid JSON (${e instanceof Error ? e.message : String(e)})`, 'Pass the model.json written by tfjs model.save or tfjs-converter');
    }
    const base = source instanceof URL ? source.href : typeof source === 'string' ? source : null;
    readShard = async (p) => {
      if (base === null) throw new FileFormatError(file, `shard ${p}`, 'cannot be located: model.json was given as bytes', 'Pass {modelJson, shards} or {modelJson, weightData} instead');
      const loc = await resolveShard(base, p);
      return (await readSource(loc, `shard ${p}`)).bytes;
    };
  }
  if (!json || typeof json !== 'object' || typeof json.modelTopology !== 'object' || json.modelTopology === null) {
    throw new FileFormatError(file, 'modelTopology', 'is missing', 'This is not a tfjs Layers model.json (a tfjs graph model has no Keras topology; fastgru cannot load those)');
  }
  const manifest = json.weightsManifest ?? [];
  if (!Array.isArray(manifest)) throw new FileFormatError(file, 'weightsManifest', 'is not a list', 'The model.json is corrupted; re-save the model');
  const weights: FileWeight[] = [];
  const names: string[] = [];
  let wholeOffset = 0;
  for (const g of manifest) {
    if (!g || !Array.isArray(g.paths) || !Array.isArray(g.weights)) throw new FileFormatError(file, 'weightsManifest', 'has a group without paths / weights', 'The model.json is corrupted; re-save the model');
    let bytes: Uint8Array;
    if (whole) {
      const need = g.weights.reduce((a, w) => a + (w.shape ?? []).reduce((x: number, y: number) => x * y, 1) * (w.quantization ? (w.quantization.dtype === 'uint8' ? 1 : 2) : 4), 0);
      bytes = whole.subarray(wholeOffset, Math.min(whole.length, wholeOffset + need));
      wholeOffset += need;
    } else {
      bytes = concat(await Promise.all(g.paths.map((p) => readShard(p))));
    }
    decodeGroup(g, bytes, file, weights);
    names.push(...g.weights.map((w) => w.name));
  }
  if (whole && wholeOffset !== whole.length) throw new FileFormatError(file, 'weightData', `holds ${whole.length} bytes, the manifest describes ${wholeOffset}`, 'The weight data does not belong to this model.json');
  const topology = json.modelTopology;
  const version = typeof topology.keras_version === 'string' ? topology.keras_version : 'tfjs-layers';
  // Every weight comes from the shards: no initializer runs for weights about to be overwritten.
  const m = withoutInitializers(() => modelFromKerasConfig(topology, { kerasVersion: version, file: `${file} modelTopology`, onWarning: options.onWarning }));
  try {
    assignWeights(m, tableOf(weights, names), file);
  } catch (e) {
    m.dispose();
    throw e;
  }
  return m;
}

// ---- saving ----------------------------------------------------------------------------------

function snake(s: string): string {
  return s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}

/** Our activation names → tfjs / Keras 2 names; null when tfjs has no such function. */
function tfjsActivation(name: unknown): string | null {
  switch (name) {
    case 'linear':
    case 'tanh':
    case 'sigmoid':
    case 'relu':
    case 'softmax':
      return name;
    case 'hardSigmoid':
      return 'hard_sigmoid';
    default:
      return null;
  }
}

/** The tfjs (Keras 2 style, snake_case) config of one layer; problems are collected, not thrown. */
function tfjsLayerConfig(l: Layer, problems: string[]): { class_name: string; config: Json } | null {
  const c = l.getConfig();
  const where = `${l.className} '${l.name}'`;
  const out: Json = { name: l.name, trainable: l.trainable };
  const act = (key: string, v: unknown) => {
    const a = tfjsActivation(v);
    if (a === null) problems.push(`${where}: ${key} '${String(v)}' (tfjs has Keras 2's hard_sigmoid only: clip(0.2x + 0.5, 0, 1))`);
    return a;
  };
  const pick = (...keys: string[]) => {
    for (const k of keys) if (c[k] !== undefined) out[snake(k)] = c[k];
  };
  switch (l.className) {
    case 'GRU': {
      const g = l as GRU;
      if (g.resetAfter) problems.push(`${where}: reset_after=True (tfjs-layers' GRU is reset-before only, tfjs#4621; GRU-CONVENTIONS.md §1: the forms are different functions, no weight transform converts one into the other)`);
      if (g.clip !== null) problems.push(`${where}: clip=${g.clip} (an ONNX cell clip; Keras and tfjs GRUs have none: save in our format or exportOnnx)`);
      pick('units', 'useBias', 'returnSequences', 'returnState', 'goBackwards', 'stateful', 'dropout', 'recurrentDropout');
      out.activation = act('activation', c.activation);
      out.recurrent_activation = act('recurrentActivation', c.recurrentActivation);
      out.reset_after = false;
      out.implementation = 1;
      out.unroll = false;
      break;
    }
    case 'Dense':
      pick('units', 'useBias');
      out.activation = act('activation', c.activation);
      break;
    case 'Embedding':
      pick('inputDim', 'outputDim', 'maskZero');
      if (c.inputLength !== null && c.inputLength !== undefined) out.input_length = c.inputLength;
      break;
    case 'Dropout':
      pick('rate', 'noiseShape', 'seed');
      break;
    case 'SpatialDropout1D':
      pick('rate', 'seed');
      break;
    case 'Activation':
      out.activation = act('activation', c.activation);
      break;
    case 'Flatten':
    case 'GlobalAveragePooling1D':
    case 'GlobalMaxPooling1D':
    case 'Add':
      break;
    case 'RepeatVector':
      pick('n');
      break;
    case 'Masking':
      pick('maskValue');
      break;
    case 'Concatenate':
      pick('axis');
      break;
    case 'BatchNormalization':
      pick('axis', 'momentum', 'epsilon', 'center', 'scale');
      break;
    case 'LayerNormalization':
      if (c.rmsScaling) problems.push(`${where}: rms_scaling (tfjs has no RMS normalization)`);
      pick('axis', 'epsilon', 'center', 'scale');
      break;
    case 'Bidirectional': {
      const b = l as Bidirectional;
      const inner = tfjsLayerConfig(b.forwardLayer, problems);
      if (!inner) return null;
      // tfjs rebuilds forward_<name> / backward_<name> from `layer`, so the name loses its prefix.
      inner.config.name = b.forwardLayer.name.replace(/^forward_/, '');
      if (b.backwardLayer.name !== `backward_${inner.config.name}`) problems.push(`${where}: a custom backward layer '${b.backwardLayer.name}' (tfjs makes the backward copy itself)`);
      out.layer = inner;
      out.merge_mode = b.mergeMode;
      break;
    }
    case 'TimeDistributed': {
      const inner = tfjsLayerConfig((l as TimeDistributed).layer, problems);
      if (!inner) return null;
      out.layer = inner;
      break;
    }
    default:
      problems.push(`${where} (not exported to tfjs)`);
      return null;
  }
  return { class_name: l.className, config: out };
}

/** tfjs weight names of a layer, in getWeights() order (what tfjs' `originalName` is). */
function tfjsWeightNames(l: Layer): string[] {
  if (l instanceof Bidirectional) {
    return [l.forwardLayer, l.backwardLayer].flatMap((s) => s.weights.map((w) => `${l.name}/${s.name}/${snake(w.name)}`));
  }
  return l.weights.map((w) => `${l.name}/${snake(w.name)}`);
}

/** What `saveTfjsModel` produces: the model.json and the one binary shard. */
export interface TfjsSaveResult {
  modelJson: TfjsModelJson;
  /** The content of `weights.bin` (float32, little-endian). */
  weightData: ArrayBuffer;
  /** `modelJson.weightsManifest[0].weights`, as `tf.io.fromMemory` takes them. */
  weightSpecs: TfjsWeightSpec[];
}

/** Keras 2 / tfjs `[layer, nodeIndex, tensorIndex, kwargs]` references of a node's inputs. */
function tfjsTopology(m: Model, problems: string[]): Json {
  if (m instanceof Sequential) {
    const layers = m.layers.map((l) => tfjsLayerConfig(l, problems));
    const shape = m.inputs[0].shape;
    if (layers[0]) {
      layers[0].config.batch_input_shape = shape;
      // Porting note: a tfjs layer's dtype is also its weights' dtype, so an int32 input (token
      // ids into an Embedding) is left to tfjs' default: its Embedding casts the ids itself.
      if (m.inputs[0].dtype === 'float32') layers[0].config.dtype = 'float32';
    }
    return { class_name: 'Sequential', config: { name: m.name, layers } };
  }
  const nodeIndex = new Map<Node, number>();
  const perLayer = new Map<Layer, number>();
  const nodesOf = new Map<Layer, Node[]>();
  const plan = (m as unknown as { plan: Node[] }).plan;
  for (const t of m.inputs) nodeIndex.set(t.node, 0);
  for (const n of plan) {
    const i = perLayer.get(n.layer) ?? 0;
    nodeIndex.set(n, i);
    perLayer.set(n.layer, i + 1);
    if (!nodesOf.has(n.layer)) nodesOf.set(n.layer, []);
    nodesOf.get(n.layer)!.push(n);
  }
  const layers: Json[] = m.inputs.map((t) => {
    const il = t.sourceLayer as InputLayer;
    return { name: il.name, class_name: 'InputLayer', config: { batch_input_shape: il.batchShape, dtype: il.dtype, sparse: false, name: il.name }, inbound_nodes: [] };
  });
  for (const l of m.layers) {
    const cfg = tfjsLayerConfig(l, problems);
    if (!cfg) continue;
    const inbound = (nodesOf.get(l) ?? []).map((n) => n.inputs.map((t) => [t.sourceLayer.name, nodeIndex.get(t.node) ?? 0, t.outputIndex, {}]));
    layers.push({ name: l.name, class_name: cfg.class_name, config: cfg.config, inbound_nodes: inbound });
  }
  const ref = (t: { sourceLayer: Layer; node: Node; outputIndex: number }) => [t.sourceLayer.name, nodeIndex.get(t.node) ?? 0, t.outputIndex];
  return { class_name: 'Model', config: { name: m.name, layers, input_layers: m.inputs.map(ref), output_layers: m.outputs.map(ref) } };
}

/**
 * Writes `model` as a tfjs Layers model. Returns the model.json and weights; with a `target`
 * directory (`file://` URL or path, Node only) also writes `model.json` and `weights.bin` there.
 * Throws `UnsupportedLayerError` listing everything tfjs cannot represent (e.g. reset-after GRUs).
 */
export async function saveTfjsModel(m: Model, target?: string | URL): Promise<TfjsSaveResult> {
  const problems: string[] = [];
  const topology = tfjsTopology(m, problems);
  if (problems.length) throw new UnsupportedLayerError(`tfjs export of model '${m.name}'`, problems);
  const specs: TfjsWeightSpec[] = [];
  const chunks: Float32Array[] = [];
  for (const l of m.layers) {
    if (l instanceof InputLayer || l.weights.length === 0) continue;
    const names = tfjsWeightNames(l);
    const ws: Tensor[] = l.getWeights();
    ws.forEach((w, i) => {
      specs.push({ name: names[i], shape: [...w.shape], dtype: 'float32' });
      chunks.push(Float32Array.from(w.data));
    });
  }
  const total = chunks.reduce((a, c) => a + c.length, 0);
  const all = new Float32Array(total);
  let o = 0;
  for (const c of chunks) {
    all.set(c, o);
    o += c.length;
  }
  // Porting note: tfjs' file layout; weights.bin is little-endian float32 (as every wasm / x86 / ARM host).
  const modelJson: TfjsModelJson = {
    modelTopology: { ...topology, keras_version: 'tfjs-layers 4.22.0', backend: 'tensor_flow.js' },
    format: 'layers-model',
    generatedBy: 'fastgru',
    convertedBy: null,
    weightsManifest: [{ paths: ['weights.bin'], weights: specs }],
  };
  const result = { modelJson, weightData: all.buffer, weightSpecs: specs };
  if (target !== undefined) {
    if (!isNodeRuntime()) throw new FileFormatError(String(target), 'target', 'writing files needs Node', 'In a browser, use the returned modelJson and weightData');
    const fs = await import('node:fs/promises');
    const p = await import('node:path');
    const t = target instanceof URL ? target.href : target;
    const dir = t.startsWith('file://') ? (await import('node:url')).fileURLToPath(t) : t;
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(p.join(dir, 'model.json'), JSON.stringify(modelJson));
    await fs.writeFile(p.join(dir, 'weights.bin'), new Uint8Array(all.buffer));
  }
  return result;
}
