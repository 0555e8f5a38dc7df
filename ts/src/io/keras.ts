/**
 * Keras and tfjs models in: a converter from Keras layer configs (Keras 2 / tf.keras 2.x
 * `model_config`, Keras 3 `config.json`, tfjs `modelTopology`; all snake_case) to fastgru layers
 * and models, built with the public factories, plus the weight readers for legacy `.h5` full
 * models, `.weights.h5` (Keras 2 and Keras 3 layouts) and Keras 3 `.keras` zips.
 *
 * Weights: Keras layout is ours (GRU-CONVENTIONS.md §2), so they are copied as they are, matched
 * by layer name, in each layer's Keras weight order. The one trap is the GRU cell form (§1): a
 * config without `reset_after` was written by Keras 2.1/2.2, whose GRU was reset-before (bias
 * (3H)); tf.keras 2.x and Keras 3 always write the key. tfjs' GRU is reset-before only.
 *
 * Hard sigmoid (§1): `hard_sigmoid` in a Keras 3 config is relu6(x + 3) / 6; in a Keras 2, tf.keras
 * or tfjs config it is clip(0.2x + 0.5, 0, 1). The Keras version comes from the file (`keras_version`
 * attribute, `metadata.json`), or from the config's style when given a bare config.
 */
import { Tensor, firstNonFinite, fmtShape, withFiniteValues } from '../tensor.js';
import { FastGruError, ValueError, NonFiniteError } from '../wasm/errors.js';
import * as L from '../layers/index.js';
import { Layer, Shape } from '../layers/Layer.js';
import { InputLayer, input } from '../layers/Input.js';
import { GRU } from '../layers/GRU.js';
import { Bidirectional } from '../layers/Wrappers.js';
import { GRUCell } from '../layers/RNN.js';
import { Model, model as functionalModel } from '../models/Model.js';
import { Sequential, sequential } from '../models/Sequential.js';
import { SymbolicTensor } from '../models/SymbolicTensor.js';
import { FileFormatError, UnsupportedLayerError } from './errors.js';
import { withoutInitializers } from '../initializers.js';
import { H5File, isHdf5 } from './h5.js';
import { ZipReader, isZip } from './zip.js';

// ---- reading bytes ----------------------------------------------------------------------------

/** Where a file comes from: a path or URL (`file://`, `http(s)://`; plain paths in Node), or bytes. */
export type FileSource = string | URL | ArrayBuffer | Uint8Array;

/** Reads a whole file. `name` is what error messages call it. */
export async function readSource(src: FileSource, what: string): Promise<{ bytes: Uint8Array; name: string }> {
  if (src instanceof Uint8Array) return { bytes: src, name: `in-memory ${what}` };
  if (src instanceof ArrayBuffer) return { bytes: new Uint8Array(src), name: `in-memory ${what}` };
  const url = src instanceof URL ? src.href : String(src);
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  try {
    if (/^https?:\/\//i.test(url) || (!isNode && !url.startsWith('file://'))) {
      const res = await fetch(url);
      if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`);
      return { bytes: new Uint8Array(await res.arrayBuffer()), name: url };
    }
    if (!isNode) throw new Error('file:// URLs are readable in Node only; in a browser use http(s):// or pass the bytes');
    const fs = await import('node:fs/promises');
    const path = url.startsWith('file://') ? (await import('node:url')).fileURLToPath(url) : url;
    return { bytes: new Uint8Array(await fs.readFile(path)), name: url };
  } catch (e) {
    throw new FileFormatError(url, 'file', `cannot be read (${e instanceof Error ? e.message : String(e)})`, 'Check the path or URL');
  }
}

/**
 * Runs a loader step; any error that is not one of ours (a TypeError from a corrupted config, a
 * RangeError from a corrupted header) becomes a `FileFormatError` naming the file and the step.
 */
export async function guarded<T>(file: () => string, part: string, f: () => Promise<T> | T): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof FastGruError) throw e;
    throw new FileFormatError(file(), part, `cannot be read (${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}); the file is corrupted or not what it claims to be`, 'Re-download or re-save the file');
  }
}

// ---- configs ---------------------------------------------------------------------------------

type Json = Record<string, unknown>;

/** What the converter needs to know about where a config came from. */
export interface KerasConfigOptions {
  /**
   * Version of the Keras that wrote it (`'2.1.4'`, `'3.9.2'`, `'tfjs-layers 4.22.0'`). Decides what
   * `hard_sigmoid` means. Defaults to a guess from the config's style (Keras 3 configs carry
   * `module` keys and `batch_shape`).
   */
  kerasVersion?: string;
  /** File name for error messages. Defaults to 'Keras config'. */
  file?: string;
  /** Called for config entries that are accepted but have no effect here. Defaults to none. */
  onWarning?: (message: string) => void;
}

interface Ctx {
  keras3: boolean;
  file: string;
  problems: string[];
  warn: (m: string) => void;
}

function isObj(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function camel(s: string): string {
  return s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function camelKeys(o: Json): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(o)) out[camel(k)] = v;
  return out;
}

/** True for a Keras 3 style config (the `module` keys Keras 3 writes, or `batch_shape`). */
function looksKeras3(topology: unknown): boolean {
  const s = JSON.stringify(topology);
  return s.includes('"module":') || s.includes('"batch_shape":') || s.includes('"registered_name":');
}

function isKeras3Version(v: string | undefined): boolean | undefined {
  if (!v) return undefined;
  if (/tfjs/i.test(v)) return false;
  const m = /^(\d+)\./.exec(v.trim());
  return m ? Number(m[1]) >= 3 : undefined;
}

/** A Keras activation (a name, or a Keras 3 `{class_name: 'function', config: name}`) → ours. */
function activation(v: unknown, ctx: Ctx, where: string): string | null {
  let name: unknown = v;
  if (isObj(v)) name = (v.config as unknown) ?? v.class_name;
  if (name === null || name === undefined || name === 'linear' || name === 'None') return 'linear';
  switch (name) {
    case 'tanh':
    case 'sigmoid':
    case 'relu':
    case 'softmax':
      return name as string;
    case 'hard_sigmoid':
      // Porting note: two different functions share this name (GRU-CONVENTIONS.md §1).
      return ctx.keras3 ? 'hardSigmoidKeras3' : 'hardSigmoid';
    case 'hardSigmoid': // tfjs camelCase
      return 'hardSigmoid';
    default:
      ctx.problems.push(`${where}: activation ${JSON.stringify(name)} (fastgru has linear, tanh, sigmoid, hard_sigmoid, relu, softmax)`);
      return null;
  }
}

/** A Keras `{class_name, config}` initializer, regularizer or constraint → ours, or undefined with a warning. */
function kerasObject(v: unknown, ctx: Ctx, where: string): unknown {
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'string') return v;
  if (isObj(v) && typeof v.class_name === 'string') return { className: v.class_name, config: isObj(v.config) ? camelKeys(v.config) : {} };
  ctx.warn(`${where}: ${JSON.stringify(v)} is not understood and was left at its default`);
  return undefined;
}

/** Builds with `make(args)`; if an initializer/regularizer/constraint is refused, retries without it. */
function withOptional<T>(make: (a: Json) => T, args: Json, optional: string[], ctx: Ctx, where: string): T {
  try {
    return make(args);
  } catch (e) {
    const present = optional.filter((k) => args[k] !== undefined);
    if (!present.length) throw e;
    const rest = { ...args };
    for (const k of present) delete rest[k];
    ctx.warn(`${where}: ${present.join(', ')} not supported here (${e instanceof Error ? e.message : String(e)}); left at the defaults`);
    return make(rest);
  }
}

function commonArgs(c: Json): Json {
  const out: Json = {};
  if (typeof c.name === 'string') out.name = c.name;
  if (c.trainable === false) out.trainable = false;
  const bis = (c.batch_input_shape ?? c.batch_shape) as Shape | undefined;
  if (Array.isArray(bis)) out.batchInputShape = bis;
  return out;
}

const GRU_OPTIONAL = ['kernelInitializer', 'recurrentInitializer', 'biasInitializer', 'kernelRegularizer', 'recurrentRegularizer', 'biasRegularizer', 'kernelConstraint', 'recurrentConstraint', 'biasConstraint', 'activityRegularizer'];

function gruArgs(c: Json, ctx: Ctx, where: string): Json | null {
  if (c.units === undefined) {
    ctx.problems.push(`${where}: no 'units' (a Keras 1 config? re-save it with Keras 2 or later)`);
    return null;
  }
  const a: Json = {
    ...commonArgs(c),
    units: c.units,
    activation: activation(c.activation ?? 'tanh', ctx, where),
    // Keras 2.x defaulted recurrent_activation to hard_sigmoid, Keras 3 to sigmoid; configs always carry it.
    recurrentActivation: activation(c.recurrent_activation ?? (ctx.keras3 ? 'sigmoid' : 'hard_sigmoid'), ctx, where),
    useBias: c.use_bias ?? true,
    // A missing key is Keras 2.1/2.2 (no such option yet: reset-before); see the file comment.
    resetAfter: c.reset_after === undefined ? false : Boolean(c.reset_after),
    returnSequences: Boolean(c.return_sequences),
    returnState: Boolean(c.return_state),
    goBackwards: Boolean(c.go_backwards),
    stateful: Boolean(c.stateful),
    dropout: Number(c.dropout ?? 0),
    recurrentDropout: Number(c.recurrent_dropout ?? 0),
    kernelInitializer: kerasObject(c.kernel_initializer, ctx, `${where} kernel_initializer`),
    recurrentInitializer: kerasObject(c.recurrent_initializer, ctx, `${where} recurrent_initializer`),
    biasInitializer: kerasObject(c.bias_initializer, ctx, `${where} bias_initializer`),
    kernelRegularizer: kerasObject(c.kernel_regularizer, ctx, where),
    recurrentRegularizer: kerasObject(c.recurrent_regularizer, ctx, where),
    biasRegularizer: kerasObject(c.bias_regularizer, ctx, where),
    activityRegularizer: kerasObject(c.activity_regularizer, ctx, where),
    kernelConstraint: kerasObject(c.kernel_constraint, ctx, where),
    recurrentConstraint: kerasObject(c.recurrent_constraint, ctx, where),
    biasConstraint: kerasObject(c.bias_constraint, ctx, where),
  };
  if (c.unroll) ctx.warn(`${where}: unroll has no effect in fastgru (one fused kernel)`);
  if (Number(c.recurrent_dropout ?? 0) > 0 && !ctx.keras3) ctx.warn(`${where}: recurrent_dropout follows Keras 3 (three masks per sequence), which differs in training only`);
  return a;
}

/** One Keras layer config → a fastgru layer (null when unsupported; the problem is recorded). */
function layerFromConfig(spec: Json, ctx: Ctx): Layer | null {
  const cls = String(spec.class_name);
  const c = (isObj(spec.config) ? spec.config : {}) as Json;
  const where = `${cls} '${String(c.name ?? '?')}'`;
  const base = commonArgs(c);
  const make = <T>(f: (a: Json) => T, a: Json, optional: string[] = []): T => withOptional(f, a, optional, ctx, where);
  switch (cls) {
    case 'GRU':
    case 'CuDNNGRU': {
      if (cls === 'CuDNNGRU') {
        ctx.problems.push(`${where}: CuDNNGRU stores cuDNN gate order [r, z, h] (GRU-CONVENTIONS.md §3); convert it to a GRU(reset_after=True) in Keras first`);
        return null;
      }
      const a = gruArgs(c, ctx, where);
      if (!a) return null;
      return make((x) => L.gru(x as never), a, GRU_OPTIONAL);
    }
    case 'GRUCell': {
      const a = gruArgs({ ...c, return_sequences: false }, ctx, where);
      if (!a) return null;
      for (const k of ['returnSequences', 'returnState', 'goBackwards', 'stateful']) delete a[k];
      return make((x) => L.gruCell(x as never), a, GRU_OPTIONAL);
    }
    case 'RNN': {
      const cellSpec = c.cell as Json;
      let cells: (Layer | null)[];
      if (isObj(cellSpec) && cellSpec.class_name === 'StackedRNNCells') {
        cells = ((cellSpec.config as Json)?.cells as Json[] ?? []).map((s) => layerFromConfig(s, ctx));
      } else if (Array.isArray(cellSpec)) {
        cells = (cellSpec as Json[]).map((s) => layerFromConfig(s, ctx));
      } else {
        cells = [layerFromConfig(cellSpec, ctx)];
      }
      if (cells.some((x) => !(x instanceof GRUCell))) {
        if (cells.every((x) => x !== null)) ctx.problems.push(`${where}: only GRUCell cells are supported`);
        return null;
      }
      return make((x) => L.rnn(x as never), {
        ...base,
        cell: cells.length === 1 ? cells[0] : cells,
        returnSequences: Boolean(c.return_sequences),
        returnState: Boolean(c.return_state),
        goBackwards: Boolean(c.go_backwards),
        stateful: Boolean(c.stateful),
      });
    }
    case 'Bidirectional': {
      const inner = layerFromConfig(c.layer as Json, ctx);
      const back = isObj(c.backward_layer) ? layerFromConfig(c.backward_layer, ctx) : undefined;
      if (!inner || back === null) return null;
      const mergeMode = c.merge_mode === undefined ? 'concat' : c.merge_mode;
      return make((x) => L.bidirectional(x as never), { ...base, layer: inner, backwardLayer: back, mergeMode });
    }
    case 'TimeDistributed': {
      const inner = layerFromConfig(c.layer as Json, ctx);
      if (!inner) return null;
      return make((x) => L.timeDistributed(x as never), { ...base, layer: inner });
    }
    case 'Dense': {
      const act = activation(c.activation, ctx, where);
      return make((x) => L.dense(x as never), {
        ...base,
        units: c.units,
        activation: act,
        useBias: c.use_bias ?? true,
        kernelInitializer: kerasObject(c.kernel_initializer, ctx, where),
        biasInitializer: kerasObject(c.bias_initializer, ctx, where),
        kernelRegularizer: kerasObject(c.kernel_regularizer, ctx, where),
        biasRegularizer: kerasObject(c.bias_regularizer, ctx, where),
        activityRegularizer: kerasObject(c.activity_regularizer, ctx, where),
        kernelConstraint: kerasObject(c.kernel_constraint, ctx, where),
        biasConstraint: kerasObject(c.bias_constraint, ctx, where),
      }, ['kernelInitializer', 'biasInitializer', 'kernelRegularizer', 'biasRegularizer', 'activityRegularizer', 'kernelConstraint', 'biasConstraint']);
    }
    case 'Embedding': {
      const a: Json = {
        ...base,
        inputDim: c.input_dim,
        outputDim: c.output_dim,
        maskZero: Boolean(c.mask_zero),
        embeddingsInitializer: kerasObject(c.embeddings_initializer, ctx, where),
        embeddingsRegularizer: kerasObject(c.embeddings_regularizer, ctx, where),
        embeddingsConstraint: kerasObject(c.embeddings_constraint, ctx, where),
      };
      if (typeof c.input_length === 'number') a.inputLength = c.input_length;
      return make((x) => L.embedding(x as never), a, ['embeddingsInitializer', 'embeddingsRegularizer', 'embeddingsConstraint']);
    }
    case 'BatchNormalization':
    case 'LayerNormalization': {
      let axis = c.axis ?? -1;
      if (Array.isArray(axis)) {
        if (axis.length !== 1) {
          ctx.problems.push(`${where}: axis ${JSON.stringify(axis)} (fastgru normalizes over one axis, the last)`);
          return null;
        }
        axis = axis[0];
      }
      const a: Json = {
        ...base,
        axis,
        epsilon: c.epsilon,
        center: c.center ?? true,
        scale: c.scale ?? true,
        betaInitializer: kerasObject(c.beta_initializer, ctx, where),
        gammaInitializer: kerasObject(c.gamma_initializer, ctx, where),
        betaRegularizer: kerasObject(c.beta_regularizer, ctx, where),
        gammaRegularizer: kerasObject(c.gamma_regularizer, ctx, where),
        betaConstraint: kerasObject(c.beta_constraint, ctx, where),
        gammaConstraint: kerasObject(c.gamma_constraint, ctx, where),
      };
      const optional = ['betaInitializer', 'gammaInitializer', 'betaRegularizer', 'gammaRegularizer', 'betaConstraint', 'gammaConstraint'];
      if (cls === 'BatchNormalization') {
        a.momentum = c.momentum;
        a.movingMeanInitializer = kerasObject(c.moving_mean_initializer, ctx, where);
        a.movingVarianceInitializer = kerasObject(c.moving_variance_initializer, ctx, where);
        if (c.renorm) ctx.problems.push(`${where}: renorm=True`);
        return make((x) => L.batchNormalization(x as never), a, [...optional, 'movingMeanInitializer', 'movingVarianceInitializer']);
      }
      if (c.rms_scaling) a.rmsScaling = true;
      return make((x) => L.layerNormalization(x as never), a, optional);
    }
    case 'Masking':
      return make((x) => L.masking(x as never), { ...base, maskValue: c.mask_value ?? 0 });
    case 'Dropout':
      return make((x) => L.dropout(x as never), { ...base, rate: c.rate, noiseShape: c.noise_shape ?? null, seed: c.seed ?? null });
    case 'SpatialDropout1D':
      return make((x) => L.spatialDropout1d(x as never), { ...base, rate: c.rate, seed: c.seed ?? null });
    case 'Activation': {
      const act = activation(c.activation, ctx, where);
      return act === null ? null : make((x) => L.activation(x as never), { ...base, activation: act });
    }
    case 'Flatten':
      return make((x) => L.flatten(x as never), base);
    case 'RepeatVector':
      return make((x) => L.repeatVector(x as never), { ...base, n: c.n });
    case 'GlobalAveragePooling1D':
    case 'GlobalMaxPooling1D':
    case 'GlobalAvgPool1D':
    case 'GlobalMaxPool1D': {
      if (c.data_format === 'channels_first' || c.keepdims) {
        ctx.problems.push(`${where}: ${c.keepdims ? 'keepdims=True' : "data_format='channels_first'"}`);
        return null;
      }
      return cls.includes('Max') ? make((x) => L.globalMaxPooling1d(x as never), base) : make((x) => L.globalAveragePooling1d(x as never), base);
    }
    case 'Concatenate':
      return make((x) => L.concatenate(x as never), { ...base, axis: c.axis ?? -1 });
    case 'Add':
      return make((x) => L.add(x as never), base);
    default:
      ctx.problems.push(`${cls} '${String(c.name ?? '?')}'`);
      return null;
  }
}

/** Normalizes what Keras, tf.keras and tfjs write: `{class_name, config}` (maybe wrapped in `model_config` / `modelTopology`). */
function topologyOf(json: unknown, file: string): Json {
  let t = json;
  if (isObj(t) && isObj(t.modelTopology)) t = t.modelTopology;
  if (isObj(t) && isObj(t.model_config)) t = t.model_config;
  if (!isObj(t) || typeof t.class_name !== 'string') {
    throw new FileFormatError(file, 'model config', `expected {"class_name": ..., "config": ...}, got ${JSON.stringify(json)?.slice(0, 120)}`, 'Pass the model_config of a Keras file, a Keras 3 config.json, or a tfjs modelTopology');
  }
  return t;
}

function inputShapeOf(c: Json): Shape | null {
  const s = (c.batch_input_shape ?? c.batch_shape) as Shape | undefined;
  if (Array.isArray(s)) return s;
  if (Array.isArray(c.input_shape)) return [null, ...(c.input_shape as Shape)];
  return null;
}

function dtypeOf(c: Json): 'float32' | 'int32' {
  const d = isObj(c.dtype) ? (c.dtype.config as Json | undefined)?.name : c.dtype;
  return typeof d === 'string' && /int/.test(d) ? 'int32' : 'float32';
}

function buildSequential(cfg: unknown, name: string | undefined, ctx: Ctx, buildInputShape: Shape | null): Sequential {
  const specs = (Array.isArray(cfg) ? cfg : ((cfg as Json)?.layers as Json[] | undefined) ?? []) as Json[];
  const seqName = Array.isArray(cfg) ? name : ((cfg as Json)?.name as string | undefined) ?? name;
  let first: SymbolicTensor | null = null;
  const built: Layer[] = [];
  for (const [i, s] of specs.entries()) {
    if (!isObj(s)) {
      ctx.problems.push(`layer ${i}: not a {class_name, config} object`);
      continue;
    }
    if (s.class_name === 'InputLayer') {
      const c = (s.config ?? {}) as Json;
      const shape = inputShapeOf(c);
      if (!shape) ctx.problems.push(`InputLayer '${String(c.name)}': no batch_shape`);
      else first = input({ batchShape: shape, dtype: dtypeOf(c), name: typeof c.name === 'string' ? c.name : undefined });
      continue;
    }
    if (['Sequential', 'Functional', 'Model'].includes(String(s.class_name))) {
      ctx.problems.push(`${String(s.class_name)} '${String((s.config as Json)?.name)}': nested models (flatten them into one model in Keras first)`);
      continue;
    }
    const l = layerFromConfig(s, ctx);
    if (l) built.push(l);
  }
  if (ctx.problems.length) throw new UnsupportedLayerError(ctx.file, ctx.problems);
  const m = sequential({ name: seqName, layers: first ? [first, ...built] : built });
  const shape = buildInputShape ?? (Array.isArray(cfg) ? null : inputShapeOf((cfg as Json) ?? {}) ?? ((cfg as Json)?.build_input_shape as Shape | undefined) ?? null);
  if (!first && !built[0]?.inputShape && shape) m.build(shape);
  return m;
}

/** `[name, nodeIndex, tensorIndex]` references of one inbound node, plus its call kwargs. */
interface NodeRef {
  inputs: { layer: string; node: number; tensor: number }[];
  initialState: { layer: string; node: number; tensor: number }[];
  training?: boolean;
  /** Merge layers take their inputs as one list. */
  asList: boolean;
}

function kerasTensorRef(v: unknown): { layer: string; node: number; tensor: number } | null {
  if (isObj(v) && v.class_name === '__keras_tensor__') {
    const h = (v.config as Json)?.keras_history as unknown[];
    if (Array.isArray(h)) return { layer: String(h[0]), node: Number(h[1]), tensor: Number(h[2]) };
  }
  if (Array.isArray(v) && typeof v[0] === 'string' && typeof v[1] === 'number') return { layer: v[0], node: Number(v[1]), tensor: Number(v[2] ?? 0) };
  return null;
}

function parseInboundNode(n: unknown, where: string, ctx: Ctx): NodeRef | null {
  const out: NodeRef = { inputs: [], initialState: [], asList: false };
  const kwargsOf = (kw: unknown) => {
    if (!isObj(kw)) return;
    if (typeof kw.training === 'boolean') out.training = kw.training;
    const st = kw.initial_state;
    if (st !== undefined && st !== null) {
      const list = Array.isArray(st) && !kerasTensorRef(st) ? st : [st];
      for (const s of list) {
        const r = kerasTensorRef(s);
        if (r) out.initialState.push(r);
      }
    }
    if (kw.mask !== undefined && kw.mask !== null) ctx.problems.push(`${where}: an explicit mask input (fastgru propagates masks from Masking / Embedding(mask_zero) only)`);
  };
  if (isObj(n) && 'args' in n) {
    // Keras 3: {args: [tensor | [tensors]], kwargs}
    const args = n.args as unknown[];
    for (const a of args ?? []) {
      const r = kerasTensorRef(a);
      if (r) out.inputs.push(r);
      else if (Array.isArray(a)) {
        out.asList = true;
        for (const x of a) {
          const rr = kerasTensorRef(x);
          if (rr) out.inputs.push(rr);
        }
      }
    }
    kwargsOf(n.kwargs);
  } else if (Array.isArray(n)) {
    // Keras 2 / tfjs: [[name, nodeIndex, tensorIndex, kwargs], ...]
    for (const e of n) {
      const r = kerasTensorRef(e);
      if (!r) continue;
      out.inputs.push(r);
      if (Array.isArray(e)) kwargsOf(e[3]);
    }
    out.asList = out.inputs.length > 1;
  } else {
    return null;
  }
  return out;
}

function refList(v: unknown): { layer: string; node: number; tensor: number }[] {
  const single = kerasTensorRef(v);
  if (single) return [single];
  return Array.isArray(v) ? (v.map(kerasTensorRef).filter((x) => x !== null) as { layer: string; node: number; tensor: number }[]) : [];
}

function buildFunctional(cfg: Json, ctx: Ctx): Model {
  const specs = (cfg.layers as Json[]) ?? [];
  const layers = new Map<string, Layer>();
  const pending: { name: string; node: NodeRef; index: number }[] = [];
  const outputs = new Map<string, SymbolicTensor[]>();
  for (const s of specs) {
    const c = (s.config ?? {}) as Json;
    const name = String(s.name ?? c.name);
    if (s.class_name === 'InputLayer') {
      const shape = inputShapeOf(c);
      if (!shape) {
        ctx.problems.push(`InputLayer '${name}': no batch_shape`);
        continue;
      }
      outputs.set(`${name}#0`, [input({ batchShape: shape, dtype: dtypeOf(c), name })]);
      continue;
    }
    if (['Sequential', 'Functional', 'Model'].includes(String(s.class_name))) {
      ctx.problems.push(`${String(s.class_name)} '${name}': nested models (flatten them into one model in Keras first)`);
      continue;
    }
    const l = layerFromConfig({ class_name: s.class_name, config: { ...c, name } }, ctx);
    if (!l) continue;
    layers.set(name, l);
    ((s.inbound_nodes as unknown[]) ?? []).forEach((n, i) => {
      const ref = parseInboundNode(n, `${String(s.class_name)} '${name}'`, ctx);
      if (ref) pending.push({ name, node: ref, index: i });
      else ctx.problems.push(`${String(s.class_name)} '${name}': inbound node ${i} is not understood`);
    });
  }
  if (ctx.problems.length) throw new UnsupportedLayerError(ctx.file, ctx.problems);
  // Apply nodes once their inputs exist (Keras' own deserialization order), each layer's in order.
  const nextNode = new Map<string, number>();
  const get = (r: { layer: string; node: number; tensor: number }) => outputs.get(`${r.layer}#${r.node}`)?.[r.tensor];
  while (pending.length) {
    const i = pending.findIndex((p) => (nextNode.get(p.name) ?? 0) === p.index && [...p.node.inputs, ...p.node.initialState].every((r) => get(r)));
    if (i < 0) {
      const missing = pending.map((p) => `${p.name} (node ${p.index})`).join(', ');
      throw new FileFormatError(ctx.file, 'model config', `the graph cannot be built: inputs of ${missing} are never produced`, 'The config is corrupted or uses layers that were skipped; check inbound_nodes');
    }
    const p = pending.splice(i, 1)[0];
    const layer = layers.get(p.name)!;
    const xs = p.node.inputs.map((r) => get(r)!);
    const states = p.node.initialState.map((r) => get(r)!);
    const kwargs: Record<string, unknown> = {};
    if (p.node.training !== undefined) kwargs.training = p.node.training;
    let y: SymbolicTensor | SymbolicTensor[];
    if (p.node.asList && !(layer instanceof GRU || layer instanceof Bidirectional)) y = layer.apply(xs, kwargs);
    else if (xs.length > 1 || states.length) y = layer.apply(xs[0], { ...kwargs, initialState: [...xs.slice(1), ...states] });
    else y = layer.apply(xs[0], kwargs);
    outputs.set(`${p.name}#${p.index}`, Array.isArray(y) ? y : [y]);
    nextNode.set(p.name, p.index + 1);
  }
  const resolve = (refs: { layer: string; node: number; tensor: number }[], what: string) =>
    refs.map((r) => {
      const t = get(r);
      if (!t) throw new FileFormatError(ctx.file, `model config ${what}`, `refers to ${r.layer}[${r.node}][${r.tensor}], which the graph does not produce`, 'The config is corrupted');
      return t;
    });
  const ins = resolve(refList(cfg.input_layers), 'input_layers');
  const outs = resolve(refList(cfg.output_layers), 'output_layers');
  return functionalModel({ inputs: ins.length === 1 ? ins[0] : ins, outputs: outs.length === 1 ? outs[0] : outs, name: typeof cfg.name === 'string' ? cfg.name : undefined });
}

/**
 * Builds a fastgru model from a Keras / tfjs config (random weights). Accepts
 * `{class_name, config}`, a Keras 3 `config.json`, an h5 `model_config` (object or JSON string),
 * or a tfjs `model.json` / `modelTopology`. Throws `UnsupportedLayerError` listing every layer or
 * option fastgru does not have.
 */
export function modelFromKerasConfig(config: unknown, options: KerasConfigOptions = {}): Model {
  const file = options.file ?? 'Keras config';
  let json = config;
  if (typeof json === 'string') {
    try {
      json = JSON.parse(json);
    } catch (e) {
      throw new FileFormatError(file, 'model config', `is not valid JSON (${e instanceof Error ? e.message : String(e)})`, 'Re-save the model; the file is corrupted');
    }
  }
  let version = options.kerasVersion;
  if (!version && isObj(json)) version = (json.keras_version as string | undefined) ?? (isObj(json.modelTopology) ? (json.modelTopology.keras_version as string | undefined) : undefined);
  const t = topologyOf(json, file);
  const keras3 = isKeras3Version(version) ?? looksKeras3(t);
  const ctx: Ctx = { keras3, file, problems: [], warn: options.onWarning ?? (() => {}) };
  try {
    return buildModel(t, ctx);
  } catch (e) {
    if (e instanceof FastGruError) throw e;
    throw new FileFormatError(file, 'model config', `cannot be converted (${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}); it is corrupted or not a Keras config`, 'Re-save the model in Keras or tfjs');
  }
}

function buildModel(t: Json, ctx: Ctx): Model {
  const file = ctx.file;
  const cls = t.class_name as string;
  if (cls === 'Sequential') return buildSequential(t.config, undefined, ctx, isObj(t.build_config) ? ((t.build_config.input_shape as Shape) ?? null) : null);
  if (cls === 'Functional' || cls === 'Model') {
    if (!isObj(t.config)) throw new FileFormatError(file, 'model config', 'a functional model needs config.layers', 'The config is corrupted');
    return buildFunctional(t.config, ctx);
  }
  throw new UnsupportedLayerError(file, [`top-level ${cls} (expected Sequential, Functional or Model; subclassed models have no config to rebuild from)`]);
}

// ---- weights ---------------------------------------------------------------------------------

/** One weight read from a file: its location (for errors), shape and values. */
export interface FileWeight {
  part: string;
  shape: number[];
  data: Float32Array;
}

/** Where the weights of each top-level layer are: layer name → weights in Keras order. */
export type WeightTable = Map<string, FileWeight[]>;

function natural(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

/** Keras 2 / tf.keras layout: `layer_names` on the group, `weight_names` on each layer's group. */
function keras2Table(h5: H5File, root: string): WeightTable {
  const names = h5.stringList(root, 'layer_names');
  if (!names) throw new FileFormatError(h5.file, `${root || '/'} attribute layer_names`, 'is missing', 'This is not a Keras weights file; save it with model.save or model.save_weights');
  const table: WeightTable = new Map();
  for (const layer of names) {
    const g = root ? `${root}/${layer}` : layer;
    const wn = h5.stringList(g, 'weight_names') ?? [];
    if (!wn.length) continue;
    table.set(layer, wn.map((w) => h5.dataset(`${g}/${w}`)));
  }
  return table;
}

/** All `vars/<i>` under `path`, own first, then sub-objects (Bidirectional: forward, then backward). */
function keras3Vars(h5: H5File, path: string, depth = 0): FileWeight[] {
  if (depth > 8) return [];
  const out: FileWeight[] = [];
  const keys = h5.keys(path);
  if (keys.includes('vars')) {
    for (const k of h5.keys(`${path}/vars`).sort(natural)) out.push(h5.dataset(`${path}/vars/${k}`));
  }
  const rank = (k: string) => (k === 'forward_layer' ? 0 : k === 'backward_layer' ? 1 : 2);
  const subs = keys.filter((k) => k !== 'vars' && h5.isGroup(`${path}/${k}`)).sort((a, b) => rank(a) - rank(b) || natural(a, b));
  for (const k of subs) out.push(...keras3Vars(h5, `${path}/${k}`, depth + 1));
  return out;
}

/** Keras 3 `.weights.h5` layout: `layers/<name>/[cell/]vars/<i>`. */
function keras3Table(h5: H5File): WeightTable {
  const table: WeightTable = new Map();
  for (const layer of h5.keys('layers')) {
    const ws = keras3Vars(h5, `layers/${layer}`);
    if (ws.length) table.set(layer, ws);
  }
  return table;
}

/** The weight table of an HDF5 file in any Keras layout (full model or weights only). */
export function kerasWeightTable(h5: H5File): WeightTable {
  if (h5.isGroup('model_weights')) return keras2Table(h5, 'model_weights');
  if (h5.stringList('', 'layer_names')) return keras2Table(h5, '');
  if (h5.isGroup('layers')) return keras3Table(h5);
  throw new FileFormatError(h5.file, '/', `has neither model_weights, a layer_names attribute nor a layers group (members: ${h5.keys('').join(', ') || 'none'})`, 'This HDF5 file was not written by Keras; pass a Keras .h5 / .weights.h5 file');
}

/** The top-level layers of `model` that hold weights. */
function weightedLayers(m: Model): Layer[] {
  return m.layers.filter((l) => !(l instanceof InputLayer) && l.weights.length > 0);
}

/**
 * Copies weights from `table` into `model`'s layers, matched by layer name, each layer's weights
 * in Keras order. Checks counts, shapes and finiteness first and names the file part at fault.
 */
export function assignWeights(m: Model, table: WeightTable, file: string): void {
  const layers = weightedLayers(m);
  const names = new Set(layers.map((l) => l.name));
  const extra = [...table.keys()].filter((n) => !names.has(n));
  const missing = layers.filter((l) => !table.has(l.name)).map((l) => l.name);
  if (extra.length || missing.length) {
    const parts = [missing.length ? `no weights for layer${missing.length > 1 ? 's' : ''} ${missing.join(', ')}` : '', extra.length ? `weights for layer${extra.length > 1 ? 's' : ''} ${extra.join(', ')} that the model does not have` : '']
      .filter(Boolean)
      .join('; ');
    throw new FileFormatError(file, 'weights', `do not match the model: ${parts} (model layers with weights: ${[...names].join(', ') || 'none'}; file: ${[...table.keys()].join(', ') || 'none'})`, 'Load the weights into the model they were saved from');
  }
  // Check everything before writing anything.
  const plan: [Layer, Tensor[]][] = [];
  for (const l of layers) {
    const want = l.weights;
    const got = table.get(l.name)!;
    if (got.length !== want.length) {
      throw new FileFormatError(file, got[0]?.part.replace(/\/[^/]*$/, '') ?? l.name, `holds ${got.length} weights for layer '${l.name}', which has ${want.length} (${want.map((w) => `${w.name} ${fmtShape(w.shape)}`).join(', ')})`, 'Load the weights into the model they were saved from');
    }
    const tensors = got.map((w, i) => {
      const shape = want[i].shape;
      if (w.shape.length !== shape.length || w.shape.some((d, k) => d !== shape[k])) {
        let hint = 'Load the weights into the model they were saved from';
        if (l instanceof GRU || /(^|\/)bias$/.test(want[i].name)) {
          const gru = l instanceof GRU ? l : null;
          if (/(^|\/)bias$/.test(want[i].name) && (w.shape.length === 1) !== (shape.length === 1)) {
            hint = `The file's GRU is ${w.shape.length === 1 ? 'reset-before (bias (3H))' : 'reset-after (bias (2, 3H))'} but the config made it ${gru?.resetAfter ? 'reset-after' : 'reset-before'} (GRU-CONVENTIONS.md §1); set reset_after to match the weights`;
          }
        }
        throw new FileFormatError(file, w.part, `has shape ${fmtShape(w.shape)}, layer '${l.name}' weight ${want[i].name} needs ${fmtShape(shape)}`, hint);
      }
      const k = firstNonFinite(w.data);
      if (k >= 0) {
        throw new NonFiniteError(`${file}: ${w.part}: value ${w.data[k]} at flat index ${k} (weight ${want[i].name} of layer '${l.name}'); weights must be finite. Re-export the model from a checkpoint before training diverged`);
      }
      return new Tensor(w.data, w.shape);
    });
    plan.push([l, tensors]);
  }
  // Checked above: setWeights only copies.
  withFiniteValues(() => {
    for (const [l, ts] of plan) l.setWeights(ts);
  });
}

/** Options of `loadKerasModel`. */
export interface LoadKerasOptions {
  /** Called for config entries accepted without effect. Defaults to none. */
  onWarning?: (message: string) => void;
}

/**
 * Loads a Keras model with its weights: a legacy `.h5` full model (`model.save('m.h5')`, Keras 2,
 * tf.keras 2.x or Keras 3) or a Keras 3 `.keras` zip. The format is found from the bytes.
 */
export async function loadKerasModel(source: FileSource, options: LoadKerasOptions = {}): Promise<Model> {
  const { bytes, name } = await readSource(source, 'Keras model');
  return guarded(() => name, 'model', () => loadKerasBytes(bytes, name, options));
}

async function loadKerasBytes(bytes: Uint8Array, name: string, options: LoadKerasOptions): Promise<Model> {
  if (isZip(bytes)) {
    const zip = new ZipReader(bytes, name);
    const configBytes = await zip.read('config.json');
    let version: string | undefined;
    if (zip.has('metadata.json')) {
      try {
        version = JSON.parse(new TextDecoder().decode(await zip.read('metadata.json'))).keras_version;
      } catch {
        version = undefined;
      }
    }
    let config: unknown;
    try {
      config = JSON.parse(new TextDecoder().decode(configBytes));
    } catch (e) {
      throw new FileFormatError(name, 'config.json', `is not valid JSON (${e instanceof Error ? e.message : String(e)})`, 'Re-save the model; the file is corrupted');
    }
    const weightsName = zip.has('model.weights.h5') ? 'model.weights.h5' : null;
    if (!weightsName) throw new FileFormatError(name, 'model.weights.h5', `is missing (entries: ${zip.entries.map((e) => e.name).join(', ')})`, 'Re-save the model with model.save("m.keras")');
    const h5 = await H5File.open(await zip.read(weightsName), `${name}!${weightsName}`);
    const table = kerasWeightTable(h5);
    // Every weight comes from the file: no initializer runs for weights about to be overwritten.
    const m = withoutInitializers(() => modelFromKerasConfig(config, { kerasVersion: version ?? '3', file: `${name}!config.json`, onWarning: options.onWarning }));
    try {
      assignWeights(m, table, h5.file);
    } catch (e) {
      m.dispose();
      throw e;
    }
    return m;
  }
  if (!isHdf5(bytes)) {
    const got = Array.from(bytes.subarray(0, 8), (x) => x.toString(16).padStart(2, '0')).join(' ');
    throw new FileFormatError(name, 'signature', `is neither HDF5 (89 48 44 46 ...) nor a zip (50 4b 03 04): first bytes ${got || 'none'}`, 'Pass a Keras .h5 or .keras file');
  }
  const h5 = await H5File.open(bytes, name);
  const attrs = h5.attrs('');
  if (attrs.model_config === undefined) {
    throw new FileFormatError(name, 'attribute model_config', 'is missing: this is a weights-only file', 'Build the model (modelFromKerasConfig or fastgru layers) and call loadKerasWeights(model, file)');
  }
  const version = typeof attrs.keras_version === 'string' ? attrs.keras_version : undefined;
  const m = withoutInitializers(() => modelFromKerasConfig(attrs.model_config, { kerasVersion: version ?? '2', file: `${name} model_config`, onWarning: options.onWarning }));
  try {
    assignWeights(m, kerasWeightTable(h5), name);
  } catch (e) {
    m.dispose();
    throw e;
  }
  return m;
}

/**
 * Loads Keras weights into a built model (matched by layer name): a `.weights.h5` in the Keras 2 /
 * tf.keras layout (`layer_names` + `weight_names`) or the Keras 3 layout (`layers/<name>/vars`), or
 * the weights of a full `.h5` model.
 */
export async function loadKerasWeights(target: Model, source: FileSource): Promise<void> {
  const { bytes, name } = await readSource(source, 'Keras weights');
  await guarded(() => name, 'weights', async () => assignWeights(target, kerasWeightTable(await H5File.open(bytes, name)), name));
}

// ---- parity ----------------------------------------------------------------------------------

/** One row of a parity report. */

